//! Output folders are keyed by what a video is (its path relative to the folder it was found
//! in), never by its place in the list, and never outside `--out`; a re-run skips a video only
//! when its manifest.json says the same source was labelled with the same model and settings.
//! End to end with the real binary on 10-frame clips cut from `.deps/vtest.avi`.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{from_setup, stderr};
use serde_json::Value;

/// A 10-frame clip of the sample video starting at `start_s`.
fn clip(path: &Path, start_s: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_file_name("making.avi");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-ss", &start_s.to_string(), "-i"])
        .arg(from_setup(".deps/vtest.avi"))
        .args(["-frames:v", "10", "-c:v", "mpeg4", "-f", "avi"])
        .arg(&tmp)
        .status()
        .expect("ffmpeg runs (scripts/setup.sh installs it)");
    assert!(ok.success());
    std::fs::rename(&tmp, path).unwrap();
}

fn run(args: &[&OsStr], out: &Path, extra: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_prelabel"))
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(out)
        .args(["--device", "cpu", "--formats", "mot,coco"])
        .args(extra)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(!e.contains("panicked"), "{e}");
    o
}

fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
}

/// Per video in report.json: (output folder relative to `out`, status, why).
fn report(out: &Path) -> Vec<(String, String, String)> {
    let r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    r["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let dir = Path::new(v["output_dir"].as_str().unwrap()).strip_prefix(out).unwrap().to_str().unwrap().to_string();
            (dir, v["status"].as_str().unwrap().to_string(), v["why"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

/// Every path under `dir` (not following symlinks) with its size and modification time,
/// leaving out `skip`.
fn listing(dir: &Path, skip: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p == skip {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                todo.push(p.clone());
            }
            out.insert(p, (if m.is_dir() { 0 } else { m.len() }, m.modified().unwrap()));
        }
    }
    out
}

fn labelled(dir: &Path) {
    for f in ["mot.txt", "coco.json", "manifest.json"] {
        assert!(dir.join(f).is_file(), "{} missing", dir.join(f).display());
    }
}

#[test]
fn same_file_names_in_two_folders_never_meet_and_a_rerun_skips_only_what_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (cam_a, cam_b) = (t.join("camA"), t.join("camB"));
    clip(&cam_a.join("clip.mp4"), 0);
    clip(&cam_b.join("clip.mp4"), 20);
    let out = t.join("O");

    // The case: camB alone, then camA and camB.
    ok(&run(&[cam_b.as_os_str()], &out, &["-q"]));
    labelled(&out.join("camB/clip.mp4"));
    let b_labels = std::fs::read(out.join("camB/clip.mp4/mot.txt")).unwrap();
    ok(&run(&[cam_a.as_os_str(), cam_b.as_os_str()], &out, &["-q"]));
    let r = report(&out);
    assert_eq!(r[0].0, "camA/clip.mp4");
    assert_eq!(r[0].1, "ok", "camA is labelled, not skipped: {r:?}");
    assert_eq!((r[1].0.as_str(), r[1].1.as_str()), ("camB/clip.mp4", "skipped"), "{r:?}");
    assert!(r[1].2.contains("same source, model and settings"), "{r:?}");
    assert_eq!(std::fs::read(out.join("camB/clip.mp4/mot.txt")).unwrap(), b_labels, "camB's labels stay camB's");
    assert_ne!(std::fs::read(out.join("camA/clip.mp4/mot.txt")).unwrap(), b_labels);
    let m: Value = serde_json::from_str(&std::fs::read_to_string(out.join("camA/clip.mp4/manifest.json")).unwrap()).unwrap();
    assert!(m["source"]["canonical"].as_str().unwrap().ends_with("camA/clip.mp4"), "{m}");
    assert_eq!(m["model"]["onnx_sha256"].as_str().unwrap().len(), 64);
    let names: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.starts_with("clip")), "no stem folders: {names:?}");

    // Two files with the same name given by name get distinct folders, whatever their order.
    let (a, b) = (cam_a.join("clip.mp4"), cam_b.join("clip.mp4"));
    let by_name = t.join("byname");
    ok(&run(&[a.as_os_str(), b.as_os_str()], &by_name, &["-q"]));
    let first = report(&by_name);
    ok(&run(&[b.as_os_str(), a.as_os_str()], &by_name, &["-q", "--overwrite"]));
    let second = report(&by_name);
    assert_ne!(first[0].0, first[1].0);
    assert!(first[0].0.starts_with("clip~") && first[0].0.ends_with(".mp4"), "{first:?}");
    assert_eq!((&first[0].0, &first[1].0), (&second[1].0, &second[0].0), "folders do not depend on order");

    // Changed settings: relabelled, saying which.
    let o = run(&[cam_a.as_os_str()], &out, &["--score-threshold", "0.6"]);
    ok(&o);
    assert!(stderr(&o).contains("camA/clip.mp4: settings changed (score-threshold"), "{}", stderr(&o));
    let r = report(&out);
    assert_eq!(r[0].1, "ok");
    assert!(r[0].2.starts_with("settings changed (score-threshold"), "{r:?}");
    // Settings that do not change labels do not count.
    ok(&run(&[cam_a.as_os_str()], &out, &["-q", "--score-threshold", "0.6", "--threads", "1", "--batch-size", "3"]));
    assert_eq!(report(&out)[0].1, "skipped");

    // A changed source (new content, new time) is relabelled.
    clip(&cam_a.join("clip.mp4"), 40);
    ok(&run(&[cam_a.as_os_str()], &out, &["-q", "--score-threshold", "0.6"]));
    let r = report(&out);
    assert_eq!(r[0].1, "ok");
    assert!(r[0].2.starts_with("source changed (") && r[0].2.contains("content"), "{r:?}");

    // A folder from an older prelabel (labels, no manifest) is relabelled with a note.
    std::fs::remove_file(out.join("camB/clip.mp4/manifest.json")).unwrap();
    ok(&run(&[cam_b.as_os_str()], &out, &["-q"]));
    let r = report(&out);
    assert_eq!(r[0].1, "ok");
    assert!(r[0].2.contains("without a manifest"), "{r:?}");
    labelled(&out.join("camB/clip.mp4"));
}

