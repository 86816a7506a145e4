//! Several videos in flight (`--jobs`) through the real binary: the labels are byte for byte
//! those of `--jobs 1` although frames of different videos share model batches; a bad clip
//! fails alone; Ctrl-C (SIGTERM) stops every video cleanly; and each video's report entry
//! says which decoder ran and why not NVDEC (no GPU here: the CPU fallback).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{from_setup, prelabel, stderr};
use serde_json::Value;

/// `frames` frames of the sample video from frame `from`, as H.264 (or `codec`).
fn clip(dir: &Path, name: &str, from: u32, frames: u32, codec: &str) -> PathBuf {
    let p = dir.join(name);
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(from_setup(".deps/vtest.avi"))
        .args(["-vf", &format!("select=gte(n\\,{from})"), "-frames:v", &frames.to_string(), "-c:v", codec, "-pix_fmt", "yuv420p"])
        .arg(&p)
        .status()
        .expect("ffmpeg runs (scripts/setup.sh installs it)");
    assert!(ok.success(), "ffmpeg made {name}");
    p
}

/// Short clips of different lengths (so videos end at different times mid-batch).
fn clips(dir: &Path, lengths: &[u32]) -> PathBuf {
    let folder = dir.join("clips");
    std::fs::create_dir_all(&folder).unwrap();
    for (i, &n) in lengths.iter().enumerate() {
        clip(&folder, &format!("c{i}.mp4"), 97 * i as u32, n, "libx264");
    }
    folder
}

