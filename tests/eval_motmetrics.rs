//! `prelabel eval --json` against py-motmetrics 1.4.0 (scripts/mot_eval.py from the importers
//! venv that `scripts/setup.sh --tests` makes): hand-built MOT files with the cases that trip
//! trackers' scorers (id switches, people crossing, gaps, duplicates, false and missed
//! tracks), 20 random sequences with jittered, dropped and swapped boxes, and a real run on
//! TUD-Campus when ../shared has it. Ratios must agree within 0.001, counts exactly; HOTA and
//! its parts must agree with TrackEval 1.3.0 (called by the same script) within 0.001. The
//! same run's cvat.xml and coco.json must score as its mot.txt does.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// (frame, id, x, y, w, h, conf)
type Row = (u64, i64, f64, f64, f64, f64, f64);

fn write_mot(path: &Path, rows: &[Row]) {
    let mut s = String::new();
    for r in rows {
        writeln!(s, "{},{},{:.2},{:.2},{:.2},{:.2},{},-1,-1,-1", r.0, r.1, r.2, r.3, r.4, r.5, r.6).unwrap();
    }
    std::fs::write(path, s).unwrap();
}

/// `prelabel eval --json --matching motmetrics` of one pair: the whole document.
fn ours(gt: &Path, pred: &Path) -> Value {
    let o =
        common::prelabel(&["eval", "--gt", gt.to_str().unwrap(), "--pred", pred.to_str().unwrap(), "--json", "--matching", "motmetrics"]);
    assert!(o.status.success(), "prelabel eval: {}", common::stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn theirs(gt: &Path, pred: &Path) -> Value {
    let python = common::from_setup(".deps/venv-import/bin/python");
    let o = Command::new(python).arg(common::repo().join("scripts/mot_eval.py")).arg(gt).arg(pred).output().unwrap();
    assert!(o.status.success(), "mot_eval.py failed (run scripts/setup.sh --tests):\n{}", common::stderr(&o));
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap()
}

const RATIOS: [&str; 8] = ["mota", "motp", "idf1", "idp", "idr", "precision", "recall", "mota"];
const COUNTS: [&str; 10] = [
    "num_switches",
    "num_false_positives",
    "num_misses",
    "num_fragmentations",
    "num_objects",
    "num_predictions",
    "num_unique_objects",
    "mostly_tracked",
    "partially_tracked",
    "mostly_lost",
];

/// Asserts our tracking scores equal motmetrics' ones; returns ours.
fn compare(case: &str, gt: &Path, pred: &Path) -> Value {
    let doc = ours(gt, pred);
    let mine = &doc["videos"][0]["tracking"];
    let mm = theirs(gt, pred);
    for k in RATIOS {
        let (a, b) = (mine[k].as_f64(), mm[k].as_f64());
        // motmetrics gives NaN for 0/0, which its JSON prints as NaN and we as null.
        let same = match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 0.001,
            (None, None) => true,
            (None, Some(b)) => b.is_nan(),
            _ => false,
        };
        assert!(same, "{case}: {k}: prelabel {a:?}, motmetrics {b:?}\nprelabel {mine}\nmotmetrics {mm}");
    }
    for k in COUNTS {
        assert_eq!(mine[k], mm[k], "{case}: {k}\nprelabel {mine}\nmotmetrics {mm}");
    }
    // HOTA against TrackEval, on the same files.
    let hota = &doc["videos"][0]["hota"];
    assert!(mm.get("hota").is_some(), "scripts/mot_eval.py found no TrackEval (run scripts/setup.sh --tests)");
    for k in HOTA {
        let (a, b) = (hota[k].as_f64().unwrap(), mm[if k == "hota" { k.to_string() } else { format!("hota_{k}") }].as_f64().unwrap());
        assert!((a - b).abs() <= 0.001, "{case}: HOTA {k}: prelabel {a}, TrackEval {b}\nprelabel {hota}\nTrackEval {mm}");
    }
    doc
}

const HOTA: [&str; 8] = ["hota", "det_a", "ass_a", "det_re", "det_pr", "ass_re", "ass_pr", "loc_a"];

/// A person walking: 40x80 box at (x0 + vx t, y0).
fn walk(id: i64, frames: impl IntoIterator<Item = u64>, x0: f64, vx: f64, y0: f64) -> Vec<Row> {
    frames.into_iter().map(|f| (f, id, x0 + vx * f as f64, y0, 40.0, 80.0, 1.0)).collect()
}

fn relabel(rows: &[Row], id: i64) -> Vec<Row> {
    rows.iter().map(|r| (r.0, id, r.2 + 1.3, r.3 - 0.7, r.4, r.5, 0.9)).collect()
}

#[test]
fn hand_built_cases_match_motmetrics() {
    let tmp = tempfile::tempdir().unwrap();
    let a = walk(1, 1..=30, 10.0, 3.0, 50.0);
    let b = walk(2, 1..=30, 200.0, -3.0, 52.0); // crosses a near frame 27
    let c = walk(3, (1..=10).chain(18..=30), 400.0, 0.5, 300.0); // a gap
    let gt = [&a[..], &b, &c, &[(5, 4, 600.0, 10.0, 30.0, 30.0, 0.0)]].concat(); // one not scored

    let cases: Vec<(&str, Vec<Row>)> = vec![
        ("perfect", [relabel(&a, 11), relabel(&b, 12), relabel(&c, 13)].concat()),
        // Track of a changes id at frame 15: one switch.
        ("id switch", [relabel(&a[..14], 11), relabel(&a[14..], 21), relabel(&b, 12), relabel(&c, 13)].concat()),
        // After crossing, the drafts swap people.
        ("crossing swap", {
            let mut p = [relabel(&a[..27], 11), relabel(&b[..27], 12), relabel(&c, 13)].concat();
            p.extend(relabel(&a[27..], 12));
            p.extend(relabel(&b[27..], 11));
            p
        }),
        // The draft of c bridges its gap with boxes where nobody is, and misses frames 5-7.
        ("gaps", {
            let bridged = walk(13, (1..=4).chain(8..=30), 401.0, 0.5, 300.0);
            [relabel(&a, 11), relabel(&b, 12), bridged].concat()
        }),
        // Two drafts on a (duplicates), one false track, b missed entirely.
        ("duplicates, false and missed tracks", {
            let dup: Vec<Row> = a.iter().map(|r| (r.0, 31, r.2 + 6.0, r.3 + 2.0, 40.0, 80.0, 0.4)).collect();
            let ghost = walk(32, 3..=20, 700.0, 0.0, 400.0);
            [relabel(&a, 11), dup, ghost, relabel(&c, 13)].concat()
        }),
        // Loose boxes: some frames well below the threshold, fragmenting a.
        ("fragments", {
            a.iter().map(|r| (r.0, 11, r.2 + if r.0 % 9 < 3 { 30.0 } else { 2.0 }, r.3, 40.0, 80.0, 0.8)).chain(relabel(&b, 12)).collect()
        }),
    ];
    let gt_path = tmp.path().join("gt.txt");
    write_mot(&gt_path, &gt);
    for (name, pred) in &cases {
        let p = tmp.path().join(format!("{}.txt", name.replace([' ', ','], "_")));
        write_mot(&p, pred);
        compare(name, &gt_path, &p);
    }
}

#[test]
fn random_sequences_match_motmetrics() {
    let tmp = tempfile::tempdir().unwrap();
    for seed in 0..20u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let frames = rng.u64(20..60);
        let people = rng.usize(1..8);
        let (mut gt, mut pred) = (Vec::new(), Vec::new());
        let mut next_id = 100;
        for person in 0..people {
            let (start, len) = (rng.u64(1..frames), rng.u64(5..40));
            let (mut x, y) = (rng.f64() * 400.0, rng.f64() * 200.0);
            let (w, h, vx) = (20.0 + rng.f64() * 40.0, 50.0 + rng.f64() * 60.0, rng.f64() * 8.0 - 4.0);
            let mut draft_id = next_id;
            next_id += 1;
            for f in start..(start + len).min(frames + 1) {
                x += vx;
                let gap = rng.f64() < 0.05;
                let conf = if rng.f64() < 0.03 { 0.0 } else { 1.0 };
                if !gap {
                    gt.push((f, person as i64 + 1, x, y, w, h, conf));
                }
                if rng.f64() < 0.04 {
                    draft_id = next_id; // the tracker loses and restarts the person
                    next_id += 1;
                }
                if rng.f64() < 0.1 {
                    continue; // dropped
                }
                let j = if rng.f64() < 0.1 { 15.0 } else { 3.0 };
                let jit = |r: &mut fastrand::Rng| (r.f64() - 0.5) * 2.0 * j;
                pred.push((f, draft_id, x + jit(&mut rng), y + jit(&mut rng), w + jit(&mut rng), h + jit(&mut rng), 0.5));
                if rng.f64() < 0.03 {
                    pred.push((f, next_id + 1000, x + jit(&mut rng), y + jit(&mut rng), w, h, 0.3));
                    // duplicate
                }
            }
        }
        // Swap two drafts' ids from some frame on (people crossing badly).
        if people > 1 {
            let from = rng.u64(1..=frames);
            let (p, q) = (100, 101);
            for r in pred.iter_mut().filter(|r| r.0 >= from) {
                r.1 = if r.1 == p {
                    q
                } else if r.1 == q {
                    p
                } else {
                    r.1
                };
            }
        }
        for _ in 0..rng.usize(0..10) {
            pred.push((rng.u64(1..=frames), 9999 + rng.i64(0..1_000_000), rng.f64() * 500.0, rng.f64() * 300.0, 30.0, 60.0, 0.2));
            // false boxes
        }
        gt.sort_by_key(|r| (r.0, r.1));
        pred.sort_by_key(|r| r.0);
        let (g, p) = (tmp.path().join(format!("gt{seed}.txt")), tmp.path().join(format!("pred{seed}.txt")));
        write_mot(&g, &gt);
        write_mot(&p, &pred);
        compare(&format!("seed {seed}"), &g, &p);
    }
}

