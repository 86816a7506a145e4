//! HOTA (Luiten et al., IJCV 2021), as TrackEval computes it (`trackeval.metrics.HOTA`, the
//! MOTChallenge reference): takes ground truth (conf-0 rows removed) and drafts, gives
//! detection accuracy (DetA), association accuracy (AssA) and their geometric mean, HOTA,
//! averaged over 19 localisation thresholds alpha = 0.05, 0.10, ..., 0.95.
//!
//! Why a third metric besides MOTA and IDF1: MOTA barely notices identity errors and IDF1
//! barely notices detection errors; HOTA weighs both evenly, and its parts say which one a
//! change of settings moved.
//!
//! Two passes over the frames. The first gives every (gt id, draft id) pair a global
//! alignment score: how much of their lives they overlap, counting each frame's IoU shared out
//! among the boxes competing for it. The second matches boxes frame by frame maximising
//! alignment x IoU (so a draft that follows a person for long keeps them through a crossing),
//! and counts, per alpha, true positives (matched with IoU >= alpha) and, per id pair, how
//! many frames they were matched in. AssA is the mean, over true positives, of the Jaccard
//! index of their two ids' lives.

use std::collections::{BTreeMap, HashMap};

use super::clear::iou64;
use super::pairs::best_pairs;
use super::MotRow;

/// Number of alpha thresholds: 0.05 to 0.95 in steps of 0.05.
const ALPHAS: usize = 19;

/// The a-th threshold, computed as numpy's `arange(0.05, 0.99, 0.05)` does (bit for bit).
fn alpha(a: usize) -> f64 {
    0.05 + a as f64 * 0.05
}

/// The counts HOTA is computed from, per alpha; summed over videos for the overall score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HotaCounts {
    pub tp: [u64; ALPHAS],
    pub fn_: [u64; ALPHAS],
    pub fp: [u64; ALPHAS],
    /// Σ over true positives of their ids' association Jaccard (AssA's numerator), of
    /// association recall and precision, and of IoU (LocA's numerator).
    pub ass_a: [f64; ALPHAS],
    pub ass_re: [f64; ALPHAS],
    pub ass_pr: [f64; ALPHAS],
    pub loc: [f64; ALPHAS],
}

impl Default for HotaCounts {
    fn default() -> Self {
        HotaCounts {
            tp: [0; ALPHAS],
            fn_: [0; ALPHAS],
            fp: [0; ALPHAS],
            ass_a: [0.0; ALPHAS],
            ass_re: [0.0; ALPHAS],
            ass_pr: [0.0; ALPHAS],
            loc: [0.0; ALPHAS],
        }
    }
}

/// HOTA and its parts, each the mean over the alphas (as TrackEval's summary prints them).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HotaScores {
    pub hota: f64,
    pub det_a: f64,
    pub ass_a: f64,
    pub det_re: f64,
    pub det_pr: f64,
    pub ass_re: f64,
    pub ass_pr: f64,
    pub loc_a: f64,
    #[serde(skip)]
    pub counts: HotaCounts,
}

impl HotaScores {
    pub(crate) fn from_counts(c: HotaCounts) -> HotaScores {
        let mean = |f: &dyn Fn(usize) -> f64| (0..ALPHAS).map(f).sum::<f64>() / ALPHAS as f64;
        let tp = |a: usize| c.tp[a] as f64;
        let div = |x: f64, y: f64| x / y.max(1.0);
        let det_a = |a: usize| div(tp(a), tp(a) + (c.fn_[a] + c.fp[a]) as f64);
        let ass_a = |a: usize| div(c.ass_a[a], tp(a));
        HotaScores {
            hota: mean(&|a| (det_a(a) * ass_a(a)).sqrt()),
            det_a: mean(&det_a),
            ass_a: mean(&ass_a),
            det_re: mean(&|a| div(tp(a), tp(a) + c.fn_[a] as f64)),
            det_pr: mean(&|a| div(tp(a), tp(a) + c.fp[a] as f64)),
            ass_re: mean(&|a| div(c.ass_re[a], tp(a))),
            ass_pr: mean(&|a| div(c.ass_pr[a], tp(a))),
            // Where nothing matched TrackEval divides 1e-10 by 1e-10: LocA 1.
            loc_a: mean(&|a| c.loc[a].max(1e-10) / tp(a).max(1e-10)),
            counts: c,
        }
    }

