//! Runs the stages over videos, several at once (`--jobs`). Per video, a decode thread
//! sends frames into the shared model stages ([`engine`]: batches pooled across every video
//! in flight, preprocess, inference, postprocess) and the video's own thread takes each
//! frame's detections back, in frame order, and tracks them; refinement, routing and export
//! then run once on the finished tracks: track -> refine -> route -> export, then, with
//! `preview`, render (a second decode pass that draws the final tracks: `render`'s doc says
//! why a second pass). A video's labels are the same whichever videos share its batches.
//!
//! Memory is bounded per job, not per video: at most `engine::frames_in_flight` frames
//! between decoding and tracking (each decoder also holds the frame it is reading). With the
//! tracker reading colours (`track::appearance`) those frames keep their pixels until tracked
//! (at 1080p YUV, batch 16 and 8 videos, 48 frames: about 150 MB).
//!
//! With `stride` N every frame is decoded (and counted) but only every Nth one, plus the last
//! frame of the video so tracks reach the end, goes to the detector; tracking fills the rest.

pub mod engine;
mod probe;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use self::engine::BatchStats;
use self::engine::{Detected, Engine, Permits, Work};
use self::probe::{Held, Probe, TileChoice};
use crate::decode::{DecoderUsed, HwDecode, PixelOutput, VideoReader};
use crate::devices::{Postprocess, Preparer};
use crate::error::{Error, Result};
use crate::export::{write_labels, ExportContext, ExportOptions, Format};
use crate::infer::Detector;
use crate::model::ModelSpec;
use crate::refine::{refine, RefineConfig, RefineStats, VideoTiming};
use crate::route::{route_owned, RouteOptions};
use crate::tile::{TileMode, Tiling};
use crate::track::appearance::describe;
use crate::track::camera::CameraFollower;
use crate::track::{Tracked, Tracker, TrackerConfig};
use crate::types::{Appearance, FrameDetections, VideoInfo, VideoLabels};

/// Busy time per stage, summed over the video (stages overlap, so these add up to more than
/// the wall time when the pipeline keeps every stage busy). Preprocess, inference and
/// postprocess work on batches shared by several videos; each frame is charged its share.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StageTimes {
    pub decode_s: f64,
    pub preprocess_s: f64,
    pub infer_s: f64,
    pub postprocess_s: f64,
    /// Tracking, the end of the video's tracks included.
    pub track_s: f64,
    /// Refining the finished tracks (stage `refine`).
    pub refine_s: f64,
    /// Routing and writing the files.
    pub export_s: f64,
    /// The preview video and contact sheet (`--preview`) and the web copy (`--web-video`),
    /// their decode passes included.
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
    /// Which decoder ran (NVDEC or the CPU), and why not NVDEC.
    pub decoder: DecoderUsed,
    pub files: Vec<PathBuf>,
    pub wall: Duration,
    pub stages: StageTimes,
    /// With `--tiles auto`: what the probe of the first frames chose, and why.
    pub tiles: Option<String>,
    /// How much the camera moved ([`CameraFollower::summary`]); none without `--camera-motion`.
    pub camera: Option<String>,
}

/// When to stop: the user's cancel (Ctrl-C, SIGTERM), or the job giving up (the model failed).
pub struct Stop<'a> {
    user: &'a AtomicBool,
    job: AtomicBool,
}

impl Stop<'_> {
    pub fn new(user: &AtomicBool) -> Stop<'_> {
        Stop { user, job: AtomicBool::new(false) }
    }
    pub(crate) fn requested(&self) -> bool {
        self.by_user() || self.job.load(Ordering::Relaxed)
    }
    pub(crate) fn by_user(&self) -> bool {
        self.user.load(Ordering::Relaxed)
    }
    /// Stops every video in flight (they end as interrupted).
    pub(crate) fn halt(&self) {
        self.job.store(true, Ordering::Relaxed);
    }
}

