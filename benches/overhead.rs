//! What the pipeline costs beyond its two hard limits, measured in one run:
//!
//! 1. Default model (CPU): the first frames of the sample video through
//!    (a) the model alone: `Detector::run` (the ONNX Runtime session, IoBinding) on batches
//!    prepared beforehand, at the pipeline's batch size, as many calls as the pipeline makes;
//!    (b) the whole pipeline (`Pipeline::run`: decode, preprocess, infer, postprocess, track,
//!    refine, route, every format written), untiled, stride 1, the same model and session;
//!    (c) decode alone: `ffmpeg -threads 1 -i FILE -f null -` (the pipeline's decoder runs one
//!    libavcodec thread: video-rs leaves `thread_count` at its default of 1).
//!    Target: pipeline >= 0.9x the model alone.
//! 2. The smallest test model (`.deps/test-models/end2end.onnx`, 64x64 input: inference is
//!    nearly free) over a folder of 8 short H.264 clips (the sample video cut in 8), run by the
//!    `prelabel` binary as a user would (`prelabel run DIR`, so `--jobs` takes its default once
//!    it exists), against decode alone of the same 8 files (`ffmpeg -threads 1`, one after
//!    the other, and all 8 at once: the machine's ceiling). Target: >= 0.8x the decode ceiling.
//!
//! Rounds alternate the measurements so load on the (shared) machine hits all alike; each
//! ratio is taken within a round (measurements seconds apart) and the median over rounds is
//! reported, with the best of each measurement beside it.
//!
//!   cargo bench --bench overhead
//!   PRELABEL_BENCH_FRAMES=300 PRELABEL_BENCH_ROUNDS=3 cargo bench --bench overhead
//!   PRELABEL_BENCH_BIN=/path/to/prelabel cargo bench --bench overhead   (part 2 with another build)
//!
//! Writes target/bench-overhead.json.

/// The allocator the `prelabel` binary runs with (src/main.rs), so that the bench measures it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

mod common;

use prelabel::devices::{Postprocess, Preparer};
use prelabel::infer::{Detector, DeviceChoice};
use prelabel::model::ModelSpec;
use prelabel::pipeline::Pipeline;
use prelabel::postprocess::{Filter, Postprocessor};
use prelabel::types::{Batch, Frame, Region};

/// libavcodec threads of the pipeline's decoder (see the module doc).
const DECODE_THREADS: &str = "1";
/// Distinct prepared batches the model-alone run cycles through (keeps memory small).
const DISTINCT_BATCHES: usize = 32;
const CLIPS: usize = 8;
const CLIP_FRAMES: usize = 99;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn need(p: PathBuf) -> PathBuf {
    if !p.exists() {
        eprintln!("bench: {} is missing: run scripts/setup.sh --tests first", p.display());
        std::process::exit(1);
    }
    p
}

fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg").args(["-hide_banner", "-v", "error", "-y"]).args(args).status().expect("ffmpeg runs").success();
    assert!(ok, "ffmpeg {args:?} failed");
}

/// Seconds `ffmpeg -threads 1` takes to decode each of `files`, `parallel` at a time.
fn decode_only(files: &[PathBuf], parallel: usize) -> f64 {
    let t = Instant::now();
    for group in files.chunks(parallel.max(1)) {
        let children: Vec<_> = group
            .iter()
            .map(|f| {
                Command::new("ffmpeg")
                    .args(["-hide_banner", "-v", "error", "-threads", DECODE_THREADS, "-i"])
                    .arg(f)
                    .args(["-f", "null", "-"])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("ffmpeg runs")
            })
            .collect();
        for mut c in children {
            assert!(c.wait().expect("ffmpeg ends").success(), "ffmpeg could not decode");
        }
    }
    t.elapsed().as_secs_f64()
}

fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// Median over rounds of `a[i] / b[i]`.
fn median_ratio(a: &[f64], b: &[f64]) -> f64 {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

fn main() {
    let frames_wanted: usize = std::env::var("PRELABEL_BENCH_FRAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(120);
    let rounds: usize = std::env::var("PRELABEL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let sample = need(repo().join(".deps/vtest.avi"));
    let tiny_toml = need(repo().join(".deps/test-models/end2end.toml"));
    let tmp = tempfile::tempdir().expect("temp dir");

    // The clip for part 1: the first frames of the sample, stream-copied.
    let clip = tmp.path().join("clip.avi");
    ffmpeg(&["-i", sample.to_str().unwrap(), "-frames:v", &frames_wanted.to_string(), "-c", "copy", clip.to_str().unwrap()]);
    // The folder for part 2: 8 consecutive pieces of the sample as H.264 (what cameras write).
    let folder = tmp.path().join("clips");
    std::fs::create_dir(&folder).expect("folder");
    let clips: Vec<PathBuf> = (0..CLIPS)
        .map(|i| {
            let f = folder.join(format!("clip{i}.mp4"));
            let select = format!("select='between(n,{},{})',setpts=N/FRAME_RATE/TB", i * CLIP_FRAMES, (i + 1) * CLIP_FRAMES - 1);
            ffmpeg(&[
                "-i",
                sample.to_str().unwrap(),
                "-vf",
                &select,
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-pix_fmt",
                "yuv420p",
                f.to_str().unwrap(),
            ]);
            f
        })
        .collect();

    // Part 1 set-up: the default model as `prelabel run` loads it (CPU, auto batch size).
    let spec = ModelSpec::load(&repo().join("models/ssd_mobilenet_v2_coco.toml")).expect("model description");
    need(spec.onnx_path());
    let mut detector = Detector::new(&spec, DeviceChoice::Cpu, 0, None).expect("model loads");
    let batch_size = detector.auto_batch_size();
    // As `prelabel run` with its defaults: score floor at --track-low, default classes.
    let filter = Filter { score_threshold: 0.2, classes: spec.default_class_indices(), max_detections: 100 };
    let mut preparer = Preparer::Cpu(spec.input.clone());
    let mut post = Postprocess::Cpu(Postprocessor::new(&spec, filter));
    let frames = common::first_frames(&clip, usize::MAX);
    let calls = frames.len().div_ceil(batch_size);
    let clip_frames = frames.len();
    let batches: Vec<Batch> = frames
        .chunks(batch_size)
        .take(DISTINCT_BATCHES)
        .map(|chunk| {
            let items: Vec<(&Frame, Region)> = chunk.iter().map(|f| (f, Region::full(&f.info()))).collect();
            preparer.prepare(&items).expect("batch prepares")
        })
        .collect();
    drop(frames);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "bench: {} ({} frames), batch {batch_size}, {} on {threads} CPU threads; {CLIPS} clips x {CLIP_FRAMES} frames H.264 with {}; {rounds} rounds",
        sample.display(),
        clip_frames,
        detector.device,
        tiny_toml.display()
    );
    let tiny_out = tmp.path().join("tiny-out");
    let bin = std::env::var_os("PRELABEL_BENCH_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_prelabel")));

    let (mut infer_fps, mut pipe_fps, mut dec_fps) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tiny_fps, mut ceil_seq_fps, mut ceil_all_fps) = (Vec::new(), Vec::new(), Vec::new());
    let mut n_frames = 0u64;
    let mut stages = None;
    for round in 1..=rounds {
        // (a) the model alone on the prepared batches.
        let t = Instant::now();
        let mut inferred = 0usize;
        for i in 0..calls {
            let b = &batches[i % batches.len()];
            detector.run(b).expect("inference");
            inferred += b.frames.len();
        }
        infer_fps.push(inferred as f64 / t.elapsed().as_secs_f64());

        // (b) the whole pipeline on the same frames.
        let out = tempfile::tempdir_in(tmp.path()).expect("temp dir");
        // Compared with decoding alone by ffmpeg on the CPU.
        let mut pipeline = Pipeline::new(&spec, &mut detector, &mut preparer, &mut post)
            .batch_size(batch_size)
            .decode(prelabel::decode::HwDecode::Off("bench: as the decode-alone ceiling"));
        let o = pipeline.run(&clip, out.path(), &AtomicBool::new(false), &|_| {}, &|_| {}).expect("pipeline runs");
        n_frames = o.frames;
        pipe_fps.push(o.frames as f64 / o.wall.as_secs_f64());
        stages = Some(o.stages);

        // (c) decode alone.
        dec_fps.push(o.frames as f64 / decode_only(std::slice::from_ref(&clip), 1));

        // Part 2: the tiny model over the folder, by the binary, then decode alone.
        let t = Instant::now();
        let status = Command::new(&bin)
            .args(["run", "-q", "--overwrite", "--tiles", "off", "--model"])
            .arg(&tiny_toml)
            .arg(&folder)
            .arg("--out")
            .arg(&tiny_out)
            .status()
            .expect("prelabel runs");
        assert!(status.success(), "prelabel run over the clips failed");
        let total = (CLIPS * CLIP_FRAMES) as f64;
        tiny_fps.push(total / t.elapsed().as_secs_f64());
        ceil_seq_fps.push(total / decode_only(&clips, 1));
        ceil_all_fps.push(total / decode_only(&clips, CLIPS));
        println!(
            "  round {round}: model alone {:.1}, pipeline {:.1}, decode {:.1} frames/s | tiny model: pipeline {:.1}, decode one at a time {:.1}, all at once {:.1} frames/s",
            infer_fps[round - 1],
            pipe_fps[round - 1],
            dec_fps[round - 1],
            tiny_fps[round - 1],
            ceil_seq_fps[round - 1],
            ceil_all_fps[round - 1]
        );
    }

    let (inf, pipe, dec) = (best(&infer_fps), best(&pipe_fps), best(&dec_fps));
    let (tiny, seq, all) = (best(&tiny_fps), best(&ceil_seq_fps), best(&ceil_all_fps));
    let r_model = median_ratio(&pipe_fps, &infer_fps);
    let r_decode = median_ratio(&pipe_fps, &dec_fps);
    let r_seq = median_ratio(&tiny_fps, &ceil_seq_fps);
    let r_all = median_ratio(&tiny_fps, &ceil_all_fps);
    println!("\nmedian over {rounds} rounds of the ratio within each round (best frames/s of each in brackets)");
    println!("default model, {n_frames} frames:");
    println!("  pipeline / model alone    = {r_model:.3} (target >= 0.90)   [{pipe:.1} / {inf:.1}]");
    println!("  pipeline / decode ceiling = {r_decode:.3}   [{pipe:.1} / {dec:.1}]");
    if let Some(s) = stages {
        let ms = |secs: f64| secs * 1000.0 / n_frames as f64;
        println!(
            "  busy ms/frame (last round): decode {:.2}, preprocess {:.2}, infer {:.2}, postprocess {:.2}, track {:.2}, refine {:.2}, export {:.2}",
            ms(s.decode_s),
            ms(s.preprocess_s),
            ms(s.infer_s),
            ms(s.postprocess_s),
            ms(s.track_s),
            ms(s.refine_s),
            ms(s.export_s)
        );
    }
    println!("tiny model, {CLIPS} clips x {CLIP_FRAMES} frames:");
    println!("  pipeline / decode one at a time = {r_seq:.3} (target >= 0.80)   [{tiny:.1} / {seq:.1}]");
    println!("  pipeline / decode all at once   = {r_all:.3}   [{tiny:.1} / {all:.1}]");
    let report = serde_json::json!({
        "frames": n_frames, "batch_size": batch_size, "device": detector.device, "threads": threads,
        "model_alone_fps": infer_fps, "pipeline_fps": pipe_fps, "decode_fps": dec_fps,
        "tiny_pipeline_fps": tiny_fps, "tiny_decode_sequential_fps": ceil_seq_fps, "tiny_decode_parallel_fps": ceil_all_fps,
        "pipeline_over_model": r_model, "pipeline_over_decode": r_decode,
        "tiny_over_decode_sequential": r_seq, "tiny_over_decode_parallel": r_all,
    });
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target"));
    let _ = std::fs::write(target.join("bench-overhead.json"), serde_json::to_string_pretty(&report).unwrap_or_default());
}
