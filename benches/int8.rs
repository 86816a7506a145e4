//! int8 against fp32 on the CPU: a bundled model (the default, NanoDet-g, unless
//! PRELABEL_BENCH_MODEL names another) and its int8 copy (`models/<name>_int8.toml`, made by
//! scripts/setup.sh) in one process, on the
//! same prepared batches of the sample video, with the threads a run uses by default
//! (`--threads 0`: ONNX Runtime's choice, one per core). Rounds alternate the two models so
//! that load on the machine hits both alike; prints the median frames/s of each and the ratio.
//! Target (issue 9): int8 >= 1.5x fp32 frames/s.
//!
//!   cargo bench --bench int8
//!   PRELABEL_BENCH_FRAMES=64 PRELABEL_BENCH_ROUNDS=7 PRELABEL_BENCH_THREADS=2 cargo bench --bench int8
//!   PRELABEL_BENCH_MODEL=ssd_mobilenet_v2_coco cargo bench --bench int8
//!
//! Whether int8 pays depends on the CPU: it needs int8 dot-product instructions (VNNI), so
//! the bench says whether this one has them.

use std::path::Path;
use std::time::Instant;

mod common;
use common::{env_or, first_frames, median};

use prelabel::infer::{Detector, DeviceChoice};
use prelabel::model::ModelSpec;
use prelabel::preprocess::make_batch;
use prelabel::types::Batch;

/// Frames per second of one pass over `batches`.
fn pass(detector: &mut Detector, batches: &[Batch], frames: usize) -> f64 {
    let t = Instant::now();
    for b in batches {
        detector.run(b).expect("model runs");
    }
    frames as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let frames_wanted = env_or("PRELABEL_BENCH_FRAMES", 40);
    let rounds = env_or("PRELABEL_BENCH_ROUNDS", 5);
    let threads = env_or("PRELABEL_BENCH_THREADS", 0);
    let load = |toml: &str| {
        let spec = ModelSpec::load(&repo.join("models").join(toml)).expect("model description");
        let detector = Detector::new(&spec, DeviceChoice::Cpu, threads, None)
            .unwrap_or_else(|e| panic!("{toml}: {e} (scripts/setup.sh makes both models)"));
        (spec, detector)
    };
    let model = std::env::var("PRELABEL_BENCH_MODEL").unwrap_or_else(|_| "nanodet_g_coco".to_string());
    let (spec, mut fp32) = load(&format!("{model}.toml"));
    let (spec8, mut int8) = load(&format!("{model}_int8.toml"));
    assert_eq!(spec.input.name, spec8.input.name, "the two descriptions must take the same input");
    let batch_size = env_or("PRELABEL_BENCH_BATCH", fp32.auto_batch_size());
    let frames = first_frames(&repo.join(".deps/vtest.avi"), frames_wanted);
    let batches: Vec<_> = frames.chunks(batch_size).map(|c| make_batch(c, &spec.input)).collect();
    let n = frames.len();
    let vnni = prelabel::infer::cpu_has_int8_dot_product();
    println!(
        "bench int8: {model} at {}x{}, {n} frames of the sample, batch {batch_size}, {rounds} rounds, CPU ({}), threads {}",
        spec.input.width,
        spec.input.height,
        if vnni { "with VNNI" } else { "no VNNI: int8 is not expected to gain" },
        if threads == 0 { "auto".to_string() } else { threads.to_string() }
    );
    // One untimed pass each: first runs allocate and plan.
    pass(&mut fp32, &batches, n);
    pass(&mut int8, &batches, n);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(pass(&mut fp32, &batches, n));
        b.push(pass(&mut int8, &batches, n));
    }
    let (fa, fb) = (median(a.clone()), median(b.clone()));
    println!("  fp32  median {fa:.1} frames/s  (rounds: {a:.1?})");
    println!("  int8  median {fb:.1} frames/s  (rounds: {b:.1?})");
    println!("  int8 / fp32 = {:.2}x (target >= 1.5x)", fb / fa);
}