/// Videos decoded at once for `--jobs 0` (auto), given where the model runs and the cores.
/// On the CPU the model takes most of the time: half the cores (2 to 8) decode, enough to keep
/// it busy while one video opens or finishes (tracking, export), leaving ONNX Runtime the
/// rest. With the model on CUDA, decoding is the limit: one video per core, up to 16.
pub(crate) fn auto_jobs(model_on_cuda: bool, cores: usize) -> usize {
    if model_on_cuda {
        cores.clamp(1, 16)
    } else {
        (cores / 2).clamp(2, 8)
    }
}

/// A labelling job's stages and settings: the one way in for the command line, the benches
/// and a program that embeds prelabel. Borrows the model stages (loaded once, reused by any
/// number of pipelines), owns its settings; [`Pipeline::new`] starts from the defaults of
/// `prelabel run` for the model, and each setter changes one. [`Pipeline::run`] labels one
/// video, [`Pipeline::serve`] many at once ([`crate::batch::BatchJob`] runs a whole job).
///
/// ```no_run
/// use std::path::Path;
/// use std::sync::atomic::AtomicBool;
///
/// use prelabel::devices::{DeviceRequest, ShaderStages};
/// use prelabel::infer::{Detector, DeviceChoice};
/// use prelabel::model::ModelSpec;
/// use prelabel::pipeline::Pipeline;
/// use prelabel::postprocess::Filter;
///
/// fn main() -> prelabel::error::Result<()> {
///     let spec = ModelSpec::load(Path::new("models/nanodet_g_coco.toml"))?;
///     let mut detector = Detector::new(&spec, DeviceChoice::Auto, 0, None)?;
///     // The tracker keeps boxes down to its low level (0.1 by default): keep them all.
///     let filter = Filter { score_threshold: 0.1, classes: spec.default_class_indices(), max_detections: 100 };
///     let mut shaders = ShaderStages::new(&DeviceRequest::all(DeviceChoice::Auto), &spec, filter)?;
///     let mut pipeline = Pipeline::new(&spec, &mut detector, &mut shaders.preparer, &mut shaders.postprocess).stride(5);
///     let outcome = pipeline.run(Path::new("clip.mp4"), Path::new("labels/clip.mp4"), &AtomicBool::new(false), &|_| {}, &|_| {})?;
///     println!("{} tracks in {} frames: {:?}", outcome.tracks, outcome.frames, outcome.files);
///     Ok(())
/// }
/// ```
pub struct Pipeline<'a> {
    pub(crate) spec: &'a ModelSpec,
    detector: &'a mut Detector,
    /// Preprocess and postprocess, each on the device chosen for it (see `devices`).
    preparer: &'a mut Preparer,
    post: &'a mut Postprocess,
    batch_size: usize,
    pub(crate) formats: Vec<Format>,
    /// Run the detector on every `stride`th frame (1: every frame).
    stride: usize,
    tracker: TrackerConfig,
    /// What the refine stage does with the finished tracks (`--refine` and its settings).
    refine: RefineConfig,
    /// Which classes are kept under which labels, and the review levels (stage `route`).
    route: RouteOptions,
    pub(crate) export: ExportOptions,
    /// Which regions of each frame the model sees (whole frame, tiles) and how their
    /// detections merge back.
    tiles: Tiling,
    /// Where videos are decoded: NVDEC first, or the CPU only (`--decode-device`).
    decode: HwDecode,
    /// Also write `preview.mp4` and `review.png` (stage `render`).
    pub(crate) preview: bool,
}

