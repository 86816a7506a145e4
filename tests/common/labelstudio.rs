//! Label Studio and headless Chromium for the tests that need a real one
//! (`labelstudio_roundtrip.rs`, `serve/labelstudio.rs`): started on free localhost ports from
//! the venv and package `scripts/setup-labelstudio.sh` installs, each in its own process
//! group, stopped by the PID the test started (in `Drop`, so also when an assertion fails).
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const LS_VERSION: &str = "1.23.2";
pub const EMAIL: &str = "roundtrip@prelabel.test";
pub const PASSWORD: &str = "prelabel-roundtrip";
pub const TOKEN: &str = "prelabel-roundtrip-token-0123456789";

/// A process the test started, in its own process group; dropped, the group is stopped
/// (TERM, then KILL after 10 s) by that PID.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Server {
    pub fn start(name: &'static str, cmd: &mut Command, log: PathBuf) -> Server {
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
    pub fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}) while the test waited for it:\n{}", self.name, tail(&self.log));
        }
    }

    pub fn signal_group(&self, signal: &str) {
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

pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET `url`; the status code, or None when nothing answers.
pub fn http_status(url: &str) -> Option<u16> {
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

pub fn label_studio_env(cmd: &mut Command, data: &Path, root: &Path) {
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
pub fn data_dir_template(python: &Path) -> PathBuf {
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
    assert!(out.status.success(), "label-studio init failed:\n{}", super::stderr(&out));
    eprintln!("Label Studio database migrated once in {:.0} s", t.elapsed().as_secs_f64());
    std::fs::write(data.join(".complete"), LS_VERSION).unwrap();
    // Whole or not at all; a test running at the same time may have put its own there first.
    if std::fs::rename(&data, &template).is_err() {
        assert!(template.join(".complete").exists(), "cannot keep the template at {}", template.display());
    }
    template
}

pub fn copy_dir(from: &Path, to: &Path) {
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

/// Label Studio on a free port, SQLite in a copy of the migrated template under `dir`, Local
/// Files rooted at `files_root`, `env` added (e.g. `ML_BLOCK_LOCAL_IP=false` for a localhost
/// ML backend); returns once `/health` answers, with its base URL.
pub fn start_label_studio(python: &Path, dir: &Path, files_root: &Path, env: &[(&str, &str)]) -> (Server, String) {
    let template = data_dir_template(python);
    let data = dir.join("ls-data");
    copy_dir(&template, &data);
    let port = free_port();
    let mut cmd = Command::new(python);
    cmd.args(["-m", "label_studio.server", "start", "--no-browser", "--internal-host", "127.0.0.1"]).args([
        "--port",
        &port.to_string(),
        "--enable-legacy-api-token",
        "--log-level",
        "WARNING",
    ]);
    label_studio_env(&mut cmd, &data, files_root);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut ls = Server::start("Label Studio", &mut cmd, dir.join("label-studio.log"));
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(300);
    while http_status(&format!("{base}/health")) != Some(200) {
        ls.check_alive();
        assert!(Instant::now() < deadline, "Label Studio not healthy after 300 s:\n{}", tail(&ls.log));
        std::thread::sleep(Duration::from_millis(500));
    }
    (ls, base)
}

/// Debian's chromium (or chromium-browser); fails the test with the fix when absent.
pub fn chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success()))
        .expect("no chromium: run scripts/setup.sh --tests")
}

/// Headless Chromium with remote debugging on a port it picks and writes down (profile in
/// `dir`); returns it and that port.
pub fn start_chromium(dir: &Path) -> (Server, u16) {
    let profile = dir.join("chromium");
    let mut cmd = Command::new(chromium());
    cmd.args(["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
        .args(["--no-default-browser-check", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"])
        .args(["--autoplay-policy=no-user-gesture-required", "--window-size=1440,900", "--mute-audio"])
        // Nothing but the pages the test opens: no updates, sync, metrics or safe-browsing lists.
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-pings"])
        .args(["--disable-domain-reliability", "--disable-client-side-phishing-detection", "--metrics-recording-only"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank");
    let mut browser = Server::start("Chromium", &mut cmd, dir.join("chromium.log"));
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
    (browser, cdp_port)
}

/// Where a test's editor screenshot goes: TARGET_TMPDIR/<test>/editor.png, kept after the run
/// (its path is printed) and removed before, so a stale picture never passes for a new one.
pub fn screenshot_path(test: &str) -> PathBuf {
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    std::fs::create_dir_all(&shots).unwrap();
    let screenshot = shots.join("editor.png");
    let _ = std::fs::remove_file(&screenshot);
    screenshot
}
