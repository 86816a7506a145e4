//! Unit tests of review routing (kept apart so `route/mod.rs` reads in one sitting).

use std::path::Path;

use super::*;
use crate::types::{BBox, TrackBox, VideoInfo};

fn model() -> ModelSpec {
    ModelSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ssd_mobilenet_v2_coco.toml")).unwrap()
}

/// A track of `class` starting at `first`, one box per (score, source) pair.
fn track(id: u64, class: u32, first: u64, boxes: &[(f32, BoxSource)]) -> Track {
    let boxes = boxes
        .iter()
        .enumerate()
        .map(|(i, &(score, source))| TrackBox {
            frame: first + i as u64,
            bbox: BBox { x1: 0.0, y1: 0.0, x2: 10.0, y2: 10.0 },
            score,
            source,
            keyframe: i == 0,
            occluded: source == BoxSource::Predicted,
        })
        .collect();
    // Scores and band deliberately wrong: routing recomputes them.
    Track { id, class, boxes, mean_score: 0.0, min_score: 0.0, band: ReviewBand::Accept, stationary: false, looks: None }
}

fn labels(tracks: Vec<Track>) -> VideoLabels {
    let video = VideoInfo { path: "v.mp4".into(), name: "v.mp4".into(), width: 100, height: 100, fps: 10.0, frames_hint: 20 };
    VideoLabels { video, frames: 20, tracks }
}

const D: BoxSource = BoxSource::Detected;
const P: BoxSource = BoxSource::Predicted;
const I: BoxSource = BoxSource::Interpolated;

#[test]
fn track_score_counts_detected_boxes_only() {
    let t = track(1, 1, 0, &[(0.9, D), (0.9, P), (0.9, I), (0.5, D)]);
    let (mean, min) = t.detected_scores();
    assert!((mean - 0.7).abs() < 1e-6 && (min - 0.5).abs() < 1e-6, "{mean} {min}");
}

#[test]
fn bands_per_class_and_queue_order() {
    let m = model();
    let set = LabelSet::all(&m);
    let th = Thresholds::parse(&m, &set, Levels::new(0.6, 0.3).unwrap(), &["car=0.8:0.5".into()]).unwrap();
    let input = labels(vec![
        track(1, 1, 0, &[(0.9, D), (0.7, D)]),           // person 0.8: accept
        track(2, 1, 2, &[(0.5, D), (0.5, P), (0.4, D)]), // person 0.45: review
        track(3, 1, 5, &[(0.2, D), (0.3, D)]),           // person 0.25: dropped
        track(4, 3, 0, &[(0.7, D), (0.7, D)]),           // car 0.7 < 0.8: review
        track(5, 3, 9, &[(0.45, D)]),                    // car 0.45 < 0.5: dropped
        track(6, 2, 0, &[(0.9, D)]),                     // bicycle: accept
    ]);
    let set = LabelSet::parse(&m, "person,car=vehicle").unwrap();
    let r = route(&input, &set, &th);
    let kept: Vec<(u64, ReviewBand)> = r.labels.tracks.iter().map(|t| (t.id, t.band)).collect();
    assert_eq!(kept, [(1, ReviewBand::Accept), (2, ReviewBand::Review), (4, ReviewBand::Review)]);
    assert_eq!(r.review.counts, Counts { tracks_in: 6, not_in_labels: 1, dropped: 2, review: 2, accepted: 1 });
    // Most uncertain first; labels are the project's names.
    let q: Vec<(u64, &str)> = r.review.queue.iter().map(|e| (e.track_id, e.label.as_str())).collect();
    assert_eq!(q, [(2, "person"), (4, "vehicle")]);
    let e = &r.review.queue[0];
    assert_eq!((e.first_frame, e.last_frame, e.length), (2, 4, 3));
    assert_eq!((e.mean_score, e.min_score, e.accept), (0.45, 0.4, 0.6));
    assert!((r.labels.tracks[1].mean_score - 0.45).abs() < 1e-6);
    assert_eq!(r.review.thresholds.classes.keys().collect::<Vec<_>>(), ["car"]);
}

#[test]
fn look_at_merges_runs_by_reason() {
    let t = track(7, 1, 10, &[(0.9, D), (0.4, D), (0.5, D), (0.5, P), (0.5, P), (0.9, D), (0.9, I), (0.3, D)]);
    let got: Vec<(u64, u64, &str)> = look_at(&t, 0.6, 10.0).iter().map(|r| (r.first_frame, r.last_frame, r.reason)).collect();
    assert_eq!(got, [(11, 12, "low_score"), (13, 14, "no_detection"), (17, 17, "low_score")]);
    assert_eq!(look_at(&t, 0.6, 10.0)[0].start_s, 1.1);
}

#[test]
fn threshold_flags_are_checked() {
    let m = model();
    let set = LabelSet::parse(&m, "person=pedestrian,car=vehicle,truck=vehicle").unwrap();
    let d = Levels::new(0.6, 0.2).unwrap();
    // A label name covers every class mapped to it; accept alone keeps the default drop.
    let t = Thresholds::parse(&m, &set, d, &["vehicle=0.7".into(), "pedestrian=0.5:0.1".into()]).unwrap();
    assert_eq!(t.for_class(8), Levels { accept: 0.7, drop: 0.2 });
    assert_eq!(t.for_class(1), Levels { accept: 0.5, drop: 0.1 });
    assert_eq!(t.for_class(2), d);
    // accept below the default drop lowers drop with it
    assert_eq!(Thresholds::parse(&m, &set, d, &["car=0.1".into()]).unwrap().for_class(3), Levels { accept: 0.1, drop: 0.1 });
    for bad in ["person", "person=x", "person=0.5:0.7", "person=1.5", "pedestrain=0.5"] {
        let e = Thresholds::parse(&m, &set, d, &[bad.into()]).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{bad}: {e}");
    }
    let e = Thresholds::parse(&m, &set, d, &["pedestrain=0.5".into()]).unwrap_err().to_string();
    assert!(e.contains("did you mean pedestrian"), "{e}");
    assert!(Levels::new(0.3, 0.5).is_err());
}

#[test]
fn a_stationary_track_goes_to_review_however_sure_with_one_static_range() {
    let mut t = track(1, 1, 10, &[(0.95, BoxSource::Detected); 20]);
    t.stationary = true;
    let routed = route(&labels(vec![t]), &LabelSet::all(&model()), &Thresholds::uniform(Levels { accept: 0.6, drop: 0.0 }));
    assert_eq!(routed.labels.tracks[0].band, ReviewBand::Review);
    let q = &routed.review.queue[0];
    assert_eq!((q.look_at.len(), q.look_at[0].reason, q.look_at[0].first_frame, q.look_at[0].last_frame), (1, "static", 10, 29));
}
