//! Stage 2, preprocess: takes [`Frame`]s (and optionally a [`Region`] of each, for tiling),
//! gives one [`Batch`]: each region resized (bilinear) to the model input (stretched, or
//! letterboxed centred or at the top-left), normalised per channel, RGB or BGR, and laid out
//! NHWC or NCHW. A model whose input size follows the frame (`InputSpec::for_frame`) gets
//! the size of the batch's frames: a batch holds frames of one size.
//! Runs on the CPU; the items of a batch in parallel with rayon. This is the reference
//! implementation that the GPU path must match.
//!
//! Bilinear sampling uses pixel centres (`src = (dst + 0.5) * scale - 0.5`, clamped at the
//! edges), the convention of OpenCV's INTER_LINEAR and of GPU texture sampling, so a later GPU
//! path can match it exactly.

pub mod gpu;
mod gpu_plan;

use rayon::prelude::*;

use crate::model::{Channels, DType, InputSpec, Layout, ResizeMode};
use crate::types::{BBox, Batch, Frame, Region};

/// Maps between frame pixels and model-input pixels for one region of a frame:
/// `input = (frame - origin) * scale + pad`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct InputTransform {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
    /// Top-left corner of the region in frame pixels (0 for the whole frame).
    pub origin_x: f32,
    pub origin_y: f32,
}

impl InputTransform {
    /// The transform for a whole `frame_w` x `frame_h` frame (the tests' shorthand).
    #[cfg(test)]
    pub fn new(frame_w: u32, frame_h: u32, input: &InputSpec) -> InputTransform {
        InputTransform::for_region(Region { x: 0, y: 0, width: frame_w, height: frame_h }, input)
    }

    /// The transform for `region` of a frame.
    pub(crate) fn for_region(region: Region, input: &InputSpec) -> InputTransform {
        let sx = input.width as f32 / region.width as f32;
        let sy = input.height as f32 / region.height as f32;
        let (origin_x, origin_y) = (region.x as f32, region.y as f32);
        match input.resize {
            ResizeMode::Stretch => InputTransform { scale_x: sx, scale_y: sy, pad_x: 0.0, pad_y: 0.0, origin_x, origin_y },
            ResizeMode::Letterbox | ResizeMode::LetterboxTopLeft => {
                let s = sx.min(sy);
                let centred = input.resize == ResizeMode::Letterbox;
                let pad = |room: f32| if centred { (room / 2.0).floor() } else { 0.0 };
                InputTransform {
                    scale_x: s,
                    scale_y: s,
                    pad_x: pad(input.width as f32 - region.width as f32 * s),
                    pad_y: pad(input.height as f32 - region.height as f32 * s),
                    origin_x,
                    origin_y,
                }
            }
        }
    }

    /// A box in model-input pixels, back in frame pixels.
    pub(crate) fn to_frame(self, b: BBox) -> BBox {
        BBox {
            x1: (b.x1 - self.pad_x) / self.scale_x + self.origin_x,
            y1: (b.y1 - self.pad_y) / self.scale_y + self.origin_y,
            x2: (b.x2 - self.pad_x) / self.scale_x + self.origin_x,
            y2: (b.y2 - self.pad_y) / self.scale_y + self.origin_y,
        }
    }
}

/// Resizes and normalises whole `frames` into one input tensor for the model described by
/// `input`.
pub fn make_batch(frames: &[Frame], input: &InputSpec) -> Batch {
    let items: Vec<(&Frame, Region)> = frames.iter().map(|f| (f, Region::full(&f.info()))).collect();
    make_region_batch(&items, input)
}

