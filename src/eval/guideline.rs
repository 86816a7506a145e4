//! Learning a calibration profile (`prelabel calibrate --profile FILE`): takes drafts and
//! their corrected versions for one class ([`Sample`]s), gives the
//! [`ClassProfile`] that draws the drafts as the corrected videos do ([`learn`]), and what each
//! part of a profile does to the given videos ([`parts`]): errors (misses, false boxes,
//! switches, as MOTA counts them) and annotator hours ([`super::annotator`]).
//!
//! Each part is found on the sample, then **kept only when, applied on top of the parts kept
//! before it, it lowers the errors on the sample by at least `min_gain` without raising the
//! annotator time** (or lowers the time by 1% without raising the errors). So a sample too
//! small to show a difference learns nothing, and a profile is never worse than none on the
//! videos it was learned from. A part must also cost nothing on each half of the videos (first
//! and second half of the frames) on its own: a rule that helps only where it was found is not
//! the guideline. With fewer than `MIN_BOXES` corrected boxes nothing is tried.
//!
//! The parts, in the order they are tried and applied (as `refine::guideline` applies them):
//! 1. **smallest box**: the draft-box height below which removing boxes removes more false
//!    boxes than correct ones (boxes trimmed from the ends of tracks); also, per third of the
//!    picture by the box's bottom edge (a fixed camera: people far away stand higher), kept
//!    when it beats the single height;
//! 2. **geometry**: per size class (by draft height, up to three with enough pairs), the median
//!    offset of each side between a draft box and the corrected box it matches at IoU 0.3, as
//!    a share of the draft box's width or height; a split into classes is tried only where,
//!    learned on one half of the frames, it costs no errors on the other (both ways);
//! 3. **hidden**: the longest run of frames a track is kept where the detector did not see it
//!    (from prelabel's `coco.json`, whose boxes say `source`; other files do not tell);
//! 4. **drop level**: [`super::calibrate::choose`]'s drop level for the track score with no
//!    correct track lost (the accept level only sorts tracks for review and is written as
//!    learned).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::annotator::{annotator_time, Params};
use super::{read_ground_truth, read_labels, read_track_scores, score, GroundTruth, MotRow};
use crate::error::{Error, Result};
use crate::refine::profile::{ClassProfile, Geometry, RowMin};

/// Fewest corrected (ground-truth) boxes of a class to learn anything from.
pub(crate) const MIN_BOXES: usize = 50;
/// Fewest matched pairs per size class for a geometry correction.
pub(crate) const MIN_PAIRS: usize = 60;
/// Fewest draft tracks (and correct ones) to learn review levels from.
pub(crate) const MIN_TRACKS: usize = 20;
pub(crate) const MIN_CORRECT_TRACKS: usize = 5;

/// One video's ground truth and drafts of one class.
pub struct Sample {
    pub name: String,
    pub gt: GroundTruth,
    pub pred: Vec<MotRow>,
    /// (frame, track id) of draft boxes the detector did not see; empty when the file does
    /// not say (only prelabel's `coco.json` does).
    pub hidden: HashSet<(u64, i64)>,
    /// Per-track scores the file carries (`coco.json`), else each track's mean box score.
    pub track_scores: HashMap<i64, f64>,
    /// Frame rate the file gives (`coco.json`'s `info.fps`).
    pub fps: Option<f32>,
}

impl Sample {
    /// Reads one pair, keeping `label`'s tracks of CVAT and COCO files (every row of
    /// MOTChallenge text, which has no labels).
    pub fn read(name: &str, gt: &Path, pred: &Path, label: &str) -> Result<Sample> {
        let of = |p: &Path| if super::report::is_mot(p) { None } else { Some(label) };
        let rows = read_labels(pred, of(pred))?;
        let gt = read_ground_truth(gt, of(gt), None)?;
        let mut track_scores = read_track_scores(pred)?;
        let mut sums: HashMap<i64, (f64, usize)> = HashMap::new();
        for r in &rows {
            let e = sums.entry(r.id).or_default();
            e.0 += r.conf as f64;
            e.1 += 1;
        }
        for (id, (s, n)) in sums {
            track_scores.entry(id).or_insert(s / n as f64);
        }
        let (hidden, fps) = coco_sources(pred)?;
        Ok(Sample { name: name.to_string(), gt, pred: rows, hidden, track_scores, fps })
    }

