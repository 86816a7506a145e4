//! The YOLOv5, YOLOv8 and end-to-end decoders, run through ONNX Runtime on small models that
//! `scripts/make_test_models.py` generates together with the detections each must give
//! (computed there in numpy, independently of the Rust decoders).

mod common;

use prelabel::infer::{Detector, DeviceChoice};
use prelabel::model::ModelSpec;
use prelabel::postprocess::{Filter, Postprocessor};
use prelabel::preprocess::make_batch;
use prelabel::types::{Detection, Frame};
use serde_json::Value;

fn frame(index: u64, w: u32, h: u32, value: u8) -> Frame {
    Frame::from_rgb(index, w, h, vec![value; (w * h * 3) as usize])
}

fn sorted(mut d: Vec<(u32, f32, [f32; 4])>) -> Vec<(u32, f32, [f32; 4])> {
    d.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)).then(a.2[0].total_cmp(&b.2[0])));
    d
}

fn check_model(name: &str) {
    let dir = common::from_setup(".deps/test-models");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let (fw, fh) = (expected["frame"][0].as_u64().unwrap() as u32, expected["frame"][1].as_u64().unwrap() as u32);
    let spec = ModelSpec::load(&dir.join(format!("{name}.toml"))).unwrap();
    let mut detector = Detector::new(&spec, DeviceChoice::Cpu, 1, None).unwrap();
    assert_eq!(detector.device, "cpu");
    let post = Postprocessor::new(
        &spec,
        Filter { score_threshold: expected["score_threshold"].as_f64().unwrap() as f32, classes: vec![], max_detections: 100 },
    );
    // A black frame then a white one: the models move their first box by the input's mean.
    let batch = make_batch(&[frame(0, fw, fh, 0), frame(1, fw, fh, 255)], &spec.input);
    let raw = detector.run(&batch).unwrap();
    let got = post.process(&raw, &batch.frames).unwrap();
    assert_eq!(got.len(), 2);
    for (f, frame_dets) in got.iter().enumerate() {
        assert_eq!(frame_dets.frame.index, f as u64);
        let want: Vec<(u32, f32, [f32; 4])> = expected["models"][name][f]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let b: Vec<f32> = d["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
                (d["class"].as_u64().unwrap() as u32, d["score"].as_f64().unwrap() as f32, [b[0], b[1], b[2], b[3]])
            })
            .collect();
        let have: Vec<(u32, f32, [f32; 4])> =
            frame_dets.detections.iter().map(|d: &Detection| (d.class, d.score, [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2])).collect();
        let (want, have) = (sorted(want), sorted(have));
        assert_eq!(want.len(), have.len(), "{name} frame {f}: want {want:?}\n have {have:?}");
        for (w, h) in want.iter().zip(&have) {
            assert_eq!(w.0, h.0, "{name} frame {f} class: want {want:?}\n have {have:?}");
            assert!((w.1 - h.1).abs() < 1e-4, "{name} frame {f} score: {w:?} vs {h:?}");
            for k in 0..4 {
                assert!((w.2[k] - h.2[k]).abs() < 1e-3, "{name} frame {f} box: {w:?} vs {h:?}");
            }
        }
    }
    // The input-dependent box really moved between the two frames.
    assert_ne!(got[0].detections, got[1].detections, "{name}: frames gave identical detections");
}

#[test]
fn yolov5_layout() {
    check_model("yolov5");
}

#[test]
fn yolov8_layout_with_letterbox() {
    check_model("yolov8");
}

#[test]
fn end_to_end_packed() {
    check_model("end2end");
}

#[test]
fn end_to_end_split_tensors() {
    check_model("end2end_split");
}

#[test]
fn description_that_does_not_match_the_model_is_refused() {
    let dir = common::from_setup(".deps/test-models");
    let spec = ModelSpec::load(&dir.join("mismatched.toml")).unwrap();
    let err = Detector::new(&spec, DeviceChoice::Cpu, 1, None).err().expect("mismatch must fail").to_string();
    assert!(err.contains("does not match its description"), "{err}");
    assert!(err.contains("expected YOLOv8 [N, 7, A]"), "{err}");
}

#[test]
fn gpu_request_without_cuda_says_so() {
    // The CPU wheel set-up installs has no CUDA provider: --device gpu must fail clearly,
    // while auto falls back and says which device ran.
    let dir = common::from_setup(".deps/test-models");
    let spec = ModelSpec::load(&dir.join("yolov5.toml")).unwrap();
    match Detector::new(&spec, DeviceChoice::Gpu, 1, None) {
        Ok(d) => assert_eq!(d.device, "cuda"),
        Err(e) => assert!(e.to_string().contains("--infer-device gpu"), "{e}"),
    }
    let auto = Detector::new(&spec, DeviceChoice::Auto, 1, None).unwrap();
    assert!(auto.device == "cuda" || auto.device.starts_with("cpu ("), "{}", auto.device);
}