impl<'a> Pipeline<'a> {
    /// The model's stages with `prelabel run`'s defaults: the detector's own batch size, every
    /// format, the detector on every frame, the default tracker and refinement, every class
    /// under its own name, whole frames (no tiles), NVDEC where it works, no preview.
    pub fn new(spec: &'a ModelSpec, detector: &'a mut Detector, preparer: &'a mut Preparer, post: &'a mut Postprocess) -> Pipeline<'a> {
        Pipeline {
            spec,
            batch_size: detector.auto_batch_size(),
            detector,
            preparer,
            post,
            formats: Format::ALL.to_vec(),
            stride: 1,
            tracker: TrackerConfig::default(),
            refine: RefineConfig::default(),
            route: RouteOptions::defaults(spec),
            export: ExportOptions::default(),
            tiles: Tiling::off(spec, 100),
            decode: HwDecode::Cuda,
            preview: false,
        }
    }

    /// Frames (regions) per model call; 0 keeps the detector's own choice.
    pub fn batch_size(mut self, n: usize) -> Self {
        if n > 0 {
            self.batch_size = n;
        }
        self
    }
    /// The label files to write (duplicates written once).
    pub fn formats(mut self, formats: &[Format]) -> Self {
        self.formats = formats.to_vec();
        self.formats.dedup();
        self
    }
    /// Runs the detector on every `n`th frame (and the last); tracking fills the rest.
    pub fn stride(mut self, n: usize) -> Self {
        self.stride = n;
        self
    }
    pub fn tracker(mut self, cfg: TrackerConfig) -> Self {
        self.tracker = cfg;
        self
    }
    pub fn refine(mut self, cfg: RefineConfig) -> Self {
        self.refine = cfg;
        self
    }
    /// Which classes are kept under which labels, and the review levels.
    pub fn route(mut self, route: RouteOptions) -> Self {
        self.route = route;
        self
    }
    pub fn export(mut self, export: ExportOptions) -> Self {
        self.export = export;
        self
    }
    /// Which regions of each frame the model sees and how their detections merge.
    pub fn tiles(mut self, tiles: Tiling) -> Self {
        self.tiles = tiles;
        self
    }
    /// Where videos are decoded (NVDEC first, or the CPU only).
    pub fn decode(mut self, decode: HwDecode) -> Self {
        self.decode = decode;
        self
    }
    /// Also writes `preview.mp4` and `review.png`.
    pub fn preview(mut self, on: bool) -> Self {
        self.preview = on;
        self
    }

    /// Labels `video` into `out_dir` (created if needed), alone. `on_frames(n)` is called as
    /// frames finish; `cancel` stops the run between frames, leaving no output files behind.
    pub fn run(
        &mut self,
        video: &Path,
        out_dir: &Path,
        cancel: &AtomicBool,
        on_start: &dyn Fn(&VideoInfo),
        on_frames: &(dyn Fn(u64) + Sync),
    ) -> Result<VideoOutcome> {
        let stop = Stop::new(cancel);
        self.serve(1, &stop, |videos| videos.label(video, out_dir, out_dir, &stop, on_start, on_frames)).0
    }

    /// Starts the shared model stages for up to `jobs` videos in flight and calls `f` with
    /// the handle through which any number of threads label videos ([`Videos::label`]);
    /// the stages stop once `f` returns. Gives what `f` gave and how the batches were filled.
    pub fn serve<R>(&mut self, jobs: usize, stop: &Stop, f: impl FnOnce(&Videos) -> R) -> (R, BatchStats) {
        let batch_size = self.batch_size.max(1);
        let permits = Permits::new(engine::frames_in_flight(batch_size, jobs));
        let (queue, queued) = std::sync::mpsc::sync_channel::<Work>(permits.cap);
        // The tracker reads the frame for each box's colours and for the camera's motion;
        // with neither, no frame is kept.
        let keep_frames = (self.tracker.appearance || self.tracker.camera_motion) && !self.tracker.off;
        let yuv = self.preparer.on_gpu();
        let engine = Engine {
            preparer: &mut *self.preparer,
            detector: &mut *self.detector,
            post: &mut *self.post,
            input: &self.spec.input,
            tiles: self.tiles,
            batch_size,
            keep_frames,
        };
        let videos = Videos {
            spec: self.spec,
            formats: &self.formats,
            stride: self.stride.max(1) as u64,
            tracker: self.tracker,
            refine: &self.refine,
            route: &self.route,
            export: &self.export,
            decode: self.decode,
            preview: self.preview,
            tiles: self.tiles,
            yuv,
            queue,
            permits,
            numbered: AtomicU64::new(0),
        };
        std::thread::scope(|s| {
            let model = s.spawn(move || engine.run(queued, stop));
            let r = f(&videos);
            // Closes the queue: the engine answers what is left and ends.
            drop(videos);
            let stats = model.join().unwrap_or_else(|_| {
                // Its videos have already failed: their frames did not come back.
                tracing::error!("the model stages stopped with a panic");
                BatchStats::default()
            });
            tracing::debug!("{stats:?}");
            (r, stats)
        })
    }
}

