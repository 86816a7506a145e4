//! Inference alone, through the IoBinding (`Detector::run`) and through plain `Session::run`
//! (`Detector::run_unbound`), on the same prepared batches of the sample video. Rounds
//! alternate the two so that load on the machine hits both alike; prints the median time
//! per frame of each and their ratio. On a CUDA machine it measures the CUDA provider.
//!
//!   cargo bench --bench infer_binding
//!   PRELABEL_BENCH_FRAMES=64 PRELABEL_BENCH_BATCH=16 PRELABEL_BENCH_ROUNDS=7 cargo bench --bench infer_binding

use std::path::Path;
use std::time::Instant;

mod common;
use common::{env_or, first_frames, median};

use prelabel::infer::{Detector, DeviceChoice};
use prelabel::model::ModelSpec;
use prelabel::preprocess::make_batch;

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let frames_wanted = env_or("PRELABEL_BENCH_FRAMES", 32);
    let rounds = env_or("PRELABEL_BENCH_ROUNDS", 5);
    let spec = ModelSpec::load(&repo.join("models/ssd_mobilenet_v2_coco.toml")).expect("model description (scripts/setup.sh)");
    let mut detector = Detector::new(&spec, DeviceChoice::Auto, 0, None).expect("model loads");
    let batch_size = env_or("PRELABEL_BENCH_BATCH", detector.auto_batch_size());
    let frames = first_frames(&repo.join(".deps/vtest.avi"), frames_wanted);
    let batches: Vec<_> = frames.chunks(batch_size).map(|c| make_batch(c, &spec.input)).collect();
    println!("bench: {} frames, batch {batch_size}, {rounds} rounds, {} ({})", frames.len(), detector.execution_provider, detector.device);
    // One untimed pass each: first runs allocate and plan.
    for b in &batches {
        detector.run(b).expect("bound run");
        detector.run_unbound(b).expect("plain run");
    }
    let (mut bound, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        for b in &batches {
            detector.run(b).expect("bound run");
        }
        bound.push(t.elapsed().as_secs_f64() * 1e3 / frames.len() as f64);
        let t = Instant::now();
        for b in &batches {
            detector.run_unbound(b).expect("plain run");
        }
        plain.push(t.elapsed().as_secs_f64() * 1e3 / frames.len() as f64);
    }
    let (b, p) = (median(bound.clone()), median(plain.clone()));
    println!("  IoBinding      median {b:.2} ms/frame  (rounds: {bound:.2?})");
    println!("  Session::run   median {p:.2} ms/frame  (rounds: {plain:.2?})");
    println!("  binding / plain = {:.3}", b / p);
}
