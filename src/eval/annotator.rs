//! Annotator time: takes ground truth, drafts and their CLEAR matches ([`super::score`]),
//! gives the human actions that turn the drafts into the ground truth in a keyframe-and-
//! interpolation tool such as CVAT, and the actions of labelling the same ground truth from
//! scratch, with their times. A model, not a measurement: it counts what an annotator has to
//! touch, and prices each touch by published per-box times ([`Costs`]).
//!
//! Terms: K is the keyframe step (an annotator places a keyframe every K frames and lets the
//! tool interpolate between them). A *run* is a maximal set of consecutive frames.
//!
//! **From scratch**, per ground-truth track: each run of L frames costs ceil((L-1)/K) `adjust`
//! (a keyframe moved from the propagated box), plus its start: a `draw` for the track's first
//! run, an `adjust` for each later run (the object comes back after a gap).
//!
//! **With drafts**, per ground-truth track g, a frame of g is *ok* when a draft box is matched
//! to g there (CLEAR match) with IoU >= `ok_iou`:
//! - no ok frame at all: g is a missed track and costs exactly its from-scratch actions;
//! - else each run of not-ok frames of length L costs ceil((L-1)/K) + 1 `adjust` (keyframes
//!   at both ends and every K frames between), and each ok frame on g's keyframe grid (its
//!   first frame, then every K) one `verify`: the annotator still looks at it;
//! - `merge`: (number of distinct draft ids matched to g) - 1, to join the pieces.
//!
//! Per draft track d:
//! - `split`: each time d's matched ground-truth id changes between consecutive matched
//!   frames (an identity switch to cut);
//! - a false box is a draft box without a CLEAR match. If d has no match at all, the whole
//!   track is one `delete`. Otherwise d's assigned ground truth is the id it matched most
//!   (smallest id on ties); an unmatched box in a frame where that track exists is moved onto
//!   it, already paid for by that track's not-ok run (free, counted in `moved_boxes`); the
//!   other unmatched boxes form runs: a run touching d's first or last frame is trimmed (one
//!   `split` and one `delete`), an interior run is hidden (two `delete`-priced toggles of
//!   `outside`, on and off).
//!
//! `ok_iou` below the matching IoU changes nothing (every match already has that IoU).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{FrameMatch, MotRow};
use crate::error::{Error, Result};

/// Seconds per action. Defaults and where they come from:
///
/// - `draw` 34.5 s: drawing one box from scratch, 25.5 s drawing plus 9.0 s quality and
///   coverage checks (Su, Deng, Fei-Fei, "Crowdsourcing annotations for visual object
///   detection", AAAI HCOMP workshop 2012, as reported by Papadopoulos et al. 2017);
/// - `adjust` 7.0 s: one box by extreme clicking (Papadopoulos, Uijlings, Keller, Ferrari,
///   "Extreme clicking for efficient object annotation", ICCV 2017), taken as the cost of
///   redrawing or correcting one box;
/// - `verify` 1.6 s: one yes/no box verification (Papadopoulos, Uijlings, Keller, Ferrari,
///   "We don't need no bounding-boxes", CVPR 2016);
/// - `delete` 3 s, `split` 5 s, `merge` 5 s: our estimates (a selection and a key, or a menu
///   action); no published measurement.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Costs {
    pub draw: f64,
    pub adjust: f64,
    pub verify: f64,
    pub delete: f64,
    pub split: f64,
    pub merge: f64,
}

impl Default for Costs {
    fn default() -> Self {
        Costs { draw: 34.5, adjust: 7.0, verify: 1.6, delete: 3.0, split: 5.0, merge: 5.0 }
    }
}

impl Costs {
    /// `draw=34.5,adjust=7,...`: the named costs replace the defaults, the others stay.
    pub fn parse(spec: &str) -> Result<Costs> {
        let mut c = Costs::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad =
                || Error::Usage(format!("--costs {part:?}: expected ACTION=SECONDS, actions draw, adjust, verify, delete, split, merge"));
            let (name, v) = part.split_once('=').ok_or_else(bad)?;
            let v: f64 = v.trim().parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0).ok_or_else(bad)?;
            let slot = match name.trim() {
                "draw" => &mut c.draw,
                "adjust" => &mut c.adjust,
                "verify" => &mut c.verify,
                "delete" => &mut c.delete,
                "split" => &mut c.split,
                "merge" => &mut c.merge,
                _ => return Err(bad()),
            };
            *slot = v;
        }
        Ok(c)
    }
}

