use super::*;
use crate::types::{BBox, Yuv420};

/// Smooth random texture (noise blurred twice), `w` x `h`, values 0..255.
fn texture(w: usize, h: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut noise: Vec<f32> = (0..w * h)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 56) as f32
        })
        .collect();
    for _ in 0..2 {
        let mut out = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (mut s, mut k) = (0f32, 0f32);
                for yy in y.saturating_sub(2)..(y + 3).min(h) {
                    for xx in x.saturating_sub(2)..(x + 3).min(w) {
                        s += noise[yy * w + xx];
                        k += 1.0;
                    }
                }
                out[y * w + x] = s / k;
            }
        }
        noise = out;
    }
    let (lo, hi) = noise.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    noise.iter().map(|v| 255.0 * (v - lo) / (hi - lo)).collect()
}

/// A `w` x `h` RGB frame showing `tex` (of size `tw` x `th`) moved by `m`: the texture's
/// point p appears at m(p).
fn frame(tex: &[f32], tw: usize, m: &CameraMotion, w: u32, h: u32) -> Frame {
    let grey = Grey { w: tw, h: tex.len() / tw, px: tex.to_vec() };
    let det = m.a * m.a + m.b * m.b;
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            // The inverse similarity: p = m^-1(x, y).
            let (dx, dy) = (x as f32 - m.tx, y as f32 - m.ty);
            let (px, py) = ((m.a * dx + m.b * dy) / det, (-m.b * dx + m.a * dy) / det);
            let v = grey.sample(px, py).round().clamp(0.0, 255.0) as u8;
            rgb.extend([v, v, v]);
        }
    }
    Frame::from_rgb(0, w, h, rgb)
}

fn close(got: &CameraMotion, want: &CameraMotion, shift_px: f32) -> bool {
    (got.a - want.a).abs() < 2e-3
        && (got.b - want.b).abs() < 2e-3
        && (got.tx - want.tx).abs() < shift_px
        && (got.ty - want.ty).abs() < shift_px
}

#[test]
fn a_pan_a_turn_and_a_zoom_are_measured_to_a_fraction_of_a_pixel() {
    let tex = texture(700, 520, 7);
    for want in [
        CameraMotion { tx: 6.5, ty: -3.25, ..CameraMotion::STILL },
        CameraMotion { a: 1.02, b: 0.0, tx: -5.0, ty: -4.0 },
        CameraMotion { a: 0.999, b: 0.02, tx: 2.0, ty: -8.0 },
        CameraMotion { tx: -21.0, ty: 13.0, ..CameraMotion::STILL },
    ] {
        let mut follower = CameraFollower::new();
        let first = CameraMotion { tx: -20.0, ty: -20.0, ..CameraMotion::STILL };
        assert_eq!(follower.follow(&frame(&tex, 700, &first, 640, 480), &[]), CameraMotion::STILL, "the first frame");
        let got = follower.follow(&frame(&tex, 700, &first.then(&want), 640, 480), &[]);
        assert!(close(&got, &want, 0.15), "{got:?} for {want:?}");
        assert!(follower.summary().starts_with("median "), "{}", follower.summary());
    }
}

#[test]
fn a_1080p_frame_is_measured_on_its_half_size_copy_in_full_size_pixels() {
    let tex = texture(1000, 600, 3);
    let m0 = CameraMotion { a: 2.0, b: 0.0, tx: -60.0, ty: -60.0 };
    let want = CameraMotion { tx: 9.0, ty: 4.0, ..CameraMotion::STILL };
    let mut follower = CameraFollower::new();
    follower.follow(&frame(&tex, 1000, &m0, 1920, 1080), &[]);
    let got = follower.follow(&frame(&tex, 1000, &m0.then(&want), 1920, 1080), &[]);
    assert!(close(&got, &want, 0.3), "{got:?}");
}

#[test]
fn people_moving_on_a_still_background_do_not_move_the_camera() {
    // The background stays; a large textured "person" (over half the picture) walks 12 px a
    // frame. Its box is a detection, so its corners are left out.
    let (bg, person) = (texture(640, 480, 11), texture(440, 400, 5));
    let render = |left: usize| {
        let mut f = frame(&bg, 640, &CameraMotion::STILL, 640, 480);
        for y in 0..400 {
            for x in 0..440 {
                let v = person[y * 440 + x] as u8;
                let i = ((40 + y) * 640 + left + x) * 3;
                f.rgb[i..i + 3].copy_from_slice(&[v, v, v]);
            }
        }
        f
    };
    let det =
        |left: usize| Detection { bbox: BBox { x1: left as f32, y1: 40.0, x2: (left + 440) as f32, y2: 440.0 }, class: 0, score: 0.9 };
    let mut follower = CameraFollower::new();
    follower.follow(&render(60), &[det(60)]);
    let got = follower.follow(&render(72), &[det(72)]);
    assert!(close(&got, &CameraMotion::STILL, 0.1), "{got:?}");
}

