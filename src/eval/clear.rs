//! CLEAR MOT matching, frame by frame, by either of the two references ([`Matching`]): takes
//! ground truth and drafts, gives the per-frame correspondences and the event counts behind
//! MOTA, MOTP, fragmentations and mostly tracked/lost. CPU; rows are grouped by frame with a
//! hash map, so a video costs one small assignment problem per frame.
//!
//! Per frame, in increasing frame order (every frame that has a ground-truth or a draft box):
//! 1. distance = 1 - IoU for every (object, hypothesis) pair; pairs with distance above
//!    `1 - iou` may not be matched;
//! 2. the pairs are chosen:
//!    - py-motmetrics 1.4.0 (`MOTAccumulator.update` with `compare_to_groundtruth(..., 'iou',
//!      distth = 1 - iou)`): every object whose last matched hypothesis (at any earlier frame)
//!      is present and still a valid pair keeps it; the rest are assigned by the Hungarian
//!      method, first maximising the number of valid pairs and then minimising their summed
//!      distance (what `lap.add_expensive_edges` with scipy's solver amounts to);
//!    - TrackEval's CLEAR (the MOTChallenge evaluation): one Hungarian assignment maximising
//!      the summed IoU plus 1000 for each pair that continues the previous frame's match (the
//!      previous frame that had both boxes and drafts);
//! 3. a match is a SWITCH when the object's last match, at any earlier frame, was another
//!    hypothesis id, else a MATCH (both references);
//! 4. objects left are MISSes (false negatives), hypotheses left are FPs.
//!
//! The two differ only where an object reappears after a gap or a continuing pair competes
//! with a better one. Equally good assignments (exact ties) may be broken differently from
//! scipy.

use std::collections::HashMap;

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

use super::pairs::best_pairs;
use super::{MotRow, TrackCounts};
use crate::types::BBox;

/// One CLEAR correspondence: in `frame` (from 1), the ground-truth box of track `gt_id`
/// matched the draft box of track `pred_id` with this IoU. `gt_row` and `pred_row` index the
/// slices given to [`super::score`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FrameMatch {
    pub frame: u64,
    pub gt_id: i64,
    pub pred_id: i64,
    pub iou: f64,
    /// Whether motmetrics counts this match as an identity switch.
    pub switch: bool,
    #[serde(skip)]
    pub gt_row: usize,
    #[serde(skip)]
    pub pred_row: usize,
}

/// Which reference's CLEAR matching to follow (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Matching {
    /// TrackEval, the MOTChallenge benchmark's own evaluation.
    #[default]
    TrackEval,
    /// py-motmetrics 1.4.0.
    Motmetrics,
}

/// What one video's CLEAR pass counts, plus what the identity metrics need.
#[derive(Debug, Default)]
pub(crate) struct Clear {
    pub matches: Vec<FrameMatch>,
    /// The CLEAR counts (motmetrics' names), `total_distance` included; the identity counts
    /// (`idtp`, `idfp`, `idfn`) are left at 0 for [`super::identity`] to fill.
    pub counts: TrackCounts,
    /// For each (gt id, draft id): in how many box pairs they were within the threshold
    /// (motmetrics' `tps` of the ID measures).
    pub pair_hits: HashMap<(i64, i64), u64>,
}

/// IoU in f64 as `motmetrics.distances.boxiou` computes it (0 when the boxes do not meet).
pub(crate) fn iou64(a: &BBox, b: &BBox) -> f64 {
    let (ax1, ay1, ax2, ay2) = (a.x1 as f64, a.y1 as f64, a.x2 as f64, a.y2 as f64);
    let (bx1, by1, bx2, by2) = (b.x1 as f64, b.y1 as f64, b.x2 as f64, b.y2 as f64);
    let iw = (ax2.min(bx2) - ax1.max(bx1)).max(0.0);
    let ih = (ay2.min(by2) - ay1.max(by1)).max(0.0);
    let inter = iw * ih;
    if inter == 0.0 {
        return 0.0;
    }
    let area = |w: f64, h: f64| w.max(0.0) * h.max(0.0);
    inter / (area(ax2 - ax1, ay2 - ay1) + area(bx2 - bx1, by2 - by1) - inter)
}

/// The state motmetrics keeps per ground-truth object.
#[derive(Default)]
struct Object {
    /// Hypothesis id of its last match (motmetrics' `m[o]`).
    last_match: Option<i64>,
    frames: u64,
    hits: u64,
    /// A miss run started after a hit and no hit has closed it yet.
    gap_open: bool,
    missed_last: bool,
}

