//! The CPU-side steps of `scripts/gpu-check.sh`, the one-shot GPU check: argument handling,
//! checking and assembling the kit's pieces (xz-compressed as `pack` writes them, unpacked by
//! the xz program or, on a node without one, Python's lzma module; and uncompressed, in
//! `prelabel bundle --pieces`' format, made here with the same code), and the dry run that
//! prints the plan. The GPU steps themselves only run on a GPU node.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use prelabel::bundle::pieces::{write_manifest, write_pieces};

fn script(args: &[&str]) -> Output {
    script_env(args, &[])
}

fn script_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    // In a temp folder: a run writes its default results file into the current one.
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(common::repo().join("scripts/gpu-check.sh")).args(args).current_dir(cwd.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output();
    let o = o.expect("bash runs");
    assert!(leftovers(cwd.path()).is_empty(), "{args:?} wrote {:?} before the kit was checked", leftovers(cwd.path()));
    o
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A small kit (`gpu-kit/` with its SHA256SUMS) in pieces of at most 4 KiB; returns the pieces
/// folder and the kit's files.
fn fake_kit(dir: &Path) -> (PathBuf, Vec<(PathBuf, Vec<u8>)>) {
    let kit = dir.join("gpu-kit");
    let files: Vec<(PathBuf, Vec<u8>)> = vec![
        ("bin/bench-shaders".into(), (0..9000u32).map(|i| (i * 31 % 251) as u8).collect()),
        ("wheels/onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl".into(), (0..7000u32).map(|i| (i % 199) as u8).collect()),
        ("repo/scripts/baseline_python.py".into(), b"print('hi')\n".to_vec()),
    ];
    for (rel, data) in &files {
        std::fs::create_dir_all(kit.join(rel).parent().unwrap()).unwrap();
        std::fs::write(kit.join(rel), data).unwrap();
    }
    write_manifest(&kit).unwrap();
    let parts = dir.join("kit.parts");
    std::fs::create_dir(&parts).unwrap();
    let names = write_pieces(&kit, "gpu-kit", &parts, 4096).unwrap();
    assert!(names.len() >= 4, "{names:?}");
    (parts, files)
}

/// The same kit as `pack` writes it: one tar, xz-compressed, cut into 4 KiB pieces
/// `gpu-kit.tar.xz.NNN` beside their SHA256SUMS.
fn xz_kit(dir: &Path) -> (PathBuf, Vec<(PathBuf, Vec<u8>)>) {
    let kit = dir.join("gpu-kit");
    // Incompressible bytes, so that the compressed tar still spans several pieces.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let files: Vec<(PathBuf, Vec<u8>)> = vec![
        ("bundle/lib/libonnxruntime_providers_cuda.so".into(), noise(9000)),
        ("python/onnxruntime/__init__.py".into(), b"# package\n".to_vec()),
        ("bin/bench-nms".into(), noise(5000)),
    ];
    for (rel, data) in &files {
        std::fs::create_dir_all(kit.join(rel).parent().unwrap()).unwrap();
        std::fs::write(kit.join(rel), data).unwrap();
    }
    write_manifest(&kit).unwrap();
    let xz = Command::new("bash").arg("-c").arg("tar -C \"$1\" -cf - gpu-kit | xz -1").arg("_").arg(dir).output().expect("tar and xz run");
    assert!(xz.status.success() && xz.stdout.starts_with(b"\xfd7zXZ\0"), "{}", String::from_utf8_lossy(&xz.stderr));
    let parts = dir.join("kit.parts");
    std::fs::create_dir(&parts).unwrap();
    let mut sums = String::new();
    for (i, chunk) in xz.stdout.chunks(4096).enumerate() {
        let name = format!("gpu-kit.tar.xz.{i:03}");
        std::fs::write(parts.join(&name), chunk).unwrap();
        let sum = Command::new("sha256sum").arg(parts.join(&name)).output().unwrap();
        let sum = String::from_utf8(sum.stdout).unwrap();
        sums.push_str(&format!("{}  {name}\n", sum.split_whitespace().next().unwrap()));
    }
    std::fs::write(parts.join("SHA256SUMS"), sums).unwrap();
    assert!(xz.stdout.len() > 2 * 4096, "a kit of several pieces");
    (parts, files)
}