/// Labels videos through running model stages ([`Pipeline::serve`]); shared by the job's
/// video threads.
pub struct Videos<'p> {
    spec: &'p ModelSpec,
    formats: &'p [Format],
    stride: u64,
    tracker: TrackerConfig,
    refine: &'p RefineConfig,
    route: &'p RouteOptions,
    export: &'p ExportOptions,
    decode: HwDecode,
    preview: bool,
    tiles: Tiling,
    /// Decode to YUV planes for the preprocess shader.
    yuv: bool,
    queue: SyncSender<Work>,
    permits: Arc<Permits>,
    /// Videos started so far (each video's frames carry its number).
    numbered: AtomicU64,
}

/// What a video's tracking thread took back from the model stages.
#[derive(Default)]
struct Seen {
    detector_frames: u64,
    detections: u64,
    /// Frames reported to `on_frames` so far: with a stride, the skipped ones count too.
    reported: u64,
    /// What `--tiles auto` chose.
    tiles: Option<String>,
    camera: Option<String>,
}

impl Videos<'_> {
    /// Labels `video` into `out_dir` (created if needed), a staging folder the caller renames
    /// to `final_dir` when done (the same folder when labelling in place): label files name
    /// paths (`--video-url`) by the final folder. `on_frames(n)` is called as frames finish;
    /// `stop` ends it between frames with [`Error::Interrupted`], leaving no output files
    /// behind.
    #[allow(clippy::too_many_arguments)]
    pub fn label(
        &self,
        video: &Path,
        out_dir: &Path,
        final_dir: &Path,
        stop: &Stop,
        on_start: &dyn Fn(&VideoInfo),
        on_frames: &(dyn Fn(u64) + Sync),
    ) -> Result<VideoOutcome> {
        let start = Instant::now();
        let reader = open_reader(video, self.yuv, self.decode)?;
        let info = reader.info().clone();
        on_start(&info);
        std::fs::create_dir_all(out_dir).map_err(|e| Error::write(format!("cannot create {}", out_dir.display()), &e))?;
        let mut tracker = Tracker::new(self.tracker, info.fps);
        tracker.keep_usable(self.refine.on(crate::refine::Step::Extend));
        let mut stages = StageTimes::default();

        let (reply, replies) = channel::<Result<Detected>>();
        let choice = TileChoice::new(self.tiles.config.mode == TileMode::Auto, self.tiles.config.probe_every);
        let input = self.spec.input.for_frame(info.width, info.height);
        let grids = (self.tiles.plan(info.width, info.height, &input).grid(), self.tiles.fine_plan(info.width, info.height, &input).grid());
        let whole = crate::types::Region { x: 0, y: 0, width: info.width, height: info.height };
        let input_scale = crate::preprocess::InputTransform::for_region(whole, &input).scale_y;
        // Set when this video's tracking stops early: its decoder stops waiting for room.
        let gave_up = AtomicBool::new(false);
        let quit = || stop.requested() || gave_up.load(Ordering::Relaxed);
        let (seen, decoded) = std::thread::scope(|s| {
            let to = Queue { video: self.numbered.fetch_add(1, Ordering::Relaxed), queue: &self.queue, reply, permits: &self.permits };
            let decoder = s.spawn(|| decode_loop(reader, to, &quit, self.stride, &choice));
            let seen = self.track(replies, &mut tracker, &mut stages, on_frames, Probe::new(&choice, grids, input_scale));
            if seen.is_err() {
                gave_up.store(true, Ordering::Relaxed);
            }
            let decoded = decoder.join().map_err(|_| Error::video(video, "decoder thread panicked"));
            (seen, decoded)
        });
        let (seen, decoded) = (seen?, decoded?);
        if let Some(t) = &seen.tiles {
            tracing::info!("{}: {t}", info.name);
        }
        if stop.requested() {
            return Err(Error::Interrupted);
        }
        if let Some(e) = decoded.error {
            return Err(e);
        }
        if seen.detector_frames != decoded.sent {
            return Err(Error::Inference(format!(
                "{} of {} frames came back from the model stages (they stopped)",
                seen.detector_frames, decoded.sent
            )));
        }
        let frames = decoded.frames;
        stages.decode_s = decoded.busy_s;
        if frames == 0 {
            return Err(Error::video(video, "no frames could be decoded"));
        }
        let truncated = (info.frames_hint > frames + 2).then(|| {
            format!("stream ended after {frames} of the {} frames its container announces (truncated or damaged file)", info.frames_hint)
        });
        on_frames(frames.saturating_sub(seen.reported));
        let (tracks, refined, files) = self.finish(tracker, &info, frames, (out_dir, final_dir), &mut stages, stop)?;
        Ok(VideoOutcome {
            info,
            frames,
            detector_frames: seen.detector_frames,
            detections: seen.detections,
            tracks,
            refined,
            decode_errors: decoded.errors,
            truncated,
            decoder: decoded.decoder,
            files,
            wall: start.elapsed(),
            stages,
            tiles: seen.tiles,
            camera: seen.camera,
        })
    }

    /// Takes the video's detections as they come back, strictly in frame order, and tracks
    /// them one frame at a time (the tracker cannot tell batches apart). Returns at the end
    /// of the video or on the first error.
    /// With `--tiles auto`, probed frames are held until their probe ends (see `probe`), then
    /// tracked in order with the chosen detections.
    fn track(
        &self,
        replies: Receiver<Result<Detected>>,
        tracker: &mut Tracker,
        stages: &mut StageTimes,
        on_frames: &(dyn Fn(u64) + Sync),
        mut probe: Probe,
    ) -> Result<Seen> {
        let mut seen = Seen::default();
        let mut last: Option<u64> = None;
        let mut camera = (self.tracker.camera_motion && !self.tracker.off).then(CameraFollower::new);
        let feed = |tracker: &mut Tracker, seen: &mut Seen, fd: &FrameDetections, looks: &[Appearance]| {
            seen.detections += fd.detections.len() as u64;
            tracker.update_seen(fd, looks);
            seen.detector_frames += 1;
            let index = fd.frame.index;
            on_frames((index + 1).saturating_sub(seen.reported));
            seen.reported = seen.reported.max(index + 1);
        };
        // Dropping `replies` on an error lets the engine drop this video's later results.
        for (received, d) in replies.iter().enumerate() {
            let d = d?;
            let index = d.detections.frame.index;
            if last.is_some_and(|l| index <= l) {
                return Err(Error::Inference(format!("frame {index} came back after frame {}", last.unwrap_or(0))));
            }
            last = Some(index);
            stages.preprocess_s += d.preprocess_s;
            stages.infer_s += d.infer_s;
            stages.postprocess_s += d.postprocess_s;
            let t = Instant::now();
            let frame = d.frame.as_ref().filter(|f| f.index == index);
            // Measured on every frame as it comes, in order, even while the probe holds its
            // detections: the tracker applies it when the frame is tracked.
            if let (Some(camera), Some(f)) = (camera.as_mut(), frame) {
                tracker.camera_moved(index, camera.follow(f, &d.detections.detections));
            }
            // The colours of each box, when the tracker reads them (an empty list: it does not).
            let frame = frame.filter(|_| self.tracker.appearance);
            let looks = |fd: &FrameDetections| {
                frame.map(|f| describe(f, &fd.detections.iter().map(|d| d.bbox).collect::<Vec<_>>())).unwrap_or_default()
            };
            let ready = match d.whole {
                Some(whole) if probe.undecided() => {
                    let (tiled_looks, whole_looks) = (looks(&d.detections), looks(&whole));
                    probe.hold(Held { tiled: (d.detections, tiled_looks), whole: (whole, whole_looks) })
                }
                // A frame the probe wanted but that could not be tiled: nothing to compare,
                // the whole frame it is.
                None if probe.expects(received as u64) => {
                    let mut ready = probe.choose();
                    let l = looks(&d.detections);
                    ready.push((d.detections, l));
                    ready
                }
                _ => {
                    let l = looks(&d.detections);
                    vec![(d.detections, l)]
                }
            };
            for (fd, looks) in &ready {
                feed(tracker, &mut seen, fd, looks);
            }
            stages.track_s += t.elapsed().as_secs_f64();
        }
        // A video shorter than the probe: choose on what it had.
        for (fd, looks) in &probe.choose() {
            feed(tracker, &mut seen, fd, looks);
        }
        seen.tiles = probe.chosen;
        seen.camera = camera.map(|c| c.summary());
        Ok(seen)
    }

    /// Refines the finished tracks, routes them and writes every format (and the preview).
    fn finish(
        &self,
        tracker: Tracker,
        info: &VideoInfo,
        frames: u64,
        (out_dir, final_dir): (&Path, &Path),
        stages: &mut StageTimes,
        stop: &Stop,
    ) -> Result<(u64, RefineStats, Vec<PathBuf>)> {
        let t = Instant::now();
        let Tracked { tracks, detector_frames: seen_frames, usable, camera } = tracker.finish_all();
        stages.track_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let timing = VideoTiming {
            fps: info.fps,
            detector_frames: &seen_frames,
            usable: &usable,
            keyframe_iou: self.tracker.keyframe_iou,
            frame: (info.width, info.height),
            camera: &camera,
        };
        let (tracks, refined) = if self.tracker.off { (tracks, Default::default()) } else { refine(tracks, self.refine, &timing) };
        tracing::debug!("{}: refine {refined:?}", info.name);
        stages.refine_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let labels = VideoLabels { video: info.clone(), frames, tracks };
        let tracks = labels.tracks.len() as u64;
        let routed = route_owned(labels, &self.route.labels, &self.route.thresholds);
        let ctx =
            ExportContext { video: info, model: self.spec, dir: out_dir, final_dir, label_set: &self.route.labels, options: self.export };
        let mut files = write_labels(self.formats, &ctx, &routed)?;
        stages.export_s += t.elapsed().as_secs_f64();
        // The web copy is linked when browsers play the source as it is; else encoded again,
        // from the preview's decode when there is one (one decode for both, not two).
        let t = Instant::now();
        let (mut web_copy, mut web_encoder) = (None, None);
        if self.export.web_video {
            web_copy = crate::render::web::link_if_playable(&info.path, out_dir)?;
            if web_copy.is_none() && self.preview {
                web_encoder = Some(crate::render::web::WebEncoder::new(out_dir, info.width, info.height, info.fps)?);
            }
        }
        if self.preview {
            files.extend(crate::render::render(&info.path, &routed, &self.route.labels, out_dir, stop.user, web_encoder.as_mut())?);
        }
        if self.export.web_video {
            let copy = match (web_copy, web_encoder) {
                (Some(linked), _) => linked,
                (None, Some(encoder)) => encoder.finish(&info.path)?,
                (None, None) => crate::render::web::transcode(&info.path, out_dir, stop.user)?,
            };
            if copy.frames.is_some_and(|n| n != frames) {
                tracing::warn!("{}: the web copy has {} frames, the labels {frames}", info.name, copy.frames.unwrap_or(0));
            }
            files.push(copy.path);
        }
        if self.preview || self.export.web_video {
            stages.render_s = t.elapsed().as_secs_f64();
        }
        Ok((tracks, refined, files))
    }
}

