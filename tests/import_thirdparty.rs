//! The files prelabel writes, loaded by the parsers annotators' tools use: datumaro (CVAT's
//! format library) for CVAT XML, COCO, MOT and YOLO, label-studio-sdk for the Label Studio
//! tasks, motmetrics for MOT against ground truth. `scripts/check_imports.py` does the
//! loading and compares what the parsers read with what was written; any rejection or
//! mismatch fails these tests.
//!
//! The parsers live in the venv `scripts/setup.sh --tests` makes (`.deps/venv-import`);
//! `PRELABEL_IMPORT_PYTHON` points at another interpreter that has them.

mod common;
mod label_fixture;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use label_fixture::*;
use prelabel::export::frames::held_boxes;
use prelabel::export::{ExportOptions, Format};
use prelabel::model::ModelSpec;
use prelabel::route::route;
use prelabel::types::VideoLabels;
use serde_json::{json, Value};

fn python() -> PathBuf {
    match std::env::var_os("PRELABEL_IMPORT_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => common::from_setup(".deps/venv-import/bin/python"),
    }
}

/// Runs the checker on `dir`; returns (success, stdout + stderr).
fn check(dir: &Path, expect: &Value, extra: &[&str]) -> (bool, String) {
    let exp = dir.join("expect.json");
    std::fs::write(&exp, expect.to_string()).unwrap();
    let script = common::repo().join("scripts/check_imports.py");
    let out =
        Command::new(python()).arg(&script).arg(dir).arg("--expect").arg(&exp).arg("--json").args(extra).output().expect("python runs");
    std::fs::remove_file(&exp).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// What the files must hold, computed from the labels (routed as the writers route them).
fn expectations(labels: &VideoLabels, options: &Options) -> Value {
    let routed = route(labels, &options.route.labels, &options.route.thresholds).labels;
    let tracks: BTreeMap<String, Value> = routed
        .tracks
        .iter()
        .map(|t| {
            let (_, label) = options.route.labels.of_class(t.class).unwrap();
            let v = json!({
                "label": label.name,
                "boxes": t.boxes.len(),
                "held": held_boxes(&t.boxes).len(),
                "outside": u64::from(t.last_frame() + 1 < routed.frames),
                "needs_review": t.needs_review(),
            });
            (t.id.to_string(), v)
        })
        .collect();
    json!({
        "frames": routed.frames,
        "width": routed.video.width,
        "height": routed.video.height,
        "fps": routed.video.fps,
        "labels": options.route.labels.labels().iter().map(|l| l.name.clone()).collect::<Vec<_>>(),
        "tracks": tracks,
        "yolo_track_ids": options.export.yolo_track_ids,
    })
}

fn write_fixture(m: &ModelSpec, options: &Options) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    route_and_write(m, dir.path(), &Format::ALL, &labels(), options).unwrap();
    (dir, expectations(&labels(), options))
}

fn assert_loads(case: &str, options: impl Fn(&ModelSpec) -> Options) {
    let mdir = tempfile::tempdir().unwrap();
    let m = model(mdir.path());
    let (dir, expect) = write_fixture(&m, &options(&m));
    let (ok, out) = check(dir.path(), &expect, &[]);
    assert!(ok, "{case}: third-party parsers rejected or misread the files:\n{out}");
    eprintln!("{case}: {out}");
}

#[test]
fn hand_built_tracks_load_in_every_parser() {
    assert_loads("default options", default_options);
}

#[test]
fn mapped_labels_load_in_every_parser() {
    assert_loads("--labels person=pedestrian,car=vehicle", mapped_options);
}

#[test]
fn yolo_track_id_column_loads_as_documented() {
    assert_loads("--yolo-track-ids", |m| Options {
        export: ExportOptions { yolo_track_ids: true, ..Default::default() },
        ..default_options(m)
    });
}

/// The checker must catch a frame-numbering slip: Label Studio frames written from 0.
#[test]
fn an_off_by_one_frame_is_caught() {
    let mdir = tempfile::tempdir().unwrap();
    let m = model(mdir.path());
    let (dir, expect) = write_fixture(&m, &default_options(&m));
    let path = dir.path().join("labelstudio.json");
    let mut tasks: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for r in tasks[0]["predictions"][0]["result"].as_array_mut().unwrap() {
        for s in r["value"]["sequence"].as_array_mut().unwrap() {
            s["frame"] = json!(s["frame"].as_u64().unwrap() - 1);
        }
    }
    std::fs::write(&path, tasks.to_string()).unwrap();
    let (ok, out) = check(dir.path(), &expect, &[]);
    assert!(!ok, "a shifted Label Studio file passed:\n{out}");
    assert!(out.contains("FAIL labelstudio: track-1 frame 0"), "{out}");
    assert!(!out.contains("FAIL cvat") && !out.contains("FAIL coco"), "only Label Studio is wrong:\n{out}");
}

/// A real run of the binary on a MOTChallenge sequence: every file loads, the formats agree
/// box for box, and motmetrics scores `mot.txt` against the sequence's ground truth.
/// Expectations come from the run's own `mot.txt` and `review.json` (the tracks are not
/// visible from outside the binary), so this checks loading and cross-format agreement.
#[test]
fn a_real_run_loads_in_every_parser_and_scores_against_ground_truth() {
    let Some(seq) = common::mot15("TUD-Campus") else { return };
    common::from_setup("models/ssd_mobilenet_v2_coco.onnx");
    let out = tempfile::tempdir().unwrap();
    let video = seq.join("TUD-Campus.mp4");
    let args = ["run", video.to_str().unwrap(), "--out", out.path().to_str().unwrap(), "-q", "--labels", "person=pedestrian"];
    let o = common::prelabel(&args);
    assert!(o.status.success(), "prelabel failed: {}", common::stderr(&o));
    let dir = out.path().join("TUD-Campus.mp4");

    let mut tracks: BTreeMap<String, Value> = BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("mot.txt")).unwrap().lines() {
        let id = line.split(',').nth(1).unwrap().to_string();
        let t = tracks.entry(id).or_insert_with(|| json!({"label": "pedestrian", "boxes": 0, "needs_review": false}));
        t["boxes"] = json!(t["boxes"].as_u64().unwrap() + 1);
    }
    let review: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("review.json")).unwrap()).unwrap();
    for e in review["queue"].as_array().unwrap() {
        tracks.get_mut(&e["track_id"].to_string()).expect("queued track is in mot.txt")["needs_review"] = json!(true);
    }
    let boxes: u64 = tracks.values().map(|t| t["boxes"].as_u64().unwrap()).sum();
    assert!(tracks.len() >= 3 && boxes > 200, "expected several tracks and hundreds of boxes, got {} tracks, {boxes} boxes", tracks.len());
    let expect = json!({
        "frames": review["frames"], "width": 640, "height": 480, "fps": review["fps"],
        "labels": ["pedestrian"], "tracks": tracks, "yolo_track_ids": false,
    });
    let gt = seq.join("gt/gt.txt");
    let (ok, report) = check(&dir, &expect, &["--gt", gt.to_str().unwrap(), "--min-recall", "0.6"]);
    assert!(ok, "third-party parsers rejected or misread a real run:\n{report}");
    eprintln!("TUD-Campus: {report}");
}
