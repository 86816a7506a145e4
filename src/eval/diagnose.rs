//! Where drafts lose identity and boxes: takes the scored ground truth, drafts and their CLEAR
//! matches ([`super::score`]), and optionally the detector's own boxes before tracking; gives
//! counts that point at the stage to fix. CPU.
//!
//! - identity: how many draft ids each person gets, and how many draft tracks cover two or
//!   more people (matched to each in at least one frame): the tracker's mistakes, which
//!   MOTA's switch count mixes with re-found tracks;
//! - unmatched draft boxes: *duplicate* (IoU >= the match level with a person another box
//!   already took), *loose* (best IoU with a person 0.3 up to the match level: a box the
//!   annotator adjusts rather than deletes), *on nothing*;
//! - missed people: *never detected* (no detector box on them at the match level) against
//!   *dropped* (the detector had them, tracking or refinement did not keep them). Needs the
//!   detector's boxes, from a `prelabel run --no-track` of the same video.

use std::collections::{HashMap, HashSet};

use super::clear::iou64;
use super::{FrameMatch, MotRow};

/// A draft box with less IoU than this with every person is "on nothing", not loose.
pub(crate) const LOOSE_IOU: f64 = 0.3;

#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Diagnostics {
    /// People (ground-truth ids) matched at least once.
    pub people_found: u64,
    /// Mean and largest number of draft ids a found person is matched to.
    pub ids_per_person_mean: f64,
    pub ids_per_person_max: u64,
    /// Draft tracks matched at least once, and those matched to two or more people.
    pub tracks_matched: u64,
    pub tracks_covering_several_people: u64,
    /// Draft boxes left unmatched, split three ways (they sum to it).
    pub unmatched_boxes: u64,
    pub duplicate_boxes: u64,
    pub loose_boxes: u64,
    pub boxes_on_nothing: u64,
    /// Ground-truth boxes left unmatched; with the detector's boxes, split two ways.
    pub missed_boxes: u64,
    pub missed_never_detected: Option<u64>,
    pub missed_dropped: Option<u64>,
}

impl Diagnostics {
    /// Several videos as one: counts summed, ids per person averaged over all people found.
    pub fn overall<'a>(videos: impl IntoIterator<Item = &'a Diagnostics>) -> Diagnostics {
        let mut s = Diagnostics { missed_never_detected: Some(0), missed_dropped: Some(0), ..Diagnostics::default() };
        let mut ids = 0.0;
        for v in videos {
            ids += v.ids_per_person_mean * v.people_found as f64;
            s.people_found += v.people_found;
            s.ids_per_person_max = s.ids_per_person_max.max(v.ids_per_person_max);
            s.tracks_matched += v.tracks_matched;
            s.tracks_covering_several_people += v.tracks_covering_several_people;
            s.unmatched_boxes += v.unmatched_boxes;
            s.duplicate_boxes += v.duplicate_boxes;
            s.loose_boxes += v.loose_boxes;
            s.boxes_on_nothing += v.boxes_on_nothing;
            s.missed_boxes += v.missed_boxes;
            s.missed_never_detected = s.missed_never_detected.zip(v.missed_never_detected).map(|(a, b)| a + b);
            s.missed_dropped = s.missed_dropped.zip(v.missed_dropped).map(|(a, b)| a + b);
        }
        s.ids_per_person_mean = if s.people_found == 0 { f64::NAN } else { ids / s.people_found as f64 };
        s
    }
}

