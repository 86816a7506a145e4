//! Bad input through the real binary: each case must end in one clear line and a non-zero
//! exit, never a panic, and never leave a partial file under a final name.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{from_setup, prelabel, stderr};
use serde_json::Value;

/// A short real video made with the ffmpeg CLI (installed by set-up).
fn small_video(dir: &Path, name: &str, frames: u32) -> PathBuf {
    let p = dir.join(name);
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10"])
        .args(["-frames:v", &frames.to_string(), "-c:v", "mpeg4"])
        .arg(&p)
        .status()
        .expect("ffmpeg runs (scripts/setup.sh installs it)");
    assert!(ok.success());
    p
}

fn report(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

fn no_panic(o: &std::process::Output) {
    let e = stderr(o);
    assert!(!e.contains("panicked"), "panic: {e}");
}

/// No label file exists under its final name, and no temp files are left behind.
fn no_outputs(dir: &Path) {
    for f in ["coco.json", "cvat.xml", "mot.txt"] {
        assert!(!dir.join(f).exists(), "{} exists", dir.join(f).display());
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".partial"), "leftover temp file {name}");
        }
    }
}

#[test]
fn missing_empty_and_non_video_files_fail_alone_while_good_videos_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let good = small_video(tmp.path(), "good.mp4", 6);
    let empty = tmp.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let text = tmp.path().join("notes.mp4");
    std::fs::write(&text, "this is not a video\n".repeat(100)).unwrap();
    let missing = tmp.path().join("missing.mp4");
    let out = tmp.path().join("out");

    let o = prelabel(&[
        "run",
        missing.to_str().unwrap(),
        empty.to_str().unwrap(),
        text.to_str().unwrap(),
        good.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(2), "some inputs failed: exit 2\n{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("missing.mp4: cannot read"), "{err}");
    assert!(err.contains("empty.mp4: file is empty"), "{err}");
    assert!(err.contains("notes.mp4: not a video file"), "{err}");

    let r = report(&out);
    let status: Vec<&str> = r["videos"].as_array().unwrap().iter().map(|v| v["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["failed", "failed", "failed", "ok"]);
    assert_eq!(r["state"], "finished");
    assert_eq!(r["videos"][3]["frames"], 6);
    // No --classes: people and road vehicles, recorded by name.
    assert_eq!(r["settings"]["classes"], serde_json::json!(["person", "bicycle", "car", "motorcycle", "bus", "truck"]));
    for f in ["coco.json", "cvat.xml", "mot.txt"] {
        assert!(out.join("good.mp4").join(f).is_file());
    }
    for bad in ["missing.mp4", "empty.mp4", "notes.mp4"] {
        no_outputs(&out.join(bad));
    }

    // A second run resumes: finished videos are skipped, not redone.
    let again = prelabel(&["run", good.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(report(&out)["videos"][0]["status"], "skipped");

    // --classes all keeps every class of the model.
    let all = prelabel(&["run", good.to_str().unwrap(), "--out", out.to_str().unwrap(), "--classes", "all", "--overwrite"]);
    assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
    assert_eq!(report(&out)["settings"]["classes"], serde_json::json!(["all"]));
}

#[test]
fn truncated_video_is_labelled_as_far_as_it_goes_and_reported_partial() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = std::fs::read(from_setup(".deps/vtest.avi")).unwrap();
    let cut = tmp.path().join("cut.avi");
    std::fs::write(&cut, &sample[..sample.len() / 10]).unwrap();
    let out = tmp.path().join("out");
    let o = prelabel(&["run", cut.to_str().unwrap(), "--out", out.to_str().unwrap(), "--formats", "mot"]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
    let v = &report(&out)["videos"][0];
    assert_eq!(v["status"], "partial");
    let frames = v["frames"].as_u64().unwrap();
    assert!(frames > 10 && frames < 795, "{frames} frames");
    assert_eq!(v["frames_expected"], 795);
}

#[test]
fn missing_or_wrong_model_is_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let video = small_video(tmp.path(), "v.mp4", 2);
    let out = tmp.path().join("out");
    let run =
        |model: &Path| prelabel(&["run", video.to_str().unwrap(), "--out", out.to_str().unwrap(), "--model", model.to_str().unwrap()]);

    let o = run(&tmp.path().join("nope.toml"));
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read model description"), "{}", stderr(&o));

    // A description whose .onnx is missing, then one whose .onnx is not a model at all.
    let desc = std::fs::read_to_string(common::repo().join("models/ssd_mobilenet_v2_coco.toml")).unwrap();
    let toml = tmp.path().join("m.toml");
    std::fs::write(&toml, desc.replace("ssd_mobilenet_v2_coco.onnx", "garbage.onnx")).unwrap();
    let o = run(&toml);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("garbage.onnx not found"), "{}", stderr(&o));

    std::fs::write(tmp.path().join("garbage.onnx"), b"not a protobuf at all").unwrap();
    let o = run(&toml);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("cannot load") && e.contains("garbage.onnx"), "{e}");
    assert_eq!(e.lines().filter(|l| l.starts_with("prelabel: error")).count(), 1, "{e}");
}

#[test]
fn missing_broken_or_too_old_onnx_runtime_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let video = small_video(tmp.path(), "v.mp4", 2);
    let out = tmp.path().join("out");
    let run_with = |lib: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_prelabel"))
            .args(["run", video.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .env("ORT_DYLIB_PATH", lib)
            .output()
            .unwrap();
        no_panic(&o);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        stderr(&o)
    };
    let e = run_with(&tmp.path().join("libonnxruntime.so"));
    assert!(e.contains("ORT_DYLIB_PATH") && e.contains("does not exist"), "{e}");

    let fake = tmp.path().join("fake.so");
    std::fs::write(&fake, b"not a library").unwrap();
    let e = run_with(&fake);
    assert!(e.contains("failed to load"), "{e}");

    let old = from_setup(".deps/onnxruntime-old/libonnxruntime.so");
    let e = run_with(&old);
    assert!(e.contains("version 1.30.0") && e.contains("needs 1.31 or newer"), "{e}");
}

#[test]
fn unwritable_output_folder_fails_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let video = small_video(tmp.path(), "v.mp4", 2);
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let o = prelabel(&["run", video.to_str().unwrap(), "--out", file.join("sub").to_str().unwrap()]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot create output folder"), "{}", stderr(&o));
}

#[test]
fn bad_tracking_refine_and_class_settings_are_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let video = small_video(tmp.path(), "v.mp4", 2);
    let out = tmp.path().join("out");
    let run = |extra: &[&str]| prelabel(&[&["run", video.to_str().unwrap(), "--out", out.to_str().unwrap()][..], extra].concat());
    for (extra, want) in [
        (&["--refine", "stich"][..], "unknown step 'stich'"),
        (&["--refine", "none,stitch"][..], "--refine none cannot be combined"),
        (&["--min-track-score", "1.5"][..], "--min-track-score"),
        (&["--bridge-gap=-1"][..], "--bridge-gap"),
        (&["--track-low", "0.7"][..], "--track-low"),
        (&["--classes", "unicorn"][..], "unicorn"),
    ] {
        let o = run(extra);
        no_panic(&o);
        assert!(!o.status.success(), "{extra:?} was accepted");
        assert!(stderr(&o).contains(want), "{extra:?}: {}", stderr(&o));
        no_outputs(&out.join("v.mp4"));
    }
}

#[test]
fn interrupted_run_leaves_no_partial_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let sample = from_setup(".deps/vtest.avi");
    let mut child = Command::new(env!("CARGO_BIN_EXE_prelabel"))
        .args(["run", sample.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"])
        .spawn()
        .unwrap();
    // Wait until the video is under way (its attempt folder is in .staging/: the final folder
    // only appears when it is done), then send SIGTERM (what a batch scheduler sends).
    let started = std::time::Instant::now();
    let under_way = || std::fs::read_dir(out.join(".staging")).is_ok_and(|mut d| d.next().is_some());
    while !under_way() && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    no_outputs(&out.join("vtest.avi"));
    let r = report(&out);
    assert_eq!(r["state"], "interrupted");
    assert_eq!(r["videos"][0]["status"], "interrupted");
}

/// A successful run says nothing that reads as an error: GPU probing on a machine without a
/// GPU (or without a desktop session) is silent, and `-q` leaves stderr empty. Run without
/// `XDG_RUNTIME_DIR`, as on a server, where Mesa's Vulkan layer used to print
/// `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` twice.
#[test]
fn successful_run_prints_no_error_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let video = small_video(tmp.path(), "clip.avi", 4);
    for quiet in [false, true] {
        let out = tmp.path().join(format!("out-{quiet}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_prelabel"));
        cmd.args(["run", video.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", "auto"]);
        if quiet {
            cmd.arg("-q");
        }
        let run = cmd.env_remove("XDG_RUNTIME_DIR").env_remove("PRELABEL_LOG").output().unwrap();
        let err = stderr(&run);
        assert!(run.status.success(), "{err}");
        for line in err.lines() {
            let l = line.trim_start().to_lowercase();
            assert!(!l.starts_with("error") && !line.contains("ERROR"), "a successful run printed {line:?}:\n{err}");
        }
        if quiet {
            assert_eq!(err, "", "-q prints nothing on stderr for a successful run");
        }
    }
}