impl std::fmt::Display for Costs {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let c = self;
        write!(f, "draw={},adjust={},verify={},delete={},split={},merge={}", c.draw, c.adjust, c.verify, c.delete, c.split, c.merge)
    }
}

/// How many times each action is done.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Actions {
    pub draw: u64,
    pub adjust: u64,
    pub verify: u64,
    pub delete: u64,
    pub split: u64,
    pub merge: u64,
}

impl Actions {
    pub fn seconds(&self, c: &Costs) -> f64 {
        self.draw as f64 * c.draw
            + self.adjust as f64 * c.adjust
            + self.verify as f64 * c.verify
            + self.delete as f64 * c.delete
            + self.split as f64 * c.split
            + self.merge as f64 * c.merge
    }

    fn add(&mut self, o: &Actions) {
        self.draw += o.draw;
        self.adjust += o.adjust;
        self.verify += o.verify;
        self.delete += o.delete;
        self.split += o.split;
        self.merge += o.merge;
    }
}

/// Why the draft actions are what they are.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Details {
    /// Ground-truth tracks with no ok frame, labelled from scratch.
    pub missed_tracks: u64,
    /// Runs of not-ok frames of ground-truth tracks that had some ok frame.
    pub corrected_runs: u64,
    /// Draft tracks with no match, deleted whole.
    pub deleted_tracks: u64,
    /// Runs of false boxes at a draft track's start or end, trimmed.
    pub trimmed_runs: u64,
    /// Runs of false boxes inside a draft track, hidden.
    pub hidden_runs: u64,
    /// False boxes moved onto their draft track's ground truth (no cost of their own).
    pub moved_boxes: u64,
}

impl Details {
    fn add(&mut self, o: &Details) {
        self.missed_tracks += o.missed_tracks;
        self.corrected_runs += o.corrected_runs;
        self.deleted_tracks += o.deleted_tracks;
        self.trimmed_runs += o.trimmed_runs;
        self.hidden_runs += o.hidden_runs;
        self.moved_boxes += o.moved_boxes;
    }
}

/// The estimate for one video, or several ([`AnnotatorTime::overall`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AnnotatorTime {
    pub drafts: Actions,
    pub scratch: Actions,
    pub details: Details,
    pub drafts_hours: f64,
    pub scratch_hours: f64,
    /// 1 - drafts / scratch (negative when the drafts cost more than they save; NaN with
    /// nothing to label).
    pub saved: f64,
}

impl AnnotatorTime {
    fn new(drafts: Actions, scratch: Actions, details: Details, costs: &Costs) -> AnnotatorTime {
        let (d, s) = (drafts.seconds(costs) / 3600.0, scratch.seconds(costs) / 3600.0);
        let saved = if s > 0.0 { 1.0 - d / s } else { f64::NAN };
        AnnotatorTime { drafts, scratch, details, drafts_hours: d, scratch_hours: s, saved }
    }

    /// Several videos as one: actions summed, then hours and the saving.
    pub fn overall<'a>(videos: impl IntoIterator<Item = &'a AnnotatorTime>, costs: &Costs) -> AnnotatorTime {
        let (mut d, mut s, mut x) = (Actions::default(), Actions::default(), Details::default());
        for v in videos {
            d.add(&v.drafts);
            s.add(&v.scratch);
            x.add(&v.details);
        }
        AnnotatorTime::new(d, s, x, costs)
    }
}

/// The model's settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Params {
    /// K: frames between keyframes (at least 1).
    pub keyframe_step: u64,
    /// IoU a matched draft box needs to be left as it is.
    pub ok_iou: f32,
    pub costs: Costs,
}

impl Default for Params {
    fn default() -> Self {
        Params { keyframe_step: 7, ok_iou: 0.5, costs: Costs::default() }
    }
}