/// Resizes and normalises one region of a frame per batch item (tiles, or whole frames).
/// Every region must lie inside its frame and be at least 1x1; all frames have one size
/// when the model's input size follows the frame's (the first frame's decides).
pub fn make_region_batch(items: &[(&Frame, Region)], input: &InputSpec) -> Batch {
    let input = &batch_input(items, input);
    let (w, h) = (input.width as usize, input.height as usize);
    let per_item = w * h * 3;
    let mut data = vec![0f32; per_item * items.len()];
    data.par_chunks_mut(per_item).zip(items.par_iter()).for_each(|(out, (frame, region))| {
        // YUV frames: whole-frame reference conversion first (per item, so a frame cut into
        // tiles is converted once per tile; this path is the reference, not the fast one).
        fill_region(&crate::yuv::as_rgb(frame), *region, input, out);
    });
    let shape = match input.layout {
        Layout::Nhwc => [items.len(), h, w, 3],
        Layout::Nchw => [items.len(), 3, h, w],
    };
    // f16 models: convert after the f32 arithmetic, which is what the GPU path does too.
    let (data, data_f16) = match input.dtype {
        DType::F32 => (data, Vec::new()),
        DType::F16 => (Vec::new(), data.iter().map(|&v| half::f16::from_f32(v)).collect()),
    };
    Batch { frames: items.iter().map(|(f, _)| f.info()).collect(), regions: items.iter().map(|(_, r)| *r).collect(), shape, data, data_f16 }
}

