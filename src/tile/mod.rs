//! Tiling for small, far-away objects: takes a frame size, the model's input size and the
//! `--tiles` / `--tile-overlap` settings, gives a [`TilePlan`]: the [`Region`]s of a frame
//! the model looks at, always the whole frame first, then overlapping tiles. [`merge`](mod@merge) turns
//! the detections of all those regions back into one set per frame. Pure CPU arithmetic.
//!
//! Why the whole frame stays in: a detector with a 300x300 input sees a 1920x1080 frame
//! shrunk 6x, so a person 60 px tall becomes 10 px and is missed; a tile shrunk 2x keeps
//! them at 30 px. But a close-up person is cut by the tile borders, and only the whole-frame
//! pass sees them whole: the merge keeps that box and drops the cut halves.

pub mod merge;
pub mod probe;

use std::str::FromStr;

use crate::types::Region;

pub(crate) use merge::merge_batch;
pub use merge::{merge, MergeParams};
pub(crate) use probe::PROBE_FRAMES;
pub use probe::{ProbeTally, TileAnswer, PROBE_EVERY};

/// `auto` tiles only frames shrunk by more than this to fit the model input (along the
/// more-shrunk axis). Measured (person AP50, SSD 300x300, see the branch notes): at 2.1x
/// (640x480 MOT15 sequences) 2x2 tiles gain nothing (-0.03 and +0.004); at 3.2x (the same
/// sequences halved into 960x720) tiles lift AP50 from 0.40 to 0.60 and 0.30 to 0.59.
pub(crate) const AUTO_TILE_ABOVE: f32 = 2.5;

/// `auto` cuts tiles each shrunk by at most this much: on people shrunk 3x into a 1920x1080
/// frame, tiles shrunk 2.5x (2x3 grid) reached AP50 0.40, 2.0x (2x4) 0.55, 1.9x/1.4x (3x4,
/// 13 model calls a frame instead of 9) 0.56.
pub(crate) const AUTO_TILE_DOWNSCALE: f32 = 2.0;

/// `auto`, once its probe found people small at the model's input ([`probe`]): tiles each
/// shrunk at most this much for the rest of the video (1.0: about the frame's own pixels).
pub(crate) const FINE_TILE_DOWNSCALE: f32 = 1.0;

/// Largest grid side accepted from `--tiles RxC`: beyond it a frame becomes dozens of model
/// calls for objects no detector input can resolve anyway.
pub(crate) const MAX_GRID: u32 = 8;

/// `--tiles`: no tiles, tiles where a probe of each video finds they pay, or a fixed grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileMode {
    Off,
    /// The first `PROBE_FRAMES` detector frames of each video are seen both whole and in
    /// tiles (a grid from the frame size, at least 2x2); the rest of the video is tiled only
    /// when the tiles found clearly more (see [`probe`]).
    Auto,
    Grid {
        rows: u32,
        cols: u32,
    },
}

impl FromStr for TileMode {
    type Err = String;
    fn from_str(s: &str) -> Result<TileMode, String> {
        let bad = || format!("'{s}' is not off, auto or RxC (rows x columns, e.g. 2x3, each 1..={MAX_GRID})");
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(TileMode::Off),
            "auto" => Ok(TileMode::Auto),
            grid => {
                let (r, c) = grid.split_once('x').ok_or_else(bad)?;
                let (rows, cols): (u32, u32) = (r.trim().parse().map_err(|_| bad())?, c.trim().parse().map_err(|_| bad())?);
                if !(1..=MAX_GRID).contains(&rows) || !(1..=MAX_GRID).contains(&cols) {
                    return Err(bad());
                }
                Ok(TileMode::Grid { rows, cols })
            }
        }
    }
}

/// The tiling settings of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileConfig {
    pub mode: TileMode,
    /// Fraction of a tile shared with its neighbour (0..0.9), so an object cut by one tile's
    /// border lies whole in the next one when it is smaller than the overlap.
    pub overlap: f32,
    /// `auto` only: detector frames from the start of one probe to the next while none has
    /// seen enough people to answer (0: the first probe's answer is final). See [`probe`].
    pub probe_every: u64,
}

impl TileConfig {
    pub(crate) const OFF: TileConfig = TileConfig { mode: TileMode::Off, overlap: 0.2, probe_every: PROBE_EVERY };

