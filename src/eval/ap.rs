//! Detector quality: VOC-style all-point average precision at an IoU threshold. Takes ground
//! truth and drafts as [`MotRow`]s (frames from 1), gives one [`ApResult`]. Ground-truth rows
//! with conf 0 are ignored, as MOTChallenge does for its "do not score" boxes; drafts are
//! ranked by their `conf` (the detector score).

use std::collections::HashMap;

use super::MotRow;
use crate::types::BBox;

/// AP and its counts (the fields `prelabel eval --json` has always printed).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ApResult {
    pub ap: f64,
    pub ground_truth: usize,
    pub detections: usize,
    pub true_positives: usize,
    /// Recall over all detections given.
    pub recall: f64,
}

/// Average precision of `pred` (scored by `conf`) against `gt` at `iou_threshold`.
pub fn average_precision(gt: &[MotRow], pred: &[MotRow], iou_threshold: f32) -> ApResult {
    let mut gt_by_frame: HashMap<u64, Vec<BBox>> = HashMap::new();
    for g in gt.iter().filter(|g| g.conf != 0.0) {
        gt_by_frame.entry(g.frame).or_default().push(g.bbox);
    }
    let n_gt: usize = gt_by_frame.values().map(Vec::len).sum();
    let mut matched: HashMap<u64, Vec<bool>> = gt_by_frame.iter().map(|(f, v)| (*f, vec![false; v.len()])).collect();

    let mut order: Vec<&MotRow> = pred.iter().collect();
    order.sort_by(|a, b| b.conf.total_cmp(&a.conf));
    let mut tp_flags = Vec::with_capacity(order.len());
    for p in &order {
        let mut hit = false;
        if let Some(boxes) = gt_by_frame.get(&p.frame) {
            // VOC rule: take the best-overlapping ground truth; a second hit on it is a false positive.
            let best = boxes.iter().enumerate().map(|(i, g)| (i, g.iou(&p.bbox))).max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, iou)) = best {
                let used = &mut matched.get_mut(&p.frame).expect("same keys")[i];
                if iou >= iou_threshold && !*used {
                    *used = true;
                    hit = true;
                }
            }
        }
        tp_flags.push(hit);
    }

    let (mut tp, mut fp) = (0usize, 0usize);
    let mut recall = vec![0.0];
    let mut precision = vec![0.0];
    for hit in &tp_flags {
        if *hit {
            tp += 1
        } else {
            fp += 1
        }
        recall.push(if n_gt > 0 { tp as f64 / n_gt as f64 } else { 0.0 });
        precision.push(tp as f64 / (tp + fp) as f64);
    }
    recall.push(1.0);
    precision.push(0.0);
    for i in (0..precision.len() - 1).rev() {
        precision[i] = precision[i].max(precision[i + 1]);
    }
    let ap = (1..recall.len()).map(|i| (recall[i] - recall[i - 1]) * precision[i]).sum();
    ApResult {
        ap,
        ground_truth: n_gt,
        detections: pred.len(),
        true_positives: tp,
        recall: if n_gt > 0 { tp as f64 / n_gt as f64 } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(frame: u64, x: f32, conf: f32) -> MotRow {
        MotRow { frame, id: -1, bbox: BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 }, conf }
    }

    #[test]
    fn perfect_detections_score_one() {
        let gt = vec![row(1, 0.0, 1.0), row(1, 50.0, 1.0), row(2, 0.0, 1.0)];
        let pred = vec![row(1, 0.0, 0.9), row(1, 50.0, 0.8), row(2, 1.0, 0.7)];
        assert!((average_precision(&gt, &pred, 0.5).ap - 1.0).abs() < 1e-12);
    }

    #[test]
    fn hand_computed_case() {
        // 2 ground-truth boxes. Ranked: TP (0.9), FP (0.8, duplicate of the first), TP (0.7).
        // Points (recall, precision): (0.5, 1), (0.5, 0.5), (1, 2/3).
        // Envelope: precision 1 up to recall 0.5, 2/3 up to 1 -> AP = 0.5 + 0.5 * 2/3.
        let gt = vec![row(1, 0.0, 1.0), row(1, 50.0, 1.0)];
        let pred = vec![row(1, 0.0, 0.9), row(1, 1.0, 0.8), row(1, 50.0, 0.7)];
        let r = average_precision(&gt, &pred, 0.5);
        assert!((r.ap - (0.5 + 0.5 * 2.0 / 3.0)).abs() < 1e-12, "{}", r.ap);
        assert_eq!(r.true_positives, 2);
    }

    #[test]
    fn ignored_ground_truth_and_misses() {
        // One box to find (the conf-0 one is ignored); nothing found: AP 0.
        let gt = vec![row(1, 0.0, 1.0), row(1, 50.0, 0.0)];
        let pred = vec![row(2, 0.0, 0.9)];
        let r = average_precision(&gt, &pred, 0.5);
        assert_eq!((r.ap, r.ground_truth), (0.0, 1));
    }
}
