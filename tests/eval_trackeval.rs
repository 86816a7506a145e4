//! `prelabel eval` against TrackEval's own MOTChallenge evaluation (scripts/trackeval_mot.py,
//! PyPI `trackeval` 1.3.0 in the importers venv), on the ground truth of all six shared
//! sequences, each scored by its benchmark's rules (MOT15; MOT16 and MOT20 with the distractor
//! step). The drafts are made from the ground truth: jittered, dropped, restarted and swapped
//! tracks, boxes on static people, distractors, reflections and occluders, and false boxes, so
//! that every part of the protocol changes the result. MOTA and IDF1 must agree within 0.001,
//! HOTA within 0.005, and the false positives and misses exactly.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Drafts made from the ground truth at `gt` (see the module comment), as MOT text.
fn drafts_from(gt: &Path, seed: u64) -> (String, u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let text = std::fs::read_to_string(gt).unwrap();
    let mut rows: Vec<Vec<f64>> =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.split(',').map(|v| v.trim().parse().unwrap()).collect()).collect();
    rows.sort_by(|a, b| (a[0], a[1]).partial_cmp(&(b[0], b[1])).unwrap());
    let frames = rows.iter().map(|r| r[0] as u64).max().unwrap();
    let mut out = String::new();
    let mut restarted = std::collections::HashMap::<i64, i64>::new();
    let mut next_id = 100_000i64;
    for r in &rows {
        let class = if r.len() == 9 { r[7] as u32 } else { 1 };
        let keep = match class {
            1 => 0.85,
            2 | 7 | 8 | 12 => 0.6,
            _ => 0.1,
        };
        if rng.f64() >= keep {
            continue;
        }
        // People 3 and 4, 13 and 14, ... swap draft ids from the middle on (ids stay unique).
        let mut base = r[1] as i64;
        if r[0] as u64 > frames / 2 {
            base += match base % 10 {
                3 => 1,
                4 => -1,
                _ => 0,
            };
        }
        if class == 1 && rng.f64() < 0.01 {
            restarted.insert(base, next_id); // the tracker loses and restarts the person
            next_id += 1;
        }
        let id = *restarted.get(&base).unwrap_or(&base);
        let j = if rng.f64() < 0.15 { 0.3 } else { 0.05 };
        let jit = |rng: &mut fastrand::Rng, size: f64| (rng.f64() - 0.5) * 2.0 * j * size;
        let (w, h) = (r[4], r[5]);
        let (x, y) = (r[2] + jit(&mut rng, w), r[3] + jit(&mut rng, h));
        let (w, h) = ((w + jit(&mut rng, w)).max(1.0), (h + jit(&mut rng, h)).max(1.0));
        writeln!(out, "{},{id},{x:.2},{y:.2},{w:.2},{h:.2},0.8,-1,-1,-1", r[0]).unwrap();
    }
    for n in 0..frames / 2 {
        let f = rng.u64(1..=frames);
        writeln!(out, "{f},{},{:.1},{:.1},40,90,0.3,-1,-1,-1", 900_000 + n, rng.f64() * 1200.0, rng.f64() * 300.0).unwrap();
    }
    (out, frames)
}

fn compare(bench: &str, seq: &str, benchmark: &str) {
    let Some(dir) = common::sequence(bench, seq) else { return };
    let gt = dir.join("gt/gt.txt");
    let tmp = tempfile::tempdir().unwrap();
    let (drafts, gt_frames) = drafts_from(&gt, 7);
    let pred = tmp.path().join("mot.txt");
    std::fs::write(&pred, drafts).unwrap();
    let frames = seq_length(&dir).unwrap_or(gt_frames);

    let o = common::prelabel(&["eval", "--gt", gt.to_str().unwrap(), "--pred", pred.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "prelabel eval: {}", common::stderr(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let video = &doc["videos"][0];
    assert_eq!(video["protocol"], benchmark.to_ascii_lowercase(), "{seq}: the file's benchmark");

    let python = common::from_setup(".deps/venv-import/bin/python");
    let o = Command::new(python)
        .arg(common::repo().join("scripts/trackeval_mot.py"))
        .args(["--benchmark", benchmark, "--frames", &frames.to_string()])
        .arg("--gt")
        .arg(&gt)
        .arg("--pred")
        .arg(&pred)
        .output()
        .unwrap();
    assert!(o.status.success(), "trackeval_mot.py failed (run scripts/setup.sh --tests):\n{}", common::stderr(&o));
    let te: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();

    let t = &video["tracking"];
    let ours = |k: &str| t[k].as_f64().unwrap();
    eprintln!(
        "{seq}: prelabel MOTA {:.4} IDF1 {:.4} HOTA {:.4}, removed on distractors {}; TrackEval {te}",
        ours("mota"),
        ours("idf1"),
        video["hota"]["hota"],
        video["removed_on_distractors"]
    );
    for (k, tol) in [("mota", 0.001), ("idf1", 0.001)] {
        let (a, b) = (ours(k), te[k].as_f64().unwrap());
        assert!((a - b).abs() <= tol, "{seq} {k}: prelabel {a}, TrackEval {b}");
    }
    let (a, b) = (video["hota"]["hota"].as_f64().unwrap(), te["hota"].as_f64().unwrap());
    assert!((a - b).abs() <= 0.005, "{seq} HOTA: prelabel {a}, TrackEval {b}");
    for k in ["num_false_positives", "num_misses", "num_objects", "num_predictions"] {
        assert_eq!(t[k], te[k], "{seq} {k}");
    }
    let removed = video["removed_on_distractors"].as_u64().unwrap();
    assert_eq!(removed > 0, benchmark != "MOT15", "{seq}: drafts on distractors removed only under MOT16/20 rules");
}

/// seqLength from the sequence's seqinfo.ini.
fn seq_length(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("seqinfo.ini")).ok()?;
    text.lines().find_map(|l| l.trim().strip_prefix("seqLength=")).and_then(|v| v.trim().parse().ok())
}

#[test]
fn tud_campus_equals_trackeval() {
    compare("mot15", "TUD-Campus", "MOT15");
}

#[test]
fn tud_stadtmitte_equals_trackeval() {
    compare("mot15", "TUD-Stadtmitte", "MOT15");
}

#[test]
fn eth_sunnyday_equals_trackeval() {
    compare("mot15", "ETH-Sunnyday", "MOT15");
}

#[test]
fn kitti_17_equals_trackeval() {
    compare("mot15", "KITTI-17", "MOT15");
}

#[test]
fn mot16_09_equals_trackeval() {
    compare("mot16", "MOT16-09", "MOT16");
}

#[test]
fn mot20_01_equals_trackeval() {
    compare("mot20", "MOT20-01", "MOT20");
}
