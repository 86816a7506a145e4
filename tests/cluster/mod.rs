//! What the engine tests (tests/cluster_*.rs) share: a folder of short clips, a stand-in for
//! prelabel that fails a shard on purpose, the check that every video was labelled exactly
//! once, and a guard that stops the daemons a test started, by their PIDs, also on a panic.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::common::{from_setup, stderr};

/// The shards every engine test splits the folder into.
pub const SHARDS: usize = 3;

/// The clips the tests label, relative to the input folder: names repeat across camera
/// folders on purpose (outputs are keyed by path, not by name).
pub const CLIPS: [&str; 6] = ["cam0/a.mp4", "cam0/b.mp4", "cam1/a.mp4", "cam1/b.mp4", "cam2/a.mp4", "cam2/b.mp4"];

/// `prelabel run` options that keep the engine tests quick: the 64x64 generated test model,
/// which finds the same boxes in every frame, on the CPU, only the cheap formats.
pub fn fast_options() -> Vec<String> {
    let model = from_setup(".deps/test-models/end2end.toml");
    ["--model", model.to_str().unwrap(), "--device", "cpu", "--classes", "all", "--formats", "mot,coco", "-q"].map(String::from).to_vec()
}

/// Writes CLIPS under `dir`: 1 s (10 frames) of the sample video each, from different
/// moments, shrunk to 160x120.
pub fn make_clips(dir: &Path) {
    for (i, rel) in CLIPS.iter().enumerate() {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let ok = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-ss", &(3 * i).to_string(), "-i"])
            .arg(from_setup(".deps/vtest.avi"))
            .args(["-frames:v", "10", "-vf", "scale=160:120", "-c:v", "mpeg4", "-f", "mp4"])
            .arg(&path)
            .status()
            .expect("ffmpeg runs (scripts/setup.sh installs it)");
        assert!(ok.success(), "ffmpeg could not cut {rel}");
    }
}

/// A stand-in for the prelabel binary, written to `dir/prelabel-flaky`, that the engines run
/// instead of the real one: it logs the shard index of every `run` (one line per attempt, in
/// `dir/attempts.log`; from `--shard-index`, else SLURM_ARRAY_TASK_ID), makes the first
/// `fail_times` attempts of shard `fail_index` exit 1 before labelling anything, and otherwise
/// execs the real binary. Paths are written into the script: Ray workers do not get the
/// test's environment.
pub fn flaky_prelabel(dir: &Path, fail_index: usize, fail_times: usize) -> PathBuf {
    let script = dir.join("prelabel-flaky");
    let log = dir.join("attempts.log");
    let text = format!(
        r#"#!/bin/bash
set -euo pipefail
idx=${{SLURM_ARRAY_TASK_ID:-}}
args=("$@")
for ((i = 0; i < ${{#args[@]}}; i++)); do
    [[ ${{args[i]}} == --shard-index ]] && idx=${{args[i+1]}}
done
if [[ ${{1:-}} == run ]]; then
    echo "$idx" >>'{log}'
    n=$(grep -cx -- "$idx" '{log}' || true)
    if [[ $idx == {fail_index} ]] && ((n <= {fail_times})); then
        echo "prelabel-flaky: failing shard $idx on purpose (attempt $n)" >&2
        exit 1
    fi
fi
exec '{real}' "$@"
"#,
        log = log.display(),
        real = env!("CARGO_BIN_EXE_prelabel"),
    );
    std::fs::write(&script, text).unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    script
}

/// How many times each shard index was run, from the stand-in's log.
pub fn attempts(dir: &Path) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("attempts.log")).unwrap_or_default().lines() {
        *n.entry(line.to_string()).or_default() += 1;
    }
    n
}

/// `prelabel report OUT --json`: its exit code and summary.
pub fn report(out: &Path) -> (i32, serde_json::Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_prelabel")).arg("report").arg(out).arg("--json").output().expect("prelabel runs");
    let summary = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("prelabel report --json: {e}\n{}", both(&o)));
    (o.status.code().unwrap_or(-1), summary)
}

/// Asserts that `prelabel report` says the job is incomplete, with shard `index` to rerun
/// because it never wrote a report.
pub fn assert_incomplete_without(out: &Path, index: u32) {
    let (code, s) = report(out);
    assert_eq!((code, s["verdict"].as_str()), (3, Some("incomplete")), "{s:#}");
    assert_eq!(s["shards_without_report"], serde_json::json!([index]), "{s:#}");
    assert_eq!(s["rerun_shards"], serde_json::json!([index]), "{s:#}");
}

/// Asserts that `prelabel report` says the job is complete: all of CLIPS labelled, from one
/// report per shard of SHARDS (a shard count taken from the engine's environment would have
/// written report.shard-0-of-1.json), with no claim or staging folder left behind.
pub fn assert_complete(out: &Path) {
    let (code, s) = report(out);
    assert_eq!((code, s["verdict"].as_str()), (0, Some("complete")), "{s:#}");
    let t = &s["totals"];
    assert_eq!((t["videos"].as_u64(), t["ok"].as_u64()), (Some(CLIPS.len() as u64), Some(CLIPS.len() as u64)), "{s:#}");
    let mut reports: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("report"))
        .collect();
    reports.sort();
    let want: Vec<String> = (0..SHARDS).map(|i| format!("report.shard-{i}-of-{SHARDS}.json")).collect();
    assert_eq!(reports, want);
    for hidden in [".claims", ".staging"] {
        let left: Vec<_> = std::fs::read_dir(out.join(hidden)).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        assert!(left.is_empty(), "left behind in {hidden}: {left:?}");
    }
}

