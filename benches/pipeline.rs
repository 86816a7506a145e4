//! End-to-end throughput on the sample video, against a baseline measured in the same run:
//! the same model through Python onnxruntime with an ffmpeg pipe, OpenCV resize and numpy
//! decoding/NMS (scripts/baseline_python.py). Rounds alternate prelabel and the baseline so
//! that load on the machine hits both alike; the best round of each is compared.
//!
//!   cargo bench --bench pipeline            (after scripts/setup.sh --tests)
//!   PRELABEL_BENCH_ROUNDS=3 PRELABEL_BENCH_VIDEO=clip.mp4 cargo bench --bench pipeline
//!
//! Prints a table and writes target/bench-pipeline.json.

/// The allocator the `prelabel` binary runs with (src/main.rs), so that the bench measures it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use prelabel::devices::{Postprocess, Preparer};
use prelabel::infer::{Detector, DeviceChoice};
use prelabel::model::ModelSpec;
use prelabel::pipeline::{Pipeline, StageTimes};
use prelabel::postprocess::{Filter, Postprocessor};
use serde_json::json;

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

struct Round {
    fps: f64,
    frames: u64,
    detections: u64,
    stages: Option<StageTimes>,
}

fn main() {
    let video = std::env::var_os("PRELABEL_BENCH_VIDEO").map(PathBuf::from).unwrap_or_else(|| repo().join(".deps/vtest.avi"));
    let video = need(video);
    let rounds: usize = std::env::var("PRELABEL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let python = need(repo().join(".deps/venv/bin/python"));
    let spec = ModelSpec::load(&repo().join("models/ssd_mobilenet_v2_coco.toml")).expect("model description");
    let onnx = need(spec.onnx_path());
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);

    let mut detector = Detector::new(&spec, DeviceChoice::Auto, 0, None).expect("model loads");
    let filter = Filter { score_threshold: 0.3, classes: vec![], max_detections: 100 };
    let mut preparer = Preparer::Cpu(spec.input.clone());
    let mut post = Postprocess::Cpu(Postprocessor::new(&spec, filter));
    let batch_size = detector.auto_batch_size();
    println!("bench: {} on {}, {threads} CPU threads, batch {batch_size}, {rounds} rounds", video.display(), detector.device);

    let mut ours = Vec::new();
    let mut baseline = Vec::new();
    for round in 1..=rounds {
        let out = tempfile::tempdir().expect("temp dir");
        // Untiled (the default), every format: the Python baseline looks at whole frames
        // only, and decodes on the CPU too.
        let mut pipeline = Pipeline::new(&spec, &mut detector, &mut preparer, &mut post)
            .batch_size(batch_size)
            .decode(prelabel::decode::HwDecode::Off("bench: as the Python baseline"));
        let o = pipeline.run(&video, out.path(), &AtomicBool::new(false), &|_| {}, &|_| {}).expect("prelabel run");
        let r = Round { fps: o.frames as f64 / o.wall.as_secs_f64(), frames: o.frames, detections: o.detections, stages: Some(o.stages) };
        println!("  round {round}: prelabel {:6.1} frames/s ({} frames, {} detections)", r.fps, r.frames, r.detections);
        ours.push(r);

        let py = Command::new(&python)
            .arg(repo().join("scripts/baseline_python.py"))
            .arg(&onnx)
            .arg(&video)
            .output()
            .expect("python baseline runs");
        if !py.status.success() {
            eprintln!("bench: baseline failed: {}", String::from_utf8_lossy(&py.stderr));
            std::process::exit(1);
        }
        let v: serde_json::Value = serde_json::from_slice(&py.stdout).expect("baseline prints JSON");
        let r = Round {
            fps: v["fps"].as_f64().unwrap_or(0.0),
            frames: v["frames"].as_u64().unwrap_or(0),
            detections: v["detections"].as_u64().unwrap_or(0),
            stages: None,
        };
        println!("  round {round}: python   {:6.1} frames/s ({} frames, {} detections)", r.fps, r.frames, r.detections);
        baseline.push(r);
    }

    let best = |rs: &[Round]| rs.iter().max_by(|a, b| a.fps.total_cmp(&b.fps)).map(|r| r.fps).unwrap_or(0.0);
    let (ours_fps, base_fps) = (best(&ours), best(&baseline));
    let ratio = ours_fps / base_fps;
    let best_round = ours.iter().max_by(|a, b| a.fps.total_cmp(&b.fps)).expect("at least one round");
    let s = best_round.stages.expect("prelabel rounds have stage times");
    let per_frame = |secs: f64| secs * 1000.0 / best_round.frames as f64;
    println!("\nbest of {rounds}: prelabel {ours_fps:.1} frames/s, python baseline {base_fps:.1} frames/s, ratio {ratio:.2}x");
    println!(
        "prelabel busy ms/frame: decode {:.2}, preprocess {:.2}, infer {:.2}, postprocess {:.2}, export {:.2}",
        per_frame(s.decode_s),
        per_frame(s.preprocess_s),
        per_frame(s.infer_s),
        per_frame(s.postprocess_s),
        per_frame(s.export_s)
    );
    println!("per CPU thread: prelabel {:.1}, python {:.1} frames/s", ours_fps / threads as f64, base_fps / threads as f64);
    let report = json!({
        "video": video,
        "device": detector.device,
        "threads": threads,
        "batch_size": batch_size,
        "rounds": rounds,
        "prelabel_fps": ours.iter().map(|r| r.fps).collect::<Vec<_>>(),
        "python_fps": baseline.iter().map(|r| r.fps).collect::<Vec<_>>(),
        "best_ratio": ratio,
        "stages_best_round_s": s,
        "detections": {"prelabel": best_round.detections, "python": baseline[0].detections},
    });
    let path = repo().join("target/bench-pipeline.json");
    if std::fs::write(&path, serde_json::to_string_pretty(&report).expect("json")).is_ok() {
        println!("wrote {}", path.display());
    }
}
