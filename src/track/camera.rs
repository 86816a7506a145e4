//! Camera motion, for the tracker: takes each detector frame's pixels and detections, gives how
//! the camera moved since the previous detector frame ([`CameraMotion`]). CPU, on a grey copy
//! of the frame at most [`MAX_WIDTH`] pixels wide, a few milliseconds a frame.
//!
//! Why: the Kalman filter predicts each person where the picture last had them, moving at
//! their own pace. When the camera pans or walks, every box shifts together, the predictions
//! land beside the people, and the low-score matching (IoU >= 0.5) loses exactly the people
//! hardest to see. Moving the predictions with the picture (as BoT-SORT does) keeps them.
//!
//! How: corners (Shi-Tomasi) are picked one per cell of a grid, outside the detections (people
//! move on their own); each is followed into the next frame with pyramidal Lucas-Kanade; a
//! similarity (shift, turn, zoom) is fitted to them with RANSAC, which sets aside the points
//! that went astray (an earlier version that also checked each point by following it back
//! took twice the time and scored no better on the shared sequences). Where too few points agree (a bare
//! wall, a scene cut, a crowd filling the picture) the camera is taken as still, which is
//! what the tracker assumed before.

use crate::types::{CameraMotion, Detection, Frame};

/// Frames wider than this are averaged down by a whole factor first.
pub const MAX_WIDTH: u32 = 640;
/// One corner at most per cell of this many pixels (of the level corners are picked on), and at most
/// [`MAX_CORNERS`] of them, the strongest: plenty for a fit that needs two.
const CELL: usize = 16;
const MAX_CORNERS: usize = 120;
/// A corner's window for Lucas-Kanade reaches this far each side (15 x 15 pixels).
const HALF_WINDOW: isize = 6;
/// Pyramid levels above the grey copy: each halves the size, so a shift of up to about
/// 2^LEVELS * HALF_WINDOW pixels is followed.
const LEVELS: usize = 3;
const ITERATIONS: usize = 10;
/// A corner weaker than this share of the frame's strongest is not used (OpenCV's quality level).
const MIN_QUALITY: f32 = 0.01;
/// A point agrees with a fitted motion when it lands within this many pixels (grey copy).
const INLIER_PX: f32 = 2.0;
const RANSAC_TRIES: usize = 200;
/// At least this many points, and this share of the followed ones, must agree.
const MIN_INLIERS: usize = 12;
const MIN_INLIER_SHARE: f32 = 0.25;
/// Detections scoring at least this are masked out (grown by [`MASK_GROW`] of their size).
const MASK_SCORE: f32 = 0.3;
const MASK_GROW: f32 = 0.1;
/// A camera whose picture's centre moved less than this (pixels of the grey copy: about what
/// the measurement can tell from nothing) in each of [`STILL_RUN`] measurements in a row
/// stands still; then only every [`STILL_EVERY`]th frame is measured (against the last one
/// measured), until one shows motion. Most footage comes from fixed cameras, and this saves
/// them three quarters of the work.
const STILL_PX: f32 = 0.1;
const STILL_RUN: u32 = 8;
const STILL_EVERY: u32 = 4;
/// A measured shift counts only when it is this many standard errors from none. Without it,
/// the noise of still cameras with little texture (the far-away variants: a small picture in
/// a black 1080p frame) moved the tracks and cost TUD-Campus far 0.135 IDF1.
const SIGNIFICANT: f32 = 3.0;
/// Between two detector frames a camera does not zoom more than this (else: a cut, or a bad fit).
const MAX_ZOOM: f32 = 1.25;

/// A grey picture, one `f32` a pixel.
#[derive(Debug, Clone)]
struct Grey {
    w: usize,
    h: usize,
    px: Vec<f32>,
}

impl Grey {
    /// `frame` averaged over `factor` x `factor` blocks (luma).
    fn of(frame: &Frame, factor: usize) -> Grey {
        let (fw, fh) = (frame.width as usize, frame.height as usize);
        let (w, h) = (fw / factor, fh / factor);
        // One loop per pixel layout, so the layout is not asked again at every pixel.
        let px = match &frame.yuv {
            Some(p) => Grey::averaged(w, h, factor, |x, y| p.y[y * fw + x] as f32),
            None => Grey::averaged(w, h, factor, |x, y| {
                let i = (y * fw + x) * 3;
                0.299 * frame.rgb[i] as f32 + 0.587 * frame.rgb[i + 1] as f32 + 0.114 * frame.rgb[i + 2] as f32
            }),
        };
        Grey { w, h, px }
    }

