//! What tiling is for, through the real binary on the MOTChallenge sequences in ../shared
//! (person AP at IoU 0.5, detections with score >= 0.05, as in tests/accuracy_mot15.rs):
//! - far away: the sequence shrunk 3x into a 1920x1080 canvas, people 20-100 px tall, which
//!   the whole-frame pass (shrunk 6.4x into 300x300) mostly misses: `auto` must find far more;
//! - close up: the 640x480 sequences as they are: `auto` must not lose accuracy against `off`
//!   (and where its probe of the first frames chose the whole frame only, report.json says so
//!   and its output must be the same bytes as `off`'s).
//!
//! These run the SSD (300x300, a fixed input): tiling is the mechanism under test. What the
//! probe chooses with the default NanoDet-g on the six sequences and their variants is in
//! docs/src/quality.md (`src/tile/probe.rs` says how the level was chosen).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use prelabel::eval::{average_precision, read_mot, MotRow};
use prelabel::tile::{TileConfig, TileMode, TilePlan};
use prelabel::types::BBox;

/// How the far-away clip is made from a 640x480 sequence: scaled to 214x160 (about 1/3,
/// even sizes for H.264) with its top-left corner at (853, 460) of a black 1920x1080 frame.
const FAR: (u32, u32, u32, u32) = (214, 160, 853, 460);

/// Runs prelabel on `video` with `--tiles tiles`; returns the mot.txt it wrote.
fn run(video: &Path, out: &Path, tiles: &str) -> PathBuf {
    run_with(video, out, tiles, &[])
}

fn run_with(video: &Path, out: &Path, tiles: &str, more: &[&str]) -> PathBuf {
    // The detector's own output (no tracking): tiling is about what the detector finds.
    let mut args = vec!["--score-threshold", "0.05", "--no-track", "--tiles", tiles, "--model", "ssd_mobilenet_v2_coco"];
    args.extend_from_slice(more);
    common::label_people(video, out, &args).join("mot.txt")
}

fn ap(gt: &[MotRow], mot: &Path) -> f64 {
    average_precision(gt, &read_mot(mot).unwrap(), 0.5).ap
}

/// The first `frames` frames of `seq`, far away (see [`FAR`]), and its ground truth moved
/// the same way.
fn far_clip(dir: &Path, seq: &str, frames: u64, tmp: &Path) -> (PathBuf, Vec<MotRow>) {
    far_clip_after(dir, seq, frames, 0, tmp)
}

/// As [`far_clip`], after `lead` black frames (a camera that opens on nobody).
fn far_clip_after(dir: &Path, seq: &str, frames: u64, lead: u64, tmp: &Path) -> (PathBuf, Vec<MotRow>) {
    let (w, h, x, y) = FAR;
    let video = tmp.join(format!("far-{seq}-{lead}.mp4"));
    let filter = format!("scale={w}:{h},pad=1920:1080:{x}:{y},tpad=start={lead}:color=black");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(dir.join(format!("{seq}.mp4")))
        .args(["-vf", &filter, "-frames:v", &(frames + lead).to_string()])
        .args(["-c:v", "libx264", "-crf", "18"])
        .arg(&video)
        .status()
        .expect("ffmpeg runs (scripts/setup.sh installs it)");
    assert!(ok.success(), "ffmpeg could not make the far-away clip");
    let (sx, sy) = (w as f32 / 640.0, h as f32 / 480.0);
    let gt = read_mot(&dir.join("gt/gt.txt"))
        .unwrap()
        .into_iter()
        .filter(|r| r.frame <= frames)
        .map(|r| {
            let b = r.bbox;
            let bbox = BBox { x1: b.x1 * sx + x as f32, y1: b.y1 * sy + y as f32, x2: b.x2 * sx + x as f32, y2: b.y2 * sy + y as f32 };
            MotRow { bbox, frame: r.frame + lead, ..r }
        })
        .collect();
    (video, gt)
}

fn auto_plan(w: u32, h: u32) -> TilePlan {
    TilePlan::new(w, h, 300, 300, &TileConfig::new(TileMode::Auto, 0.2).unwrap())
}

