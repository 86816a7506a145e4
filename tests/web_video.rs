//! `--web-video` and `--video-url`, end to end with the binary and ffprobe: the copy is H.264
//! in MP4 with exactly the source's frames at the source's times, a source that already plays
//! in browsers is linked as it is, every format names the copy by its escaped URL, and re-runs
//! skip or redo the copy as they do the labels.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const FRAMES: u32 = 30;

/// The first `FRAMES` frames of the sample, as `dest` (stream copy: the source's codec).
fn cut(dest: &Path, extra: &[&str]) {
    let sample = common::from_setup(".deps/vtest.avi");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&sample)
        .args(["-frames:v", &FRAMES.to_string()])
        .args(extra)
        .arg(dest)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg could not make {}", dest.display());
}

fn ffprobe(args: &[&str], file: &Path) -> Value {
    let out = Command::new("ffprobe").args(["-v", "error", "-of", "json"]).args(args).arg(file).output().expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe {}: {}", file.display(), common::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Presentation time of every frame, in seconds, as ffprobe decodes them.
fn frame_times(file: &Path) -> Vec<f64> {
    let v = ffprobe(&["-select_streams", "v:0", "-show_entries", "frame=pts_time"], file);
    v["frames"].as_array().unwrap().iter().map(|f| f["pts_time"].as_str().unwrap().parse().unwrap()).collect()
}

fn run(inputs: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&str> = vec!["run"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap(), "--device", "cpu", "-q", "--classes", "person", "--stride", "10"]);
    args.extend(extra);
    common::prelabel(&args)
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_copy_has_every_frame_at_the_source_times_in_h264_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.avi");
    cut(&clip, &["-c", "copy"]);
    let out = dir.path().join("out");
    let r = run(&[&clip], &out, &["--web-video"]);
    assert!(r.status.success(), "{}", common::stderr(&r));
    let copy = out.join("clip.avi/video.mp4");
    let probe =
        ffprobe(&["-count_frames", "-show_entries", "format=format_name:stream=codec_name,pix_fmt,nb_read_frames,codec_type"], &copy);
    assert!(probe["format"]["format_name"].as_str().unwrap().contains("mp4"), "{probe}");
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "one video stream, no audio: {probe}");
    assert_eq!(streams[0]["codec_name"], "h264");
    assert_eq!(streams[0]["pix_fmt"], "yuv420p");
    assert_eq!(streams[0]["nb_read_frames"], FRAMES.to_string(), "one frame per source frame");
    let (src, got) = (frame_times(&clip), frame_times(&copy));
    assert_eq!(src.len(), FRAMES as usize);
    assert_eq!(got.len(), src.len());
    for (i, (a, b)) in src.iter().zip(&got).enumerate() {
        assert!((a - b).abs() < 1e-6, "frame {i}: source at {a} s, copy at {b} s");
    }
    // The labels count the same frames, and name the copy.
    let tasks = json(&out.join("clip.avi/labelstudio.json"));
    assert_eq!(tasks[0]["data"]["video"], "video.mp4");
    let report = json(&out.join("report.json"));
    assert_eq!(report["videos"][0]["frames"], FRAMES);
    assert!(report["videos"][0]["files"].as_array().unwrap().iter().any(|f| f.as_str().unwrap().ends_with("video.mp4")), "{report}");
    let manifest = json(&out.join("clip.avi/manifest.json"));
    assert!(manifest["files"].as_array().unwrap().iter().any(|f| f == "video.mp4"), "{manifest}");
}

#[test]
fn a_video_browsers_play_is_linked_not_encoded_again() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    cut(&clip, &["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an"]);
    let out = dir.path().join("out");
    let r = run(&[&clip], &out, &["--web-video"]);
    assert!(r.status.success(), "{}", common::stderr(&r));
    let copy = out.join("clip.mp4/video.mp4");
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&clip).unwrap(), "the same bytes");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&copy).unwrap().ino(), std::fs::metadata(&clip).unwrap().ino(), "a hard link on one file system");
}

#[test]
fn a_variable_rate_mp4_is_encoded_again_at_a_constant_rate() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("vfr.mp4");
    // Frames 10-14 dropped, the others keep their times: a 0.6 s gap, as phones write them.
    cut(
        &clip,
        &[
            "-vf",
            "select='not(between(n,10,14))'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-an",
        ],
    );
    let src = frame_times(&clip);
    assert!(src.windows(2).any(|w| w[1] - w[0] > 0.5), "the source has a gap: {src:?}");
    let out = dir.path().join("out");
    let r = run(&[&clip], &out, &["--web-video"]);
    assert!(r.status.success(), "{}", common::stderr(&r));
    let copy = out.join("vfr.mp4/video.mp4");
    assert_ne!(std::fs::read(&copy).unwrap(), std::fs::read(&clip).unwrap(), "encoded again, not linked");
    let got = frame_times(&copy);
    assert_eq!(got.len(), src.len(), "every decoded frame, nothing filled in");
    let fps = json(&out.join("report.json"))["videos"][0]["fps"].as_f64().unwrap();
    for (n, t) in got.iter().enumerate() {
        assert!((t - n as f64 / fps).abs() < 1e-3, "frame {n} at {t} s, the labels put it at {} s", n as f64 / fps);
    }
}