    pub fn new(mode: TileMode, overlap: f32) -> Result<TileConfig, String> {
        if !(0.0..=0.9).contains(&overlap) {
            return Err(format!("--tile-overlap {overlap} is outside 0..0.9"));
        }
        Ok(TileConfig { mode, overlap, probe_every: PROBE_EVERY })
    }

    /// With `auto`, the fixed grid of [`fine_grid`] for these frame and input sizes; other
    /// modes as they are.
    pub(crate) fn fine(self, frame_w: u32, frame_h: u32, input_w: u32, input_h: u32) -> TileConfig {
        match self.mode {
            TileMode::Auto => {
                let (rows, cols) = fine_grid(frame_w, frame_h, input_w, input_h, self.overlap);
                TileConfig { mode: TileMode::Grid { rows, cols }, ..self }
            }
            _ => self,
        }
    }

    /// Probes again every `frames` detector frames while none has answered (0: never again;
    /// else at least [`PROBE_FRAMES`], so that probes do not overlap).
    pub fn with_probe_every(self, frames: u64) -> Result<TileConfig, String> {
        if frames != 0 && frames < PROBE_FRAMES as u64 {
            return Err(format!("--tile-probe-every {frames}: 0 (probe once) or at least {PROBE_FRAMES} frames, the length of one probe"));
        }
        Ok(TileConfig { probe_every: frames, ..self })
    }
}

/// Everything the pipeline needs to tile: where to cut, and how to merge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tiling {
    pub config: TileConfig,
    pub merge: MergeParams,
}

impl Tiling {
    /// No tiles: every frame is one model input, its detections pass through untouched.
    pub fn off(spec: &crate::model::ModelSpec, max_detections: usize) -> Tiling {
        Tiling { config: TileConfig::OFF, merge: MergeParams::for_model(spec, max_detections) }
    }

    /// The plan for one frame of `frame_w` x `frame_h` under `spec`'s input size.
    pub fn plan(&self, frame_w: u32, frame_h: u32, input: &crate::model::InputSpec) -> TilePlan {
        TilePlan::new(frame_w, frame_h, input.width, input.height, &self.config)
    }

    /// With `auto`: the plan for the rest of a video whose probe found people small
    /// ([`fine_grid`]); otherwise the same as [`Tiling::plan`].
    pub fn fine_plan(&self, frame_w: u32, frame_h: u32, input: &crate::model::InputSpec) -> TilePlan {
        TilePlan::new(frame_w, frame_h, input.width, input.height, &self.config.fine(frame_w, frame_h, input.width, input.height))
    }
}

/// The regions one frame contributes to the model: `regions[0]` is the whole frame, the rest
/// are `rows x cols` tiles in row-major order (none when `rows == cols == 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TilePlan {
    pub rows: u32,
    pub cols: u32,
    pub regions: Vec<Region>,
}

impl TilePlan {
    /// The plan for a `frame_w` x `frame_h` frame and a model input of `input_w` x `input_h`.
    pub fn new(frame_w: u32, frame_h: u32, input_w: u32, input_h: u32, cfg: &TileConfig) -> TilePlan {
        let full = Region { x: 0, y: 0, width: frame_w, height: frame_h };
        let (rows, cols) = match cfg.mode {
            TileMode::Off => (1, 1),
            TileMode::Grid { rows, cols } => (rows.min(frame_h.max(1)), cols.min(frame_w.max(1))),
            TileMode::Auto => auto_grid(frame_w, frame_h, input_w, input_h, cfg.overlap),
        };
        let mut regions = vec![full];
        if rows * cols > 1 {
            let ys = axis(frame_h, rows, cfg.overlap);
            let xs = axis(frame_w, cols, cfg.overlap);
            for &(y, height) in &ys {
                regions.extend(xs.iter().map(|&(x, width)| Region { x, y, width, height }));
            }
        }
        TilePlan { rows, cols, regions }
    }

    pub fn is_tiled(&self) -> bool {
        self.regions.len() > 1
    }

    /// The grid as `--tiles` writes it (`off` for the whole frame only).
    pub fn grid(&self) -> String {
        if self.is_tiled() {
            format!("{}x{}", self.rows, self.cols)
        } else {
            "off".into()
        }
    }
}