/// Runs of consecutive frame numbers in `frames` (sorted, distinct): (first, length).
fn runs(frames: impl IntoIterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for f in frames {
        match out.last_mut() {
            Some((start, len)) if *start + *len == f => *len += 1,
            _ => out.push((f, 1)),
        }
    }
    out
}

/// ceil((len - 1) / k): keyframes after a run's first frame.
fn keyframes_after_first(len: u64, k: u64) -> u64 {
    (len - 1).div_ceil(k)
}

/// From-scratch actions of one ground-truth track whose frames are `frames` (sorted, distinct).
fn scratch_track(frames: &[u64], k: u64) -> Actions {
    let mut a = Actions::default();
    for (i, &(_, len)) in runs(frames.iter().copied()).iter().enumerate() {
        if i == 0 {
            a.draw += 1
        } else {
            a.adjust += 1
        }
        a.adjust += keyframes_after_first(len, k);
    }
    a
}

/// The annotator-time estimate of turning `pred` into `gt` (conf-0 ground-truth rows ignored),
/// given `matches`, the CLEAR matches [`super::score`] found between them.
pub(crate) fn annotator_time(gt: &[MotRow], pred: &[MotRow], matches: &[FrameMatch], p: &Params) -> AnnotatorTime {
    let k = p.keyframe_step.max(1);
    let ok_iou = super::decimal(p.ok_iou);
    let mut gt_frames: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for g in gt.iter().filter(|g| g.conf != 0.0) {
        gt_frames.entry(g.id).or_default().push(g.frame);
    }
    for f in gt_frames.values_mut() {
        f.sort_unstable();
        f.dedup();
    }
    let ok: HashSet<(i64, u64)> = matches.iter().filter(|m| m.iou >= ok_iou).map(|m| (m.gt_id, m.frame)).collect();
    let mut drafts_of_gt: HashMap<i64, HashSet<i64>> = HashMap::new();
    for m in matches {
        drafts_of_gt.entry(m.gt_id).or_default().insert(m.pred_id);
    }

    let (mut drafts, mut scratch, mut details) = (Actions::default(), Actions::default(), Details::default());
    for (id, frames) in &gt_frames {
        let from_scratch = scratch_track(frames, k);
        scratch.add(&from_scratch);
        if !frames.iter().any(|f| ok.contains(&(*id, *f))) {
            drafts.add(&from_scratch);
            details.missed_tracks += 1;
            continue;
        }
        for (_, len) in runs(frames.iter().copied().filter(|f| !ok.contains(&(*id, *f)))) {
            drafts.adjust += keyframes_after_first(len, k) + 1;
            details.corrected_runs += 1;
        }
        drafts.verify += frames.iter().filter(|&&f| (f - frames[0]) % k == 0 && ok.contains(&(*id, f))).count() as u64;
        drafts.merge += drafts_of_gt.get(id).map_or(0, |d| d.len() as u64).saturating_sub(1);
    }
    false_boxes(pred, matches, &gt_frames, &mut drafts, &mut details);
    AnnotatorTime::new(drafts, scratch, details, &p.costs)
}