#[test]
fn tud_campus_run_matches_motmetrics_in_every_format() {
    let Some(dir) = common::mot15("TUD-Campus") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = common::label_people(&dir.join("TUD-Campus.mp4"), tmp.path(), &[]);
    let gt = dir.join("gt/gt.txt");
    let doc = compare("TUD-Campus", &gt, &out.join("mot.txt"));
    let mine = &doc["videos"][0]["tracking"];
    let mm = theirs(&gt, &out.join("mot.txt"));
    eprintln!("TUD-Campus prelabel:   {mine}\nTUD-Campus motmetrics: {mm}");
    eprintln!("detector {}\nannotator {}", doc["overall"]["detector"], doc["overall"]["annotator"]);
    assert!(doc["overall"]["detector"]["ap"].as_f64().unwrap() > 0.5);

    // COCO holds every box as mot.txt does: the same scores. CVAT holds keyframes only, and
    // interpolating them reproduces each box within the keyframe IoU (0.9): nearly the same.
    let coco = ours(&gt, &out.join("coco.json"));
    assert_eq!(coco["videos"][0]["tracking"], *mine);
    let cvat = ours(&gt, &out.join("cvat.xml"));
    let c = &cvat["videos"][0]["tracking"];
    eprintln!("TUD-Campus from cvat.xml: {c}");
    assert_eq!(c["num_predictions"], mine["num_predictions"]);
    assert_eq!(c["num_objects"], mine["num_objects"]);
    for k in ["mota", "idf1"] {
        assert!((c[k].as_f64().unwrap() - mine[k].as_f64().unwrap()).abs() < 0.02, "{k}: cvat {c}\nmot {mine}");
    }
}
