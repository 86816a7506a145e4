//! Takes the detector's jitter out of each track: every detected box is replaced by a straight
//! line fitted (least squares, per coordinate: centre, width, height) to the track's detections
//! within `half_window_s` on either side. People move smoothly over a fraction of a second; the
//! detector's box edges do not, and each wobble is a box an annotator would nudge. Scores and
//! frames are kept; a track with fewer than three detections in reach is left as it is.

use super::sparse::{cxcywh, fit_line, from_cxcywh};
use super::Sparse;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SmoothConfig {
    pub half_window_s: f32,
}

impl Default for SmoothConfig {
    fn default() -> Self {
        SmoothConfig { half_window_s: 0.2 }
    }
}

pub fn smooth(tracks: &mut [Sparse], cfg: &SmoothConfig, fps: f32) {
    let reach = (cfg.half_window_s * fps) as f64;
    for t in tracks.iter_mut() {
        let pts: Vec<(f64, [f32; 4])> = t.dets.iter().map(|d| (d.0 as f64, cxcywh(&d.1))).collect();
        let mut lo = 0;
        for (i, d) in t.dets.iter_mut().enumerate() {
            let f = pts[i].0;
            while pts[lo].0 < f - reach {
                lo += 1;
            }
            let hi = pts[i..].iter().take_while(|p| p.0 <= f + reach).count() + i;
            if hi - lo >= 3 {
                d.1 = from_cxcywh(fit_line(&pts[lo..hi], f).0);
            }
        }
    }
}
