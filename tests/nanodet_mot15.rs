//! The default detector, NanoDet-g (`models/nanodet_g_coco.toml`, made by scripts/setup.sh),
//! through the whole binary on the MOTChallenge sequences in ../shared: person AP50 (IoU 0.5,
//! VOC all-point, score >= 0.05, `--no-track`: the detector alone, default tiles) against the
//! SSD it replaced, and its int8 copy against fp32 (its shader path against its CPU path is
//! tests/gpu_end_to_end.rs). Targets from issue 20. Skipped, with the reason recorded, when
//! the data is absent.

mod common;

use std::path::Path;

use prelabel::eval::{average_precision, read_mot};

fn person_ap(dir: &Path, seq: &str, extra: &[&str]) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let video = dir.join(format!("{seq}.mp4"));
    let out = tmp.path().join("out");
    let args = [&["--score-threshold", "0.05", "--no-track"][..], extra].concat();
    common::label_people(&video, &out, &args);
    let gt = read_mot(&dir.join("gt/gt.txt")).unwrap();
    let pred = read_mot(&out.join(format!("{seq}.mp4")).join("mot.txt")).unwrap();
    assert!(!pred.is_empty(), "{extra:?} found nobody in {seq}");
    average_precision(&gt, &pred, 0.5).ap
}

fn model(name: &str) -> String {
    common::from_setup(&format!("models/{name}.onnx"));
    common::repo().join(format!("models/{name}.toml")).to_string_lossy().into_owned()
}

/// At least the SSD's AP50 on a close-up sequence and far above it on the wide one (the SSD
/// squashes KITTI's 1224x370 into a square; its default 1x3 tiles lift it from 0.18 to 0.62,
/// NanoDet-g reads 0.85 untiled at 672x224).
#[test]
fn nanodet_finds_people_the_ssd_misses() {
    let (nano, ssd) = (model("nanodet_g_coco"), model("ssd_mobilenet_v2_coco"));
    for (seq, gain) in [("TUD-Campus", -0.01), ("KITTI-17", 0.15)] {
        let Some(dir) = common::mot15(seq) else { return };
        let n = person_ap(&dir, seq, &["--model", &nano]);
        let s = person_ap(&dir, seq, &["--model", &ssd]);
        eprintln!("{seq}: person AP50 NanoDet-g {n:.4}, SSD {s:.4}");
        assert!(n >= s + gain, "{seq}: NanoDet-g AP50 {n:.4} is not SSD's {s:.4} {gain:+}");
    }
}

/// The int8 copy for CPU-only machines loses at most 0.02 AP50, and is really quantized.
#[test]
fn nanodet_int8_within_0_02_ap50_of_fp32() {
    let (fp32, int8) = (model("nanodet_g_coco"), model("nanodet_g_coco_int8"));
    for seq in ["TUD-Campus", "TUD-Stadtmitte"] {
        let Some(dir) = common::mot15(seq) else { return };
        let f = person_ap(&dir, seq, &["--model", &fp32]);
        let q = person_ap(&dir, seq, &["--model", &int8]);
        eprintln!("{seq}: NanoDet-g person AP50 fp32 {f:.4}, int8 {q:.4} ({:+.4})", q - f);
        assert!(q >= f - 0.02, "{seq}: int8 AP50 {q:.4} is more than 0.02 below fp32 {f:.4}");
        assert!(q != f, "{seq}: int8 gives exactly fp32's AP50: is the .onnx really the int8 one?");
    }
}

