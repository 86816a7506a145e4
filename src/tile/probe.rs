//! `--tiles auto`: whether tiles pay on this video, measured on the video itself. Takes the
//! detections of its first `PROBE_FRAMES` detector frames twice, from the whole frame alone
//! and merged with the tiles; gives one answer for the rest of the video. Pure CPU counting.
//!
//! A probe that sees almost nobody (an empty street at dawn, a camera switched on before the
//! doors open) cannot answer. One that saw anyone goes on for a few more blocks of
//! `PROBE_FRAMES` first (`crate::pipeline`'s probe says why); then the frames go on whole,
//! and the video is probed again every [`PROBE_EVERY`] detector frames until a probe answers.
//! A batch of CCTV dumps opens empty often enough that deciding once on the first frames would
//! leave whole hours untiled.
//!
//! Why measured and not from the frame size: tiles pay where people are small at the model's
//! input, and that depends on the camera, not the resolution (a 640x480 camera 60 m away, a
//! 1080p one at 3 m). Where people are close, tiles cost four more model calls a frame and
//! add cut-off boxes; where they are far, they find people the whole frame never sees.
//!
//! Chosen on the six shared sequences and their variants (far: shrunk 3x into 1080p; one
//! frame in four), 16 frames each, counting boxes scored >= 0.5 (issue 20 note). Tiled
//! against whole-frame counts: far variants 1.37-31x (ETH-Sunnyday 0 -> 31 boxes), the
//! MOT20-01 crowd 1.43-1.54x; close footage 1.00-1.36x, where the tiles' extra boxes were
//! mostly false (TUD-Campus +0 right, +31 wrong). Choosing the level on five sequences and
//! scoring the sixth (right minus wrong boxes) picked 1.25-1.4; tracked through the real
//! pipeline, MOT16-09 as it is (1.36x) lost MOTA with tiles (0.585 -> 0.557, IDF1 0.553 ->
//! 0.576) while the MOT20-01 crowd (1.43x) gained (0.300 / 0.372 -> 0.350 / 0.420), so the
//! level is the top of that range (which leaves far TUD-Stadtmitte, 1.37x, untiled). Read on
//! the sequence files themselves (not re-encoded clips), MOT16-09 is 1.42x and MOT20-01 1.40x,
//! so MOT16-09 is tiled too and pays that MOTA loss. The probe is not what is wrong there:
//! against the ground truth, 25 of the 26 confident boxes only its tiles found are people
//! (MOT20-01: 68 of 84). The loss comes after, from the low-score tile boxes the tracker
//! takes over the whole video (boxes on nothing 118 -> 228; issue 21 note).
//!
//! Counting alone missed far-away people the whole frame still half sees: far TUD-Stadtmitte
//! (1.35x) stayed untiled at MOTA 0.33 where 2x2 tiles reach 0.50. So the probe also looks at
//! how tall the whole frame's confident people are at the model's input: under
//! [`PROBE_SMALL_PX`] (median), tiles pay however many boxes they add. On the 18 videos of
//! `scripts/quality.sh` that median is 30-50 px on every far variant (tiles gained on each)
//! and 61-111 px on everything else; it changes the choice on far TUD-Stadtmitte alone.
//!
//! People that small want finer tiles than the probe's: there the rest of the video is cut
//! into tiles of about the frame's own pixels (`super::fine_grid`, 3x3 on 1080p into
//! 768x448), twice the calls of 2x2. Against 2x2, MOTA / IDF1 with 3x3 (`--tiles 3x3`,
//! 2026-12-06): far TUD-Stadtmitte 0.500 / 0.632 -> 0.694 / 0.735, far ETH-Sunnyday (the whole
//! frame finds nobody) 0.435 / 0.515 -> 0.644 / 0.711, far KITTI-17 0.581 / 0.747 -> 0.722 /
//! 0.846, far TUD-Campus 0.627 / 0.746 -> 0.663 / 0.754 (medians 31-33 px); but far MOT16-09
//! (50 px) 0.583 / 0.592 -> 0.522 / 0.569 and MOT20-01 at one frame in four (84 px) 0.354 /
//! 0.436 -> 0.314 / 0.388. So the finer grid goes with the same 40 px: just above the
//! largest median where it gained, under the smallest where it lost.

/// Detector frames of each video seen both ways before the choice.
pub(crate) const PROBE_FRAMES: usize = 16;

/// Detector frames from the start of one probe to the next while none has answered: about a
/// minute at 25 frames/s. On a video nobody ever enters that costs 4 model calls on 16 frames
/// in 1500 (4% more model time with 2x2 tiles); a crowd that arrives is tiled within a minute.
pub const PROBE_EVERY: u64 = 1500;

/// Boxes counted: those the tracker starts tracks from (scores are the detector's own).
pub(crate) const PROBE_MIN_SCORE: f32 = 0.5;

/// Tiles are kept when they find at least this many times the whole frame's boxes...
pub(crate) const PROBE_GAIN: f32 = 1.4;

