//! The command line: `Cli` and its subcommands (argument definitions in `args.rs`, whose
//! `--help` text users learn the tool from), and the glue from arguments to library calls.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod args;
mod calibrate;
mod calibrate_profile;
mod config;
mod eval;
mod job;
mod progress;
mod refine_args;
mod report;
mod serve;
mod signals;

use args::{BundleArgs, CalibrateArgs, EvalArgs, ReportArgs, RunArgs};
use calibrate::calibrate;
use clap::{Parser, Subcommand};
pub(crate) use config::{parse_args, Parsed};
use eval::eval;
use prelabel::batch::shard::{report_name, Shard};
use prelabel::batch::{expand_inputs, Labeler};
use prelabel::error::{Error, Result};
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
    /// Answer Label Studio as an ML backend: its tasks' videos labelled as `run` labels them, served as predictions.
    Serve(Box<serve::ServeArgs>),
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
        Command::Serve(args) => serve::serve(*args),
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
    let settings = job::settings(&args)?;
    let inputs = expand_inputs(&args.inputs, &args.out)?;
    let shard = Shard::resolve(args.shards.shard_index, args.shards.shard_count, |v| std::env::var(v).ok())?;
    check_writable(&args.out)?;
    let mut labeler = Labeler::build(settings)?;

    let cancel = Arc::new(AtomicBool::new(false));
    // The first signal stops after the current batch, a second at once (see `signals`).
    if !signals::install(cancel.clone()) {
        tracing::warn!("cannot watch for Ctrl-C and SIGTERM: stopping them ends the job as a kill would");
    }

    let bars = Bars::new(quiet);
    let report = labeler.job(args.out.clone(), args.overwrite, shard.clone()).run(&inputs, &cancel, &bars)?;
    bars.clear();
    if !quiet {
        print_summary(&report, &args.out.join(report_name(shard.as_ref())));
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
