//! Each step on hand-made tracks whose right answer is known.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::types::{Appearance, BBox, BoxSource, Detection, Looks, ReviewBand, TrackBox};

/// A person 100 px tall walking right at `speed` px/frame, detected on `frames`.
fn walker(id: u64, x0: f32, speed: f32, frames: impl Iterator<Item = u64>) -> Track {
    let boxes = frames
        .map(|f| TrackBox {
            frame: f,
            bbox: BBox { x1: x0 + speed * f as f32, y1: 50.0, x2: x0 + speed * f as f32 + 40.0, y2: 150.0 },
            score: 0.9,
            source: BoxSource::Detected,
            keyframe: false,
            occluded: false,
        })
        .collect();
    Track { id, class: 0, boxes, mean_score: 0.9, min_score: 0.9, band: ReviewBand::Accept, stationary: false, looks: None }
}

fn only(step: Step) -> RefineConfig {
    RefineConfig { steps: [step].into_iter().collect(), ..RefineConfig::default() }
}

fn run(tracks: Vec<Track>, cfg: &RefineConfig, frames: u64) -> (Vec<Track>, RefineStats) {
    run_with(tracks, cfg, frames, &BTreeMap::new())
}

fn run_with(tracks: Vec<Track>, cfg: &RefineConfig, frames: u64, usable: &BTreeMap<u64, Vec<Detection>>) -> (Vec<Track>, RefineStats) {
    let all: BTreeSet<u64> = (0..frames).collect();
    refine(
        tracks,
        cfg,
        &VideoTiming { fps: 25.0, detector_frames: &all, usable, keyframe_iou: 0.9, frame: (640, 480), camera: &Default::default() },
    )
}

#[test]
fn stitch_joins_a_walker_split_by_an_occlusion_and_not_a_stranger() {
    // One person, hidden for frames 30..50 (0.8 s); another walking the other way.
    let a = walker(1, 0.0, 2.0, 0..30);
    let b = walker(2, 0.0, 2.0, 50..90);
    let stranger = walker(3, 400.0, -2.0, 40..90);
    let (out, stats) = run(vec![a, b, stranger], &only(Step::Stitch), 90);
    assert_eq!(stats.stitched, 1);
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].first_frame(), out[0].last_frame(), out[0].boxes.len()), (0, 89, 90));
    // the hidden frames are filled and marked as predicted
    assert_eq!(out[0].boxes[40].source, BoxSource::Predicted);
    assert!((out[0].boxes[40].bbox.x1 - 80.0).abs() < 1e-3);
}

#[test]
fn stitch_refuses_a_track_that_starts_where_the_motion_does_not_lead() {
    let a = walker(1, 0.0, 2.0, 0..30);
    let b = walker(2, 300.0, 2.0, 40..90); // 240 px (2.4 heights) off the line
    let (out, stats) = run(vec![a, b], &only(Step::Stitch), 90);
    assert_eq!((stats.stitched, out.len()), (0, 2));
}

/// Colours whose similarity to `colours(1.0)` is `alike` (mass split over two bins).
fn colours(alike: f32) -> Option<Box<Looks>> {
    let mut a = Appearance([0.0; 2 * crate::types::APPEARANCE_BINS]);
    let half = crate::types::APPEARANCE_BINS;
    for start in [0, half] {
        a.0[start] = alike * alike;
        a.0[start + 1] = 1.0 - alike * alike;
    }
    Some(Box::new(Looks { head: a.clone(), tail: a }))
}

