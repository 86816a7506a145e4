//! Stand-in for tracking: takes per-frame detections, gives [`VideoLabels`] in which every
//! detection is its own one-frame track (a detected keyframe). Lets the exporters and their
//! third-party checks run end to end before the tracker is wired in. CPU only.

use crate::types::{BoxSource, FrameDetections, ReviewBand, Track, TrackBox, VideoInfo, VideoLabels};

/// Collects detections frame by frame; [`OneFrameTracks::finish`] gives the labels.
#[derive(Debug, Default)]
pub struct OneFrameTracks {
    tracks: Vec<Track>,
    frames: u64,
}

impl OneFrameTracks {
    pub fn push(&mut self, frame: &FrameDetections) {
        self.frames = self.frames.max(frame.frame.index + 1);
        for d in &frame.detections {
            let b = TrackBox {
                frame: frame.frame.index,
                bbox: d.bbox,
                score: d.score,
                source: BoxSource::Detected,
                keyframe: true,
                occluded: false,
            };
            let id = self.tracks.len() as u64 + 1;
            self.tracks.push(Track {
                id,
                class: d.class,
                boxes: vec![b],
                mean_score: d.score,
                min_score: d.score,
                band: ReviewBand::Accept,
            });
        }
    }

    /// `frames`: frames decoded (at least the last frame pushed + 1).
    pub fn finish(self, video: &VideoInfo, frames: u64) -> VideoLabels {
        VideoLabels { video: video.clone(), frames: frames.max(self.frames), tracks: self.tracks }
    }
}

/// All of `frames` as one-frame tracks.
pub fn one_frame_tracks<'a>(video: &VideoInfo, frames: impl IntoIterator<Item = &'a FrameDetections>) -> VideoLabels {
    let mut t = OneFrameTracks::default();
    for f in frames {
        t.push(f);
    }
    t.finish(video, 0)
}