/// Or tiles are kept when the whole frame's confident boxes are, at the median, shorter than
/// this at the model's input (pixels): 5 cells of NanoDet-g's finest 8 px stride, where a
/// detector's boxes on people grow loose and unsure. Between the far variants' 30-50 px and
/// the rest's 61 px and up (see the module's comment).
pub(crate) const PROBE_SMALL_PX: f32 = 40.0;

/// ...and at least this many boxes per probed frame in all: a nearly empty opening tells
/// nothing, and the whole frame alone is the cheaper guess.
pub(crate) const PROBE_MIN_BOXES_PER_FRAME: f32 = 0.5;

/// How a probe answers for the rest of its video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileAnswer {
    /// The whole frame alone.
    Whole,
    /// The whole frame and the probe's tiles.
    Tiles,
    /// The whole frame and the finer tiles, for small people.
    Finer,
}

/// Confident boxes counted over the probed frames.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeTally {
    pub frames: usize,
    /// From the whole frame alone.
    pub whole: usize,
    /// From the whole frame and its tiles, merged.
    pub tiled: usize,
    /// Heights at the model's input of the whole frame's confident boxes.
    pub whole_heights: Vec<f32>,
}

impl ProbeTally {
    /// Counts one probed frame's two results: the whole frame's boxes as (score, height at the
    /// model's input), the tiled result's scores.
    pub fn add(&mut self, whole: impl IntoIterator<Item = (f32, f32)>, tiled: impl IntoIterator<Item = f32>) {
        self.frames += 1;
        for (score, height) in whole {
            if score >= PROBE_MIN_SCORE {
                self.whole += 1;
                self.whole_heights.push(height);
            }
        }
        self.tiled += tiled.into_iter().filter(|&s| s >= PROBE_MIN_SCORE).count();
    }

    /// Median height at the model's input of the whole frame's confident boxes.
    pub(crate) fn median_height(&self) -> Option<f32> {
        let mut h = self.whole_heights.clone();
        h.sort_by(f32::total_cmp);
        h.get(h.len() / 2).copied()
    }

    /// Whether the probe saw enough people to answer either way.
    pub(crate) fn conclusive(&self) -> bool {
        self.frames > 0 && self.tiled as f32 >= PROBE_MIN_BOXES_PER_FRAME * self.frames as f32
    }

    /// What the rest of the video gets: the finer grid (`super::fine_grid`) when the whole
    /// frame's people are small at the model's input ([`PROBE_SMALL_PX`]) or it found none of
    /// those the tiles found; the probe's grid when the tiles found clearly more
    /// ([`PROBE_GAIN`]); else the whole frame alone. An inconclusive probe answers whole.
    pub fn answer(&self) -> TileAnswer {
        if !self.conclusive() {
            return TileAnswer::Whole;
        }
        if self.median_height().is_none_or(|h| h < PROBE_SMALL_PX) {
            TileAnswer::Finer
        } else if self.tiled as f32 >= PROBE_GAIN * self.whole as f32 {
            TileAnswer::Tiles
        } else {
            TileAnswer::Whole
        }
    }

    /// Whether the rest of the video is tiled (in either grid).
    #[cfg(test)]
    fn tiles_pay(&self) -> bool {
        self.answer() != TileAnswer::Whole
    }

    /// Whether the tiles that pay are the finer grid.
    #[cfg(test)]
    fn fine_pays(&self) -> bool {
        self.answer() == TileAnswer::Finer
    }

