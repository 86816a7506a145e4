//! Stage 5, tracking: takes the [`FrameDetections`] of the frames the detector ran on, in frame
//! order, gives [`Track`]s with one box per frame from each track's first to last frame, ids
//! from 1 in order of first appearance, and keyframes marked. Runs on the CPU.
//!
//! `bytetrack` links detections online; `interpolate` fills the frames between them (frames
//! skipped by `--stride` and frames where the detector missed the object); [`keyframes`] marks
//! the boxes a human would have to place.
//!
//! Durations (lost buffer, minimum length) are in seconds and converted with the video's frame
//! rate, so the same settings mean the same on 25 and 60 fps footage.

pub mod appearance;
mod assign;
pub(crate) mod bytetrack;
pub mod camera;
pub(crate) mod interpolate;
mod kalman;
pub mod keyframes;

use std::collections::{BTreeMap, BTreeSet};

use crate::types::{Appearance, BoxSource, CameraMotion, CameraPath, Detection, FrameDetections, ReviewBand, Track, TrackBox};
use bytetrack::ByteTrack;

/// Tracker settings; the defaults were chosen for the default detector (NanoDet-g) on the six
/// shared sequences and their variants (`scripts/replay_loo.py`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrackerConfig {
    /// Detections scoring at least this are matched first and may start tracks.
    pub high: f32,
    /// Detections between `low` and `high` only keep existing tracks alive; lower ones are ignored.
    pub low: f32,
    /// Minimum score for a detection to start a new track (at least `high` to have any effect).
    pub new_track: f32,
    /// How long a track may go unmatched before it ends, in seconds. 0.7: past that, refine's
    /// `stitch` (which sees both ends) joins the pieces better than the online tracker's guess
    /// does. A leave-one-sequence-out replay of the 18 videos of `scripts/quality.sh` chose
    /// 0.5-0.7 on every fold; 0.5 to 0.8 all gain (TUD-Stadtmitte far, ETH-Sunnyday far,
    /// MOT16-09), 0.4 and under lose TUD-Campus far (1.0 before).
    pub buffer_s: f32,
    /// Tracks spanning less than this, in seconds (first to last frame), are not emitted.
    pub min_length_s: f32,
    /// Detector frames in a row a new track must be matched in before it is believed.
    pub min_hits: u32,
    /// IoU every box keeps with its interpolation between keyframes.
    pub keyframe_iou: f32,
    /// Use the detections' colours (when the pipeline gives them) in matching.
    pub appearance: bool,
    /// Colour similarity (Bhattacharyya, 0..1) below which a track and a detection are never
    /// matched. 0.7: about midway between the mean similarity of two boxes of one person (0.82)
    /// and of two people (0.62) on the six shared sequences (`scripts/appearance_auc.py`), and
    /// the value a leave-one-sequence-out replay chose on every fold (0.5 before; 0.6-0.75 all
    /// gain, most at 0.7; through the pipeline TUD-Campus far MOTA 0.41 -> 0.63, MOT16-09 0.56 -> 0.59).
    pub min_similarity: f32,
    /// Measure how the camera moves between detector frames (from the pixels) and move the
    /// tracks' predictions with it. Off by default: it gains on moving cameras, but on the
    /// far-away variants of still ones (a small picture, little texture) the measurement's
    /// noise cost more than it gave (docs/src/tracking.md, "Moving cameras").
    pub camera_motion: bool,
    /// No linking: every detection becomes a one-frame track of its own (the detector's raw
    /// output, for scoring the detector alone with `prelabel eval`).
    pub off: bool,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            high: 0.5,
            low: 0.2,
            new_track: 0.5,
            buffer_s: 0.7,
            min_length_s: 0.2,
            min_hits: 2,
            keyframe_iou: keyframes::DEFAULT_MIN_IOU,
            appearance: true,
            min_similarity: 0.7,
            camera_motion: false,
            off: false,
        }
    }
}

