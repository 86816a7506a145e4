//! `--tiles auto` inside one video: its decoder sends [`PROBE_FRAMES`] detector frames with
//! tiles, then waits for the answer; its tracking thread holds those frames' results back,
//! counts what the tiles added ([`ProbeTally`]), and gives the held frames to the tracker with
//! the chosen detections. A probe that saw people, but too few to answer, goes on for another
//! [`PROBE_FRAMES`] (up to [`PROBE_MAX_BLOCKS`] times that in all), adding up what it sees; one
//! that still cannot answer lets the frames go on whole, and the decoder sends the next probe
//! `probe_every` detector frames after the last one began, until one answers. CPU only.
//!
//! Why go on: far people seen by a detector less sure than the default (a team's own model)
//! can give a few confident boxes a frame, all from the tiles. 16 frames of ETH-Sunnyday shrunk
//! 3x into 1080p gave Ultralytics YOLO11n 7 such boxes, one under the 8 that answer, and the
//! whole video went untiled: MOTA 0.000. Going on, it answered after 48 frames (28 boxes, the
//! finer grid), and the video reads 0.501 / 0.633. A probe that sees nobody at all does not go
//! on, so an empty opening costs no more than before; with NanoDet-g every video of
//! `scripts/quality.sh` answers on its first 16 frames, as before.
//!
//! Why wait instead of choosing on the fly: the choice must not depend on how fast the model
//! answers, or a video's labels would change with `--jobs` and the machine. Holding the probed
//! frames also means a video where tiles do not pay gets exactly the labels of `--tiles off`.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::tile::{ProbeTally, TileAnswer, PROBE_FRAMES};
use crate::types::Appearance;
use crate::types::FrameDetections;

/// The longest a probe goes on, in blocks of [`PROBE_FRAMES`]: 64 frames, 2.6 s at 25 frames/s.
pub(super) const PROBE_MAX_BLOCKS: u64 = 4;

/// The choice, shared by a video's decoder (which waits for it) and its tracking thread.
pub(super) struct TileChoice {
    probing: bool,
    /// Detector frames from one probe's start to the next (0: one probe only).
    every: u64,
    state: Mutex<Answers>,
    set: Condvar,
}

#[derive(Default)]
struct Answers {
    /// The answer for the rest of the video, once a probe gave one.
    answer: Option<TileAnswer>,
    /// Probes that ended without an answer: the next one is probe number `unanswered`.
    unanswered: u64,
    /// Blocks of [`PROBE_FRAMES`] the probe under way has gone on for, beyond its first.
    more: u64,
}

/// How the decoder sends one frame.
pub(super) struct Sending {
    pub tiles: bool,
    /// With `tiles`: the finer grid, for small people.
    pub fine: bool,
    /// A frame the probe compares: seen whole and tiled.
    pub probe: bool,
}

impl TileChoice {
    /// `probing`: whether `--tiles auto` asks for a probe (otherwise every frame is sent with
    /// tiles, and the tile settings alone say whether there are any). `every`: see
    /// [`crate::tile::TileConfig::probe_every`].
    pub fn new(probing: bool, every: u64) -> TileChoice {
        TileChoice { probing, every, state: Mutex::new(Answers::default()), set: Condvar::new() }
    }

    /// Which probe the `sent`-th frame sent to the model (from 0) would belong to, and whether
    /// it lies inside that probe's frames, for a probe of `blocks` blocks of [`PROBE_FRAMES`].
    fn probe_of(&self, sent: u64, blocks: u64) -> (u64, bool) {
        let len = PROBE_FRAMES as u64 * blocks;
        match self.every {
            0 => (0, sent < len),
            n => (sent / n, sent % n < len),
        }
    }

    /// The most blocks a probe may span: [`PROBE_MAX_BLOCKS`], and never into the next probe.
    fn max_blocks(&self) -> u64 {
        match self.every {
            0 => PROBE_MAX_BLOCKS,
            n => PROBE_MAX_BLOCKS.min(n / PROBE_FRAMES as u64).max(1),
        }
    }