/// Splits of draft tracks that change ground truth, and the false boxes (see the module doc).
fn false_boxes(pred: &[MotRow], matches: &[FrameMatch], gt_frames: &BTreeMap<i64, Vec<u64>>, drafts: &mut Actions, details: &mut Details) {
    let matched_rows: HashMap<usize, i64> = matches.iter().map(|m| (m.pred_row, m.gt_id)).collect();
    // Per draft track: (frame, matched gt id) of every box, by frame.
    let mut tracks: BTreeMap<i64, Vec<(u64, Option<i64>)>> = BTreeMap::new();
    for (j, p) in pred.iter().enumerate() {
        tracks.entry(p.id).or_default().push((p.frame, matched_rows.get(&j).copied()));
    }
    let gt_has: HashSet<(i64, u64)> = gt_frames.iter().flat_map(|(id, fs)| fs.iter().map(move |f| (*id, *f))).collect();
    for boxes in tracks.values_mut() {
        boxes.sort_by_key(|b| (b.0, b.1.is_none()));
        let matched: Vec<i64> = boxes.iter().filter_map(|b| b.1).collect();
        if matched.is_empty() {
            drafts.delete += 1;
            details.deleted_tracks += 1;
            continue;
        }
        drafts.split += matched.windows(2).filter(|w| w[0] != w[1]).count() as u64;
        let mut times: BTreeMap<i64, u64> = BTreeMap::new();
        for g in &matched {
            *times.entry(*g).or_default() += 1;
        }
        // Most matched; the first (smallest id) of equals.
        let assigned = times.iter().fold((0, 0), |best, (g, n)| if *n > best.1 { (*g, *n) } else { best }).0;
        let (first, last) = (boxes[0].0, boxes[boxes.len() - 1].0);
        let mut loose = Vec::new();
        for &(f, _) in boxes.iter().filter(|b| b.1.is_none()) {
            if gt_has.contains(&(assigned, f)) {
                details.moved_boxes += 1;
            } else {
                loose.push(f);
            }
        }
        loose.dedup();
        for (start, len) in runs(loose) {
            if start == first || start + len - 1 == last {
                drafts.split += 1;
                drafts.delete += 1;
                details.trimmed_runs += 1;
            } else {
                drafts.delete += 2;
                details.hidden_runs += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::score;
    use crate::types::BBox;

    /// A 10x10 box at x.
    fn r(frame: u64, id: i64, x: f32) -> MotRow {
        MotRow { frame, id, bbox: BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 }, conf: 1.0 }
    }

    fn track(id: i64, frames: impl IntoIterator<Item = u64>, x: f32) -> Vec<MotRow> {
        frames.into_iter().map(|f| r(f, id, x)).collect()
    }

    fn time(gt: &[MotRow], pred: &[MotRow]) -> AnnotatorTime {
        let s = score(gt, pred, 0.5);
        annotator_time(gt, pred, &s.matches, &Params::default())
    }

    fn acts(draw: u64, adjust: u64, verify: u64, delete: u64, split: u64, merge: u64) -> Actions {
        Actions { draw, adjust, verify, delete, split, merge }
    }

    #[test]
    fn from_scratch_keyframes_and_gaps() {
        // 15 frames: a draw, then keyframes at +7 and +14.
        assert_eq!(scratch_track(&(1..=15).collect::<Vec<_>>(), 7), acts(1, 2, 0, 0, 0, 0));
        // Frames 1-8 and 20-22: draw + 1, then the comeback (adjust) + 1.
        let gappy: Vec<u64> = (1..=8).chain(20..=22).collect();
        assert_eq!(scratch_track(&gappy, 7), acts(1, 3, 0, 0, 0, 0));
        assert_eq!(scratch_track(&[5], 7), acts(1, 0, 0, 0, 0, 0));
    }

    #[test]
    fn perfect_drafts_are_only_verified() {
        let gt = track(1, 1..=15, 0.0);
        let t = time(&gt, &track(9, 1..=15, 0.0));
        assert_eq!(t.drafts, acts(0, 0, 3, 0, 0, 0), "verify frames 1, 8, 15");
        assert_eq!(t.scratch, acts(1, 2, 0, 0, 0, 0));
        let c = Costs::default();
        assert!((t.drafts_hours - 3.0 * c.verify / 3600.0).abs() < 1e-12);
        assert!((t.saved - (1.0 - 4.8 / 48.5)).abs() < 1e-12);
    }

    #[test]
    fn not_ok_run_costs_keyframes() {
        // Draft missing frames 5-13 (9 frames): ceil(8/7) + 1 = 3 adjusts; ok grid frames 1, 15.
        let gt = track(1, 1..=15, 0.0);
        let pred = track(9, (1..=4).chain(14..=15), 0.0);
        let t = time(&gt, &pred);
        assert_eq!(t.drafts, acts(0, 3, 2, 0, 0, 0));
        assert_eq!(t.details.corrected_runs, 1);
        // A loose box (IoU 0.54) is a match but not ok at --ok-iou 0.6: one run of 1 frame.
        let mut pred = track(9, 1..=15, 0.0);
        pred[7].bbox = BBox { x1: 3.0, y1: 0.0, x2: 13.0, y2: 10.0 };
        let s = score(&gt, &pred, 0.5);
        let p = Params { ok_iou: 0.6, ..Params::default() };
        let t = annotator_time(&gt, &pred, &s.matches, &p);
        assert_eq!(t.drafts, acts(0, 1, 2, 0, 0, 0), "frame 8 corrected, 1 and 15 verified");
    }

    #[test]
    fn missed_track_costs_its_scratch_time() {
        let gt = [track(1, 1..=10, 0.0), track(2, 1..=10, 100.0)].concat();
        let t = time(&gt, &track(9, 1..=10, 0.0));
        assert_eq!(t.details.missed_tracks, 1);
        assert_eq!(t.drafts, acts(1, 2, 2, 0, 0, 0), "track 2 drawn + 2 adjusts; track 1 verified at 1, 8");
    }

    #[test]
    fn merge_and_split() {
        // One person, two draft pieces: one merge.
        let gt = track(1, 1..=10, 0.0);
        let pred = [track(5, 1..=5, 0.0), track(6, 6..=10, 0.0)].concat();
        assert_eq!(time(&gt, &pred).drafts, acts(0, 0, 2, 0, 0, 1));
        // One draft following two people one after the other: one split.
        let gt = [track(1, 1..=5, 0.0), track(2, 6..=10, 50.0)].concat();
        let pred = [track(9, 1..=5, 0.0), track(9, 6..=10, 50.0)].concat();
        assert_eq!(time(&gt, &pred).drafts, acts(0, 0, 2, 0, 1, 0));
    }

    #[test]
    fn false_boxes_deleted_trimmed_hidden_or_moved() {
        let gt = track(1, 1..=5, 0.0);
        // A draft track never matched: one delete.
        let pred = [track(9, 1..=5, 0.0), track(8, 1..=3, 200.0)].concat();
        let t = time(&gt, &pred);
        assert_eq!((t.drafts, t.details.deleted_tracks), (acts(0, 0, 1, 1, 0, 0), 1));
        // The draft runs on 3 frames after the person left: trimmed (split + delete).
        let pred = track(9, 1..=8, 0.0);
        let t = time(&gt, &pred);
        assert_eq!((t.drafts, t.details.trimmed_runs), (acts(0, 0, 1, 1, 1, 0), 1));
        // The person is away in frames 4-6 but the draft goes on: hidden (2 deletes).
        let gt = track(1, (1..=3).chain(7..=9), 0.0);
        let t = time(&gt, &track(9, 1..=9, 0.0));
        assert_eq!((t.drafts, t.details.hidden_runs), (acts(0, 0, 2, 2, 0, 0), 1), "verify frames 1, 8");
        // The draft drifts off the person in frames 6-7: moved onto it, paid by the person's
        // corrected run (ceil(1/7) + 1 = 2 adjusts).
        let gt = track(1, 1..=7, 0.0);
        let pred = [track(9, 1..=5, 0.0), track(9, 6..=7, 6.0)].concat();
        let t = time(&gt, &pred);
        assert_eq!((t.drafts, t.details.moved_boxes), (acts(0, 2, 1, 0, 0, 0), 2));
    }

    #[test]
    fn costs_parse_and_overall() {
        let c = Costs::parse("draw=30, verify=2").unwrap();
        assert_eq!((c.draw, c.verify, c.adjust), (30.0, 2.0, 7.0));
        assert!(Costs::parse("draw=-1").is_err() && Costs::parse("paint=1").is_err() && Costs::parse("draw").is_err());
        assert_eq!(Costs::parse(&Costs::default().to_string()).unwrap(), Costs::default());
        let gt = track(1, 1..=15, 0.0);
        let a = time(&gt, &track(9, 1..=15, 0.0));
        let b = time(&gt, &[]);
        let all = AnnotatorTime::overall([&a, &b], &Costs::default());
        assert_eq!(all.drafts, acts(1, 2, 3, 0, 0, 0));
        assert_eq!(all.scratch, acts(2, 4, 0, 0, 0, 0));
    }
}