#[test]
fn stitch_joins_over_a_long_hiding_only_colours_that_agree() {
    // One walker hidden for frames 30..80 (2 s: longer than the first pass's 1 s gap).
    let hidden = |alike: Option<f32>, long_gap_s: f32| {
        let mut a = walker(1, 0.0, 2.0, 0..30);
        let mut b = walker(2, 0.0, 2.0, 80..120);
        if let Some(alike) = alike {
            (a.looks, b.looks) = (colours(1.0), colours(alike));
        }
        let long = RefineConfig { stitch: stitch::StitchConfig { long_gap_s, ..Default::default() }, ..only(Step::Stitch) };
        run(vec![a, b], &long, 120).1.stitched
    };
    assert_eq!(hidden(Some(0.95), 3.0), 1);
    // 0.75 would do over a short gap (0.6), not over a long one (0.8)...
    assert_eq!(hidden(Some(0.75), 3.0), 0);
    // ...and without colours motion alone never joins over a long gap.
    assert_eq!(hidden(None, 3.0), 0);
    // On by default (3 s); 0 turns the second pass off.
    assert_eq!(stitch::StitchConfig::default().long_gap_s, 3.0);
    assert_eq!(hidden(Some(0.95), 0.0), 0);
}

#[test]
fn stitch_over_a_long_hiding_wants_the_same_walk_and_shape() {
    // Hidden for frames 30..60 (1.2 s: the second pass), colours alike; the second piece
    // changes how it moves or looks. 1 px a frame is 0.25 box heights a second.
    let join = |b: Track| {
        let a = Track { looks: colours(1.0), ..walker(1, 0.0, 2.0, 0..30) };
        run(vec![a, Track { looks: colours(0.95), ..b }], &only(Step::Stitch), 100).1.stitched
    };
    assert_eq!(join(walker(2, 0.0, 2.0, 60..100)), 1);
    // Stopping (a change of 0.5 heights a second, under the 0.6 allowed) or speeding up a
    // little is the same walker...
    assert_eq!(join(walker(2, 90.0, 0.0, 60..100)), 1);
    assert_eq!(join(walker(2, -90.0, 4.0, 60..100)), 1);
    // ...breaking into a run (a change of 0.75) is someone else, though both ends' motion
    // still lands on the other's box.
    assert_eq!(join(walker(2, -150.0, 5.0, 60..100)), 0);
    // A box twice as wide where the walk led (a group, not the walker) is not joined.
    let mut wide = walker(2, -20.0, 2.0, 60..100);
    for b in &mut wide.boxes {
        b.bbox.x2 += 40.0;
    }
    assert_eq!(join(wide), 0);
}

#[test]
fn dedupe_removes_a_box_inside_another_for_most_of_its_life() {
    let big = walker(1, 0.0, 1.0, 0..60);
    let mut half = walker(2, 5.0, 1.0, 10..40);
    for b in &mut half.boxes {
        b.bbox.y2 = 100.0; // the upper half of the same person
        b.bbox.x2 -= 10.0;
    }
    let other = walker(3, 200.0, 1.0, 0..60);
    let (out, stats) = run(vec![big, half, other], &only(Step::Dedupe), 60);
    assert_eq!((stats.duplicates_removed, out.len()), (1, 2));
    assert!(out.iter().all(|t| t.boxes.len() == 60));
}

#[test]
fn evidence_drops_a_flicker_and_keeps_a_steady_track() {
    let steady = walker(1, 0.0, 1.0, 0..60);
    let flicker = walker(2, 300.0, 0.0, [10, 14, 19].into_iter()); // 3 of 10 frames
    let (out, stats) = run(vec![steady, flicker], &only(Step::Evidence), 60);
    assert_eq!((stats.weak_dropped, out.len()), (1, 1));
}

#[test]
fn bridge_cuts_only_gaps_longer_than_the_limit() {
    // gaps of 0.2 s (5 frames) and 1.6 s (40 frames) at 25 fps
    let t = walker(1, 0.0, 1.0, (0..20).chain(25..50).chain(90..120));
    let (out, stats) = run(vec![t], &only(Step::Bridge), 120);
    assert_eq!(stats.cuts, 1);
    assert_eq!(out.iter().map(|t| (t.first_frame(), t.last_frame())).collect::<Vec<_>>(), [(0, 49), (90, 119)]);
}

