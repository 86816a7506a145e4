//! Golden-file and convention tests for the label writers in `src/export/`.
//!
//! The hand-built tracks of `label_fixture` (10 frames, 4 tracks: occlusion, interpolation,
//! a track ending on the last frame, a box outside the frame, a class a mapping drops) go
//! through `write_labels` twice: with default options and with a class mapping plus
//! thresholds. Every file must match `tests/golden/<case>/<file>` byte for byte (the YOLO
//! folder as one listing, `yolo.txt`). After an intended change, regenerate with
//!
//! ```text
//! PRELABEL_BLESS=1 cargo test --release --test writers
//! ```
//!
//! and read the diff of `tests/golden/` before committing it: the golden files are the spec.
//! The crate version written into the files is replaced by `0.0.0-golden` on both sides.
//!
//! The other tests pin each format's conventions at the parse level (frame numbering,
//! keyframe / outside logic, review flags), independent of formatting.

mod label_fixture;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use label_fixture::cvat::parse_cvat;
use label_fixture::*;
use prelabel::export::{ExportOptions, Format, VideoUrl};
use prelabel::model::ModelSpec;
use serde_json::Value;

/// Writes the fixture with `options` into a fresh folder; returns (folder, written paths).
fn write(model: &ModelSpec, options: &Options) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = route_and_write(model, dir.path(), &Format::ALL, &labels(), options).unwrap();
    (dir, paths)
}

/// Every file under `dir`, by relative path.
fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

fn normalise(text: &str) -> String {
    text.replace(&format!("\"version\":\"{}\"", env!("CARGO_PKG_VERSION")), "\"version\":\"0.0.0-golden\"")
        .replace(&format!("prelabel {} ", env!("CARGO_PKG_VERSION")), "prelabel 0.0.0-golden ")
}

/// Compares `actual` with `tests/golden/<name>`, or rewrites that file when PRELABEL_BLESS=1.
fn check_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    let actual = normalise(actual);
    if std::env::var_os("PRELABEL_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        eprintln!("blessed {}", path.display());
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e} (PRELABEL_BLESS=1 creates it)", path.display()));
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b);
        let detail = match line {
            Some(i) => format!(
                "first difference at line {}:\n  golden: {}\n  actual: {}",
                i + 1,
                expected.lines().nth(i).unwrap(),
                actual.lines().nth(i).unwrap()
            ),
            None => format!("golden has {} lines, actual {}", expected.lines().count(), actual.lines().count()),
        };
        panic!(
            "{name} differs from {}\n{detail}\n\nIf the change is intended, run PRELABEL_BLESS=1 cargo test --release \
             --test writers and review the diff of tests/golden/.",
            path.display()
        );
    }
}

fn golden_case(case: &str, options: fn(&ModelSpec) -> Options) {
    let mdir = tempfile::tempdir().unwrap();
    let m = model(mdir.path());
    let (dir, _) = write(&m, &options(&m));
    let mut yolo = String::new();
    for (rel, text) in files(dir.path()) {
        match rel.strip_prefix("yolo/") {
            Some(sub) => yolo += &format!("== {sub}\n{text}"),
            None => check_golden(&format!("{case}/{rel}"), &text),
        }
    }
    check_golden(&format!("{case}/yolo.txt"), &yolo);
}

#[test]
fn default_options_match_golden() {
    golden_case("default", default_options);
}

#[test]
fn mapped_labels_and_thresholds_match_golden() {
    golden_case("mapped", mapped_options);
}

