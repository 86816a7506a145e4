//! `prelabel bundle` end to end: a bundle built with the CPU ONNX Runtime is moved elsewhere
//! and run with a clean environment, its pieces are reassembled, and bad requests end in one
//! clear line without leaving half a bundle behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{from_setup, stderr};
use prelabel::bundle::libs::{is_base_system, parse_ldd};
use serde_json::Value;

/// The real binary, with the variables that would change which model or library it picks removed.
fn bundle_cmd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prelabel"))
        .arg("bundle")
        .args(args)
        .env_remove("ORT_DYLIB_PATH")
        .env_remove("PRELABEL_MODEL")
        .output()
        .expect("prelabel runs")
}

/// A command with nothing from this environment but PATH and HOME: what a bare node has.
fn clean(program: &Path) -> Command {
    let mut c = Command::new(program);
    c.env_clear().env("PATH", "/usr/bin:/bin").env("HOME", std::env::var_os("HOME").unwrap_or_default());
    c
}

/// 30 frames of the sample video, H.264, made with the ffmpeg CLI (installed by set-up).
fn clip(dir: &Path) -> PathBuf {
    let p = dir.join("clip.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(from_setup(".deps/vtest.avi"))
        .args(["-frames:v", "30", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&p)
        .status()
        .expect("ffmpeg runs (scripts/setup.sh installs it)");
    assert!(ok.success());
    p
}

fn one_line_error(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.contains(needle), "expected '{needle}' in: {e}");
}

/// Nothing but the expected entries in `dir`: no temporary bundle left behind.
fn only(dir: &Path, expected: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, expected);
}

#[test]
fn moved_bundle_runs_with_a_clean_environment_and_pieces_reassemble() {
    let tmp = tempfile::tempdir().unwrap();
    let built = tmp.path().join("built");
    std::fs::create_dir(&built).unwrap();
    let cpu_ort = from_setup(".deps/ort-active/libonnxruntime.so");
    let o = bundle_cmd(&[built.join("pl").to_str().unwrap(), "--pieces", "--ort-lib", cpu_ort.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    only(&built, &["pl", "pl.parts"]);

    // Move both somewhere else: nothing may point back at where they were built.
    let node = tmp.path().join("node");
    std::fs::create_dir(&node).unwrap();
    let dir = node.join("prelabel-moved");
    std::fs::rename(built.join("pl"), &dir).unwrap();
    let parts = node.join("parts");
    std::fs::rename(built.join("pl.parts"), &parts).unwrap();

    for f in ["prelabel", "bin/prelabel", "README.txt", "SHA256SUMS", "models/nanodet_g_coco.toml", "models/nanodet_g_coco.onnx"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains("  bin/prelabel\n")
            && sums.contains("  lib/libavcodec.so.59\n")
            && sums.contains("  lib/libonnxruntime_providers_shared.so\n"),
        "{sums}"
    );
    let check = Command::new("sha256sum").args(["--quiet", "-c", "SHA256SUMS"]).current_dir(&dir).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));

    // Every library the binary and ONNX Runtime load resolves inside the bundle, or is base system.
    let lib = dir.join("lib");
    let ort =
        std::fs::read_dir(&lib).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().contains("libonnxruntime.so.")).unwrap();
    for elf in [dir.join("bin/prelabel"), ort] {
        let out = clean(Path::new("ldd")).arg(&elf).env("LD_LIBRARY_PATH", &lib).output().unwrap();
        for dep in parse_ldd(&String::from_utf8_lossy(&out.stdout)) {
            let inside = dep.path.as_deref().is_some_and(|p| p.starts_with(&lib));
            assert!(inside || is_base_system(&dep.soname), "{} loads {} from {:?}", elf.display(), dep.soname, dep.path);
        }
    }

    let video = clip(tmp.path());
    let out = tmp.path().join("labels");
    let run = clean(&dir.join("prelabel")).arg("run").arg(&video).arg("--out").arg(&out).arg("-q").output().unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    for f in ["coco.json", "cvat.xml", "mot.txt"] {
        assert!(out.join("clip.mp4").join(f).is_file(), "{f} missing");
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["execution_provider"], "CPUExecutionProvider");
    assert_eq!(report["fallback_reason"], "ONNX Runtime build has no CUDA provider");
    assert_eq!(report["totals"]["frames"], 30);
    assert!(report["totals"]["detections"].as_u64().unwrap() > 0);
    let from_bundle = |v: &Value| Path::new(v.as_str().unwrap()).starts_with(&dir);
    assert!(from_bundle(&report["runtime"]["library"]), "{}", report["runtime"]);
    assert!(from_bundle(&report["model"]["description"]), "{}", report["model"]);

    // The pieces: none over 60 MB, and they rebuild the same bundle.
    let mut pieces = 0;
    for e in std::fs::read_dir(&parts).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("bundle.tar.") {
            pieces += 1;
            assert!(e.metadata().unwrap().len() <= 60_000_000, "{:?} is over 60 MB", e.file_name());
        }
    }
    assert!(pieces >= 2, "{pieces} pieces");
    let dest = tmp.path().join("rebuilt");
    let asm = clean(Path::new("bash")).arg(parts.join("assemble.sh")).arg(&dest).output().unwrap();
    assert!(asm.status.success(), "{}{}", String::from_utf8_lossy(&asm.stdout), stderr(&asm));
    assert_eq!(std::fs::read_to_string(dest.join("pl/SHA256SUMS")).unwrap(), sums);
    let version = clean(&dest.join("pl/prelabel")).arg("--version").output().unwrap();
    assert!(version.status.success(), "{}", stderr(&version));
    only(&dest, &["pl"]);

    // A damaged piece is refused before anything is unpacked.
    std::fs::write(parts.join("bundle.tar.001"), b"damaged").unwrap();
    let dest2 = tmp.path().join("rebuilt2");
    let asm = clean(Path::new("bash")).arg(parts.join("assemble.sh")).arg(&dest2).output().unwrap();
    assert!(!asm.status.success());
    assert!(stderr(&asm).contains("missing or damaged"), "{}", stderr(&asm));
    assert!(!dest2.join("pl").exists());
}

#[test]
fn bad_requests_fail_in_one_line_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |rel: &str| tmp.path().join(rel).to_string_lossy().into_owned();

    std::fs::create_dir(tmp.path().join("exists")).unwrap();
    one_line_error(&bundle_cmd(&[&p("exists")]), "already exists");
    one_line_error(&bundle_cmd(&[&p("b1"), "--model", &p("nope.toml")]), "nope.toml");
    one_line_error(&bundle_cmd(&[&p("b2"), "--ort-lib", &p("libonnxruntime.so")]), "does not exist");
    std::fs::write(tmp.path().join("file"), b"x").unwrap();
    one_line_error(&bundle_cmd(&[&p("file/b3")]), "cannot create");

    // No ldd on the PATH: the error says what is missing.
    let no_ldd = Command::new(env!("CARGO_BIN_EXE_prelabel"))
        .args(["bundle", &p("b4")])
        .env_clear()
        .env("PATH", tmp.path())
        .env("ORT_DYLIB_PATH", from_setup(".deps/ort-active/libonnxruntime.so"))
        .output()
        .unwrap();
    one_line_error(&no_ldd, "ldd");

    only(tmp.path(), &["exists", "file"]);
}
