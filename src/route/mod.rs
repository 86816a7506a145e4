//! Stage 7, route: takes a video's tracks ([`VideoLabels`] from refine, or the tracker), the job's
//! [`LabelSet`] and per-class [`Thresholds`] ([`RouteOptions`]), gives [`Routed`]: the tracks
//! to write, each with its scores and band, and the review queue (a [`ReviewFile`], which
//! export writes as `review.json`): which tracks a human should look at first, and where.
//! Runs on the CPU, once per video, between tracking and export; export only writes what it
//! gives.
//!
//! A track's score is the mean detector score of its *detected* boxes (predicted and
//! interpolated boxes only copy a neighbour's score, so counting them would weigh a long
//! occlusion as if the detector had confirmed it every frame); its min is the lowest of those.
//! With the class's levels `accept` >= `drop`:
//!
//! | track score | band | written |
//! |---|---|---|
//! | >= accept | [`ReviewBand::Accept`] | yes |
//! | >= drop, < accept | [`ReviewBand::Review`], listed in the queue | yes, `needs_review` |
//! | < drop | dropped | no (only counted) |
//!
//! The queue lists review-band tracks most uncertain first (lowest mean, then lowest min,
//! then id), each with the frame ranges to look at: runs of detected boxes scoring below
//! `accept` (`low_score`) and runs with no detection, where the tracker only predicted
//! (`no_detection`). A track the refine stage found never moving (`Track::stationary`:
//! scenery, a parked object, someone waiting) goes to review whatever its score, with one range
//! over its whole length (`static`). Frames in `review.json` are decode indices from 0, as CVAT numbers them
//! (Label Studio and MOT show the same frame as index + 1); `*_s` fields are seconds.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::labels::{class_index, near_matches, LabelSet};
use crate::model::ModelSpec;
use crate::types::{BoxSource, ReviewBand, Track, VideoLabels};
use crate::units::{round4, time_s};

/// Accept and drop levels of one class (track scores, 0..1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Levels {
    pub accept: f32,
    pub drop: f32,
}

impl Levels {
    pub fn new(accept: f32, drop: f32) -> Result<Levels> {
        if !(0.0..=1.0).contains(&accept) || !(0.0..=1.0).contains(&drop) || drop > accept {
            return Err(Error::Usage(format!("review levels accept {accept}, drop {drop}: need 0 <= drop <= accept <= 1")));
        }
        Ok(Levels { accept, drop })
    }
}

/// Default levels plus per-class overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub default: Levels,
    per_class: HashMap<u32, Levels>,
    /// The overrides as given (name -> levels), for `review.json`.
    named: BTreeMap<String, Levels>,
}

impl Thresholds {
    pub(crate) fn uniform(default: Levels) -> Thresholds {
        Thresholds { default, per_class: HashMap::new(), named: BTreeMap::new() }
    }

    /// Parses overrides like `person=0.7:0.4` (accept:drop) or `car=0.5` (accept; drop stays
    /// the default, lowered to accept if above it). A name is a model class or a label of
    /// `labels` (then it covers every class mapped to that label).
    pub fn parse(model: &ModelSpec, labels: &LabelSet, default: Levels, specs: &[String]) -> Result<Thresholds> {
        let mut t = Thresholds::uniform(default);
        for spec in specs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let bad = || Error::Usage(format!("--thresholds '{spec}': expected CLASS=ACCEPT[:DROP], e.g. person=0.7:0.4"));
            let (name, levels) = spec.split_once('=').ok_or_else(bad)?;
            let (name, levels) = (name.trim(), levels.trim());
            let (accept, drop) = match levels.split_once(':') {
                Some((a, d)) => (a.trim().parse().map_err(|_| bad())?, d.trim().parse().map_err(|_| bad())?),
                None => {
                    let a: f32 = levels.parse().map_err(|_| bad())?;
                    (a, default.drop.min(a))
                }
            };
            let levels = Levels::new(accept, drop).map_err(|e| Error::Usage(format!("--thresholds '{spec}': {e}")))?;
            let classes = match labels.classes_of(name) {
                c if !c.is_empty() => c,
                _ => match class_index(model, name) {
                    Ok(c) => vec![c],
                    Err(_) => {
                        let names = labels.labels().iter().map(|l| l.name.as_str());
                        return Err(Error::Usage(format!(
                            "--thresholds: '{name}' is neither a label nor a class of model {}{}",
                            model.name,
                            near_matches(name, names.chain(model.classes.iter().map(String::as_str)))
                        )));
                    }
                },
            };
            for c in classes {
                t.per_class.insert(c, levels);
            }
            t.named.insert(name.to_string(), levels);
        }
        Ok(t)
    }

    pub(crate) fn for_class(&self, class: u32) -> Levels {
        self.per_class.get(&class).copied().unwrap_or(self.default)
    }
}

/// Job-wide routing choices, the same for every video.
#[derive(Debug, Clone)]
pub struct RouteOptions {
    /// Which model classes are kept, under which label names and ids (`--labels`); export
    /// writes the names and ids from the same set.
    pub labels: LabelSet,
    /// Per-class accept/drop levels (`--accept-score`, `--drop-score`, `--thresholds`).
    pub thresholds: Thresholds,
}

