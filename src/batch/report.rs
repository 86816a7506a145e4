//! `report.json`: what a run did, for people and for scripts that collect batch results.
//! Lives with the job ([`super`]), not with the label files: it accounts for the whole job
//! (settings, devices, each video's outcome and stage times from [`crate::pipeline`]).
//! Rewritten (atomically) after every video, so a killed run still leaves an accurate
//! account of the videos that finished.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;
use crate::files::AtomicFile;
use crate::infer::RuntimeInfo;
use crate::pipeline::{StageTimes, VideoOutcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every frame labelled.
    Ok,
    /// Labels written for the frames that could be decoded; see `error`.
    Partial,
    /// No labels written; see `error`.
    Failed,
    /// Outputs already existed (run with --overwrite to redo).
    Skipped,
    /// The run was stopped before or during this video; nothing written for it.
    Interrupted,
    /// Another worker holds this video's claim (see `why`); not labelled by this run.
    Claimed,
}

#[derive(Debug, Clone, Serialize)]
pub struct VideoReport {
    #[serde(serialize_with = "lossless_path")]
    pub input: PathBuf,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it was skipped, or why labelled again ("settings changed (score-threshold)").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The video's folder: its path under `--out` mirrors the input's (see docs/src/batch.md).
    #[serde(serialize_with = "lossless_path")]
    pub output_dir: PathBuf,
    /// The same, relative to `--out` (what `prelabel report` matches on).
    #[serde(serialize_with = "lossless_path")]
    pub folder: PathBuf,
    pub files: Vec<PathBuf>,
    pub width: u32,
    pub height: u32,
    pub fps: f32,
    pub frames: u64,
    pub frames_expected: u64,
    pub detections: u64,
    /// Frames the detector ran on (fewer than `frames` with `--stride`).
    pub detector_frames: u64,
    pub tracks: u64,
    /// What the refine stage did to the tracker's tracks.
    pub refine: crate::refine::RefineStats,
    pub decode_errors: u32,
    /// What decoded the video: "cuda" (NVDEC) or "cpu"; absent when it was not decoded.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub decoder: &'static str,
    /// Why the CPU decoded it (no CUDA device, codec not supported by NVDEC, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder_reason: Option<String>,
    /// With `--tiles auto`: what the probe of the first frames chose, and the counts why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiles: Option<String>,
    /// How much the camera moved between detector frames, as measured for the tracker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    pub wall_s: f64,
    pub frames_per_s: f64,
    pub stages: StageTimes,
}

impl VideoReport {
    pub(crate) fn from_outcome(input: &Path, output_dir: &Path, o: &VideoOutcome) -> VideoReport {
        let wall = o.wall.as_secs_f64();
        VideoReport {
            input: input.to_path_buf(),
            status: if o.truncated.is_some() { Status::Partial } else { Status::Ok },
            error: o.truncated.clone(),
            why: None,
            output_dir: output_dir.to_path_buf(),
            folder: PathBuf::new(),
            files: o.files.clone(),
            width: o.info.width,
            height: o.info.height,
            fps: o.info.fps,
            frames: o.frames,
            frames_expected: o.info.frames_hint,
            detections: o.detections,
            detector_frames: o.detector_frames,
            tracks: o.tracks,
            refine: o.refined.clone(),
            decode_errors: o.decode_errors,
            decoder: o.decoder.kind,
            decoder_reason: o.decoder.reason.clone(),
            tiles: o.tiles.clone(),
            camera: o.camera.clone(),
            wall_s: wall,
            frames_per_s: if wall > 0.0 { o.frames as f64 / wall } else { 0.0 },
            stages: o.stages,
        }
    }

    /// The same, saying why it was skipped or labelled again.
    pub fn because(self, why: String) -> VideoReport {
        VideoReport { why: Some(why), ..self }
    }

    /// A video with no labels written: failed, skipped or interrupted.
    pub fn without_labels(input: &Path, output_dir: &Path, status: Status, error: Option<String>) -> VideoReport {
        VideoReport {
            input: input.to_path_buf(),
            status,
            error,
            why: None,
            output_dir: output_dir.to_path_buf(),
            folder: PathBuf::new(),
            files: Vec::new(),
            width: 0,
            height: 0,
            fps: 0.0,
            frames: 0,
            frames_expected: 0,
            detections: 0,
            detector_frames: 0,
            tracks: 0,
            refine: Default::default(),
            decode_errors: 0,
            decoder: "",
            decoder_reason: None,
            tiles: None,
            camera: None,
            wall_s: 0.0,
            frames_per_s: 0.0,
            stages: StageTimes::default(),
        }
    }
}

/// A path as text: as it is when it is UTF-8, else with each byte that is not UTF-8 written
/// `%XX` (plain `Path` serialisation fails on such names, and the whole report with it).
pub fn lossless(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    match p.to_str() {
        Some(t) => t.to_string(),
        None => {
            let mut out = String::new();
            for chunk in p.as_os_str().as_bytes().utf8_chunks() {
                out.push_str(chunk.valid());
                for b in chunk.invalid() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out
        }
    }
}

fn lossless_path<S: serde::Serializer>(p: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&lossless(p))
}

