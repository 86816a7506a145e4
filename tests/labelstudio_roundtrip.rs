//! A real Label Studio round trip: what prelabel writes with `--web-video --video-url` imports
//! into a running Label Studio with no edit, reads back as written, and plays in its editor.
//!
//! The test labels a short cut of the sample (`.deps/vtest.avi`, 60 frames) with
//! `--web-video --video-url /data/local-files/?d=out/`, then starts, on free localhost ports
//! and by itself, Label Studio (PyPI, the venv `scripts/setup-labelstudio.sh` makes; SQLite in
//! a temporary data dir; Local Files serving rooted at the temporary folder; a fixed legacy
//! API token) and Debian's headless Chromium (remote debugging). `scripts/labelstudio_roundtrip.py`
//! drives both: project with our labeling config, Local Files storage over the output, import
//! of `labelstudio.json` through the REST API, read-back; then log-in, the task's editor page,
//! play, region list, screenshot. This file checks what it saw against `mot.txt`.
//!
//! Both servers are stopped by the process group of the PID the test started, in a guard's
//! `Drop`, so also when an assertion fails. The first Label Studio start migrates a fresh
//! SQLite database (about a minute): the migrated, empty data dir is kept in
//! `target/tmp/labelstudio-template-<version>/` and copied for each later run.
//! The screenshot is saved as `target/tmp/labelstudio_roundtrip/editor.png` (path printed).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::labelstudio::{chromium, screenshot_path, start_chromium, start_label_studio, tail, EMAIL, PASSWORD, TOKEN};
use serde_json::Value;

const FRAMES: u32 = 60;
/// Pixels a box may differ by between Label Studio's copy and mot.txt: the percentages are
/// written with 4 decimals (0.0008 px at 768 wide), mot.txt with 2.
const TOLERANCE_PX: f64 = 0.02;

/// mot.txt rows: (frame, id) -> [x, y, w, h].
fn read_mot(path: &Path) -> BTreeMap<(u64, u64), [f64; 4]> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
            ((v[0] as u64, v[1] as u64), [v[2], v[3], v[4], v[5]])
        })
        .collect()
}

