//! Argument definitions (the `--help` text users learn the tool from) and the glue from
//! arguments to library calls, progress bars and the end-of-run summary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use prelabel::batch::{expand_inputs, BatchJob, Progress};
use prelabel::error::{Error, Result};
use prelabel::export::report::{ModelReport, RunReport, Settings, StageDevices, Status, VideoReport};
use prelabel::export::{ExportOptions, Format};
use prelabel::labels::LabelSet;
use prelabel::review::{Levels, Thresholds};
use prelabel::infer::{load_runtime, DeviceChoice, Detector};
use prelabel::model::ModelSpec;
use prelabel::pipeline::Pipeline;
use prelabel::devices::{DeviceRequest, ShaderStages};
use prelabel::postprocess::Filter;
use prelabel::track::TrackerConfig;
use prelabel::tile::{MergeParams, TileConfig, TileMode, Tiling};
use prelabel::types::VideoInfo;

#[derive(Parser)]
#[command(
    name = "prelabel",
    version,
    about = "Turns raw video into draft labels that annotators correct instead of drawing from scratch.",
    long_about = "Turns raw video into draft labels that annotators correct instead of drawing from scratch.\n\n\
        Example:\n  prelabel run clips/ --out labels/\n\n\
        decodes every video in clips/, detects people and objects with the bundled COCO detector,\n\
        and writes labels/<video>/{coco.json,cvat.xml,labelstudio.json,mot.txt,yolo/,review.json}\n\
        plus labels/report.json."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More logging (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors: no progress bars, no summary.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Detect objects in videos and write draft labels.
    Run(RunArgs),
    /// Score a MOTChallenge file (e.g. a run's mot.txt) against ground truth: average precision.
    Eval(EvalArgs),
    /// Make a relocatable folder (program, libraries, ONNX Runtime, model, launcher) for a node with nothing installed.
    Bundle(BundleArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Video files, or folders searched recursively for videos.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder: one sub-folder per video, plus report.json.
    #[arg(short, long)]
    out: PathBuf,
    /// Model description (.toml) next to its .onnx file. Default: the bundled SSD MobileNet v2 COCO.
    #[arg(short, long, env = "PRELABEL_MODEL")]
    model: Option<PathBuf>,
    /// Where the stages run. auto: the model on CUDA when ONNX Runtime and the machine have
    /// it, preprocessing in a wgpu shader on a real GPU, the rest on the CPU. gpu: every stage
    /// that has a shader runs it, on a software adapter (lavapipe) if that is all there is,
    /// and the model on CUDA, or on the CPU with a logged reason. cpu: everything on the CPU.
    #[arg(short, long, value_enum, default_value = "auto")]
    device: DeviceChoice,
    /// Overrides --device for preprocessing (resize, normalise: shaders/preprocess.wgsl).
    #[arg(long, value_enum, value_name = "DEVICE")]
    preprocess_device: Option<DeviceChoice>,
    /// Overrides --device for the model; gpu here means CUDA or fail.
    #[arg(long, value_enum, value_name = "DEVICE")]
    infer_device: Option<DeviceChoice>,
    /// Overrides --device for box decoding and NMS (shaders/ssd_decode.wgsl, nms.wgsl).
    #[arg(long, value_enum, value_name = "DEVICE")]
    postprocess_device: Option<DeviceChoice>,
    /// Detections scoring below this (0-1) never start a track; lower ones, down to
    /// --track-low, can still continue one through an occlusion.
    #[arg(short = 's', long, default_value_t = TrackerConfig::default().new_track)]
    score_threshold: f32,
    /// Keep only these classes (names or indices, comma separated), e.g. person,car.
    #[arg(short, long, value_delimiter = ',')]
    classes: Vec<String>,
    /// Most detections kept per frame.
    #[arg(long, default_value_t = 100)]
    max_detections: usize,
    /// Output formats, comma separated.
    #[arg(short, long, value_enum, value_delimiter = ',', default_values_t = Format::ALL)]
    formats: Vec<Format>,
    /// Frames per inference call (0 = auto: 1 on CPU, where batching does not pay, 16 on GPU).
    #[arg(short, long, default_value_t = 0)]
    batch_size: usize,
    /// CPU threads for preprocessing and inference (0 = all cores).
    #[arg(short, long, default_value_t = 0)]
    threads: usize,
    /// ONNX Runtime library (libonnxruntime.so). Default: ORT_DYLIB_PATH, then the copy scripts/setup.sh installs.
    #[arg(long)]
    ort_lib: Option<PathBuf>,
    /// Redo videos whose outputs already exist (by default they are skipped, so a re-run resumes).
    #[arg(long)]
    overwrite: bool,
    /// Tiles for small, far-away objects: off; auto (only for frames much larger than the model
    /// input, e.g. 1080p into 300x300: 2x4 tiles); or RxC rows x columns (2x2). The whole frame
    /// is always looked at too. Each tile costs one more model call per frame.
    #[arg(long, default_value = "auto")]
    tiles: TileMode,
    /// Fraction of a tile shared with its neighbour (0-0.9): objects smaller than the overlap
    /// lie whole in some tile.
    #[arg(long, default_value_t = 0.2)]
    tile_overlap: f32,
    #[command(flatten)]
    tracking: TrackingArgs,
    #[command(flatten)]
    export: ExportArgs,
}

/// Tracking, stride and keyframes.
#[derive(Args)]
struct TrackingArgs {
    /// Run the detector on every Nth frame only (and on the last frame); tracking and
    /// interpolation fill the frames between. Every frame is still decoded and labelled.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10000))]
    stride: u32,
    /// Detections scoring at least this are matched to tracks first (ByteTrack's high threshold).
    #[arg(long, default_value_t = TrackerConfig::default().high)]
    track_high: f32,
    /// Detections between this and --track-high only keep existing tracks alive through
    /// occlusion; lower ones are dropped.
    #[arg(long, default_value_t = TrackerConfig::default().low)]
    track_low: f32,
    /// Seconds a track may go unseen before it ends (the same at any frame rate).
    #[arg(long, value_name = "SECONDS", default_value_t = TrackerConfig::default().buffer_s)]
    track_buffer: f32,
    /// Tracks spanning less than this many seconds (first to last frame) are dropped as noise.
    #[arg(long, value_name = "SECONDS", default_value_t = TrackerConfig::default().min_length_s)]
    min_track_length: f32,
    /// Keyframes are chosen so that interpolating between them reproduces every box of a track
    /// with at least this IoU (higher: more keyframes).
    #[arg(long, default_value_t = TrackerConfig::default().keyframe_iou)]
    keyframe_iou: f32,
    /// Do not link detections into tracks: write the detector's output as it is, each box its
    /// own one-frame track (for scoring the detector alone with `prelabel eval`).
    #[arg(long)]
    no_track: bool,
}

impl TrackingArgs {
    fn config(&self, score_threshold: f32) -> Result<TrackerConfig> {
        let bad = |m: String| Err(Error::Usage(m));
        if !(0.0..=1.0).contains(&self.track_low) || !(0.0..=1.0).contains(&self.track_high) || self.track_low > self.track_high {
            return bad(format!("need 0 <= --track-low ({}) <= --track-high ({}) <= 1", self.track_low, self.track_high));
        }
        let seconds_ok = |v: f32| v >= 0.0 && v.is_finite();
        if !seconds_ok(self.track_buffer) || !seconds_ok(self.min_track_length) {
            return bad("--track-buffer and --min-track-length are seconds, 0 or more".into());
        }
        if !(self.keyframe_iou > 0.0 && self.keyframe_iou <= 1.0) {
            return bad(format!("--keyframe-iou {} is outside (0, 1]", self.keyframe_iou));
        }
        Ok(TrackerConfig {
            high: self.track_high,
            low: self.track_low,
            new_track: score_threshold,
            buffer_s: self.track_buffer,
            min_length_s: self.min_track_length,
            keyframe_iou: self.keyframe_iou,
            off: self.no_track,
            ..TrackerConfig::default()
        })
    }
}

/// Labels and review routing (export).
#[derive(Args)]
#[command(next_help_heading = "Labels and review")]
struct ExportArgs {
    /// Keep only these classes, renamed to your label names: person=pedestrian,car=vehicle
    /// (a class without =name keeps its name), or @file.txt with one mapping per line.
    #[arg(long, value_name = "MAP")]
    labels: Option<String>,
    /// Tracks whose mean detector score is at least this are accepted as drawn; below it they
    /// are kept, flagged needs_review and listed in review.json.
    #[arg(long, value_name = "SCORE", default_value_t = prelabel::export::DEFAULT_ACCEPT)]
    accept_score: f32,
    /// Tracks whose mean detector score is below this are dropped.
    #[arg(long, value_name = "SCORE", default_value_t = prelabel::export::DEFAULT_DROP)]
    drop_score: f32,
    /// Per-class levels overriding the two above, ACCEPT[:DROP]: person=0.7:0.4,car=0.5
    /// (class or label names).
    #[arg(long, value_name = "CLASS=A[:D]", value_delimiter = ',')]
    thresholds: Vec<String>,
    /// Add the track id as a sixth column to YOLO files (some importers, CVAT and datumaro
    /// among them, reject it).
    #[arg(long)]
    yolo_track_ids: bool,
}

impl ExportArgs {
    fn options(&self, spec: &ModelSpec) -> Result<ExportOptions> {
        let labels = match &self.labels {
            Some(map) => LabelSet::parse(spec, map)?,
            None => LabelSet::all(spec),
        };
        let default = Levels::new(self.accept_score, self.drop_score)
            .map_err(|e| Error::Usage(format!("--accept-score/--drop-score: {e}")))?;
        let thresholds = Thresholds::parse(spec, &labels, default, &self.thresholds)?;
        Ok(ExportOptions { labels, thresholds, yolo_track_ids: self.yolo_track_ids })
    }
}

#[derive(Args)]
struct EvalArgs {
    /// Ground truth, MOTChallenge format (gt/gt.txt).
    #[arg(long)]
    gt: PathBuf,
    /// Detections, MOTChallenge format (a run's mot.txt).
    #[arg(long)]
    pred: PathBuf,
    /// IoU a detection needs to count as a hit.
    #[arg(long, default_value_t = 0.5)]
    iou: f32,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "prelabel=info,ort=warn,video_rs=error",
        (false, 1) => "prelabel=debug,ort=warn,video_rs=warn",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PRELABEL_LOG").unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run(args, cli.quiet),
        Command::Eval(args) => eval(args),
        Command::Bundle(args) => bundle(args, cli.quiet),
    }
}

