//! `--device gpu` end to end on whatever adapter is there (Mesa lavapipe in CI): the shader
//! stages must label TUD-Campus as well as the CPU stages do, for both bundled detectors
//! (NanoDet-g, the default: YUV planes -> preprocess.wgsl letterboxed BGR, CPU box decoding,
//! nms.wgsl; the SSD: preprocess.wgsl stretched RGB, ssd_decode.wgsl + nms.wgsl), and
//! report.json must say what ran each stage.

mod common;

use prelabel::eval::{average_precision, read_mot};
use serde_json::Value;

fn run(seq_dir: &std::path::Path, device: &str, model: &str, out: &std::path::Path) -> (f64, Value) {
    let video = seq_dir.join("TUD-Campus.mp4");
    let args = ["run", video.to_str().unwrap(), "--out", out.to_str().unwrap(), "--classes", "person", "--model", model];
    let o = common::prelabel(&[&args[..], &["-s", "0.05", "--no-track", "--device", device, "-q"]].concat());
    assert!(o.status.success(), "--device {device}: {}", common::stderr(&o));
    let gt = read_mot(&seq_dir.join("gt/gt.txt")).unwrap();
    let pred = read_mot(&out.join("TUD-Campus.mp4/mot.txt")).unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    (average_precision(&gt, &pred, 0.5).ap, report)
}

#[test]
fn device_gpu_matches_device_cpu_on_tud_campus() {
    for model in ["nanodet_g_coco", "ssd_mobilenet_v2_coco"] {
        gpu_matches_cpu(model);
    }
}

fn gpu_matches_cpu(model: &str) {
    let Some(dir) = common::mot15("TUD-Campus") else { return };
    common::from_setup(&format!("models/{model}.onnx"));
    let tmp = tempfile::tempdir().unwrap();
    let (ap_cpu, rep_cpu) = run(&dir, "cpu", model, &tmp.path().join("cpu"));
    let (ap_gpu, rep_gpu) = run(&dir, "gpu", model, &tmp.path().join("gpu"));
    eprintln!("{model} TUD-Campus person AP50: cpu {ap_cpu:.4}, gpu {ap_gpu:.4}");
    eprintln!("gpu stages: {}", rep_gpu["stage_devices"]);
    assert!((ap_cpu - ap_gpu).abs() <= 0.01, "AP50 cpu {ap_cpu:.4} vs gpu {ap_gpu:.4}");

    let stages = &rep_gpu["stage_devices"];
    for stage in ["preprocess", "postprocess"] {
        assert!(stages[stage].as_str().unwrap().starts_with("gpu: "), "{stage}: {stages}");
    }
    assert!(rep_gpu["gpu_adapter"]["name"].is_string(), "{rep_gpu}");
    assert!(rep_gpu["execution_provider"].as_str().unwrap().ends_with("ExecutionProvider"));
    assert_eq!(rep_cpu["stage_devices"]["preprocess"], "cpu");
    assert!(rep_cpu.get("gpu_adapter").is_none());
}

#[test]
fn auto_does_not_pick_a_software_adapter() {
    let Some(dir) = common::mot15("TUD-Campus") else { return };
    common::from_setup("models/nanodet_g_coco.onnx");
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("clip.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(dir.join("TUD-Campus.mp4"))
        .args(["-frames:v", "5", "-c", "copy"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(st.success());
    let out = tmp.path().join("out");
    let o = common::prelabel(&["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let adapter = &report["gpu_adapter"];
    // On a machine whose only adapter is software (CI), auto keeps every stage on the CPU.
    if adapter.is_null() || adapter["software"] == true {
        assert_eq!(report["stage_devices"]["preprocess"], "cpu", "{report}");
        assert_eq!(report["stage_devices"]["postprocess"], "cpu", "{report}");
    }
}
