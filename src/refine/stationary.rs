//! Marks tracks whose box never moves over a long time: the detector's steady false positive on
//! scenery (a truck on a billboard, a ball-shaped sign) looks exactly like that, and so does a
//! parked car or a person waiting. Nothing is dropped: routing sends marked tracks to review,
//! where one look settles it.

use super::Sparse;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StaticConfig {
    /// A track must last at least this long to be judged...
    pub min_length_s: f32,
    /// ...and its box centre must stay within this many box heights of where it started.
    pub max_travel: f32,
}

impl Default for StaticConfig {
    fn default() -> Self {
        StaticConfig { min_length_s: 5.0, max_travel: 0.25 }
    }
}

/// Sets `stationary` on tracks that never moved; returns how many.
pub(crate) fn mark(tracks: &mut [Sparse], cfg: &StaticConfig, fps: f32) -> usize {
    let mut n = 0;
    for t in tracks.iter_mut() {
        let Some(first) = t.dets.first().map(|d| d.1) else { continue };
        if ((t.last() - t.first()) as f32 / fps) < cfg.min_length_s {
            continue;
        }
        let (cx, cy, h) = ((first.x1 + first.x2) / 2.0, (first.y1 + first.y2) / 2.0, first.height().max(1.0));
        let still = t.dets.iter().all(|d| {
            let (x, y) = ((d.1.x1 + d.1.x2) / 2.0, (d.1.y1 + d.1.y2) / 2.0);
            ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() <= cfg.max_travel * h
        });
        if still {
            t.stationary = true;
            n += 1;
        }
    }
    n
}