fn leftovers(dest: &Path) -> Vec<String> {
    std::fs::read_dir(dest).map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[test]
fn help_and_bad_arguments() {
    let (out, _) = text(&script(&["--help"]));
    assert!(out.contains("gpu-check.sh pack PARTS") && out.contains("--dry-run") && out.contains("8 minutes"), "{out}");
    for (args, want) in [
        (&["run", "kit.parts", "--frobnicate"][..], "unknown option '--frobnicate'"),
        (&["launch"][..], "unknown command 'launch'"),
        (&[][..], "missing command"),
        (&["run"][..], "run needs the kit's pieces folder"),
        (&["run", "a", "b"][..], "unexpected argument 'b'"),
        (&["run", "a", "--out"][..], "--out needs a file"),
        (&["assemble", "a"][..], "assemble takes two arguments"),
    ] {
        let o = script(args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn a_missing_kit_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere.parts");
    let o = script(&["run", missing.to_str().unwrap(), "--work", tmp.path().join("w").to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("kit pieces not found") && err.contains("nowhere.parts"), "{err}");
    // A folder without SHA256SUMS is not a pieces folder.
    std::fs::create_dir(&missing).unwrap();
    let (_, err) = text(&script(&["run", missing.to_str().unwrap(), "--dry-run"]));
    assert!(err.contains("SHA256SUMS missing"), "{err}");
    assert!(!tmp.path().join("w").exists());
}

#[test]
fn pieces_are_checked_and_assembled() {
    let tmp = tempfile::tempdir().unwrap();
    let (parts, files) = fake_kit(tmp.path());
    let dest = tmp.path().join("node");
    let o = script(&["assemble", parts.to_str().unwrap(), dest.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);
    for (rel, data) in &files {
        assert_eq!(&std::fs::read(dest.join("gpu-kit").join(rel)).unwrap(), data, "{}", rel.display());
    }
    assert_eq!(leftovers(&dest), ["gpu-kit"], "no temp folder left behind");
    // Twice into the same place: refused, the first copy kept.
    let again = script(&["assemble", parts.to_str().unwrap(), dest.to_str().unwrap()]);
    assert!(!again.status.success() && text(&again).1.contains("already exists"));
}

#[test]
fn a_corrupt_or_missing_piece_assembles_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (parts, _) = fake_kit(tmp.path());
    let dest = tmp.path().join("node");
    let piece = parts.join("bundle.tar.001");
    let mut bytes = std::fs::read(&piece).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&piece, &bytes).unwrap();
    std::fs::remove_file(parts.join("bundle.tar.002")).unwrap();
    let o = script(&["assemble", parts.to_str().unwrap(), dest.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("piece bundle.tar.001 is corrupt"), "{err}");
    assert!(err.contains("piece bundle.tar.002 is missing"), "{err}");
    assert!(!err.contains("bundle.tar.000"), "the good piece is not blamed: {err}");
    assert!(leftovers(&dest).is_empty(), "nothing under the final name, no temp folder: {:?}", leftovers(&dest));
    // The full run stops at the same check, before any GPU step or results file.
    let results = tmp.path().join("results.md");
    let o = script(&["run", parts.to_str().unwrap(), "--work", dest.to_str().unwrap(), "--out", results.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(leftovers(&dest).is_empty());
}

#[test]
fn a_kit_that_does_not_match_its_own_sums_is_not_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let kit = tmp.path().join("gpu-kit");
    std::fs::create_dir_all(&kit).unwrap();
    std::fs::write(kit.join("a.bin"), vec![7u8; 5000]).unwrap();
    write_manifest(&kit).unwrap();
    std::fs::write(kit.join("a.bin"), vec![8u8; 5000]).unwrap(); // changed after its sum was taken
    let parts = tmp.path().join("kit.parts");
    std::fs::create_dir(&parts).unwrap();
    write_pieces(&kit, "gpu-kit", &parts, 4096).unwrap();
    let dest = tmp.path().join("node");
    let o = script(&["assemble", parts.to_str().unwrap(), dest.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("does not match its SHA256SUMS"), "{err}");
    assert!(leftovers(&dest).is_empty(), "{:?}", leftovers(&dest));
}

#[test]
fn dry_run_prints_the_plan_within_eight_minutes() {
    let tmp = tempfile::tempdir().unwrap();
    let (parts, _) = fake_kit(tmp.path());
    let work = tmp.path().join("work");
    let o = script(&["run", parts.to_str().unwrap(), "--dry-run", "--work", work.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for step in ["assemble", "gpu", "shaders", "nms", "clips", "job", "one", "python"] {
        assert!(out.lines().any(|l| l.split_whitespace().next() == Some(step)), "no step {step} in\n{out}");
    }
    let total: u32 = out
        .split("total budget ")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total in\n{out}"));
    assert!(total <= 480, "plan takes {total} s, over 8 minutes");
    assert!(!work.exists(), "a dry run unpacks nothing");
    // A damaged piece fails the dry run too.
    std::fs::write(parts.join("bundle.tar.000"), b"x").unwrap();
    assert_eq!(script(&["run", parts.to_str().unwrap(), "--dry-run"]).status.code(), Some(1));
}

#[test]
fn an_xz_kit_assembles_with_xz_or_with_python() {
    let tmp = tempfile::tempdir().unwrap();
    let (parts, files) = xz_kit(tmp.path());
    // The xz program where there is one; Python's lzma module where there is none.
    for (i, unxz) in ["", "python"].into_iter().enumerate() {
        let dest = tmp.path().join(format!("node{i}"));
        let o = script_env(&["assemble", parts.to_str().unwrap(), dest.to_str().unwrap()], &[("GPU_CHECK_UNXZ", unxz)]);
        assert!(o.status.success(), "{unxz:?}: {}", text(&o).1);
        for (rel, data) in &files {
            assert_eq!(&std::fs::read(dest.join("gpu-kit").join(rel)).unwrap(), data, "{unxz:?}: {}", rel.display());
        }
        assert_eq!(leftovers(&dest), ["gpu-kit"], "no temp folder left behind");
    }
    let (out, err) = text(&script(&["run", parts.to_str().unwrap(), "--dry-run"]));
    let n = std::fs::read_dir(&parts).unwrap().count() - 1;
    assert!(out.contains(&format!("pieces checked, {n} of them")), "{out}{err}");
}

#[test]
fn a_damaged_xz_kit_assembles_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (parts, _) = xz_kit(tmp.path());
    let dest = tmp.path().join("node");
    // A piece whose sum is wrong is refused before anything is unpacked.
    let piece = parts.join("gpu-kit.tar.xz.001");
    let good = std::fs::read(&piece).unwrap();
    let mut bad = good.clone();
    bad[10] ^= 0xff;
    std::fs::write(&piece, &bad).unwrap();
    let (_, err) = text(&script(&["assemble", parts.to_str().unwrap(), dest.to_str().unwrap()]));
    assert!(err.contains("piece gpu-kit.tar.xz.001 is corrupt"), "{err}");
    assert!(leftovers(&dest).is_empty(), "{:?}", leftovers(&dest));
    assert_eq!(script(&["run", parts.to_str().unwrap(), "--dry-run"]).status.code(), Some(1));
    // Damage the sums do not catch (SHA256SUMS rewritten to match): xz's own check refuses it.
    let sums = std::fs::read_to_string(parts.join("SHA256SUMS")).unwrap();
    let new_sum = Command::new("sha256sum").arg(&piece).output().unwrap();
    let new_sum = String::from_utf8(new_sum.stdout).unwrap();
    let new_sum = new_sum.split_whitespace().next().unwrap();
    let sums: String = sums
        .lines()
        .map(|l| if l.ends_with("gpu-kit.tar.xz.001") { format!("{new_sum}  gpu-kit.tar.xz.001\n") } else { format!("{l}\n") })
        .collect();
    std::fs::write(parts.join("SHA256SUMS"), sums).unwrap();
    for unxz in ["", "python"] {
        let o = script_env(&["assemble", parts.to_str().unwrap(), dest.to_str().unwrap()], &[("GPU_CHECK_UNXZ", unxz)]);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{unxz:?}: {err}");
        assert!(err.contains("do not join into an xz-compressed tar") || err.contains("does not match its SHA256SUMS"), "{unxz:?}: {err}");
        assert!(leftovers(&dest).is_empty(), "{unxz:?}: {:?}", leftovers(&dest));
    }
}