/// The bundled model description: beside the executable's checkout, or in this source tree.
fn default_model() -> PathBuf {
    let rel = Path::new("models/ssd_mobilenet_v2_coco.toml");
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    let candidates = exe_dir.iter().flat_map(|d| [d.join(rel), d.join("../..").join(rel)]);
    candidates.chain([Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)]).find(|p| p.is_file()).unwrap_or_else(|| rel.into())
}

fn run(args: RunArgs, quiet: bool) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.score_threshold) {
        return Err(Error::Usage(format!("--score-threshold {} is outside 0..1", args.score_threshold)));
    }
    if args.batch_size > 256 {
        return Err(Error::Usage("--batch-size must be at most 256".into()));
    }
    let tracker = args.tracking.config(args.score_threshold)?;
    let stride = args.tracking.stride as usize;
    let inputs = expand_inputs(&args.inputs)?;
    check_writable(&args.out)?;
    if args.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build_global()
            .map_err(|e| Error::Usage(format!("--threads: {e}")))?;
    }

    let model_path = args.model.clone().unwrap_or_else(default_model);
    let spec = ModelSpec::load(&model_path)?;
    let classes = spec.class_indices(&args.classes)?;
    let export = args.export.options(&spec)?;
    let runtime = load_runtime(args.ort_lib.as_deref())?;
    let request = DeviceRequest {
        all: args.device,
        preprocess: args.preprocess_device,
        infer: args.infer_device,
        postprocess: args.postprocess_device,
    };
    let mut detector = Detector::new(&spec, request.infer(), args.threads, args.ort_lib.as_deref())?;
    tracing::info!("model {} on {} (ONNX Runtime {} from {})", spec.name, detector.device, runtime.version, runtime.library.display());
    // The tracker needs the low-score detections too (see TrackingArgs).
    let filter = Filter { score_threshold: args.score_threshold.min(tracker.low), classes, max_detections: args.max_detections };
    let mut shaders = ShaderStages::new(&request, &spec, filter)?;
    let (pre_dev, post_dev) = shaders.describe();
    tracing::info!("preprocess on {pre_dev}, postprocess on {post_dev}");
    let stage_devices = StageDevices {
        decode: format!("cpu (ffmpeg{})", if shaders.preparer.on_gpu() { ", YUV planes straight to the shader" } else { "" }),
        preprocess: pre_dev,
        infer: detector.device.clone(),
        postprocess: post_dev,
        track: "cpu".into(),
        export: "cpu".into(),
    };
    let batch_size = match args.batch_size {
        0 => detector.auto_batch_size(),
        n => n,
    };
    let mut formats = args.formats.clone();
    formats.dedup();
    let tiles = Tiling {
        config: TileConfig::new(args.tiles, args.tile_overlap).map_err(Error::Usage)?,
        merge: MergeParams::for_model(&spec, args.max_detections),
    };

    let report = RunReport {
        prelabel_version: env!("CARGO_PKG_VERSION"),
        state: "running",
        command_line: std::env::args().collect(),
        model: ModelReport { name: spec.name.clone(), description: spec.path.clone(), onnx: spec.onnx_path() },
        runtime,
        device: detector.device.clone(),
        execution_provider: detector.execution_provider,
        fallback_reason: detector.fallback_reason.clone(),
        stage_devices,
        gpu_adapter: shaders.adapter.clone(),
        settings: Settings {
            device_requested: args.device,
            score_threshold: args.score_threshold,
            classes: args.classes.clone(),
            max_detections: args.max_detections,
            batch_size,
            threads: args.threads,
            formats: formats.clone(),
            stride,
            tiles: format!("{:?}, overlap {}", args.tiles, args.tile_overlap),
            tracker,
            labels: args.export.labels.clone(),
            accept_score: args.export.accept_score,
            drop_score: args.export.drop_score,
            thresholds: args.export.thresholds.clone(),
            yolo_track_ids: args.export.yolo_track_ids,
        },
        videos: Vec::new(),
        totals: Default::default(),
    };
    let job = BatchJob {
        pipeline: Pipeline {
            spec: &spec,
            detector: &mut detector,
            preparer: &mut shaders.preparer,
            post: &mut shaders.postprocess,
            batch_size, formats: &formats, stride, tracker, export: &export, tiles },
        out_dir: args.out.clone(),
        overwrite: args.overwrite,
        report,
    };

    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    // A second Ctrl-C falls through to the default: the user really wants out.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nprelabel: stopping after the current batch (Ctrl-C again to quit at once)");
    });

    let bars = Bars::new(quiet);
    let report = job.run(&inputs, &cancel, &bars)?;
    bars.bar.finish_and_clear();
    if !quiet {
        print_summary(&report, &args.out);
    }
    let t = &report.totals;
    Ok(if cancel.load(Ordering::SeqCst) {
        ExitCode::from(130)
    } else if t.failed + t.partial > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Fails early, before any model loads, when the output folder cannot be written.
fn check_writable(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::Output(format!("cannot create output folder {}: {e}", out.display())))?;
    tempfile::tempfile_in(out).map_err(|e| Error::Output(format!("output folder {} is not writable: {e}", out.display())))?;
    Ok(())
}

