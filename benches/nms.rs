//! Postprocess per stage, CPU reference vs GPU shaders, for batches of 1, 8 and 32 whole
//! frames of MOTChallenge TUD-Stadtmitte through the default SSD model (real model outputs,
//! real candidate counts), at the default score threshold 0.3 and at 0.05 (the AP
//! evaluation's, thousands of candidates per frame).
//!
//!   cargo bench --bench nms            (after scripts/setup.sh --tests; needs ../shared data)
//!   PRELABEL_BENCH_ROUNDS=5 cargo bench --bench nms
//!   PRELABEL_BENCH_MODEL=models/ssd_mobilenet_v2_coco_int8.toml cargo bench --bench nms
//!
//! `PRELABEL_BENCH_MODEL` names another SSD description whose outputs feed the stages (the
//! one-shot GPU check carries the int8 SSD, a quarter of the fp32 file's size).
//!
//! Stages (median of the rounds, milliseconds per batch):
//! - cpu decode: `Postprocessor::candidates` (decode, threshold, clamp);
//! - cpu nms: `nms::nms` on those candidates, every item;
//! - gpu nms: `GpuNms::run` on the same candidates (upload, sort, bitmask, sweep, readback);
//! - gpu all: `GpuPostprocessor::process_batch` (upload raw tensors, decode + NMS on the GPU,
//!   readback), to compare with cpu decode + cpu nms.
//!
//! On a machine without a GPU this runs on Mesa lavapipe, a CPU emulation of a GPU: those
//! numbers say nothing about GPU speed, only what `auto` must not pick there.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use prelabel::decode::VideoReader;
use prelabel::gpu::GpuContext;
use prelabel::infer::{Detector, DeviceChoice};
use prelabel::model::ModelSpec;
use prelabel::postprocess::gpu::nms::GpuNms;
use prelabel::postprocess::gpu::GpuPostprocessor;
use prelabel::postprocess::{nms, Filter, Postprocessor};
use prelabel::preprocess::make_batch;

/// The checkout (models/, target/bench-data/); `PRELABEL_REPO` names another when the bench
/// binary runs away from where it was built (scripts/gpu-check.sh on a GPU node).
fn repo() -> &'static Path {
    static REPO: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    REPO.get_or_init(|| std::env::var_os("PRELABEL_REPO").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from))
}

fn median_ms(rounds: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm: pipelines, buffers
    let mut t: Vec<f64> = (0..rounds)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("PRELABEL_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(9);
    let shared = std::env::var_os("PRELABEL_SHARED").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared"));
    let video = shared.join("data/mot15/TUD-Stadtmitte/TUD-Stadtmitte.mp4");
    if !video.is_file() {
        eprintln!("bench: {} is missing (set PRELABEL_SHARED)", video.display());
        std::process::exit(1);
    }
    let model = std::env::var_os("PRELABEL_BENCH_MODEL").map_or_else(|| repo().join("models/ssd_mobilenet_v2_coco.toml"), PathBuf::from);
    let spec = ModelSpec::load(&model).unwrap();
    println!("model: {}", spec.name);
    let mut reader = VideoReader::open(&video).unwrap();
    let mut frames = Vec::new();
    while let (true, Some(f)) = (frames.len() < 32, reader.next_frame().unwrap()) {
        frames.push(f);
    }
    let mut detector = Detector::new(&spec, DeviceChoice::Cpu, 0, None).unwrap();
    let ctx = Arc::new(GpuContext::new(true).unwrap());
    println!("GPU adapter: {}{}", ctx.adapter, if ctx.adapter.software { "  (SOFTWARE: not GPU numbers)" } else { "" });
    println!("CPU threads: {}", std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!();
    println!("| batch | threshold | cand/item | kept/item | cpu decode | cpu nms | cpu total | gpu nms | gpu all | gpu all / cpu total |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut gpu_nms = GpuNms::new(ctx.clone()).unwrap();
    for n in [1usize, 8, 32] {
        let batch = make_batch(&frames[..n], &spec.input);
        let raw = detector.run(&batch).unwrap();
        for threshold in [0.3f32, 0.05] {
            let filter = Filter { score_threshold: threshold, classes: vec![], max_detections: 100 };
            let cpu = Postprocessor::new(&spec, filter.clone());
            let iou = cpu.nms_iou().unwrap();
            let cands = cpu.candidates(&raw, &batch.frames, &batch.regions).unwrap();
            let mut gpu = GpuPostprocessor::new(ctx.clone(), &spec, filter).unwrap();
            let kept = gpu.process_batch(&raw, &batch).unwrap();
            assert_eq!(kept.len(), n);
            let cpu_decode = median_ms(rounds, || {
                std::hint::black_box(cpu.candidates(&raw, &batch.frames, &batch.regions).unwrap());
            });
            let cpu_nms = median_ms(rounds, || {
                for c in &cands {
                    std::hint::black_box(nms::nms(c.clone(), iou, 100));
                }
            });
            let g_nms = median_ms(rounds, || {
                std::hint::black_box(gpu_nms.run(&cands, iou, 100, true).unwrap());
            });
            let g_all = median_ms(rounds, || {
                std::hint::black_box(gpu.process_batch(&raw, &batch).unwrap());
            });
            let per = |x: usize| x as f64 / n as f64;
            let cand = per(cands.iter().map(Vec::len).sum());
            let kept = per(kept.iter().map(|k| k.detections.len()).sum());
            let cpu_total = cpu_decode + cpu_nms;
            println!(
                "| {n} | {threshold} | {cand:.0} | {kept:.0} | {cpu_decode:.2} | {cpu_nms:.2} | {cpu_total:.2} | {g_nms:.2} | {g_all:.2} | {:.1}x |",
                g_all / cpu_total
            );
            if gpu.cpu_fallbacks > 0 {
                println!("|  | (items redone on the CPU in the gpu rows: {} of {} item runs) |", gpu.cpu_fallbacks, n * (rounds + 2));
            }
        }
    }
    println!();
    println!("Milliseconds per batch, median of {rounds} rounds. cpu nms clones the candidates (as the pipeline does).");
}