/// Grid `auto` probes with: 2x2 unless the frame is shrunk more than [`AUTO_TILE_ABOVE`] to
/// fit the input; then enough tiles per axis that each is shrunk by at most
/// [`AUTO_TILE_DOWNSCALE`], which keeps a tile's aspect close to the input's (both axes end
/// near the same factor).
fn auto_grid(frame_w: u32, frame_h: u32, input_w: u32, input_h: u32, overlap: f32) -> (u32, u32) {
    let sx = frame_w as f32 / input_w.max(1) as f32;
    let sy = frame_h as f32 / input_h.max(1) as f32;
    if sx.max(sy) <= AUTO_TILE_ABOVE {
        return (2.min(frame_h.max(1)), 2.min(frame_w.max(1)));
    }
    // n tiles of length t overlapping by `overlap * t` cover n*t - (n-1)*overlap*t; solve for
    // the smallest n that makes t <= AUTO_TILE_DOWNSCALE * input.
    let count = |s: f32| (((s / AUTO_TILE_DOWNSCALE - overlap) / (1.0 - overlap)).ceil().max(1.0) as u32).min(MAX_GRID);
    (count(sy), count(sx))
}

/// Grid `auto` tiles the rest of a video with once its probe found people small at the
/// model's input: enough tiles per axis that each is shrunk by at most
/// [`FINE_TILE_DOWNSCALE`], but at most one more per axis than the probe's grid (a 300x300
/// model would need dozens on 1080p), and never fewer. 1080p into NanoDet-g's 768x448: 3x3.
pub(crate) fn fine_grid(frame_w: u32, frame_h: u32, input_w: u32, input_h: u32, overlap: f32) -> (u32, u32) {
    let (rows, cols) = auto_grid(frame_w, frame_h, input_w, input_h, overlap);
    let count = |len: u32, input: u32| {
        let s = len as f32 / input.max(1) as f32;
        ((s / FINE_TILE_DOWNSCALE - overlap) / (1.0 - overlap)).ceil().max(1.0) as u32
    };
    let fit = |n: u32, probe: u32, len: u32| n.clamp(probe, (probe + 1).min(MAX_GRID)).min(len.max(1));
    (fit(count(frame_h, input_h), rows, frame_h), fit(count(frame_w, input_w), cols, frame_w))
}

