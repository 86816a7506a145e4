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
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const LS_VERSION: &str = "1.23.2";
const EMAIL: &str = "roundtrip@prelabel.test";
const PASSWORD: &str = "prelabel-roundtrip";
const TOKEN: &str = "prelabel-roundtrip-token-0123456789";
const FRAMES: u32 = 60;
/// Pixels a box may differ by between Label Studio's copy and mot.txt: the percentages are
/// written with 4 decimals (0.0008 px at 768 wide), mot.txt with 2.
const TOLERANCE_PX: f64 = 0.02;

/// A process the test started, in its own process group; dropped, the group is stopped
/// (TERM, then KILL after 10 s) by that PID.
struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(name: &'static str, cmd: &mut Command, log: PathBuf) -> Server {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        eprintln!("started {name}, pid {}", child.id());
        Server { name, child, log }
    }

    /// Fails the test, with the end of the server's log, when it has exited.
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}) while the test waited for it:\n{}", self.name, tail(&self.log));
        }
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill").args([signal, "--", &format!("-{}", self.child.id())]).stderr(Stdio::null()).status();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal_group("-TERM");
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The group may outlive its leader (Chromium's helpers): make sure.
                self.signal_group("-KILL");
                eprintln!("stopped {} (pid {})", self.name, self.child.id());
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.signal_group("-KILL");
        let _ = self.child.wait();
        eprintln!("killed {} (pid {})", self.name, self.child.id());
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET `url`; the status code, or None when nothing answers.
fn http_status(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    use std::io::Write;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn label_studio_env(cmd: &mut Command, data: &Path, root: &Path) {
    cmd.env("LABEL_STUDIO_BASE_DATA_DIR", data)
        .env("LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED", "true")
        .env("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", root)
        // A test talks to localhost only: no usage reports, error reports or version check.
        .env("COLLECT_ANALYTICS", "false")
        .env("LATEST_VERSION_CHECK", "false")
        .env("SENTRY_DSN", "")
        .env("FRONTEND_SENTRY_DSN", "");
}

/// A data dir with a migrated database, the test user and its fixed token: made once (the
/// slow part of a first start) and copied for each run.
fn data_dir_template(python: &Path) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let template = tmp.join(format!("labelstudio-template-{LS_VERSION}"));
    if template.join(".complete").exists() {
        return template;
    }
    let work = tempfile::tempdir_in(tmp).unwrap();
    let data = work.path().join("data");
    let t = Instant::now();
    let mut cmd = Command::new(python);
    cmd.args(["-m", "label_studio.server", "init", "--quiet", "--username", EMAIL, "--password", PASSWORD]).args([
        "--user-token",
        TOKEN,
        "--enable-legacy-api-token",
    ]);
    label_studio_env(&mut cmd, &data, work.path());
    let out = cmd.output().expect("label-studio init runs");
    assert!(out.status.success(), "label-studio init failed:\n{}", common::stderr(&out));
    eprintln!("Label Studio database migrated once in {:.0} s", t.elapsed().as_secs_f64());
    std::fs::write(data.join(".complete"), LS_VERSION).unwrap();
    // Whole or not at all; a test running at the same time may have put its own there first.
    if std::fs::rename(&data, &template).is_err() {
        assert!(template.join(".complete").exists(), "cannot keep the template at {}", template.display());
    }
    template
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

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
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()))
        .expect("no chromium: run scripts/setup.sh --tests");
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
    let template = data_dir_template(&python);
    let data = root.path().join("ls-data");
    copy_dir(&template, &data);
    let port = free_port();
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "label_studio.server", "start", "--no-browser", "--internal-host", "127.0.0.1"]).args([
        "--port",
        &port.to_string(),
        "--enable-legacy-api-token",
        "--log-level",
        "WARNING",
    ]);
    label_studio_env(&mut cmd, &data, root.path());
    let mut ls = Server::start("Label Studio", &mut cmd, root.path().join("label-studio.log"));
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(300);
    while http_status(&format!("{base}/health")) != Some(200) {
        ls.check_alive();
        assert!(Instant::now() < deadline, "Label Studio not healthy after 300 s:\n{}", tail(&ls.log));
        std::thread::sleep(Duration::from_millis(500));
    }
    let ls_start_s = t.elapsed().as_secs_f64();

    // 3. Headless Chromium, remote debugging on a port it picks and writes down.
    let profile = root.path().join("chromium");
    let mut cmd = Command::new(chromium);
    cmd.args(["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
        .args(["--no-default-browser-check", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"])
        .args(["--autoplay-policy=no-user-gesture-required", "--window-size=1440,900", "--mute-audio"])
        // Nothing but the pages the test opens: no updates, sync, metrics or safe-browsing lists.
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-pings"])
        .args(["--disable-domain-reliability", "--disable-client-side-phishing-detection", "--metrics-recording-only"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank");
    let mut browser = Server::start("Chromium", &mut cmd, root.path().join("chromium.log"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let cdp_port = loop {
        if let Some(p) =
            std::fs::read_to_string(profile.join("DevToolsActivePort")).ok().and_then(|t| t.lines().next()?.parse::<u16>().ok())
        {
            break p;
        }
        browser.check_alive();
        assert!(Instant::now() < deadline, "Chromium gave no debugging port in 60 s:\n{}", tail(&browser.log));
        std::thread::sleep(Duration::from_millis(200));
    };

    // 4. The client: REST import and read-back, then the editor in the browser.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("labelstudio_roundtrip");
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("editor.png");
    let _ = std::fs::remove_file(&screenshot);
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