    /// One line for the log and the report. `start`: the detector frame the probe began at;
    /// `earlier`: probes before it that saw too few people to answer.
    /// `grids`: the probe's grid and the finer one.
    pub fn describe(&self, grids: (&str, &str), start: u64, earlier: u64) -> String {
        let (grid, fine) = grids;
        let choice = match self.answer() {
            TileAnswer::Finer => format!("tiles {fine}, finer than the probe's for small people"),
            TileAnswer::Tiles => format!("tiles {grid}"),
            TileAnswer::Whole => "whole frame only".into(),
        };
        let frames = match start {
            0 => format!("the first {} frames", self.frames),
            _ => format!("{} frames from detector frame {start}", self.frames),
        };
        let before = match earlier {
            0 => String::new(),
            n => format!(" ({n} earlier probe{} saw too few people to answer)", if n == 1 { "" } else { "s" }),
        };
        let tall = match self.median_height() {
            Some(h) => format!(" ({h:.0} px tall at the model's input, median)"),
            None => String::new(),
        };
        format!(
            "{choice}: in {frames}, {} boxes scored >= {PROBE_MIN_SCORE} with {grid} tiles, {} from the whole frame{tall}{before}",
            self.tiled, self.whole
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `whole` and `tiled` confident boxes over `frames` frames, the whole frame's 100 px tall
    /// at the model's input.
    fn tally(frames: usize, whole: usize, tiled: usize) -> ProbeTally {
        tally_of(frames, whole, tiled, 100.0)
    }

    fn tally_of(frames: usize, whole: usize, tiled: usize, height: f32) -> ProbeTally {
        let mut t = ProbeTally::default();
        for f in 0..frames {
            let share = |n: usize| (0..n).filter(move |i| i % frames == f).map(|_| 0.9f32);
            t.add(share(whole).map(|s| (s, height)).chain([(0.2, 5.0)]), share(tiled).chain([0.2]));
        }
        t
    }

    #[test]
    fn tiles_pay_only_for_clearly_more_confident_boxes() {
        // Far away: the whole frame finds nobody, the tiles 31 people.
        assert!(tally(16, 0, 31).tiles_pay());
        // A crowd: 1.43x.
        assert!(tally(16, 208, 298).tiles_pay());
        // Close up: the tiles add a few cut-off boxes; a re-encoded MOT16-09 clip read 1.36x.
        assert!(!tally(16, 56, 67).tiles_pay());
        assert!(!tally(16, 85, 116).tiles_pay());
        assert!(!tally(16, 100, 100).tiles_pay());
        // Nearly empty: 3 boxes in 16 frames are no evidence; nothing at all neither.
        assert!(!tally(16, 0, 3).tiles_pay() && !tally(16, 0, 3).conclusive());
        assert!(tally(16, 56, 67).conclusive() && tally(16, 0, 8).conclusive());
        assert!(!tally(16, 0, 0).tiles_pay());
        assert!(!ProbeTally::default().tiles_pay());
        // Low scores are not counted.
        assert_eq!(tally(4, 2, 5), ProbeTally { frames: 4, whole: 2, tiled: 5, whole_heights: vec![100.0; 2] });
    }

    #[test]
    fn tiles_pay_for_people_small_at_the_models_input_however_many_they_add() {
        // Far TUD-Stadtmitte: 1.35x the boxes, people 33 px tall at the model's input.
        assert!(!tally(16, 72, 97).tiles_pay());
        assert!(tally_of(16, 72, 97, 33.0).tiles_pay());
        // The nearest of the rest, ETH-Sunnyday as it is: 61 px.
        assert!(!tally_of(16, 83, 90, 61.0).tiles_pay());
        assert_eq!(tally_of(16, 72, 97, 33.0).median_height(), Some(33.0));
        // Small, but too few people to tell: no answer, no tiles.
        assert!(!tally_of(16, 2, 3, 20.0).tiles_pay());
        // The low-score boxes (5 px tall in `tally_of`) are not in the median.
        assert_eq!(tally_of(4, 3, 3, 50.0).median_height(), Some(50.0));
        assert_eq!(tally_of(4, 0, 8, 50.0).median_height(), None);
    }

    #[test]
    fn small_people_get_the_finer_grid_and_crowds_of_taller_ones_the_probes() {
        // Far TUD-Stadtmitte (33 px) and far ETH-Sunnyday (nobody found whole): finer.
        assert!(tally_of(16, 72, 97, 33.0).fine_pays());
        assert!(tally(16, 0, 31).fine_pays());
        // Far MOT16-09 (50 px, 2.6x the boxes) and the MOT20-01 crowd (83 px): the probe's.
        assert!(tally_of(16, 37, 95, 50.0).tiles_pay() && !tally_of(16, 37, 95, 50.0).fine_pays());
        assert!(!tally_of(16, 208, 298, 83.0).fine_pays());
        // No tiles, no finer tiles.
        assert!(!tally_of(16, 2, 3, 20.0).fine_pays());
        assert!(!ProbeTally::default().fine_pays());
    }

    #[test]
    fn describe_says_the_choice_and_the_counts() {
        assert_eq!(
            tally(16, 0, 31).describe(("2x2", "3x3"), 0, 0),
            "tiles 3x3, finer than the probe's for small people: in the first 16 frames, 31 boxes scored >= 0.5 with 2x2 \
             tiles, 0 from the whole frame"
        );
        assert_eq!(
            tally_of(16, 72, 97, 33.2).describe(("2x2", "3x3"), 0, 0),
            "tiles 3x3, finer than the probe's for small people: in the first 16 frames, 97 boxes scored >= 0.5 with 2x2 tiles, 72 from the whole frame \
             (33 px tall at the model's input, median)"
        );
        assert!(tally(16, 56, 67).describe(("2x2", "3x3"), 0, 0).starts_with("whole frame only:"));
        // A crowd tiled for its count, its people tall enough: the probe's grid.
        assert!(tally(16, 208, 298).describe(("2x2", "3x3"), 0, 0).starts_with("tiles 2x2: "));
        assert_eq!(
            tally(16, 0, 31).describe(("3x3", "4x4"), 3000, 2),
            "tiles 4x4, finer than the probe's for small people: in 16 frames from detector frame 3000, 31 boxes scored >= 0.5 with 3x3 tiles, 0 from the whole frame \
             (2 earlier probes saw too few people to answer)"
        );
    }
}