impl Object {
    fn event(&mut self, hit: bool, fragmentations: &mut u64) {
        self.frames += 1;
        if hit {
            self.hits += 1;
            if self.gap_open {
                *fragmentations += 1;
                self.gap_open = false;
            }
        } else if self.hits > 0 && !self.missed_last {
            self.gap_open = true;
        }
        self.missed_last = !hit;
    }
}

/// Runs the CLEAR pass over `gt` (rows to score: conf-0 rows already removed; `gt_index`
/// maps them back to the caller's rows) and `pred`, matching pairs with IoU >= `iou`
/// (distance <= `max_distance` = 1 - iou, computed as motmetrics does).
pub(crate) fn clear(gt: &[MotRow], gt_index: &[usize], pred: &[MotRow], max_distance: f64, matching: Matching) -> Clear {
    let mut by_frame: HashMap<u64, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (i, g) in gt.iter().enumerate() {
        by_frame.entry(g.frame).or_default().0.push(i);
    }
    for (j, p) in pred.iter().enumerate() {
        by_frame.entry(p.frame).or_default().1.push(j);
    }
    let mut frames: Vec<u64> = by_frame.keys().copied().collect();
    frames.sort_unstable();

    let counts = TrackCounts {
        num_frames: frames.len() as u64,
        num_objects: gt.len() as u64,
        num_predictions: pred.len() as u64,
        ..TrackCounts::default()
    };
    let mut c = Clear { counts, ..Clear::default() };
    let mut objects: HashMap<i64, Object> = HashMap::new();
    // TrackEval: each object's match in the last frame that had both boxes and drafts.
    let mut previous_step: HashMap<i64, i64> = HashMap::new();
    for f in frames {
        let (rows, cols) = &by_frame[&f];
        // Distances of valid pairs only (None: do not pair).
        let dist: Vec<Vec<Option<f64>>> = rows
            .iter()
            .map(|&i| {
                cols.iter()
                    .map(|&j| {
                        let d = 1.0 - iou64(&gt[i].bbox, &pred[j].bbox);
                        (d <= max_distance).then_some(d)
                    })
                    .collect()
            })
            .collect();
        for (r, &i) in rows.iter().enumerate() {
            for (k, &j) in cols.iter().enumerate() {
                if dist[r][k].is_some() {
                    *c.pair_hits.entry((gt[i].id, pred[j].id)).or_default() += 1;
                }
            }
        }
        let mut row_done = vec![false; rows.len()];
        let mut col_done = vec![false; cols.len()];
        let push = |c: &mut Clear, r: usize, k: usize, switch: bool, d: f64| {
            let (i, j) = (rows[r], cols[k]);
            c.counts.total_distance += d;
            if switch {
                c.counts.num_switches += 1
            } else {
                c.counts.num_matches += 1
            }
            c.matches.push(FrameMatch {
                frame: f,
                gt_id: gt[i].id,
                pred_id: pred[j].id,
                iou: 1.0 - d,
                switch,
                gt_row: gt_index[i],
                pred_row: j,
            });
        };
        let record = |c: &mut Clear, objects: &mut HashMap<i64, Object>, r: usize, k: usize| {
            let (o, h) = (gt[rows[r]].id, pred[cols[k]].id);
            let obj = objects.entry(o).or_default();
            let switch = obj.last_match.is_some_and(|m| m != h);
            obj.last_match = Some(h);
            push(c, r, k, switch, dist[r][k].expect("assigned pairs are valid"));
        };
        match matching {
            Matching::Motmetrics => {
                // Keep last correspondences that are still valid, then Hungarian on the rest.
                for (r, &i) in rows.iter().enumerate() {
                    let Some(h) = objects.get(&gt[i].id).and_then(|o| o.last_match) else { continue };
                    let Some(k) = (0..cols.len()).find(|&k| !col_done[k] && pred[cols[k]].id == h) else { continue };
                    if let Some(d) = dist[r][k] {
                        row_done[r] = true;
                        col_done[k] = true;
                        push(&mut c, r, k, false, d);
                    }
                }
                for (r, k) in assign(&dist, &row_done, &col_done) {
                    row_done[r] = true;
                    col_done[k] = true;
                    record(&mut c, &mut objects, r, k);
                }
            }
            Matching::TrackEval => {
                let continues = |r: usize, k: usize| previous_step.get(&gt[rows[r]].id) == Some(&pred[cols[k]].id);
                let pairs = assign_trackeval(&dist, continues);
                if !rows.is_empty() && !cols.is_empty() {
                    previous_step = pairs.iter().map(|&(r, k)| (gt[rows[r]].id, pred[cols[k]].id)).collect();
                }
                for (r, k) in pairs {
                    row_done[r] = true;
                    col_done[k] = true;
                    record(&mut c, &mut objects, r, k);
                }
            }
        }
        // 4. misses, false positives; object histories.
        for (r, &i) in rows.iter().enumerate() {
            let obj = objects.entry(gt[i].id).or_default();
            obj.event(row_done[r], &mut c.counts.num_fragmentations);
        }
        c.counts.num_misses += row_done.iter().filter(|d| !**d).count() as u64;
        c.counts.num_false_positives += col_done.iter().filter(|d| !**d).count() as u64;
    }
    c.counts.num_unique_objects = objects.len() as u64;
    for o in objects.values() {
        let ratio = o.hits as f64 / o.frames as f64;
        match ratio {
            r if r >= 0.8 => c.counts.mostly_tracked += 1,
            r if r >= 0.2 => c.counts.partially_tracked += 1,
            _ => c.counts.mostly_lost += 1,
        }
    }
    c.counts.num_detections = c.counts.num_matches + c.counts.num_switches;
    c.matches.sort_by_key(|m| (m.frame, m.gt_row));
    c
}

