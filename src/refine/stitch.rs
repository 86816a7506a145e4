//! Joins tracklets of one object across a gap: track A ends, track B of the same class starts
//! within `max_gap_s` after it, and A's motion carried forward lands on B's first box while B's
//! motion carried backward lands on A's last one. The online tracker cannot do this: when B
//! starts it does not yet know B's motion, and A may have left its buffer already.
//!
//! Motion is a straight line fitted to the last (first) `fit_s` seconds of detections; the
//! distance is that of box centres, in units of the box height, so it means the same for a
//! person 40 px tall far away and 400 px tall close up. Pairs are taken best first, each track
//! joined to at most one before and one after it, so chains A-B-C form when each link is good.
//! When the tracker saw the pixels, A's colours at its end must also resemble B's at its start
//! (`min_similarity`), and the more alike they are the earlier the pair is taken.
//!
//! Two passes: first gaps up to `max_gap_s` (a person passing behind another), then, among
//! the chains the first pass made, gaps up to `long_gap_s` (a person hidden by a group, a
//! pillar) with colours at least `long_min_similarity` alike, velocities within
//! `long_max_speed_change` and shapes within `long_max_shape_ratio` of each other.
//! Over a long gap the straight-line motion says less, so the colours must say more; run as one
//! pass with the long gap, the loose colour gate joined different people that happened to walk
//! on where the first one went.

use super::sparse::{cxcywh, fit_line};
use super::Sparse;

/// Settings missing from a saved configuration take their defaults (`#[serde(default)]`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct StitchConfig {
    /// Longest gap, in seconds, between the end of one track and the start of the next.
    pub max_gap_s: f32,
    /// Seconds of detections at each end the motion is fitted to.
    pub fit_s: f32,
    /// Largest centre distance, in box heights, between a prediction and the box it should
    /// meet, at a gap of zero...
    pub max_dist: f32,
    /// ...growing by this many box heights per second of gap (motion gets less certain).
    pub dist_per_s: f32,
    /// Largest ratio between the two boxes' heights.
    pub max_height_ratio: f32,
    /// Least colour similarity (0..1) between A's end and B's start, where both are known.
    pub min_similarity: f32,
    /// Longest gap of the second pass, in seconds (no second pass when not over `max_gap_s`).
    /// 3 s: it gains IDF1 on KITTI-17, MOT16-09 and TUD-Stadtmitte with NanoDet-g (through the
    /// pipeline +0.02 to +0.07) and changes the other three by at most 0.006
    /// (docs/src/tracking.md). Without the speed and shape gates below it also joined a box
    /// over a group far away and, with the SSD, two people at a picture's edge.
    pub long_gap_s: f32,
    /// Least colour similarity of a join over more than `max_gap_s`. Only tracks with colours
    /// are joined over such gaps: motion alone says too little there.
    pub long_min_similarity: f32,
    /// Largest change of velocity across a join over more than `max_gap_s`, in box heights
    /// per second (0: no limit). A person hidden by a group walks on as before; one who left
    /// and another who came in where the first went rarely move alike. 0.6, about three
    /// quarters of a walking pace (0.8 heights a second): stopping or slowing is allowed,
    /// turning back or breaking into a run is not.
    pub long_max_speed_change: f32,
    /// Largest ratio between the two ends' shapes (width over height) across a join over more
    /// than `max_gap_s` (0: no limit). A box over a group is wider than one over a person.
    /// 1.6, chosen by replay on the shared sequences: the right joins there change shape by
    /// less (one of them by 1.5 to 1.6), the wrong one far away by 1.6 to 1.8. A narrow margin.
    pub long_max_shape_ratio: f32,
}

impl Default for StitchConfig {
    fn default() -> Self {
        StitchConfig {
            max_gap_s: 1.0,
            fit_s: 1.0,
            max_dist: 0.4,
            dist_per_s: 0.3,
            max_height_ratio: 1.4,
            min_similarity: 0.6,
            long_gap_s: 3.0,
            long_min_similarity: 0.8,
            long_max_speed_change: 0.6,
            long_max_shape_ratio: 1.6,
        }
    }
}

/// Where a track is headed at one end: the fitted box there and its change per frame.
struct End {
    at: [f32; 4],
    slope: [f32; 4],
}

fn end_of(t: &Sparse, head: bool, fit_frames: f64) -> End {
    let (frame, near): (u64, Vec<_>) = if head {
        let f = t.first();
        (f, t.dets.iter().take_while(|d| (d.0 - f) as f64 <= fit_frames).map(|d| (d.0 as f64, cxcywh(&d.1))).collect())
    } else {
        let l = t.last();
        (l, t.dets.iter().rev().take_while(|d| (l - d.0) as f64 <= fit_frames).map(|d| (d.0 as f64, cxcywh(&d.1))).collect())
    };
    let (at, slope) = fit_line(&near, frame as f64);
    End { at, slope }
}

/// Centre distance of `from` carried `dt` frames to `to`'s box, in units of `to`'s height.
fn miss(from: &End, to: &End, dt: f64) -> f32 {
    let h = to.at[3].max(1.0);
    let dx = from.at[0] + from.slope[0] * dt as f32 - to.at[0];
    let dy = from.at[1] + from.slope[1] * dt as f32 - to.at[1];
    (dx * dx + dy * dy).sqrt() / h
}