impl RouteOptions {
    /// Every class under its own name, accept at [`DEFAULT_ACCEPT`], drop nothing.
    pub fn defaults(model: &ModelSpec) -> RouteOptions {
        RouteOptions {
            labels: LabelSet::all(model),
            thresholds: Thresholds::uniform(Levels { accept: DEFAULT_ACCEPT, drop: DEFAULT_DROP }),
        }
    }
}

/// Default `--accept-score`.
pub const DEFAULT_ACCEPT: f32 = 0.6;
/// Default `--drop-score`: nothing is dropped unless asked (the detector threshold already
/// removed the weakest boxes; what remains a human should at least see).
pub const DEFAULT_DROP: f32 = 0.0;

/// The routed tracks and the queue file.
pub struct Routed {
    pub labels: VideoLabels,
    pub review: ReviewFile,
}

/// `review.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewFile {
    pub video: String,
    pub frames: u64,
    pub fps: f64,
    pub frame_numbering: &'static str,
    pub thresholds: ThresholdReport,
    pub counts: Counts,
    pub queue: Vec<QueueEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThresholdReport {
    pub default: Levels,
    pub classes: BTreeMap<String, Levels>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Tracks the tracker produced.
    pub tracks_in: usize,
    /// Of those, of classes `--labels` does not keep.
    pub not_in_labels: usize,
    pub dropped: usize,
    pub review: usize,
    pub accepted: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    pub track_id: u64,
    pub label: String,
    pub first_frame: u64,
    pub last_frame: u64,
    pub start_s: f64,
    pub length: usize,
    pub mean_score: f64,
    pub min_score: f64,
    pub accept: f32,
    pub look_at: Vec<Range>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Range {
    pub first_frame: u64,
    pub last_frame: u64,
    pub start_s: f64,
    /// `low_score`, `no_detection` or `static`.
    pub reason: &'static str,
}

/// Keeps the tracks of kept classes and at or above their drop level, sets each one's scores
/// and band, and builds the queue.
pub fn route(input: &VideoLabels, labels: &LabelSet, thresholds: &Thresholds) -> Routed {
    route_owned(input.clone(), labels, thresholds)
}

/// [`route`], taking the tracks instead of copying them (a long video's tracks are its
/// biggest allocation at this point: they should not exist twice).
pub(crate) fn route_owned(input: VideoLabels, labels: &LabelSet, thresholds: &Thresholds) -> Routed {
    let VideoLabels { video, frames, tracks } = input;
    let fps = video.fps;
    let mut counts = Counts { tracks_in: tracks.len(), ..Counts::default() };
    let mut kept = Vec::with_capacity(tracks.len());
    let mut queue = Vec::new();
    for track in tracks {
        let Some((_, label)) = labels.of_class(track.class) else {
            counts.not_in_labels += 1;
            continue;
        };
        let levels = thresholds.for_class(track.class);
        let (mean, min) = track.detected_scores();
        if mean < levels.drop {
            counts.dropped += 1;
            continue;
        }
        // A box that never moved may be scenery the detector mistakes for an object: one
        // look settles it, so it goes to review however sure the detector was.
        let band = if mean >= levels.accept && !track.stationary { ReviewBand::Accept } else { ReviewBand::Review };
        let track = Track { mean_score: mean, min_score: min, band, ..track };
        if band == ReviewBand::Review {
            counts.review += 1;
            queue.push(QueueEntry {
                track_id: track.id,
                label: label.name.clone(),
                first_frame: track.first_frame(),
                last_frame: track.last_frame(),
                start_s: round3(time_s(track.first_frame(), fps)),
                length: track.boxes.len(),
                mean_score: round4(mean),
                min_score: round4(min),
                accept: levels.accept,
                look_at: look_at(&track, levels.accept, fps),
            });
        } else {
            counts.accepted += 1;
        }
        kept.push(track);
    }
    queue.sort_by(|a, b| a.mean_score.total_cmp(&b.mean_score).then(a.min_score.total_cmp(&b.min_score)).then(a.track_id.cmp(&b.track_id)));
    let review = ReviewFile {
        video: video.name.clone(),
        frames,
        fps: round3(fps as f64),
        frame_numbering: "decode index from 0, as CVAT shows it; Label Studio and MOT show index + 1",
        thresholds: ThresholdReport { default: thresholds.default, classes: thresholds.named.clone() },
        counts,
        queue,
    };
    Routed { labels: VideoLabels { video, frames, tracks: kept }, review }
}

/// Runs of consecutive boxes that need a look, each with one reason.
fn look_at(track: &Track, accept: f32, fps: f32) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    if track.stationary {
        let first = track.first_frame();
        out.push(Range { first_frame: first, last_frame: track.last_frame(), start_s: round3(time_s(first, fps)), reason: "static" });
        return out;
    }
    for b in &track.boxes {
        let reason = match b.source {
            BoxSource::Predicted => "no_detection",
            BoxSource::Detected if b.score < accept => "low_score",
            _ => continue,
        };
        match out.last_mut() {
            Some(r) if r.reason == reason && r.last_frame + 1 == b.frame => r.last_frame = b.frame,
            _ => out.push(Range { first_frame: b.frame, last_frame: b.frame, start_s: round3(time_s(b.frame, fps)), reason }),
        }
    }
    out
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;