    /// The video's first and second half by frame (split at the middle of its frames).
    fn halves(&self) -> [Sample; 2] {
        let frames = self.gt.rows.iter().chain(&self.pred).map(|r| r.frame);
        let (lo, hi) = frames.fold((u64::MAX, 0), |(lo, hi), f| (lo.min(f), hi.max(f)));
        let mid = lo.saturating_add(hi) / 2;
        let half = |first: bool| Sample {
            name: self.name.clone(),
            gt: self.gt.frames(|f| (f <= mid) == first),
            pred: self.pred.iter().filter(|r| (r.frame <= mid) == first).copied().collect(),
            hidden: self.hidden.clone(),
            track_scores: self.track_scores.clone(),
            fps: self.fps,
        };
        [half(true), half(false)]
    }
}

/// (frame, track id) of boxes.
type Boxes = HashSet<(u64, i64)>;

/// The boxes prelabel's `coco.json` marks as not detected, and its frame rate.
fn coco_sources(pred: &Path) -> Result<(Boxes, Option<f32>)> {
    if !pred.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        return Ok((HashSet::new(), None));
    }
    let text = std::fs::read_to_string(pred).map_err(|e| Error::Usage(format!("{}: {e}", pred.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{}: {e}", pred.display())))?;
    let fps = v.pointer("/info/fps").and_then(|f| f.as_f64()).map(|f| f as f32).filter(|f| *f > 0.0);
    // A box's frame: its own frame_index, else its image's (prelabel writes the image's).
    let frames: HashMap<i64, u64> = v
        .get("images")
        .and_then(|i| i.as_array())
        .into_iter()
        .flatten()
        .filter_map(|im| Some((im.get("id")?.as_i64()?, im.get("frame_index")?.as_u64()?)))
        .collect();
    let mut hidden = HashSet::new();
    for a in v.get("annotations").and_then(|a| a.as_array()).into_iter().flatten() {
        let frame = a.get("frame_index").and_then(|f| f.as_u64()).or_else(|| frames.get(&a.get("image_id")?.as_i64()?).copied());
        let id = a.get("track_id").and_then(|t| t.as_i64());
        let (Some(f), Some(id)) = (frame, id) else { continue };
        if a.get("source").and_then(|s| s.as_str()).is_some_and(|s| s != "detected") {
            hidden.insert((f + 1, id));
        }
    }
    Ok((hidden, fps))
}

/// What drafts leave to do on some videos.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Outcome {
    pub objects: u64,
    pub predictions: u64,
    pub misses: u64,
    pub false_positives: u64,
    pub switches: u64,
    pub idtp: u64,
    /// Matched pairs and the sum of their IoU.
    pub matches: u64,
    pub iou_sum: f64,
    pub drafts_hours: f64,
    pub scratch_hours: f64,
}

impl Outcome {
    pub fn errors(&self) -> u64 {
        self.misses + self.false_positives + self.switches
    }
    pub fn mota(&self) -> f64 {
        1.0 - self.errors() as f64 / self.objects.max(1) as f64
    }
    pub fn idf1(&self) -> f64 {
        2.0 * self.idtp as f64 / (self.objects + self.predictions).max(1) as f64
    }
    /// Mean IoU of the matched pairs (0 with none).
    pub fn mean_iou(&self) -> f64 {
        self.iou_sum / self.matches.max(1) as f64
    }
    /// 1 - drafts / scratch, as `prelabel eval` reports annotator time saved.
    pub fn saved(&self) -> f64 {
        1.0 - self.drafts_hours / self.scratch_hours.max(1e-12)
    }
}

/// The outcome of the drafts of `samples` with `p` applied.
pub fn outcome(samples: &[Sample], p: &ClassProfile, params: &Params) -> Outcome {
    let mut o = Outcome::default();
    for s in samples {
        let rows = apply_rows(s, p);
        let prep = s.gt.prepare(&rows);
        let sc = score(&prep.gt, &prep.pred, 0.5);
        let at = annotator_time(&prep.gt, &prep.pred, &sc.matches, params);
        let c = sc.counts;
        o.objects += c.num_objects;
        o.predictions += c.num_predictions;
        o.misses += c.num_misses;
        o.false_positives += c.num_false_positives;
        o.switches += c.num_switches;
        o.idtp += c.idtp;
        o.matches += c.num_detections;
        o.iou_sum += c.num_detections as f64 - c.total_distance;
        o.drafts_hours += at.drafts_hours;
        o.scratch_hours += at.scratch_hours;
    }
    o
}

/// The drafts of `s` as `p` would leave them: tracks under the drop level removed, split where
/// hidden too long, small ends trimmed, sides moved (as `refine::guideline` does in a run).
pub(crate) fn apply_rows(s: &Sample, p: &ClassProfile) -> Vec<MotRow> {
    let mut tracks: BTreeMap<i64, Vec<MotRow>> = BTreeMap::new();
    for r in &s.pred {
        tracks.entry(r.id).or_default().push(*r);
    }
    let mut next_id = tracks.keys().next_back().copied().unwrap_or(0) + 1;
    let max_hidden = s.fps.and_then(|fps| p.max_hidden_frames(fps)).filter(|_| !s.hidden.is_empty());
    let mut out = Vec::with_capacity(s.pred.len());
    for (id, mut rows) in tracks {
        if p.drop.is_some_and(|d| s.track_scores.get(&id).is_some_and(|&t| t < d as f64)) {
            continue;
        }
        rows.sort_by_key(|r| r.frame);
        let mut pieces: Vec<Vec<MotRow>> = vec![Vec::new()];
        let mut i = 0;
        while i < rows.len() {
            let hid = |r: &MotRow| s.hidden.contains(&(r.frame, id));
            if hid(&rows[i]) {
                let run = rows[i..].iter().take_while(|r| hid(r)).count();
                if max_hidden.is_some_and(|m| run as u64 > m) {
                    pieces.push(Vec::new());
                } else {
                    if let Some(p) = pieces.last_mut() {
                        p.extend_from_slice(&rows[i..i + run]);
                    }
                }
                i += run;
            } else {
                if let Some(p) = pieces.last_mut() {
                    p.push(rows[i]);
                }
                i += 1;
            }
        }
        for (n, piece) in pieces.into_iter().filter(|p| !p.is_empty()).enumerate() {
            let pid = if n == 0 {
                id
            } else {
                next_id += 1;
                next_id - 1
            };
            let Some(first) = piece.iter().position(|r| p.keeps(&r.bbox)) else { continue };
            let last = piece.iter().rposition(|r| p.keeps(&r.bbox)).unwrap_or(first);
            out.extend(piece[first..=last].iter().map(|r| MotRow { id: pid, bbox: p.correct(&r.bbox), ..*r }));
        }
    }
    out
}

/// Errors a part must save on the sample to be kept: 3, or 0.2% of the corrected boxes.
pub(crate) fn min_gain(objects: u64) -> u64 {
    3.max(objects / 500)
}

/// Whether `new` is enough better than `old` to keep the part that made it.
fn better(old: &Outcome, new: &Outcome) -> bool {
    let fewer = new.errors() + min_gain(old.objects) <= old.errors();
    let faster = new.drafts_hours <= old.drafts_hours * 0.99;
    let tighter = new.mean_iou() >= old.mean_iou() + 0.01;
    let no_worse = new.errors() <= old.errors() && new.drafts_hours <= old.drafts_hours;
    (fewer && new.drafts_hours <= old.drafts_hours) || (faster && new.errors() <= old.errors()) || (tighter && no_worse)
}

/// A profile learned from samples, with notes on what was left out and why.
pub struct Learned {
    pub profile: ClassProfile,
    pub notes: Vec<String>,
}

/// Learns `label`'s profile from `samples`. `levels`: the review levels chosen from the
/// tracks ([`super::calibrate::choose`]) with the counts they came from (tracks, correct).
/// The drop level tried is at most the lowest score of a correct track (one correct track
/// dropped costs all its boxes): give it so.
pub fn learn(samples: &[Sample], levels: Option<(f64, f64)>, tracks: (usize, usize), params: &Params) -> Learned {
    let mut notes = Vec::new();
    let boxes: usize = samples.iter().map(|s| s.gt.prepare(&[]).gt.len()).sum();
    let mut p = ClassProfile { corrected_boxes: Some(boxes as u64), ..Default::default() };
    if boxes < MIN_BOXES {
        notes.push(format!("only {boxes} corrected boxes: at least {MIN_BOXES} are needed to learn anything; the profile is empty"));
        return Learned { profile: p, notes };
    }
    let mut best = outcome(samples, &p, params);
    let halves: [Vec<Sample>; 2] = {
        let (a, b): (Vec<Sample>, Vec<Sample>) = samples
            .iter()
            .map(|s| {
                let [a, b] = s.halves();
                (a, b)
            })
            .unzip();
        [a, b]
    };
    // A part must also do no harm on each half of the videos on its own; one that removes or
    // cuts whole tracks (hidden, drop level: few, large changes) must help on each half.
    let holds = |old: &ClassProfile, new: &ClassProfile, whole_tracks: bool| {
        halves.iter().all(|h| {
            let (o, n) = (outcome(h, old, params), outcome(h, new, params));
            n.errors() <= o.errors() && n.drafts_hours <= o.drafts_hours + 1e-9 && (!whole_tracks || n.errors() < o.errors())
        })
    };
    let keep = |p: &mut ClassProfile, best: &mut Outcome, candidates: Vec<ClassProfile>, what: &str, notes: &mut Vec<String>| {
        let mut found = None;
        for c in candidates {
            let o = outcome(samples, &c, params);
            if !better(best, &o) || !holds(p, &c, what == "hidden" || what == "drop level") {
                continue;
            }
            // Candidates come simplest first: a later one must beat the one found clearly.
            let beats = |f: &Outcome| {
                o.errors() + min_gain(o.objects) <= f.errors() || (o.errors() <= f.errors() && o.drafts_hours < f.drafts_hours * 0.99)
            };
            if found.as_ref().is_none_or(|(_, f): &(ClassProfile, Outcome)| beats(f)) {
                found = Some((c, o));
            }
        }
        match found {
            Some((c, o)) => {
                *p = c;
                *best = o;
            }
            None => notes.push(format!(
                "{what}: no setting saves {} errors (or 1% of the time) on the sample without costing on either half of it; not learned",
                min_gain(best.objects)
            )),
        }
    };

    let candidates = min_height_candidates(samples, &p);
    keep(&mut p, &mut best, candidates, "smallest box", &mut notes);
    let candidates = geometry_candidates(samples, &p, &mut notes);
    // Offsets are medians of a few hundred boxes: a split into size classes must also hold
    // when learned on one half of the frames and applied to the other (both ways).
    // Per half: the candidates learned on it, and the other half's errors without geometry.
    let crossed: Vec<(Vec<ClassProfile>, u64)> =
        (0..2).map(|i| (geometry_candidates(&halves[i], &p, &mut Vec::new()), outcome(&halves[1 - i], &p, params).errors())).collect();
    let held_out = |classes: usize| {
        crossed.iter().enumerate().all(|(i, (learned, without))| {
            learned.get(classes - 1).is_some_and(|c| outcome(&halves[1 - i], c, params).errors() <= *without)
        })
    };
    let candidates = candidates.into_iter().enumerate().filter(|(i, _)| held_out(i + 1)).map(|(_, c)| c).collect();
    keep(&mut p, &mut best, candidates, "geometry", &mut notes);
    match hidden_candidates(samples, &p) {
        Some(c) => keep(&mut p, &mut best, c, "hidden", &mut notes),
        None => notes.push("hidden: the drafts do not say which boxes were detected (only prelabel's coco.json does); not learned".into()),
    }
    match levels {
        Some((accept, drop)) if tracks.0 >= MIN_TRACKS && tracks.1 >= MIN_CORRECT_TRACKS => {
            p.accept = Some(accept as f32);
            if drop > 0.0 {
                let c = ClassProfile { drop: Some(drop as f32), ..p.clone() };
                keep(&mut p, &mut best, vec![c], "drop level", &mut notes);
            }
        }
        _ => notes.push(format!(
            "review levels: {} draft tracks, {} correct: at least {MIN_TRACKS} and {MIN_CORRECT_TRACKS} needed; not learned",
            tracks.0, tracks.1
        )),
    }
    Learned { profile: p, notes }
}

/// Per draft box (prepared as the benchmark scores it): (box, matched at IoU 0.5).
fn judged_boxes(samples: &[Sample], p: &ClassProfile) -> Vec<(crate::types::BBox, bool)> {
    let mut out = Vec::new();
    for s in samples {
        let prep = s.gt.prepare(&apply_rows(s, p));
        let matched: HashSet<usize> = score(&prep.gt, &prep.pred, 0.5).matches.iter().map(|m| m.pred_row).collect();
        out.extend(prep.pred.iter().enumerate().map(|(j, r)| (r.bbox, matched.contains(&j))));
    }
    out
}

/// The height below which removing boxes removes the most false boxes net of correct ones
/// (None when no height does), over `boxes`.
fn best_height(boxes: &[(crate::types::BBox, bool)]) -> Option<f32> {
    let mut v: Vec<(f32, bool)> = boxes.iter().map(|(b, ok)| (b.height(), *ok)).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut gain, mut best, mut at) = (0i64, 0i64, None);
    for (i, (h, ok)) in v.iter().enumerate() {
        gain += if *ok { -1 } else { 1 };
        let next = v.get(i + 1).map_or(f32::INFINITY, |n| n.0);
        if gain > best && next > *h {
            best = gain;
            at = Some(next.min(h.floor() + 1.0));
        }
    }
    at
}

