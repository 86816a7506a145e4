//! Decoders for models that run NMS themselves: one `[N, K, 6]` tensor
//! (x1, y1, x2, y2, score, class; YOLOv10/YOLO26 and `nms=True` exports) or separate
//! boxes / scores / classes tensors (TF Object Detection API style). Rows below the score
//! threshold (including the zero padding such models emit) are dropped.

use super::{Candidates, DecodeContext};
use crate::model::BoxOrder;
use crate::types::{BBox, Detection, RawOutputs};

/// Where each field of one detection lives; `normalized` boxes are fractions of the input.
pub(super) struct Layout<'a> {
    pub boxes: &'a [f32],
    pub box_stride: usize,
    pub order: BoxOrder,
    pub scores: &'a [f32],
    pub classes: &'a [f32],
    /// Distance between consecutive scores (and classes): 6 when packed, 1 when split.
    pub field_stride: usize,
    pub per_frame: usize,
    pub counts: Option<&'a [f32]>,
    pub normalized: bool,
}

pub(super) fn decode_packed(
    raw: &RawOutputs,
    name: &str,
    normalized: bool,
    ctx: &DecodeContext,
    out: &mut Candidates,
) -> Result<(), String> {
    let t = super::tensor(raw, name)?;
    let k = t.shape[1];
    if t.data.len() != ctx.frames.len() * k * 6 {
        return Err(format!("'{name}' has shape {:?} for {} frames", t.shape, ctx.frames.len()));
    }
    let layout = Layout {
        boxes: &t.data,
        box_stride: 6,
        order: BoxOrder::Xyxy,
        scores: &t.data[4..],
        classes: &t.data[5..],
        field_stride: 6,
        per_frame: k,
        counts: None,
        normalized,
    };
    decode(&layout, ctx, out);
    Ok(())
}

pub(super) fn decode_split(
    raw: &RawOutputs,
    names: [&str; 3],
    count: Option<&str>,
    order: BoxOrder,
    normalized: bool,
    ctx: &DecodeContext,
    out: &mut Candidates,
) -> Result<(), String> {
    let [b, s, c] = names.map(|n| super::tensor(raw, n));
    let (b, s, c) = (b?, s?, c?);
    let k = s.shape[1];
    let n = ctx.frames.len();
    if b.data.len() != n * k * 4 || s.data.len() != n * k || c.data.len() != n * k {
        return Err(format!("boxes {:?}, scores {:?}, classes {:?} disagree for {n} frames", b.shape, s.shape, c.shape));
    }
    let counts = match count {
        Some(name) => Some(super::tensor(raw, name)?.data.as_slice()),
        None => None,
    };
    let layout = Layout {
        boxes: &b.data,
        box_stride: 4,
        order,
        scores: &s.data,
        classes: &c.data,
        field_stride: 1,
        per_frame: k,
        counts,
        normalized,
    };
    decode(&layout, ctx, out);
    Ok(())
}

fn decode(l: &Layout, ctx: &DecodeContext, out: &mut Candidates) {
    let (sx, sy) = if l.normalized { (ctx.input_w, ctx.input_h) } else { (1.0, 1.0) };
    for (f, frame_out) in out.iter_mut().enumerate() {
        let valid = l.counts.map_or(l.per_frame, |c| (c[f].max(0.0) as usize).min(l.per_frame));
        for i in 0..valid {
            let row = f * l.per_frame + i;
            let score = l.scores[row * l.field_stride];
            let class = l.classes[row * l.field_stride];
            if score < ctx.score_threshold || class < 0.0 || !ctx.keep.get(class as usize).copied().unwrap_or(false) {
                continue;
            }
            let b = &l.boxes[row * l.box_stride..][..4];
            let [x1, y1, x2, y2] = match l.order {
                BoxOrder::Xyxy => [b[0], b[1], b[2], b[3]],
                BoxOrder::Yxyx => [b[1], b[0], b[3], b[2]],
            };
            let bbox = BBox { x1: x1 * sx, y1: y1 * sy, x2: x2 * sx, y2: y2 * sy };
            frame_out.push(Detection { bbox: ctx.transforms[f].to_frame(bbox), class: class as u32, score });
        }
    }
}