    /// `w` x `h` means of `factor` x `factor` blocks of `luma`.
    fn averaged(w: usize, h: usize, factor: usize, luma: impl Fn(usize, usize) -> f32) -> Vec<f32> {
        let norm = 1.0 / (factor * factor) as f32;
        let mut px = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut s = 0.0;
                for dy in 0..factor {
                    for dx in 0..factor {
                        s += luma(x * factor + dx, y * factor + dy);
                    }
                }
                px[y * w + x] = s * norm;
            }
        }
        px
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        self.px[y * self.w + x]
    }

    /// Bilinear sample; coordinates outside are clamped to the edge.
    #[cfg(test)]
    fn sample(&self, x: f32, y: f32) -> f32 {
        let x = x.clamp(0.0, (self.w - 1) as f32);
        let y = y.clamp(0.0, (self.h - 1) as f32);
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let top = self.at(x0, y0) * (1.0 - fx) + self.at(x1, y0) * fx;
        let bottom = self.at(x0, y1) * (1.0 - fx) + self.at(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// The (2 half + 1)^2 samples around (cx, cy), a pixel apart, row by row, into `out`: as
    /// [`Grey::sample`] at each, but the bilinear weights are the same for the whole window.
    fn window(&self, cx: f32, cy: f32, half: isize, out: &mut Vec<f32>) {
        out.clear();
        let (x0, y0) = (cx.floor(), cy.floor());
        let (fx, fy) = (cx - x0, cy - y0);
        let clamp = |v: isize, size: usize| v.clamp(0, size as isize - 1) as usize;
        // Called for every point at every Lucas-Kanade step: no allocation here.
        let cols = (-half..=half).map(|i| (clamp(x0 as isize + i, self.w), clamp(x0 as isize + i + 1, self.w)));
        for j in -half..=half {
            let (r0, r1) = (clamp(y0 as isize + j, self.h) * self.w, clamp(y0 as isize + j + 1, self.h) * self.w);
            let (top, bottom) = (&self.px[r0..r0 + self.w], &self.px[r1..r1 + self.w]);
            out.extend(cols.clone().map(|(c0, c1)| {
                let t = top[c0] + fx * (top[c1] - top[c0]);
                let b = bottom[c0] + fx * (bottom[c1] - bottom[c0]);
                t + fy * (b - t)
            }));
        }
    }

    /// Half the size, each pixel the mean of a 2 x 2 block.
    fn half(&self) -> Grey {
        let (w, h) = (self.w / 2, self.h / 2);
        let mut px = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                px[y * w + x] =
                    0.25 * (self.at(2 * x, 2 * y) + self.at(2 * x + 1, 2 * y) + self.at(2 * x, 2 * y + 1) + self.at(2 * x + 1, 2 * y + 1));
            }
        }
        Grey { w, h, px }
    }
}

/// A frame's grey copy and the smaller levels above it, as far as they stay big enough for a window.
fn pyramid(base: Grey) -> Vec<Grey> {
    let mut levels = vec![base];
    while levels.len() <= LEVELS {
        let top = &levels[levels.len() - 1];
        if top.w / 2 < 4 * HALF_WINDOW as usize || top.h / 2 < 4 * HALF_WINDOW as usize {
            break;
        }
        levels.push(top.half());
    }
    levels
}

/// Where a point of level `l - 1` is on level `l` (a pixel there covers 2 x 2 below).
fn up(v: f32) -> f32 {
    (v - 0.5) / 2.0
}