struct Bars {
    bar: ProgressBar,
}

impl Bars {
    fn new(quiet: bool) -> Bars {
        let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
        Bars { bar }
    }
}

impl Progress for Bars {
    fn video_started(&self, n: usize, total: usize, info: &VideoInfo) {
        self.bar.reset();
        self.bar.set_length(info.frames_hint);
        let style = if info.frames_hint > 0 {
            "{msg} [{bar:30}] {pos}/{len} frames, {per_sec}, eta {eta}"
        } else {
            "{msg} {spinner} {pos} frames, {per_sec}"
        };
        self.bar.set_style(ProgressStyle::with_template(style).expect("valid template").progress_chars("=> "));
        self.bar.set_message(format!("[{n}/{total}] {}", info.name));
    }
    fn frames_done(&self, frames: u64) {
        self.bar.inc(frames);
    }
    fn video_finished(&self, r: &VideoReport) {
        let line = match r.status {
            Status::Ok => return,
            Status::Skipped => format!("skipped {}: outputs exist", r.input.display()),
            _ => {
                let input = r.input.display().to_string();
                let error = r.error.as_deref().unwrap_or("");
                let error = error.strip_prefix(&format!("{input}: ")).unwrap_or(error);
                format!("{} {input}: {error}", format!("{:?}", r.status).to_lowercase())
            }
        };
        self.bar.suspend(|| eprintln!("prelabel: {line}"));
    }
}