#[test]
fn every_format_names_the_copy_by_its_escaped_url() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("cam A#1");
    cut(&folder.join("clip 100%.avi"), &["-c", "copy"]);
    let out = dir.path().join("labels");
    let prefix = "/data/local-files/?d=labels/";
    let r = run(&[&folder], &out, &["--web-video", "--video-url", prefix]);
    assert!(r.status.success(), "{}", common::stderr(&r));
    // batch::identity escapes '%' in folder names; the URL escapes that '%' again.
    let video_dir: PathBuf = out.join("cam A#1/clip 100%25.avi");
    assert!(video_dir.join("video.mp4").is_file(), "{}", video_dir.display());
    let url = format!("{prefix}cam%20A%231/clip%20100%2525.avi/video.mp4");
    assert_eq!(json(&video_dir.join("labelstudio.json"))[0]["data"]["video"], url.as_str());
    let cvat = std::fs::read_to_string(video_dir.join("cvat.xml")).unwrap();
    assert!(cvat.contains(&format!("<source>{url}</source>")), "cvat.xml source: {cvat:.600}");
    let coco = json(&video_dir.join("coco.json"));
    assert_eq!((coco["videos"][0]["url"].as_str(), coco["videos"][0]["file_name"].as_str()), (Some(url.as_str()), Some("video.mp4")));
    // Unescaped, the part after the prefix is the copy's path under --out.
    let rel = percent_decode(url.strip_prefix(prefix).unwrap());
    assert!(out.join(rel).is_file());
    // Only the kept class in the labeling config.
    let config = std::fs::read_to_string(video_dir.join("labelstudio_config.xml")).unwrap();
    assert_eq!(config.matches("<Label ").count(), 1, "{config}");
    assert!(config.contains("<Label value=\"person\"/>"), "{config}");
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn video_url_needs_web_video_and_reruns_redo_a_missing_copy() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.avi");
    cut(&clip, &["-c", "copy"]);
    let out = dir.path().join("out");
    let r = run(&[&clip], &out, &["--video-url", "http://x/"]);
    assert!(!r.status.success() && common::stderr(&r).contains("--web-video"), "{}", common::stderr(&r));

    let r = run(&[&clip], &out, &["--web-video"]);
    assert!(r.status.success(), "{}", common::stderr(&r));
    let copy = out.join("clip.avi/video.mp4");
    let first = std::fs::metadata(&copy).unwrap().modified().unwrap();
    let r = run(&[&clip], &out, &["--web-video"]);
    assert!(r.status.success());
    assert_eq!(json(&out.join("report.json"))["videos"][0]["status"], "skipped");
    assert_eq!(std::fs::metadata(&copy).unwrap().modified().unwrap(), first, "a skipped video keeps its copy");
    std::fs::remove_file(&copy).unwrap();
    let r = run(&[&clip], &out, &["--web-video"]);
    assert!(r.status.success());
    let report = json(&out.join("report.json"));
    assert_eq!(report["videos"][0]["status"], "ok", "{report}");
    assert!(report["videos"][0]["why"].to_string().contains("video.mp4"), "{report}");
    assert!(copy.is_file());
}

/// Decoded frames' checksums, one line per frame (ffmpeg's framemd5).
fn frame_md5s(file: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(file).args(["-f", "framemd5", "-"]).output().expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg framemd5 {}: {}", file.display(), common::stderr(&out));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('#')).map(str::to_owned).collect()
}

#[test]
fn with_the_preview_the_copy_comes_from_its_decode_and_is_the_same_copy() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.avi");
    cut(&clip, &["-c", "copy"]);
    let (alone, both) = (dir.path().join("alone"), dir.path().join("both"));
    let r = run(&[&clip], &alone, &["--web-video"]);
    assert!(r.status.success(), "{}", common::stderr(&r));
    let r = run(&[&clip], &both, &["--web-video", "--preview"]);
    assert!(r.status.success(), "{}", common::stderr(&r));
    let (a, b) = (alone.join("clip.avi/video.mp4"), both.join("clip.avi/video.mp4"));
    assert_eq!(frame_times(&b), frame_times(&a));
    let md5s = frame_md5s(&b);
    assert_eq!(md5s.len(), FRAMES as usize);
    assert_eq!(md5s, frame_md5s(&a), "the same pictures");
    assert!(both.join("clip.avi/preview.mp4").is_file() && both.join("clip.avi/review.png").is_file());
    // Nothing half-written left beside them.
    let stray: Vec<_> = std::fs::read_dir(both.join("clip.avi"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
