//! Export cost: `route` then `write_labels` (as the pipeline runs them once per video) for
//! each format, alone and all together, on synthetic tracks
//! the size of the sample video (795 frames of 768x576, 40 tracks of 150 boxes, about the
//! 7,500 boxes SSD finds there) written into a temp folder on the target's file system.
//! Each case runs `PRELABEL_BENCH_ROUNDS` times (default 5); the best and median are printed.
//!
//!   cargo bench --bench export

use std::time::Instant;

use prelabel::export::{write_labels, ExportContext, ExportOptions, Format};
use prelabel::model::ModelSpec;
use prelabel::route::{route, RouteOptions};
use prelabel::types::{BBox, BoxSource, ReviewBand, Track, TrackBox, VideoInfo, VideoLabels};

fn labels() -> VideoLabels {
    let video = VideoInfo { path: "v.avi".into(), name: "v.avi".into(), width: 768, height: 576, fps: 10.0, frames_hint: 795 };
    let tracks = (0..40u64)
        .map(|id| {
            let first = id * 16;
            let boxes = (0..150u64)
                .map(|i| TrackBox {
                    frame: first + i,
                    bbox: BBox { x1: i as f32 * 2.0, y1: 100.0 + id as f32, x2: i as f32 * 2.0 + 50.5, y2: 220.25 + id as f32 },
                    score: 0.3 + (i % 7) as f32 / 10.0,
                    source: if i % 5 == 0 { BoxSource::Predicted } else { BoxSource::Detected },
                    keyframe: i % 10 == 0,
                    occluded: i % 5 == 0,
                })
                .collect();
            Track { id: id + 1, class: 1, boxes, mean_score: 0.0, min_score: 0.0, band: ReviewBand::Accept, stationary: false, looks: None }
        })
        .collect();
    VideoLabels { video, frames: 795, tracks }
}

fn main() {
    let spec = ModelSpec::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ssd_mobilenet_v2_coco.toml"))
        .expect("model description");
    let route_options = RouteOptions::defaults(&spec);
    let options = ExportOptions::default();
    let labels = labels();
    let rounds: usize = std::env::var("PRELABEL_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let boxes: usize = labels.tracks.iter().map(|t| t.boxes.len()).sum();
    println!("bench export: {} frames, {} tracks, {boxes} boxes, {rounds} rounds", labels.frames, labels.tracks.len());
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let cases: Vec<(String, Vec<Format>)> =
        Format::ALL.iter().map(|f| (format!("{f:?}"), vec![*f])).chain([("all five".to_string(), Format::ALL.to_vec())]).collect();
    for (name, formats) in cases {
        let mut times: Vec<f64> = (0..rounds)
            .map(|_| {
                let dir = tempfile::tempdir_in(&target).expect("temp dir");
                let ctx = ExportContext {
                    video: &labels.video,
                    model: &spec,
                    dir: dir.path(),
                    final_dir: dir.path(),
                    label_set: &route_options.labels,
                    options: &options,
                };
                let t = Instant::now();
                let routed = route(&labels, &route_options.labels, &route_options.thresholds);
                write_labels(&formats, &ctx, &routed).expect("write");
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("  {name:<12} best {:8.1} ms   median {:8.1} ms", times[0], times[times.len() / 2]);
    }
}
