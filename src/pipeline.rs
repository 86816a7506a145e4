//! Runs the stages over one video: decode and preprocess each on their own thread, inference,
//! postprocess and tracking on the caller's, joined by bounded channels so at most
//! `2 * batch_size` decoded frames and two prepared batches are in flight at any time,
//! whatever the length of the video. A prepared batch carries its frames' pixels on to the
//! tracker, which reads each detection's colours (`track::appearance`), so up to about
//! `4 * batch_size` frames are held at once (at 1080p YUV and batch 16, about 200 MB).
//! Refinement, routing and export run once at the end, on the finished tracks:
//! track -> refine -> route -> export, then, with `preview`, render (a second decode pass
//! that draws the final tracks: `render`'s doc says why a second pass).
//!
//! With `stride` N every frame is decoded (and counted) but only every Nth one, plus the last
//! frame of the video so tracks reach the end, goes to the detector; tracking fills the rest.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use crate::decode::VideoReader;
use crate::error::{Error, Result};
use crate::export::{write_labels, ExportContext, ExportOptions, Format};
use crate::route::{route, RouteOptions};
use crate::infer::Detector;
use crate::model::ModelSpec;
use crate::decode::PixelOutput;
use crate::devices::{Postprocess, Preparer};
use crate::refine::{refine, RefineConfig, RefineStats, VideoTiming};
use crate::track::appearance::describe;
use crate::track::{Tracked, Tracker, TrackerConfig};
use crate::types::{Batch, Frame, Region, VideoInfo, VideoLabels};
use crate::tile::{merge_batch, TilePlan, Tiling};

/// Busy time per stage, summed over the video (stages overlap, so these add up to more than
/// the wall time when the pipeline keeps every stage busy).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StageTimes {
    pub decode_s: f64,
    pub preprocess_s: f64,
    pub infer_s: f64,
    pub postprocess_s: f64,
    pub track_s: f64,
    /// Routing and writing the files.
    pub export_s: f64,
    /// The preview video and contact sheet (`--preview`), second decode pass included.
    pub render_s: f64,
}

/// What came of one video.
#[derive(Debug, Clone)]
pub struct VideoOutcome {
    pub info: VideoInfo,
    /// Frames decoded.
    pub frames: u64,
    /// Frames the detector ran on (all of them with stride 1).
    pub detector_frames: u64,
    pub detections: u64,
    /// Tracks written.
    pub tracks: u64,
    /// What the refine stage did.
    pub refined: RefineStats,
    pub decode_errors: u32,
    /// Set when the stream ended well before the frame count its container announced.
    pub truncated: Option<String>,
    pub files: Vec<PathBuf>,
    pub wall: Duration,
    pub stages: StageTimes,
}

pub struct Pipeline<'a> {
    pub spec: &'a ModelSpec,
    pub detector: &'a mut Detector,
    /// Stage 2 and stage 4, each on the device chosen for it (see `devices`).
    pub preparer: &'a mut Preparer,
    pub post: &'a mut Postprocess,
    pub batch_size: usize,
    pub formats: &'a [Format],
    /// Run the detector on every `stride`th frame (1: every frame).
    pub stride: usize,
    pub tracker: TrackerConfig,
    /// What the refine stage does with the finished tracks (`--refine` and its settings).
    pub refine: &'a RefineConfig,
    /// Which classes are kept under which labels, and the review levels (stage 6).
    pub route: &'a RouteOptions,
    pub export: &'a ExportOptions,
    /// Which regions of each frame the model sees (whole frame, tiles) and how their
    /// detections merge back.
    pub tiles: Tiling,
    /// Also write `preview.mp4` and `review.png` (stage 9, `render`).
    pub preview: bool,
}

