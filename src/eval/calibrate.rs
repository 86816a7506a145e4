//! Review levels learned from corrected videos (`prelabel calibrate`): takes ground truth and
//! the drafts prelabel made for the same videos, judges every draft track correct or not
//! (`judge`), and picks per class the accept and drop levels that `prelabel run
//! --thresholds CLASS=ACCEPT:DROP` takes ([`choose`]), or reports what given levels do
//! ([`bands`]). CPU only; one CLEAR pass ([`super::score`]) per video and class.
//!
//! Definitions (also in docs/src/review.md):
//!
//! - A draft track is **correct** when at least half of its boxes are matched, by the CLEAR
//!   matching of [`super::score`] at IoU `iou` (0.5), to one single ground-truth track: the
//!   one it is matched to most often. A duplicate of a well-drawn track is not correct (CLEAR
//!   matches each ground-truth box once), nor is a track that jumps between people halfway.
//! - A track's **score** is the per-track `score` where the draft file has one (prelabel's
//!   `coco.json`: `tracks[].score`, the same mean over detected boxes that routing uses), else
//!   the mean of its box scores as the file gives them (`mot.txt`: every box, predicted and
//!   interpolated ones too, which copy a neighbour's score; `cvat.xml`: the keyframes' `score`
//!   attribute, carried over the interpolated frames). Scores and levels are in steps of
//!   0.0001, as the files write them: a score is cut down to its step before comparing.
//! - **accept**: the lowest level whose band (tracks scoring >= it) is at least
//!   `target_precision` correct, looked for among the tracks' scores; when none is, 1.0
//!   (everything to review) and [`Calibration::target_met`] is false.
//! - **drop**: with C correct tracks, let k = floor(`max_lost` * C); drop is the score of the
//!   (k+1)-th lowest-scoring correct track, the highest level that leaves at most k correct
//!   tracks below it. Lowered to accept when above it (routing needs drop <= accept); 0 when
//!   there is no correct track (nothing to learn it from).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use super::report::is_mot;
use super::{read_labels, read_track_scores, score, MotRow};
use crate::error::Result;

/// Reads one (ground truth, drafts) pair and judges the draft tracks of `label` (`judge`).
/// MOTChallenge text has no labels: its rows are all taken as `label`. Gives the tracks and
/// where their scores came from ([`score_source`]).
pub fn judge_files(gt: &Path, pred: &Path, label: &str, iou: f32) -> Result<(Vec<Judged>, &'static str)> {
    let of = |p: &Path| if is_mot(p) { None } else { Some(label) };
    let gt_rows = read_labels(gt, of(gt))?;
    let pred_rows = read_labels(pred, of(pred))?;
    let scores = read_track_scores(pred)?;
    let source = score_source(pred, !scores.is_empty());
    Ok((judge(&gt_rows, &pred_rows, iou, &scores), source))
}

/// Where the track scores of draft file `pred` come from, in words.
pub fn score_source(pred: &Path, per_track: bool) -> &'static str {
    let ext = pred.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match (per_track, ext.as_str()) {
        (true, _) => "per-track score (coco.json tracks[].score: mean of the detected boxes' scores)",
        (false, "txt") => "mean of the box scores in mot.txt (every box: predicted and interpolated ones copy a neighbour's score)",
        (false, "xml") => "mean of the box scores in cvat.xml (keyframes' score attribute, carried over interpolated frames)",
        _ => "mean of the box scores (the file has no per-track score)",
    }
}

/// One draft track, judged against the ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Judged {
    pub id: i64,
    /// The track score (see the module notes).
    pub score: f64,
    /// Draft boxes of the track.
    pub boxes: usize,
    /// Of those, matched to `gt_id`.
    pub matched: usize,
    /// The ground-truth track it is matched to most (ties: the lowest id); None if none.
    pub gt_id: Option<i64>,
    /// `2 * matched >= boxes` and matched > 0.
    pub correct: bool,
}

/// Judges every draft track of `pred` against `gt` with CLEAR matches at IoU >= `iou`.
/// `track_scores` gives a file's per-track scores by track id; tracks not in it score the
/// mean of their rows' `conf`. Sorted by track id.
pub(crate) fn judge(gt: &[MotRow], pred: &[MotRow], iou: f32, track_scores: &HashMap<i64, f64>) -> Vec<Judged> {
    let matches = score(gt, pred, iou).matches;
    let mut hits: HashMap<(i64, i64), usize> = HashMap::new();
    for m in &matches {
        *hits.entry((m.pred_id, m.gt_id)).or_default() += 1;
    }
    let mut best: HashMap<i64, (usize, i64)> = HashMap::new();
    for (&(p, g), &n) in &hits {
        let e = best.entry(p).or_insert((n, g));
        if n > e.0 || (n == e.0 && g < e.1) {
            *e = (n, g);
        }
    }
    let mut rows: BTreeMap<i64, (usize, f64)> = BTreeMap::new();
    for r in pred {
        let e = rows.entry(r.id).or_default();
        e.0 += 1;
        e.1 += r.conf as f64;
    }
    rows.into_iter()
        .map(|(id, (boxes, sum))| {
            let (matched, gt_id) = best.get(&id).map_or((0, None), |&(n, g)| (n, Some(g)));
            Judged {
                id,
                score: track_scores.get(&id).copied().unwrap_or(sum / boxes as f64),
                boxes,
                matched,
                gt_id,
                correct: matched > 0 && 2 * matched >= boxes,
            }
        })
        .collect()
}

