//! The bundled detectors against each other on the sample video, each with its own default
//! settings (tiles as `--tiles auto` chooses for each: the SSD 1x2, NanoDet-g 3x3 since
//! 2026-12-06, its people being 33 px tall at its input), through the whole binary on the CPU,
//! as a user runs them. Rounds alternate the models so that load on
//! the machine hits both alike; the best round of each is compared, as a ratio to the SSD
//! measured in the same run (issue 20's target: NanoDet-g at least 1.5x).
//!
//!   cargo bench --bench detectors           (after scripts/setup.sh)
//!   PRELABEL_BENCH_ROUNDS=3 PRELABEL_BENCH_VIDEO=clip.mp4 PRELABEL_BENCH_MODELS=a,b cargo bench --bench detectors
//!
//! Prints a table and writes target/bench-detectors.json.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::json;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Frames per second of one `prelabel run` of `video` with `model`, and its frame count.
fn round(video: &Path, model: &str) -> (f64, u64) {
    let out = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_prelabel"))
        .args(["run", video.to_str().expect("utf-8 path"), "--out"])
        .arg(out.path())
        .args(["--device", "cpu", "-q", "--model", model])
        .output()
        .expect("prelabel runs");
    let wall = started.elapsed().as_secs_f64();
    if !run.status.success() {
        eprintln!("bench: prelabel --model {model} failed: {}", String::from_utf8_lossy(&run.stderr));
        std::process::exit(1);
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).expect("report.json")).expect("json");
    let frames = report["videos"][0]["frames"].as_u64().unwrap_or(0);
    (frames as f64 / wall, frames)
}

fn main() {
    let video = std::env::var_os("PRELABEL_BENCH_VIDEO").map(PathBuf::from).unwrap_or_else(|| repo().join(".deps/vtest.avi"));
    if !video.is_file() {
        eprintln!("bench: {} is missing: run scripts/setup.sh first", video.display());
        std::process::exit(1);
    }
    let rounds: usize = std::env::var("PRELABEL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let models: Vec<String> = std::env::var("PRELABEL_BENCH_MODELS")
        .unwrap_or_else(|_| "ssd_mobilenet_v2_coco,nanodet_g_coco".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("bench: {} on the CPU ({threads} threads), default settings, {rounds} rounds", video.display());
    let mut fps: Vec<Vec<f64>> = vec![Vec::new(); models.len()];
    for r in 1..=rounds {
        for (m, model) in models.iter().enumerate() {
            let (f, frames) = round(&video, model);
            println!("  round {r}: {model:<28} {f:6.1} frames/s ({frames} frames, whole run)");
            fps[m].push(f);
        }
    }
    let best: Vec<f64> = fps.iter().map(|v| v.iter().copied().fold(0.0, f64::max)).collect();
    println!("\nbest of {rounds}, as a ratio to {}:", models[0]);
    for (model, b) in models.iter().zip(&best) {
        println!("  {model:<28} {b:6.1} frames/s  {:.2}x  ({:.1} per CPU thread)", b / best[0], b / threads as f64);
    }
    let report = json!({ "video": video, "threads": threads, "rounds": rounds, "models": models, "fps": fps, "best": best });
    let path = repo().join("target/bench-detectors.json");
    if std::fs::write(&path, serde_json::to_string_pretty(&report).expect("json")).is_ok() {
        println!("wrote {}", path.display());
    }
}
