//! Greedy non-maximum suppression on the CPU, the reference the GPU twin
//! (`postprocess::gpu::nms`) must match box for box: takes candidate detections, gives the
//! kept ones, best first. Class-aware (boxes of different classes never suppress each other)
//! or class-agnostic. Runs on the CPU.
//!
//! The order is a total one, so the result never depends on a sort's whims: score descending
//! (`f32::total_cmp`), ties broken by position in the input (a stable sort). A candidate is
//! dropped when it overlaps an already kept box (of its class, when class-aware) by an IoU
//! ([`crate::types::BBox::iou`]) strictly greater than the threshold.

use crate::types::Detection;

/// Class-aware NMS: keeps the best non-overlapping boxes per class, best first, at most
/// `max_keep` in all.
pub fn nms(candidates: Vec<Detection>, iou_threshold: f32, max_keep: usize) -> Vec<Detection> {
    nms_with(candidates, iou_threshold, max_keep, true)
}

/// NMS with the class handling chosen: `class_aware = false` lets any box suppress any other.
pub fn nms_with(mut candidates: Vec<Detection>, iou_threshold: f32, max_keep: usize, class_aware: bool) -> Vec<Detection> {
    // Stable: equal scores keep their input order (the GPU sorts by (score, input index)).
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for cand in candidates {
        if kept.len() >= max_keep {
            break;
        }
        let suppressed = kept.iter().any(|k| (!class_aware || k.class == cand.class) && k.bbox.iou(&cand.bbox) > iou_threshold);
        if !suppressed {
            kept.push(cand);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BBox;

    fn det(x1: f32, y1: f32, x2: f32, y2: f32, class: u32, score: f32) -> Detection {
        Detection { bbox: BBox { x1, y1, x2, y2 }, class, score }
    }

    #[test]
    fn hand_computed_case() {
        let out = nms(
            vec![
                det(0.0, 0.0, 10.0, 10.0, 1, 0.9),
                // IoU with the first = 90/110 = 0.818: suppressed at 0.5
                det(1.0, 0.0, 10.0, 10.0, 1, 0.8),
                // IoU with the first = 50/150 = 0.333: kept
                det(5.0, 0.0, 15.0, 10.0, 1, 0.7),
                // same place as the first but another class: kept
                det(0.0, 0.0, 10.0, 10.0, 2, 0.6),
                // far away: kept
                det(100.0, 100.0, 110.0, 110.0, 1, 0.1),
            ],
            0.5,
            100,
        );
        let scores: Vec<f32> = out.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.7, 0.6, 0.1]);
    }

    #[test]
    fn threshold_is_strict_and_max_keep_applies() {
        // IoU exactly 1/3: kept at threshold 1/3 (only strictly greater suppresses).
        let a = det(0.0, 0.0, 10.0, 10.0, 0, 0.9);
        let b = det(5.0, 0.0, 15.0, 10.0, 0, 0.8);
        assert_eq!(nms(vec![a, b], a.bbox.iou(&b.bbox), 10).len(), 2);
        assert_eq!(nms(vec![a, b], 0.3, 10).len(), 1);
        assert_eq!(nms(vec![b, a], 0.9, 1), vec![a]);
    }

    #[test]
    fn ties_keep_input_order_and_agnostic_mode_crosses_classes() {
        let a = det(0.0, 0.0, 10.0, 10.0, 1, 0.5);
        let b = det(0.0, 0.0, 10.0, 10.0, 2, 0.5);
        let c = det(1.0, 0.0, 10.0, 10.0, 1, 0.5);
        assert_eq!(nms(vec![c, a, b], 0.5, 10), vec![c, b]);
        assert_eq!(nms(vec![b, c, a], 0.5, 10), vec![b, c]);
        assert_eq!(nms_with(vec![b, c, a], 0.5, 10, false), vec![b]);
    }
}