fn min_height_candidates(samples: &[Sample], p: &ClassProfile) -> Vec<ClassProfile> {
    let boxes = judged_boxes(samples, p);
    let Some(t) = best_height(&boxes) else { return Vec::new() };
    let mut out: Vec<ClassProfile> =
        [1.0, 0.9, 1.1, 0.8].iter().map(|k| ClassProfile { min_height: Some((t * k).round()), ..p.clone() }).collect();
    // By row: thirds of the drafts' bottom edges.
    let mut bottoms: Vec<f32> = boxes.iter().map(|b| b.0.y2).collect();
    bottoms.sort_by(f32::total_cmp);
    if bottoms.len() >= 3 * MIN_PAIRS {
        let cuts = [bottoms[bottoms.len() / 3], bottoms[2 * bottoms.len() / 3], f32::INFINITY];
        let mut rows = Vec::new();
        let mut lo = f32::NEG_INFINITY;
        for cut in cuts {
            let band: Vec<_> = boxes.iter().filter(|b| b.0.y2 >= lo && b.0.y2 < cut).copied().collect();
            let min = best_height(&band).unwrap_or(0.0).round();
            rows.push(RowMin { bottom_below: if cut.is_finite() { cut.round() } else { 1e6 }, min_height: min });
            lo = cut;
        }
        // Farther people stand higher and look smaller: a smallest box that grows down the
        // picture is a fixed camera's perspective; anything else is noise, not a guideline.
        if rows.windows(2).all(|w| w[0].min_height <= w[1].min_height) && rows.iter().any(|r| r.min_height > 0.0) {
            out.push(ClassProfile { min_height_by_row: rows, ..p.clone() });
        }
    }
    out
}

