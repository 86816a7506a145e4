//! Class-aware greedy non-maximum suppression on the CPU: within each class, a box is dropped
//! when it overlaps a higher-scoring kept box by more than `iou_threshold`.

use crate::types::Detection;

/// Keeps the best non-overlapping boxes per class, best first, at most `max_keep` in all.
pub fn nms(mut candidates: Vec<Detection>, iou_threshold: f32, max_keep: usize) -> Vec<Detection> {
    // Ties broken by position so the result never depends on the sort's stability.
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.class.cmp(&b.class))
            .then(a.bbox.x1.total_cmp(&b.bbox.x1))
            .then(a.bbox.y1.total_cmp(&b.bbox.y1))
    });
    let mut kept: Vec<Detection> = Vec::new();
    for cand in candidates {
        if kept.len() >= max_keep {
            break;
        }
        let suppressed = kept.iter().any(|k| k.class == cand.class && k.bbox.iou(&cand.bbox) > iou_threshold);
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
}