/// The input for a batch of `items`: the model's input fitted to the first frame's size.
pub(crate) fn batch_input(items: &[(&Frame, Region)], input: &InputSpec) -> InputSpec {
    match items.first() {
        Some((f, _)) => input.for_frame(f.width, f.height),
        None => input.clone(),
    }
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

fn fill_region(frame: &Frame, region: Region, input: &InputSpec, out: &mut [f32]) {
    let (w, h) = (input.width as usize, input.height as usize);
    let t = InputTransform::for_region(region, input);
    let xs = taps(region.width as usize, w, t.scale_x, t.pad_x);
    let ys = taps(region.height as usize, h, t.scale_y, t.pad_y);
    let (mul, add) = channel_affine(input);
    let pad: [f32; 3] = std::array::from_fn(|c| input.pad * mul[c] + add[c]);
    // Channel c of the tensor reads pixel channel `order[c]`; mean and std are in tensor order.
    let order: [usize; 3] = match input.channels {
        Channels::Rgb => [0, 1, 2],
        Channels::Bgr => [2, 1, 0],
    };
    let stride = frame.width as usize * 3;
    // Taps index the region; starting the slice at the region's top-left pixel keeps the
    // inner loop identical for whole frames and tiles.
    let src = &frame.rgb[region.y as usize * stride + region.x as usize * 3..];
    let row_len = region.width as usize * 3;

    // Sequential within a frame: frames of a batch run in parallel, and the preprocess
    // thread overlaps inference, so splitting a 300-row frame further only adds contention.
    // `row_pixels` is generic over the writer so its inner loop inlines (90k pixels a frame).
    match input.layout {
        Layout::Nhwc => out.chunks_mut(w * 3).enumerate().for_each(|(y, row)| {
            row_pixels(src, (stride, row_len), ys[y], &xs, order, (mul, add), pad, &mut |x, v: [f32; 3]| {
                row[x * 3..x * 3 + 3].copy_from_slice(&v)
            })
        }),
        Layout::Nchw => {
            let (p0, rest) = out.split_at_mut(w * h);
            let (p1, p2) = rest.split_at_mut(w * h);
            for (y, ((r0, r1), r2)) in p0.chunks_mut(w).zip(p1.chunks_mut(w)).zip(p2.chunks_mut(w)).enumerate() {
                row_pixels(src, (stride, row_len), ys[y], &xs, order, (mul, add), pad, &mut |x, v: [f32; 3]| {
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
    (stride, row_len): (usize, usize),
    ty: Option<Tap>,
    xs: &[Option<Tap>],
    order: [usize; 3],
    (mul, add): ([f32; 3], [f32; 3]),
    pad: [f32; 3],
    put: &mut F,
) {
    let Some(ty) = ty else {
        (0..xs.len()).for_each(|x| put(x, pad));
        return;
    };
    let (r0, r1) = (&src[ty.i0 * stride..][..row_len], &src[ty.i1 * stride..][..row_len]);
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
                let p = order[c];
                let top = a[p] as f32 + (b[p] as f32 - a[p] as f32) * tx.w1;
                let bottom = d[p] as f32 + (e[p] as f32 - d[p] as f32) * tx.w1;
                (top + (bottom - top) * ty.w1) * mul[c] + add[c]
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(w: u32, h: u32, layout: Layout, resize: ResizeMode) -> InputSpec {
        InputSpec {
            name: "in".into(),
            width: w,
            height: h,
            layout,
            resize,
            pad: 114.0,
            channels: Channels::Rgb,
            fit: None,
            mean: [0.0; 3],
            std: [1.0; 3],
            dtype: DType::F32,
        }
    }

    fn frame(w: u32, h: u32, f: impl Fn(u32, u32, usize) -> u8) -> Frame {
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                (0..3).for_each(|c| rgb.push(f(x, y, c)));
            }
        }
        Frame::from_rgb(0, w, h, rgb)
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

    #[test]
    fn region_equals_the_same_pixels_cut_out_first() {
        // A tile of a frame must give exactly what the whole-frame path gives on a frame that
        // holds only the tile's pixels, and boxes must map back with the tile's offset.
        let full = frame(16, 12, |x, y, c| (x * 13 + y * 7 + c as u32 * 50) as u8);
        let region = Region { x: 5, y: 3, width: 9, height: 7 };
        let cut = frame(9, 7, |x, y, c| (((x + 5) * 13 + (y + 3) * 7) + c as u32 * 50) as u8);
        for resize in [ResizeMode::Stretch, ResizeMode::Letterbox, ResizeMode::LetterboxTopLeft] {
            let s = spec(6, 5, Layout::Nchw, resize);
            let a = make_region_batch(&[(&full, region)], &s);
            let b = make_batch(std::slice::from_ref(&cut), &s);
            assert_eq!(a.data, b.data);
            assert_eq!(a.regions, vec![region]);
            let t = InputTransform::for_region(region, &s);
            let back = t.to_frame(BBox { x1: t.pad_x, y1: t.pad_y, x2: t.pad_x + t.scale_x, y2: t.pad_y + t.scale_y });
            assert!((back.x1 - 5.0).abs() < 1e-5 && (back.y1 - 3.0).abs() < 1e-5, "{back:?}");
            assert!((back.x2 - 6.0).abs() < 1e-5 && (back.y2 - 4.0).abs() < 1e-5, "{back:?}");
        }
    }

    #[test]
    fn top_left_letterbox_bgr_with_zero_padding() {
        // 4x2 frame into 4x4 at the top-left: rows 2 and 3 are padding (pixel 0), channels
        // swapped, mean and std in tensor (BGR) order.
        let f = frame(4, 2, |_, _, c| [200, 100, 10][c]);
        let mut s = spec(4, 4, Layout::Nchw, ResizeMode::LetterboxTopLeft);
        (s.channels, s.pad) = (Channels::Bgr, 0.0);
        s.mean = [10.0 / 255.0, 0.0, 0.0];
        s.std = [2.0 / 255.0, 1.0, 1.0];
        let t = InputTransform::new(4, 2, &s);
        assert_eq!((t.scale_x, t.pad_x, t.pad_y), (1.0, 0.0, 0.0));
        let b = make_batch(&[f], &s);
        let plane = |c: usize| &b.data[c * 16..(c + 1) * 16];
        // B plane: (10 - 10) / 2 = 0 on the frame, (0 - 10) / 2 = -5 in the padding.
        assert!(plane(0)[..8].iter().all(|&v| v.abs() < 1e-5), "{:?}", plane(0));
        assert!(plane(0)[8..].iter().all(|&v| (v + 5.0).abs() < 1e-5), "{:?}", plane(0));
        assert!(plane(2)[..8].iter().all(|&v| (v - 200.0 / 255.0).abs() < 1e-6));
        assert!(plane(2)[8..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn fitted_input_follows_the_batch_frames() {
        let mut s = spec(416, 320, Layout::Nchw, ResizeMode::LetterboxTopLeft);
        s.fit = Some(crate::model::FitSpec { multiple: 32, pixels: 416 * 320, max_shrink: f32::INFINITY, max_pixels: 0 });
        let f = frame(64, 20, |_, _, _| 9);
        let b = make_batch(&[f], &s);
        // Never larger than the frame rounded up to the multiple: 64x32.
        assert_eq!(b.shape, [1, 3, 32, 64]);
    }
}
