//! Golden-file tests for the label writers (COCO, CVAT, MOT) in `src/export/`.
//!
//! A small hand-made case (3 frames, frame 1 empty, 3 boxes whose coordinates and scores need
//! rounding) goes through each writer; the output must match `tests/golden/<name>` byte for
//! byte. After an intended change to a writer's output, regenerate the golden files with
//!
//! ```text
//! PRELABEL_BLESS=1 cargo test --release --test writers
//! ```
//!
//! then read the diff of `tests/golden/` before committing it: the golden files are the spec.
//!
//! The only thing not compared literally is the crate version that `coco.json` records in
//! `info.version`: it is replaced by `0.0.0-golden` on both sides, so a version bump does not
//! need a re-bless.
//!
//! Further tests check the files at the parse level (independent of formatting) and that a
//! writer dropped without `finish()` leaves nothing behind.

use std::path::{Path, PathBuf};

use prelabel::export::{ExportContext, Format, LabelWriter};
use prelabel::model::ModelSpec;
use prelabel::types::{BBox, Detection, FrameDetections, FrameInfo, VideoInfo};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::Value;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;

fn video() -> VideoInfo {
    VideoInfo {
        path: PathBuf::from("/videos/clip.mp4"),
        name: "clip.mp4".into(),
        width: WIDTH,
        height: HEIGHT,
        fps: 29.97,
        frames_hint: 3,
    }
}

/// A model description with the given classes, loaded through `ModelSpec::load`.
/// `ssd` (class 0 = background) or `yolov5` (no background class).
fn model(dir: &Path, kind: &str, classes: &[&str]) -> ModelSpec {
    let output = match kind {
        "ssd" => concat!(
            "kind = \"ssd\"\nboxes = \"b\"\nlogits = \"l\"\nanchors = \"a\"\n",
            "scales = [10.0, 10.0, 5.0, 5.0]\nnms_iou = 0.6\n"
        ),
        "yolov5" => "kind = \"yolov5\"\noutput = \"output0\"\nnms_iou = 0.45\n",
        other => panic!("no test model of kind {other}"),
    };
    let classes = classes.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ");
    let text = format!(
        "name = \"tiny_{kind}\"\nfile = \"tiny.onnx\"\nclasses = [{classes}]\n\
         [input]\nname = \"in\"\nwidth = 32\nheight = 32\nlayout = \"nchw\"\n\
         mean = [0.0, 0.0, 0.0]\nstd = [1.0, 1.0, 1.0]\n[output]\n{output}"
    );
    let path = dir.join(format!("{kind}.toml"));
    std::fs::write(&path, text).unwrap();
    ModelSpec::load(&path).unwrap()
}

fn det(x1: f32, y1: f32, x2: f32, y2: f32, class: u32, score: f32) -> Detection {
    Detection { bbox: BBox { x1, y1, x2, y2 }, class, score }
}

/// Three frames, the middle one empty. `person` and `car` are the model's class indices.
///
/// Values chosen to exercise rounding: 10.123 -> 10.12, 20.456 -> 20.46, 0.87654 -> 0.8765,
/// 0.123456 -> 0.1235, 0.99999 -> 1 (score), 639.996 -> 640, and a width (x2 - x1) computed in
/// f32 that is not exact (100.377 -> 100.38).
fn frames(person: u32, car: u32) -> Vec<FrameDetections> {
    let info = |index| FrameInfo { index, width: WIDTH, height: HEIGHT };
    vec![
        FrameDetections {
            frame: info(0),
            detections: vec![
                det(10.123, 20.456, 110.5, 220.999, person, 0.87654),
                det(300.0, 40.0, 350.25, 75.5, car, 0.123456),
            ],
        },
        FrameDetections { frame: info(1), detections: vec![] },
        FrameDetections { frame: info(2), detections: vec![det(0.0, 0.004, 639.996, 479.5, person, 0.99999)] },
    ]
}