impl Pipeline<'_> {
    /// Labels `video` into `out_dir` (created if needed). `on_frames(n)` is called as frames
    /// finish; `cancel` stops the run between batches, leaving no output files behind.
    pub fn run(
        &mut self,
        video: &Path,
        out_dir: &Path,
        cancel: &AtomicBool,
        on_start: &dyn Fn(&VideoInfo),
        on_frames: &(dyn Fn(u64) + Sync),
    ) -> Result<VideoOutcome> {
        let start = Instant::now();
        let reader = open_reader(video, self.preparer.on_gpu())?;
        let info = reader.info().clone();
        on_start(&info);
        std::fs::create_dir_all(out_dir)
            .map_err(|e| Error::Output(format!("cannot create {}: {e}", out_dir.display())))?;
        let mut tracker = Tracker::new(self.tracker, info.fps);
        tracker.keep_usable(self.refine.on(crate::refine::Step::Extend));

        let batch_size = self.batch_size.max(1);
        let (frame_tx, frame_rx) = sync_channel::<Result<Frame>>(batch_size * 2);
        // Each batch travels with its frames: the tracker reads the colours of each detection.
        let (batch_tx, batch_rx) = sync_channel::<Result<(Batch, Vec<Frame>)>>(2);
        let mut stages = StageTimes::default();
        let stride = self.stride.max(1) as u64;
        let mut detector_frames = 0u64;
        let mut detections = 0u64;
        // Frames reported to `on_frames` so far: with a stride, the skipped ones count too.
        let mut reported = 0u64;

        let (decoded, preprocess_s) = std::thread::scope(|s| -> Result<(Decoded, f64)> {
            let decoder = s.spawn(move || decode_loop(reader, frame_tx, cancel, stride));
            let preparer = &mut *self.preparer;
            let (input, tiles) = (&self.spec.input, &self.tiles);
            // The tracker reads each box's colours only with appearance on; else no frame is kept.
            let colours = self.tracker.appearance && !self.tracker.off;
            let prep = s.spawn(move || preprocess_loop(frame_rx, batch_tx, batch_size, colours, preparer, input, tiles));
            let consumed = (|| -> Result<()> {
                for batch in batch_rx.iter() {
                    let (batch, frames) = batch?;
                    let t = Instant::now();
                    let raw = self.detector.run(&batch)?;
                    let t_post = Instant::now();
                    // One entry per batch item (a frame, or one of its tiles)...
                    let labelled = self.post.process_batch(&raw, &batch)?;
                    // ...then one per frame: downstream never sees tiles.
                    let labelled = merge_batch(labelled, &batch.regions, &self.tiles.merge);
                    let t_track = Instant::now();
                    // One frame at a time, in frame order: the tracker cannot tell batches apart.
                    for (i, fd) in labelled.iter().enumerate() {
                        detections += fd.detections.len() as u64;
                        if let Some(frame) = frames.get(i).filter(|f| f.index == fd.frame.index) {
                            let boxes: Vec<_> = fd.detections.iter().map(|d| d.bbox).collect();
                            tracker.update_seen(fd, &describe(frame, &boxes));
                        } else {
                            tracker.update(fd);
                        }
                    }
                    stages.infer_s += (t_post - t).as_secs_f64();
                    stages.postprocess_s += (t_track - t_post).as_secs_f64();
                    stages.track_s += t_track.elapsed().as_secs_f64();
                    detector_frames += labelled.len() as u64;
                    let upto = labelled.last().map_or(reported, |f| f.frame.index + 1);
                    on_frames(upto.saturating_sub(reported));
                    reported = reported.max(upto);
                }
                Ok(())
            })();
            // On an error here, dropping the receiver unblocks the other threads.
            drop(batch_rx);
            let prep_s = prep.join().map_err(|_| Error::Inference("preprocess thread panicked".into()))?;
            let decoded = decoder.join().map_err(|_| Error::video(video, "decoder thread panicked"))?;
            consumed?;
            Ok((decoded, prep_s))
        })?;
        let (frames, decode_errors) = (decoded.frames, decoded.errors);
        stages.decode_s = decoded.busy_s;
        stages.preprocess_s = preprocess_s;

        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        if frames == 0 {
            return Err(Error::video(video, "no frames could be decoded"));
        }
        let truncated = (info.frames_hint > frames + 2).then(|| {
            format!("stream ended after {frames} of the {} frames its container announces (truncated or damaged file)", info.frames_hint)
        });
        on_frames(frames.saturating_sub(reported));
        let t = Instant::now();
        let Tracked { tracks, detector_frames: seen_frames, usable } = tracker.finish_all();
        let timing = VideoTiming { fps: info.fps, detector_frames: &seen_frames, usable: &usable, keyframe_iou: self.tracker.keyframe_iou };
        let (tracks, refined) = if self.tracker.off { (tracks, Default::default()) } else { refine(tracks, self.refine, &timing) };
        tracing::debug!("{}: refine {refined:?}", info.name);
        stages.track_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let labels = VideoLabels { video: info.clone(), frames, tracks };
        let tracks = labels.tracks.len() as u64;
        let routed = route(&labels, &self.route.labels, &self.route.thresholds);
        let ctx = ExportContext { video: &info, model: self.spec, dir: out_dir, label_set: &self.route.labels, options: self.export };
        let mut files = write_labels(self.formats, &ctx, &routed)?;
        stages.export_s += t.elapsed().as_secs_f64();
        if self.preview {
            let t = Instant::now();
            files.extend(crate::render::render(video, &routed, &self.route.labels, out_dir, cancel)?);
            stages.render_s = t.elapsed().as_secs_f64();
        }
        Ok(VideoOutcome {
            info,
            frames,
            detector_frames,
            detections,
            tracks,
            refined,
            decode_errors,
            truncated,
            files,
            wall: start.elapsed(),
            stages,
        })
    }
}

