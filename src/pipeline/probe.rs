//! `--tiles auto` inside one video: its decoder sends the first [`PROBE_FRAMES`] detector
//! frames with tiles, then waits for the choice; its tracking thread holds those frames'
//! results back, counts what the tiles added ([`ProbeTally`]), chooses, and gives the held
//! frames to the tracker with the chosen detections. CPU only.
//!
//! Why wait instead of choosing on the fly: the choice must not depend on how fast the model
//! answers, or a video's labels would change with `--jobs` and the machine. Holding the probed
//! frames also means a video where tiles do not pay gets exactly the labels of `--tiles off`.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::tile::{ProbeTally, PROBE_FRAMES};
use crate::types::Appearance;
use crate::types::FrameDetections;

/// The choice, shared by a video's decoder (which waits for it) and its tracking thread.
pub(super) struct TileChoice {
    probing: bool,
    tiles: Mutex<Option<bool>>,
    set: Condvar,
}

impl TileChoice {
    /// `probing`: whether `--tiles auto` asks for a probe (otherwise every frame is sent with
    /// tiles, and the tile settings alone say whether there are any).
    pub fn new(probing: bool) -> TileChoice {
        TileChoice { probing, tiles: Mutex::new(None), set: Condvar::new() }
    }

    /// Whether the `sent`-th frame sent to the model (from 0) is one the probe compares.
    pub fn probes(&self, sent: u64) -> bool {
        self.probing && sent < PROBE_FRAMES as u64
    }

    /// For the decoder: whether the `sent`-th frame sent to the model (from 0) is tiled. Past
    /// the probe it waits for the choice; `None` when `quit()` turns true first.
    pub(crate) fn tiles_for(&self, sent: u64, quit: &dyn Fn() -> bool) -> Option<bool> {
        if !self.probing || sent < PROBE_FRAMES as u64 {
            return Some(true);
        }
        let mut tiles = self.tiles.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(t) = *tiles {
                return Some(t);
            }
            if quit() {
                return None;
            }
            tiles = self.set.wait_timeout(tiles, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn decide(&self, tiles: bool) {
        *self.tiles.lock().unwrap_or_else(|e| e.into_inner()) = Some(tiles);
        self.set.notify_all();
    }
}

/// A probed frame's two results (and their colours, when the tracker reads them), held
/// without the frame's pixels so that the frames in flight stay bounded.
pub(super) struct Held {
    pub tiled: (FrameDetections, Vec<Appearance>),
    pub whole: (FrameDetections, Vec<Appearance>),
}

/// The tracking side of the probe.
pub(super) struct Probe<'c> {
    choice: &'c TileChoice,
    held: Vec<Held>,
    tally: ProbeTally,
    /// The log's line once chosen.
    pub chosen: Option<String>,
    grid: String,
}

impl<'c> Probe<'c> {
    /// `grid`: the tiles a probed frame is seen in, as `--tiles` writes them (for the log).
    pub fn new(choice: &'c TileChoice, grid: String) -> Probe<'c> {
        Probe { choice, held: Vec::new(), tally: ProbeTally::default(), chosen: None, grid }
    }

    /// Whether frames are still held for the choice.
    pub(crate) fn undecided(&self) -> bool {
        self.choice.probing && self.chosen.is_none()
    }

    /// Holds a probed frame. Returns the held frames, in order, with the chosen detections
    /// once the probe is complete; else nothing yet.
    pub fn hold(&mut self, held: Held) -> Vec<(FrameDetections, Vec<Appearance>)> {
        let scores = |fd: &FrameDetections| fd.detections.iter().map(|d| d.score).collect::<Vec<_>>();
        self.tally.add(scores(&held.whole.0), scores(&held.tiled.0));
        self.held.push(held);
        if self.tally.frames >= PROBE_FRAMES {
            self.choose()
        } else {
            Vec::new()
        }
    }

    /// Chooses on what is held (the end of a short video, or a frame that cannot be tiled) and
    /// gives the held frames back.
    pub fn choose(&mut self) -> Vec<(FrameDetections, Vec<Appearance>)> {
        if !self.undecided() {
            return Vec::new();
        }
        let tiles = self.tally.tiles_pay();
        self.chosen =
            Some(if self.tally.frames == 0 { "whole frame only: no frame could be tiled".into() } else { self.tally.describe(&self.grid) });
        self.choice.decide(tiles);
        self.held.drain(..).map(|h| if tiles { h.tiled } else { h.whole }).collect()
    }
}