fn print_summary(r: &RunReport, out: &Path) {
    let t = &r.totals;
    println!(
        "\nprelabel: {} video(s), {} frames, {} detections, {} tracks in {:.1} s ({:.1} frames/s) on {}",
        t.videos, t.frames, t.detections, t.tracks, t.wall_s, t.frames_per_s, r.device
    );
    println!("  {:<8} {:>7} {:>7} {:>7}  video -> labels", "status", "frames", "boxes", "fps");
    for v in &r.videos {
        let status = format!("{:?}", v.status).to_lowercase();
        let dest = if v.files.is_empty() { "-".to_string() } else { v.output_dir.display().to_string() };
        println!("  {:<8} {:>7} {:>7} {:>7.1}  {} -> {}", status, v.frames, v.detections, v.frames_per_s, v.input.display(), dest);
        if let Some(e) = &v.error {
            println!("  {:<8} {e}", "");
        }
    }
    let s = &t.stages;
    println!(
        "  busy time per stage: decode {:.1} s, preprocess {:.1} s, infer {:.1} s, postprocess {:.1} s, export {:.1} s",
        s.decode_s, s.preprocess_s, s.infer_s, s.postprocess_s, s.export_s
    );
    println!("  report: {}", out.join("report.json").display());
}

fn eval(args: EvalArgs) -> Result<ExitCode> {
    let gt = prelabel::eval::read_mot(&args.gt)?;
    let pred = prelabel::eval::read_mot(&args.pred)?;
    let r = prelabel::eval::average_precision(&gt, &pred, args.iou);
    if args.json {
        println!("{}", serde_json::to_string(&r).expect("plain json"));
    } else {
        println!(
            "AP@{:.2} = {:.4}  (recall {:.3}, {} of {} ground-truth boxes found, {} detections)",
            args.iou, r.ap, r.recall, r.true_positives, r.ground_truth, r.detections
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- prelabel bundle

#[derive(Args)]
struct BundleArgs {
    /// Folder to create (it must not exist). Built beside it and renamed into place when complete.
    dir: PathBuf,
    /// Model description (.toml) to carry with its .onnx. Default: the bundled SSD MobileNet v2 COCO.
    #[arg(short, long, env = "PRELABEL_MODEL")]
    model: Option<PathBuf>,
    /// ONNX Runtime library to carry (its provider libraries come from the same folder). Default: the one `run` would load.
    #[arg(long)]
    ort_lib: Option<PathBuf>,
    /// Also write DIR.parts/: the bundle as a tar in pieces of at most 60 MB, with SHA256SUMS and assemble.sh.
    #[arg(long)]
    pieces: bool,
}

fn bundle(args: BundleArgs, quiet: bool) -> Result<ExitCode> {
    let model = args.model.clone().unwrap_or_else(default_model);
    let req = prelabel::bundle::BundleRequest { dir: &args.dir, model: &model, ort_lib: args.ort_lib.as_deref(), pieces: args.pieces };
    let started = std::time::Instant::now();
    let s = prelabel::bundle::build(&req)?;
    if !quiet {
        let gpu = if s.has_cuda { "CUDA and CPU" } else { "CPU only" };
        println!(
            "prelabel: bundle {} ready: {} files, {:.1} MB, ONNX Runtime {gpu}, needs glibc {} ({:.1} s)",
            s.dir.display(),
            s.files,
            s.bytes as f64 / 1e6,
            s.glibc.as_deref().unwrap_or("?"),
            started.elapsed().as_secs_f64()
        );
        if let Some((dir, n)) = &s.parts {
            println!("  {n} pieces of at most 60 MB in {}; rebuild with: bash {}/assemble.sh DEST", dir.display(), dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