/// `n` spans of whole pixels covering `0..len`, each of the same length, consecutive ones
/// overlapping by at least `overlap` of a span, the first starting at 0 and the last ending at
/// `len`. Returns (start, length) pairs.
fn axis(len: u32, n: u32, overlap: f32) -> Vec<(u32, u32)> {
    if n <= 1 {
        return vec![(0, len)];
    }
    let size = ((len as f64 / (n as f64 - (n - 1) as f64 * overlap as f64)).ceil() as u32).clamp(1, len);
    let step = (len - size) as f64 / (n - 1) as f64;
    (0..n).map(|i| ((i as f64 * step).round() as u32, size)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: &str, overlap: f32) -> TileConfig {
        TileConfig::new(mode.parse().unwrap(), overlap).unwrap()
    }

    #[test]
    fn parses_modes_and_refuses_nonsense() {
        assert_eq!("off".parse::<TileMode>(), Ok(TileMode::Off));
        assert_eq!("AUTO".parse::<TileMode>(), Ok(TileMode::Auto));
        assert_eq!("2x3".parse::<TileMode>(), Ok(TileMode::Grid { rows: 2, cols: 3 }));
        for bad in ["", "2", "0x2", "2x", "x2", "9x1", "axb", "2x2x2", "-1x2"] {
            assert!(bad.parse::<TileMode>().is_err(), "{bad}");
        }
        assert!(TileConfig::new(TileMode::Auto, 0.95).is_err());
        assert!(TileConfig::new(TileMode::Auto, -0.1).is_err());
    }

    #[test]
    fn off_is_the_whole_frame_only() {
        let p = TilePlan::new(640, 480, 300, 300, &TileConfig::OFF);
        assert_eq!(p.regions, vec![Region { x: 0, y: 0, width: 640, height: 480 }]);
        assert!(!p.is_tiled());
        assert_eq!(TilePlan::new(640, 480, 300, 300, &cfg("1x1", 0.2)).regions.len(), 1);
    }

    #[test]
    fn grid_tiles_cover_the_frame_with_the_overlap_asked_for() {
        for (w, h, rows, cols, overlap) in [(640, 480, 2, 2, 0.2), (1920, 1080, 2, 3, 0.25), (1001, 333, 3, 5, 0.0), (97, 61, 4, 7, 0.5)] {
            let p = TilePlan::new(w, h, 300, 300, &cfg(&format!("{rows}x{cols}"), overlap));
            assert_eq!(p.regions.len() as u32, 1 + rows * cols);
            assert_eq!(p.regions[0], Region { x: 0, y: 0, width: w, height: h });
            let tiles = &p.regions[1..];
            for t in tiles {
                assert!(t.width >= 1 && t.height >= 1 && t.x + t.width <= w && t.y + t.height <= h, "{t:?}");
            }
            // Row-major: the first tile starts at the origin, the last ends at the far corner.
            assert_eq!((tiles[0].x, tiles[0].y), (0, 0));
            let last = tiles.last().unwrap();
            assert_eq!((last.x + last.width, last.y + last.height), (w, h));
            // Neighbours overlap by at least the fraction asked for (minus rounding).
            for pair in tiles[..cols as usize].windows(2) {
                let shared = (pair[0].x + pair[0].width) as f32 - pair[1].x as f32;
                assert!(shared >= overlap * pair[0].width as f32 - 1.0, "{pair:?} shares {shared}");
            }
        }
    }

    #[test]
    fn auto_probes_small_frames_in_2x2_and_large_ones_in_more() {
        let auto = cfg("auto", 0.2);
        // 640x480 into 300x300 is shrunk 2.1x: the smallest grid.
        let p = TilePlan::new(640, 480, 300, 300, &auto);
        assert_eq!((p.rows, p.cols, p.grid().as_str()), (2, 2, "2x2"));
        assert_eq!(TilePlan::new(640, 480, 300, 300, &TileConfig::OFF).grid(), "off");
        // 1920x1080 is shrunk 6.4x x 3.6x: 2 rows x 4 columns of tiles shrunk at most 2x.
        let p = TilePlan::new(1920, 1080, 300, 300, &auto);
        assert_eq!((p.rows, p.cols), (2, 4));
        for t in &p.regions[1..] {
            assert!(t.width as f32 / 300.0 <= AUTO_TILE_DOWNSCALE + 0.01, "{t:?}");
            assert!(t.height as f32 / 300.0 <= AUTO_TILE_DOWNSCALE + 0.01, "{t:?}");
            let aspect = t.width as f32 / t.height as f32;
            assert!((0.75..=1.34).contains(&aspect), "{t:?}");
        }
        // 768x576 is shrunk 2.56x across: two tiles side by side.
        let p = TilePlan::new(768, 576, 300, 300, &auto);
        assert_eq!((p.rows, p.cols), (1, 2));
        // A 640x640 model input sees 1280x720 well enough: the probe's smallest grid.
        let p = TilePlan::new(1280, 720, 640, 640, &auto);
        assert_eq!((p.rows, p.cols), (2, 2));
        // 4K into 300x300 is capped at MAX_GRID tiles per side.
        let p = TilePlan::new(7680, 4320, 300, 300, &auto);
        assert!(p.cols <= MAX_GRID && p.rows <= MAX_GRID && p.is_tiled());
    }

    #[test]
    fn the_finer_grid_cuts_tiles_of_about_the_frames_own_pixels_one_more_a_side_at_most() {
        let auto = cfg("auto", 0.2);
        let grid = |w, h, iw, ih| {
            let c = auto.fine(w, h, iw, ih);
            let p = TilePlan::new(w, h, iw, ih, &c);
            (p.rows, p.cols)
        };
        // NanoDet-g: 1080p into 768x448 is probed in 2x2 and then cut 3x3.
        assert_eq!(auto_grid(1920, 1080, 768, 448, 0.2), (2, 2));
        assert_eq!(grid(1920, 1080, 768, 448), (3, 3));
        let tile = TilePlan::new(1920, 1080, 768, 448, &auto.fine(1920, 1080, 768, 448)).regions[1];
        assert!(tile.width as f32 <= 1.05 * 768.0 && tile.height as f32 <= 1.05 * 448.0, "{tile:?}");
        // The SSD's 300x300 would need 5x8 on 1080p: one more per side than its probe's 2x4.
        assert_eq!(auto_grid(1920, 1080, 300, 300, 0.2), (2, 4));
        assert_eq!(grid(1920, 1080, 300, 300), (3, 5));
        // A frame that fits the input whole keeps the probe's grid; tiny frames never get
        // more tiles than pixels.
        assert_eq!(grid(640, 480, 640, 480), (2, 2));
        assert_eq!(grid(3, 1, 300, 300), (1, 2));
        // A fixed grid stays as asked.
        let fixed = cfg("2x5", 0.2);
        assert_eq!(fixed.fine(1920, 1080, 768, 448), fixed);
    }
}
