//! Decoder for the TF Object Detection API SSD raw head (the default model): anchors plus
//! centre-size box encodings, sigmoid class scores with class 0 = background.

use super::{Candidates, DecodeContext};
use crate::types::{BBox, Detection, RawOutputs};

pub(super) fn decode(
    raw: &RawOutputs,
    names: [&str; 3],
    scales: [f32; 4],
    ctx: &DecodeContext,
    out: &mut Candidates,
) -> Result<(), String> {
    let [boxes, logits, anchors] = names.map(|n| super::tensor(raw, n));
    let (boxes, logits, anchors) = (boxes?, logits?, anchors?);
    let n_anchors = anchors.shape[0];
    let n_classes = *logits.shape.last().unwrap_or(&0);
    if boxes.data.len() != ctx.frames.len() * n_anchors * 4 || logits.data.len() != ctx.frames.len() * n_anchors * n_classes {
        return Err(format!("output sizes do not match {} frames x {n_anchors} anchors", ctx.frames.len()));
    }
    // sigmoid(x) >= t  <=>  x >= logit(t): compare logits, take exp only for survivors.
    let t = ctx.score_threshold.clamp(1e-6, 1.0 - 1e-6);
    let logit_threshold = (t / (1.0 - t)).ln();
    let (in_w, in_h) = (ctx.input_w, ctx.input_h);
    for (f, frame_out) in out.iter_mut().enumerate() {
        let tf = &ctx.transforms[f];
        for a in 0..n_anchors {
            let row = &logits.data[(f * n_anchors + a) * n_classes..][..n_classes];
            let mut bbox = None;
            for (c, &logit) in row.iter().enumerate().skip(1) {
                if logit < logit_threshold || !ctx.keep[c] {
                    continue;
                }
                let bbox = *bbox.get_or_insert_with(|| {
                    let an = &anchors.data[a * 4..][..4];
                    let e = &boxes.data[(f * n_anchors + a) * 4..][..4];
                    let b = decode_box(an, e, scales);
                    // normalised (ymin, xmin, ymax, xmax) -> input pixels -> frame pixels
                    tf.to_frame(BBox { x1: b[1] * in_w, y1: b[0] * in_h, x2: b[3] * in_w, y2: b[2] * in_h })
                });
                frame_out.push(Detection { bbox, class: c as u32, score: 1.0 / (1.0 + (-logit).exp()) });
            }
        }
    }
    Ok(())
}

/// Centre-size box coder: anchor (ymin, xmin, ymax, xmax) and encoding (ty, tx, th, tw) give
/// the box (ymin, xmin, ymax, xmax), all normalised.
pub(crate) fn decode_box(anchor: &[f32], enc: &[f32], scales: [f32; 4]) -> [f32; 4] {
    let (ha, wa) = (anchor[2] - anchor[0], anchor[3] - anchor[1]);
    let (ya, xa) = (anchor[0] + ha / 2.0, anchor[1] + wa / 2.0);
    let yc = enc[0] / scales[0] * ha + ya;
    let xc = enc[1] / scales[1] * wa + xa;
    let h = (enc[2] / scales[2]).exp() * ha;
    let w = (enc[3] / scales[3]).exp() * wa;
    [yc - h / 2.0, xc - w / 2.0, yc + h / 2.0, xc + w / 2.0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_encoding_gives_the_anchor() {
        let anchor = [0.1, 0.2, 0.5, 0.4];
        let b = decode_box(&anchor, &[0.0; 4], [10.0, 10.0, 5.0, 5.0]);
        for (x, y) in b.iter().zip(anchor) {
            assert!((x - y).abs() < 1e-6);
        }
    }

    #[test]
    fn hand_computed_encoding() {
        // anchor centre (0.5, 0.5), size 0.2 x 0.4; ty=1 moves the centre by 1/10*0.2 = 0.02,
        // th = 5*ln 2 doubles the height, tw = 0 keeps the width.
        let b = decode_box(&[0.4, 0.3, 0.6, 0.7], &[1.0, 0.0, 5.0 * 2f32.ln(), 0.0], [10.0, 10.0, 5.0, 5.0]);
        let want = [0.52 - 0.2, 0.3, 0.52 + 0.2, 0.7];
        for (x, y) in b.iter().zip(want) {
            assert!((x - y).abs() < 1e-5, "{b:?}");
        }
    }
}
