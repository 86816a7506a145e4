//! Cuts a track where the detector missed it for longer than `max_gap_s`: the tracker keeps a
//! lost track for its buffer and fills the gap by interpolation when it is matched again, but a
//! long guess through a crowd is more often off the person (or on another one) than on it, and a
//! wrong box costs an annotator a move where a missing one costs a draw. Short gaps (a person
//! passing behind another) stay bridged. The part after the cut becomes a track of its own,
//! which `stitch` (run next) joins back when motion and colours say it is the same object:
//! with hindsight of both ends, which the online tracker did not have when it matched.

use std::collections::BTreeSet;

use super::Sparse;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BridgeConfig {
    /// Longest run of missed detector frames, in seconds, still filled by interpolation.
    pub max_gap_s: f32,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig { max_gap_s: 0.3 }
    }
}

/// Splits tracks at long gaps; returns the number of cuts.
pub(crate) fn cut_long_gaps(tracks: &mut Vec<Sparse>, cfg: &BridgeConfig, fps: f32, detector_frames: &BTreeSet<u64>) -> usize {
    let mut cuts = 0;
    let mut out = Vec::with_capacity(tracks.len());
    for t in tracks.drain(..) {
        let mut piece = Sparse { dets: Vec::new(), ..t.clone() };
        for d in &t.dets {
            if let Some(prev) = piece.dets.last() {
                // Missed detector frames between two detections, as seconds of video.
                let missed = detector_frames.range(prev.0 + 1..d.0).count();
                let gap_s = (d.0 - prev.0) as f32 / fps;
                if missed > 0 && gap_s > cfg.max_gap_s {
                    cuts += 1;
                    out.push(std::mem::replace(&mut piece, Sparse { dets: Vec::new(), ..t.clone() }));
                }
            }
            piece.dets.push(*d);
        }
        out.push(piece);
    }
    *tracks = out;
    cuts
}