#[test]
fn odd_names_label_inside_out_and_nothing_is_written_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let odd = t.join("odd");
    clip(&odd.join("...mp4"), 0);
    clip(&odd.join("report.json.mp4"), 0);
    clip(&odd.join("report.json"), 0);
    let long = format!("{}.mp4", "l".repeat(246));
    assert_eq!(long.len(), 250);
    clip(&odd.join(&long), 0);
    let bad = odd.join(OsStr::from_bytes(b"caf\xe9.mp4"));
    clip(&bad, 0);
    // A symlink out of the tree: labelled under its own name, never where it points; a second
    // way to the same file (a linked folder) does not label it again.
    let elsewhere = t.join("elsewhere");
    clip(&elsewhere.join("real.mp4"), 0);
    let tree = t.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("real.mp4"), tree.join("link.mp4")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, tree.join("linked-dir")).unwrap();

    let out = t.join("O");
    let before = listing(t, &out);
    let dotted = odd.join("..").join("odd").join("...mp4");
    let o = run(
        &[
            dotted.as_os_str(),
            odd.join("report.json.mp4").as_os_str(),
            odd.join("report.json").as_os_str(),
            odd.join(&long).as_os_str(),
            bad.as_os_str(),
            tree.as_os_str(),
        ],
        &out,
        &["-q"],
    );
    ok(&o);
    let r = report(&out);
    let dirs: Vec<&str> = r.iter().map(|v| v.0.as_str()).collect();
    assert!(r.iter().all(|v| v.1 == "ok"), "{r:?}");
    assert_eq!(dirs[..3], ["%2E..mp4", "report.json.mp4", "%72eport.json"]);
    assert!(dirs[3].len() <= 200 && dirs[3].starts_with("llll") && dirs[3].contains('~') && dirs[3].ends_with(".mp4"), "{dirs:?}");
    assert_eq!(dirs[4], "caf%E9.mp4");
    // link.mp4 and linked-dir/real.mp4 are one real file: labelled once, under the first name
    // the walk meets (issue 17: a file reached two ways is never labelled twice).
    assert_eq!(dirs[5..], ["tree/link.mp4"]);
    for d in &dirs {
        labelled(&out.join(d));
    }
    assert_eq!(listing(t, &out), before, "nothing written outside --out");
    // The job report is still the job's.
    let job: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(job["videos"].as_array().unwrap().len(), 6);
    assert_eq!(job["videos"][4]["input"].as_str().unwrap(), format!("{}/caf%E9.mp4", odd.display()));

    // And again: everything skipped, still nothing outside.
    ok(&run(&[dotted.as_os_str(), bad.as_os_str(), tree.as_os_str()], &out, &["-q"]));
    assert!(report(&out).iter().all(|v| v.1 == "skipped"), "{:?}", report(&out));
    assert_eq!(listing(t, &out), before, "nothing written outside --out");
}