/// `--classes person,car --web-video --video-url /data/local-files/?d=labels/`, the video's
/// folder `labels/cam A/clip.mp4/`: the files name the web copy by its escaped URL, and the
/// Label Studio config lists only the kept classes (bicycle is not, and the class filter left
/// no bicycle track).
#[test]
fn web_video_urls_and_kept_classes_match_golden() {
    let mdir = tempfile::tempdir().unwrap();
    let m = model(mdir.path());
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cam A/clip.mp4");
    std::fs::create_dir_all(&dir).unwrap();
    let mut labels = labels();
    labels.tracks.retain(|t| t.class != BICYCLE);
    let url = VideoUrl { prefix: "/data/local-files/?d=labels/".into(), root: root.path().to_path_buf() };
    let export = ExportOptions { kept_classes: Some(vec![PERSON, CAR]), web_video: true, video_url: Some(url), ..Default::default() };
    let options = Options { export, ..default_options(&m) };
    route_and_write(&m, &dir, &[Format::Coco, Format::Cvat, Format::LabelStudio], &labels, &options).unwrap();
    for name in ["coco.json", "cvat.xml", "labelstudio.json", "labelstudio_config.xml"] {
        check_golden(&format!("web/{name}"), &std::fs::read_to_string(dir.join(name)).unwrap());
    }
}

// ---------------------------------------------------------------------------------------------
// Conventions, at the parse level

fn setup() -> (tempfile::TempDir, ModelSpec) {
    let mdir = tempfile::tempdir().unwrap();
    let m = model(mdir.path());
    (mdir, m)
}

fn json(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

#[test]
fn writes_every_format_and_the_review_queue_and_nothing_else() {
    let (_m, m) = setup();
    let (dir, paths) = write(&m, &default_options(&m));
    let names: Vec<&str> = paths.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
    assert_eq!(names, ["coco.json", "cvat.xml", "labelstudio.json", "labelstudio_config.xml", "mot.txt", "yolo", "review.json"]);
    let mut left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["coco.json", "cvat.xml", "labelstudio.json", "labelstudio_config.xml", "mot.txt", "review.json", "yolo"]);
}

#[test]
fn cvat_frames_from_zero_keyframes_and_outside() {
    let (_m, m) = setup();
    let (dir, _) = write(&m, &default_options(&m));
    let (meta, labels, tracks) = parse_cvat(&std::fs::read_to_string(dir.path().join("cvat.xml")).unwrap());
    assert_eq!((meta["mode"].as_str(), meta["size"].as_str()), ("interpolation", "10"));
    assert_eq!((meta["start_frame"].as_str(), meta["stop_frame"].as_str()), ("0", "9"));
    assert_eq!(labels, ["person", "car", "bicycle"]);
    let frames = |id: u64| tracks[&id].iter().map(|b| (b.0, b.1)).collect::<Vec<_>>();
    // Track 1: first box, occlusion starts (2) and ends (4), last box (5), outside on 6.
    assert_eq!(frames(1), [(0, false), (2, false), (4, false), (5, false), (6, true)]);
    assert_eq!(tracks[&1].iter().map(|b| b.2).collect::<Vec<_>>(), [false, true, false, false, false]);
    // Track 2 ends on the last frame: no outside box past the video.
    assert_eq!(frames(2), [(4, false), (8, false), (9, false)]);
    assert_eq!(frames(3), [(7, false), (8, true)]);
    for boxes in tracks.values() {
        assert!(boxes.iter().all(|b| b.3 && b.0 <= 9), "every written box is a keyframe inside the video");
    }
    assert_eq!((tracks[&1][0].4.as_str(), tracks[&1][0].5.as_str()), ("0.8765", "false"));
    assert_eq!(tracks[&2][0].5, "true", "car track is in the review band");
}

#[test]
fn mot_frames_from_one_with_track_ids() {
    let (_m, m) = setup();
    let (dir, _) = write(&m, &default_options(&m));
    let text = std::fs::read_to_string(dir.path().join("mot.txt")).unwrap();
    let rows: Vec<Vec<f64>> = text.lines().map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 15, "every box of every track");
    assert_eq!(&rows[0], &[1.0, 1.0, 10.12, 20.46, 100.38, 200.54, 0.8765, -1.0, -1.0, -1.0]);
    assert!(rows.windows(2).all(|w| (w[0][0], w[0][1]) < (w[1][0], w[1][1])), "sorted by frame, then id");
    assert_eq!(rows.last().unwrap()[..2], [10.0, 2.0], "frame index 9 is MOT frame 10");
}

