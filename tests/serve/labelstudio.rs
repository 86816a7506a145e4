//! `prelabel serve` against a real Label Studio 1.23.2 (the venv `scripts/setup-labelstudio.sh`
//! makes): the backend connected to a project over Label Studio's API, tasks imported, their
//! predictions retrieved, and checked region by region against `prelabel run` on the same
//! video with the same options.
//!
//! Videos: a 60-frame H.264 cut of the sample (`.deps/vtest.avi`, so the editor can play it)
//! in Local Files, the same cut uploaded to Label Studio (fetched by the server with the API
//! token, and answered from the first one's result: results are keyed by content), and a
//! file of garbage bytes named `.mp4`. The server runs with `--wait 0`, so the first
//! retrieval answers "pending" and the prediction comes through Label Studio's API when the
//! video is done; after the prediction is deleted, a second retrieval is answered from the
//! server's disk (no second batch). The corrupt video fails its own task only. The project's
//! config lists `person` and a label prelabel does not draw (`traffic sign`), while the server
//! keeps person and car: car tracks are dropped, as the config asks.
//!
//! One Label Studio start (a copy of the migrated template, see `crate::common::labelstudio`), one
//! headless Chromium for the editor; all stopped by their PIDs. Screenshot:
//! `target/tmp/serve_labelstudio/editor.png` (path printed).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::labelstudio::{
    chromium, free_port, http_status, screenshot_path, start_chromium, start_label_studio, tail, Server, EMAIL, PASSWORD, TOKEN,
};
use serde_json::Value;

const FRAMES: u32 = 60;
/// Pixels a box may differ by between the backend's prediction and `prelabel run`'s file.
const TOLERANCE_PX: f64 = 0.02;
const RUN_OPTIONS: [&str; 6] = ["--device", "cpu", "--classes", "person,car", "--stride", "3"];

const CONFIG: &str = r#"<View>
  <Labels name="videoLabels" toName="video" allowEmpty="true">
    <Label value="person"/>
    <Label value="traffic sign"/>
  </Labels>
  <Video name="video" value="$video" framerate="10"/>
  <VideoRectangle name="box" toName="video"/>
</View>
"#;

/// The regions of `labelstudio.json` as `prelabel run` wrote it.
fn run_regions(file: &Path) -> Vec<Value> {
    let tasks: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    tasks[0]["predictions"][0]["result"].as_array().unwrap().clone()
}

/// Checks `got` (a prediction's regions) against `want` (prelabel run's, labels kept).
fn same_regions(got: &[Value], want: &[Value], (w, h): (f64, f64), what: &str) {
    let ids = |r: &[Value]| r.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(got), ids(want), "{what}: the regions are prelabel run's tracks, in order");
    for (g, e) in got.iter().zip(want) {
        let id = e["id"].as_str().unwrap();
        assert_eq!(g["value"]["labels"], e["value"]["labels"], "{what} {id}: label");
        assert_eq!(g["score"], e["score"], "{what} {id}: score");
        assert_eq!(g["meta"], e["meta"], "{what} {id}: the review note");
        assert_eq!(
            (g["from_name"].as_str(), g["to_name"].as_str(), g["type"].as_str()),
            (Some("box"), Some("video"), Some("videorectangle"))
        );
        assert_eq!(g["value"]["framesCount"], e["value"]["framesCount"], "{what} {id}");
        let (gs, es) = (g["value"]["sequence"].as_array().unwrap(), e["value"]["sequence"].as_array().unwrap());
        assert_eq!(gs.len(), es.len(), "{what} {id}: keyframes");
        for (a, b) in gs.iter().zip(es) {
            assert_eq!((a["frame"].as_u64(), &a["enabled"]), (b["frame"].as_u64(), &b["enabled"]), "{what} {id}: frames");
            for (k, scale) in [("x", w), ("y", h), ("width", w), ("height", h)] {
                let d = (a[k].as_f64().unwrap() - b[k].as_f64().unwrap()).abs() * scale / 100.0;
                assert!(d <= TOLERANCE_PX, "{what} {id} frame {}: {k} differs by {d} px", a["frame"]);
            }
        }
    }
}