/// Writes `frames` in `format` into a fresh folder and returns the finished file's text.
fn write(format: Format, model: &ModelSpec, frames: &[FrameDetections]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let video = video();
    let ctx = ExportContext { video: &video, model, dir: dir.path() };
    let mut writer = format.create(&ctx).unwrap();
    for f in frames {
        writer.write_frame(f).unwrap();
    }
    let path = writer.finish().unwrap();
    assert_eq!(path, dir.path().join(format.file_name()));
    // Only the finished file is left: no temp or spool files.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from(format.file_name())], "files left in the output folder");
    std::fs::read_to_string(&path).unwrap()
}

fn ssd_model(dir: &Path) -> ModelSpec {
    model(dir, "ssd", &["background", "person", "car"])
}

fn yolo_model(dir: &Path) -> ModelSpec {
    model(dir, "yolov5", &["person", "car"])
}

/// The version the crate writes into `coco.json`, replaced by a fixed one for comparison.
fn normalise(text: &str) -> String {
    text.replace(&format!("\"version\":\"{}\"", env!("CARGO_PKG_VERSION")), "\"version\":\"0.0.0-golden\"")
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
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (PRELABEL_BLESS=1 creates it)", path.display()));
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

// ---------------------------------------------------------------------------------------------
// 1. Golden files

#[test]
fn coco_matches_golden() {
    let dir = tempfile::tempdir().unwrap();
    let m = ssd_model(dir.path());
    check_golden("coco.json", &write(Format::Coco, &m, &frames(1, 2)));
}

#[test]
fn coco_without_background_class_matches_golden() {
    let dir = tempfile::tempdir().unwrap();
    let m = yolo_model(dir.path());
    check_golden("coco_no_background.json", &write(Format::Coco, &m, &frames(0, 1)));
}

#[test]
fn cvat_matches_golden() {
    let dir = tempfile::tempdir().unwrap();
    let m = ssd_model(dir.path());
    check_golden("cvat.xml", &write(Format::Cvat, &m, &frames(1, 2)));
}

#[test]
fn mot_matches_golden() {
    let dir = tempfile::tempdir().unwrap();
    let m = ssd_model(dir.path());
    check_golden("mot.txt", &write(Format::Mot, &m, &frames(1, 2)));
}

// ---------------------------------------------------------------------------------------------
// 2. Parse-level checks, independent of formatting

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

fn check_coco(text: &str, person_id: u64, car_id: u64) {
    let coco: Value = serde_json::from_str(text).expect("coco.json is valid JSON");
    let images = coco["images"].as_array().unwrap();
    let anns = coco["annotations"].as_array().unwrap();
    let cats = coco["categories"].as_array().unwrap();

    // One image per frame, the empty one included; ids = frame index + 1.
    assert_eq!(images.len(), 3);
    for (i, img) in images.iter().enumerate() {
        assert_eq!(img["id"], i as u64 + 1);
        assert_eq!(img["frame_index"], i as u64);
        assert_eq!(img["width"], WIDTH);
        assert_eq!(img["height"], HEIGHT);
        assert_eq!(img["video"], "clip.mp4");
    }

    // Categories: every class but background.
    let cat_pairs: Vec<(u64, &str)> =
        cats.iter().map(|c| (c["id"].as_u64().unwrap(), c["name"].as_str().unwrap())).collect();
    assert_eq!(cat_pairs, vec![(person_id, "person"), (car_id, "car")]);

    // Annotations: unique ids from 1, pointing at existing images and categories.
    assert_eq!(anns.len(), 3);
    let image_ids: Vec<u64> = anns.iter().map(|a| a["image_id"].as_u64().unwrap()).collect();
    assert_eq!(image_ids, vec![1, 1, 3]);
    let ann_ids: Vec<u64> = anns.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    assert_eq!(ann_ids, vec![1, 2, 3]);
    let cat_ids: Vec<u64> = anns.iter().map(|a| a["category_id"].as_u64().unwrap()).collect();
    assert_eq!(cat_ids, vec![person_id, car_id, person_id]);

    // bbox is [x, y, w, h] in pixels, rounded to 2 decimals; the score is kept.
    let first = &anns[0];
    let bbox = first["bbox"].as_array().unwrap();
    assert_eq!(bbox.len(), 4);
    for (v, want) in bbox.iter().zip([10.12, 20.46, 100.38, 200.54]) {
        assert!(close(v, want), "bbox {bbox:?}, want {want}");
    }
    assert!(close(&first["score"], 0.8765), "{}", first["score"]);
    assert!(close(&anns[1]["score"], 0.1235), "{}", anns[1]["score"]);
    assert!(close(&anns[2]["score"], 1.0), "{}", anns[2]["score"]);
    for a in anns {
        assert_eq!(a["iscrowd"], 0);
        let b: Vec<f64> = a["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!((a["area"].as_f64().unwrap() - b[2] * b[3]).abs() < 0.1 * b[2].max(b[3]), "area of {a}");
    }
    assert_eq!(coco["info"]["video"], "clip.mp4");
}

#[test]
fn coco_parses_with_expected_content() {
    let dir = tempfile::tempdir().unwrap();
    check_coco(&write(Format::Coco, &ssd_model(dir.path()), &frames(1, 2)), 1, 2);
    // Without a background class, category ids are class index + 1.
    check_coco(&write(Format::Coco, &yolo_model(dir.path()), &frames(0, 1)), 1, 2);
}

#[test]
fn coco_with_no_detections_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let m = ssd_model(dir.path());
    let empty: Vec<_> = frames(1, 2).into_iter().map(|f| FrameDetections { detections: vec![], ..f }).collect();
    let coco: Value = serde_json::from_str(&write(Format::Coco, &m, &empty)).unwrap();
    assert_eq!(coco["annotations"].as_array().unwrap().len(), 0);
    assert_eq!(coco["images"].as_array().unwrap().len(), 3);
}

/// One `<box>` of a CVAT track: (frame, outside, [xtl, ytl, xbr, ybr], score attribute).
type CvatBox = (u64, String, [f64; 4], String);

/// What a CVAT file says, read with quick-xml.
#[derive(Debug, Default)]
struct Cvat {
    size: String,
    stop_frame: String,
    labels: Vec<String>,
    /// (id, label, boxes).
    tracks: Vec<(String, String, Vec<CvatBox>)>,
}

fn parse_cvat(text: &str) -> Cvat {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut out = Cvat::default();
    let mut path: Vec<String> = vec![];
    let attr = |e: &quick_xml::events::BytesStart, key: &str| -> String {
        e.attributes()
            .map(|a| a.unwrap())
            .find(|a| a.key.as_ref() == key.as_bytes())
            .map(|a| a.unescape_value().unwrap().into_owned())
            .unwrap_or_else(|| panic!("<{}> without {key}", String::from_utf8_lossy(e.name().as_ref())))
    };
    loop {
        match reader.read_event().expect("cvat.xml is well-formed XML") {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                match name.as_str() {
                    "track" => out.tracks.push((attr(&e, "id"), attr(&e, "label"), vec![])),
                    "box" => {
                        let n = |k: &str| attr(&e, k).parse::<f64>().unwrap();
                        let b = (
                            attr(&e, "frame").parse().unwrap(),
                            attr(&e, "outside"),
                            [n("xtl"), n("ytl"), n("xbr"), n("ybr")],
                            String::new(),
                        );
                        out.tracks.last_mut().expect("<box> inside a <track>").2.push(b);
                    }
                    "attribute" if path.last().is_some_and(|p| p == "box") => {
                        assert_eq!(attr(&e, "name"), "score");
                    }
                    _ => {}
                }
                path.push(name);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let t = t.decode().unwrap().into_owned();
                let p: Vec<&str> = path.iter().map(String::as_str).collect();
                match p.as_slice() {
                    ["annotations", "meta", "task", "size"] => out.size = t,
                    ["annotations", "meta", "task", "stop_frame"] => out.stop_frame = t,
                    ["annotations", "meta", "task", "labels", "label", "name"] => out.labels.push(t),
                    [.., "box", "attribute"] => out.tracks.last_mut().unwrap().2.last_mut().unwrap().3 = t,
                    _ => {}
                }
            }
            Event::Empty(e) => panic!("unexpected empty element <{}>", String::from_utf8_lossy(e.name().as_ref())),
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(path.is_empty(), "unclosed elements {path:?}");
    out
}

#[test]
fn cvat_parses_with_expected_content() {
    let dir = tempfile::tempdir().unwrap();
    let cvat = parse_cvat(&write(Format::Cvat, &ssd_model(dir.path()), &frames(1, 2)));
    assert_eq!(cvat.size, "3");
    assert_eq!(cvat.stop_frame, "2");
    assert_eq!(cvat.labels, vec!["person", "car"]);
    // One track per box, each a keyframe box then (before the last frame) an outside box on
    // the next frame. What follows a box on the last frame is checked by
    // `cvat_boxes_stay_inside_the_task_frames`.
    assert_eq!(cvat.tracks.len(), 3);
    let want = [("0", "person", 0, "0.8765"), ("1", "car", 0, "0.1235"), ("2", "person", 2, "1.0000")];
    for ((id, label, boxes), (wid, wlabel, wframe, wscore)) in cvat.tracks.iter().zip(want) {
        assert_eq!((id.as_str(), label.as_str()), (wid, wlabel));
        assert_eq!((boxes[0].0, boxes[0].1.as_str()), (wframe, "0"));
        assert_eq!(boxes[0].3, wscore);
        if wframe < 2 {
            assert_eq!(boxes.len(), 2);
            assert_eq!((boxes[1].0, boxes[1].1.as_str()), (wframe + 1, "1"));
            assert_eq!(boxes[0].2, boxes[1].2);
            assert_eq!(boxes[1].3, wscore);
        }
    }
    assert_eq!(cvat.tracks[0].2[0].2, [10.12, 20.46, 110.5, 221.0]);
    assert_eq!(cvat.tracks[2].2[0].2, [0.0, 0.0, 640.0, 479.5]);
    // Labels use names, so a model without a background class gives the same labels.
    let cvat = parse_cvat(&write(Format::Cvat, &yolo_model(dir.path()), &frames(0, 1)));
    assert_eq!(cvat.labels, vec!["person", "car"]);
    assert_eq!(cvat.tracks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(), vec!["person", "car", "person"]);
}

/// CVAT refuses to import a track shape outside the task's frames (cvat-ai/cvat#2071 fixed
/// CVAT's own exporter for exactly this), and datumaro turns such a shape into an extra item
/// past the end. A box on the last frame must therefore not get an `outside` box on the next.
#[test]
fn cvat_boxes_stay_inside_the_task_frames() {
    let dir = tempfile::tempdir().unwrap();
    let cvat = parse_cvat(&write(Format::Cvat, &ssd_model(dir.path()), &frames(1, 2)));
    let stop: u64 = cvat.stop_frame.parse().unwrap();
    for (id, _, boxes) in &cvat.tracks {
        for b in boxes {
            assert!(b.0 <= stop, "track {id} has a box on frame {} after stop_frame {stop}", b.0);
        }
    }
}

#[test]
fn mot_lines_have_expected_fields() {
    let dir = tempfile::tempdir().unwrap();
    let text = write(Format::Mot, &ssd_model(dir.path()), &frames(1, 2));
    let rows: Vec<Vec<f64>> =
        text.lines().map(|l| l.split(',').map(|v| v.parse::<f64>().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r.len(), 10);
        assert_eq!(r[1], -1.0);
        assert_eq!(&r[7..], &[-1.0, -1.0, -1.0]);
    }
    assert_eq!(rows.iter().map(|r| r[0]).collect::<Vec<_>>(), vec![1.0, 1.0, 3.0]);
    assert_eq!(&rows[0][2..7], &[10.12, 20.46, 100.38, 200.54, 0.8765]);
}

// ---------------------------------------------------------------------------------------------
// 3. A writer dropped without finish() leaves nothing

#[test]
fn dropped_writer_leaves_no_file() {
    let model_dir = tempfile::tempdir().unwrap();
    let m = ssd_model(model_dir.path());
    let video = video();
    for format in Format::ALL {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ExportContext { video: &video, model: &m, dir: dir.path() };
        let mut writer: Box<dyn LabelWriter> = format.create(&ctx).unwrap();
        for f in &frames(1, 2)[..2] {
            writer.write_frame(f).unwrap();
        }
        // While writing, nothing is under the final name.
        assert!(!dir.path().join(format.file_name()).exists(), "{format:?}");
        drop(writer);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{format:?} left {left:?} behind");
    }
}
