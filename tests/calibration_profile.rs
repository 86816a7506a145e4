//! Calibration profiles end to end (`prelabel calibrate --profile`, `prelabel run
//! --calibration`), when ../shared has TUD-Stadtmitte: label it, calibrate on the first 30% of
//! its frames, label it again with the profile, and score the other 70% with and without.
//! Asserts what must hold: the profile is recorded in report.json with its sha256; a profile
//! that changes boxes changes the drafts; the held-out scores do not drop by more than 0.01;
//! and `calibrate --check`'s estimate on the held-out frames (the profile applied to the
//! drafts after the fact) agrees with what the run with the profile scores. Also: a bad
//! profile is one error line naming the file and the key, before the model loads.

mod common;

use std::path::Path;

use serde_json::Value;

/// Copies MOT text rows (`frame,...`) whose frame `keep` keeps.
fn slice_mot(from: &Path, to: &Path, keep: impl Fn(u64) -> bool) {
    let text = std::fs::read_to_string(from).unwrap();
    let rows: String = text
        .lines()
        .filter(|l| l.split(',').next().and_then(|f| f.trim().parse::<f64>().ok()).is_some_and(|f| keep(f as u64)))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::write(to, rows).unwrap();
}

/// Copies prelabel's coco.json keeping the boxes of the frames (from 1) `keep` keeps.
fn slice_coco(from: &Path, to: &Path, keep: impl Fn(u64) -> bool) {
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(from).unwrap()).unwrap();
    let frame_of: std::collections::HashMap<i64, u64> =
        c["images"].as_array().unwrap().iter().map(|i| (i["id"].as_i64().unwrap(), i["frame_index"].as_u64().unwrap() + 1)).collect();
    let anns: Vec<Value> =
        c["annotations"].as_array().unwrap().iter().filter(|a| keep(frame_of[&a["image_id"].as_i64().unwrap()])).cloned().collect();
    c["annotations"] = Value::Array(anns);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::write(to, serde_json::to_string(&c).unwrap()).unwrap();
}