#[test]
fn smooth_takes_out_jitter_and_keeps_a_straight_walk() {
    let clean = walker(1, 0.0, 2.0, 0..50);
    let mut noisy = clean.clone();
    for (i, b) in noisy.boxes.iter_mut().enumerate() {
        let j = if i % 2 == 0 { 3.0 } else { -3.0 };
        b.bbox.x1 += j;
        b.bbox.x2 += j;
    }
    let (out, _) = run(vec![noisy.clone()], &only(Step::Smooth), 50);
    let err = |t: &Track| t.boxes.iter().zip(&clean.boxes).map(|(a, b)| (a.bbox.x1 - b.bbox.x1).abs()).sum::<f32>();
    assert!(err(&out[0]) < err(&noisy) / 3.0, "{} vs {}", err(&out[0]), err(&noisy));
    let (straight, _) = run(vec![clean.clone()], &only(Step::Smooth), 50);
    assert!(err(&straight[0]) < 1e-2);
}

#[test]
fn static_marks_a_box_that_never_moves_and_not_a_walker() {
    let sign = walker(1, 300.0, 0.0, 0..200); // 8 s still
    let person = walker(2, 0.0, 1.0, 0..200);
    let (out, stats) = run(vec![sign, person], &only(Step::Static), 200);
    assert_eq!(stats.static_marked, 1);
    assert_eq!(out.iter().map(|t| t.stationary).collect::<Vec<_>>(), [true, false]);
}

#[test]
fn a_long_miss_cut_by_bridge_is_joined_again_by_stitch_when_the_motion_agrees() {
    // One walker missed for 0.8 s: bridge cuts (no guess through 0.8 s), stitch, seeing both
    // ends, joins the pieces again under one id.
    let t = walker(1, 0.0, 2.0, (0..30).chain(50..90));
    let cfg = RefineConfig { steps: [Step::Bridge, Step::Stitch].into_iter().collect(), ..RefineConfig::default() };
    let (out, stats) = run(vec![t], &cfg, 90);
    assert_eq!((stats.cuts, stats.stitched, out.len()), (1, 1, 1));
    assert_eq!(out[0].boxes.len(), 90);
}

#[test]
fn extend_takes_unsure_detections_where_the_motion_leads_and_nothing_else() {
    // A walker tracked on frames 10..40; the detector also saw it, unsure, on 4..10, at 40..44
    // and inside a gap at 20; a stranger far away on 5 is not taken.
    let mut t = walker(1, 0.0, 2.0, (10..20).chain(21..40));
    let unsure = walker(9, 0.0, 2.0, (4..10).chain([20]).chain(40..44));
    let mut usable: BTreeMap<u64, Vec<Detection>> = BTreeMap::new();
    for b in &unsure.boxes {
        usable.entry(b.frame).or_default().push(Detection { bbox: b.bbox, class: 0, score: 0.3 });
    }
    usable.entry(5).or_default().push(Detection { bbox: BBox { x1: 400.0, y1: 50.0, x2: 440.0, y2: 150.0 }, class: 0, score: 0.3 });
    for b in &mut t.boxes {
        usable.entry(b.frame).or_default().push(Detection { bbox: b.bbox, class: 0, score: 0.9 });
    }
    let (out, stats) = run_with(vec![t], &only(Step::Extend), 60, &usable);
    assert_eq!(stats.detections_added, 6 + 1 + 4);
    assert_eq!((out[0].first_frame(), out[0].last_frame()), (4, 43));
    assert!(out[0].boxes.iter().all(|b| b.source == BoxSource::Detected));
}

#[test]
fn no_steps_give_the_tracks_unchanged() {
    let t = vec![walker(1, 0.0, 1.0, 0..10)];
    assert_eq!(run(t.clone(), &RefineConfig::none(), 10).0, t);
}

#[test]
fn stitch_settings_saved_before_a_field_existed_read_with_its_default() {
    let old: stitch::StitchConfig = serde_json::from_str(r#"{"max_gap_s": 2.0}"#).unwrap();
    assert_eq!(old, stitch::StitchConfig { max_gap_s: 2.0, ..Default::default() });
    assert_eq!(old.long_gap_s, 3.0);
}
