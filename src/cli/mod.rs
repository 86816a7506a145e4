//! The command line: `Cli` and its subcommands (argument definitions in `args.rs`, whose
//! `--help` text users learn the tool from), and the glue from arguments to library calls.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod args;
mod calibrate;
mod config;
mod eval;
mod progress;
mod refine_args;
mod report;
mod signals;

use args::{BundleArgs, CalibrateArgs, EvalArgs, ReportArgs, RunArgs};
use calibrate::calibrate;
use clap::{Parser, Subcommand};
pub(crate) use config::{parse_args, Parsed};
use eval::eval;
use prelabel::batch::{expand_inputs, BatchJob};
use prelabel::decode::HwDecode;
use prelabel::devices::{DeviceRequest, ShaderStages};
use prelabel::error::{Error, Result};
use prelabel::export::report::{ModelReport, OptionsReport, RunReport, Settings, StageDevices};
use prelabel::infer::{load_runtime, Detector};
use prelabel::model::ModelSpec;
use prelabel::pipeline::Pipeline;
use prelabel::postprocess::Filter;
use prelabel::tile::{MergeParams, TileConfig, Tiling};
use progress::{print_summary, Bars};

#[derive(Parser)]
#[command(
    name = "prelabel",
    version,
    about = "Turns raw video into draft labels that annotators correct instead of drawing from scratch.",
    long_about = "Turns raw video into draft labels that annotators correct instead of drawing from scratch.\n\n\
        Example:\n  prelabel run clips/ --out labels/\n\n\
        decodes every video in clips/, detects people and objects with the bundled COCO detector,\n\
        and writes labels/clips/<path in clips>/{coco.json,cvat.xml,labelstudio.json,mot.txt,yolo/,review.json,manifest.json}\n\
        plus labels/report.json (a file given by name: labels/<file name>/, e.g. labels/clip.mp4/)."
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
    Run(Box<RunArgs>),
    /// Score drafts (mot.txt, cvat.xml, coco.json) against ground truth: MOTA, IDF1, switches, AP, annotator time saved.
    Eval(EvalArgs),
    /// Learn per-class review levels (--thresholds for run) from drafts and their corrected versions.
    Calibrate(CalibrateArgs),
    /// Make a relocatable folder (program, libraries, ONNX Runtime, model, launcher) for a node with nothing installed.
    Bundle(BundleArgs),
    /// Merge the reports of a job's shards in DIR: totals, failures, videos still missing; the exit status says whether the job is complete.
    Report(ReportArgs),
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
    keep_library_writes_in_check();
    match cli.command {
        Command::Run(args) => {
            let effective = args.job.effective.clone();
            run(*args, cli.quiet).map_err(|e| config::blame_usage(e, &effective))
        }
        Command::Eval(args) => {
            exit_quietly_on_closed_pipe();
            eval(args)
        }
        Command::Calibrate(args) => {
            exit_quietly_on_closed_pipe();
            calibrate(args)
        }
        Command::Bundle(args) => bundle(args, cli.quiet),
        Command::Report(args) => report::report(args),
    }
}

/// Nothing is written outside `--out`, by prelabel or by the libraries it loads. Called before
/// any thread starts (it sets environment variables, which the libraries read when they start):
///
/// - ONNX Runtime (1.29 and later, on Linux too) starts a telemetry uploader that keeps its
///   queue in `$XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db` (else
///   `~/.cache/...`) and sends it to Microsoft's collector; `ORT_DISABLE_TELEMETRY=1` keeps it
///   from starting (set here whatever the environment says: an air-gapped site must not depend
///   on every user's shell);
/// - Mesa (lavapipe and the other Vulkan drivers the shader stages may run on) and the NVIDIA
///   driver keep shader caches under `~/.cache`: off, unless the environment already chooses.
fn keep_library_writes_in_check() {
    // SAFETY: no other thread runs yet (see above).
    std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    for (key, off) in [("MESA_SHADER_CACHE_DISABLE", "true"), ("__GL_SHADER_DISK_CACHE", "0")] {
        if std::env::var_os(key).is_none() {
            std::env::set_var(key, off);
        }
    }
}