fn eval(gt: &Path, pred: &Path) -> (f64, f64) {
    let o = common::prelabel(&["eval", "--gt", gt.to_str().unwrap(), "--pred", pred.to_str().unwrap(), "--json", "-q"]);
    assert!(o.status.success(), "eval: {}", common::stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["overall"]["tracking"];
    let (mota, idf1) = (s["mota"].as_f64(), s["idf1"].as_f64());
    (mota.unwrap_or_else(|| panic!("no mota in {v}")), idf1.unwrap())
}

#[test]
fn calibrate_run_eval_round_trip() {
    let Some(seq) = common::mot15("TUD-Stadtmitte") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let video = seq.join("TUD-Stadtmitte.mp4");
    let base = common::label_people(&video, &tmp.path().join("base"), &[]);
    let frames = 179u64;
    let cut = (frames * 3).div_ceil(10);
    let (first, rest) = (|f: u64| f <= cut, |f: u64| f > cut);
    let split = tmp.path().join("split");
    for (part, keep) in [("A", &first as &dyn Fn(u64) -> bool), ("B", &rest)] {
        slice_mot(&seq.join("gt/gt.txt"), &split.join(part).join("gt/gt.txt"), keep);
        slice_mot(&base.join("mot.txt"), &split.join(part).join("mot.txt"), keep);
        slice_coco(&base.join("coco.json"), &split.join(part).join("coco.json"), keep);
    }
    let (gt_a, gt_b) = (split.join("A/gt/gt.txt"), split.join("B/gt/gt.txt"));
    let profile = tmp.path().join("guide.toml");
    let (pred_a, pred_b) = (split.join("A/coco.json"), split.join("B/coco.json"));
    let args = ["calibrate", "--gt", gt_a.to_str().unwrap(), "--pred", pred_a.to_str().unwrap(), "--json"];
    let o = common::prelabel(&[&args[..], &["--profile", profile.to_str().unwrap()]].concat());
    assert!(o.status.success(), "calibrate: {}", common::stderr(&o));
    let learned: Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = std::fs::read_to_string(&profile).unwrap();
    assert!(text.starts_with("# prelabel calibration profile") && text.contains("[class.person]"), "{text}");
    let changes = ["min_height", "geometry", "max_hidden_s"].iter().any(|k| text.contains(k));
    // On the sample itself, the kept parts never cost errors.
    let parts = learned["profile"][0]["parts"].as_array().unwrap();
    let errors = |p: &Value| p["errors"].as_u64().unwrap();
    assert!(errors(parts.last().unwrap()) <= errors(&parts[0]), "{parts:?}");

    let calibrated = common::label_people(&video, &tmp.path().join("calibrated"), &["--calibration", profile.to_str().unwrap()]);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(tmp.path().join("calibrated/report.json")).unwrap()).unwrap();
    let options = &report["options"];
    assert_eq!(options["values"]["calibration"].as_str(), profile.to_str());
    let sha = std::process::Command::new("sha256sum").arg(&profile).output().unwrap();
    let sha = String::from_utf8_lossy(&sha.stdout).split(' ').next().unwrap().to_string();
    assert_eq!(options["calibration_sha256"].as_str(), Some(sha.as_str()));
    let (base_mot, cal_mot) = (std::fs::read(base.join("mot.txt")).unwrap(), std::fs::read(calibrated.join("mot.txt")).unwrap());
    assert_eq!(base_mot != cal_mot, changes, "the drafts change exactly when the profile changes boxes:\n{text}");

    slice_mot(&calibrated.join("mot.txt"), &split.join("C/mot.txt"), rest);
    let (mota0, idf10) = eval(&gt_b, &split.join("B/mot.txt"));
    let (mota1, idf11) = eval(&gt_b, &split.join("C/mot.txt"));
    eprintln!("TUD-Stadtmitte, profile from the first 30%, scored on the other 70%: MOTA {mota0:.3} -> {mota1:.3}, IDF1 {idf10:.3} -> {idf11:.3}\n{text}");
    assert!(mota1 >= mota0 - 0.01 && idf11 >= idf10 - 0.01, "MOTA {mota0} -> {mota1}, IDF1 {idf10} -> {idf11}");
    // calibrate --check on the held-out drafts estimates what the run gave.
    let check = ["calibrate", "--gt", gt_b.to_str().unwrap(), "--pred", pred_b.to_str().unwrap(), "--json"];
    let o = common::prelabel(&[&check[..], &["--check", profile.to_str().unwrap()]].concat());
    assert!(o.status.success(), "calibrate --check: {}", common::stderr(&o));
    let checked: Value = serde_json::from_slice(&o.stdout).unwrap();
    let est = checked["profile"][0]["parts"].as_array().unwrap().last().unwrap()["mota"].as_f64().unwrap();
    assert!((est - mota1).abs() <= 0.02, "--check estimates MOTA {est}, the run scores {mota1}");
}

#[test]
fn a_bad_profile_is_one_line_naming_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("guide.toml");
    std::fs::write(&bad, "version = 1\n[class.person]\nmin_height = -4\n").unwrap();
    let video = tmp.path().join("none.mp4");
    std::fs::write(&video, b"not a video").unwrap();
    let out = tmp.path().join("out");
    for args in [
        vec!["run", video.to_str().unwrap(), "--out", out.to_str().unwrap(), "--calibration", bad.to_str().unwrap()],
        vec!["calibrate", "--gt", "a.txt", "--pred", "b.txt", "--check", bad.to_str().unwrap()],
    ] {
        let o = common::prelabel(&args);
        assert!(!o.status.success());
        let err = common::stderr(&o);
        let line = err.lines().find(|l| l.contains("guide.toml")).unwrap_or_else(|| panic!("{err}"));
        assert!(line.contains("class.person.min_height"), "{err}");
    }
    std::fs::write(&bad, "version = 1\n[class.person]\nmin_height = 40\n[class.giraffe_x]\nmin_height = 1\n").unwrap();
    let o = common::prelabel(&["run", video.to_str().unwrap(), "--out", out.to_str().unwrap(), "--calibration", bad.to_str().unwrap()]);
    let err = common::stderr(&o);
    assert!(!o.status.success() && err.contains("class.giraffe_x"), "{err}");
    let missing = tmp.path().join("missing.toml");
    let o = common::prelabel(&["run", video.to_str().unwrap(), "--out", out.to_str().unwrap(), "--calibration", missing.to_str().unwrap()]);
    let err = common::stderr(&o);
    assert!(!o.status.success() && err.contains("missing.toml") && err.contains("cannot read"), "{err}");
}
