//! Identity metrics (IDF1, IDP, IDR), as py-motmetrics 1.4.0 computes them
//! (`metrics.id_global_assignment`): takes, per ground-truth id and per draft id, the number
//! of frames it appears in, and per (gt id, draft id) pair the number of box pairs within the
//! IoU threshold ([`super::clear::Clear::pair_hits`]); gives IDTP, IDFP, IDFN.
//!
//! Ids are matched one to one over the whole video so as to maximise the summed pair counts
//! (motmetrics' min-cost assignment with a dummy partner per id amounts to this). Then
//! IDFN = Σ frames of gt ids − matched pair counts, IDFP = Σ frames of draft ids − matched pair
//! counts, and IDTP = number of ground-truth boxes − IDFN. The assignment runs separately on
//! each connected group of ids that ever overlap, so a long video with many tracks stays fast.

use std::collections::{HashMap, HashSet};

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

use super::MotRow;

/// IDTP, IDFP, IDFN.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Identity {
    pub idtp: u64,
    pub idfp: u64,
    pub idfn: u64,
}

/// Number of distinct frames each id appears in.
fn frames_per_id(rows: &[MotRow]) -> HashMap<i64, u64> {
    let distinct: HashSet<(i64, u64)> = rows.iter().map(|r| (r.id, r.frame)).collect();
    let mut n = HashMap::new();
    for (id, _) in distinct {
        *n.entry(id).or_default() += 1;
    }
    n
}

/// The identity counts of `gt` (rows scored, conf-0 removed) against `pred`.
pub(crate) fn identity(gt: &[MotRow], pred: &[MotRow], pair_hits: &HashMap<(i64, i64), u64>) -> Identity {
    let ocs: u64 = frames_per_id(gt).values().sum();
    let hcs: u64 = frames_per_id(pred).values().sum();
    let matched = max_matching(pair_hits);
    let idfn = ocs - matched;
    Identity { idtp: (gt.len() as u64).saturating_sub(idfn), idfp: hcs - matched, idfn }
}

/// The largest sum of pair counts over one-to-one id matchings, per connected component.
fn max_matching(pair_hits: &HashMap<(i64, i64), u64>) -> u64 {
    let mut gt_adj: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut pred_adj: HashMap<i64, Vec<i64>> = HashMap::new();
    for &(o, h) in pair_hits.keys() {
        gt_adj.entry(o).or_default().push(h);
        pred_adj.entry(h).or_default().push(o);
    }
    let mut seen_gt: HashSet<i64> = HashSet::new();
    let mut seen_pred: HashSet<i64> = HashSet::new();
    let mut starts: Vec<i64> = gt_adj.keys().copied().collect();
    starts.sort_unstable();
    let mut total = 0;
    for start in starts {
        if !seen_gt.insert(start) {
            continue;
        }
        // Breadth-first over the bipartite graph: one component's ids on both sides.
        let (mut gts, mut preds) = (vec![start], Vec::new());
        let mut i = 0;
        while i < gts.len() {
            for &h in &gt_adj[&gts[i]] {
                if seen_pred.insert(h) {
                    preds.push(h);
                    gts.extend(pred_adj[&h].iter().copied().filter(|o| seen_gt.insert(*o)));
                }
            }
            i += 1;
        }
        total += component_matching(&gts, &preds, pair_hits);
    }
    total
}

fn component_matching(gts: &[i64], preds: &[i64], pair_hits: &HashMap<(i64, i64), u64>) -> u64 {
    let hits = |o: i64, h: i64| pair_hits.get(&(o, h)).copied().unwrap_or(0) as i64;
    // Kuhn-Munkres wants no more rows than columns.
    let w = if gts.len() <= preds.len() {
        Matrix::from_fn(gts.len(), preds.len(), |(r, c)| hits(gts[r], preds[c]))
    } else {
        Matrix::from_fn(preds.len(), gts.len(), |(r, c)| hits(gts[c], preds[r]))
    };
    kuhn_munkres(&w).0 as u64
}