#[test]
fn a_cut_a_blank_wall_and_odd_frames_read_as_a_still_camera() {
    let (a, b) = (texture(640, 480, 1), texture(640, 480, 2));
    let mut follower = CameraFollower::new();
    follower.follow(&frame(&a, 640, &CameraMotion::STILL, 640, 480), &[]);
    assert_eq!(follower.follow(&frame(&b, 640, &CameraMotion::STILL, 640, 480), &[]), CameraMotion::STILL, "a cut");
    assert_eq!(follower.summary(), "not measured; 1 of 1 frames too uncertain to measure (taken as still)");
    let flat = Frame::from_rgb(0, 640, 480, vec![128; 640 * 480 * 3]);
    assert_eq!(follower.follow(&flat, &[]), CameraMotion::STILL);
    assert_eq!(follower.follow(&flat, &[]), CameraMotion::STILL, "a blank wall");
    let broken = Frame::from_rgb(0, 640, 480, vec![0; 10]);
    assert_eq!(follower.follow(&broken, &[]), CameraMotion::STILL);
    let tiny = Frame::from_rgb(0, 4, 4, vec![0; 48]);
    assert_eq!(follower.follow(&tiny, &[]), CameraMotion::STILL);
    // A detection hanging off the picture, or turned inside out, masks nothing and breaks nothing.
    let odd = [
        Detection { bbox: BBox { x1: -50.0, y1: -50.0, x2: 9000.0, y2: 20.0 }, class: 0, score: 0.9 },
        Detection { bbox: BBox { x1: 300.0, y1: 300.0, x2: 100.0, y2: 100.0 }, class: 0, score: 0.9 },
    ];
    follower.follow(&frame(&a, 640, &CameraMotion::STILL, 640, 480), &odd);
    let got = follower.follow(&frame(&a, 640, &CameraMotion { tx: 3.0, ..CameraMotion::STILL }, 640, 480), &odd);
    assert!(close(&got, &CameraMotion { tx: 3.0, ..CameraMotion::STILL }, 0.15), "{got:?}");
}

#[test]
fn yuv_frames_give_the_motion_rgb_frames_give() {
    let tex = texture(700, 520, 9);
    let want = CameraMotion { tx: 4.0, ty: 2.5, ..CameraMotion::STILL };
    let to_yuv = |f: Frame| {
        let (w, h) = (f.width as usize, f.height as usize);
        let y = f.rgb.chunks(3).map(|p| p[0]).collect();
        let chroma = vec![128u8; w.div_ceil(2) * h.div_ceil(2)];
        Frame { yuv: Some(Yuv420 { y, u: chroma.clone(), v: chroma }), rgb: Vec::new(), ..f }
    };
    let (f0, f1) = (frame(&tex, 700, &CameraMotion::STILL, 640, 480), frame(&tex, 700, &want, 640, 480));
    let mut rgb = CameraFollower::new();
    rgb.follow(&f0, &[]);
    let from_rgb = rgb.follow(&f1, &[]);
    let mut yuv = CameraFollower::new();
    yuv.follow(&to_yuv(f0), &[]);
    let from_yuv = yuv.follow(&to_yuv(f1), &[]);
    assert!(close(&from_rgb, &want, 0.15) && close(&from_yuv, &from_rgb, 0.05), "{from_rgb:?} {from_yuv:?}");
}

#[test]
fn motions_compose_in_order() {
    let a = CameraMotion { a: 1.1, b: 0.1, tx: 3.0, ty: -2.0 };
    let b = CameraMotion { a: 0.9, b: -0.05, tx: -1.0, ty: 4.0 };
    let (x, y) = (37.0, -12.0);
    let (x1, y1) = a.apply(x, y);
    let want = b.apply(x1, y1);
    let got = a.then(&b).apply(x, y);
    assert!((got.0 - want.0).abs() < 1e-4 && (got.1 - want.1).abs() < 1e-4);
    assert_eq!(CameraMotion::STILL.then(&a), a);
}

#[test]
fn a_still_camera_is_measured_every_fourth_frame_until_it_moves() {
    let tex = texture(760, 560, 13);
    let at = |x: f32| frame(&tex, 760, &CameraMotion { tx: -x, ty: -20.0, ..CameraMotion::STILL }, 640, 480);
    let mut follower = CameraFollower::new();
    for _ in 0..1 + STILL_RUN as usize + 12 {
        assert!(close(&follower.follow(&at(20.0), &[]), &CameraMotion::STILL, 0.05));
    }
    // 12 frames after the camera was found still: 3 of each 4 passed over.
    assert_eq!(follower.passed_over, 9, "{}", follower.summary());
    // It starts to pan 3 px a frame: the pan is measured at the next measured frame, against
    // the last one measured, so the motions given add up to the pan.
    let mut moved = 0.0;
    let mut x = 20.0;
    for _ in 0..8 {
        x += 3.0;
        moved += follower.follow(&at(x), &[]).tx;
    }
    assert!((moved + 24.0).abs() < 0.3, "the picture moved 24 px left, the motions add up to {moved}");
    let before = follower.passed_over;
    for _ in 0..4 {
        x += 3.0;
        let m = follower.follow(&at(x), &[]);
        assert!((m.tx + 3.0).abs() < 0.15, "{m:?}");
    }
    assert_eq!(follower.passed_over, before, "a moving camera is measured every frame");
    assert!(follower.summary().contains("frames passed over while the camera stood still"));
}