/// A score in steps of 0.0001, cut down (0.71349 -> 7134).
pub fn step(score: f64) -> i64 {
    (score * 10_000.0 + 1e-7).floor() as i64
}

/// How a set of tracks falls into the bands of given levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Band {
    pub tracks: usize,
    pub correct: usize,
    /// Tracks scoring >= accept, and how many of them are correct.
    pub accepted: usize,
    pub accepted_correct: usize,
    /// Tracks scoring >= drop and < accept.
    pub review: usize,
    /// Tracks scoring < drop, and how many of them were correct (lost).
    pub dropped: usize,
    pub dropped_correct: usize,
}

impl Band {
    /// Correct share of the accepted band (NaN when it is empty).
    pub fn accepted_precision(&self) -> f64 {
        ratio(self.accepted_correct, self.accepted)
    }
    pub fn accepted_share(&self) -> f64 {
        ratio(self.accepted, self.tracks)
    }
    pub fn review_share(&self) -> f64 {
        ratio(self.review, self.tracks)
    }
    pub fn dropped_share(&self) -> f64 {
        ratio(self.dropped, self.tracks)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

/// The bands of `tracks` (score, correct) at levels `accept` and `drop` (0..1, compared in
/// steps of 0.0001).
pub fn bands(tracks: &[(f64, bool)], accept: f64, drop: f64) -> Band {
    let (a, d) = (step(accept), step(drop));
    let mut b = Band { tracks: tracks.len(), ..Band::default() };
    for &(s, correct) in tracks {
        let s = step(s);
        b.correct += correct as usize;
        if s >= a {
            b.accepted += 1;
            b.accepted_correct += correct as usize;
        } else if s >= d {
            b.review += 1;
        } else {
            b.dropped += 1;
            b.dropped_correct += correct as usize;
        }
    }
    b
}

/// The levels [`choose`] picked, what they do to the tracks they were picked on, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub accept: f64,
    pub drop: f64,
    /// Whether some accept level reaches the target precision (else accept is 1.0).
    pub target_met: bool,
    pub band: Band,
    /// What the rules had to give up, in words.
    pub notes: Vec<String>,
}

/// Picks accept and drop for `tracks` (score, correct) by the rules of the module notes.
/// `target_precision` and `max_lost` are in 0..1.
pub fn choose(tracks: &[(f64, bool)], target_precision: f64, max_lost: f64) -> Calibration {
    let mut notes = Vec::new();
    let mut levels: Vec<i64> = tracks.iter().map(|&(s, _)| step(s)).collect();
    levels.sort_unstable();
    levels.dedup();
    let mut accept = None;
    for &a in &levels {
        let (n, c) = tracks.iter().filter(|&&(s, _)| step(s) >= a).fold((0, 0), |(n, c), &(_, ok)| (n + 1, c + ok as usize));
        if n > 0 && c as f64 >= target_precision * n as f64 - 1e-9 {
            accept = Some(a);
            break;
        }
    }
    let target_met = accept.is_some();
    let accept = accept.unwrap_or_else(|| {
        notes.push(format!("no accept level reaches precision {target_precision}: accept 1.0, everything to review"));
        10_000
    });
    let mut correct: Vec<i64> = tracks.iter().filter(|t| t.1).map(|&(s, _)| step(s)).collect();
    correct.sort_unstable();
    let drop = if correct.is_empty() {
        notes.push("no correct track to learn a drop level from: drop 0".into());
        0
    } else {
        let k = ((max_lost * correct.len() as f64 + 1e-9).floor() as usize).min(correct.len() - 1);
        let d = correct[k];
        if d > accept {
            notes.push(format!("drop level {} above accept: lowered to accept", d as f64 / 10_000.0));
        }
        d.min(accept)
    };
    let (accept, drop) = (accept as f64 / 10_000.0, drop as f64 / 10_000.0);
    Calibration { accept, drop, target_met, band: bands(tracks, accept, drop), notes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::BBox;

    fn t(s: &[(f64, bool)]) -> Vec<(f64, bool)> {
        s.to_vec()
    }

    #[test]
    fn lowest_accept_that_meets_the_target_and_drop_by_lost_share() {
        // Sorted by score: the top 4 are correct, then one wrong, then correct ones and wrong
        // ones below.
        let tracks = t(&[
            (0.95, true),
            (0.90, true),
            (0.85, true),
            (0.80, true),
            (0.75, false),
            (0.70, true),
            (0.65, true),
            (0.60, false),
            (0.55, false),
            (0.50, true),
            (0.30, false),
            (0.20, false),
        ]);
        // Precision of >= level: 0.65 -> 6/7 = 0.857; 0.70 -> 5/6; 0.75 -> 4/5; 0.80 -> 4/4.
        let c = choose(&tracks, 0.95, 0.05);
        assert_eq!(c.accept, 0.80);
        assert!(c.target_met);
        // 7 correct, k = floor(0.35) = 0: drop = the lowest correct score, 0.50.
        assert_eq!(c.drop, 0.50);
        assert_eq!(c.band, Band { tracks: 12, correct: 7, accepted: 4, accepted_correct: 4, review: 6, dropped: 2, dropped_correct: 0 });
        // Target 0.85: 0.65 gives 6/7 = 0.857 (precision is not monotonic in the level).
        assert_eq!(choose(&tracks, 0.85, 0.05).accept, 0.65);
        // max_lost 0.3: k = 2, the third-lowest correct score (0.70).
        let c = choose(&tracks, 0.95, 0.3);
        assert_eq!((c.accept, c.drop), (0.80, 0.70));
        assert_eq!((c.band.dropped, c.band.dropped_correct), (6, 2));
        assert!(c.notes.is_empty());
    }

    #[test]
    fn no_accept_meets_the_target() {
        let tracks = t(&[(0.9, false), (0.8, true), (0.4, true), (0.3, false)]);
        let c = choose(&tracks, 0.95, 0.05);
        assert!(!c.target_met);
        assert_eq!(c.accept, 1.0);
        assert_eq!(c.drop, 0.4);
        assert_eq!((c.band.accepted, c.band.review, c.band.dropped), (0, 3, 1));
        assert!(c.notes[0].contains("everything to review"), "{:?}", c.notes);
        // No correct track at all: nothing accepted, nothing dropped.
        let c = choose(&t(&[(0.9, false), (0.2, false)]), 0.95, 0.05);
        assert_eq!((c.accept, c.drop, c.target_met), (1.0, 0.0, false));
        assert_eq!(c.notes.len(), 2);
        // No tracks.
        let c = choose(&[], 0.95, 0.05);
        assert_eq!((c.accept, c.drop, c.band.tracks), (1.0, 0.0, 0));
    }

    #[test]
    fn all_correct_accepts_everything() {
        let tracks = t(&[(0.91, true), (0.62, true), (0.33337, true)]);
        let c = choose(&tracks, 0.95, 0.05);
        // Cut down to 0.0001 steps: the lowest track stays in.
        assert_eq!((c.accept, c.drop), (0.3333, 0.3333));
        assert_eq!(c.band.accepted, 3);
        assert_eq!(c.band.accepted_precision(), 1.0);
        assert_eq!(c.band.review_share(), 0.0);
        assert!(c.notes.is_empty(), "drop equal to accept is not lowered: {:?}", c.notes);
    }

    #[test]
    fn drop_above_accept_is_lowered() {
        let tracks = t(&[(0.9, true), (0.8, true), (0.6, false), (0.5, true)]);
        let c = choose(&tracks, 0.7, 0.5);
        // >= 0.5: 3/4 = 0.75 >= 0.7. k = floor(1.5) = 1: second-lowest correct = 0.8 > 0.5.
        assert_eq!((c.accept, c.drop), (0.5, 0.5));
        assert!(c.notes[0].contains("lowered"), "{:?}", c.notes);
    }

    fn row(frame: u64, id: i64, x: f32, conf: f32) -> MotRow {
        MotRow { frame, id, bbox: BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 }, conf }
    }

    #[test]
    fn judges_tracks_by_their_main_ground_truth() {
        // Ground truth: person 1 at x=0 in frames 1-4, person 2 at x=100 in frames 1-4.
        let mut gt = Vec::new();
        for f in 1..=4 {
            gt.push(row(f, 1, 0.0, 1.0));
            gt.push(row(f, 2, 100.0, 1.0));
        }
        let pred = vec![
            // Track 10 follows person 1 for 3 of its 4 boxes, then a false box far away.
            row(1, 10, 0.0, 0.9),
            row(2, 10, 1.0, 0.8),
            row(3, 10, 0.0, 0.7),
            row(4, 10, 300.0, 0.6),
            // Track 11 covers person 2 in frame 1 only, then nothing real.
            row(1, 11, 100.0, 0.5),
            row(2, 11, 500.0, 0.5),
            row(3, 11, 500.0, 0.5),
            // Track 12: nothing.
            row(1, 12, 700.0, 0.2),
        ];
        let j = judge(&gt, &pred, 0.5, &HashMap::new());
        assert_eq!(
            j.iter().map(|j| (j.id, j.matched, j.gt_id, j.correct)).collect::<Vec<_>>(),
            [(10, 3, Some(1), true), (11, 1, Some(2), false), (12, 0, None, false)]
        );
        assert!((j[0].score - 0.75).abs() < 1e-6, "mean of box scores: {}", j[0].score);
        let j = judge(&gt, &pred, 0.5, &HashMap::from([(11, 0.42)]));
        assert_eq!(j[1].score, 0.42, "per-track score wins");
        // Exactly half is enough: two boxes, one matched.
        let j = judge(&gt, &[row(1, 5, 0.0, 0.9), row(2, 5, 400.0, 0.9)], 0.5, &HashMap::new());
        assert!(j[0].correct);
    }
}
