//! `prelabel run`'s refinement options (the refine stage, between tracking and routing).

use clap::Args;
use prelabel::error::{Error, Result};
use prelabel::refine::{RefineConfig, Step};

/// Offline refinement of tracks: the whole video is seen before anything is written.
#[derive(Args)]
#[command(next_help_heading = "Refinement (after tracking, with the whole video in hand)")]
pub(crate) struct RefineArgs {
    /// Refinement steps to run, comma separated: bridge (no guessed boxes through long misses:
    /// cut there), stitch (join a track to one that starts where its motion leads, in matching
    /// colours), exit (cut a track that walks out at an edge of the picture and straight back
    /// in: it slid onto someone entering), dedupe (drop a track sitting on top of another), evidence (drop tracks the
    /// detector rarely or never surely saw), uncross (where two tracks met and their futures were
    /// handed to each other, give each its own back when both walks then continue better), extend (take unsure detections where a track's
    /// motion leads: more recall, less precision; off by default), smooth (take the detector's
    /// jitter out), static (send never-moving tracks to review). `default` is all but extend,
    /// `all` all, `none` none; they run in that order. `prelabel eval` shows what each is worth
    /// on your footage.
    #[arg(long, value_name = "STEPS", value_delimiter = ',', default_value = "default", value_parser = parse_step)]
    pub(crate) refine: Vec<StepChoice>,
    /// stitch: longest gap, in seconds, across which two tracks are joined.
    #[arg(long, value_name = "SECONDS", default_value_t = RefineConfig::default().stitch.max_gap_s, value_parser = super::args::seconds)]
    pub(crate) stitch_gap: f32,
    /// stitch, second pass: longest gap, in seconds, across which tracks with colours at least
    /// --stitch-long-similarity alike, moving alike and of one shape are joined (a person hidden
    /// by a group for seconds); 0 or not over --stitch-gap: no second pass.
    #[arg(long, value_name = "SECONDS", default_value_t = RefineConfig::default().stitch.long_gap_s, value_parser = super::args::seconds)]
    pub(crate) stitch_long_gap: f32,
    /// stitch, second pass: least colour similarity (0-1) of a join over more than --stitch-gap.
    #[arg(long, default_value_t = RefineConfig::default().stitch.long_min_similarity, value_parser = super::args::fraction)]
    pub(crate) stitch_long_similarity: f32,
    /// bridge: longest run of missed detections, in seconds, still filled by interpolation
    /// (longer ones cut the track).
    #[arg(long, value_name = "SECONDS", default_value_t = RefineConfig::default().bridge.max_gap_s, value_parser = super::args::seconds)]
    pub(crate) bridge_gap: f32,
    /// evidence: tracks whose mean detector score is below this are dropped (0-1).
    #[arg(long, default_value_t = RefineConfig::default().evidence.min_mean_score, value_parser = super::args::fraction)]
    pub(crate) min_track_score: f32,
    /// smooth: half the window, in seconds, each box is fitted over.
    #[arg(long, value_name = "SECONDS", default_value_t = RefineConfig::default().smooth.half_window_s, value_parser = super::args::seconds)]
    pub(crate) smooth_window: f32,
    /// A calibration profile (TOML) from `prelabel calibrate --profile`: boxes drawn as the
    /// client's guideline draws them (smallest box, side offsets, how long a hidden person
    /// stays labelled) and its review levels (a class also in --thresholds keeps those).
    #[arg(long, value_name = "FILE")]
    pub(crate) calibration: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepChoice {
    All,
    Default,
    None,
    Step(Step),
}

fn parse_step(s: &str) -> std::result::Result<StepChoice, String> {
    match s.trim() {
        "all" => Ok(StepChoice::All),
        "default" => Ok(StepChoice::Default),
        "none" => Ok(StepChoice::None),
        other => <Step as clap::ValueEnum>::from_str(other, true).map(StepChoice::Step).map_err(|_| {
            let names: Vec<String> = Step::ALL.iter().map(|s| format!("{s:?}").to_lowercase()).collect();
            format!("unknown step '{other}': use default, all, none or some of {}", names.join(","))
        }),
    }
}

impl RefineArgs {
    pub(crate) fn config(&self) -> Result<RefineConfig> {
        let mut cfg = RefineConfig::default();
        cfg.steps.clear();
        for c in &self.refine {
            match c {
                StepChoice::All => cfg.steps.extend(Step::ALL),
                StepChoice::Default => cfg.steps.extend(Step::DEFAULT),
                StepChoice::None if self.refine.len() == 1 => {}
                StepChoice::None => return Err(Error::Usage("--refine none cannot be combined with steps".into())),
                StepChoice::Step(s) => {
                    cfg.steps.insert(*s);
                }
            }
        }
        let seconds_ok = |v: f32| v >= 0.0 && v.is_finite();
        if ![self.stitch_gap, self.stitch_long_gap, self.bridge_gap, self.smooth_window].into_iter().all(seconds_ok) {
            return Err(Error::Usage("--stitch-gap, --stitch-long-gap, --bridge-gap and --smooth-window are seconds, 0 or more".into()));
        }
        if !(0.0..=1.0).contains(&self.min_track_score) {
            return Err(Error::Usage(format!("--min-track-score {} is outside 0..1", self.min_track_score)));
        }
        cfg.stitch.max_gap_s = self.stitch_gap;
        cfg.stitch.long_gap_s = self.stitch_long_gap;
        cfg.stitch.long_min_similarity = self.stitch_long_similarity;
        cfg.bridge.max_gap_s = self.bridge_gap;
        cfg.evidence.min_mean_score = self.min_track_score;
        cfg.smooth.half_window_s = self.smooth_window;
        Ok(cfg)
    }
}