#[test]
fn label_studio_gets_prelabel_runs_regions_from_the_backend() {
    let started = Instant::now();
    let python = crate::common::from_setup(".deps/venv-labelstudio/bin/python");
    chromium();
    let sample = crate::common::from_setup(".deps/vtest.avi");
    let root = tempfile::tempdir().unwrap();
    let videos = root.path().join("videos");
    std::fs::create_dir(&videos).unwrap();

    // 1. The videos: an H.264 cut the browser plays, and a corrupt one.
    let clip = videos.join("clip.mp4");
    let cut = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&sample)
        .args(["-frames:v", &FRAMES.to_string(), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(cut.success(), "ffmpeg could not cut the sample");
    // The same clip once more, imported as an upload: the server fetches it from Label
    // Studio, finds it by content, and answers it from the clip's result.
    let upload = root.path().join("upload.mp4");
    std::fs::copy(&clip, &upload).unwrap();
    std::fs::write(videos.join("corrupt.mp4"), b"\x00\x00\x00\x18ftypmp42 but nothing after it is a video".repeat(100)).unwrap();

    // 2. What prelabel run writes for the clip with the server's options.
    let out = root.path().join("run");
    let t = Instant::now();
    let run =
        crate::common::prelabel(&[&["run", clip.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"][..], &RUN_OPTIONS[..]].concat());
    assert!(run.status.success(), "prelabel run failed: {}", crate::common::stderr(&run));
    let run_s = t.elapsed().as_secs_f64();
    let all = run_regions(&out.join("clip.mp4/labelstudio.json"));
    let want: Vec<Value> = all.iter().filter(|r| r["value"]["labels"][0] == "person").cloned().collect();
    assert!(!want.is_empty(), "prelabel run found no person in the clip: nothing to compare");

    // 3. The backend, on a free port; the cache in the test's folder.
    let port = free_port();
    let backend = format!("http://127.0.0.1:{port}");
    let cache = root.path().join("cache");
    let t = Instant::now();
    let (ls, base) = {
        // Label Studio first: the backend needs its URL. Label Studio refuses an ML backend,
        // and the webhook it makes for it, on a local or private address unless told
        // (ML_BLOCK_LOCAL_IP, and its SSRF guard's default banned subnets; docs/serve.md).
        start_label_studio(&python, root.path(), root.path(), &[("ML_BLOCK_LOCAL_IP", "false"), ("USE_DEFAULT_BANNED_SUBNETS", "false")])
    };
    let ls_start_s = t.elapsed().as_secs_f64();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prelabel"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--wait", "0"])
        // Label Studio's Local Files document root; its storage is a folder below it.
        .arg("--root")
        .arg(root.path())
        .arg("--cache")
        .arg(&cache)
        // No --label-studio-url or --label-studio-token: the server uses the host name and
        // token Label Studio sends in its setup call (tests/serve/requests.rs covers the flags).
        .arg("--")
        .args(RUN_OPTIONS)
        .args(["--jobs", "2"])
        .env("PRELABEL_LOG", "prelabel=info");
    let mut server = Server::start("prelabel serve", &mut cmd, root.path().join("serve.log"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_status(&format!("{backend}/health")) != Some(200) {
        server.check_alive();
        assert!(Instant::now() < deadline, "prelabel serve not healthy after 60 s:\n{}", tail(&server.log));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (browser, cdp_port) = start_chromium(root.path());

    // 4. The client: project, import, connect, retrieve twice, the editor.
    let screenshot = screenshot_path("serve_labelstudio");
    let config = root.path().join("config.xml");
    std::fs::write(&config, CONFIG).unwrap();
    let result_path = root.path().join("result.json");
    let t = Instant::now();
    let client = Command::new(&python)
        .arg(crate::common::repo().join("scripts/labelstudio_serve.py"))
        .args(["--url", &base, "--token", TOKEN, "--email", EMAIL, "--password", PASSWORD, "--backend", &backend])
        .arg("--storage")
        .arg(&videos)
        .arg("--config")
        .arg(&config)
        .args(["--video", "videos/clip.mp4", "--video", "videos/corrupt.mp4", "--cdp-port", &cdp_port.to_string()])
        .arg("--upload")
        .arg(&upload)
        .arg("--screenshot")
        .arg(&screenshot)
        .arg("--result")
        .arg(&result_path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let client_s = t.elapsed().as_secs_f64();
    assert!(
        client.status.success(),
        "the client failed:\n{}\n{}\n--- Label Studio log:\n{}\n--- prelabel serve log:\n{}",
        String::from_utf8_lossy(&client.stdout),
        crate::common::stderr(&client),
        tail(&ls.log),
        tail(&server.log)
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&result_path).unwrap()).unwrap();
    drop(browser);
    drop(ls);

    // 5. SIGTERM: the server stops cleanly, and says so.
    server.signal_group("-TERM");
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(s)) = server.child.try_wait() {
            break s;
        }
        assert!(Instant::now() < end, "prelabel serve did not stop within 30 s of SIGTERM:\n{}", tail(&server.log));
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&server.log).unwrap();
    drop(server);
    assert!(status.success(), "prelabel serve exited with {status} on SIGTERM:\n{log}");
    assert!(log.contains("SIGTERM: stopping") && log.contains("stopped"), "{log}");
    assert!(log.contains("setup for project") && log.contains("predictions sent to Label Studio"), "{log}");
    eprintln!("screenshot of the editor: {}", screenshot.display());
    eprintln!(
        "timing: prelabel run {run_s:.1} s, Label Studio start {ls_start_s:.1} s, connect {} s, retrieve {} s then posted after {} s, \
         retrieve from disk {} s, browser {} s, client {client_s:.1} s, whole test {:.1} s",
        r["ml_backend"]["connect_s"],
        r["retrieve_1_s"],
        r["posted_wait_s"],
        r["retrieve_2_s"],
        r["browser_s"],
        started.elapsed().as_secs_f64()
    );

    // 6. Connected, with the model and settings fingerprints as the model version.
    assert_eq!(r["ml_backend"]["state"], "CO", "the backend is connected: {}", r["ml_backend"]);
    let mv = r["ml_backend"]["model_version"].as_str().unwrap();
    assert!(mv.starts_with("prelabel-") && mv.contains("model:") && mv.contains("settings:"), "model version {mv}");

    // 7. The prediction sent through the API is prelabel run's, person tracks only.
    let posted = r["posted"].as_array().expect("predictions of the clip's task");
    assert_eq!(posted.len(), 1, "one prediction for the clip: {posted:?}");
    assert_eq!(posted[0]["model_version"], mv);
    let wh = (768.0, 576.0);
    same_regions(posted[0]["result"].as_array().unwrap(), &want, wh, "posted");
    assert!(all.len() > want.len() || all.iter().all(|r| r["value"]["labels"][0] == "person"), "car tracks are dropped");
    assert_eq!(r["others_after_posted"][r["tasks"][1]["id"].to_string()], serde_json::json!([]), "the corrupt video has no prediction");
    let uploaded = r["posted_upload"].as_array().expect("predictions of the uploaded video's task");
    assert_eq!(uploaded.len(), 1, "{uploaded:?}");
    same_regions(uploaded[0]["result"].as_array().unwrap(), &want, wh, "posted, upload");
    let fetched: Vec<_> = std::fs::read_dir(cache.join("uploads")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(fetched.len(), 1, "the upload is fetched once into the cache: {fetched:?}");

    // 8. The second retrieval came from disk: one batch in all, the same regions.
    let disk = r["from_disk"].as_array().unwrap();
    assert_eq!(disk.len(), 1, "{disk:?}");
    same_regions(disk[0]["result"].as_array().unwrap(), &want, wh, "from disk");
    let disk = r["from_disk_upload"].as_array().unwrap();
    assert_eq!(disk.len(), 1, "{disk:?}");
    same_regions(disk[0]["result"].as_array().unwrap(), &want, wh, "from disk, upload");
    for s in ["status_after_posted", "status_after_disk"] {
        assert_eq!(
            (r[s]["batches"].as_u64(), r[s]["done"].as_u64(), r[s]["failed"].as_u64()),
            (Some(1), Some(1), Some(1)),
            "{s}: {}",
            r[s]
        );
    }

    // 9. Asked directly: the clip's regions, and an error of its own for the corrupt video.
    let results = r["direct"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    same_regions(results[0]["result"].as_array().unwrap(), &want, wh, "direct");
    assert!(results[1].get("result").is_none(), "{}", results[1]);
    let error = results[1]["error"].as_str().unwrap();
    assert!(error.contains(&format!("task {}", r["tasks"][1]["id"])), "{error}");

    // 10. The editor loaded the backend's regions.
    let b = &r["browser"];
    let video = &b["before_play"]["video"];
    assert!(video["readyState"].as_u64() >= Some(2) && video["error"].is_null(), "the editor's video did not load: {video}");
    let store: BTreeSet<String> = b["after"]["store_regions"]
        .as_array()
        .expect("the editor's regions")
        .iter()
        .map(|r| r["id"].as_str().unwrap().split('#').next().unwrap().to_string())
        .collect();
    let ids: BTreeSet<String> = want.iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(store, ids, "the editor holds the backend's regions");
    for item in b["after"]["regions"].as_array().unwrap() {
        assert_eq!(item["title"], "person", "listed region {item}");
    }
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "screenshot of {} bytes", png.len());
}
