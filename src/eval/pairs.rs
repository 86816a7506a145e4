//! One assignment solver for the scorers: HOTA's alignment, TrackEval's CLEAR matching and
//! the MOT16/20 distractor step all pair ground-truth boxes with drafts so as to maximise a
//! summed weight, as scipy's `linear_sum_assignment` does in the Python references.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// A maximum-weight one-to-one assignment of rows to columns (as scipy's
/// `linear_sum_assignment` on the negated matrix): `min(rows, cols)` pairs. Weights are
/// scaled to integers, which Kuhn-Munkres needs for an exact order.
pub(crate) fn best_pairs(rows: usize, cols: usize, weight: impl Fn(usize, usize) -> f64) -> Vec<(usize, usize)> {
    let transposed = rows > cols;
    let (r, c) = if transposed { (cols, rows) } else { (rows, cols) };
    let m = Matrix::from_fn(r, c, |(i, j)| {
        let w = if transposed { weight(j, i) } else { weight(i, j) };
        (w * 1e12).round() as i64
    });
    let (_, assignment) = kuhn_munkres(&m);
    assignment.into_iter().enumerate().map(|(i, j)| if transposed { (j, i) } else { (i, j) }).collect()
}
