//! Helpers for the tests that run whole jobs many times (resume after kills, shards,
//! overlapping workers): short clips cut from the sample video, a fast model, and the
//! contents of a job's video folders for byte-for-byte comparison.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::from_setup;

/// `count` clips of 20 to 40 frames from different parts of `.deps/vtest.avi`, as
/// `dir/v0.avi`, `dir/v1.avi`...; returns `dir`.
pub fn clips(dir: &Path, count: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        let frames = 20 + (i * 5) % 25;
        let tmp = dir.join(format!(".making{i}.avi"));
        let ok = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-ss", &(i * 4).to_string(), "-i"])
            .arg(from_setup(".deps/vtest.avi"))
            .args(["-frames:v", &frames.to_string(), "-c:v", "mpeg4", "-f", "avi"])
            .arg(&tmp)
            .status()
            .expect("ffmpeg runs (scripts/setup.sh installs it)");
        assert!(ok.success());
        std::fs::rename(&tmp, dir.join(format!("v{i}.avi"))).unwrap();
    }
    dir.to_path_buf()
}

/// The arguments of `prelabel run INPUT --out OUT` with the small generated YOLOv8 test
/// model on one CPU thread, no tiles, every format (the YOLO folder makes dozens of files
/// per video), quiet.
pub fn run_args(input: &Path, out: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["run".into(), input.into(), "--out".into(), out.into()];
    a.extend(["--device", "cpu", "--tiles", "off", "--threads", "1", "-q", "--model"].map(OsString::from));
    a.push(from_setup(".deps/test-models/yolov8.toml").into());
    a.extend(extra.iter().map(OsString::from));
    a
}

/// `prelabel` with [`run_args`].
pub fn run_cmd(input: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_prelabel"));
    c.args(run_args(input, out, extra));
    c
}

/// Every file under the video folders of job folder `out` (left out: the reports and the
/// hidden `.claims` and `.staging` folders), relative to `out`, with its bytes.
pub fn labels(out: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    // A job killed before it made its folder has none.
    let mut todo: Vec<PathBuf> = out.exists().then(|| out.to_path_buf()).into_iter().collect();
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(out).unwrap().to_path_buf();
            let name = rel.to_string_lossy().into_owned();
            if d == out && (name.starts_with('.') || name.starts_with("report")) {
                continue;
            }
            if p.is_dir() {
                todo.push(p);
            } else {
                found.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    found
}

/// Names in `dir`, sorted (empty when it does not exist).
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(r) => r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}