/// TrackEval's pairs (row, column): the assignment with the largest summed IoU plus 1000 for
/// each pair that `continues` the previous frame's match, valid pairs only.
fn assign_trackeval(dist: &[Vec<Option<f64>>], continues: impl Fn(usize, usize) -> bool) -> Vec<(usize, usize)> {
    let (nr, nc) = (dist.len(), dist.first().map_or(0, Vec::len));
    if nr == 0 || nc == 0 {
        return Vec::new();
    }
    let weight = |r: usize, k: usize| dist[r][k].map_or(0.0, |d| (1.0 - d) + if continues(r, k) { 1000.0 } else { 0.0 });
    let mut pairs: Vec<(usize, usize)> = best_pairs(nr, nc, weight).into_iter().filter(|&(r, k)| dist[r][k].is_some()).collect();
    pairs.sort_unstable();
    pairs
}

/// Pairs (row, column) among the rows and columns not yet done: as many valid pairs as
/// possible, and among those the smallest summed distance. Integer weights (Kuhn-Munkres
/// needs an exact order): each valid pair is worth `big - distance * scale`, with `big` larger
/// than any sum of scaled distances, so one more pair always wins.
fn assign(dist: &[Vec<Option<f64>>], row_done: &[bool], col_done: &[bool]) -> Vec<(usize, usize)> {
    let valid = |r: usize, k: usize| !row_done[r] && !col_done[k] && dist[r][k].is_some();
    let rows: Vec<usize> = (0..row_done.len()).filter(|&r| (0..col_done.len()).any(|k| valid(r, k))).collect();
    let cols: Vec<usize> = (0..col_done.len()).filter(|&k| rows.iter().any(|&r| valid(r, k))).collect();
    if rows.is_empty() {
        return Vec::new();
    }
    let n = rows.len().min(cols.len()) as f64;
    // Keep n * big within i64: scale 1e9 (distances to 1e-9) unless the frame is huge.
    let scale = 1e9f64.min(4e18 / ((n + 1.0) * (n + 1.0)));
    let big = ((n + 1.0) * scale).ceil() as i64;
    let weight = |r: usize, k: usize| match dist[r][k] {
        Some(d) if valid(r, k) => big - (d * scale).round() as i64,
        _ => 0,
    };
    let transposed = rows.len() > cols.len();
    let (nr, nc) = if transposed { (cols.len(), rows.len()) } else { (rows.len(), cols.len()) };
    let w = Matrix::from_fn(nr, nc, |(a, b)| if transposed { weight(rows[b], cols[a]) } else { weight(rows[a], cols[b]) });
    let (_, col_of_row) = kuhn_munkres(&w);
    let mut pairs: Vec<(usize, usize)> = col_of_row
        .into_iter()
        .enumerate()
        .filter(|&(a, b)| w[(a, b)] > 0)
        .map(|(a, b)| if transposed { (rows[b], cols[a]) } else { (rows[a], cols[b]) })
        .collect();
    pairs.sort_unstable();
    pairs
}