/// Follows the point `p` of `from` into `to` (pyramidal Lucas-Kanade, starting from the shift
/// `guess`); `None` where the window has no texture or the point leaves the picture.
fn follow(from: &[Grey], to: &[Grey], p: (f32, f32), guess: (f32, f32)) -> Option<(f32, f32)> {
    let levels = from.len().min(to.len());
    let mut at = vec![p];
    for _ in 1..levels {
        let (x, y) = at[at.len() - 1];
        at.push((up(x), up(y)));
    }
    let scale = (1u32 << (levels - 1)) as f32;
    let mut d = (guess.0 / scale, guess.1 / scale);
    let n = (2 * HALF_WINDOW + 1) as usize;
    let (mut around, mut moved) = (Vec::with_capacity((n + 2) * (n + 2)), Vec::with_capacity(n * n));
    let mut template = vec![(0f32, 0f32, 0f32); n * n];
    for level in (0..levels).rev() {
        let (a, b) = (&from[level], &to[level]);
        let (px, py) = at[level];
        // The window one pixel wider, for the gradients at its edge.
        a.window(px, py, HALF_WINDOW + 1, &mut around);
        let (mut gxx, mut gxy, mut gyy) = (0f32, 0f32, 0f32);
        for (k, t) in template.iter_mut().enumerate() {
            let i = (k / n + 1) * (n + 2) + k % n + 1;
            let gx = 0.5 * (around[i + 1] - around[i - 1]);
            let gy = 0.5 * (around[i + n + 2] - around[i - n - 2]);
            *t = (around[i], gx, gy);
            gxx += gx * gx;
            gxy += gx * gy;
            gyy += gy * gy;
        }
        let det = gxx * gyy - gxy * gxy;
        if det <= 1e-6 * (gxx + gyy).powi(2) || gxx + gyy <= 1e-3 {
            return None;
        }
        for _ in 0..ITERATIONS {
            b.window(px + d.0, py + d.1, HALF_WINDOW, &mut moved);
            let (mut bx, mut by) = (0f32, 0f32);
            for (&(t, gx, gy), &m) in template.iter().zip(&moved) {
                let diff = t - m;
                bx += diff * gx;
                by += diff * gy;
            }
            let step = ((gyy * bx - gxy * by) / det, (gxx * by - gxy * bx) / det);
            d = (d.0 + step.0, d.1 + step.1);
            if step.0.abs() < 0.03 && step.1.abs() < 0.03 {
                break;
            }
        }
        if level > 0 {
            d = (2.0 * d.0, 2.0 * d.1);
        }
    }
    let end = (p.0 + d.0, p.1 + d.1);
    let inside = |v: f32, size: usize| v >= 0.0 && v <= (size - 1) as f32;
    (d.0.is_finite() && d.1.is_finite() && inside(end.0, to[0].w) && inside(end.1, to[0].h)).then_some(end)
}

/// Corners of `g` to follow: in each [`CELL`], the pixel with the largest smaller eigenvalue
/// of the 3 x 3 structure tensor, outside `masked` and the border.
fn corners(g: &Grey, masked: &[bool]) -> Vec<(f32, f32)> {
    let margin = HALF_WINDOW as usize + 2;
    if g.w <= 2 * margin || g.h <= 2 * margin {
        return Vec::new();
    }
    let (cells_x, cells_y) = (g.w.div_ceil(CELL), g.h.div_ceil(CELL));
    let mut best = vec![(0f32, 0usize, 0usize); cells_x * cells_y];
    // Gradient products once per pixel, then summed over each pixel's 3 x 3 neighbourhood.
    let mut products = vec![[0f32; 3]; g.w * g.h];
    for y in margin - 1..=g.h - margin {
        for x in margin - 1..=g.w - margin {
            let (gx, gy) = (0.5 * (g.at(x + 1, y) - g.at(x - 1, y)), 0.5 * (g.at(x, y + 1) - g.at(x, y - 1)));
            products[y * g.w + x] = [gx * gx, gx * gy, gy * gy];
        }
    }
    for y in margin..g.h - margin {
        for x in margin..g.w - margin {
            if masked[y * g.w + x] {
                continue;
            }
            let (mut a, mut b, mut c) = (0f32, 0f32, 0f32);
            for row in [y - 1, y, y + 1] {
                for [xx, xy, yy] in &products[row * g.w + x - 1..=row * g.w + x + 1] {
                    a += xx;
                    b += xy;
                    c += yy;
                }
            }
            let response = 0.5 * (a + c) - (0.25 * (a - c) * (a - c) + b * b).sqrt();
            let cell = &mut best[(y / CELL) * cells_x + x / CELL];
            if response > cell.0 {
                *cell = (response, x, y);
            }
        }
    }
    let strongest = best.iter().map(|c| c.0).fold(0f32, f32::max);
    best.retain(|c| c.0 > 0.0 && c.0 >= MIN_QUALITY * strongest);
    best.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.2, a.1).cmp(&(b.2, b.1))));
    best.iter().take(MAX_CORNERS).map(|&(_, x, y)| (x as f32, y as f32)).collect()
}