fn report(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// Every file under `dir` (relative path -> bytes), report.json aside.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p != dir.join("report.json") {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// report.json without what differs between two runs of the same job: timings, the command
/// line, `--jobs` itself, how the batches were filled, and the output folder `out` (as OUT).
fn without_timing(r: &Value, out: &Path) -> Value {
    let text = r.to_string().replace(out.to_str().unwrap(), "OUT");
    let mut r: Value = serde_json::from_str(&text).unwrap();
    for k in ["command_line", "model_batches"] {
        r.as_object_mut().unwrap().remove(k);
    }
    r["settings"].as_object_mut().unwrap().remove("jobs");
    if let Some(values) = r["options"]["values"].as_object_mut() {
        values.remove("jobs");
    }
    let o = r.as_object_mut().unwrap();
    let mut tables: Vec<&mut Value> = Vec::new();
    for (k, v) in o.iter_mut() {
        match k.as_str() {
            "totals" => tables.push(v),
            "videos" => tables.extend(v.as_array_mut().unwrap().iter_mut()),
            _ => {}
        }
    }
    for t in tables {
        for k in ["wall_s", "frames_per_s", "stages"] {
            t.as_object_mut().unwrap().remove(k);
        }
    }
    r
}

fn run(folder: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let args = [&["run", folder.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", "cpu", "-q"][..], extra].concat();
    prelabel(&args)
}

#[test]
fn three_videos_in_flight_label_byte_for_byte_like_one() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = clips(tmp.path(), &[9, 23, 5, 31, 14]);
    // Batches of 4 frames: with three videos in flight most of them hold frames of several.
    let (one, three) = (tmp.path().join("one"), tmp.path().join("three"));
    for (out, jobs) in [(&one, "1"), (&three, "3")] {
        let o = run(&folder, out, &["--jobs", jobs, "--batch-size", "4"]);
        assert!(o.status.success(), "--jobs {jobs}: {}", stderr(&o));
    }
    let (a, b) = (files(&one), files(&three));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for i in 0..5 {
        assert!(a.contains_key(&PathBuf::from(format!("clips/c{i}.mp4/manifest.json"))), "c{i} finished: {:?}", a.keys());
    }
    for (path, bytes) in &a {
        assert!(bytes == &b[path], "{} differs between --jobs 1 and --jobs 3", path.display());
    }
    let (ra, rb) = (report(&one), report(&three));
    assert_eq!(rb["settings"]["jobs"], 3);
    assert_eq!(without_timing(&ra, &one), without_timing(&rb, &three));
    let frames: Vec<u64> = rb["videos"].as_array().unwrap().iter().map(|v| v["frames"].as_u64().unwrap()).collect();
    assert_eq!(frames, [9, 23, 5, 31, 14], "report in input order");
    // The point of it: batches shared by videos (with one video at a time, none are).
    let (sa, sb) = (&ra["model_batches"], &rb["model_batches"]);
    assert_eq!((sa["frames"].as_u64(), sa["shared"].as_u64()), (Some(82), Some(0)));
    assert_eq!(sb["frames"], 82);
    assert!(sb["shared"].as_u64().unwrap() > 0, "{sb}");
    assert!(sb["batches"].as_u64().unwrap() < sa["batches"].as_u64().unwrap(), "fuller batches: {sa} vs {sb}");
}

#[test]
fn a_corrupt_clip_among_good_ones_fails_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = clips(tmp.path(), &[12, 20, 8]);
    std::fs::write(folder.join("b_not_a_video.mp4"), "not a video\n".repeat(200)).unwrap();
    // A real clip cut short mid-stream: labelled as far as it goes.
    let whole = std::fs::read(clip(tmp.path(), "long.avi", 0, 60, "mpeg4")).unwrap();
    std::fs::write(folder.join("b_cut.avi"), &whole[..whole.len() / 2]).unwrap();
    let out = tmp.path().join("out");
    let o = run(&folder, &out, &["--jobs", "3", "--formats", "mot"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    let r = report(&out);
    assert_eq!(r["state"], "finished");
    let by_name: BTreeMap<String, &Value> = r["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (Path::new(v["input"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned(), v))
        .collect();
    assert_eq!(by_name["b_not_a_video.mp4"]["status"], "failed");
    assert!(by_name["b_not_a_video.mp4"]["error"].as_str().unwrap().contains("not a video file"));
    assert_eq!(by_name["b_cut.avi"]["status"], "partial");
    for (name, frames) in [("c0.mp4", 12), ("c1.mp4", 20), ("c2.mp4", 8)] {
        assert_eq!(by_name[name]["status"], "ok", "{name}");
        assert_eq!(by_name[name]["frames"], frames, "{name}");
        assert!(out.join("clips").join(name).join("mot.txt").is_file(), "{name}");
    }
}

#[test]
fn sigterm_stops_every_video_in_flight_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = clips(tmp.path(), &[300, 300, 300, 300]);
    let out = tmp.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_prelabel"))
        .args(["run", folder.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", "cpu", "--jobs", "3", "-q"])
        .spawn()
        .unwrap();
    // Once videos are under way (claimed; a finished video's folder appears only at its end,
    // too late on a fast machine), SIGTERM: what a batch scheduler sends; Ctrl-C is the same.
    let started = std::time::Instant::now();
    let claimed = || std::fs::read_dir(out.join(".claims")).map(|d| d.count() >= 3).unwrap_or(false);
    while !claimed() && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let r = report(&out);
    assert_eq!(r["state"], "interrupted");
    let videos = r["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 4, "every input has its entry");
    for v in videos {
        let dir = PathBuf::from(v["output_dir"].as_str().unwrap());
        match v["status"].as_str().unwrap() {
            "ok" => assert!(dir.join("manifest.json").is_file()),
            "interrupted" => {
                for f in ["coco.json", "cvat.xml", "mot.txt", "manifest.json"] {
                    assert!(!dir.join(f).exists(), "{} exists", dir.join(f).display());
                }
            }
            s => panic!("{s}: {v}"),
        }
    }
    assert!(videos.iter().any(|v| v["status"] == "interrupted"));
}

/// No GPU here: every video records that the CPU decoded it and why; a codec NVDEC has no
/// decoder for says so (checked before looking for a device, so this holds on any node);
/// `--decode-device gpu` refuses to start without a CUDA device.
#[test]
fn report_says_which_decoder_ran_and_why_not_nvdec() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = clips(tmp.path(), &[4]);
    clip(&folder, "lossless.mkv", 0, 3, "ffv1");
    let out = tmp.path().join("out");
    // --device cpu would turn NVDEC off: only the model and shaders are put on the CPU here.
    let o = prelabel(&[
        "run",
        folder.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
        "--infer-device",
        "cpu",
        "--preprocess-device",
        "cpu",
        "--postprocess-device",
        "cpu",
        "--formats",
        "mot",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = report(&out);
    let videos = r["videos"].as_array().unwrap();
    let h264 = videos.iter().find(|v| v["input"].as_str().unwrap().ends_with("c0.mp4")).unwrap();
    let ffv1 = videos.iter().find(|v| v["input"].as_str().unwrap().ends_with("lossless.mkv")).unwrap();
    assert_eq!(ffv1["decoder"], "cpu");
    assert_eq!(ffv1["decoder_reason"], "codec ffv1 has no CUDA decoder in this ffmpeg");
    let gpu_here = Path::new("/dev/nvidiactl").exists();
    if !gpu_here {
        assert_eq!(h264["decoder"], "cpu");
        let why = h264["decoder_reason"].as_str().unwrap();
        assert!(why.starts_with("no CUDA device"), "{why}");
        let refused =
            prelabel(&["run", folder.to_str().unwrap(), "--out", tmp.path().join("gpu").to_str().unwrap(), "--decode-device", "gpu"]);
        assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
        assert!(stderr(&refused).contains("--decode-device gpu: no CUDA device"), "{}", stderr(&refused));
    }
    let o = run(&folder, &tmp.path().join("cpu"), &["--decode-device", "cpu", "--formats", "mot"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for v in report(&tmp.path().join("cpu"))["videos"].as_array().unwrap() {
        assert_eq!((&v["decoder"], &v["decoder_reason"]), (&Value::from("cpu"), &Value::from("--decode-device cpu")));
    }
}
