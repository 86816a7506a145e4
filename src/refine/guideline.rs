//! The calibration step (`prelabel run --calibration FILE`): takes a video's refined tracks
//! (sparse) and a [`super::profile::Profile`] resolved to model classes
//! ([`super::RefineConfig::guideline`]), gives the tracks as the client's guideline draws
//! them. Runs after every other refine step, before routing, and only with a profile: without
//! one nothing here runs.
//!
//! Per track of a class the profile names, on its detected boxes ([`Sparse`]):
//! 1. `max_hidden_s`: where the detector did not see it for longer, the track is split in two
//!    (the guideline stops labelling a person hidden that long);
//! 2. `min_height`, `min_height_by_row`: detected boxes the guideline would not label are
//!    trimmed from the track's start and end (a track never big enough goes entirely);
//!    boxes inside the track stay, so a person is not cut in pieces by one small box;
//! 3. `geometry`: each remaining box has its sides moved, kept inside the frame.
//!
//! The tracks are then filled frame by frame and their keyframes placed again with the rest
//! of refine's output.
//! The review levels of the profile are routing's (`cli` merges them into `--thresholds`).

use std::collections::BTreeMap;

use super::profile::ClassProfile;
use super::Sparse;

/// What the step changed, for the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GuidelineStats {
    pub split: usize,
    pub boxes_trimmed: usize,
    pub tracks_dropped: usize,
    pub boxes_corrected: usize,
}

impl GuidelineStats {
    pub(crate) fn is_zero(&self) -> bool {
        *self == GuidelineStats::default()
    }
}

/// Applies `classes` (model class -> its profile) to the sparse tracks; tracks of other
/// classes pass unchanged. `fps` turns seconds into frames; boxes are kept inside `frame`
/// (width, height; (0, 0): unknown).
pub(crate) fn apply(sparse: &mut Vec<Sparse>, classes: &BTreeMap<u32, ClassProfile>, fps: f32, frame: (u32, u32)) -> GuidelineStats {
    let mut stats = GuidelineStats::default();
    if !classes.values().any(ClassProfile::changes_boxes) {
        return stats;
    }
    let (w, h) = (frame.0 as f32, frame.1 as f32);
    let mut out: Vec<Sparse> = Vec::with_capacity(sparse.len());
    for s in std::mem::take(sparse) {
        let Some(p) = classes.get(&s.class) else {
            out.push(s);
            continue;
        };
        let pieces = split_hidden(s, p.max_hidden_frames(fps));
        stats.split += pieces.len().saturating_sub(1);
        for mut s in pieces {
            let n = s.dets.len();
            let Some(first) = s.dets.iter().position(|d| p.keeps(&d.1)) else {
                stats.tracks_dropped += 1;
                stats.boxes_trimmed += n;
                continue;
            };
            let last = s.dets.iter().rposition(|d| p.keeps(&d.1)).unwrap_or(first);
            s.dets.truncate(last + 1);
            s.dets.drain(..first);
            stats.boxes_trimmed += n - s.dets.len();
            for d in &mut s.dets {
                let c = p.correct(&d.1);
                if c != d.1 {
                    stats.boxes_corrected += 1;
                }
                d.1 = if w > 0.0 && h > 0.0 { c.clamp(w, h) } else { c };
            }
            out.push(s);
        }
    }
    *sparse = out;
    stats
}

/// `s` cut where consecutive detections are more than `max_gap` frames apart.
fn split_hidden(s: Sparse, max_gap: Option<u64>) -> Vec<Sparse> {
    let Some(max_gap) = max_gap else { return vec![s] };
    let mut pieces = vec![Sparse { dets: Vec::new(), ..s.clone() }];
    for (i, d) in s.dets.iter().enumerate() {
        if i > 0 && d.0 - s.dets[i - 1].0 > max_gap + 1 {
            pieces.push(Sparse { dets: Vec::new(), ..s.clone() });
        }
        if let Some(p) = pieces.last_mut() {
            p.dets.push(*d);
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refine::profile::Geometry;
    use crate::types::BBox;

    fn track(order: u64, frames: &[u64], height: impl Fn(u64) -> f32) -> Sparse {
        let dets = frames.iter().map(|&f| (f, BBox { x1: 10.0, y1: 10.0, x2: 40.0, y2: 10.0 + height(f) }, 0.8)).collect();
        Sparse { class: 0, dets, order, stationary: false, looks: None }
    }

    #[test]
    fn trims_small_ends_splits_long_gaps_and_moves_sides() {
        // Track 1 grows from 40 to 139 px over frames 0..100; track 2 is never 60 px high;
        // track 3 is seen at 0..10 and 40..50 (hidden 3 s between, at 10 fps).
        let t1 = track(1, &(0..100).collect::<Vec<_>>(), |f| 40.0 + f as f32);
        let t2 = track(2, &(0..20).collect::<Vec<_>>(), |_| 30.0);
        let t3 = track(3, &(0..10).chain(40..50).collect::<Vec<_>>(), |_| 100.0);
        let p = ClassProfile {
            min_height: Some(60.0),
            max_hidden_s: Some(1.0),
            geometry: vec![Geometry { max_height: None, left: 0.0, right: 0.0, top: -0.1, bottom: 0.0 }],
            ..Default::default()
        };
        let classes = BTreeMap::from([(0, p)]);
        let mut sparse = vec![t1, t2, t3];
        let stats = apply(&mut sparse, &classes, 10.0, (640, 480));
        assert_eq!(stats.tracks_dropped, 1);
        assert_eq!(stats.split, 1);
        assert_eq!(stats.boxes_trimmed, 20 + 20);
        assert_eq!(sparse.len(), 3, "track 1, and track 3 in two pieces");
        let grown = sparse.iter().find(|t| t.dets.len() == 80).expect("track 1 from frame 20 on");
        assert_eq!(grown.first(), 20);
        let b = grown.dets[0].1;
        assert!((b.height() - 66.0).abs() < 1e-3 && (b.y1 - 4.0).abs() < 1e-3, "60 px made 10% taller upwards: {b:?}");
        assert_eq!(sparse.iter().filter(|t| t.dets.len() == 10).count(), 2);
        // Kept inside the frame: the top edge stops at 0.
        let mut high = vec![track(4, &[0], |_| 100.0)];
        high[0].dets[0].1.y1 = 2.0;
        apply(&mut high, &classes, 10.0, (640, 480));
        assert_eq!(high[0].dets[0].1.y1, 0.0);
        // Other classes, and an empty profile, change nothing.
        let t = vec![track(7, &[1, 2, 3], |_| 10.0)];
        let mut same = t.clone();
        apply(&mut same, &BTreeMap::from([(5, classes[&0].clone())]), 10.0, (640, 480));
        assert_eq!(same, t);
        apply(&mut same, &BTreeMap::from([(0, ClassProfile::default())]), 10.0, (640, 480));
        assert_eq!(same, t);
    }
}