fn median(v: &mut [f32]) -> f32 {
    v.sort_by(f32::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Side offsets per size class from the pairs matched at IoU 0.3 (one, two and three classes
/// where there are [`MIN_PAIRS`] pairs each; more classes are kept only when clearly better).
fn geometry_candidates(samples: &[Sample], p: &ClassProfile, notes: &mut Vec<String>) -> Vec<ClassProfile> {
    let mut pairs: Vec<(f32, [f32; 4])> = Vec::new();
    for s in samples {
        let prep = s.gt.prepare(&apply_rows(s, p));
        for m in score(&prep.gt, &prep.pred, 0.3).matches {
            let (d, g) = (prep.pred[m.pred_row].bbox, prep.gt[m.gt_row].bbox);
            let (w, h) = (d.width().max(1.0), d.height().max(1.0));
            pairs.push((d.height(), [(g.x1 - d.x1) / w, (g.x2 - d.x2) / w, (g.y1 - d.y1) / h, (g.y2 - d.y2) / h]));
        }
    }
    if pairs.len() < MIN_PAIRS {
        notes.push(format!("geometry: {} matched boxes, at least {MIN_PAIRS} needed; not learned", pairs.len()));
        return Vec::new();
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::new();
    for classes in 1..=3usize {
        if pairs.len() < classes * MIN_PAIRS {
            break;
        }
        let geometry = (0..classes)
            .map(|c| {
                let part = &pairs[c * pairs.len() / classes..(c + 1) * pairs.len() / classes];
                let side = |k: usize| (median(&mut part.iter().map(|p| p.1[k]).collect::<Vec<_>>()) * 1000.0).round() / 1000.0;
                let max_height = (c + 1 < classes).then(|| part.last().map_or(0.0, |p| p.0.round()));
                Geometry { max_height, left: side(0), right: side(1), top: side(2), bottom: side(3) }
            })
            .collect();
        out.push(ClassProfile { geometry, ..p.clone() });
    }
    out
}

/// Fewest hidden runs a `max_hidden_s` must cut on the sample to be tried.
pub(crate) const MIN_RUNS: usize = 10;

/// Longest hidden runs to try, in seconds, each cutting at least [`MIN_RUNS`] runs of the
/// sample; None when no sample says which boxes were hidden.
fn hidden_candidates(samples: &[Sample], p: &ClassProfile) -> Option<Vec<ClassProfile>> {
    let fps = samples.iter().filter(|s| !s.hidden.is_empty()).find_map(|s| s.fps)?;
    let mut runs = Vec::new();
    for s in samples {
        let mut by_track: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
        for &(f, id) in &s.hidden {
            by_track.entry(id).or_default().push(f);
        }
        for frames in by_track.values_mut() {
            frames.sort_unstable();
            let mut len = 1;
            for w in frames.windows(2) {
                if w[1] == w[0] + 1 {
                    len += 1;
                } else {
                    runs.push(len);
                    len = 1;
                }
            }
            runs.push(len);
        }
    }
    let candidates = [0u64, 1, 2, 3, 5, 8, 13, 21]
        .iter()
        .filter(|&&f| runs.iter().filter(|&&r| r > f).count() >= MIN_RUNS)
        .map(|&f| ClassProfile { max_hidden_s: Some((f as f32 / fps * 1000.0).round() / 1000.0), ..p.clone() })
        .collect();
    Some(candidates)
}

/// What each part of `p` does to `samples`, applied one after another in the order of the
/// module notes: (part, outcome with it and the parts before it). The first is no profile.
pub fn parts(samples: &[Sample], p: &ClassProfile, params: &Params) -> Vec<(&'static str, Outcome)> {
    type Set = fn(&mut ClassProfile, &ClassProfile);
    let steps: [(&'static str, Set); 4] = [
        ("smallest box", |q, p| {
            q.min_height = p.min_height;
            q.min_height_by_row = p.min_height_by_row.clone();
        }),
        ("geometry", |q, p| q.geometry = p.geometry.clone()),
        ("hidden", |q, p| q.max_hidden_s = p.max_hidden_s),
        ("drop level", |q, p| q.drop = p.drop),
    ];
    let mut q = ClassProfile::default();
    let mut out = vec![("none", outcome(samples, &q, params))];
    for (name, set) in steps {
        let before = q.clone();
        set(&mut q, p);
        if q != before {
            out.push((name, outcome(samples, &q, params)));
        }
    }
    out
}

#[cfg(test)]
#[path = "guideline_tests.rs"]
mod tests;
