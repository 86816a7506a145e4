//! Peak memory against video length: the same clip (TUD-Campus from the shared MOTChallenge
//! data) once and looped N times (`ffmpeg -stream_loop`, stream copy), labelled by the
//! `prelabel` binary with `--stride 10 --tiles off`, with and without tracking, 3 runs each.
//! Peak RSS comes from the kernel (`wait4`'s `ru_maxrss`). Prints the median of each and the
//! ratio looped/once per mode; the target is within 1.2x (memory flat in video length).
//!
//!   cargo bench --bench memory
//!   PRELABEL_BENCH_LOOPS=240 cargo bench --bench memory      (the 240x: ~25 min on 2 cores)
//!   PRELABEL_BENCH_BIN=/path/to/old/prelabel cargo bench --bench memory   (another build)
//!
//! The default is 80 loops (5,680 frames, 568 detector frames): on 2 shared cores 240 loops
//! take 2-4 min a run, 12 runs in all. Writes target/bench-memory.json.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const RUNS: usize = 3;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd` to the end and returns its peak resident set in KiB. The child is reaped by
/// `wait4` (which also gives its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn peak_rss_kib(cmd: &mut Command) -> u64 {
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("prelabel starts");
    let mut status = 0;
    // SAFETY: plain syscall on our own child; rusage is written by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "prelabel failed (status {status})");
    usage.ru_maxrss as u64
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let shared = std::env::var_os("PRELABEL_SHARED").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared"));
    let clip = shared.join("data/mot15/TUD-Campus/TUD-Campus.mp4");
    if !clip.is_file() {
        eprintln!("bench: SKIPPED: {} is missing (set PRELABEL_SHARED)", clip.display());
        return;
    }
    let loops: u32 = std::env::var("PRELABEL_BENCH_LOOPS").ok().and_then(|v| v.parse().ok()).unwrap_or(80).max(2);
    let bin = std::env::var_os("PRELABEL_BENCH_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_prelabel")));
    let tmp = tempfile::tempdir().expect("temp dir");
    let looped = tmp.path().join(format!("campus_x{loops}.mp4"));
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-stream_loop", &(loops - 1).to_string(), "-i"])
        .arg(&clip)
        .args(["-c", "copy"])
        .arg(&looped)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success(), "ffmpeg could not loop {}", clip.display());
    println!("bench: {} 1x and {loops}x, --stride 10 --tiles off, {RUNS} runs each, binary {}", clip.display(), bin.display());

    let mut rows = Vec::new();
    for (mode, extra) in [("tracking", None), ("--no-track", Some("--no-track"))] {
        let mut medians = Vec::new();
        for video in [clip.as_path(), looped.as_path()] {
            let runs: Vec<u64> = (0..RUNS)
                .map(|_| {
                    let out = tempfile::tempdir_in(tmp.path()).expect("temp dir");
                    let mut cmd = Command::new(&bin);
                    cmd.args(["run", "-q", "--stride", "10", "--tiles", "off"]).args(extra).arg(video).arg("--out").arg(out.path());
                    peak_rss_kib(&mut cmd)
                })
                .collect();
            println!(
                "  {mode:<11} {:>4}x  peak RSS {:?} MiB",
                if video == clip { 1 } else { loops },
                runs.iter().map(|k| k / 1024).collect::<Vec<_>>()
            );
            medians.push(median(runs));
        }
        let ratio = medians[1] as f64 / medians[0] as f64;
        println!(
            "{mode:<11} median peak RSS 1x {} MiB, {loops}x {} MiB: ratio {ratio:.2} (target <= 1.2) {}",
            medians[0] / 1024,
            medians[1] / 1024,
            if ratio <= 1.2 { "ok" } else { "MISSED" }
        );
        rows.push(
            serde_json::json!({"mode": mode, "loops": loops, "rss_1x_kib": medians[0], "rss_looped_kib": medians[1], "ratio": ratio}),
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target"));
    let _ = std::fs::write(target.join("bench-memory.json"), serde_json::to_string_pretty(&rows).unwrap_or_default());
}