#[test]
fn far_away_people_are_found_with_auto_tiles() {
    let Some(dir) = common::mot15("TUD-Campus") else { return };
    assert!(auto_plan(1920, 1080).is_tiled(), "auto must tile 1080p for a 300x300 model");
    let tmp = tempfile::tempdir().unwrap();
    let (video, gt) = far_clip(&dir, "TUD-Campus", 40, tmp.path());
    let off = ap(&gt, &run(&video, &tmp.path().join("off"), "off"));
    let auto = ap(&gt, &run(&video, &tmp.path().join("auto"), "auto"));
    let chose = tiles_chosen(&tmp.path().join("auto"));
    eprintln!("far-away TUD-Campus (40 frames, 1920x1080): person AP50 off {off:.4}, auto {auto:.4}; {chose}");
    // People 8-22 px tall at the SSD's input: the probe's 2x4 tiles pay, and the rest of the
    // clip gets the finer grid.
    assert!(chose.starts_with("tiles 3x5, finer than the probe's for small people: "), "{chose}");
    assert!(chose.contains("boxes scored >= 0.5 with 2x4 tiles"), "{chose}");
    assert!(auto >= off + 0.2, "auto {auto:.4} is not clearly better than off {off:.4}");
}

/// A video that opens on nobody: the first probe cannot answer, so the frames go on whole
/// and a later probe, once people are there, chooses the tiles. Deciding on the first probe
/// alone (`--tile-probe-every 0`) would leave the whole video untiled.
#[test]
fn far_away_people_after_an_empty_opening_are_tiled_by_a_later_probe() {
    let Some(dir) = common::mot15("TUD-Campus") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (video, gt) = far_clip_after(&dir, "TUD-Campus", 40, 24, tmp.path());
    let once = ap(&gt, &run_with(&video, &tmp.path().join("once"), "auto", &["--tile-probe-every", "0"]));
    let again = ap(&gt, &run_with(&video, &tmp.path().join("again"), "auto", &["--tile-probe-every", "24"]));
    let (chose_once, chose_again) = (tiles_chosen(&tmp.path().join("once")), tiles_chosen(&tmp.path().join("again")));
    eprintln!("24 black frames, then far-away TUD-Campus: AP50 probing once {once:.4} ({chose_once}), again {again:.4} ({chose_again})");
    assert!(chose_once.starts_with("whole frame only: in the first 16 frames, 0 boxes"), "{chose_once}");
    assert!(
        chose_again.starts_with("tiles 3x5, finer than the probe's for small people: in 16 frames from detector frame 24,"),
        "{chose_again}"
    );
    assert!(chose_again.ends_with("(1 earlier probe saw too few people to answer)"), "{chose_again}");
    assert!(again >= once + 0.2, "probing again {again:.4} is not clearly better than once {once:.4}");
}

fn close_up(seq: &str) {
    let Some(dir) = common::mot15(seq) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let video = dir.join(format!("{seq}.mp4"));
    let gt = read_mot(&dir.join("gt/gt.txt")).unwrap();
    let off_mot = run(&video, &tmp.path().join("off"), "off");
    let auto_mot = run(&video, &tmp.path().join("auto"), "auto");
    let (off, auto) = (ap(&gt, &off_mot), ap(&gt, &auto_mot));
    eprintln!("{seq} (640x480): person AP50 off {off:.4}, auto {auto:.4}");
    let chose = tiles_chosen(&tmp.path().join("auto"));
    eprintln!("{seq}: {chose}");
    assert!(auto >= off - 0.01, "auto {auto:.4} loses against off {off:.4}");
    assert!(auto_plan(640, 480).is_tiled(), "auto probes 640x480 in tiles too");
    if chose.starts_with("whole frame only:") {
        assert!(std::fs::read(&off_mot).unwrap() == std::fs::read(&auto_mot).unwrap(), "untiled auto differs from off");
    } else {
        assert!(chose.starts_with("tiles 2x2:"), "{chose}");
    }
}

/// What `--tiles auto` chose for the one video of the run in `out` (report.json).
fn tiles_chosen(out: &Path) -> String {
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    report["videos"][0]["tiles"].as_str().expect("report.json says what auto chose").to_string()
}

#[test]
fn close_up_tud_stadtmitte_loses_nothing_with_auto() {
    close_up("TUD-Stadtmitte");
}

#[test]
fn close_up_tud_campus_loses_nothing_with_auto() {
    close_up("TUD-Campus");
}

#[test]
fn bad_tile_settings_are_refused_with_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let video = common::from_setup(".deps/vtest.avi");
    for (flag, value, says) in [
        ("--tiles", "3", "RxC"),
        ("--tiles", "0x2", "RxC"),
        ("--tile-overlap", "0.95", "0..0.9"),
        ("--tile-probe-every", "5", "at least 16"),
    ] {
        let o = common::prelabel(&["run", video.to_str().unwrap(), "--out", out.to_str().unwrap(), flag, value, "-q"]);
        let err = common::stderr(&o);
        assert!(!o.status.success() && err.contains(says) && !err.contains("panicked"), "{flag} {value}: {err}");
    }
}
