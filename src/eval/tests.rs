//! Hand-built cases for [`super::score`] whose counts are known (checked against motmetrics'
//! rules by hand; `tests/eval_motmetrics.rs` checks against motmetrics itself).

use super::*;
use crate::types::BBox;

/// A 10x10 box at (x, y).
fn r(frame: u64, id: i64, x: f32, y: f32) -> MotRow {
    MotRow { frame, id, bbox: BBox { x1: x, y1: y, x2: x + 10.0, y2: y + 10.0 }, conf: 1.0 }
}

#[test]
fn perfect_tracks() {
    let gt: Vec<MotRow> = (1..=5).flat_map(|f| [r(f, 1, 0.0, 0.0), r(f, 2, 50.0, 0.0)]).collect();
    let pred: Vec<MotRow> = gt.iter().map(|g| MotRow { id: g.id + 100, ..*g }).collect();
    let s = score(&gt, &pred, 0.5);
    assert_eq!((s.mota, s.idf1, s.motp), (1.0, 1.0, 0.0));
    assert_eq!((s.counts.num_matches, s.counts.num_switches, s.counts.mostly_tracked), (10, 0, 2));
    assert_eq!(s.matches.len(), 10);
    assert!(s.matches.iter().all(|m| m.pred_id == m.gt_id + 100 && m.iou == 1.0));
}

#[test]
fn id_switch() {
    // One person, frames 1-4; the draft changes id after frame 2.
    let gt: Vec<MotRow> = (1..=4).map(|f| r(f, 1, 0.0, 0.0)).collect();
    let pred: Vec<MotRow> = (1..=4).map(|f| r(f, if f <= 2 { 10 } else { 11 }, 1.0, 0.0)).collect();
    let s = score(&gt, &pred, 0.5);
    assert_eq!((s.counts.num_switches, s.counts.num_matches, s.counts.num_misses, s.counts.num_false_positives), (1, 3, 0, 0));
    assert!((s.mota - 0.75).abs() < 1e-12);
    // Only one draft id can own the person: 2 of 4 boxes.
    assert_eq!((s.counts.idtp, s.counts.idfp, s.counts.idfn), (2, 2, 2));
    assert!((s.idf1 - 0.5).abs() < 1e-12);
    assert!(s.matches[2].switch && !s.matches[3].switch);
}

#[test]
fn fragmentation_and_sticky_match() {
    // Frames 1-6: matched, matched, lost (draft too far), matched, missing draft, matched.
    let gt: Vec<MotRow> = (1..=6).map(|f| r(f, 1, 0.0, 0.0)).collect();
    let xs = [(1, 0.0), (2, 1.0), (3, 8.0), (4, 0.0), (6, 1.0)];
    let pred: Vec<MotRow> = xs.iter().map(|&(f, x)| r(f, 7, x, 0.0)).collect();
    let s = score(&gt, &pred, 0.5);
    assert_eq!((s.counts.num_misses, s.counts.num_false_positives, s.counts.num_fragmentations), (2, 1, 2));
    assert_eq!(s.counts.num_switches, 0);
    assert_eq!((s.counts.partially_tracked, s.counts.mostly_tracked), (1, 0), "4 of 6 frames");
}

#[test]
fn false_track_and_missed_track() {
    let gt: Vec<MotRow> = (1..=3).flat_map(|f| [r(f, 1, 0.0, 0.0), r(f, 2, 100.0, 0.0)]).collect();
    let mut pred: Vec<MotRow> = (1..=3).map(|f| r(f, 5, 0.0, 0.0)).collect();
    pred.extend((1..=3).map(|f| r(f, 6, 300.0, 300.0)));
    let s = score(&gt, &pred, 0.5);
    assert_eq!((s.counts.num_false_positives, s.counts.num_misses, s.counts.mostly_lost), (3, 3, 1));
    assert!((s.mota - 0.0).abs() < 1e-12);
    assert!((s.precision - 0.5).abs() < 1e-12 && (s.recall - 0.5).abs() < 1e-12);
}

#[test]
fn loose_box_is_a_miss_and_a_false_positive() {
    // IoU 6/14 = 0.43 < 0.5.
    let s = score(&[r(1, 1, 0.0, 0.0)], &[r(1, 2, 4.0, 0.0)], 0.5);
    assert_eq!((s.counts.num_misses, s.counts.num_false_positives, s.counts.num_detections), (1, 1, 0));
    let s = score(&[r(1, 1, 0.0, 0.0)], &[r(1, 2, 4.0, 0.0)], 0.4);
    assert_eq!(s.counts.num_detections, 1);
    assert!((s.motp - (1.0 - 6.0 / 14.0)).abs() < 1e-6);
}

#[test]
fn most_pairs_first_then_least_distance() {
    // X fits A best, but taking A-X leaves B alone; Y fits only A. Two pairs beat one.
    let gt = [r(1, 1, 0.0, 0.0), r(1, 2, 5.0, 0.0)];
    let pred = [r(1, 10, 2.0, 0.0), r(1, 11, -3.0, 0.0)];
    let s = score(&gt, &pred, 0.5);
    assert_eq!(s.counts.num_matches, 2);
    let pairs: Vec<(i64, i64)> = s.matches.iter().map(|m| (m.gt_id, m.pred_id)).collect();
    assert_eq!(pairs, [(1, 11), (2, 10)]);
}

#[test]
fn crossing_people_keep_their_last_match() {
    // Two people cross: at frame 2 each draft is closer to the other person, but both old
    // pairs are still valid, so motmetrics keeps them: no switch.
    let gt = [r(1, 1, 0.0, 0.0), r(1, 2, 4.0, 0.0), r(2, 1, 0.0, 0.0), r(2, 2, 3.0, 0.0)];
    let pred = [r(1, 10, 0.0, 0.0), r(1, 11, 4.0, 0.0), r(2, 10, 2.0, 0.0), r(2, 11, 1.0, 0.0)];
    let s = score(&gt, &pred, 0.5);
    assert_eq!((s.counts.num_switches, s.counts.num_matches), (0, 4));
    // Once the old pairs are invalid they swap: two switches.
    let gt2 = [&gt[..], &[r(3, 1, 0.0, 0.0), r(3, 2, 20.0, 0.0)]].concat();
    let pred2 = [&pred[..], &[r(3, 10, 20.0, 0.0), r(3, 11, 0.0, 0.0)]].concat();
    let s = score(&gt2, &pred2, 0.5);
    assert_eq!(s.counts.num_switches, 2);
}

#[test]
fn ignored_ground_truth_and_overall() {
    let mut gt = vec![r(1, 1, 0.0, 0.0), r(1, 2, 50.0, 0.0)];
    gt[1].conf = 0.0;
    let a = score(&gt, &[r(1, 9, 0.0, 0.0)], 0.5);
    assert_eq!((a.counts.num_objects, a.mota), (1, 1.0));
    assert_eq!(a.matches[0].gt_row, 0);
    let b = score(&[r(1, 1, 0.0, 0.0)], &[], 0.5);
    let all = TrackScores::overall([&a, &b]);
    assert_eq!((all.counts.num_objects, all.counts.num_misses), (2, 1));
    assert!((all.mota - 0.5).abs() < 1e-12 && (all.idf1 - 2.0 / 3.0).abs() < 1e-12);
    assert!(score(&[], &[], 0.5).mota.is_nan());
}