#[test]
fn labels_import_into_label_studio_and_play_in_its_editor() {
    let started = Instant::now();
    let python = common::from_setup(".deps/venv-labelstudio/bin/python");
    chromium();
    let sample = common::from_setup(".deps/vtest.avi");

    // 1. Label a short clip, with the web copy and URLs for Label Studio's Local Files.
    let root = tempfile::tempdir().unwrap();
    let clip = root.path().join("clip.avi");
    let cut = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&sample)
        .args(["-frames:v", &FRAMES.to_string(), "-c", "copy"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(cut.success(), "ffmpeg could not cut the sample");
    let out = root.path().join("out");
    let t = Instant::now();
    let run = common::prelabel(&[
        "run",
        clip.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
        "-q",
        "--classes",
        "person,car",
        "--stride",
        "3",
        "--web-video",
        "--video-url",
        "/data/local-files/?d=out/",
    ]);
    assert!(run.status.success(), "prelabel failed: {}", common::stderr(&run));
    let prelabel_s = t.elapsed().as_secs_f64();
    let dir = out.join("clip.avi");
    assert!(dir.join("video.mp4").is_file(), "no web copy in {}", dir.display());

    // 2. Label Studio on a free port, SQLite in a copy of the migrated template.
    let t = Instant::now();
    let (ls, base) = start_label_studio(&python, root.path(), root.path(), &[]);
    let ls_start_s = t.elapsed().as_secs_f64();

    // 3. Headless Chromium, remote debugging on a port it picks and writes down.
    let (browser, cdp_port) = start_chromium(root.path());

    // 4. The client: REST import and read-back, then the editor in the browser.
    let screenshot = screenshot_path("labelstudio_roundtrip");
    let result_path = root.path().join("result.json");
    let t = Instant::now();
    let client = Command::new(&python)
        .arg(common::repo().join("scripts/labelstudio_roundtrip.py"))
        .args(["--url", &base, "--token", TOKEN, "--email", EMAIL, "--password", PASSWORD])
        .arg("--storage")
        .arg(&out)
        .arg("--tasks")
        .arg(dir.join("labelstudio.json"))
        .arg("--config")
        .arg(dir.join("labelstudio_config.xml"))
        .args(["--cdp-port", &cdp_port.to_string()])
        .arg("--screenshot")
        .arg(&screenshot)
        .arg("--result")
        .arg(&result_path)
        .output()
        .unwrap();
    assert!(
        client.status.success(),
        "the round-trip client failed:\n{}\n{}\n--- Label Studio log:\n{}",
        String::from_utf8_lossy(&client.stdout),
        common::stderr(&client),
        tail(&ls.log)
    );
    let client_s = t.elapsed().as_secs_f64();
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&result_path).unwrap()).unwrap();
    drop(browser);
    drop(ls);
    eprintln!("screenshot of the editor: {}", screenshot.display());
    eprintln!(
        "timing: prelabel {prelabel_s:.1} s, Label Studio start {ls_start_s:.1} s, REST {} s, browser {} s (video loaded in {} s), client {client_s:.1} s, whole test {:.1} s",
        r["rest_s"], r["browser_s"], r["browser"]["loaded_s"], started.elapsed().as_secs_f64()
    );

    // 5. What Label Studio holds is what prelabel wrote.
    assert_eq!((r["imported"]["task_count"].as_u64(), r["imported"]["prediction_count"].as_u64()), (Some(1), Some(1)), "{}", r["imported"]);
    assert_eq!(r["config_labels"], serde_json::json!(["car", "person"]), "the config lists only the kept classes");
    let task = &r["tasks"][0];
    assert_eq!(task["data"]["video"], "/data/local-files/?d=out/clip.avi/video.mp4");
    let regions = task["predictions"][0]["result"].as_array().expect("the prediction's regions");
    let mot = read_mot(&dir.join("mot.txt"));
    let mot_ids: BTreeSet<u64> = mot.keys().map(|k| k.1).collect();
    assert!(!mot_ids.is_empty(), "no tracks: nothing to check");
    let (w, h) = (768.0, 576.0);
    let mut ids = BTreeSet::new();
    for region in regions {
        let id: u64 = region["id"].as_str().and_then(|s| s.strip_prefix("track-")).and_then(|s| s.parse().ok()).expect("region id track-N");
        ids.insert(id);
        let label = region["value"]["labels"][0].as_str().unwrap();
        assert!(label == "person" || label == "car", "track {id}: label {label}");
        assert_eq!(region["value"]["framesCount"].as_u64(), Some(FRAMES as u64));
        let seq = region["value"]["sequence"].as_array().unwrap();
        let track_frames: Vec<u64> = mot.keys().filter(|k| k.1 == id).map(|k| k.0).collect();
        assert_eq!(seq[0]["frame"].as_u64(), track_frames.first().copied(), "track {id} starts where mot.txt starts it");
        assert_eq!(seq.last().unwrap()["frame"].as_u64(), track_frames.last().copied(), "track {id} ends where mot.txt ends it");
        assert_eq!(seq.last().unwrap()["enabled"], false, "track {id}: the last box ends the track");
        for s in seq {
            let frame = s["frame"].as_u64().unwrap();
            let m = mot.get(&(frame, id)).unwrap_or_else(|| panic!("track {id} frame {frame} is not in mot.txt"));
            // Label Studio's boxes are clamped to the frame; mot.txt's are not.
            let (x1, y1) = (m[0].clamp(0.0, w), m[1].clamp(0.0, h));
            let (x2, y2) = ((m[0] + m[2]).clamp(0.0, w), (m[1] + m[3]).clamp(0.0, h));
            let want = [x1, y1, x2 - x1, y2 - y1];
            let got = [
                s["x"].as_f64().unwrap() * w / 100.0,
                s["y"].as_f64().unwrap() * h / 100.0,
                s["width"].as_f64().unwrap() * w / 100.0,
                s["height"].as_f64().unwrap() * h / 100.0,
            ];
            for (g, e) in got.iter().zip(want) {
                assert!((g - e).abs() <= TOLERANCE_PX, "track {id} frame {frame}: Label Studio {got:?} vs mot.txt {want:?}");
            }
            assert!((s["time"].as_f64().unwrap() - (frame - 1) as f64 / 10.0).abs() < 1e-6, "track {id} frame {frame}: time {}", s["time"]);
        }
    }
    assert_eq!(ids, mot_ids, "one region per mot.txt track, ids kept");

    // 6. The editor played the video and loaded the regions.
    let b = &r["browser"];
    assert_eq!(b["can_play_h264"], "probably", "this Chromium cannot play H.264");
    let video = &b["before_play"]["video"];
    assert!(video["readyState"].as_u64() >= Some(2) && video["error"].is_null(), "the editor's video did not load: {video}");
    assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(768), Some(576)));
    assert!((video["duration"].as_f64().unwrap() - FRAMES as f64 / 10.0).abs() < 0.15, "duration {}", video["duration"]);
    assert!(video["src"].as_str().unwrap().ends_with("/data/local-files/?d=out/clip.avi/video.mp4"), "{}", video["src"]);
    let (t0, t1) = (video["currentTime"].as_f64().unwrap(), b["while_playing"]["video"]["currentTime"].as_f64().unwrap());
    assert!(t1 > t0 + 0.5, "the video did not play: currentTime {t0} -> {t1}");
    let store: BTreeSet<u64> = b["after"]["store_regions"]
        .as_array()
        .expect("the editor's regions")
        .iter()
        .map(|r| r["id"].as_str().unwrap().split('#').next().unwrap().trim_start_matches("track-").parse().unwrap())
        .collect();
    assert_eq!(store, mot_ids, "the editor holds one region per track");
    let listed = b["after"]["regions"].as_array().unwrap();
    assert!(!listed.is_empty(), "the editor lists no regions: {}", b["page_text"]);
    for item in listed {
        let title = item["title"].as_str().unwrap();
        assert!(title == "person" || title == "car", "listed region {item}");
    }
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "screenshot of {} bytes", png.len());
}
