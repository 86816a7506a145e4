//! Removes a track that sits on top of another one for most of its life: the detector's second
//! box on a person already boxed (half a body, a box spanning two people, a tile's cut box that
//! survived the merge). Overlap is measured as the intersection over the *smaller* box, so a
//! box inside a larger one counts even when their IoU is low. Of two such tracks the one with
//! fewer detections goes (on a tie, the lower mean score).

use super::Sparse;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DedupeConfig {
    /// Intersection over the smaller box at which two boxes count as one object.
    pub min_overlap: f32,
    /// Share of the smaller track's detections that must overlap the other track's.
    pub min_share: f32,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig { min_overlap: 0.7, min_share: 0.6 }
    }
}

fn overlap_of_smaller(a: &crate::types::BBox, b: &crate::types::BBox) -> f32 {
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let small = a.area().min(b.area());
    if small <= 0.0 {
        0.0
    } else {
        w * h / small
    }
}

/// Share of `small`'s detections that overlap a detection of `big` in the same frame.
fn shared(small: &Sparse, big: &Sparse, min_overlap: f32) -> f32 {
    if small.last() < big.first() || big.last() < small.first() || small.dets.is_empty() {
        return 0.0;
    }
    let mut j = 0;
    let mut hits = 0;
    for d in &small.dets {
        while j < big.dets.len() && big.dets[j].0 < d.0 {
            j += 1;
        }
        if j < big.dets.len() && big.dets[j].0 == d.0 && overlap_of_smaller(&d.1, &big.dets[j].1) >= min_overlap {
            hits += 1;
        }
    }
    hits as f32 / small.dets.len() as f32
}

/// Removes duplicates; returns how many.
pub fn dedupe(tracks: &mut Vec<Sparse>, cfg: &DedupeConfig) -> usize {
    // Strongest first: a track can only be removed by one that outranks it.
    let rank = |t: &Sparse| (t.dets.len(), (t.mean_score() * 1e6) as i64, std::cmp::Reverse(t.order));
    tracks.sort_by_key(|t| std::cmp::Reverse(rank(t)));
    let mut kept: Vec<Sparse> = Vec::with_capacity(tracks.len());
    let mut removed = 0;
    for t in tracks.drain(..) {
        let dup = kept.iter().any(|k| k.class == t.class && shared(&t, k, cfg.min_overlap) >= cfg.min_share);
        if dup {
            removed += 1
        } else {
            kept.push(t)
        }
    }
    *tracks = kept;
    removed
}
