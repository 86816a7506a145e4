//! Decoder for NanoDet's GFL head: per cell, sigmoided class scores and, for each box side,
//! a distribution over `reg_max + 1` distances (in strides) whose expectation is the side's
//! distance from the cell centre. Every kept class above the threshold is a candidate (as
//! NanoDet's own multi-class NMS does); the box is decoded once per cell, only when needed.

use super::{Candidates, DecodeContext};
use crate::types::{BBox, Detection, RawOutputs};

pub(super) fn decode(
    raw: &RawOutputs,
    names: [&str; 2],
    strides: &[u32],
    reg_max: usize,
    ctx: &DecodeContext,
    out: &mut Candidates,
) -> Result<(), String> {
    let [scores, boxes] = names.map(|n| super::tensor(raw, n));
    let (scores, boxes) = (scores?, boxes?);
    let bins = reg_max + 1;
    let cells = grid_cells(ctx.input_w as usize, ctx.input_h as usize, strides);
    let n_cells = cells.len();
    let n_classes = *scores.shape.last().unwrap_or(&0);
    let n = ctx.frames.len();
    if scores.data.len() != n * n_cells * n_classes || boxes.data.len() != n * n_cells * 4 * bins {
        return Err(format!(
            "outputs {:?} and {:?} do not hold {n} inputs x {n_cells} cells of {}x{} at strides {strides:?}",
            scores.shape, boxes.shape, ctx.input_w, ctx.input_h
        ));
    }
    for (f, frame_out) in out.iter_mut().enumerate() {
        let tf = &ctx.transforms[f];
        for (i, cell) in cells.iter().enumerate() {
            let row = &scores.data[(f * n_cells + i) * n_classes..][..n_classes];
            let mut bbox = None;
            for (c, &score) in row.iter().enumerate() {
                if score < ctx.score_threshold || !ctx.keep.get(c).copied().unwrap_or(false) {
                    continue;
                }
                let bbox = *bbox.get_or_insert_with(|| {
                    let dist = &boxes.data[(f * n_cells + i) * 4 * bins..][..4 * bins];
                    tf.to_frame(decode_box(*cell, dist, bins))
                });
                frame_out.push(Detection { bbox, class: c as u32, score });
            }
        }
    }
    Ok(())
}

/// A cell: its centre in input pixels and its stride.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cell {
    pub cx: f32,
    pub cy: f32,
    pub stride: f32,
}

/// Every cell of an `input_w` x `input_h` input, strides in order, row-major within each.
pub(crate) fn grid_cells(input_w: usize, input_h: usize, strides: &[u32]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &s in strides {
        let s = s.max(1) as usize;
        for y in 0..input_h.div_ceil(s) {
            for x in 0..input_w.div_ceil(s) {
                let stride = s as f32;
                cells.push(Cell { cx: (x as f32 + 0.5) * stride, cy: (y as f32 + 0.5) * stride, stride });
            }
        }
    }
    cells
}

/// The box of one cell, in input pixels, from its four side distributions (left, top, right,
/// bottom; `bins` logits each): each side is the softmax expectation of its bin index, in
/// strides.
pub(crate) fn decode_box(cell: Cell, dist: &[f32], bins: usize) -> BBox {
    let side = |k: usize| expectation(&dist[k * bins..(k + 1) * bins]) * cell.stride;
    BBox { x1: cell.cx - side(0), y1: cell.cy - side(1), x2: cell.cx + side(2), y2: cell.cy + side(3) }
}

/// `sum(softmax(logits)_i * i)`, computed stably (the largest logit subtracted first).
fn expectation(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut total, mut weighted) = (0.0f32, 0.0f32);
    for (i, &l) in logits.iter().enumerate() {
        let e = (l - max).exp();
        total += e;
        weighted += e * i as f32;
    }
    weighted / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_strides_in_order_then_rows() {
        let cells = grid_cells(64, 32, &[8, 16, 32]);
        assert_eq!(cells.len(), 8 * 4 + 4 * 2 + 2);
        assert_eq!(cells[0], Cell { cx: 4.0, cy: 4.0, stride: 8.0 });
        assert_eq!(cells[1], Cell { cx: 12.0, cy: 4.0, stride: 8.0 });
        assert_eq!(cells[8], Cell { cx: 4.0, cy: 12.0, stride: 8.0 });
        assert_eq!(cells[32], Cell { cx: 8.0, cy: 8.0, stride: 16.0 });
        assert_eq!(cells[41], Cell { cx: 48.0, cy: 16.0, stride: 32.0 });
    }

    #[test]
    fn a_peaked_distribution_gives_its_bin_in_strides() {
        // One bin far above the others: the side is that bin's index, times the stride.
        let bins = 11;
        let mut dist = vec![-50.0; 4 * bins];
        for (side, bin) in [2, 0, 5, 10].into_iter().enumerate() {
            dist[side * bins + bin] = 50.0;
        }
        let b = decode_box(Cell { cx: 100.0, cy: 60.0, stride: 16.0 }, &dist, bins);
        assert_eq!(b, BBox { x1: 100.0 - 32.0, y1: 60.0, x2: 100.0 + 80.0, y2: 60.0 + 160.0 });
    }

    #[test]
    fn a_flat_distribution_gives_the_middle_bin() {
        // Equal logits: the expectation of 0..=10 is 5, even for huge logits (stable softmax).
        assert!((expectation(&[1e4; 11]) - 5.0).abs() < 1e-5);
        // Two equal bins: halfway between them.
        let mut l = [-1e3f32; 11];
        (l[3], l[4]) = (7.0, 7.0);
        assert!((expectation(&l) - 3.5).abs() < 1e-5);
    }
}
