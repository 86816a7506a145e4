//! Constant-velocity Kalman filter for one track's box, as in ByteTrack / DeepSORT: state
//! (centre x, centre y, aspect w/h, height) plus their velocities in pixels per frame, noise
//! scaled by the box height. Takes measured boxes, gives predicted boxes. CPU.
//!
//! With ByteTrack's diagonal noise model the 8-state filter splits exactly into four
//! independent (position, velocity) filters: the transition only couples a coordinate with its
//! own velocity, the measurement only sees positions, and every covariance starts and stays
//! block-diagonal. So each coordinate keeps a 2x2 covariance and no matrix inverse is needed.

use crate::types::{BBox, CameraMotion};

const STD_POSITION: f32 = 1.0 / 20.0;
const STD_VELOCITY: f32 = 1.0 / 160.0;

/// One coordinate: value, velocity and their 2x2 covariance `[pp, pv, vv]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    p: f32,
    v: f32,
    cov: [f32; 3],
}

impl Axis {
    fn new(p: f32, std_p: f32, std_v: f32) -> Axis {
        Axis { p, v: 0.0, cov: [std_p * std_p, 0.0, std_v * std_v] }
    }

    /// One frame forward: `p += v`, covariance `F P F' + Q`.
    fn predict(&mut self, q_p: f32, q_v: f32) {
        let [pp, pv, vv] = self.cov;
        self.p += self.v;
        self.cov = [pp + 2.0 * pv + vv + q_p, pv + vv, vv + q_v];
    }

    /// Folds in a measurement `z` of the position with variance `r`.
    fn update(&mut self, z: f32, r: f32) {
        let [pp, pv, vv] = self.cov;
        let s = pp + r;
        let (k0, k1) = (pp / s, pv / s);
        let y = z - self.p;
        self.p += k0 * y;
        self.v += k1 * y;
        self.cov = [pp - k0 * pp, pv - k0 * pv, vv - k1 * pv];
    }
}

/// The filter state of one track.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Kalman {
    /// x, y, aspect, height.
    axes: [Axis; 4],
}

fn to_xyah(b: &BBox) -> [f32; 4] {
    let h = b.height().max(1e-3);
    [(b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0, b.width() / h, h]
}

impl Kalman {
    pub fn new(b: &BBox) -> Kalman {
        let m = to_xyah(b);
        let h = m[3];
        let (sp, sv) = (2.0 * STD_POSITION * h, 10.0 * STD_VELOCITY * h);
        Kalman { axes: [Axis::new(m[0], sp, sv), Axis::new(m[1], sp, sv), Axis::new(m[2], 1e-2, 1e-5), Axis::new(m[3], sp, sv)] }
    }

    /// Advances the state by `frames` frames (the detector may skip frames with `--stride`).
    pub fn predict(&mut self, frames: u64) {
        for _ in 0..frames {
            let h = self.axes[3].p.max(1e-3);
            let (qp, qv) = ((STD_POSITION * h).powi(2), (STD_VELOCITY * h).powi(2));
            for (i, a) in self.axes.iter_mut().enumerate() {
                if i == 2 {
                    a.predict(1e-4, 1e-10);
                } else {
                    a.predict(qp, qv);
                }
            }
        }
    }

    pub fn update(&mut self, b: &BBox) {
        let z = to_xyah(b);
        let h = self.axes[3].p.max(1e-3);
        let r = (STD_POSITION * h).powi(2);
        for (i, a) in self.axes.iter_mut().enumerate() {
            a.update(z[i], if i == 2 { 1e-2 } else { r });
        }
    }

    /// Moves the state with the camera: the box's centre goes where the background under it
    /// went, its height and speeds scale and turn with the picture (the aspect does not change).
    pub fn follow_camera(&mut self, m: &CameraMotion) {
        let [x, y, _, h] = &mut self.axes;
        (x.p, y.p) = m.apply(x.p, y.p);
        (x.v, y.v) = m.turn(x.v, y.v);
        let s = m.scale();
        h.p *= s;
        h.v *= s;
        for a in [x, y, h] {
            a.cov = a.cov.map(|c| c * s * s);
        }
    }

    /// The current box estimate.
    pub fn bbox(&self) -> BBox {
        let [x, y, a, h] = self.axes.map(|a| a.p);
        let h = h.max(0.0);
        let w = (a * h).max(0.0);
        BBox { x1: x - w / 2.0, y1: y - h / 2.0, x2: x + w / 2.0, y2: y + h / 2.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x: f32, y: f32) -> BBox {
        BBox { x1: x, y1: y, x2: x + 40.0, y2: y + 100.0 }
    }

    #[test]
    fn learns_a_constant_velocity_and_extrapolates_it() {
        let mut k = Kalman::new(&bx(0.0, 50.0));
        for t in 1..30 {
            k.predict(1);
            k.update(&bx(3.0 * t as f32, 50.0));
        }
        k.predict(10);
        let b = k.bbox();
        // last measurement at x=87, ten frames of 3 px/frame on
        assert!((b.x1 - 117.0).abs() < 2.0, "{b:?}");
        assert!((b.y1 - 50.0).abs() < 1.0 && (b.height() - 100.0).abs() < 1.0 && (b.width() - 40.0).abs() < 1.0);
    }

    #[test]
    fn predicting_n_frames_at_once_equals_n_single_steps() {
        let mut a = Kalman::new(&bx(10.0, 10.0));
        a.predict(1);
        a.update(&bx(14.0, 12.0));
        let mut b = a.clone();
        a.predict(7);
        for _ in 0..7 {
            b.predict(1);
        }
        assert_eq!(a, b);
    }
}