/// Whether two ends across a long gap keep one walk: velocity (box heights per second) and shape
/// (width over height) within the second pass's limits.
fn moves_alike(a: &End, b: &End, cfg: &StitchConfig, fps: f32) -> bool {
    let h = a.at[3].max(b.at[3]).max(1.0);
    let dv = ((a.slope[0] - b.slope[0]).powi(2) + (a.slope[1] - b.slope[1]).powi(2)).sqrt() * fps / h;
    let shape = |e: &End| e.at[2].max(1.0) / e.at[3].max(1.0);
    let (sa, sb) = (shape(a), shape(b));
    (cfg.long_max_speed_change <= 0.0 || dv <= cfg.long_max_speed_change)
        && (cfg.long_max_shape_ratio <= 0.0 || sa.max(sb) / sa.min(sb) <= cfg.long_max_shape_ratio)
}

/// Joins tracks in place; returns the number of joins.
pub fn stitch(tracks: &mut Vec<Sparse>, cfg: &StitchConfig, fps: f32) -> usize {
    let mut joins = join_pass(tracks, cfg, fps, cfg.max_gap_s, None);
    if cfg.long_gap_s > cfg.max_gap_s {
        joins += join_pass(tracks, cfg, fps, cfg.long_gap_s, Some(cfg.long_min_similarity));
    }
    joins
}

/// One pass over gaps up to `max_gap_s`; `long`: the colour gate of a gap over
/// `cfg.max_gap_s` (pairs without colours are then not joined over such gaps).
fn join_pass(tracks: &mut Vec<Sparse>, cfg: &StitchConfig, fps: f32, max_gap_s: f32, long: Option<f32>) -> usize {
    let fit = (cfg.fit_s * fps) as f64;
    let heads: Vec<End> = tracks.iter().map(|t| end_of(t, true, fit)).collect();
    let tails: Vec<End> = tracks.iter().map(|t| end_of(t, false, fit)).collect();
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    // Candidates by start frame, so each track only looks at those starting within the gap
    // after its end (hours of video hold tens of thousands of tracks).
    let mut by_start: Vec<usize> = (0..tracks.len()).collect();
    by_start.sort_by_key(|&i| tracks[i].first());
    let max_gap_frames = (max_gap_s * fps).ceil().max(0.0) as u64;
    for (a, ta) in tracks.iter().enumerate() {
        let from = by_start.partition_point(|&i| tracks[i].first() <= ta.last());
        let to = by_start.partition_point(|&i| tracks[i].first() <= ta.last() + max_gap_frames);
        for &b in &by_start[from..to] {
            let tb = &tracks[b];
            if a == b || ta.class != tb.class {
                continue;
            }
            let gap = (tb.first() - ta.last()) as f64;
            let gap_s = gap as f32 / fps;
            if gap_s > max_gap_s {
                continue;
            }
            let (ha, hb) = (tails[a].at[3].max(1.0), heads[b].at[3].max(1.0));
            if ha.max(hb) / ha.min(hb) > cfg.max_height_ratio {
                continue;
            }
            let d = miss(&tails[a], &heads[b], gap).max(miss(&heads[b], &tails[a], -gap));
            let alike = match (&ta.looks, &tb.looks) {
                (Some(x), Some(y)) => x.tail.similarity(&y.head),
                _ if long.is_some() && gap_s > cfg.max_gap_s => continue,
                _ => 1.0,
            };
            let need = match long {
                Some(s) if gap_s > cfg.max_gap_s => s,
                _ => cfg.min_similarity,
            };
            if long.is_some() && gap_s > cfg.max_gap_s && !moves_alike(&tails[a], &heads[b], cfg, fps) {
                continue;
            }
            if d <= cfg.max_dist + cfg.dist_per_s * gap_s && alike >= need {
                pairs.push((d + (1.0 - alike), a, b));
            }
        }
    }
    pairs.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let n = tracks.len();
    let (mut next, mut has_prev) = (vec![None; n], vec![false; n]);
    for (_, a, b) in pairs {
        if next[a].is_none() && !has_prev[b] && !closes_loop(&next, b, a) {
            next[a] = Some(b);
            has_prev[b] = true;
        }
    }
    let joins = next.iter().flatten().count();
    let mut taken = vec![false; n];
    let mut out = Vec::with_capacity(n - joins);
    for start in 0..n {
        if has_prev[start] {
            continue;
        }
        let mut chain = tracks[start].clone();
        taken[start] = true;
        let mut cur = start;
        while let Some(b) = next[cur] {
            chain.dets.extend_from_slice(&tracks[b].dets);
            if let (Some(l), Some(lb)) = (&mut chain.looks, &tracks[b].looks) {
                l.tail = lb.tail.clone();
            }
            taken[b] = true;
            cur = b;
        }
        out.push(chain);
    }
    debug_assert!(taken.iter().all(|&t| t));
    *tracks = out;
    joins
}

/// Whether linking a -> b would close a cycle (impossible in time order, but cheap to rule out).
fn closes_loop(next: &[Option<usize>], b: usize, a: usize) -> bool {
    let mut cur = Some(b);
    while let Some(c) = cur {
        if c == a {
            return true;
        }
        cur = next[c];
    }
    false
}