/// Each labelled video's folder under `out` (the folders holding a manifest.json, which is
/// written last), relative to `out`, with the modification time of its manifest.
pub fn labelled(out: &Path) -> BTreeMap<String, SystemTime> {
    fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<String, SystemTime>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), found);
            } else if e.file_name() == "manifest.json" {
                let rel = dir.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                found.insert(rel, e.metadata().unwrap().modified().unwrap());
            }
        }
    }
    let mut found = BTreeMap::new();
    if out.is_dir() {
        walk(out, out, &mut found);
    }
    found
}

/// Asserts that every clip of `CLIPS` under the input folder `clips` has exactly one labelled
/// folder in `out`, and nothing else does: `out/<clips folder name>/<clip path>/`, holding a
/// manifest that names that clip and a non-empty mot.txt.
pub fn assert_each_labelled_once(clips: &Path, out: &Path) {
    let top = clips.file_name().unwrap().to_str().unwrap();
    let want: Vec<String> = CLIPS.iter().map(|c| format!("{top}/{c}")).collect();
    let got: Vec<String> = labelled(out).into_keys().collect();
    assert_eq!(got, want, "the labelled folders under {}", out.display());
    for (rel, clip) in want.iter().zip(CLIPS) {
        let manifest = std::fs::read_to_string(out.join(rel).join("manifest.json")).unwrap();
        assert!(manifest.contains(clip), "{rel}/manifest.json does not name {clip}: {manifest}");
        let mot = std::fs::read_to_string(out.join(rel).join("mot.txt")).unwrap();
        assert!(!mot.trim().is_empty(), "{rel}/mot.txt is empty");
    }
}

/// A free TCP port on localhost (free when asked; the daemon binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `ready` every 100 ms until it holds, failing after `limit` with `what`.
pub fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Daemons a test started (in the foreground, so the PID it holds is the daemon's). Dropping
/// the guard, also while a failed test unwinds, stops them in reverse order: SIGTERM to that
/// PID, then SIGKILL if it is still running after its grace time. A daemon started as the
/// leader of its own process group also has the rest of that group killed afterwards (children
/// that outlived it). Nothing is ever stopped by name.
#[derive(Default)]
pub struct Daemons {
    running: Vec<Daemon>,
}

struct Daemon {
    name: String,
    child: Child,
    grace: Duration,
    group: bool,
}

impl Daemons {
    /// Starts `cmd` with its output in `log`; `group`: as the leader of a new process group.
    pub fn start(&mut self, name: &str, mut cmd: Command, log: &Path, grace: Duration, group: bool) {
        let out = std::fs::File::create(log).unwrap();
        cmd.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out);
        if group {
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.running.push(Daemon { name: name.to_string(), child, grace, group });
    }

    /// Fails the test with the daemon's log if it has exited.
    pub fn assert_running(&mut self, name: &str, log: &Path) {
        let d = self.running.iter_mut().find(|d| d.name == name).unwrap();
        if let Some(status) = d.child.try_wait().unwrap() {
            panic!("{name} exited ({status}):\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
    }

    /// Stops every daemon (what Drop does), returning how long it took.
    pub fn stop(&mut self) -> Duration {
        let start = Instant::now();
        while let Some(mut d) = self.running.pop() {
            let pid = d.child.id().to_string();
            if d.child.try_wait().ok().flatten().is_none() {
                let _ = Command::new("kill").args(["-TERM", &pid]).status();
                let deadline = Instant::now() + d.grace;
                while d.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if d.child.try_wait().ok().flatten().is_none() {
                    eprintln!("{} (pid {pid}) still running after SIGTERM: SIGKILL", d.name);
                    let _ = d.child.kill();
                    let _ = d.child.wait();
                }
            }
            if d.group {
                // Stray members of the group the daemon led (its PID is the group's id).
                let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).stderr(Stdio::null()).status();
            }
        }
        start.elapsed()
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `cmd`, returning its output; panics if it cannot start.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// stdout and stderr of `o`, for assertion messages.
pub fn both(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o))
}
