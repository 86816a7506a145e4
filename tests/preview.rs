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