/// The similarity taking `p[i]` to `q[i]` in the least-squares sense.
fn fit(p: &[(f32, f32)], q: &[(f32, f32)]) -> CameraMotion {
    let n = p.len() as f32;
    let mean = |v: &[(f32, f32)]| v.iter().fold((0f32, 0f32), |s, a| (s.0 + a.0 / n, s.1 + a.1 / n));
    let (pc, qc) = (mean(p), mean(q));
    let (mut num_a, mut num_b, mut den) = (0f32, 0f32, 0f32);
    for (a, b) in p.iter().zip(q) {
        let (px, py, qx, qy) = (a.0 - pc.0, a.1 - pc.1, b.0 - qc.0, b.1 - qc.1);
        num_a += px * qx + py * qy;
        num_b += px * qy - py * qx;
        den += px * px + py * py;
    }
    if den <= 0.0 {
        return CameraMotion { tx: qc.0 - pc.0, ty: qc.1 - pc.1, ..CameraMotion::STILL };
    }
    let (a, b) = (num_a / den, num_b / den);
    CameraMotion { a, b, tx: qc.0 - (a * pc.0 - b * pc.1), ty: qc.1 - (b * pc.0 + a * pc.1) }
}

/// The motion most followed points agree with (RANSAC over pairs of points, in a fixed
/// order so that the same frames always give the same answer), refitted on them; `None` when
/// too few agree.
fn consensus(p: &[(f32, f32)], q: &[(f32, f32)], tolerance: f32) -> Option<CameraMotion> {
    let n = p.len();
    if n < MIN_INLIERS {
        return None;
    }
    let agree = |m: &CameraMotion| -> Vec<usize> {
        (0..n)
            .filter(|&i| {
                let (x, y) = m.apply(p[i].0, p[i].1);
                (x - q[i].0).hypot(y - q[i].1) <= tolerance
            })
            .collect()
    };
    let mut state = 0x2545_f491_u64;
    let mut pick = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    };
    let mut best: Vec<usize> = Vec::new();
    for _ in 0..RANSAC_TRIES {
        let (i, j) = (pick(), pick());
        if i == j || (p[i].0 - p[j].0).hypot(p[i].1 - p[j].1) < 4.0 * tolerance {
            continue;
        }
        let inliers = agree(&fit(&[p[i], p[j]], &[q[i], q[j]]));
        if inliers.len() > best.len() {
            best = inliers;
        }
    }
    if best.len() < MIN_INLIERS || (best.len() as f32) < MIN_INLIER_SHARE * n as f32 {
        return None;
    }
    let pick_of = |v: &[(f32, f32)], idx: &[usize]| idx.iter().map(|&i| v[i]).collect::<Vec<_>>();
    let m = fit(&pick_of(p, &best), &pick_of(q, &best));
    // Refit once on the points the refined motion agrees with.
    let inliers = agree(&m);
    let m = if inliers.len() >= MIN_INLIERS { fit(&pick_of(p, &inliers), &pick_of(q, &inliers)) } else { m };
    // A shift the fit cannot tell from its own noise is no motion: where the agreeing points
    // moved on average, against the standard error of that mean (their residual over the
    // square root of their number).
    let agreeing = if inliers.len() >= MIN_INLIERS { inliers } else { best };
    let n = agreeing.len() as f32;
    let (mut squares, mut dx, mut dy) = (0f32, 0f32, 0f32);
    for &i in &agreeing {
        let (x, y) = m.apply(p[i].0, p[i].1);
        squares += (x - q[i].0).powi(2) + (y - q[i].1).powi(2);
        dx += (x - p[i].0) / n;
        dy += (y - p[i].1) / n;
    }
    if dx.hypot(dy) < SIGNIFICANT * (squares / n).sqrt() / n.sqrt() {
        return Some(CameraMotion::STILL);
    }
    (m.scale() <= MAX_ZOOM && m.scale() >= 1.0 / MAX_ZOOM).then_some(m)
}

/// The last detector frame, ready to be followed into the next.
struct Previous {
    pyramid: Vec<Grey>,
    corners: Vec<(f32, f32)>,
    size: (u32, u32),
}

/// Estimates the camera's motion from one detector frame to the next. Feed it every detector
/// frame in order.
#[derive(Default)]
pub struct CameraFollower {
    previous: Option<Previous>,
    /// How far the picture's centre moved, per frame measured.
    shifts: Vec<f32>,
    /// Frames after the first where too few points agreed (taken as still).
    unmeasured: u64,
    /// Measurements in a row that found the camera still, frames passed over since the last
    /// measurement, and all frames passed over.
    still_run: u32,
    since_measured: u32,
    passed_over: u64,
}

impl std::fmt::Debug for CameraFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraFollower").field("corners", &self.previous.as_ref().map(|p| p.corners.len())).finish()
    }
}

impl CameraFollower {
    pub fn new() -> CameraFollower {
        CameraFollower::default()
    }

