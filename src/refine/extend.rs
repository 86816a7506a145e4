//! Extends tracks with detections no track took: the tracker starts a track only from a sure
//! detection and ends it after its last match, so the frames where a person was already (or
//! still) visible but the detector was unsure (an occluded, turning, entering person), and
//! frames inside a gap where the detector saw them weakly, are left empty. With the whole
//! track in hand, its motion says where the person was; an unused detection of the same
//! class there (at least `min_iou` with the expected box) is taken. Backwards from the first
//! detection and forwards from the last, frame by detector frame, allowing `max_miss_s` of
//! misses in a row; inside gaps, against the interpolated box. Longer tracks choose first, and
//! a detection is taken by one track at most.
//!
//! Off by default: on TUD and its variants it found more wrong boxes than missed people (the
//! unsure detections near a track are often loose or second boxes on the same person): MOTA
//! TUD-Campus 0.850 -> 0.802, mean over 10 clips 0.421 -> 0.404; it helps at 6 fps (TUD-Campus
//! one frame in four 0.615 -> 0.637). Try it with `--refine default,extend` where recall
//! matters more than precision.

use std::collections::{BTreeMap, BTreeSet};

use super::sparse::{cxcywh, fit_line, from_cxcywh};
use super::Sparse;
use crate::track::interpolate::lerp;
use crate::types::{BBox, Detection};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExtendConfig {
    /// IoU a detection needs with where the track's motion puts the object.
    pub min_iou: f32,
    /// Seconds of detections at each end the motion is fitted to.
    pub fit_s: f32,
    /// Longest run of detector frames without a match, in seconds, before extending stops.
    pub max_miss_s: f32,
    /// Also grow the track before its first and after its last detection (else only fill gaps).
    pub grow_ends: bool,
}

impl Default for ExtendConfig {
    fn default() -> Self {
        ExtendConfig { min_iou: 0.5, fit_s: 0.5, max_miss_s: 0.2, grow_ends: true }
    }
}

/// Detections by frame, each with whether a track holds it.
struct Pool<'a> {
    by_frame: &'a BTreeMap<u64, Vec<Detection>>,
    taken: BTreeMap<u64, Vec<bool>>,
}

impl Pool<'_> {
    /// The best untaken detection of `class` at `frame` overlapping `expected` enough; takes it.
    fn take(&mut self, frame: u64, class: u32, expected: &BBox, min_iou: f32) -> Option<(BBox, f32)> {
        let dets = self.by_frame.get(&frame)?;
        let taken = self.taken.entry(frame).or_insert_with(|| vec![false; dets.len()]);
        let best = dets
            .iter()
            .enumerate()
            .filter(|(i, d)| !taken[*i] && d.class == class)
            .map(|(i, d)| (i, d.bbox.iou(expected)))
            .filter(|(_, iou)| *iou >= min_iou)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?;
        taken[best.0] = true;
        Some((dets[best.0].bbox, dets[best.0].score))
    }

    /// Marks a detection a track already holds (same frame, same box).
    fn hold(&mut self, frame: u64, bbox: &BBox) {
        let Some(dets) = self.by_frame.get(&frame) else { return };
        let taken = self.taken.entry(frame).or_insert_with(|| vec![false; dets.len()]);
        if let Some(i) = dets.iter().position(|d| d.bbox == *bbox) {
            taken[i] = true;
        }
    }
}

/// Extends tracks in place; returns how many detections were added.
pub fn extend(
    tracks: &mut [Sparse],
    cfg: &ExtendConfig,
    fps: f32,
    detector_frames: &BTreeSet<u64>,
    usable: &BTreeMap<u64, Vec<Detection>>,
) -> usize {
    let mut pool = Pool { by_frame: usable, taken: BTreeMap::new() };
    for t in tracks.iter() {
        for d in &t.dets {
            pool.hold(d.0, &d.1);
        }
    }
    let mut order: Vec<usize> = (0..tracks.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(tracks[i].dets.len()), tracks[i].order));
    let fit = (cfg.fit_s * fps) as f64;
    let max_miss = (cfg.max_miss_s * fps).round().max(1.0) as u64;
    let mut added = 0;
    for i in order {
        let t = &mut tracks[i];
        added += fill_gaps(t, cfg, detector_frames, &mut pool);
        if cfg.grow_ends {
            added += grow(t, cfg, fit, max_miss, detector_frames, &mut pool, false);
            added += grow(t, cfg, fit, max_miss, detector_frames, &mut pool, true);
        }
    }
    added
}

/// Detector frames inside the track's gaps: an unused detection on the interpolated box.
fn fill_gaps(t: &mut Sparse, cfg: &ExtendConfig, detector_frames: &BTreeSet<u64>, pool: &mut Pool) -> usize {
    let mut found = Vec::new();
    for w in t.dets.windows(2) {
        let ((fa, ba, _), (fb, bb, _)) = (w[0], w[1]);
        for &f in detector_frames.range(fa + 1..fb) {
            let expected = lerp(&ba, &bb, (f - fa) as f32 / (fb - fa) as f32);
            if let Some((b, s)) = pool.take(f, t.class, &expected, cfg.min_iou) {
                found.push((f, b, s));
            }
        }
    }
    let n = found.len();
    if n > 0 {
        t.dets.extend(found);
        t.dets.sort_by_key(|d| d.0);
    }
    n
}

/// Walks from one end of the track outwards, one detector frame at a time, taking detections
/// where the fitted motion leads, until `max_miss` detector frames in a row have none.
fn grow(t: &mut Sparse, cfg: &ExtendConfig, fit: f64, max_miss: u64, frames: &BTreeSet<u64>, pool: &mut Pool, forward: bool) -> usize {
    let mut added = 0;
    let mut misses = 0;
    let mut cursor = if forward { t.last() } else { t.first() };
    loop {
        let next = if forward { frames.range(cursor + 1..).next() } else { frames.range(..cursor).next_back() };
        let Some(&f) = next else { break };
        cursor = f;
        let end = if forward { t.last() } else { t.first() };
        let near: Vec<(f64, [f32; 4])> =
            t.dets.iter().filter(|d| (d.0 as f64 - end as f64).abs() <= fit).map(|d| (d.0 as f64, cxcywh(&d.1))).collect();
        let (at, slope) = fit_line(&near, end as f64);
        let dt = f as f32 - end as f32;
        let expected = from_cxcywh([at[0] + slope[0] * dt, at[1] + slope[1] * dt, at[2], at[3]]);
        match pool.take(f, t.class, &expected, cfg.min_iou) {
            Some((b, s)) => {
                if forward {
                    t.dets.push((f, b, s))
                } else {
                    t.dets.insert(0, (f, b, s))
                }
                added += 1;
                misses = 0;
            }
            None => {
                misses += 1;
                if misses >= max_miss {
                    break;
                }
            }
        }
    }
    added
}