/// Everything tracking gives for one video ([`Tracker::finish_all`]).
#[derive(Debug, Clone, Default)]
pub struct Tracked {
    pub tracks: Vec<Track>,
    pub detector_frames: BTreeSet<u64>,
    /// Detections scoring at least `--track-low`, by frame (empty unless
    /// [`Tracker::keep_usable`] asked for them).
    pub usable: BTreeMap<u64, Vec<Detection>>,
    /// Where the camera looked (still unless [`Tracker::camera_moved`] said otherwise).
    pub camera: CameraPath,
}

/// Tracks one video. Feed it every detector frame with [`Tracker::update`], then
/// [`Tracker::finish`].
#[derive(Debug, Clone)]
pub struct Tracker {
    cfg: TrackerConfig,
    fps: f32,
    online: ByteTrack,
    detector_frames: BTreeSet<u64>,
    /// Every detection the tracker could use (score at least `low`), by frame, kept only when
    /// asked ([`Tracker::keep_usable`]): the refine stage's `extend` step takes those no track
    /// took. It grows with the video, so it is not kept for nothing.
    usable: BTreeMap<u64, Vec<Detection>>,
    keep_usable: bool,
    /// With `cfg.off`: the one-frame tracks so far.
    singles: Vec<Track>,
    /// Camera motions given for frames not tracked yet ([`Tracker::camera_moved`]).
    camera: BTreeMap<u64, CameraMotion>,
    /// The camera's motion from the first detector frame, per detector frame.
    path: CameraPath,
}

impl Tracker {
    /// `fps`: the video's frame rate ([`crate::types::VideoInfo::fps`]: positive and finite).
    pub fn new(cfg: TrackerConfig, fps: f32) -> Tracker {
        Tracker {
            cfg,
            fps,
            online: ByteTrack::new(cfg, fps),
            detector_frames: BTreeSet::new(),
            usable: BTreeMap::new(),
            keep_usable: false,
            singles: Vec::new(),
            camera: BTreeMap::new(),
            path: CameraPath::default(),
        }
    }

    /// The detections of one frame the detector ran on; frames in increasing order (a frame
    /// at or before the last one seen is ignored).
    pub fn update(&mut self, detections: &FrameDetections) {
        self.update_seen(detections, &[]);
    }

    /// [`Tracker::update`] with the colours of each detection (`appearance::describe`), which
    /// keeps ids apart where people cross. `looks` must have one entry per detection (else it
    /// is ignored).
    pub fn update_seen(&mut self, detections: &FrameDetections, looks: &[Appearance]) {
        if self.detector_frames.last().is_some_and(|&l| detections.frame.index <= l) {
            return;
        }
        self.detector_frames.insert(detections.frame.index);
        // The camera's motion up to this frame, in order (more than one motion where frames
        // were given motions but no detections).
        let mut moved = CameraMotion::STILL;
        while let Some(entry) = self.camera.first_entry().filter(|e| *e.key() <= detections.frame.index) {
            moved = moved.then(&entry.remove());
        }
        if moved != CameraMotion::STILL {
            self.online.follow_camera(&moved);
        }
        self.path.push(detections.frame.index, &moved);
        if self.keep_usable && !self.cfg.off {
            let usable: Vec<Detection> = detections.detections.iter().filter(|d| d.score >= self.cfg.low).copied().collect();
            if !usable.is_empty() {
                self.usable.insert(detections.frame.index, usable);
            }
        }
        if self.cfg.off {
            self.push_singles(detections);
        } else {
            self.online.update(detections, looks);
        }
    }

    /// The camera moved by `m` from the detector frame before `frame` to `frame`. Give it
    /// before or after `frame`'s detections are held back (the tile probe holds some), but
    /// before they are given to [`Tracker::update`]: the tracks' predictions move with the
    /// picture just before that frame is matched.
    pub fn camera_moved(&mut self, frame: u64, m: CameraMotion) {
        if !self.cfg.off && m != CameraMotion::STILL {
            self.camera.insert(frame, m);
        }
    }

    /// Keep every usable detection for [`Tracker::finish_all`] (for `refine::extend`).
    pub fn keep_usable(&mut self, keep: bool) {
        self.keep_usable = keep;
    }