/// What the decode thread did.
#[derive(Debug, Clone, Copy)]
struct Decoded {
    /// Frames decoded, sent on or not.
    frames: u64,
    /// Decode errors skipped over.
    errors: u32,
    busy_s: f64,
}

/// Decodes until the end, an error (sent down the channel), a cancel, or the consumer
/// hanging up. Sends on frames whose index is a multiple of `stride`, and the last frame.
/// The last frame is only known once the next read finds the end, so each frame is held
/// back until the next one arrives (one frame of latency, no second pass over the file).
fn decode_loop(mut reader: VideoReader, tx: SyncSender<Result<Frame>>, cancel: &AtomicBool, stride: u64) -> Decoded {
    let mut busy = Duration::ZERO;
    let mut frames = 0u64;
    let mut held: Option<Frame> = None;
    loop {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let t = Instant::now();
        let next = reader.next_frame();
        busy += t.elapsed();
        match next {
            Ok(Some(frame)) => {
                frames += 1;
                if let Some(prev) = held.replace(frame) {
                    if prev.index % stride == 0 && tx.send(Ok(prev)).is_err() {
                        break;
                    }
                }
            }
            Ok(None) => {
                if let Some(last) = held.take() {
                    let _ = tx.send(Ok(last));
                }
                break;
            }
            Err(e) => {
                // The frames decoded before the error still get labelled, the last one included.
                if let Some(last) = held.take() {
                    let _ = tx.send(Ok(last));
                }
                let _ = tx.send(Err(e));
                break;
            }
        }
    }
    Decoded { frames, errors: reader.skipped_errors, busy_s: busy.as_secs_f64() }
}

/// The shader takes the decoder's YUV 4:2:0 planes as they are, which saves the CPU's colour
/// conversion; videos in other pixel formats are converted to RGB by swscale as before.
fn open_reader(video: &Path, gpu_preprocess: bool) -> Result<VideoReader> {
    if gpu_preprocess {
        match VideoReader::open_as(video, PixelOutput::Yuv420) {
            Ok(r) => return Ok(r),
            Err(e) => tracing::debug!("YUV decoding not possible, decoding to RGB: {e}"),
        }
    }
    VideoReader::open(video)
}

/// Groups frames into batches of `batch_size` frames and prepares each; every region the
/// tile plan gives a frame becomes one batch item, a frame's regions side by side, so a batch
/// holds `batch_size` x regions items. With `keep_frames` each batch travels with its frames
/// (the tracker reads their colours), else with none. Returns the time spent preparing.
fn preprocess_loop(
    rx: Receiver<Result<Frame>>,
    tx: SyncSender<Result<(Batch, Vec<Frame>)>>,
    batch_size: usize,
    keep_frames: bool,
    preparer: &mut Preparer,
    input: &crate::model::InputSpec,
    tiles: &Tiling,
) -> f64 {
    let mut busy = Duration::ZERO;
    let mut pending: Vec<Frame> = Vec::with_capacity(batch_size);
    // Frames of a video share one size, so the plan is computed once (again if it changes).
    let mut plan: Option<TilePlan> = None;
    let mut flush = |pending: &mut Vec<Frame>, busy: &mut Duration| -> bool {
        if pending.is_empty() {
            return true;
        }
        let t = Instant::now();
        let mut items: Vec<(&Frame, Region)> = Vec::new();
        for f in pending.iter() {
            let full = Region::full(&f.info());
            let p = match &plan {
                Some(p) if p.regions[0] == full => p,
                _ => {
                    let p = plan.insert(tiles.plan(f.width, f.height, input));
                    if p.is_tiled() {
                        let (w, h) = (f.width, f.height);
                        tracing::info!("{w}x{h} frames: whole frame + {}x{} tiles, {} model inputs per frame", p.rows, p.cols, p.regions.len());
                    }
                    p
                }
            };
            items.extend(p.regions.iter().map(|r| (f, *r)));
        }
        let batch = preparer.prepare(&items);
        *busy += t.elapsed();
        let failed = batch.is_err();
        let frames = if keep_frames { std::mem::take(pending) } else { Vec::new() };
        pending.clear();
        tx.send(batch.map(|b| (b, frames))).is_ok() && !failed
    };
    for frame in rx.iter() {
        match frame {
            Ok(f) => {
                pending.push(f);
                if pending.len() == batch_size && !flush(&mut pending, &mut busy) {
                    return busy.as_secs_f64();
                }
            }
            Err(e) => {
                // Frames decoded before the error still get labelled, then the error.
                if flush(&mut pending, &mut busy) {
                    let _ = tx.send(Err(e));
                }
                return busy.as_secs_f64();
            }
        }
    }
    flush(&mut pending, &mut busy);
    busy.as_secs_f64()
}
