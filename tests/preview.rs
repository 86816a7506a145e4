//! `--preview` end to end: the annotated MP4 (checked with ffprobe: H.264, one frame per input
//! frame, same size and rate) and the `review.png` contact sheet; and the MP4 writer alone.

mod common;

use std::path::Path;
use std::process::Command;

use prelabel::render::Mp4Writer;

/// ffprobe's view of the first video stream: codec, width, height, r_frame_rate, frames counted
/// by decoding.
fn probe(video: &Path) -> (String, u32, u32, String, u64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=codec_name,width,height,r_frame_rate,avg_frame_rate,nb_read_frames", "-of", "json"])
        .arg(video)
        .output()
        .expect("ffprobe runs (scripts/setup.sh installs ffmpeg)");
    assert!(out.status.success(), "ffprobe {}: {}", video.display(), String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    assert_eq!(s["r_frame_rate"], s["avg_frame_rate"], "{s}");
    (
        s["codec_name"].as_str().unwrap().to_string(),
        s["width"].as_u64().unwrap() as u32,
        s["height"].as_u64().unwrap() as u32,
        s["r_frame_rate"].as_str().unwrap().to_string(),
        s["nb_read_frames"].as_str().unwrap().parse().unwrap(),
    )
}

#[test]
fn mp4_writer_keeps_every_frame_and_the_exact_rate() {
    let dir = tempfile::tempdir().unwrap();
    for (fps, want_rate, w, h, n) in [(29.97003, "30000/1001", 64, 48, 31u64), (10.0, "10/1", 33, 17, 7), (12.5, "25/2", 40, 30, 12)] {
        let dest = dir.path().join(format!("v{n}.mp4"));
        let mut writer = Mp4Writer::new(&dest, w, h, fps).unwrap();
        for i in 0..n {
            let shade = (i * 7 % 256) as u8;
            writer.push(&vec![shade; (w * h * 3) as usize]).unwrap();
        }
        writer.finish().unwrap();
        let (codec, pw, ph, rate, frames) = probe(&dest);
        assert_eq!(codec, "h264");
        // Odd sizes are padded to even ones (4:2:0).
        assert_eq!((pw, ph), (w.next_multiple_of(2), h.next_multiple_of(2)));
        assert_eq!(rate, want_rate);
        assert_eq!(frames, n);
    }
}

/// `frames` frames of the sample video from `start_s` on, MPEG-4 part 2 in AVI as the sample is.
fn clip(path: &Path, start_s: u32, frames: u32) {
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-ss", &start_s.to_string(), "-i"])
        .arg(common::from_setup(".deps/vtest.avi"))
        .args(["-frames:v", &frames.to_string(), "-c:v", "mpeg4", "-q:v", "3", "-f", "avi"])
        .arg(path)
        .status()
        .expect("ffmpeg runs (scripts/setup.sh installs it)");
    assert!(ok.success());
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn preview_has_one_h264_frame_per_input_frame_and_a_sheet_of_the_review_queue() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("walk.avi");
    clip(&video, 30, 24);
    let out = dir.path().join("out");
    // A high accept level sends most tracks to review: several thumbnails to count.
    let (v, o) = (video.to_str().unwrap(), out.to_str().unwrap());
    let args = ["run", v, "--out", o, "--device", "cpu", "--formats", "mot", "--preview", "--accept-score", "0.9", "--stride", "2", "-q"];
    let run = common::prelabel(&args);
    assert!(run.status.success(), "{}", common::stderr(&run));
    let folder = out.join("walk.avi");

    let (codec, w, h, rate, frames) = probe(&folder.join("preview.mp4"));
    let (_, in_w, in_h, in_rate, in_frames) = probe(&video);
    assert_eq!(codec, "h264");
    assert_eq!((w, h, rate.as_str(), frames), (in_w, in_h, in_rate.as_str(), in_frames));
    assert_eq!(frames, 24);

    let review = json(&folder.join("review.json"));
    let queue = review["queue"].as_array().unwrap();
    assert!(queue.len() >= 2, "want several tracks to review, got {}", queue.len());
    let layout = prelabel::render::sheet::Layout::new(queue.len());
    assert_eq!(layout.shown, queue.len().min(prelabel::render::sheet::MAX_THUMBNAILS));
    let sheet = image::open(folder.join("review.png")).expect("review.png decodes").to_rgb8();
    assert_eq!(sheet.dimensions(), (layout.width, layout.height));
    // Each shown cell holds a picture (many colours); the grid's spare cells stay empty.
    let colours = |i: usize| {
        let (x, y) = layout.cell(i);
        let mut seen = std::collections::BTreeSet::new();
        for yy in y..y + prelabel::render::sheet::THUMB {
            for xx in x..x + prelabel::render::sheet::THUMB {
                seen.insert(sheet.get_pixel(xx, yy).0);
            }
        }
        seen.len()
    };
    for i in 0..layout.shown {
        assert!(colours(i) > 50, "thumbnail {i} is drawn");
    }
    for i in layout.shown..(layout.columns * layout.rows) as usize {
        assert_eq!(colours(i), 1, "cell {i} is empty");
    }

    // Both files are listed as outputs of the video, in report.json and the manifest.
    let report = json(&out.join("report.json"));
    let files: Vec<String> = report["videos"][0]["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
    assert!(files.iter().any(|f| f.ends_with("preview.mp4")) && files.iter().any(|f| f.ends_with("review.png")), "{files:?}");
    assert_eq!(report["settings"]["preview"], true);
    let manifest = json(&folder.join("manifest.json"));
    assert!(manifest["files"].as_array().unwrap().iter().any(|f| f == "preview.mp4"));

    // A re-run skips the video; without its preview it is labelled again.
    let again = common::prelabel(&args);
    assert!(again.status.success());
    assert_eq!(json(&out.join("report.json"))["videos"][0]["status"], "skipped");
    std::fs::remove_file(folder.join("preview.mp4")).unwrap();
    let again = common::prelabel(&args);
    assert!(again.status.success());
    let entry = &json(&out.join("report.json"))["videos"][0];
    assert_eq!(entry["status"], "ok");
    assert!(entry["why"].as_str().unwrap().contains("outputs missing (preview)"), "{entry}");
    assert_eq!(probe(&folder.join("preview.mp4")).4, 24);
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".prelabel-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