    /// For the report: how far the picture moved between detector frames, e.g. "median 3.1 px a
    /// frame, largest 14.9; 2 of 353 frames too uncertain to measure (taken as still)".
    pub fn summary(&self) -> String {
        let mut s = self.shifts.clone();
        s.sort_by(f32::total_cmp);
        let mut line = match s.len() {
            0 => "not measured".to_string(),
            n => format!("median {:.1} px a frame, largest {:.1}", s[n / 2], s[n - 1]),
        };
        if self.unmeasured > 0 {
            let all = self.unmeasured + s.len() as u64;
            line += &format!("; {} of {all} frames too uncertain to measure (taken as still)", self.unmeasured);
        }
        if self.passed_over > 0 {
            line += &format!("; {} frames passed over while the camera stood still", self.passed_over);
        }
        line
    }

    /// How the camera moved from the frame given last to `frame` (still for the first frame,
    /// after a change of size, or where too few points agree); `detections` are `frame`'s,
    /// whose people are left out of the next estimate.
    pub fn follow(&mut self, frame: &Frame, detections: &[Detection]) -> CameraMotion {
        if !frame.is_consistent() || frame.width < 8 || frame.height < 8 {
            self.previous = None;
            self.still_run = 0;
            return CameraMotion::STILL;
        }
        let size = (frame.width, frame.height);
        let same_size = self.previous.as_ref().is_some_and(|p| p.size == size);
        if same_size && self.still_run >= STILL_RUN && self.since_measured + 1 < STILL_EVERY {
            self.since_measured += 1;
            self.passed_over += 1;
            return CameraMotion::STILL;
        }
        self.since_measured = 0;
        let factor = frame.width.div_ceil(MAX_WIDTH).max(1) as usize;
        let levels = pyramid(Grey::of(frame, factor));
        // A pixel of the grey copy at (x, y) is centred on (f x + (f - 1) / 2) in the frame.
        let (f, c) = (factor as f32, (factor as f32 - 1.0) / 2.0);
        let motion = match &self.previous {
            Some(prev) if prev.size == size => {
                let centre = (frame.width as f32 / 2.0, frame.height as f32 / 2.0);
                let (mut p, mut q) = (Vec::new(), Vec::new());
                for &start in &prev.corners {
                    let Some(end) = follow(&prev.pyramid, &levels, start, (0.0, 0.0)) else { continue };
                    p.push((f * start.0 + c, f * start.1 + c));
                    q.push((f * end.0 + c, f * end.1 + c));
                }
                match consensus(&p, &q, INLIER_PX * f) {
                    Some(m) => {
                        let (x, y) = m.apply(centre.0, centre.1);
                        let shift = (x - centre.0).hypot(y - centre.1);
                        self.shifts.push(shift);
                        self.still_run = if shift < STILL_PX * f { self.still_run + 1 } else { 0 };
                        m
                    }
                    None => {
                        self.unmeasured += 1;
                        self.still_run = 0;
                        CameraMotion::STILL
                    }
                }
            }
            _ => {
                self.still_run = 0;
                CameraMotion::STILL
            }
        };
        // Corners are picked on the level above the grey copy where there is one (a quarter
        // of the work; Lucas-Kanade places them to a fraction of a pixel below anyway).
        let (pick, k) = match levels.get(1) {
            Some(half) => (half, 2.0),
            None => (&levels[0], 1.0),
        };
        // A pixel of `pick` at (x, y) is centred on (k f x + (k f - 1) / 2) in the frame, and
        // on (k x + (k - 1) / 2) in the grey copy.
        let (kf, kc) = (k * f, (k * f - 1.0) / 2.0);
        let mut masked = vec![false; pick.w * pick.h];
        for d in detections.iter().filter(|d| d.score >= MASK_SCORE) {
            let b = d.bbox;
            let (gx, gy) = (MASK_GROW * b.width(), MASK_GROW * b.height());
            let to_pick = |v: f32, size: usize| (((v - kc) / kf).max(0.0) as usize).min(size);
            let (x1, x2) = (to_pick(b.x1 - gx, pick.w), to_pick(b.x2 + gx + kf, pick.w));
            let (y1, y2) = (to_pick(b.y1 - gy, pick.h), to_pick(b.y2 + gy + kf, pick.h));
            for y in (x1 < x2).then_some(y1..y2).into_iter().flatten() {
                masked[y * pick.w + x1..y * pick.w + x2].fill(true);
            }
        }
        let corners = corners(pick, &masked).into_iter().map(|(x, y)| (k * x + (k - 1.0) / 2.0, k * y + (k - 1.0) / 2.0)).collect();
        self.previous = Some(Previous { pyramid: levels, corners, size });
        motion
    }
}

#[cfg(test)]
#[path = "camera_tests.rs"]
mod tests;
