//! Stage 6, refine: takes the tracker's [`Track`]s of one whole video and the frames the
//! detector ran on, gives better tracks. CPU, once per video, between track and route.
//!
//! The online tracker must decide at every frame with only the past in hand; a batch job has
//! the whole video before it writes anything, so this stage looks at the future too. Each step
//! can be switched off (`--refine`), so `prelabel eval` shows what each one is worth:
//!
//! | step | what it does | module |
//! |---|---|---|
//! | `bridge` | cuts a track where the detector missed it for longer than a person passing behind another stays hidden: the online tracker's match after a long miss is a guess | [`bridge`] |
//! | `stitch` | joins a track that ends to one that starts soon after where its motion leads, with matching colours (an occlusion, a cut the bridge step made that hindsight confirms) | [`stitch`] |
//! | `exit` | cuts a track that walks out at an edge of the picture and straight back in: the person left, and the track slid onto someone entering there | [`exit`] |
//! | `dedupe` | removes a track that mostly sits on top of a longer one (a second box on a person already boxed) | [`dedupe`] |
//! | `evidence` | drops tracks the detector confirmed too rarely or never surely enough to be worth a human's time | [`evidence`] |
//! | `uncross` | where two tracks met and the tracker handed each one's future to the other (people crossing), exchanges their tails back when both walks then continue better and the colours agree; adds and removes no detection | [`uncross`] |
//! | `extend` (off by default) | takes detections no track took where a track's motion says its object was: before its first and after its last sure detection, and inside its gaps | [`extend`] |
//! | `smooth` | fits each track's detected boxes to a local straight line in time, taking the detector's jitter out | [`smooth`] |
//! | `static` | marks tracks that never move (scenery: a sign, a parked object) so routing sends them to review | [`stationary`] |
//! | calibration (`--calibration FILE`, not a `--refine` step) | draws the boxes as a client's guideline does: the smallest box labelled, how long a hidden person stays labelled, each side's offset; learned by `prelabel calibrate` | [`guideline`], [`profile`] |
//!
//! Steps work on *sparse* tracks (the detected boxes only); afterwards each track is filled
//! again frame by frame and its keyframes placed, exactly as the tracker does
//! (`crate::track::interpolate`, [`crate::track::keyframes`]), and ids are renumbered 1..n
//! in order of first frame.

pub mod bridge;
pub mod dedupe;
pub mod evidence;
pub mod exit;
pub mod extend;
pub mod guideline;
pub mod profile;
pub mod smooth;
mod sparse;
pub mod stationary;
pub mod stitch;
pub mod uncross;

use std::collections::{BTreeMap, BTreeSet};

use profile::ClassProfile;

use crate::track::dense_track;
use crate::types::{CameraPath, Detection, Track};
pub use sparse::Sparse;

/// One refinement step, as `--refine` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Bridge,
    Stitch,
    Exit,
    Dedupe,
    Evidence,
    Uncross,
    Extend,
    Smooth,
    Static,
}

impl Step {
    pub const ALL: [Step; 9] =
        [Step::Bridge, Step::Stitch, Step::Exit, Step::Dedupe, Step::Evidence, Step::Uncross, Step::Extend, Step::Smooth, Step::Static];
    /// What runs unless told otherwise: every step but `extend`, which on the footage the
    /// defaults are chosen on added more wrong boxes than right ones (see `extend`).
    pub const DEFAULT: [Step; 8] =
        [Step::Bridge, Step::Stitch, Step::Exit, Step::Dedupe, Step::Evidence, Step::Uncross, Step::Smooth, Step::Static];
}

/// Which steps run, and their settings. Durations are seconds, sizes are fractions of the
/// box height, so they mean the same at any frame rate and resolution.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RefineConfig {
    pub steps: BTreeSet<Step>,
    pub stitch: stitch::StitchConfig,
    pub exit: exit::ExitConfig,
    pub uncross: uncross::UncrossConfig,
    pub dedupe: dedupe::DedupeConfig,
    pub evidence: evidence::EvidenceConfig,
    pub extend: extend::ExtendConfig,
    pub bridge: bridge::BridgeConfig,
    pub smooth: smooth::SmoothConfig,
    pub stationary: stationary::StaticConfig,
    /// The calibration profile's rules by model class (`--calibration`), applied after every
    /// step; empty without a profile (and then not written, so reports stay as they were).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guideline: BTreeMap<u32, ClassProfile>,
}

impl Default for RefineConfig {
    fn default() -> Self {
        RefineConfig {
            steps: Step::DEFAULT.into_iter().collect(),
            stitch: Default::default(),
            exit: Default::default(),
            uncross: Default::default(),
            dedupe: Default::default(),
            evidence: Default::default(),
            extend: Default::default(),
            bridge: Default::default(),
            smooth: Default::default(),
            stationary: Default::default(),
            guideline: BTreeMap::new(),
        }
    }
}

impl RefineConfig {
    /// No step at all: the tracker's output as it is.
    pub fn none() -> RefineConfig {
        RefineConfig { steps: BTreeSet::new(), ..RefineConfig::default() }
    }
    pub fn on(&self, step: Step) -> bool {
        self.steps.contains(&step)
    }
}

