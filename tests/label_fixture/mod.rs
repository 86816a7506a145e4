//! A small hand-built video's tracks, shared by the writer golden tests and the third-party
//! import tests, plus the model and the routing and export options they are written with.
#![allow(dead_code)]

pub mod cvat;

use std::path::{Path, PathBuf};

use prelabel::error::Result;
use prelabel::export::{write_labels, ExportContext, ExportOptions, Format};
use prelabel::labels::LabelSet;
use prelabel::model::ModelSpec;
use prelabel::route::{route, Levels, RouteOptions, Thresholds};
use prelabel::types::{BBox, BoxSource, ReviewBand, Track, TrackBox, VideoInfo, VideoLabels};

pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 480;
pub const FRAMES: u64 = 10;
pub const FPS: f32 = 10.0;

pub fn video() -> VideoInfo {
    VideoInfo {
        path: PathBuf::from("/videos/clip.mp4"),
        name: "clip.mp4".into(),
        width: WIDTH,
        height: HEIGHT,
        fps: FPS,
        frames_hint: FRAMES,
    }
}

/// A description of an SSD-style model (class 0 = background) with these classes.
pub fn model(dir: &Path) -> ModelSpec {
    let text = "name = \"tiny_ssd\"\nfile = \"tiny.onnx\"\n\
        classes = [\"background\", \"person\", \"car\", \"bicycle\"]\n\
        [input]\nname = \"in\"\nwidth = 32\nheight = 32\nlayout = \"nchw\"\n\
        mean = [0.0, 0.0, 0.0]\nstd = [1.0, 1.0, 1.0]\n[output]\nkind = \"ssd\"\n\
        boxes = \"b\"\nlogits = \"l\"\nanchors = \"a\"\nscales = [10.0, 10.0, 5.0, 5.0]\nnms_iou = 0.6\n";
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    ModelSpec::load(&path).unwrap()
}

pub const PERSON: u32 = 1;
pub const CAR: u32 = 2;
pub const BICYCLE: u32 = 3;

const D: BoxSource = BoxSource::Detected;
const P: BoxSource = BoxSource::Predicted;
const I: BoxSource = BoxSource::Interpolated;

/// (frame, x1, y1, x2, y2, score, source, keyframe)
type Row = (u64, f32, f32, f32, f32, f32, BoxSource, bool);

fn track(id: u64, class: u32, rows: &[Row]) -> Track {
    let boxes = rows
        .iter()
        .map(|&(frame, x1, y1, x2, y2, score, source, keyframe)| TrackBox {
            frame,
            bbox: BBox { x1, y1, x2, y2 },
            score,
            source,
            keyframe,
            occluded: source == P,
        })
        .collect();
    // Scores and band as a tracker might leave them: routing recomputes both.
    Track { id, class, boxes, mean_score: 0.0, min_score: 0.0, band: ReviewBand::Accept, stationary: false, looks: None }
}

/// Ten frames, four tracks:
/// 1. person, frames 0-5, walking right, detected / occluded (predicted) for frames 2-3 /
///    detected, keyframes 0 and 5 (plus occlusion changes): mean 0.8556 -> accept;
///    coordinates that need rounding (10.123 -> 10.12, 0.87654 -> 0.8765);
/// 2. car, frames 4-9 (ends on the last frame: no outside box), detected every other frame,
///    interpolated between, low scores: mean 0.45 -> review;
/// 3. person, frame 7 only, box sticking out of the frame (clamped by formats that need
///    it), score 0.31 -> review, or dropped with drop level 0.35;
/// 4. bicycle, frames 2-3: dropped by a `--labels person,car` mapping.
pub fn labels() -> VideoLabels {
    let t1 = track(
        1,
        PERSON,
        &[
            (0, 10.123, 20.456, 110.5, 220.999, 0.87654, D, true),
            (1, 20.0, 20.0, 120.0, 221.0, 0.9, D, false),
            (2, 30.0, 20.0, 130.0, 221.0, 0.9, P, false),
            (3, 40.0, 20.0, 140.0, 221.0, 0.9, P, false),
            (4, 50.0, 20.0, 150.0, 221.0, 0.8, D, false),
            (5, 60.0, 20.0, 160.0, 221.0, 0.85, D, true),
        ],
    );
    let t2 = track(
        2,
        CAR,
        &[
            (4, 300.0, 40.0, 350.25, 75.5, 0.5, D, true),
            (5, 302.0, 40.0, 352.25, 75.5, 0.5, I, false),
            (6, 304.0, 40.0, 354.25, 75.5, 0.4, D, false),
            (7, 306.0, 40.0, 356.25, 75.5, 0.4, I, false),
            (8, 308.0, 40.0, 358.25, 75.5, 0.45, D, true),
            (9, 310.0, 40.0, 360.25, 75.5, 0.45, D, false),
        ],
    );
    let t3 = track(3, PERSON, &[(7, -5.5, 400.0, 30.0, 490.0, 0.31, D, true)]);
    let t4 = track(4, BICYCLE, &[(2, 500.0, 300.0, 560.0, 380.0, 0.7, D, true), (3, 502.0, 300.0, 562.0, 380.0, 0.7, D, true)]);
    VideoLabels { video: video(), frames: FRAMES, tracks: vec![t1, t2, t3, t4] }
}

/// What a job hands the route and export stages.
#[derive(Debug, Clone)]
pub struct Options {
    pub route: RouteOptions,
    pub export: ExportOptions,
}

/// Every class, default levels (accept 0.6, drop nothing), plain YOLO.
pub fn default_options(model: &ModelSpec) -> Options {
    Options { route: RouteOptions::defaults(model), export: ExportOptions::default() }
}

/// `--labels person=pedestrian,car=vehicle --drop-score 0.35 --thresholds vehicle=0.4`.
pub fn mapped_options(model: &ModelSpec) -> Options {
    let labels = LabelSet::parse(model, "person=pedestrian,car=vehicle").unwrap();
    let thresholds = Thresholds::parse(model, &labels, Levels::new(0.6, 0.35).unwrap(), &["vehicle=0.4".into()]).unwrap();
    Options { route: RouteOptions { labels, thresholds }, export: ExportOptions::default() }
}

/// Routes `labels` and writes `formats` into `dir`, as the pipeline does for one video.
pub fn route_and_write(model: &ModelSpec, dir: &Path, formats: &[Format], labels: &VideoLabels, options: &Options) -> Result<Vec<PathBuf>> {
    let routed = route(labels, &options.route.labels, &options.route.thresholds);
    let ctx =
        ExportContext { video: &labels.video, model, dir, final_dir: dir, label_set: &options.route.labels, options: &options.export };
    write_labels(formats, &ctx, &routed)
}
