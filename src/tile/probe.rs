//! `--tiles auto`: whether tiles pay on this video, measured on the video itself. Takes the
//! detections of its first `PROBE_FRAMES` detector frames twice, from the whole frame alone
//! and merged with the tiles; gives one answer for the rest of the video. Pure CPU counting.
//!
//! A probe that sees almost nobody (an empty street at dawn, a camera switched on before the
//! doors open) cannot answer: the frames go on whole, and the video is probed again every
//! [`PROBE_EVERY`] detector frames until a probe answers. A batch of CCTV dumps opens empty
//! often enough that deciding once on the first frames would leave whole hours untiled.
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

/// ...and at least this many boxes per probed frame in all: a nearly empty opening tells
/// nothing, and the whole frame alone is the cheaper guess.
pub(crate) const PROBE_MIN_BOXES_PER_FRAME: f32 = 0.5;

/// Confident boxes counted over the probed frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeTally {
    pub frames: usize,
    /// From the whole frame alone.
    pub whole: usize,
    /// From the whole frame and its tiles, merged.
    pub tiled: usize,
}

impl ProbeTally {
    /// Counts one probed frame's two results (scores of their boxes).
    pub fn add(&mut self, whole: impl IntoIterator<Item = f32>, tiled: impl IntoIterator<Item = f32>) {
        let confident = |scores: &mut dyn Iterator<Item = f32>| scores.filter(|&s| s >= PROBE_MIN_SCORE).count();
        self.frames += 1;
        self.whole += confident(&mut whole.into_iter());
        self.tiled += confident(&mut tiled.into_iter());
    }

    /// Whether the probe saw enough people to answer either way.
    pub(crate) fn conclusive(&self) -> bool {
        self.frames > 0 && self.tiled as f32 >= PROBE_MIN_BOXES_PER_FRAME * self.frames as f32
    }

    /// Whether the rest of the video is tiled.
    pub(crate) fn tiles_pay(&self) -> bool {
        self.conclusive() && self.tiled as f32 >= PROBE_GAIN * self.whole as f32
    }

    /// One line for the log and the report. `start`: the detector frame the probe began at;
    /// `earlier`: probes before it that saw too few people to answer.
    pub fn describe(&self, grid: &str, start: u64, earlier: u64) -> String {
        let choice = if self.tiles_pay() { format!("tiles {grid}") } else { "whole frame only".into() };
        let frames = match start {
            0 => format!("the first {} frames", self.frames),
            _ => format!("{} frames from detector frame {start}", self.frames),
        };
        let before = match earlier {
            0 => String::new(),
            n => format!(" ({n} earlier probe{} saw too few people to answer)", if n == 1 { "" } else { "s" }),
        };
        format!(
            "{choice}: in {frames}, {} boxes scored >= {PROBE_MIN_SCORE} with {grid} tiles, {} from the whole frame{before}",
            self.tiled, self.whole
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(frames: usize, whole: usize, tiled: usize) -> ProbeTally {
        let mut t = ProbeTally::default();
        for f in 0..frames {
            let share = |n: usize| (0..n).filter(move |i| i % frames == f).map(|_| 0.9f32);
            t.add(share(whole), share(tiled).chain([0.2]));
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
        assert_eq!(tally(4, 2, 5), ProbeTally { frames: 4, whole: 2, tiled: 5 });
    }

    #[test]
    fn describe_says_the_choice_and_the_counts() {
        assert_eq!(
            tally(16, 0, 31).describe("2x2", 0, 0),
            "tiles 2x2: in the first 16 frames, 31 boxes scored >= 0.5 with 2x2 tiles, 0 from the whole frame"
        );
        assert!(tally(16, 56, 67).describe("2x2", 0, 0).starts_with("whole frame only:"));
        assert_eq!(
            tally(16, 0, 31).describe("3x3", 3000, 2),
            "tiles 3x3: in 16 frames from detector frame 3000, 31 boxes scored >= 0.5 with 3x3 tiles, 0 from the whole frame \
             (2 earlier probes saw too few people to answer)"
        );
    }
}
