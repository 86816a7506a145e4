//! Tracking quality on real footage: the whole binary on the MOTChallenge sequences in
//! ../shared (class person), scored against their ground truth with py-motmetrics through
//! scripts/mot_eval.py (MOTA, IDF1, id switches at IoU 0.5).
//!
//! Floors for MOTA, IDF1, precision and annotator time saved sit a little under what the
//! defaults reach, and above what the build before the refine stage reached, so losing any of
//! the gains fails here. With stride 7 the detector sees one frame in seven and everything
//! else is interpolated: if the interpolation or the linking broke, recall would fall to about
//! 1/7 of the boxes and MOTA near or below 0.15.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs prelabel on `seq` and returns the output folder of that video (kept alive by `tmp`).
fn run(tmp: &Path, seq_dir: &Path, seq: &str, stride: u32, batch: u32) -> PathBuf {
    let video = seq_dir.join(format!("{seq}.mp4"));
    let out = tmp.join(format!("s{stride}b{batch}"));
    let (stride, batch) = (stride.to_string(), batch.to_string());
    // The SSD: these floors hold the tracker's and refinement's gains on the detector they were
    // measured with; the default detector's tracking floors are in tests/nanodet_mot15.rs.
    common::label_people(&video, &out, &["--stride", &stride, "--batch-size", &batch, "--model", "ssd_mobilenet_v2_coco"])
}

/// MOTA, IDF1, id switches from scripts/mot_eval.py.
fn metrics(gt: &Path, pred: &Path) -> serde_json::Value {
    // motmetrics lives with the other label importers (`scripts/setup.sh --tests`).
    let python = common::from_setup(".deps/venv-import/bin/python");
    let o = Command::new(python).arg(common::repo().join("scripts/mot_eval.py")).arg(gt).arg(pred).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "mot_eval.py failed (motmetrics missing? run scripts/setup.sh --tests):\n{err}");
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

/// Every track has unique (frame, id) rows over an unbroken frame range, and every frame of
/// the video is within 1..=frames. Returns the number of tracks.
fn check_dense(mot: &Path, frames: u64) -> usize {
    let rows = prelabel::eval::read_mot(mot).unwrap();
    let mut by_id: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for r in &rows {
        assert!(r.id >= 1 && (1..=frames).contains(&r.frame), "{r:?}");
        assert!(seen.insert((r.frame, r.id)), "two boxes of track {} in frame {}", r.id, r.frame);
        by_id.entry(r.id).or_default().push(r.frame);
    }
    for (id, mut f) in by_id.clone() {
        f.sort_unstable();
        assert_eq!(f.last().unwrap() - f[0] + 1, f.len() as u64, "track {id} has gaps");
    }
    // ids are 1..n in order of first appearance
    let ids: Vec<i64> = by_id.keys().copied().collect();
    assert_eq!(ids, (1..=ids.len() as i64).collect::<Vec<_>>());
    ids.len()
}

/// Least MOTA, IDF1, precision (py-motmetrics) and share of annotator time saved
/// (`prelabel eval`) a run must reach.
struct Floors {
    mota: f64,
    idf1: f64,
    precision: f64,
    saved: f64,
}

fn score(seq: &str, stride: u32, floors: Floors) {
    let Some(dir) = common::mot15(seq) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &dir, seq, stride, 1);
    let frames = std::fs::read_to_string(dir.join("seqinfo.ini")).unwrap();
    let frames: u64 = frames.lines().find_map(|l| l.strip_prefix("seqLength=")).unwrap().trim().parse().unwrap();
    let tracks = check_dense(&out.join("mot.txt"), frames);
    let m = metrics(&dir.join("gt/gt.txt"), &out.join("mot.txt"));
    let (mota, idf1, precision) = (m["mota"].as_f64().unwrap(), m["idf1"].as_f64().unwrap(), m["precision"].as_f64().unwrap());
    let saved = annotator_saved(&dir.join("gt/gt.txt"), &out.join("mot.txt"));
    eprintln!(
        "{seq} --stride {stride}: MOTA {mota:.4} IDF1 {idf1:.4} precision {precision:.4} IDs {} ({tracks} tracks), annotator time saved {:.1}%",
        m["num_switches"],
        100.0 * saved
    );
    assert!(mota >= floors.mota, "{seq} --stride {stride}: MOTA {mota:.4} < {}", floors.mota);
    assert!(idf1 >= floors.idf1, "{seq} --stride {stride}: IDF1 {idf1:.4} < {}", floors.idf1);
    assert!(precision >= floors.precision, "{seq} --stride {stride}: precision {precision:.4} < {}", floors.precision);
    assert!(saved >= floors.saved, "{seq} --stride {stride}: annotator time saved {saved:.3} < {}", floors.saved);
}

/// Share of annotator time the drafts save against keyframing from scratch (`prelabel eval`).
fn annotator_saved(gt: &Path, pred: &Path) -> f64 {
    let o = common::prelabel(&["eval", "--gt", gt.to_str().unwrap(), "--pred", pred.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "prelabel eval: {}", common::stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["videos"][0]["annotator"]["saved"].as_f64().unwrap()
}

// Floors a little under what the defaults reach (measured: notes of issue 10 and docs/src/quality.md).
// Before the refine stage and the appearance cue the same runs scored MOTA 0.727 / 0.738,
// IDF1 0.662 / 0.779, precision 0.964 / 0.918, annotator time saved 49% / 50%.

#[test]
fn tud_stadtmitte_stride_1() {
    // IDF1 0.849 with the exit step, 0.773 without it (0.745 without uncross too): the floor
    // holds their gain.
    score("TUD-Stadtmitte", 1, Floors { mota: 0.75, idf1: 0.82, precision: 0.95, saved: 0.50 });
}

#[test]
fn tud_stadtmitte_stride_7() {
    score("TUD-Stadtmitte", 7, Floors { mota: 0.62, idf1: 0.70, precision: 0.90, saved: 0.40 });
}

#[test]
fn tud_campus_stride_1() {
    score("TUD-Campus", 1, Floors { mota: 0.80, idf1: 0.85, precision: 0.95, saved: 0.55 });
}

#[test]
fn tud_campus_stride_7() {
    score("TUD-Campus", 7, Floors { mota: 0.50, idf1: 0.55, precision: 0.85, saved: 0.35 });
}

/// The tracker sees frames one at a time whatever the batch: batch 1 and batch 4 give the same
/// files, byte for byte (stride 3, so stride and the last-frame rule are covered too).
#[test]
fn batch_size_does_not_change_tracks() {
    let seq = "TUD-Campus";
    let Some(dir) = common::mot15(seq) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let a = run(tmp.path(), &dir, seq, 3, 1);
    let b = run(tmp.path(), &dir, seq, 3, 4);
    for f in ["mot.txt", "coco.json", "cvat.xml"] {
        let (x, y) = (std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap());
        assert!(x == y, "{f} differs between --batch-size 1 and 4");
    }
    // the last frame (70, not a multiple of 3) went to the detector: some track reaches it
    let rows = prelabel::eval::read_mot(&a.join("mot.txt")).unwrap();
    assert_eq!(rows.iter().map(|r| r.frame).max(), Some(71));
}