#[test]
fn label_studio_frames_from_one_ending_disabled() {
    let (_m, m) = setup();
    let (dir, _) = write(&m, &default_options(&m));
    let tasks = json(dir.path(), "labelstudio.json");
    assert_eq!(tasks[0]["data"]["video"], "clip.mp4");
    let regions = tasks[0]["predictions"][0]["result"].as_array().unwrap();
    assert_eq!(regions.len(), 4);
    let r1 = &regions[0];
    assert_eq!((r1["id"].as_str(), r1["type"].as_str()), (Some("track-1"), Some("videorectangle")));
    let seq = r1["value"]["sequence"].as_array().unwrap();
    let frames: Vec<(u64, bool)> = seq.iter().map(|s| (s["frame"].as_u64().unwrap(), s["enabled"].as_bool().unwrap())).collect();
    assert_eq!(frames, [(1, true), (3, true), (5, true), (6, false)]);
    assert_eq!(seq[1]["time"], 0.2, "frame 3 is index 2, 0.2 s at 10 fps");
    assert_eq!((seq[0]["x"].as_f64(), seq[0]["width"].as_f64()), (Some(1.5817), Some(15.6839)));
    assert_eq!((r1["value"]["framesCount"].as_u64(), r1["value"]["duration"].as_f64()), (Some(10), Some(1.0)));
    assert!(r1.get("meta").is_none() && regions[1]["meta"]["text"][0].as_str().unwrap().starts_with("needs review"));
    // Track 3's box sticks out of the frame: clamped to 0..100 %.
    let s3 = &regions[2]["value"]["sequence"][0];
    assert_eq!((s3["x"].as_f64(), s3["y"].as_f64(), s3["height"].as_f64()), (Some(0.0), Some(83.3333), Some(16.6667)));
}

#[test]
fn coco_images_per_frame_with_track_fields() {
    let (_m, m) = setup();
    let (dir, _) = write(&m, &default_options(&m));
    let coco = json(dir.path(), "coco.json");
    let images = coco["images"].as_array().unwrap();
    assert_eq!(images.len(), 10);
    assert_eq!((images[0]["id"].as_u64(), images[0]["frame_index"].as_u64()), (Some(1), Some(0)));
    assert_eq!(images[9]["file_name"], "frame_000009.jpg");
    let cats: Vec<(u64, &str)> =
        coco["categories"].as_array().unwrap().iter().map(|c| (c["id"].as_u64().unwrap(), c["name"].as_str().unwrap())).collect();
    assert_eq!(cats, [(1, "person"), (2, "car"), (3, "bicycle")], "COCO ids follow the model's class index");
    let anns = coco["annotations"].as_array().unwrap();
    assert_eq!(anns.len(), 15);
    let a = &anns[0];
    assert_eq!((a["image_id"].as_u64(), a["track_id"].as_u64(), a["video_id"].as_u64()), (Some(1), Some(1), Some(1)));
    assert_eq!((a["score"].as_f64(), a["needs_review"].as_bool(), a["source"].as_str()), (Some(0.8765), Some(false), Some("detected")));
    assert_eq!(a["attributes"]["track_id"], 1);
    let tracks = coco["tracks"].as_array().unwrap();
    assert_eq!(tracks.iter().map(|t| t["needs_review"].as_bool().unwrap()).collect::<Vec<_>>(), [false, true, true, false]);
    assert_eq!(coco["videos"][0]["frames"], 10);
}

