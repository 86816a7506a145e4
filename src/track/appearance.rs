//! A cheap appearance cue for linking: takes a frame's pixels and its detections, gives one
//! colour histogram per detection. CPU, a few hundred sampled pixels per box.
//!
//! Motion alone swaps identities where two people cross: for a few frames both boxes overlap
//! both predictions about equally. Clothing colours tell them apart. Each box is described by
//! two RGB histograms (8 x 8 x 8 bins), of its upper and lower half (shirt and trousers), from
//! its inner part (the edges are mostly background), sampled on a grid of at most 16 x 32
//! points so the cost does not grow with the box. Two descriptors are compared with the
//! Bhattacharyya coefficient: 1 for the same colours, near 0 for disjoint ones.

use crate::types::{Appearance, BBox, Frame, APPEARANCE_BINS as BINS};
use crate::yuv::yuv_to_rgb;

const GRID_X: u32 = 16;
const GRID_Y: u32 = 32;

/// The pixel at (x, y) as RGB, whichever way the frame holds it.
fn pixel(frame: &Frame, x: u32, y: u32) -> [u8; 3] {
    let w = frame.width as usize;
    match &frame.yuv {
        None => {
            let i = (y as usize * w + x as usize) * 3;
            [frame.rgb[i], frame.rgb[i + 1], frame.rgb[i + 2]]
        }
        Some(p) => {
            let cw = w.div_ceil(2);
            let c = (y as usize / 2) * cw + x as usize / 2;
            yuv_to_rgb(p.y[y as usize * w + x as usize], p.u[c], p.v[c])
        }
    }
}

/// One descriptor per box of `boxes`, from `frame`'s pixels.
pub fn describe(frame: &Frame, boxes: &[BBox]) -> Vec<Appearance> {
    boxes.iter().map(|b| describe_one(frame, b)).collect()
}

fn describe_one(frame: &Frame, b: &BBox) -> Appearance {
    let mut hist = [0f32; 2 * BINS];
    if !frame.is_consistent() || frame.width == 0 || frame.height == 0 {
        return Appearance(hist);
    }
    // The inner part: 20% off each side, 10% off top and bottom.
    let inner = BBox { x1: b.x1 + 0.2 * b.width(), x2: b.x2 - 0.2 * b.width(), y1: b.y1 + 0.1 * b.height(), y2: b.y2 - 0.1 * b.height() }
        .clamp(frame.width as f32 - 1.0, frame.height as f32 - 1.0);
    let (w, h) = (inner.width(), inner.height());
    if w < 1.0 || h < 2.0 {
        return Appearance(hist);
    }
    let (nx, ny) = (GRID_X.min(w as u32).max(1), GRID_Y.min(h as u32).max(2));
    let mut counts = [0f32; 2];
    for j in 0..ny {
        let y = inner.y1 + (j as f32 + 0.5) * h / ny as f32;
        let half = usize::from(j >= ny / 2);
        for i in 0..nx {
            let x = inner.x1 + (i as f32 + 0.5) * w / nx as f32;
            let [r, g, bl] = pixel(frame, x as u32, y as u32);
            let bin = (r as usize >> 5) * 64 + (g as usize >> 5) * 8 + (bl as usize >> 5);
            hist[half * BINS + bin] += 1.0;
            counts[half] += 1.0;
        }
    }
    for (half, n) in counts.iter().enumerate() {
        if *n > 0.0 {
            hist[half * BINS..(half + 1) * BINS].iter_mut().for_each(|v| *v /= n);
        }
    }
    Appearance(hist)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100x100 frame: left half red shirt over blue trousers, right half green over grey.
    fn frame() -> Frame {
        let mut rgb = vec![0u8; 100 * 100 * 3];
        for y in 0..100 {
            for x in 0..100 {
                let c = match (x < 50, y < 50) {
                    (true, true) => [220, 20, 20],
                    (true, false) => [20, 20, 220],
                    (false, true) => [20, 220, 20],
                    (false, false) => [128, 128, 128],
                };
                rgb[(y * 100 + x) * 3..][..3].copy_from_slice(&c);
            }
        }
        Frame::from_rgb(0, 100, 100, rgb)
    }

    #[test]
    fn the_same_person_is_alike_and_another_is_not() {
        let f = frame();
        let left = BBox { x1: 5.0, y1: 0.0, x2: 45.0, y2: 100.0 };
        let left_moved = BBox { x1: 8.0, y1: 2.0, x2: 46.0, y2: 98.0 };
        let right = BBox { x1: 55.0, y1: 0.0, x2: 95.0, y2: 100.0 };
        let d = describe(&f, &[left, left_moved, right]);
        assert!(d[0].similarity(&d[1]) > 0.99, "{}", d[0].similarity(&d[1]));
        assert!(d[0].similarity(&d[2]) < 0.01, "{}", d[0].similarity(&d[2]));
    }

    #[test]
    fn yuv_frames_give_the_rgb_descriptor_of_their_colours() {
        // A flat grey YUV frame (Y 126, U = V = 128) reads as RGB 128-ish: one bin per half.
        let (w, h) = (8u32, 8u32);
        let planes = crate::types::Yuv420 { y: vec![126; 64], u: vec![128; 16], v: vec![128; 16] };
        let f = Frame { index: 0, width: w, height: h, rgb: Vec::new(), yuv: Some(planes) };
        let d = describe(&f, &[BBox { x1: 0.0, y1: 0.0, x2: 8.0, y2: 8.0 }]);
        let grey = (128usize >> 5) * 73; // r = g = b bin
        assert!((d[0].0[grey] - 1.0).abs() < 1e-6 && (d[0].0[512 + grey] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn empty_or_outside_boxes_give_an_empty_descriptor() {
        let f = frame();
        let d = describe(&f, &[BBox { x1: 200.0, y1: 200.0, x2: 300.0, y2: 300.0 }, BBox::default()]);
        assert!(d.iter().all(|a| a.0.iter().all(|&v| v == 0.0)));
    }
}