    /// The frames the detector ran on so far, in order.
    pub fn detector_frames(&self) -> &BTreeSet<u64> {
        &self.detector_frames
    }

    /// [`Tracker::finish`], plus what the refine stage needs besides the tracks: the frames
    /// the detector ran on and every usable detection by frame.
    pub fn finish_all(mut self) -> Tracked {
        let detector_frames = self.detector_frames.clone();
        let usable = std::mem::take(&mut self.usable);
        let camera = std::mem::take(&mut self.path);
        Tracked { tracks: self.finish(), detector_frames, usable, camera }
    }

    fn push_singles(&mut self, detections: &FrameDetections) {
        for d in detections.detections.iter().filter(|d| d.score >= self.cfg.new_track) {
            let b = TrackBox {
                frame: detections.frame.index,
                bbox: d.bbox,
                score: d.score,
                source: BoxSource::Detected,
                keyframe: true,
                occluded: false,
            };
            let id = self.singles.len() as u64 + 1;
            let band = ReviewBand::Accept;
            self.singles.push(Track {
                id,
                class: d.class,
                boxes: vec![b],
                mean_score: d.score,
                min_score: d.score,
                band,
                stationary: false,
                looks: None,
            });
        }
    }

    /// The finished tracks, sorted by id (1, 2, ... in order of first frame).
    pub fn finish(self) -> Vec<Track> {
        if self.cfg.off {
            return self.singles;
        }
        let min_len = (self.cfg.min_length_s * self.fps).round().max(1.0) as u64;
        let mut raws: Vec<_> = self
            .online
            .finish()
            .into_iter()
            .filter(|r| match (r.detections.first(), r.detections.last()) {
                (Some(a), Some(b)) => b.0 - a.0 + 1 >= min_len,
                _ => false,
            })
            .collect();
        raws.sort_by_key(|r| (r.detections[0].0, r.serial));
        let frames = &self.detector_frames;
        raws.into_iter()
            .enumerate()
            .map(|(n, raw)| Track {
                looks: raw.looks.map(Box::new),
                ..dense_track(n as u64 + 1, raw.class, &raw.detections, |f| frames.contains(&f), self.cfg.keyframe_iou, &self.path)
            })
            .collect()
    }
}

/// A whole track from its detected boxes `(frame, box, score)`: the frames between filled in
/// ([`interpolate::densify`]), keyframes placed, scores taken from the detected boxes. Not
/// stationary and without colours; the tracker and the refine stage set those.
///
/// Where the camera moved (`camera`), the boxes between two detections are filled in as the
/// first frame would have shown them and put back into each frame's picture, so they follow
/// a pan that speeds up or turns. Keyframes are placed on the boxes as shown: annotation tools
/// interpolate in the picture.
pub(crate) fn dense_track(
    id: u64,
    class: u32,
    detections: &[(u64, crate::types::BBox, f32)],
    is_detector_frame: impl Fn(u64) -> bool,
    keyframe_iou: f32,
    camera: &CameraPath,
) -> Track {
    let mut boxes = if camera.is_still() {
        interpolate::densify(detections, is_detector_frame)
    } else {
        let at_start: Vec<_> = detections.iter().map(|&(f, b, s)| (f, camera.to_start(f, &b), s)).collect();
        let mut boxes = interpolate::densify(&at_start, is_detector_frame);
        for b in &mut boxes {
            // Detected boxes stay exactly as detected.
            b.bbox = match detections.binary_search_by_key(&b.frame, |d| d.0) {
                Ok(i) if b.source == BoxSource::Detected => detections[i].1,
                _ => camera.to_frame(b.frame, &b.bbox),
            };
        }
        boxes
    };
    keyframes::mark_keyframes(&mut boxes, keyframe_iou);
    let mut track = Track { id, class, boxes, mean_score: 0.0, min_score: 0.0, band: ReviewBand::Accept, stationary: false, looks: None };
    (track.mean_score, track.min_score) = track.detected_scores();
    track
}

#[cfg(test)]
mod tests;