    /// Several videos as one (TrackEval's `combine_sequences`): counts and numerators summed.
    pub fn overall<'a>(videos: impl IntoIterator<Item = &'a HotaScores>) -> HotaScores {
        let mut s = HotaCounts::default();
        for v in videos {
            let c = &v.counts;
            for a in 0..ALPHAS {
                s.tp[a] += c.tp[a];
                s.fn_[a] += c.fn_[a];
                s.fp[a] += c.fp[a];
                s.ass_a[a] += c.ass_a[a];
                s.ass_re[a] += c.ass_re[a];
                s.ass_pr[a] += c.ass_pr[a];
                s.loc[a] += c.loc[a];
            }
        }
        HotaScores::from_counts(s)
    }
}

/// One frame: ground-truth and draft id indices, and their IoUs (row-major, gt x draft).
struct FrameData {
    gt: Vec<usize>,
    pred: Vec<usize>,
    iou: Vec<f64>,
}

/// Dense indices for ids, in order of appearance.
fn index_ids(rows: &[MotRow], index: &mut HashMap<i64, usize>) {
    for r in rows {
        let n = index.len();
        index.entry(r.id).or_insert(n);
    }
}

/// HOTA of `pred` against `gt` (rows with conf 0 must already be removed).
pub(crate) fn hota(gt: &[MotRow], pred: &[MotRow]) -> HotaScores {
    let (mut gt_ix, mut pr_ix) = (HashMap::new(), HashMap::new());
    index_ids(gt, &mut gt_ix);
    index_ids(pred, &mut pr_ix);
    let mut by_frame: BTreeMap<u64, (Vec<&MotRow>, Vec<&MotRow>)> = BTreeMap::new();
    gt.iter().for_each(|r| by_frame.entry(r.frame).or_default().0.push(r));
    pred.iter().for_each(|r| by_frame.entry(r.frame).or_default().1.push(r));
    let frames: Vec<FrameData> = by_frame
        .values()
        .map(|(g, p)| FrameData {
            gt: g.iter().map(|r| gt_ix[&r.id]).collect(),
            pred: p.iter().map(|r| pr_ix[&r.id]).collect(),
            iou: g.iter().flat_map(|a| p.iter().map(|b| iou64(&a.bbox, &b.bbox))).collect(),
        })
        .collect();
    let mut c = HotaCounts::default();
    if pred.is_empty() || gt.is_empty() {
        c.fn_ = [gt.len() as u64; ALPHAS];
        c.fp = [pred.len() as u64; ALPHAS];
        return HotaScores::from_counts(c);
    }
    let (ng, np) = (gt_ix.len(), pr_ix.len());

    // Pass 1: global alignment of id pairs.
    let mut potential = vec![0f64; ng * np];
    let (mut gt_count, mut pr_count) = (vec![0f64; ng], vec![0f64; np]);
    for f in &frames {
        let (rows, cols) = (f.gt.len(), f.pred.len());
        let row_sum: Vec<f64> = (0..rows).map(|i| f.iou[i * cols..(i + 1) * cols].iter().sum()).collect();
        let col_sum: Vec<f64> = (0..cols).map(|j| (0..rows).map(|i| f.iou[i * cols + j]).sum()).collect();
        for i in 0..rows {
            for j in 0..cols {
                let s = f.iou[i * cols + j];
                let denom = row_sum[i] + col_sum[j] - s;
                if denom > f64::EPSILON {
                    potential[f.gt[i] * np + f.pred[j]] += s / denom;
                }
            }
        }
        f.gt.iter().for_each(|&g| gt_count[g] += 1.0);
        f.pred.iter().for_each(|&p| pr_count[p] += 1.0);
    }
    let align: Vec<f64> = (0..ng * np).map(|k| potential[k] / (gt_count[k / np] + pr_count[k % np] - potential[k])).collect();

    // Pass 2: per-frame matching, per-alpha counts.
    // Ordered: the sums below then add in one order, so `eval --json` gives the same digits every run.
    let mut matched: Vec<BTreeMap<(usize, usize), f64>> = vec![BTreeMap::new(); ALPHAS];
    for f in &frames {
        let (rows, cols) = (f.gt.len(), f.pred.len());
        if rows == 0 || cols == 0 {
            c.fn_.iter_mut().for_each(|n| *n += rows as u64);
            c.fp.iter_mut().for_each(|n| *n += cols as u64);
            continue;
        }
        let pairs = best_pairs(rows, cols, |i, j| align[f.gt[i] * np + f.pred[j]] * f.iou[i * cols + j]);
        for (a, pair_counts) in matched.iter_mut().enumerate() {
            let mut n = 0;
            for &(i, j) in &pairs {
                let s = f.iou[i * cols + j];
                if s >= alpha(a) - f64::EPSILON {
                    n += 1;
                    c.loc[a] += s;
                    *pair_counts.entry((f.gt[i], f.pred[j])).or_default() += 1.0;
                }
            }
            c.tp[a] += n;
            c.fn_[a] += rows as u64 - n;
            c.fp[a] += cols as u64 - n;
        }
    }
    for (a, m) in matched.iter().enumerate() {
        for (&(g, p), &n) in m {
            c.ass_a[a] += n * n / (gt_count[g] + pr_count[p] - n).max(1.0);
            c.ass_re[a] += n * n / gt_count[g].max(1.0);
            c.ass_pr[a] += n * n / pr_count[p].max(1.0);
        }
    }
    HotaScores::from_counts(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BBox;

    fn row(frame: u64, id: i64, x: f32) -> MotRow {
        MotRow { frame, id, bbox: BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 20.0 }, conf: 1.0 }
    }

    #[test]
    fn perfect_drafts_score_one() {
        let gt: Vec<MotRow> = (1..=10).flat_map(|f| [row(f, 1, 0.0), row(f, 2, 50.0)]).collect();
        let pred: Vec<MotRow> = gt.iter().map(|r| MotRow { id: r.id + 10, ..*r }).collect();
        let h = hota(&gt, &pred);
        assert!((h.hota - 1.0).abs() < 1e-12 && (h.ass_a - 1.0).abs() < 1e-12, "{h:?}");
    }

    #[test]
    fn an_id_switch_halves_association_but_not_detection() {
        // One person for 10 frames; the draft changes id halfway: every box is found (DetA 1)
        // and each true positive's ids share 5 of 10 + 5 - 5 frames (AssA 0.5).
        let gt: Vec<MotRow> = (1..=10).map(|f| row(f, 1, 0.0)).collect();
        let pred: Vec<MotRow> = (1..=10).map(|f| row(f, if f <= 5 { 7 } else { 8 }, 0.0)).collect();
        let h = hota(&gt, &pred);
        assert!((h.det_a - 1.0).abs() < 1e-12, "{h:?}");
        assert!((h.ass_a - 0.5).abs() < 1e-12, "{h:?}");
        assert!((h.hota - 0.5f64.sqrt()).abs() < 1e-12, "{h:?}");
    }

    #[test]
    fn nothing_drafted_scores_zero() {
        let gt: Vec<MotRow> = (1..=3).map(|f| row(f, 1, 0.0)).collect();
        let h = hota(&gt, &[]);
        assert_eq!(h.hota, 0.0);
        assert_eq!(h.counts.fn_[0], 3);
    }
}