/// Which shard of a job a run was: `--shard-index` (or where the index came from) and
/// `--shard-count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    pub index_from: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub name: String,
    pub description: PathBuf,
    pub onnx: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub device_requested: crate::infer::DeviceChoice,
    pub score_threshold: f32,
    /// The classes kept, by name: `--classes` resolved (the default set when not given),
    /// `["all"]` for every class, empty when `--labels` decides.
    pub classes: Vec<String>,
    pub max_detections: usize,
    pub batch_size: usize,
    /// Videos in flight at once (`--jobs`, auto resolved).
    pub jobs: usize,
    pub threads: usize,
    pub formats: Vec<crate::export::Format>,
    pub stride: usize,
    /// `--tiles` and `--tile-overlap` as given, e.g. "auto, overlap 0.2".
    pub tiles: String,
    pub tracker: crate::track::TrackerConfig,
    pub refine: crate::refine::RefineConfig,
    /// `--labels` as given (None: every class under its own name).
    pub labels: Option<String>,
    pub accept_score: f32,
    pub drop_score: f32,
    /// `--thresholds` as given.
    pub thresholds: Vec<String>,
    pub yolo_track_ids: bool,
    /// `--web-video` (left out when off, so settings recorded before it existed still match).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub web_video: bool,
    /// `--video-url` as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    /// `--preview`: preview.mp4 and review.png written (changes no label).
    pub preview: bool,
}

/// Every option of `prelabel run` in effect and where it came from, so a delivered label set
/// can be tied to the job file that made it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OptionsReport {
    /// The `--config` file as given, and its sha256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
    /// The sha256 of the `--calibration` profile (its path is in `values`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration_sha256: Option<String>,
    /// Each option with a value (given or default) by its long name, as `--print-config`
    /// writes them.
    pub values: serde_json::Value,
    /// Options taken from the file, and those the command line gave (which override it).
    pub from_config: Vec<String>,
    pub from_command_line: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub prelabel_version: &'static str,
    /// "running" while videos remain, then "finished" or "interrupted".
    pub state: &'static str,
    pub command_line: Vec<String>,
    pub model: ModelReport,
    pub runtime: RuntimeInfo,
    /// The execution provider that actually ran the model.
    pub device: String,
    /// ONNX Runtime's name for it: "CUDAExecutionProvider" or "CPUExecutionProvider".
    pub execution_provider: &'static str,
    /// Why the CPU ran the model although `auto` was asked for (no CUDA build, no GPU...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// What ran each stage: "cpu", "gpu: `<adapter>`", or the execution provider.
    pub stage_devices: StageDevices,
    /// The wgpu adapter of the shader stages, when any ran on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_adapter: Option<crate::gpu::AdapterSummary>,
    pub settings: Settings,
    /// The shard this run was (`--shard-index`/`--shard-count`); absent for an unsharded run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// Every video this run (this shard) was given, as its folder relative to `--out`,
    /// done before or not: `prelabel report` tells from these what is still missing.
    pub assigned: Vec<String>,
    /// The options in effect (`--config`, flags, defaults).
    pub options: OptionsReport,
    pub videos: Vec<VideoReport>,
    pub totals: Totals,
    /// How full the model's batches were, and how many held frames of several videos
    /// (`--jobs`); written when the job ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_batches: Option<crate::pipeline::BatchStats>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StageDevices {
    pub decode: String,
    pub preprocess: String,
    pub infer: String,
    pub postprocess: String,
    pub track: String,
    pub export: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub videos: usize,
    pub ok: usize,
    pub partial: usize,
    pub failed: usize,
    /// Stopped (Ctrl-C, SIGTERM) before they finished: not failed, the next run labels them.
    pub interrupted: usize,
    pub skipped: usize,
    /// Left to another worker holding its claim.
    pub claimed: usize,
    pub frames: u64,
    pub detections: u64,
    pub tracks: u64,
    pub wall_s: f64,
    pub frames_per_s: f64,
    pub stages: StageTimes,
}

impl RunReport {
    pub(crate) fn update_totals(&mut self, wall_s: f64) {
        let mut t = Totals { videos: self.videos.len(), wall_s, ..Totals::default() };
        for v in &self.videos {
            match v.status {
                Status::Ok => t.ok += 1,
                Status::Partial => t.partial += 1,
                Status::Failed => t.failed += 1,
                Status::Interrupted => t.interrupted += 1,
                Status::Skipped => t.skipped += 1,
                Status::Claimed => t.claimed += 1,
            }
            t.frames += v.frames;
            t.detections += v.detections;
            t.tracks += v.tracks;
            t.stages.decode_s += v.stages.decode_s;
            t.stages.preprocess_s += v.stages.preprocess_s;
            t.stages.infer_s += v.stages.infer_s;
            t.stages.postprocess_s += v.stages.postprocess_s;
            t.stages.track_s += v.stages.track_s;
            t.stages.refine_s += v.stages.refine_s;
            t.stages.export_s += v.stages.export_s;
            t.stages.render_s += v.stages.render_s;
        }
        t.frames_per_s = if wall_s > 0.0 { t.frames as f64 / wall_s } else { 0.0 };
        self.totals = t;
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let mut f = AtomicFile::create(path.to_path_buf())?;
        serde_json::to_writer_pretty(&mut f, self).map_err(|e| f.err(e.into()))?;
        f.commit().map(|_| ())
    }
}
