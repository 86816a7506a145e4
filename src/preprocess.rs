//! Stage 2, preprocess: takes [`Frame`]s, gives one [`Batch`]: each frame resized (bilinear)
//! to the model input, normalised per channel and laid out NHWC or NCHW.
//! Runs on the CPU; the frames of a batch in parallel with rayon.
//!
//! Bilinear sampling uses pixel centres (`src = (dst + 0.5) * scale - 0.5`, clamped at the
//! edges), the convention of OpenCV's INTER_LINEAR and of GPU texture sampling, so a later GPU
//! path can match it exactly.

use rayon::prelude::*;

use crate::model::{InputSpec, Layout, ResizeMode};
use crate::types::{BBox, Batch, Frame};

/// Grey used for letterbox padding (the YOLO convention), as a 0..255 pixel value.
const PAD_VALUE: f32 = 114.0;

/// Maps between frame pixels and model-input pixels: `input = frame * scale + pad`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputTransform {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
}

impl InputTransform {
    pub fn new(frame_w: u32, frame_h: u32, input: &InputSpec) -> InputTransform {
        let sx = input.width as f32 / frame_w as f32;
        let sy = input.height as f32 / frame_h as f32;
        match input.resize {
            ResizeMode::Stretch => InputTransform { scale_x: sx, scale_y: sy, pad_x: 0.0, pad_y: 0.0 },
            ResizeMode::Letterbox => {
                let s = sx.min(sy);
                InputTransform {
                    scale_x: s,
                    scale_y: s,
                    pad_x: ((input.width as f32 - frame_w as f32 * s) / 2.0).floor(),
                    pad_y: ((input.height as f32 - frame_h as f32 * s) / 2.0).floor(),
                }
            }
        }
    }

    /// A box in model-input pixels, back in frame pixels.
    pub fn to_frame(&self, b: BBox) -> BBox {
        BBox {
            x1: (b.x1 - self.pad_x) / self.scale_x,
            y1: (b.y1 - self.pad_y) / self.scale_y,
            x2: (b.x2 - self.pad_x) / self.scale_x,
            y2: (b.y2 - self.pad_y) / self.scale_y,
        }
    }
}

/// Resizes and normalises `frames` into one input tensor for the model described by `input`.
pub fn make_batch(frames: &[Frame], input: &InputSpec) -> Batch {
    let (w, h) = (input.width as usize, input.height as usize);
    let per_frame = w * h * 3;
    let mut data = vec![0f32; per_frame * frames.len()];
    data.par_chunks_mut(per_frame).zip(frames.par_iter()).for_each(|(out, frame)| {
        fill_frame(frame, input, out);
    });
    let shape = match input.layout {
        Layout::Nhwc => [frames.len(), h, w, 3],
        Layout::Nchw => [frames.len(), 3, h, w],
    };
    Batch { frames: frames.iter().map(Frame::info).collect(), shape, data }
}

/// Per-channel `value = pixel * mul + add`, equivalent to `(pixel/255 - mean) / std`.
fn channel_affine(input: &InputSpec) -> ([f32; 3], [f32; 3]) {
    let mul = std::array::from_fn(|c| 1.0 / (255.0 * input.std[c]));
    let add = std::array::from_fn(|c| -input.mean[c] / input.std[c]);
    (mul, add)
}

/// One source coordinate pair and weight per output coordinate along an axis.
#[derive(Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    w1: f32,
}

/// Taps for `out_len` outputs covering `src_len` source pixels placed at `offset` with `scale`
/// (output = source * scale + offset); `None` where the output lies in the padding.
fn taps(src_len: usize, out_len: usize, scale: f32, offset: f32) -> Vec<Option<Tap>> {
    let covered = (src_len as f32 * scale).round() as usize;
    let start = offset as usize;
    (0..out_len)
        .map(|o| {
            if o < start || o >= start + covered {
                return None;
            }
            let s = ((o - start) as f32 + 0.5) / scale - 0.5;
            let s = s.clamp(0.0, (src_len - 1) as f32);
            let i0 = s.floor() as usize;
            let i1 = (i0 + 1).min(src_len - 1);
            Some(Tap { i0, i1, w1: s - i0 as f32 })
        })
        .collect()
}

fn fill_frame(frame: &Frame, input: &InputSpec, out: &mut [f32]) {
    let (w, h) = (input.width as usize, input.height as usize);
    let t = InputTransform::new(frame.width, frame.height, input);
    let xs = taps(frame.width as usize, w, t.scale_x, t.pad_x);
    let ys = taps(frame.height as usize, h, t.scale_y, t.pad_y);
    let (mul, add) = channel_affine(input);
    let pad: [f32; 3] = std::array::from_fn(|c| PAD_VALUE * mul[c] + add[c]);
    let stride = frame.width as usize * 3;
    let src = &frame.rgb;

    // Sequential within a frame: frames of a batch run in parallel, and the preprocess
    // thread overlaps inference, so splitting a 300-row frame further only adds contention.
    // `row_pixels` is generic over the writer so its inner loop inlines (90k pixels a frame).
    match input.layout {
        Layout::Nhwc => out.chunks_mut(w * 3).enumerate().for_each(|(y, row)| {
            row_pixels(src, stride, ys[y], &xs, mul, add, pad, &mut |x, v: [f32; 3]| {
                row[x * 3..x * 3 + 3].copy_from_slice(&v)
            })
        }),
        Layout::Nchw => {
            let (p0, rest) = out.split_at_mut(w * h);
            let (p1, p2) = rest.split_at_mut(w * h);
            for (y, ((r0, r1), r2)) in p0.chunks_mut(w).zip(p1.chunks_mut(w)).zip(p2.chunks_mut(w)).enumerate() {
                row_pixels(src, stride, ys[y], &xs, mul, add, pad, &mut |x, v: [f32; 3]| {
                    (r0[x], r1[x], r2[x]) = (v[0], v[1], v[2]);
                });
            }
        }
    }
}