/// Tracks with the default detector and default settings on the two sequences the SSD failed
/// (issue 20's targets): a moving camera at 14 fps, and a car's wide 1224x370 view at 10 fps.
/// Measured when NanoDet-g became the default: ETH-Sunnyday MOTA 0.772, IDF1 0.858 (SSD 0.194 /
/// 0.508); KITTI-17 0.791 / 0.865 (SSD -0.307 / 0.476). With the 0.7 colour gate (2026-12-06):
/// ETH-Sunnyday 0.767 / 0.858, KITTI-17 0.773 / 0.823. With stitch's long-hiding pass on by
/// default (2026-12-06): KITTI-17 0.794 / 0.893, and TUD-Stadtmitte (whose people are hidden
/// by others for seconds) 0.889 / 0.882 against 0.862 / 0.859 without it; the floors sit a
/// little under, so losing that pass fails here.
///
/// On ETH-Sunnyday (filmed walking) the report must say the camera moved with
/// `--camera-motion` (and nothing when it was not measured), and the drafts must not lose
/// with it. It paid until uncross asked the colours (2026-12-06): 0.776 / 0.875 against
/// 0.765 / 0.857 without; since then 0.773 / 0.871 against 0.772 / 0.880: the IDF1 it
/// gained was uncross's motion-only misreadings of this sequence, which the colours now stop.
#[test]
fn default_detector_tracks_a_moving_camera_a_wide_view_and_long_hidings() {
    for (seq, mota, idf1) in [("ETH-Sunnyday", 0.75, 0.87), ("KITTI-17", 0.77, 0.87), ("TUD-Stadtmitte", 0.87, 0.87)] {
        let Some(dir) = common::mot15(seq) else { return };
        let tmp = tempfile::tempdir().unwrap();
        let gt = read_mot(&dir.join("gt/gt.txt")).unwrap();
        let run = |name: &str, extra: &[&str]| {
            let out = common::label_people(&dir.join(format!("{seq}.mp4")), &tmp.path().join(name), extra);
            let s = prelabel::eval::score(&gt, &read_mot(&out.join("mot.txt")).unwrap(), 0.5);
            eprintln!("{seq} {extra:?}: MOTA {:.4} IDF1 {:.4} precision {:.4} recall {:.4}", s.mota, s.idf1, s.precision, s.recall);
            let report: serde_json::Value =
                serde_json::from_slice(&std::fs::read(tmp.path().join(name).join("report.json")).unwrap()).unwrap();
            (s, report["videos"][0]["camera"].as_str().map(str::to_owned))
        };
        let (s, none) = run("default", &[]);
        assert!(s.mota >= mota && s.idf1 >= idf1, "{seq}: MOTA {:.4} (floor {mota}), IDF1 {:.4} (floor {idf1})", s.mota, s.idf1);
        assert!(none.is_none(), "the camera's motion is measured only with --camera-motion");
        if seq == "ETH-Sunnyday" {
            let (moving, camera) = run("moving", &["--camera-motion"]);
            let camera = camera.expect("the report says how the camera moved");
            let median: f32 = camera.strip_prefix("median ").and_then(|r| r.split(' ').next()).and_then(|v| v.parse().ok()).expect(&camera);
            assert!(median >= 1.0, "{seq} was filmed walking: {camera}");
            assert!(
                moving.idf1 >= s.idf1 - 0.015 && moving.mota >= s.mota - 0.01,
                "--camera-motion: MOTA {:.4} IDF1 {:.4}, without {:.4} {:.4}",
                moving.mota,
                moving.idf1,
                s.mota,
                s.idf1
            );
        }
    }
}

/// Far-away people whom the whole frame still half finds: TUD-Stadtmitte shrunk 3x into a
/// 1080p frame (scripts/make_variants.py). Its tiles add only 1.35x the confident boxes, under
/// the probe's 1.4x, but its people are 33 px tall at the model's input, so `--tiles auto`
/// tiles it, and in the finer 3x3 grid (src/tile/probe.rs). Measured 2026-12-06: MOTA 0.721,
/// IDF1 0.764; 0.500 / 0.632 in the probe's 2x2; 0.285 / 0.476 untiled, when the probe only
/// counted boxes.
#[test]
fn far_away_people_are_tiled_for_their_size() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(dir) = common::mot15_variant("TUD-Stadtmitte", "far", tmp.path()) else { return };
    let out = tmp.path().join("out");
    let labels = common::label_people(&dir.join("TUD-Stadtmitte-far.mp4"), &out, &[]);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let chose = report["videos"][0]["tiles"].as_str().expect("report.json says what auto chose");
    assert!(chose.starts_with("tiles 3x3, finer than the probe's for small people: "), "{chose}");
    let s = prelabel::eval::score(&read_mot(&dir.join("gt/gt.txt")).unwrap(), &read_mot(&labels.join("mot.txt")).unwrap(), 0.5);
    eprintln!("TUD-Stadtmitte-far: MOTA {:.4} IDF1 {:.4} ({chose})", s.mota, s.idf1);
    assert!(s.mota >= 0.68 && s.idf1 >= 0.72, "MOTA {:.4} IDF1 {:.4} ({chose})", s.mota, s.idf1);
}