/// The diagnostics of `pred` against `gt` (the rows [`super::score`] was given, in the same
/// order, and its `matches` at `iou`); `detections` are the detector's boxes of the video.
pub fn diagnose(gt: &[MotRow], pred: &[MotRow], matches: &[FrameMatch], iou: f32, detections: Option<&[MotRow]>) -> Diagnostics {
    let mut d = Diagnostics::default();
    let scored: Vec<usize> = (0..gt.len()).filter(|&i| gt[i].conf != 0.0).collect();

    let mut ids_of_person: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut people_of_track: HashMap<i64, HashSet<i64>> = HashMap::new();
    for m in matches {
        ids_of_person.entry(m.gt_id).or_default().insert(m.pred_id);
        people_of_track.entry(m.pred_id).or_default().insert(m.gt_id);
    }
    d.people_found = ids_of_person.len() as u64;
    let total: usize = ids_of_person.values().map(HashSet::len).sum();
    d.ids_per_person_mean = if total == 0 { f64::NAN } else { total as f64 / ids_of_person.len() as f64 };
    d.ids_per_person_max = ids_of_person.values().map(|s| s.len() as u64).max().unwrap_or(0);
    d.tracks_matched = people_of_track.len() as u64;
    d.tracks_covering_several_people = people_of_track.values().filter(|s| s.len() >= 2).count() as u64;

    let gt_matched: HashSet<usize> = matches.iter().map(|m| m.gt_row).collect();
    let pred_matched: HashSet<usize> = matches.iter().map(|m| m.pred_row).collect();
    let mut gt_by_frame: HashMap<u64, Vec<usize>> = HashMap::new();
    for &i in &scored {
        gt_by_frame.entry(gt[i].frame).or_default().push(i);
    }
    let level = super::decimal(iou);
    for (_, p) in pred.iter().enumerate().filter(|(j, _)| !pred_matched.contains(j)) {
        d.unmatched_boxes += 1;
        let people = gt_by_frame.get(&p.frame).map(Vec::as_slice).unwrap_or(&[]);
        let best = people.iter().map(|&i| (iou64(&gt[i].bbox, &p.bbox), i)).fold((0.0, usize::MAX), |a, b| if b.0 > a.0 { b } else { a });
        if best.0 >= level && gt_matched.contains(&best.1) {
            d.duplicate_boxes += 1;
        } else if best.0 >= LOOSE_IOU {
            d.loose_boxes += 1;
        } else {
            d.boxes_on_nothing += 1;
        }
    }

    let missed: Vec<usize> = scored.iter().copied().filter(|i| !gt_matched.contains(i)).collect();
    d.missed_boxes = missed.len() as u64;
    if let Some(dets) = detections {
        let mut det_by_frame: HashMap<u64, Vec<&MotRow>> = HashMap::new();
        for r in dets {
            det_by_frame.entry(r.frame).or_default().push(r);
        }
        let seen = |i: &usize| det_by_frame.get(&gt[*i].frame).is_some_and(|ds| ds.iter().any(|r| iou64(&r.bbox, &gt[*i].bbox) >= level));
        let dropped = missed.iter().filter(|i| seen(i)).count() as u64;
        d.missed_dropped = Some(dropped);
        d.missed_never_detected = Some(d.missed_boxes - dropped);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::score;
    use crate::types::BBox;

    fn row(frame: u64, id: i64, x: f32) -> MotRow {
        MotRow { frame, id, bbox: BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 20.0 }, conf: 1.0 }
    }

    #[test]
    fn each_kind_of_loss_is_counted_where_it_happens() {
        // Two people crossing over three frames; the draft swaps them in frame 3 (one track
        // covers both), adds a duplicate and a loose box in frame 1, a box on nothing in
        // frame 2, and misses person 2 in frame 2.
        let gt = vec![row(1, 1, 0.0), row(1, 2, 100.0), row(2, 1, 0.0), row(2, 2, 100.0), row(3, 1, 0.0), row(3, 2, 100.0)];
        let pred = vec![
            row(1, 10, 0.0),
            row(1, 20, 100.0),
            row(1, 30, 1.0),   // duplicate of person 1
            row(1, 40, 105.0), // loose on person 2 (IoU 1/3)
            row(2, 10, 0.0),
            row(2, 50, 300.0), // on nothing
            row(3, 20, 0.0),
            row(3, 10, 100.0),
        ];
        let s = score(&gt, &pred, 0.5);
        let dets = vec![row(2, 99, 100.5)];
        let d = diagnose(&gt, &pred, &s.matches, 0.5, Some(&dets));
        assert_eq!((d.people_found, d.ids_per_person_max), (2, 2));
        assert!((d.ids_per_person_mean - 2.0).abs() < 1e-12, "{d:?}");
        assert_eq!((d.tracks_matched, d.tracks_covering_several_people), (2, 2));
        assert_eq!((d.unmatched_boxes, d.duplicate_boxes, d.loose_boxes, d.boxes_on_nothing), (3, 1, 1, 1));
        assert_eq!((d.missed_boxes, d.missed_dropped, d.missed_never_detected), (1, Some(1), Some(0)));
        let none = diagnose(&gt, &pred, &s.matches, 0.5, None);
        assert_eq!(none.missed_dropped, None);
        let all = Diagnostics::overall([&d, &d]);
        assert_eq!((all.people_found, all.unmatched_boxes, all.missed_dropped), (4, 6, Some(2)));
        assert_eq!(Diagnostics::overall([&d, &none]).missed_dropped, None);
    }
}