#[test]
fn yolo_one_file_per_frame_from_zero_and_track_ids_on_request() {
    let (_m, m) = setup();
    let (dir, _) = write(&m, &default_options(&m));
    let y = dir.path().join("yolo");
    assert_eq!(std::fs::read_to_string(y.join("obj.names")).unwrap(), "person\ncar\nbicycle\n");
    assert_eq!(std::fs::read_dir(y.join("obj_train_data")).unwrap().count(), 10);
    assert_eq!(std::fs::read_to_string(y.join("obj_train_data/frame_000000.txt")).unwrap(), "0 0.094237 0.251516 0.156839 0.417798\n");
    assert_eq!(std::fs::read_to_string(y.join("obj_train_data/frame_000009.txt")).unwrap(), "1 0.523633 0.120313 0.078516 0.073958\n");
    // Track 3 sticks out of the frame: clamped.
    let f7 = std::fs::read_to_string(y.join("obj_train_data/frame_000007.txt")).unwrap();
    assert!(f7.contains("0 0.023438 0.916667 0.046875 0.166667\n"), "{f7}");
    assert!(std::fs::read_to_string(y.join("images.meta")).unwrap().starts_with("frame_000000 480 640\n"));

    let with_ids = Options { export: ExportOptions { yolo_track_ids: true, ..Default::default() }, ..default_options(&m) };
    let (dir, _) = write(&m, &with_ids);
    let f0 = std::fs::read_to_string(dir.path().join("yolo/obj_train_data/frame_000000.txt")).unwrap();
    assert_eq!(f0, "0 0.094237 0.251516 0.156839 0.417798 1\n");
}

#[test]
fn review_queue_most_uncertain_first() {
    let (_m, m) = setup();
    let (dir, _) = write(&m, &default_options(&m));
    let r = json(dir.path(), "review.json");
    let ids: Vec<u64> = r["queue"].as_array().unwrap().iter().map(|e| e["track_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [3, 2]);
    let car = &r["queue"][1];
    assert_eq!((car["first_frame"].as_u64(), car["last_frame"].as_u64(), car["length"].as_u64()), (Some(4), Some(9), Some(6)));
    assert_eq!(car["mean_score"], 0.45);
    let ranges: Vec<(u64, u64)> = car["look_at"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["first_frame"].as_u64().unwrap(), x["last_frame"].as_u64().unwrap()))
        .collect();
    assert_eq!(ranges, [(4, 4), (6, 6), (8, 9)], "low-score detected boxes; interpolated ones are not flagged");
    assert_eq!(r["counts"]["accepted"], 2);
}

#[test]
fn mapping_renames_drops_and_routes() {
    let (_m, m) = setup();
    let (dir, _) = write(&m, &mapped_options(&m));
    let (_, labels, tracks) = parse_cvat(&std::fs::read_to_string(dir.path().join("cvat.xml")).unwrap());
    assert_eq!(labels, ["pedestrian", "vehicle"]);
    assert_eq!(tracks.keys().copied().collect::<Vec<_>>(), [1, 2], "bicycle unmapped, track 3 below drop");
    let coco = json(dir.path(), "coco.json");
    assert_eq!(coco["categories"][1]["name"], "vehicle");
    assert_eq!(coco["categories"][1]["id"], 2);
    let r = json(dir.path(), "review.json");
    assert_eq!(r["counts"], serde_json::json!({"tracks_in": 4, "not_in_labels": 1, "dropped": 1, "review": 0, "accepted": 2}));
    assert_eq!(std::fs::read_to_string(dir.path().join("mot.txt")).unwrap().lines().count(), 12);
    let config = std::fs::read_to_string(dir.path().join("labelstudio_config.xml")).unwrap();
    assert!(config.contains("<Label value=\"vehicle\"/>") && !config.contains("bicycle"), "{config}");
}

#[test]
fn rewriting_replaces_old_outputs_whole() {
    let (_m, m) = setup();
    let (dir, _) = write(&m, &default_options(&m));
    std::fs::write(dir.path().join("yolo/obj_train_data/stale.txt"), "x").unwrap();
    route_and_write(&m, dir.path(), &[Format::Yolo, Format::Mot], &labels(), &mapped_options(&m)).unwrap();
    assert!(!dir.path().join("yolo/obj_train_data/stale.txt").exists());
    assert_eq!(std::fs::read_to_string(dir.path().join("yolo/obj.names")).unwrap(), "pedestrian\nvehicle\n");
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
}