/// For the commands that only print (`eval`, `calibrate`): `prelabel eval ... | head` ends
/// quietly when `head` stops reading, as Unix tools do, instead of panicking in `println!`.
/// Not for `run`, whose job must go on whatever happens to its terminal.
fn exit_quietly_on_closed_pipe() {
    // SAFETY: restoring the default disposition of one signal, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The bundled default model: NanoDet-g (COCO), see models/nanodet_g_coco.toml.
pub(crate) const DEFAULT_MODEL: &str = "nanodet_g_coco";

/// A bundled model description by name (`nanodet_g_coco`, `ssd_mobilenet_v2_coco`, ...):
/// beside the executable's checkout, or in this source tree.
fn bundled_model(name: &str) -> PathBuf {
    let rel = Path::new("models").join(format!("{name}.toml"));
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    let candidates = exe_dir.iter().flat_map(|d| [d.join(&rel), d.join("../..").join(&rel)]);
    candidates.chain([Path::new(env!("CARGO_MANIFEST_DIR")).join(&rel)]).find(|p| p.is_file()).unwrap_or(rel)
}

/// `--model`: a description file, or the name of a bundled one; none: the default.
fn model_path(arg: Option<&Path>) -> PathBuf {
    match arg {
        None => bundled_model(DEFAULT_MODEL),
        Some(p) if p.exists() || p.components().count() != 1 || p.extension().is_some() => p.to_path_buf(),
        Some(name) => bundled_model(&name.to_string_lossy()),
    }
}

fn run(args: RunArgs, quiet: bool) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.score_threshold) {
        return Err(Error::Usage(format!("--score-threshold {} is outside 0..1", args.score_threshold)));
    }
    if args.batch_size > 256 {
        return Err(Error::Usage("--batch-size must be at most 256".into()));
    }
    let tracker = args.tracking.config(args.score_threshold)?;
    let refine = args.refine.config()?;
    let stride = args.tracking.stride as usize;
    let inputs = expand_inputs(&args.inputs, &args.out)?;
    let shard = prelabel::batch::shard::Shard::resolve(args.shards.shard_index, args.shards.shard_count, |v| std::env::var(v).ok())?;
    check_writable(&args.out)?;
    let mut args = args;
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.threads > usable {
        tracing::warn!("--threads {}: this process may use {usable} cores; using {usable} threads", args.threads);
        args.threads = usable;
    }
    if args.threads > 0 {
        rayon::ThreadPoolBuilder::new().num_threads(args.threads).build_global().map_err(|e| Error::Usage(format!("--threads: {e}")))?;
    }

    let model_path = model_path(args.model.as_deref());
    let spec = ModelSpec::load(&model_path)?;
    let classes = match args.classes.as_slice() {
        [] if args.export.labels.is_none() => spec.default_class_indices(),
        [] => Vec::new(), // --labels decides
        [all] if all == "all" => Vec::new(),
        named => spec.class_indices(named)?,
    };
    // What report.json records: the classes actually kept, by name ("all", or none when
    // --labels decides).
    let class_names: Vec<String> = match (classes.is_empty(), args.export.labels.is_some()) {
        (true, false) => vec!["all".into()],
        (true, true) => Vec::new(),
        (false, _) => classes.iter().map(|&i| spec.class_name(i).to_string()).collect(),
    };
    let route = args.export.route_options(&spec)?;
    let export = args.export.export_options(&classes, &args.out);
    let runtime = load_runtime(args.ort_lib.as_deref())?;
    let request = DeviceRequest {
        all: args.device,
        preprocess: args.preprocess_device,
        infer: args.infer_device,
        postprocess: args.postprocess_device,
        decode: args.decode_device,
    };
    prelabel::devices::check_decode(&request)?;
    let mut detector = Detector::new(&spec, request.infer(), args.threads, args.ort_lib.as_deref())?;
    tracing::info!("model {} on {} (ONNX Runtime {} from {})", spec.name, detector.device, runtime.version, runtime.library.display());
    // The tracker needs the low-score detections too (see TrackingArgs).
    let filter = Filter { score_threshold: args.score_threshold.min(tracker.low), classes, max_detections: args.max_detections };
    let mut shaders = ShaderStages::new(&request, &spec, filter)?;
    let (pre_dev, post_dev) = shaders.describe();
    tracing::info!("preprocess on {pre_dev}, postprocess on {post_dev}");
    let stage_devices = StageDevices {
        decode: match request.decode() {
            HwDecode::Cuda => "nvdec where the node and codec allow, else cpu (ffmpeg; per video in videos[].decoder)".to_string(),
            HwDecode::Off(_) => "cpu (ffmpeg)".to_string(),
        } + if shaders.preparer.on_gpu() { ", YUV planes straight to the shader" } else { "" },
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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = match args.jobs {
        0 => prelabel::pipeline::auto_jobs(detector.execution_provider == prelabel::infer::CUDA_PROVIDER, cores),
        n => n,
    };
    tracing::debug!("{jobs} videos in flight ({cores} cores)");
    let mut formats = args.formats.clone();
    formats.dedup();
    let tiles = Tiling {
        config: TileConfig::new(args.tiles, args.tile_overlap).map_err(Error::Usage)?,
        merge: MergeParams::for_model(&spec, args.max_detections),
    };

    let report = RunReport {
        prelabel_version: env!("CARGO_PKG_VERSION"),
        state: "running",
        command_line: std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect(),
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
            classes: class_names,
            max_detections: args.max_detections,
            batch_size,
            jobs,
            threads: args.threads,
            formats: formats.clone(),
            stride,
            tiles: format!("{:?}, overlap {}", args.tiles, args.tile_overlap),
            tracker,
            refine: refine.clone(),
            labels: args.export.labels.clone(),
            accept_score: args.export.accept_score,
            drop_score: args.export.drop_score,
            thresholds: args.export.thresholds.clone(),
            yolo_track_ids: args.export.yolo_track_ids,
            web_video: args.export.web_video,
            video_url: args.export.video_url.clone(),
            preview: args.job.preview,
        },
        shard: None,
        assigned: Vec::new(),
        options: options_report(&args.job.effective),
        videos: Vec::new(),
        totals: Default::default(),
        model_batches: None,
    };
    let model = prelabel::batch::manifest::ModelPrint::new(&spec.name, &spec.onnx_path(), &spec.path)?;
    let job = BatchJob {
        pipeline: Pipeline {
            spec: &spec,
            detector: &mut detector,
            preparer: &mut shaders.preparer,
            post: &mut shaders.postprocess,
            batch_size,
            formats: &formats,
            stride,
            tracker,
            refine: &refine,
            route: &route,
            export: &export,
            tiles,
            decode: request.decode(),
            preview: args.job.preview,
        },
        out_dir: args.out.clone(),
        overwrite: args.overwrite,
        model,
        shard: shard.clone(),
        claim_timeout: args.shards.claim_timeout,
        report,
        jobs,
    };

    let cancel = Arc::new(AtomicBool::new(false));
    // The first signal stops after the current batch, a second at once (see `signals`).
    if !signals::install(cancel.clone()) {
        tracing::warn!("cannot watch for Ctrl-C and SIGTERM: stopping them ends the job as a kill would");
    }

    let bars = Bars::new(quiet);
    let report = job.run(&inputs, &cancel, &bars)?;
    bars.clear();
    if !quiet {
        print_summary(&report, &args.out.join(prelabel::batch::shard::report_name(shard.as_ref())));
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

/// report.json's account of the options in effect.
fn options_report(e: &config::Effective) -> OptionsReport {
    OptionsReport {
        config_file: e.file.as_ref().map(|(p, _)| p.display().to_string()),
        config_sha256: e.file.as_ref().map(|(_, sha)| sha.clone()),
        values: serde_json::to_value(&e.values).unwrap_or_default(),
        from_config: e.from_file.clone(),
        from_command_line: e.from_command_line.clone(),
    }
}

/// Fails early, before any model loads, when the output folder cannot be written.
fn check_writable(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::Output(format!("cannot create output folder {}: {e}", out.display())))?;
    tempfile::tempfile_in(out).map_err(|e| Error::Output(format!("output folder {} is not writable: {e}", out.display())))?;
    Ok(())
}

// ---------------------------------------------------------------- prelabel bundle

fn bundle(args: BundleArgs, quiet: bool) -> Result<ExitCode> {
    let model = model_path(args.model.as_deref());
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
