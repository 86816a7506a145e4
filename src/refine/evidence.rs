//! Drops tracks the detector confirmed too rarely: a box that flickers on for a few frames in
//! a long stretch of misses is more often nothing (a shadow, a bag, a reflection) than a
//! person, and deleting a false track costs an annotator more than the box could save.

use std::collections::BTreeSet;

use super::Sparse;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvidenceConfig {
    /// Fewest detections a track needs, as this many seconds' worth of detector frames (at
    /// least one): a piece of a few frames, left over where `bridge` cut and `stitch` found
    /// nothing to join, is not worth a human's look.
    pub min_detected_s: f32,
    /// Least share of the detector frames within the track's span that detected it.
    pub min_detected_share: f32,
    /// Least mean detector score over the track's detections: a track the detector was never
    /// sure of (a steady low-score box on scenery) is more often wrong than right.
    pub min_mean_score: f32,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig { min_detected_s: 0.3, min_detected_share: 0.5, min_mean_score: 0.5 }
    }
}

/// Removes weak tracks; returns how many.
pub(crate) fn drop_weak(tracks: &mut Vec<Sparse>, cfg: &EvidenceConfig, fps: f32, detector_frames: &BTreeSet<u64>) -> usize {
    let before = tracks.len();
    // Detector frames in one second: with --stride the detector sees fewer frames.
    let per_s = detector_frames.len() as f32 / (detector_frames.last().map_or(1, |l| l + 1) as f32 / fps).max(1.0 / fps);
    let need = (cfg.min_detected_s * per_s).round().max(1.0) as usize;
    tracks.retain(|t| {
        let span = detector_frames.range(t.first()..=t.last()).count().max(1);
        t.dets.len() >= need && t.dets.len() as f32 >= cfg.min_detected_share * span as f32 && t.mean_score() >= cfg.min_mean_score
    });
    before - tracks.len()
}
