//! The online part of the tracker, after ByteTrack (Zhang et al., 2022): takes the detections
//! of each frame the detector ran on, in frame order, gives for every confirmed track the
//! detections it was matched to. CPU.
//!
//! Per detector frame: every track's Kalman filter predicts to this frame; high-score
//! detections are matched to confirmed and lost tracks; the low-score ones (occluded or blurred
//! objects the detector is unsure of) are matched to the confirmed tracks still unmatched, which
//! keeps them alive through occlusion without ever starting a track from a low score; tentative
//! tracks take what high-score detections remain; the rest start new tentative tracks. Tracks
//! unmatched for longer than the lost buffer end. All in a fixed order, so the same detections
//! always give the same tracks, however they were batched.

use super::assign::{assign, Gate, Item};
use super::kalman::Kalman;
use super::TrackerConfig;
use crate::types::{Appearance, BBox, CameraMotion, FrameDetections, Looks};

/// Minimum IoU between a track's prediction and a detection, per stage (ByteTrack's
/// `match_thresh` 0.8 as a distance, then its fixed 0.5 and 0.7 distances).
const MATCH_IOU_HIGH: f32 = 0.2;
const MATCH_IOU_LOW: f32 = 0.5;
const MATCH_IOU_TENTATIVE: f32 = 0.3;
/// Buffered-IoU margin for tracks seen only once (whose velocity is unknown), per second since
/// the last detection beyond one frame at 25 fps: people walk up to about their height in a
/// second (4% of it per frame at 25 fps), so at lower frame rates a box has moved further by
/// the next frame.
const BUFFER_PER_S: f32 = 1.0;
/// Frame time within which no margin is needed (one frame at 25 fps).
const BUFFER_FREE_S: f32 = 0.04;
const MAX_BUFFER: f32 = 0.5;
/// The Kalman filter's time step, per second ([`kalman_steps`]).
const KALMAN_STEPS_PER_S: f32 = 25.0;
/// At most this many steps a frame (4 s of 25 fps), however low the frame rate says it is.
const MAX_STEPS_PER_FRAME: f32 = 100.0;
/// How fast a track's colours follow its latest confident detection (running average).
const LOOK_RATE: f32 = 0.1;
/// Detections averaged into a track's starting colours.
const HEAD_DETECTIONS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Seen fewer than `min_hits` times in a row: not yet believed.
    Tentative,
    /// Matched in the latest detector frame.
    Tracked,
    /// Confirmed, but unmatched since `last_frame`.
    Lost,
}

/// What the online tracker found for one confirmed track: its class and matched detections.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawTrack {
    /// Order of creation; only used to break ties deterministically.
    pub serial: u64,
    pub class: u32,
    /// (frame, detected box, score), in frame order.
    pub detections: Vec<(u64, BBox, f32)>,
    /// Colours at the start and the end, when the detections came with pixels.
    pub looks: Option<Looks>,
}

#[derive(Debug, Clone)]
struct Live {
    raw: RawTrack,
    kalman: Kalman,
    state: State,
    hits: u32,
}

impl Live {
    fn last_frame(&self) -> u64 {
        self.raw.detections.last().map_or(0, |d| d.0)
    }
    fn item(&self, frame: u64, fps: f32) -> Item<'_> {
        let unknown_motion = self.hits < 2;
        let since_s = ((frame - self.last_frame()) as f32 / fps - BUFFER_FREE_S).max(0.0);
        let buffer = if unknown_motion { (BUFFER_PER_S * since_s).min(MAX_BUFFER) } else { 0.0 };
        Item { bbox: self.kalman.bbox(), class: self.raw.class, buffer, look: self.raw.looks.as_ref().map(|l| &l.tail) }
    }
    /// `look`: the detection's colours, given only for confident detections (an occluded
    /// person's low-score box shows mostly the occluder).
    fn take(&mut self, frame: u64, bbox: BBox, score: f32, look: Option<&Appearance>) {
        self.kalman.update(&bbox);
        self.raw.detections.push((frame, bbox, score));
        self.hits += 1;
        if let Some(new) = look {
            match &mut self.raw.looks {
                None => self.raw.looks = Some(Looks { head: new.clone(), tail: new.clone() }),
                Some(l) => {
                    l.tail.blend(new, LOOK_RATE);
                    if self.raw.detections.len() as u32 <= HEAD_DETECTIONS {
                        l.head.blend(new, 1.0 / self.raw.detections.len() as f32);
                    }
                }
            }
        }
    }
}

