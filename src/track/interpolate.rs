//! Dense boxes from sparse ones: takes a track's matched detections and the frames the detector
//! ran on, gives one box per frame from the track's first detection to its last. CPU.
//!
//! Frames between two detections are filled by linear interpolation between them. Once both
//! ends of a gap are known this is the constant-velocity estimate with hindsight, and it is
//! closer to the truth than the Kalman prediction made before the object reappeared (which
//! can only extrapolate). A filled frame the detector ran on is `Predicted` (the detector saw
//! nothing there: occluded); one it skipped (`--stride`) is `Interpolated`.

use crate::types::{BBox, BoxSource, TrackBox};

/// Linear blend: `a` at `t = 0`, `b` at `t = 1`.
pub(crate) fn lerp(a: &BBox, b: &BBox, t: f32) -> BBox {
    let m = |p: f32, q: f32| p + (q - p) * t;
    BBox { x1: m(a.x1, b.x1), y1: m(a.y1, b.y1), x2: m(a.x2, b.x2), y2: m(a.y2, b.y2) }
}

/// `detections`: (frame, box, score) in increasing frame order, at least one.
/// `is_detector_frame(f)`: whether the detector ran on frame `f`.
/// Keyframes are left unset (see `keyframes`).
pub(crate) fn densify(detections: &[(u64, BBox, f32)], is_detector_frame: impl Fn(u64) -> bool) -> Vec<TrackBox> {
    let Some(&(first, b0, s0)) = detections.first() else { return Vec::new() };
    let mut out = vec![TrackBox { frame: first, bbox: b0, score: s0, source: BoxSource::Detected, keyframe: false, occluded: false }];
    for pair in detections.windows(2) {
        let ((fa, ba, sa), (fb, bb, sb)) = (pair[0], pair[1]);
        let gap = fb - fa;
        // Whether the object was seen by the detector anywhere inside this gap decides occlusion
        // of the skipped frames: hidden only if every detector frame in between missed it.
        let missed_inside = (fa + 1..fb).any(&is_detector_frame);
        for f in fa + 1..fb {
            let t = (f - fa) as f32 / gap as f32;
            let predicted = is_detector_frame(f);
            // The nearest detected box lends its score; ties go to the earlier one.
            let score = if f - fa <= fb - f { sa } else { sb };
            out.push(TrackBox {
                frame: f,
                bbox: lerp(&ba, &bb, t),
                score,
                source: if predicted { BoxSource::Predicted } else { BoxSource::Interpolated },
                keyframe: false,
                occluded: predicted || (missed_inside && between_misses(f, fa, fb, &is_detector_frame)),
            });
        }
        out.push(TrackBox { frame: fb, bbox: bb, score: sb, source: BoxSource::Detected, keyframe: false, occluded: false });
    }
    out
}

/// For a skipped frame `f` inside the gap `(fa, fb)`: is it enclosed by detector frames that
/// missed the object on both sides (so the object was hidden before and after it)?
fn between_misses(f: u64, fa: u64, fb: u64, is_detector_frame: &impl Fn(u64) -> bool) -> bool {
    let before = (fa + 1..f).any(is_detector_frame);
    let after = (f + 1..fb).any(is_detector_frame);
    before && after
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32) -> BBox {
        BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 20.0 }
    }

    #[test]
    fn fills_gaps_linearly_and_labels_the_source() {
        // stride 2: detector on even frames; detections at 0, 2 and 8 (missed at 4 and 6)
        let dets = [(0, b(0.0), 0.9), (2, b(4.0), 0.8), (8, b(16.0), 0.6)];
        let boxes = densify(&dets, |f| f % 2 == 0);
        let frames: Vec<u64> = boxes.iter().map(|x| x.frame).collect();
        assert_eq!(frames, (0..=8).collect::<Vec<_>>());
        use BoxSource::*;
        let src: Vec<BoxSource> = boxes.iter().map(|x| x.source).collect();
        assert_eq!(src, [Detected, Interpolated, Detected, Interpolated, Predicted, Interpolated, Predicted, Interpolated, Detected]);
        for (i, x) in boxes.iter().enumerate() {
            assert!((x.bbox.x1 - 2.0 * i as f32).abs() < 1e-4, "frame {i}: {:?}", x.bbox);
        }
        let occ: Vec<bool> = boxes.iter().map(|x| x.occluded).collect();
        assert_eq!(occ, [false, false, false, false, true, true, true, false, false]);
        // scores come from the nearest detection
        assert_eq!(boxes[1].score, 0.9);
        assert_eq!(boxes[4].score, 0.8);
        assert_eq!(boxes[6].score, 0.6);
    }

    #[test]
    fn a_single_detection_is_a_single_box() {
        let boxes = densify(&[(5, b(1.0), 0.5)], |_| true);
        assert_eq!(boxes.len(), 1);
        assert_eq!((boxes[0].frame, boxes[0].source), (5, BoxSource::Detected));
    }
}