    /// For the decoder: how the `sent`-th frame sent to the model (from 0) goes. Past a
    /// probe's frames it waits for that probe's answer; `None` when `quit()` turns true first.
    pub fn sending(&self, sent: u64, quit: &dyn Fn() -> bool) -> Option<Sending> {
        if !self.probing {
            return Some(Sending { tiles: true, fine: false, probe: false });
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let (probe, inside) = self.probe_of(sent, 1 + state.more);
            if let Some(answer) = state.answer {
                let (tiles, fine) = (answer != TileAnswer::Whole, answer == TileAnswer::Finer);
                return Some(Sending { tiles, fine, probe: false });
            }
            if probe < state.unanswered {
                // Between probes (an earlier one could not answer): the whole frame.
                return Some(Sending { tiles: false, fine: false, probe: false });
            }
            if probe == state.unanswered && inside {
                return Some(Sending { tiles: true, fine: false, probe: true });
            }
            if quit() {
                return None;
            }
            state = self.set.wait_timeout(state, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn decide(&self, answer: TileAnswer) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).answer = Some(answer);
        self.set.notify_all();
    }

    fn no_answer(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.unanswered += 1;
        state.more = 0;
        self.set.notify_all();
    }

    fn go_on(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).more += 1;
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
    /// Probes that ended without an answer, and what the last one saw.
    unanswered: u64,
    /// Blocks of [`PROBE_FRAMES`] the probe under way spans so far.
    blocks: u64,
    last: Option<String>,
    /// The log's line once chosen.
    pub chosen: Option<String>,
    /// The probe's grid and the finer one, as `--tiles` writes them (for the log).
    grid: String,
    fine_grid: String,
    /// Model-input pixels per frame pixel, vertically, for the whole frame.
    input_scale: f32,
}

impl<'c> Probe<'c> {
    /// `grids`: the tiles a probed frame is seen in, and the finer ones kept for small people,
    /// as `--tiles` writes them (for the log). `input_scale`: model-input pixels per frame
    /// pixel, vertically, when the whole frame is the model's input (the probe weighs how tall
    /// people are there).
    pub fn new(choice: &'c TileChoice, grids: (String, String), input_scale: f32) -> Probe<'c> {
        let (grid, fine_grid) = grids;
        let tally = ProbeTally::default();
        Probe { choice, held: Vec::new(), tally, unanswered: 0, blocks: 1, last: None, chosen: None, grid, fine_grid, input_scale }
    }

    /// Whether the rest of the video still waits for an answer.
    pub fn undecided(&self) -> bool {
        self.choice.probing && self.chosen.is_none()
    }

    /// Whether the `received`-th result from the model (from 0) is one the probe under way
    /// should have been sent with tiles (when it was not, the frame cannot be tiled).
    pub fn expects(&self, received: u64) -> bool {
        self.undecided() && self.choice.probe_of(received, self.blocks) == (self.unanswered, true)
    }

    /// Holds a probed frame. Returns the held frames, in order, with the chosen detections
    /// once the probe is complete; else nothing yet.
    pub fn hold(&mut self, held: Held) -> Vec<(FrameDetections, Vec<Appearance>)> {
        let whole = held.whole.0.detections.iter().map(|d| (d.score, d.bbox.height() * self.input_scale));
        self.tally.add(whole, held.tiled.0.detections.iter().map(|d| d.score));
        self.held.push(held);
        if self.tally.frames as u64 >= PROBE_FRAMES as u64 * self.blocks {
            self.end(false)
        } else {
            Vec::new()
        }
    }

    /// Chooses on what is held (the end of the video, or a frame that cannot be tiled) and
    /// gives the held frames back.
    pub fn choose(&mut self) -> Vec<(FrameDetections, Vec<Appearance>)> {
        self.end(true)
    }

    /// Ends the probe under way, or lets it go on. It answers for the rest of the video when it
    /// saw enough people, or when it is the last (`last`, or no probe follows); it goes on
    /// when it saw someone and may still grow; otherwise its frames go on whole and the
    /// decoder sends the next probe later.
    fn end(&mut self, last: bool) -> Vec<(FrameDetections, Vec<Appearance>)> {
        if !self.undecided() {
            return Vec::new();
        }
        let saw_someone = self.tally.tiled > 0;
        if !self.tally.conclusive() && !last && saw_someone && self.blocks < self.choice.max_blocks() {
            self.blocks += 1;
            self.choice.go_on();
            return Vec::new();
        }
        let answers = self.tally.conclusive() || last || self.choice.every == 0;
        let answer = if answers { self.tally.answer() } else { TileAnswer::Whole };
        let tiles = answer != TileAnswer::Whole;
        if answers {
            let start = self.unanswered * self.choice.every;
            self.chosen = Some(match self.tally.frames {
                0 => match self.last.take() {
                    Some(last) => format!("{last}: too few people to answer, and no later probe before the end"),
                    None => "whole frame only: no frame could be tiled".into(),
                },
                _ => self.tally.describe((&self.grid, &self.fine_grid), start, self.unanswered),
            });
            self.choice.decide(answer);
        } else {
            let grids = (self.grid.as_str(), self.fine_grid.as_str());
            self.last = Some(self.tally.describe(grids, self.unanswered * self.choice.every, self.unanswered));
            self.unanswered += 1;
            self.blocks = 1;
            self.tally = ProbeTally::default();
            self.choice.no_answer();
        }
        self.held.drain(..).map(|h| if tiles { h.tiled } else { h.whole }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BBox, Detection, FrameInfo};

    /// Frame `index` seen whole with `whole` confident boxes and tiled with `tiled`.
    fn held(index: u64, whole: usize, tiled: usize) -> Held {
        let frame = FrameInfo { index, width: 1920, height: 1080 };
        let boxes = |n: usize| FrameDetections {
            frame,
            detections: (0..n)
                .map(|i| Detection { bbox: BBox { x1: i as f32, y1: 0.0, x2: i as f32 + 9.0, y2: 20.0 }, class: 0, score: 0.9 })
                .collect(),
        };
        Held { tiled: (boxes(tiled), Vec::new()), whole: (boxes(whole), Vec::new()) }
    }

    fn how(choice: &TileChoice, sent: u64) -> (bool, bool) {
        let s = choice.sending(sent, &|| true).expect("no wait");
        (s.tiles, s.probe)
    }

    #[test]
    fn an_unanswered_probe_sends_frames_whole_until_the_next_probe_answers() {
        let choice = TileChoice::new(true, 32);
        let mut probe = Probe::new(&choice, ("2x2".into(), "3x3".into()), 1.0);
        (0..16).for_each(|sent| assert_eq!(how(&choice, sent), (true, true)));
        // The decoder waits past the probe's frames (and gives up when told to quit).
        assert!(choice.sending(16, &|| true).is_none());
        // Nobody there: no answer, and no reason to go on; the held frames come back whole.
        for i in 0..16 {
            let back = probe.hold(held(i, 0, 0));
            assert_eq!(back.len(), if i == 15 { 16 } else { 0 });
        }
        assert!(probe.undecided() && probe.chosen.is_none());
        (16..32).for_each(|sent| assert_eq!(how(&choice, sent), (false, false)));
        assert!(!probe.expects(20) && probe.expects(32) && !probe.expects(48));
        (32..48).for_each(|sent| assert_eq!(how(&choice, sent), (true, true)));
        // People arrive, far away: the tiles find them, and tile the rest.
        let back: Vec<_> = (32..48).flat_map(|i| probe.hold(held(i, 1, 3))).collect();
        assert_eq!(back.len(), 16);
        assert!(back.iter().all(|(fd, _)| fd.detections.len() == 3));
        assert_eq!(how(&choice, 48), (true, false));
        assert_eq!(how(&choice, 4000), (true, false));
        let chosen = probe.chosen.clone().unwrap();
        // Their boxes are 20 px tall at the model's input: the finer grid.
        assert!(
            chosen.starts_with("tiles 3x3, finer than the probe's for small people: in 16 frames from detector frame 32, 48 boxes"),
            "{chosen}"
        );
        assert!(choice.sending(48, &|| true).is_some_and(|s| s.fine));
        assert!(probe.choose().is_empty() && !probe.undecided());
    }

    /// Feeds frames `range` to `probe`, frame `i` with `tiled(i)` confident boxes from the tiles
    /// and none from the whole frame; returns what came back.
    fn feed(probe: &mut Probe, range: std::ops::Range<u64>, tiled: impl Fn(u64) -> usize) -> Vec<(FrameDetections, Vec<Appearance>)> {
        range.flat_map(|i| probe.hold(held(i, 0, tiled(i)))).collect()
    }

    #[test]
    fn a_probe_that_saw_a_few_people_goes_on_and_answers_on_all_it_saw() {
        let choice = TileChoice::new(true, 1500);
        let mut probe = Probe::new(&choice, ("2x2".into(), "3x3".into()), 1.0);
        // 7 far people in 16 frames, all from the tiles: one short of an answer, so it goes on.
        assert!(feed(&mut probe, 0..16, |i| usize::from(i < 7)).is_empty());
        assert!(probe.undecided() && probe.expects(16) && probe.expects(31) && !probe.expects(32));
        (16..32).for_each(|sent| assert_eq!(how(&choice, sent), (true, true)));
        assert!(choice.sending(32, &|| true).is_none(), "the decoder waits for the longer probe");
        // More arrive: 17 in 32 frames answer; the whole frame saw none of them: the finer grid.
        let back = feed(&mut probe, 16..32, |i| usize::from(i < 26));
        assert_eq!(back.len(), 32);
        assert_eq!(back.iter().map(|(fd, _)| fd.detections.len()).sum::<usize>(), 17, "the held frames come back tiled");
        let chosen = probe.chosen.clone().unwrap();
        assert!(chosen.starts_with("tiles 3x3, finer than the probe's for small people: in the first 32 frames, 17 boxes"), "{chosen}");
        assert_eq!(how(&choice, 32), (true, false));
    }

    #[test]
    fn a_probe_goes_on_at_most_four_blocks_and_never_into_the_next_probe() {
        let choice = TileChoice::new(true, 1500);
        let mut probe = Probe::new(&choice, ("2x2".into(), "3x3".into()), 1.0);
        // One box in 64 frames: still no answer; the 64 held frames come back whole.
        let back = feed(&mut probe, 0..64, |i| usize::from(i == 3));
        assert_eq!(back.len(), 64);
        assert!(back.iter().all(|(fd, _)| fd.detections.is_empty()), "frame 3's tiled box was given back");
        assert!(probe.undecided() && !probe.expects(64) && probe.expects(1500) && !probe.expects(1516));
        assert_eq!(how(&choice, 64), (false, false));
        assert_eq!(how(&choice, 1500), (true, true));
        assert!(choice.sending(1516, &|| true).is_none(), "the next probe starts one block long again");
        // Probes 32 frames apart: a probe spans two blocks at most.
        let choice = TileChoice::new(true, 32);
        let mut probe = Probe::new(&choice, ("2x2".into(), "3x3".into()), 1.0);
        assert!(feed(&mut probe, 0..16, |i| usize::from(i == 3)).is_empty());
        assert_eq!(feed(&mut probe, 16..32, |_| 0).len(), 32);
        assert_eq!(how(&choice, 32), (true, true));
    }

    #[test]
    fn probing_once_answers_on_the_first_probe_even_with_nobody_there() {
        let choice = TileChoice::new(true, 0);
        let mut probe = Probe::new(&choice, ("2x2".into(), "3x3".into()), 1.0);
        let back: Vec<_> = (0..16).flat_map(|i| probe.hold(held(i, 0, 0))).collect();
        assert_eq!(back.len(), 16);
        assert_eq!(
            probe.chosen.as_deref(),
            Some("whole frame only: in the first 16 frames, 0 boxes scored >= 0.5 with 2x2 tiles, 0 from the whole frame")
        );
        assert_eq!(how(&choice, 16), (false, false));
        assert_eq!(how(&choice, 1500), (false, false));
    }

    #[test]
    fn a_video_ending_between_probes_says_none_answered() {
        let choice = TileChoice::new(true, 32);
        let mut probe = Probe::new(&choice, ("2x2".into(), "3x3".into()), 1.0);
        (0..16).for_each(|i| drop(probe.hold(held(i, 0, 0))));
        assert!(probe.choose().is_empty());
        assert_eq!(
            probe.chosen.as_deref(),
            Some(
                "whole frame only: in the first 16 frames, 0 boxes scored >= 0.5 with 2x2 tiles, 0 from the whole frame: \
                 too few people to answer, and no later probe before the end"
            )
        );
    }
}
