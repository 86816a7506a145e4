//! MOT16-09 (a static 1080p camera at 30 fps, people walking into a shop, many of them hidden
//! behind others) through the whole pipeline with default settings, scored by `prelabel eval`
//! under the MOT16 rules. Issue 21's targets: MOTA 0.62, IDF1 0.68.

mod common;

use serde_json::Value;

/// MOTA, IDF1 and annotator time saved of `pred` against the sequence's ground truth, with
/// `extra` eval options.
fn scores(gt: &std::path::Path, pred: &std::path::Path, extra: &[&str]) -> (f64, f64, f64) {
    let args = [&["eval", "--gt", gt.to_str().unwrap(), "--pred", pred.to_str().unwrap(), "--json"][..], extra].concat();
    let o = common::prelabel(&args);
    assert!(o.status.success(), "prelabel {}: {}", args.join(" "), common::stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let video = &v["videos"][0];
    assert_eq!(video["protocol"], "mot16", "MOT16 ground truth is scored by its own rules");
    let f = |p: &str| video.pointer(p).and_then(Value::as_f64).unwrap();
    (f("/tracking/mota"), f("/tracking/idf1"), f("/annotator/saved"))
}

/// Measured 2026-12-06 (after `uncross` asked the colours): MOTA 0.618, IDF1 0.704, 47% of the
/// annotator's time saved; 0.604 / 0.693 before. 41% of the ground truth's boxes are people
/// less than half visible; on the others the drafts save 62% (`--min-visibility 0.5`), which is
/// what keeps this sequence under issue 21's 50%. The floors sit a little under.
#[test]
fn a_crowded_1080p_entrance_with_people_hidden_behind_others() {
    let Some(dir) = common::sequence("mot16", "MOT16-09") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = common::label_people(&dir.join("MOT16-09.mp4"), tmp.path(), &[]);
    let (gt, pred) = (dir.join("gt/gt.txt"), out.join("mot.txt"));
    let (mota, idf1, saved) = scores(&gt, &pred, &[]);
    let (v_mota, v_idf1, v_saved) = scores(&gt, &pred, &["--min-visibility", "0.5"]);
    eprintln!("MOT16-09: MOTA {mota:.4} IDF1 {idf1:.4} saved {saved:.3}; at least half visible: {v_mota:.4} {v_idf1:.4} {v_saved:.3}");
    assert!(mota >= 0.60 && idf1 >= 0.69, "MOTA {mota:.4} (floor 0.60), IDF1 {idf1:.4} (floor 0.69)");
    assert!(v_saved >= 0.58 && v_saved > saved + 0.1, "time saved on people at least half visible {v_saved:.3}, on everyone {saved:.3}");
}