/// How many tracks each step touched, for the log and `report.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RefineStats {
    pub tracks_in: usize,
    pub stitched: usize,
    pub duplicates_removed: usize,
    pub weak_dropped: usize,
    /// Detections no track had taken, added by `extend`.
    pub detections_added: usize,
    pub cuts: usize,
    /// Tracks cut where they turned back at an edge of the picture (`exit`).
    pub exit_cuts: usize,
    /// Tail exchanges of tracks that crossed (`uncross`).
    pub uncrossed: usize,
    pub static_marked: usize,
    /// What the calibration profile changed (not written when nothing).
    #[serde(skip_serializing_if = "guideline::GuidelineStats::is_zero")]
    pub guideline: guideline::GuidelineStats,
    pub tracks_out: usize,
}

/// What the refinement needs to know about the video besides its tracks.
pub struct VideoTiming<'a> {
    /// Frames per second ([`crate::types::VideoInfo::fps`]: positive and finite).
    pub fps: f32,
    /// The frames the detector ran on, in order.
    pub detector_frames: &'a BTreeSet<u64>,
    /// Every detection the tracker could have used, by frame (`track::Tracked::usable`).
    pub usable: &'a BTreeMap<u64, Vec<Detection>>,
    /// IoU the keyframes must keep (the tracker's `keyframe_iou`).
    pub keyframe_iou: f32,
    /// The picture's width and height in pixels (0, 0 when unknown: `exit` then does nothing).
    pub frame: (u32, u32),
    /// Where the camera looked (`track::Tracked::camera`): the boxes filled in between a
    /// track's detections move with it.
    pub camera: &'a CameraPath,
}

/// Runs the switched-on steps in a fixed order (bridge, stitch, exit, dedupe, evidence, uncross,
/// extend, smooth, static, then the calibration profile) and gives dense tracks with keyframes, ids 1..n by first frame.
pub fn refine(tracks: Vec<Track>, cfg: &RefineConfig, video: &VideoTiming) -> (Vec<Track>, RefineStats) {
    let mut stats = RefineStats { tracks_in: tracks.len(), ..RefineStats::default() };
    if cfg.steps.is_empty() && cfg.guideline.is_empty() {
        stats.tracks_out = tracks.len();
        return (tracks, stats);
    }
    let fps = video.fps;
    let mut sparse: Vec<Sparse> = tracks.iter().map(Sparse::from_track).collect();
    // The dense tracks are rebuilt from the sparse ones at the end: not held twice meanwhile.
    drop(tracks);
    if cfg.on(Step::Bridge) {
        stats.cuts = bridge::cut_long_gaps(&mut sparse, &cfg.bridge, fps, video.detector_frames);
    }
    if cfg.on(Step::Stitch) {
        stats.stitched = stitch::stitch(&mut sparse, &cfg.stitch, fps);
    }
    if cfg.on(Step::Exit) {
        stats.exit_cuts = exit::cut_turns_at_edges(&mut sparse, &cfg.exit, fps, video.frame);
    }
    if cfg.on(Step::Dedupe) {
        stats.duplicates_removed = dedupe::dedupe(&mut sparse, &cfg.dedupe);
    }
    if cfg.on(Step::Evidence) {
        stats.weak_dropped = evidence::drop_weak(&mut sparse, &cfg.evidence, fps, video.detector_frames);
    }
    if cfg.on(Step::Uncross) {
        stats.uncrossed = uncross::uncross(&mut sparse, &cfg.uncross, fps);
    }
    if cfg.on(Step::Extend) {
        stats.detections_added = extend::extend(&mut sparse, &cfg.extend, fps, video.detector_frames, video.usable);
    }
    if cfg.on(Step::Smooth) {
        smooth::smooth(&mut sparse, &cfg.smooth, fps);
    }
    if cfg.on(Step::Static) {
        stats.static_marked = stationary::mark(&mut sparse, &cfg.stationary, fps);
    }
    if !cfg.guideline.is_empty() {
        stats.guideline = guideline::apply(&mut sparse, &cfg.guideline, fps, video.frame);
    }
    let out = densify(sparse, video);
    stats.tracks_out = out.len();
    (out, stats)
}

/// Sparse tracks back to dense ones with keyframes, ids 1..n in order of first frame.
fn densify(mut sparse: Vec<Sparse>, video: &VideoTiming) -> Vec<Track> {
    sparse.retain(|s| !s.dets.is_empty());
    sparse.sort_by_key(|s| (s.dets[0].0, s.order));
    let frames = video.detector_frames;
    sparse
        .into_iter()
        .enumerate()
        .map(|(n, s)| {
            let t = dense_track(n as u64 + 1, s.class, &s.dets, |f| frames.contains(&f), video.keyframe_iou, video.camera);
            Track { stationary: s.stationary, looks: s.looks, ..t }
        })
        .collect()
}

#[cfg(test)]
mod tests;
