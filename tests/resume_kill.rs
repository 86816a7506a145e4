//! Crash-proof resume, proven: a job over several short clips is killed with SIGKILL at random
//! moments (at least 20 kills, resuming each time); after every kill each video folder under
//! its final name is whole and byte-identical to an uninterrupted run's, and the finished job
//! is byte-identical with no attempt folders or claims left. Killed while relabelling
//! (`--overwrite`), a job folder reads the same after every kill: each video's old folder or
//! its new one, swapped in one step, never neither. A full disk (a file size limit)
//! stops the job with a clear error and nothing partial under a final name.
//! The seed of the kill times is printed; PRELABEL_KILL_SEED=N replays one.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::jobs::{clips, labels, names, run_args, run_cmd};
use common::stderr;

type Files = BTreeMap<PathBuf, Vec<u8>>;

/// An uninterrupted run of `input` into `out`: its files and how long it took.
fn reference(input: &Path, out: &Path) -> (Files, Duration) {
    let t = Instant::now();
    let o = run_cmd(input, out, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    (labels(out), t.elapsed())
}

/// The video folder (`clips/v0.avi`) a file belongs to.
fn folder(rel: &Path) -> PathBuf {
    rel.iter().take(2).collect()
}

/// Every video folder under a final name in `out` holds exactly the reference's files,
/// byte for byte: none is half written, none has extra files.
fn whole_folders_only(out: &Path, want: &Files, context: &str) {
    let got = labels(out);
    let folders: BTreeSet<PathBuf> = got.keys().map(|p| folder(p)).collect();
    for f in &folders {
        let mine: Vec<&PathBuf> = got.keys().filter(|p| folder(p) == *f).collect();
        let theirs: Vec<&PathBuf> = want.keys().filter(|p| folder(p) == *f).collect();
        assert_eq!(mine, theirs, "{context}: {} is not whole", f.display());
        for p in mine {
            assert!(got[p] == want[p], "{context}: {} differs from the uninterrupted run", p.display());
        }
    }
}

/// Nothing left of attempts and claims; top-level hidden entries are only the job's own
/// folders (and report temp files of killed workers, which a later run removes after a minute).
fn no_debris(out: &Path, context: &str) {
    assert_eq!(names(&out.join(".staging")), Vec::<String>::new(), "{context}: attempt folders left");
    assert_eq!(names(&out.join(".claims")), Vec::<String>::new(), "{context}: claims left");
    for n in names(out).iter().filter(|n| n.starts_with('.')) {
        let ok = n == ".staging" || n == ".claims" || (n.starts_with(".prelabel-") && n.ends_with(".partial"));
        assert!(ok, "{context}: unexpected {n} in the job folder");
    }
}

#[test]
fn sigkill_at_random_moments_then_resume_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = clips(&t.join("clips"), 5);
    let (want, full) = reference(&input, &t.join("reference"));
    let folders: BTreeSet<PathBuf> = want.keys().map(|p| folder(p)).collect();
    assert_eq!(folders.len(), 5, "{folders:?}");
    assert!(want.keys().any(|p| p.ends_with("manifest.json")) && want.keys().any(|p| p.to_string_lossy().contains("/yolo/")));

    let seed = std::env::var("PRELABEL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("kill seed {seed} (PRELABEL_KILL_SEED={seed} replays it); an uninterrupted run takes {full:?}");
    let mut rng = fastrand::Rng::with_seed(seed);
    // Kills after which some but not all videos were in place: mid-job, not during start-up.
    let (mut kills, mut launches, mut rounds, mut mid_job) = (0, 0, 0, 0);
    while kills < 20 {
        // A round: a fresh job killed and resumed until a run finishes on its own.
        rounds += 1;
        let out = t.join(format!("round{rounds}"));
        loop {
            launches += 1;
            assert!(launches < 400, "seed {seed}: the job never finished");
            let mut child = run_cmd(&input, &out, &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
            std::thread::sleep(full.mul_f64(rng.f64() * 1.1));
            let _ = child.kill(); // SIGKILL; a no-op when it has already finished
            let o = child.wait_with_output().unwrap();
            if o.status.signal() == Some(9) {
                kills += 1;
                whole_folders_only(&out, &want, &format!("seed {seed}, after kill {kills}"));
                let present: BTreeSet<PathBuf> = labels(&out).keys().map(|p| folder(p)).collect();
                mid_job += usize::from((1..folders.len()).contains(&present.len()));
                continue;
            }
            assert!(o.status.success(), "seed {seed}: a resumed run failed: {}", stderr(&o));
            break;
        }
        // When a folder is missing, what the finished run said about its video, and what is
        // left of claims, says why.
        let report = std::fs::read_to_string(out.join("report.json")).unwrap_or_default();
        let context = format!("seed {seed}, round {rounds}; claims {:?}; report {report}", names(&out.join(".claims")));
        let got = labels(&out);
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{context}");
        for (p, bytes) in &got {
            assert!(bytes == &want[p], "{context}: {} differs from the uninterrupted run", p.display());
        }
        no_debris(&out, &context);
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["state"], "finished", "{context}");
        assert_eq!(report["assigned"].as_array().unwrap().len(), 5, "{context}");
    }
    eprintln!("{kills} kills ({mid_job} mid-job) in {rounds} rounds, {launches} runs");
    assert!(mid_job > 0, "seed {seed}: no kill landed between two videos' commits");
}

/// Whether the file system under `dir` can swap two folders in one step (what a relabel uses;
/// without it a relabelled folder is briefly absent).
fn can_exchange(dir: &Path) -> bool {
    let (a, b) = (dir.join(".probe-a"), dir.join(".probe-b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let ok = prelabel::batch::staging::exchange(&a, &b).is_ok();
    std::fs::remove_dir(&a).unwrap();
    std::fs::remove_dir(&b).unwrap();
    ok
}

#[test]
fn sigkill_while_relabelling_with_overwrite_never_leaves_a_video_without_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = clips(&t.join("clips"), 5);
    let out = t.join("out");
    let (want, full) = reference(&input, &out);
    let swap = can_exchange(t);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("kill seed {seed}; folders are swapped in one step here: {swap}");
    let mut rng = fastrand::Rng::with_seed(seed);
    // Every relabel replaces a whole folder with identical bytes (the labels are deterministic),
    // so after any kill the job folder must read exactly as before: old folder or new, never
    // none and never a mix.
    // Every run relabels all five clips, so it takes as long as the first: kill 12 of them at
    // random moments, then let one finish.
    let mut kills = 0;
    for _ in 0..12 {
        let mut child = run_cmd(&input, &out, &["--overwrite"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(full.mul_f64(rng.f64()));
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        if o.status.signal() != Some(9) {
            assert!(o.status.success(), "seed {seed}: a run failed: {}", stderr(&o));
            continue;
        }
        kills += 1;
        let context = format!("seed {seed}, after kill {kills}");
        if swap {
            assert!(labels(&out) == want, "{context}: a folder is missing or differs while relabelling");
        } else {
            whole_folders_only(&out, &want, &context);
        }
    }
    eprintln!("{kills} kills while relabelling");
    assert!(kills >= 6, "seed {seed}: only {kills} of 12 runs were killed before they finished");
    let o = run_cmd(&input, &out, &["--overwrite"]).output().unwrap();
    assert!(o.status.success(), "seed {seed}: the last run failed: {}", stderr(&o));
    assert!(labels(&out) == want, "seed {seed}: the relabelled job differs from the first one");
    no_debris(&out, &format!("seed {seed}, relabelled"));
}

#[test]
fn a_full_disk_gives_a_clear_error_and_nothing_partial() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let input = clips(&t.join("clips"), 2);
    let (want, _) = reference(&input, &t.join("reference"));
    // A file size limit (prlimit, from util-linux, counts bytes). SIGXFSZ is ignored so that writes
    // fail with EFBIG as on a full disk, instead of the signal killing the process.
    // The limit sits at twice the finished report (which grows with what it records), so the
    // reports and claims fit and the largest label file must not.
    let report_size = std::fs::metadata(t.join("reference/report.json")).unwrap().len() as usize;
    let limit = (2 * report_size).max(12 << 10);
    let first = want.iter().filter(|(p, _)| p.starts_with("clips/v0.avi")).map(|(_, b)| b.len()).max().unwrap();
    assert!(first > limit, "a label file must outgrow the limit {limit}: {first} bytes (report {report_size})");
    let out = t.join("out");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("trap '' XFSZ && exec prlimit --fsize={limit} \"$@\""))
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_prelabel"))
        .args(run_args(&input, &out, &[]))
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("File too large") && e.contains("the disk is full (or a quota or file size limit was reached)"), "{e}");
    assert!(e.contains("run the same command again"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(labels(&out), Files::new(), "nothing under a final name");
    no_debris(&out, "after the full disk");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["state"], "failed");
    // Both clips are labelled at once (--jobs): whichever hits the limit first fails, and
    // stops the job, so the other is interrupted, or fails too.
    let statuses: Vec<&str> = report["videos"].as_array().unwrap().iter().map(|v| v["status"].as_str().unwrap()).collect();
    assert!(statuses.contains(&"failed") && statuses.iter().all(|s| ["failed", "interrupted"].contains(s)), "{statuses:?}");

    // With room again, the same command finishes the job, byte for byte.
    let o = run_cmd(&input, &out, &[]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(labels(&out) == want, "the resumed job differs from an uninterrupted one");
    no_debris(&out, "after the resumed run");
}