/// The Kalman filter's steps for `frames` video frames. Its noise is ByteTrack's, set for
/// 25-30 fps video, so below 25 fps each frame counts as the whole number of 25 fps frames
/// nearest its length: at 6.25 fps a person's walk changes as much between two frames as it
/// does over 4 frames at 25 fps, and the filter then predicts as it does with the detector on
/// every 4th frame (`--stride 4`). At 25 fps and above, a step is a frame. Whole steps per
/// frame keep the filter's velocity in one unit (per step) for every gap.
fn kalman_steps(frames: u64, fps: f32) -> u64 {
    // Under 0.25 fps a frame counts as 4 s (the filter has forgotten the walk by then anyway);
    // a rate that is not a number, as 25 fps.
    let per_frame = (KALMAN_STEPS_PER_S / fps).round();
    let per_frame = if per_frame.is_nan() { 1 } else { per_frame.clamp(1.0, MAX_STEPS_PER_FRAME) as u64 };
    frames.saturating_mul(per_frame)
}

/// ByteTrack over the detector frames of one video.
#[derive(Debug, Clone)]
pub struct ByteTrack {
    cfg: TrackerConfig,
    /// The lost buffer in frames (the configured seconds at the video's frame rate).
    max_lost: u64,
    fps: f32,
    live: Vec<Live>,
    ended: Vec<RawTrack>,
    last_frame: Option<u64>,
    serial: u64,
}

impl ByteTrack {
    /// `fps`: the video's frame rate ([`crate::types::VideoInfo::fps`]: positive and finite).
    pub fn new(cfg: TrackerConfig, fps: f32) -> ByteTrack {
        let max_lost = (cfg.buffer_s * fps).round().max(0.0) as u64;
        ByteTrack { cfg, max_lost, fps, live: Vec::new(), ended: Vec::new(), last_frame: None, serial: 0 }
    }

