//! A track as the refinement steps see it: its detected boxes only, in frame order. The boxes
//! the tracker filled in (predicted, interpolated) are dropped here and made again at the end,
//! so every step sees evidence, never guesses.

use crate::types::{BBox, BoxSource, Looks, Track};

#[derive(Debug, Clone, PartialEq)]
pub struct Sparse {
    pub class: u32,
    /// (frame, detected box, detector score), frames strictly increasing.
    pub dets: Vec<(u64, BBox, f32)>,
    /// The tracker's id, kept to break ties the same way every run.
    pub order: u64,
    pub stationary: bool,
    pub looks: Option<Box<Looks>>,
}

impl Sparse {
    pub(crate) fn from_track(t: &Track) -> Sparse {
        let dets = t.boxes.iter().filter(|b| b.source == BoxSource::Detected).map(|b| (b.frame, b.bbox, b.score)).collect();
        Sparse { class: t.class, dets, order: t.id, stationary: t.stationary, looks: t.looks.clone() }
    }
    pub fn first(&self) -> u64 {
        self.dets.first().map_or(0, |d| d.0)
    }
    pub fn last(&self) -> u64 {
        self.dets.last().map_or(0, |d| d.0)
    }
    pub fn mean_score(&self) -> f32 {
        if self.dets.is_empty() {
            return 0.0;
        }
        self.dets.iter().map(|d| d.2).sum::<f32>() / self.dets.len() as f32
    }
}

/// Centre x, centre y, width, height.
pub(crate) fn cxcywh(b: &BBox) -> [f32; 4] {
    [(b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0, b.width(), b.height()]
}

pub(crate) fn from_cxcywh(v: [f32; 4]) -> BBox {
    let (hw, hh) = (v[2].max(0.0) / 2.0, v[3].max(0.0) / 2.0);
    BBox { x1: v[0] - hw, y1: v[1] - hh, x2: v[0] + hw, y2: v[1] + hh }
}

/// Least-squares line through (t, v) points: value at `t0` and slope per frame. One point: flat.
pub(crate) fn fit_line(points: &[(f64, [f32; 4])], t0: f64) -> ([f32; 4], [f32; 4]) {
    let n = points.len() as f64;
    let mt = points.iter().map(|p| p.0).sum::<f64>() / n;
    let var: f64 = points.iter().map(|p| (p.0 - mt).powi(2)).sum();
    let mut at = [0f32; 4];
    let mut slope = [0f32; 4];
    for k in 0..4 {
        let mv = points.iter().map(|p| p.1[k] as f64).sum::<f64>() / n;
        let s = if var > 0.0 { points.iter().map(|p| (p.0 - mt) * (p.1[k] as f64 - mv)).sum::<f64>() / var } else { 0.0 };
        at[k] = (mv + s * (t0 - mt)) as f32;
        slope[k] = s as f32;
    }
    (at, slope)
}

/// A straight-line fit of one side of a moment in a track: the box at that moment (centre x,
/// centre y, width, height) and its change per frame.
pub(crate) struct Side {
    pub at: [f32; 4],
    pub slope: [f32; 4],
}

/// The fit of the detections of `dets` before (`after == false`) or from frame `at` on, within
/// `window` frames; None with fewer than three there (a track the detector lost around that
/// moment says nothing reliable about where it was going).
pub fn side(dets: &[(u64, BBox, f32)], at: f64, after: bool, window: f64) -> Option<Side> {
    let split = dets.partition_point(|d| (d.0 as f64) < at);
    let near = |d: &&(u64, BBox, f32)| (d.0 as f64 - at).abs() <= window;
    let pts: Vec<(f64, [f32; 4])> = if after {
        dets[split..].iter().take_while(near).map(|d| (d.0 as f64, cxcywh(&d.1))).collect()
    } else {
        dets[..split].iter().rev().take_while(near).map(|d| (d.0 as f64, cxcywh(&d.1))).collect()
    };
    if pts.len() < 3 {
        return None;
    }
    let (at, slope) = fit_line(&pts, at);
    Some(Side { at, slope })
}
