//! Scoring several videos as one job: takes (ground truth, drafts) file pairs and the
//! settings, reads each pair ([`super::read_labels`]), and gives an [`EvalReport`] with every
//! video's tracking scores, detector AP and annotator time, and the overall ones (counts and
//! actions summed over videos, then ratios; AP over all videos' boxes pooled). This is what
//! `prelabel eval --json` prints.

use std::path::PathBuf;

use super::annotator::{annotator_time, AnnotatorTime, Params};
use super::diagnose::{diagnose, Diagnostics};
use super::protocol::{read_ground_truth, Protocol};
use super::{average_precision, hota_score, read_labels, score_by, ApResult, HotaScores, Matching, MotRow, TrackScores};
use crate::error::Result;

/// One video to score.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pair {
    /// How the video is called in the report (its sequence folder, or the draft file).
    pub name: String,
    pub gt: PathBuf,
    pub pred: PathBuf,
    /// The detector's boxes of the same video before tracking (a `--no-track` run's labels),
    /// to tell missed people never detected from those tracking dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub det: Option<PathBuf>,
}

/// What the job was run with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalSettings {
    /// IoU a draft box needs to match a ground-truth box (CLEAR, identity and AP).
    pub iou: f32,
    /// Only tracks of this label, in CVAT and COCO files.
    pub label: Option<String>,
    /// The benchmark rules every video is scored by; None: each ground-truth file decides
    /// ([`super::protocol`]).
    pub protocol: Option<Protocol>,
    /// Only pedestrians at least this visible are scored (MOT16/17/20); drafts on the others
    /// are removed as drafts on distractors are ([`super::protocol`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_visibility: Option<f32>,
    /// Whose CLEAR matching to follow (TrackEval's by default).
    pub matching: Matching,
    #[serde(flatten)]
    pub annotator: Params,
}

/// Scores of one video, or of all of them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scores {
    pub tracking: TrackScores,
    /// HOTA, DetA, AssA..., averaged over IoU thresholds 0.05 to 0.95 (not only `iou`).
    pub hota: HotaScores,
    /// The detector alone: AP at `iou` with its counts (the fields `prelabel eval --json`
    /// printed before tracking was scored).
    pub detector: ApResult,
    pub annotator: AnnotatorTime,
    /// Where identity and boxes are lost.
    pub diagnostics: Diagnostics,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct VideoScores {
    #[serde(flatten)]
    pub pair: Pair,
    /// The benchmark rules this video was scored by.
    pub protocol: Protocol,
    /// Draft boxes not scored because they matched a distractor (MOT16/20), or a person under
    /// `--min-visibility`.
    pub removed_on_distractors: u64,
    #[serde(flatten)]
    pub scores: Scores,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub settings: EvalSettings,
    pub videos: Vec<VideoScores>,
    pub overall: Scores,
}

/// Reads and scores every pair; fails on the first file that cannot be read.
pub fn evaluate(pairs: &[Pair], settings: &EvalSettings) -> Result<EvalReport> {
    let label = settings.label.as_deref();
    let mut videos = Vec::with_capacity(pairs.len());
    let (mut all_gt, mut all_pred): (Vec<MotRow>, Vec<MotRow>) = (Vec::new(), Vec::new());
    for (n, pair) in pairs.iter().enumerate() {
        // MOT ground truth has no labels: the filter applies to what can carry them.
        let truth = read_ground_truth(&pair.gt, if is_mot(&pair.gt) { None } else { label }, settings.protocol)?;
        let truth = match settings.min_visibility {
            Some(min) => truth.min_visibility(min, &pair.gt)?,
            None => truth,
        };
        let pred = read_labels(&pair.pred, if is_mot(&pair.pred) { None } else { label })?;
        let prepared = truth.prepare(&pred);
        let (gt, pred) = (prepared.gt, prepared.pred);
        let tracking = score_by(&gt, &pred, settings.iou, settings.matching);
        let annotator = annotator_time(&gt, &pred, &tracking.matches, &settings.annotator);
        let detector = average_precision(&gt, &pred, settings.iou);
        let hota = hota_score(&gt, &pred);
        let det = match &pair.det {
            Some(p) => Some(read_labels(p, if is_mot(p) { None } else { label })?),
            None => None,
        };
        let diagnostics = diagnose(&gt, &pred, &tracking.matches, settings.iou, det.as_deref());
        // Pooled AP: frames of different videos kept apart.
        let offset = (n as u64) << 40;
        all_gt.extend(gt.iter().map(|r| MotRow { frame: r.frame + offset, ..*r }));
        all_pred.extend(pred.iter().map(|r| MotRow { frame: r.frame + offset, ..*r }));
        videos.push(VideoScores {
            pair: pair.clone(),
            protocol: truth.protocol,
            removed_on_distractors: prepared.removed,
            scores: Scores { tracking, hota, detector, annotator, diagnostics },
        });
    }
    let overall = Scores {
        tracking: TrackScores::overall(videos.iter().map(|v| &v.scores.tracking)),
        hota: HotaScores::overall(videos.iter().map(|v| &v.scores.hota)),
        detector: average_precision(&all_gt, &all_pred, settings.iou),
        annotator: AnnotatorTime::overall(videos.iter().map(|v| &v.scores.annotator), &settings.annotator.costs),
        diagnostics: Diagnostics::overall(videos.iter().map(|v| &v.scores.diagnostics)),
    };
    Ok(EvalReport { settings: settings.clone(), videos, overall })
}

/// Whether `p` is MOTChallenge text (by its extension, as [`read_labels`] decides).
pub fn is_mot(p: &std::path::Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt"))
}