/// Bilinear samples for one output row; `ty = None` is a padding row.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn row_pixels<F: FnMut(usize, [f32; 3])>(
    src: &[u8],
    stride: usize,
    ty: Option<Tap>,
    xs: &[Option<Tap>],
    mul: [f32; 3],
    add: [f32; 3],
    pad: [f32; 3],
    put: &mut F,
) {
    let Some(ty) = ty else {
        (0..xs.len()).for_each(|x| put(x, pad));
        return;
    };
    let (r0, r1) = (&src[ty.i0 * stride..][..stride], &src[ty.i1 * stride..][..stride]);
    for (x, tx) in xs.iter().enumerate() {
        let Some(tx) = tx else {
            put(x, pad);
            continue;
        };
        let (a, b) = (&r0[tx.i0 * 3..][..3], &r0[tx.i1 * 3..][..3]);
        let (d, e) = (&r1[tx.i0 * 3..][..3], &r1[tx.i1 * 3..][..3]);
        put(
            x,
            std::array::from_fn(|c| {
                let top = a[c] as f32 + (b[c] as f32 - a[c] as f32) * tx.w1;
                let bottom = d[c] as f32 + (e[c] as f32 - d[c] as f32) * tx.w1;
                (top + (bottom - top) * ty.w1) * mul[c] + add[c]
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(w: u32, h: u32, layout: Layout, resize: ResizeMode) -> InputSpec {
        InputSpec { name: "in".into(), width: w, height: h, layout, resize, mean: [0.0; 3], std: [1.0; 3] }
    }

    fn frame(w: u32, h: u32, f: impl Fn(u32, u32, usize) -> u8) -> Frame {
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                (0..3).for_each(|c| rgb.push(f(x, y, c)));
            }
        }
        Frame { index: 0, width: w, height: h, rgb }
    }

    #[test]
    fn halving_averages_pixel_pairs() {
        // 4x2 -> 2x1: each output sits exactly between two source columns and two rows.
        let f = frame(4, 2, |x, y, _| (x * 10 + y * 100) as u8);
        let b = make_batch(&[f], &spec(2, 1, Layout::Nhwc, ResizeMode::Stretch));
        assert_eq!(b.shape, [1, 1, 2, 3]);
        let expect = |x: f32| (x * 10.0 + 50.0) / 255.0;
        assert!((b.data[0] - expect(0.5)).abs() < 1e-6, "{}", b.data[0]);
        assert!((b.data[3] - expect(2.5)).abs() < 1e-6, "{}", b.data[3]);
    }

    #[test]
    fn normalisation_and_nchw_layout() {
        let f = frame(2, 2, |_, _, c| [255, 0, 51][c]);
        let mut s = spec(2, 2, Layout::Nchw, ResizeMode::Stretch);
        s.mean = [0.5; 3];
        s.std = [0.5; 3];
        let b = make_batch(&[f], &s);
        assert_eq!(b.shape, [1, 3, 2, 2]);
        // pixel*2/255-1: R=1, G=-1, B=-0.6, each a 2x2 plane.
        assert!(b.data[..4].iter().all(|v| (v - 1.0).abs() < 1e-6));
        assert!(b.data[4..8].iter().all(|v| (v + 1.0).abs() < 1e-6));
        assert!(b.data[8..].iter().all(|v| (v + 0.6).abs() < 1e-6));
    }

    #[test]
    fn letterbox_pads_and_maps_boxes_back() {
        // 4x2 frame into 4x4: scale 1, 1 row of padding above and below.
        let f = frame(4, 2, |_, _, _| 255);
        let s = spec(4, 4, Layout::Nhwc, ResizeMode::Letterbox);
        let t = InputTransform::new(4, 2, &s);
        assert_eq!((t.scale_x, t.pad_x, t.pad_y), (1.0, 0.0, 1.0));
        let b = make_batch(&[f], &s);
        let px = |x: usize, y: usize| b.data[(y * 4 + x) * 3];
        assert!((px(0, 0) - 114.0 / 255.0).abs() < 1e-6);
        assert!((px(2, 1) - 1.0).abs() < 1e-6 && (px(2, 2) - 1.0).abs() < 1e-6);
        assert!((px(3, 3) - 114.0 / 255.0).abs() < 1e-6);
        let back = t.to_frame(BBox { x1: 1.0, y1: 1.0, x2: 3.0, y2: 3.0 });
        assert_eq!(back, BBox { x1: 1.0, y1: 0.0, x2: 3.0, y2: 2.0 });
    }

    #[test]
    fn batch_keeps_frame_order() {
        let a = frame(2, 2, |_, _, _| 0);
        let mut b = frame(2, 2, |_, _, _| 255);
        b.index = 7;
        let batch = make_batch(&[a, b], &spec(2, 2, Layout::Nhwc, ResizeMode::Stretch));
        assert_eq!(batch.frames[1].index, 7);
        assert_eq!(batch.data[0], 0.0);
        assert_eq!(batch.data[12], 1.0);
    }
}
