//! Scores draft labels against ground truth, to measure how much correcting work they leave.
//! Takes ground truth and drafts as [`MotRow`]s (read from MOTChallenge text, CVAT for video
//! XML or COCO JSON by [`read_labels`]), gives:
//!
//! - [`average_precision`]: the detector alone, VOC all-point AP at an IoU threshold (`ap.rs`);
//! - [`score`]: the tracks, CLEAR MOT and identity metrics as the MOTChallenge evaluation
//!   (TrackEval) computes them, or with py-motmetrics 1.4.0's CLEAR matching (`score_by`;
//!   `clear.rs`, `identity.rs`), with the per-frame matches;
//! - `hota_score`: HOTA and its detection and association parts, as TrackEval computes
//!   them (`hota.rs`);
//! - `annotator::annotator_time`: the human actions and seconds that turn the drafts into
//!   the ground truth in a keyframe tool, against labelling from scratch.
//!
//! [`calibrate`] judges draft tracks correct or not and picks review levels from them
//! (`prelabel calibrate`).
//!
//! [`diagnose::diagnose`] says where identity and boxes are lost.
//!
//! [`report::evaluate`] runs them all over many videos for `prelabel eval`.
//!
//! What is scored follows each benchmark's own rules ([`protocol`]): ground-truth rows with
//! conf 0 are never scored, and MOT16/20 first remove drafts on distractors and score
//! pedestrians only. Several videos combine as motmetrics' `compute_overall` does: counts are
//! summed ([`TrackScores::overall`]), then the ratios are computed from the sums.

pub mod annotator;
mod ap;
pub mod calibrate;
mod clear;
pub mod diagnose;
pub mod guideline;
mod hota;
mod identity;
mod pairs;
pub mod protocol;
mod read;
mod read_coco;
mod read_cvat;
pub mod report;

pub use ap::{average_precision, ApResult};
pub use clear::{FrameMatch, Matching};
pub use hota::{HotaCounts, HotaScores};
pub(crate) use protocol::read_ground_truth;
pub use protocol::{GroundTruth, Prepared, Protocol};
pub(crate) use read::read_track_scores;
pub use read::{read_labels, read_mot, MotRow};

/// Counts of one video (or summed over videos), named as in py-motmetrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TrackCounts {
    pub num_frames: u64,
    /// Ground-truth boxes scored.
    pub num_objects: u64,
    /// Draft boxes.
    pub num_predictions: u64,
    pub num_matches: u64,
    pub num_switches: u64,
    pub num_false_positives: u64,
    pub num_misses: u64,
    /// Matches plus switches.
    pub num_detections: u64,
    /// Times a ground-truth track goes from matched to missed and is matched again later.
    pub num_fragmentations: u64,
    pub num_unique_objects: u64,
    /// Ground-truth tracks matched in at least 80% of their frames.
    pub mostly_tracked: u64,
    pub partially_tracked: u64,
    /// Ground-truth tracks matched in less than 20% of their frames.
    pub mostly_lost: u64,
    pub idtp: u64,
    pub idfp: u64,
    pub idfn: u64,
    /// Sum of 1 - IoU over matches and switches (MOTP's numerator).
    pub total_distance: f64,
}

impl TrackCounts {
    fn add(&mut self, o: &TrackCounts) {
        self.num_frames += o.num_frames;
        self.num_objects += o.num_objects;
        self.num_predictions += o.num_predictions;
        self.num_matches += o.num_matches;
        self.num_switches += o.num_switches;
        self.num_false_positives += o.num_false_positives;
        self.num_misses += o.num_misses;
        self.num_detections += o.num_detections;
        self.num_fragmentations += o.num_fragmentations;
        self.num_unique_objects += o.num_unique_objects;
        self.mostly_tracked += o.mostly_tracked;
        self.partially_tracked += o.partially_tracked;
        self.mostly_lost += o.mostly_lost;
        self.idtp += o.idtp;
        self.idfp += o.idfp;
        self.idfn += o.idfn;
        self.total_distance += o.total_distance;
    }
}