    /// Feeds the detections of one detector frame. Frames must come in increasing order; a
    /// frame at or before the last one seen is ignored.
    /// `looks`: one appearance per detection of `fd`, or empty when the pixels were not seen.
    pub fn update(&mut self, fd: &FrameDetections, looks: &[Appearance]) {
        let frame = fd.frame.index;
        let looks = if looks.len() == fd.detections.len() { Some(looks) } else { None };
        let gate = Gate { use_appearance: looks.is_some() && self.cfg.appearance, min_similarity: self.cfg.min_similarity };
        let first = match self.last_frame {
            Some(last) if frame <= last => return,
            Some(last) => {
                let steps = kalman_steps(frame - last, self.fps);
                for t in &mut self.live {
                    t.kalman.predict(steps);
                }
                false
            }
            None => true,
        };
        self.last_frame = Some(frame);

        // Detections with their index in `fd`, which their appearance shares.
        let usable = |d: &(usize, &crate::types::Detection)| d.1.score >= self.cfg.low && d.1.bbox.area() > 0.0;
        let (high, low): (Vec<_>, Vec<_>) = fd.detections.iter().enumerate().filter(usable).partition(|d| d.1.score >= self.cfg.high);
        let look_of = |i: usize| looks.map(|l| &l[i]);
        let as_items = |dets: &[(usize, &crate::types::Detection)]| -> Vec<Item> {
            dets.iter().map(|(i, d)| Item { bbox: d.bbox, class: d.class, buffer: 0.0, look: look_of(*i) }).collect()
        };
        let mut high_used = vec![false; high.len()];

        // Stage 1: high-score detections against confirmed tracks, lost ones included.
        let pool: Vec<usize> = (0..self.live.len()).filter(|&i| self.live[i].state != State::Tentative).collect();
        let mut matched = vec![false; self.live.len()];
        let items: Vec<Item> = pool.iter().map(|&i| self.live[i].item(frame, self.fps)).collect();
        let pairs = assign(&items, &as_items(&high), MATCH_IOU_HIGH, gate);
        drop(items);
        for (p, d) in pairs {
            let t = &mut self.live[pool[p]];
            let (i, det) = high[d];
            t.take(frame, det.bbox, det.score, look_of(i));
            t.state = State::Tracked;
            matched[pool[p]] = true;
            high_used[d] = true;
        }

        // Stage 2: low-score detections keep tracks that were visible last time alive.
        let pool: Vec<usize> = (0..self.live.len()).filter(|&i| !matched[i] && self.live[i].state == State::Tracked).collect();
        let items: Vec<Item> = pool.iter().map(|&i| self.live[i].item(frame, self.fps)).collect();
        let pairs = assign(&items, &as_items(&low), MATCH_IOU_LOW, Gate::OFF);
        drop(items);
        for (p, d) in pairs {
            self.live[pool[p]].take(frame, low[d].1.bbox, low[d].1.score, None);
            matched[pool[p]] = true;
        }
        for (t, m) in self.live.iter_mut().zip(&matched) {
            if !m && t.state == State::Tracked {
                t.state = State::Lost;
            }
        }

        // Stage 3: tentative tracks take what is left of the high-score detections.
        let rest: Vec<usize> = (0..high.len()).filter(|&d| !high_used[d]).collect();
        let pool: Vec<usize> = (0..self.live.len()).filter(|&i| self.live[i].state == State::Tentative).collect();
        let items: Vec<Item> = pool.iter().map(|&i| self.live[i].item(frame, self.fps)).collect();
        let rest_dets: Vec<_> = rest.iter().map(|&d| high[d]).collect();
        let pairs = assign(&items, &as_items(&rest_dets), MATCH_IOU_TENTATIVE, gate);
        drop(items);
        for (p, r) in pairs {
            let t = &mut self.live[pool[p]];
            let (i, det) = high[rest[r]];
            t.take(frame, det.bbox, det.score, look_of(i));
            if t.hits >= self.cfg.min_hits {
                t.state = State::Tracked;
            }
            matched[pool[p]] = true;
            high_used[rest[r]] = true;
        }

        // Tentative tracks that missed a frame were noise; lost tracks past the buffer end.
        let max_lost = self.max_lost;
        let mut kept = Vec::with_capacity(self.live.len());
        for (t, m) in std::mem::take(&mut self.live).into_iter().zip(matched) {
            match t.state {
                State::Tentative if !m => {}
                State::Lost if frame - t.last_frame() > max_lost => self.ended.push(t.raw),
                _ => kept.push(t),
            }
        }
        self.live = kept;

        // New tracks from confident unmatched detections; on the very first frame they are
        // believed at once, as nothing could have confirmed them earlier.
        for (d, &(i, det)) in high.iter().enumerate() {
            if high_used[d] || det.score < self.cfg.new_track {
                continue;
            }
            let looks = look_of(i).map(|l| Looks { head: l.clone(), tail: l.clone() });
            let raw = RawTrack { serial: self.serial, class: det.class, detections: vec![(frame, det.bbox, det.score)], looks };
            self.serial += 1;
            let state = if first || self.cfg.min_hits <= 1 { State::Tracked } else { State::Tentative };
            self.live.push(Live { raw, kalman: Kalman::new(&det.bbox), state, hits: 1 });
        }
    }

    /// The camera moved by `m` since the last detector frame: every live track's state moves
    /// with the picture, so the next frame's matching compares like with like.
    pub fn follow_camera(&mut self, m: &CameraMotion) {
        for t in &mut self.live {
            t.kalman.follow_camera(m);
        }
    }

    /// Ends every track: the confirmed ones, in order of creation.
    pub fn finish(mut self) -> Vec<RawTrack> {
        self.ended.extend(self.live.into_iter().filter(|t| t.state != State::Tentative).map(|t| t.raw));
        self.ended.sort_by_key(|r| r.serial);
        self.ended
    }
}

#[cfg(test)]
mod tests {
    use super::kalman_steps;

    #[test]
    fn the_kalman_filter_steps_in_25ths_of_a_second_whole_steps_per_frame() {
        assert_eq!(kalman_steps(1, 25.0), 1);
        assert_eq!(kalman_steps(7, 25.0), 7, "--stride 7 at 25 fps: seven frames, seven steps");
        assert_eq!(kalman_steps(1, 6.25), 4, "one in four frames of 25 fps");
        assert_eq!(kalman_steps(3, 6.25), 12);
        assert_eq!(kalman_steps(1, 25.0 / 3.0), 3);
        assert_eq!(kalman_steps(2, 12.5), 4);
        // At 25 fps and above, a frame is a step, as ByteTrack has it.
        assert_eq!(kalman_steps(1, 30.0), 1);
        assert_eq!(kalman_steps(10, 50.0), 10);
        assert_eq!(kalman_steps(0, 6.25), 0);
        // Nonsense rates stay bounded.
        assert_eq!(kalman_steps(2, 1e-6), 200);
        assert_eq!(kalman_steps(2, 0.0), 200);
        assert_eq!(kalman_steps(2, f32::NAN), 2);
    }
}
