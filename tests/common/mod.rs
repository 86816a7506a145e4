//! Helpers shared by the end-to-end tests: where set-up put things, and the shared data.
#![allow(dead_code)]

pub mod jobs;
pub mod labelstudio;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Something `scripts/setup.sh --tests` makes; its absence fails the test with the fix.
pub fn from_setup(rel: &str) -> PathBuf {
    let p = repo().join(rel);
    assert!(p.exists(), "{} is missing: run scripts/setup.sh --tests (or scripts/test.sh)", p.display());
    p
}

/// `../shared/data/mot15/<seq>`, or None (said loudly) when the shared data is absent.
pub fn mot15(seq: &str) -> Option<PathBuf> {
    sequence("mot15", seq)
}

/// Makes `variant` (far, sub4, ...) of MOT15 sequence `seq` under `tmp` with
/// scripts/make_variants.py; returns its folder (`<seq>-<variant>.mp4` + gt/gt.txt), or None
/// when the shared data is absent.
pub fn mot15_variant(seq: &str, variant: &str, tmp: &Path) -> Option<PathBuf> {
    let dir = mot15(seq)?;
    let shared = dir.parent()?.parent()?.parent()?;
    let ok = Command::new("python3")
        .arg(repo().join("scripts/make_variants.py"))
        .arg(tmp)
        .args(["--shared", shared.to_str().unwrap(), "--seq", seq, "--only", variant])
        .status()
        .expect("python3 runs");
    assert!(ok.success(), "make_variants.py failed");
    Some(tmp.join(format!("{seq}-{variant}")))
}

/// `../shared/data/<benchmark>/<seq>` (mot15, mot16, mot20), or None (said loudly, and
/// recorded as skipped) when the shared data is absent.
pub fn sequence(benchmark: &str, seq: &str) -> Option<PathBuf> {
    let root =
        std::env::var_os("PRELABEL_SHARED").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared")).join("data").join(benchmark);
    let dir = root.join(seq);
    if dir.join(format!("{seq}.mp4")).is_file() {
        Some(dir)
    } else {
        eprintln!("\n*** SKIPPED: MOTChallenge data not found at {} (set PRELABEL_SHARED) ***\n", dir.display());
        skipped(&format!("no MOTChallenge data at {} (set PRELABEL_SHARED, or put it in ../shared)", root.display()));
        None
    }
}

/// Records that the running test did not run for `reason`, where the person running the suite
/// sees it: cargo captures a passing test's stderr, and the test still reports "ok". Appends
/// `<test file>::<test name>\t<reason>` to the file `$PRELABEL_SKIPPED_FILE` names (set by
/// `scripts/test.sh`, which prints the list after the run); without it, only stderr.
pub fn skipped(reason: &str) {
    let Some(file) = std::env::var_os("PRELABEL_SKIPPED_FILE") else { return };
    let thread = std::thread::current();
    let test = thread.name().filter(|n| *n != "main").unwrap_or("?");
    let line = format!("{}::{test}\t{reason}\n", env!("CARGO_CRATE_NAME"));
    // One short append per call: lines from parallel tests do not interleave.
    let appended = std::fs::OpenOptions::new().create(true).append(true).open(&file).and_then(|mut f| {
        use std::io::Write;
        f.write_all(line.as_bytes())
    });
    if let Err(e) = appended {
        eprintln!("cannot record the skipped test in {}: {e}", Path::new(&file).display());
    }
}

/// Runs the `prelabel` binary built for this test run.
pub fn prelabel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prelabel")).args(args).output().expect("prelabel binary runs")
}

/// Labels the people in `video` on the CPU into `out` (`run VIDEO --out OUT --classes person
/// --device cpu -q` plus `extra`), asserts the run succeeded, and returns the video's output
/// folder.
#[allow(dead_code)] // not every test file labels sequences
pub fn label_people(video: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let (v, o) = (video.to_str().unwrap(), out.to_str().unwrap());
    let args = [&["run", v, "--out", o, "--classes", "person", "--device", "cpu", "-q"][..], extra].concat();
    let run = prelabel(&args);
    assert!(run.status.success(), "prelabel {}: {}", args.join(" "), stderr(&run));
    out.join(video.file_name().unwrap())
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
