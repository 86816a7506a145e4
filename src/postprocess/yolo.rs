//! Decoders for anchor-free/anchor-based YOLO heads exported by Ultralytics:
//! YOLOv5 `[N, A, 5+C]` (cx, cy, w, h, objectness, class scores) and
//! YOLOv8/YOLO11 `[N, 4+C, A]` (cx, cy, w, h, class scores). Boxes are in input pixels;
//! each anchor proposes its best class, as Ultralytics' own NMS does by default.

use super::{Candidates, DecodeContext};
use crate::types::{BBox, Detection, RawOutputs};

/// `v8 = false`: rows are anchors (v5); `v8 = true`: rows are channels (v8, transposed).
pub(super) fn decode(raw: &RawOutputs, name: &str, v8: bool, ctx: &DecodeContext, out: &mut Candidates) -> Result<(), String> {
    let t = super::tensor(raw, name)?;
    let (channels, anchors) = if v8 { (t.shape[1], t.shape[2]) } else { (t.shape[2], t.shape[1]) };
    let first_class = if v8 { 4 } else { 5 };
    if t.data.len() != ctx.frames.len() * channels * anchors || channels <= first_class {
        return Err(format!("'{name}' has shape {:?} for {} frames", t.shape, ctx.frames.len()));
    }
    for (f, frame_out) in out.iter_mut().enumerate() {
        let frame = &t.data[f * channels * anchors..][..channels * anchors];
        let at = |a: usize, ch: usize| if v8 { frame[ch * anchors + a] } else { frame[a * channels + ch] };
        for a in 0..anchors {
            let objectness = if v8 { 1.0 } else { at(a, 4) };
            if objectness < ctx.score_threshold {
                continue;
            }
            let (mut best, mut best_score) = (0usize, f32::MIN);
            for c in 0..channels - first_class {
                let s = at(a, first_class + c);
                if s > best_score {
                    (best, best_score) = (c, s);
                }
            }
            let score = objectness * best_score;
            if score < ctx.score_threshold || !ctx.keep[best] {
                continue;
            }
            let (cx, cy, w, h) = (at(a, 0), at(a, 1), at(a, 2), at(a, 3));
            let bbox = BBox { x1: cx - w / 2.0, y1: cy - h / 2.0, x2: cx + w / 2.0, y2: cy + h / 2.0 };
            frame_out.push(Detection { bbox: ctx.transforms[f].to_frame(bbox), class: best as u32, score });
        }
    }
    Ok(())
}