/// Tracking scores of one video, or of several ([`TrackScores::overall`]). Ratios whose
/// denominator is 0 are NaN (null in JSON), as in motmetrics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrackScores {
    /// 1 - (misses + switches + false positives) / objects.
    pub mota: f64,
    /// Mean 1 - IoU of the matched pairs (motmetrics' MOTP: lower is better).
    pub motp: f64,
    pub idf1: f64,
    pub idp: f64,
    pub idr: f64,
    /// Detections / (detections + false positives).
    pub precision: f64,
    /// Detections / objects.
    pub recall: f64,
    #[serde(flatten)]
    pub counts: TrackCounts,
    /// The CLEAR correspondences, by frame (empty in [`TrackScores::overall`]).
    #[serde(skip)]
    pub matches: Vec<FrameMatch>,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

impl TrackScores {
    /// The ratios of `counts`.
    pub(crate) fn from_counts(counts: TrackCounts) -> TrackScores {
        let c = &counts;
        let det = c.num_detections as f64;
        TrackScores {
            mota: 1.0 - ratio((c.num_misses + c.num_switches + c.num_false_positives) as f64, c.num_objects as f64),
            motp: ratio(c.total_distance, det),
            idf1: ratio(2.0 * c.idtp as f64, (c.num_objects + c.num_predictions) as f64),
            idp: ratio(c.idtp as f64, (c.idtp + c.idfp) as f64),
            idr: ratio(c.idtp as f64, (c.idtp + c.idfn) as f64),
            precision: ratio(det, det + c.num_false_positives as f64),
            recall: ratio(det, c.num_objects as f64),
            counts,
            matches: Vec::new(),
        }
    }

    /// Several videos as one: counts summed, then ratios (motmetrics' `compute_overall`).
    pub fn overall<'a>(videos: impl IntoIterator<Item = &'a TrackScores>) -> TrackScores {
        let mut sum = TrackCounts::default();
        for v in videos {
            sum.add(&v.counts);
        }
        TrackScores::from_counts(sum)
    }
}

/// An f32 threshold at the decimal value it was written as (0.6, not the f32 nearest to it),
/// so that boxes right at the threshold fall on the same side as in
/// `scripts/mot_eval.py --iou 0.6`, which computes in f64.
fn decimal(v: f32) -> f64 {
    v.to_string().parse::<f64>().unwrap_or(v as f64)
}

/// CLEAR MOT and identity scores of `pred` against `gt` (rows with conf 0 ignored), pairs
/// matching at IoU >= `iou` as the MOTChallenge evaluation (TrackEval) matches them; with the
/// per-frame matches for `annotator::annotator_time`.
pub fn score(gt: &[MotRow], pred: &[MotRow], iou: f32) -> TrackScores {
    score_by(gt, pred, iou, Matching::TrackEval)
}

/// As [`score`], with the CLEAR matching of the reference given.
pub(crate) fn score_by(gt: &[MotRow], pred: &[MotRow], iou: f32, matching: Matching) -> TrackScores {
    let gt_index: Vec<usize> = (0..gt.len()).filter(|&i| gt[i].conf != 0.0).collect();
    let scored: Vec<MotRow> = gt_index.iter().map(|&i| gt[i]).collect();
    let c = clear::clear(&scored, &gt_index, pred, 1.0 - decimal(iou), matching);
    let id = identity::identity(&scored, pred, &c.pair_hits);
    let counts = TrackCounts { idtp: id.idtp, idfp: id.idfp, idfn: id.idfn, ..c.counts };
    TrackScores { matches: c.matches, ..TrackScores::from_counts(counts) }
}

/// HOTA of `pred` against `gt` (rows with conf 0 ignored), over IoU thresholds 0.05..0.95.
pub(crate) fn hota_score(gt: &[MotRow], pred: &[MotRow]) -> HotaScores {
    let scored: Vec<MotRow> = gt.iter().filter(|r| r.conf != 0.0).copied().collect();
    hota::hota(&scored, pred)
}

#[cfg(test)]
mod tests;