/// What the decode thread did.
#[derive(Debug)]
struct Decoded {
    /// Frames decoded, sent on or not.
    frames: u64,
    /// Frames sent to the model stages.
    sent: u64,
    /// Decode errors skipped over.
    errors: u32,
    /// The error that ended decoding early (the frames before it were sent).
    error: Option<Error>,
    decoder: DecoderUsed,
    busy_s: f64,
}

/// Where a video's decoder sends its frames, and where their results come back.
struct Queue<'q> {
    video: u64,
    queue: &'q SyncSender<Work>,
    reply: Sender<Result<Detected>>,
    permits: &'q Arc<Permits>,
}

/// Decodes until the end, an error, `quit()`, or the model stages closing. Sends frames
/// whose index is a multiple of `stride`, and the last frame, each with a place from
/// `to.permits`. The last frame is only known once the next read finds the end, so each frame
/// is held back until the next one arrives (one frame of latency, no second pass over the file).
fn decode_loop(mut reader: VideoReader, to: Queue, quit: &dyn Fn() -> bool, stride: u64, choice: &TileChoice) -> Decoded {
    let mut busy = Duration::ZERO;
    let (mut frames, mut sent) = (0u64, 0u64);
    let mut error = None;
    let mut held: Option<crate::types::Frame> = None;
    let mut send = |frame: crate::types::Frame| -> bool {
        let Some(how) = choice.sending(sent, quit) else { return false };
        let Some(permit) = to.permits.acquire(quit) else { return false };
        let ok = to
            .queue
            .send(Work { video: to.video, frame, tiles: how.tiles, fine: how.fine, probe: how.probe, reply: to.reply.clone(), permit })
            .is_ok();
        sent += ok as u64;
        ok
    };
    loop {
        if quit() {
            break;
        }
        let t = Instant::now();
        let next = reader.next_frame();
        busy += t.elapsed();
        match next {
            Ok(Some(frame)) => {
                frames += 1;
                if let Some(prev) = held.replace(frame) {
                    if prev.index % stride == 0 && !send(prev) {
                        break;
                    }
                }
            }
            Ok(None) => {
                if let Some(last) = held.take() {
                    send(last);
                }
                break;
            }
            Err(e) => {
                // The frames decoded before the error are labelled, the last one included.
                if let Some(last) = held.take() {
                    send(last);
                }
                error = Some(e);
                break;
            }
        }
    }
    Decoded { frames, sent, errors: reader.skipped_errors, error, decoder: reader.decoder().clone(), busy_s: busy.as_secs_f64() }
}

/// The shader takes the decoder's YUV 4:2:0 planes as they are, which saves the CPU's colour
/// conversion; videos in other pixel formats are converted to RGB by swscale as before.
fn open_reader(video: &Path, gpu_preprocess: bool, hw: HwDecode) -> Result<VideoReader> {
    if gpu_preprocess {
        match VideoReader::open_with(video, PixelOutput::Yuv420, hw) {
            Ok(r) => return Ok(r),
            Err(e) => tracing::debug!("YUV decoding not possible, decoding to RGB: {e}"),
        }
    }
    VideoReader::open_with(video, PixelOutput::Rgb8, hw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_jobs_follow_the_cores_and_the_model_device() {
        assert_eq!(auto_jobs(false, 1), 2);
        assert_eq!(auto_jobs(false, 2), 2);
        assert_eq!(auto_jobs(false, 16), 8);
        assert_eq!(auto_jobs(false, 64), 8);
        assert_eq!(auto_jobs(true, 2), 2);
        assert_eq!(auto_jobs(true, 12), 12);
        assert_eq!(auto_jobs(true, 64), 16);
    }
}
