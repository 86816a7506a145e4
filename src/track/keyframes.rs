//! Keyframes: takes a track's dense boxes, marks the few a human would have to place so that
//! linear interpolation between consecutive keyframes (what CVAT and Label Studio do between
//! keyframes) reproduces every box of the track within a tolerance. CPU.
//!
//! Douglas-Peucker on boxes: a segment between two keyframes is kept if every box inside is
//! within IoU `min_iou` of the interpolated one; otherwise the worst box becomes a keyframe and
//! both halves are checked again. The first and last boxes are always keyframes, and so is every
//! box where `occluded` changes, since tools carry such attributes from one keyframe onwards.

use super::interpolate::lerp;
use crate::types::TrackBox;

/// IoU every box must keep with its interpolation between keyframes, unless told otherwise.
pub(crate) const DEFAULT_MIN_IOU: f32 = 0.9;

/// Sets `keyframe` on `boxes` (dense, consecutive frames, one track) and clears it elsewhere.
pub(crate) fn mark_keyframes(boxes: &mut [TrackBox], min_iou: f32) {
    let n = boxes.len();
    if n == 0 {
        return;
    }
    for b in boxes.iter_mut() {
        b.keyframe = false;
    }
    let mut forced: Vec<usize> = vec![0];
    forced.extend((1..n).filter(|&i| boxes[i].occluded != boxes[i - 1].occluded));
    if n > 1 {
        forced.push(n - 1);
    }
    forced.dedup();
    for &k in &forced {
        boxes[k].keyframe = true;
    }
    // Explicit stack instead of recursion: tracks can be tens of thousands of frames long.
    let mut stack: Vec<(usize, usize)> = forced.windows(2).map(|w| (w[0], w[1])).collect();
    while let Some((a, b)) = stack.pop() {
        if let Some(worst) = worst_box(boxes, a, b, min_iou) {
            boxes[worst].keyframe = true;
            stack.push((a, worst));
            stack.push((worst, b));
        }
    }
}

/// The box strictly between `a` and `b` farthest from its interpolation, if any is reproduced
/// with IoU below `min_iou`. Farthest by coordinates, not by IoU: IoU saturates at 0 for every
/// box far off the line, and the split must land at the turn, not at the first bad box.
fn worst_box(boxes: &[TrackBox], a: usize, b: usize, min_iou: f32) -> Option<usize> {
    let (ba, bb) = (boxes[a].bbox, boxes[b].bbox);
    let mut worst: Option<(usize, f32)> = None;
    let mut any_bad = false;
    for (i, bx) in boxes.iter().enumerate().take(b).skip(a + 1) {
        let guess = lerp(&ba, &bb, (i - a) as f32 / (b - a) as f32);
        let actual = bx.bbox;
        // Two empty boxes at the same place are reproduced exactly, though their IoU is 0.
        any_bad |= guess != actual && guess.iou(&actual) < min_iou;
        let err = (guess.x1 - actual.x1).abs() + (guess.y1 - actual.y1).abs() + (guess.x2 - actual.x2).abs() + (guess.y2 - actual.y2).abs();
        if worst.is_none_or(|(_, w)| err > w) {
            worst = Some((i, err));
        }
    }
    worst.filter(|_| any_bad).map(|(i, _)| i)
}

/// What a tool rebuilds from the keyframes alone: every box linearly interpolated between the
/// keyframes around it (keyframes themselves as they are). The tests check keyframes with it.
#[cfg(test)]
pub(crate) fn replay(boxes: &[TrackBox]) -> Vec<crate::types::BBox> {
    let keys: Vec<usize> = (0..boxes.len()).filter(|&i| boxes[i].keyframe).collect();
    let mut out = Vec::with_capacity(boxes.len());
    for (i, b) in boxes.iter().enumerate() {
        let after = keys.partition_point(|&k| k < i);
        out.push(match (after.checked_sub(1).map(|p| keys[p]), keys.get(after)) {
            (_, Some(&k)) if k == i => b.bbox,
            (Some(a), Some(&c)) => lerp(&boxes[a].bbox, &boxes[c].bbox, (i - a) as f32 / (c - a) as f32),
            _ => b.bbox,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BBox, BoxSource};
    use proptest::prelude::*;

    fn tb(frame: u64, x: f32, y: f32) -> TrackBox {
        TrackBox {
            frame,
            bbox: BBox { x1: x, y1: y, x2: x + 30.0, y2: y + 80.0 },
            score: 0.9,
            source: BoxSource::Detected,
            keyframe: false,
            occluded: false,
        }
    }

    fn keys(boxes: &[TrackBox]) -> Vec<u64> {
        boxes.iter().filter(|b| b.keyframe).map(|b| b.frame).collect()
    }

    #[test]
    fn a_straight_line_needs_two_keyframes() {
        let mut boxes: Vec<_> = (0..100).map(|f| tb(f, 3.0 * f as f32, 10.0 + 0.5 * f as f32)).collect();
        mark_keyframes(&mut boxes, DEFAULT_MIN_IOU);
        assert_eq!(keys(&boxes), [0, 99]);
    }

    #[test]
    fn a_turn_gets_a_keyframe_at_the_turn() {
        // right for 50 frames, then down
        let mut boxes: Vec<_> =
            (0..100).map(|f| if f <= 50 { tb(f, 3.0 * f as f32, 0.0) } else { tb(f, 150.0, 3.0 * (f - 50) as f32) }).collect();
        mark_keyframes(&mut boxes, DEFAULT_MIN_IOU);
        assert_eq!(keys(&boxes), [0, 50, 99]);
    }

    #[test]
    fn occlusion_changes_are_keyframes_and_singletons_work() {
        let mut boxes: Vec<_> = (0..10).map(|f| tb(f, 0.0, 0.0)).collect();
        for b in &mut boxes[4..7] {
            b.occluded = true;
        }
        mark_keyframes(&mut boxes, DEFAULT_MIN_IOU);
        assert_eq!(keys(&boxes), [0, 4, 7, 9]);
        let mut one = vec![tb(3, 1.0, 1.0)];
        mark_keyframes(&mut one, DEFAULT_MIN_IOU);
        assert_eq!(keys(&one), [3]);
    }

    proptest! {
        #[test]
        fn replaying_keyframes_reproduces_every_box(
            steps in prop::collection::vec((-8.0f32..8.0, -8.0f32..8.0, -2.0f32..2.0), 1..200),
            min_iou in 0.5f32..0.98,
        ) {
            // a random walk of a box whose size also drifts
            let mut boxes = Vec::new();
            let (mut x, mut y, mut h) = (100.0f32, 100.0f32, 80.0f32);
            for (f, (dx, dy, dh)) in steps.iter().enumerate() {
                x += dx; y += dy; h = (h + dh).max(10.0);
                let mut b = tb(f as u64, x, y);
                b.bbox.y2 = y + h;
                boxes.push(b);
            }
            mark_keyframes(&mut boxes, min_iou);
            prop_assert!(boxes[0].keyframe && boxes[boxes.len() - 1].keyframe);
            for (b, r) in boxes.iter().zip(replay(&boxes)) {
                prop_assert!(r.iou(&b.bbox) >= min_iou - 1e-5, "frame {}: {:?} vs {:?}", b.frame, r, b.bbox);
            }
        }
    }
}
