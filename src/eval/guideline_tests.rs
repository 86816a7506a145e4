//! Profiles learned from synthetic guidelines: drafts from a simulated detector, corrected
//! videos made from them by a known rule; the rule must come back, and a tiny sample must
//! learn nothing.

use super::*;
use crate::types::BBox;

/// A walk of `people` people over `frames` frames: person k stands at a height from 30 to
/// 170 px (different per person), with a little jitter, and the detector draws every box
/// `shrink` of the true height, cut at the bottom (the feet hidden).
fn scene(people: i64, frames: u64) -> (Vec<MotRow>, Vec<MotRow>) {
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut truth, mut drafts) = (Vec::new(), Vec::new());
    for k in 0..people {
        let h = 30.0 + 140.0 * k as f32 / (people - 1).max(1) as f32;
        let w = h * 0.4;
        for f in 1..=frames {
            let x = 20.0 + k as f32 * 90.0 + f as f32 * 0.5;
            let y = 400.0 - h;
            let t = BBox { x1: x, y1: y, x2: x + w, y2: y + h };
            truth.push(MotRow { frame: f, id: k + 1, bbox: t, conf: 1.0 });
            let mut j = || rng.f32() * 2.0 - 1.0;
            let d = BBox { x1: t.x1 + j(), y1: t.y1 + j(), x2: t.x2 + j(), y2: t.y2 - 0.1 * h + j() };
            drafts.push(MotRow { frame: f, id: 100 + k, bbox: d, conf: 0.8 });
        }
    }
    (truth, drafts)
}

fn sample(truth: Vec<MotRow>, drafts: Vec<MotRow>) -> Sample {
    Sample {
        name: "synthetic".into(),
        gt: GroundTruth::mot15(truth),
        track_scores: drafts.iter().map(|r| (r.id, 0.8)).collect(),
        pred: drafts,
        hidden: HashSet::new(),
        fps: None,
    }
}

#[test]
fn recovers_a_synthetic_guideline() {
    let (truth, drafts) = scene(12, 60);
    // The guideline: people under 60 px are not labelled; boxes reach the feet, which the
    // detector leaves out (drafts are 10% of the height short at the bottom).
    let truth: Vec<MotRow> = truth.into_iter().filter(|r| r.bbox.height() >= 60.0).collect();
    let s = vec![sample(truth, drafts)];
    let params = Params::default();
    let learned = learn(&s, None, (0, 0), &params);
    let p = &learned.profile;
    // Drafts of a 60 px person are 54 px: each person's drafts are kept or not as the
    // guideline keeps the person (persons 0-2 are under 60 px, 3 and up are not).
    let drafts_of = |k: i64| s[0].pred.iter().filter(move |r| r.id == 100 + k);
    for k in 0..12 {
        let kept = drafts_of(k).filter(|r| p.keeps(&r.bbox)).count();
        assert_eq!(kept, if k < 3 { 0 } else { 60 }, "person {k}: {p:?}");
    }
    // Geometry: the bottom moves down by 0.1 / 0.9 of the draft's height, the others stay.
    assert!(!p.geometry.is_empty(), "geometry learned: {:?}", learned.notes);
    for g in &p.geometry {
        assert!((g.bottom - 0.111).abs() < 0.02, "bottom {}", g.bottom);
        for side in [g.left, g.right, g.top] {
            assert!(side.abs() < 0.02, "{g:?}");
        }
    }
    // What it saves, part by part: fewer errors and less time than no profile.
    let parts = parts(&s, p, &params);
    let (none, all) = (parts[0].1, parts.last().unwrap().1);
    assert!(all.errors() + 100 < none.errors(), "{none:?} -> {all:?}");
    assert!(all.drafts_hours < none.drafts_hours);
    assert!(all.mota() > 0.95, "{all:?}");
}

#[test]
fn three_corrected_boxes_learn_nothing() {
    let (truth, drafts) = scene(3, 1);
    let truth: Vec<MotRow> = truth
        .into_iter()
        .map(|mut r| {
            r.bbox.y2 += 20.0;
            r
        })
        .collect();
    let s = vec![sample(truth, drafts)];
    let learned = learn(&s, Some((0.7, 0.4)), (3, 3), &Params::default());
    let p = &learned.profile;
    assert_eq!(p.corrected_boxes, Some(3));
    assert!(!p.changes_boxes() && p.accept.is_none() && p.drop.is_none(), "{p:?}");
    assert!(learned.notes[0].contains("only 3 corrected boxes"), "{:?}", learned.notes);
}

#[test]
fn a_part_that_does_not_help_is_left_out() {
    // Drafts already drawn as the guideline draws them, everyone labelled: nothing to learn.
    let (truth, _) = scene(8, 40);
    let drafts: Vec<MotRow> = truth.iter().map(|r| MotRow { id: r.id + 100, conf: 0.8, ..*r }).collect();
    let s = vec![sample(truth, drafts)];
    let learned = learn(&s, None, (0, 0), &Params::default());
    assert!(!learned.profile.changes_boxes(), "{:?}", learned.profile);
    assert!(learned.notes.iter().any(|n| n.starts_with("smallest box")), "{:?}", learned.notes);
}

#[test]
fn hidden_runs_split_tracks() {
    // One track, detected at frames 1-5 and 16-20, predicted between (hidden); the corrected
    // video does not label the person while hidden.
    let b = BBox { x1: 0.0, y1: 0.0, x2: 40.0, y2: 100.0 };
    let drafts: Vec<MotRow> = (1..=20).map(|f| MotRow { frame: f, id: 1, bbox: b, conf: 0.9 }).collect();
    let mut s = sample(Vec::new(), drafts);
    s.hidden = (6..=15).map(|f| (f, 1)).collect();
    s.fps = Some(10.0);
    let p = ClassProfile { max_hidden_s: Some(0.5), ..Default::default() };
    let rows = apply_rows(&s, &p);
    assert_eq!(rows.len(), 10);
    let ids: HashSet<i64> = rows.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 2, "split in two");
    let p = ClassProfile { max_hidden_s: Some(1.0), ..Default::default() };
    assert_eq!(apply_rows(&s, &p).len(), 20, "10 hidden frames at 10 fps are kept at 1 s");
}
