//! `prelabel calibrate` on real drafts, when ../shared has the MOTChallenge data: labels
//! TUD-Campus and TUD-Stadtmitte (people, every track kept), calibrates on one and checks the
//! levels on the other, both ways. Asserts only what must hold: the printed `--thresholds`
//! are accepted by `prelabel run`, and on the calibration sequence itself the accepted band
//! meets the target precision (when some level does). The held-out numbers are printed
//! (`cargo test --test calibrate -- --nocapture`), not asserted: two short sequences say
//! little about the next video.

mod common;

use std::path::Path;

use serde_json::Value;

fn calibrate(args: &[&str]) -> Value {
    let o = common::prelabel(&[&["calibrate", "--json"][..], args].concat());
    assert!(o.status.success(), "prelabel calibrate {}: {}", args.join(" "), common::stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn gt(seq_dir: &Path) -> String {
    seq_dir.join("gt/gt.txt").to_str().unwrap().to_string()
}

#[test]
fn levels_learned_on_one_sequence_hold_on_the_other() {
    let (Some(campus), Some(stadt)) = (common::mot15("TUD-Campus"), common::mot15("TUD-Stadtmitte")) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let drafts = tmp.path().join("drafts");
    let video = |d: &Path| d.join(format!("{}.mp4", d.file_name().unwrap().to_str().unwrap()));
    let out_campus = common::label_people(&video(&campus), &drafts, &[]);
    let out_stadt = common::label_people(&video(&stadt), &drafts, &[]);
    let seqs = [(&campus, &out_campus), (&stadt, &out_stadt)];
    for (cal, held) in [(0, 1), (1, 0)] {
        let ((cal_dir, cal_out), (held_dir, held_out)) = (seqs[cal], seqs[held]);
        let name = |d: &Path| d.file_name().unwrap().to_str().unwrap().to_string();
        let cal_pred = cal_out.join("coco.json");
        let c = calibrate(&["--gt", &gt(cal_dir), "--pred", cal_pred.to_str().unwrap()]);
        let line = c["thresholds"].as_str().unwrap();
        let spec = line.strip_prefix("--thresholds ").unwrap();
        let class = &c["classes"][0];
        assert_eq!(class["score_source"][0].as_str().unwrap().split(' ').next(), Some("per-track"));
        if class["target_met"].as_bool().unwrap() {
            let p = class["accepted_precision"].as_f64().unwrap();
            assert!(p >= 0.95, "accepted precision {p} on the calibration sequence itself");
        } else {
            assert_eq!(class["accept"].as_f64(), Some(1.0));
        }
        // The levels as prelabel run takes them.
        let routed =
            common::label_people(&video(held_dir), &tmp.path().join(format!("routed-{held}")), &["--thresholds", spec, "--formats", "mot"]);
        let review: Value = serde_json::from_str(&std::fs::read_to_string(routed.join("review.json")).unwrap()).unwrap();
        // On the held-out sequence.
        let h = calibrate(&["--gt", &gt(held_dir), "--pred", held_out.join("coco.json").to_str().unwrap(), "--thresholds", spec]);
        let hc = &h["classes"][0];
        let (b, cb) = (&hc["band"], &class["band"]);
        eprintln!(
            "calibrated on {} ({} tracks, {} correct): {line}; accepted {:.1}% at precision {:.1}%\n  \
             held out {} ({} tracks, {} correct): accepted {:.1}% at precision {}, review {:.1}%, dropped {:.1}% ({} correct lost); \
             run with them: {}",
            name(cal_dir),
            cb["tracks"],
            cb["correct"],
            class["accepted_share"].as_f64().unwrap() * 100.0,
            class["accepted_precision"].as_f64().map_or(f64::NAN, |v| v * 100.0),
            name(held_dir),
            b["tracks"],
            b["correct"],
            hc["accepted_share"].as_f64().unwrap_or(f64::NAN) * 100.0,
            hc["accepted_precision"].as_f64().map_or("-".into(), |v| format!("{:.1}%", v * 100.0)),
            hc["review_share"].as_f64().unwrap_or(f64::NAN) * 100.0,
            hc["dropped_share"].as_f64().unwrap_or(f64::NAN) * 100.0,
            b["dropped_correct"],
            review["counts"],
        );
    }
}

#[test]
fn usage_errors() {
    let o = common::prelabel(&["calibrate", "--gt", "a/gt/gt.txt"]);
    assert!(!o.status.success());
    let o = common::prelabel(&["calibrate", "--gt", "a.txt", "--pred", "b.txt", "--label", "person,car"]);
    assert!(common::stderr(&o).contains("one class at a time"), "{}", common::stderr(&o));
    let o = common::prelabel(&["calibrate", "--gt", "a.txt", "--pred", "b.txt", "--thresholds", "car=0.5"]);
    assert!(common::stderr(&o).contains("not among --label"), "{}", common::stderr(&o));
    let o = common::prelabel(&["calibrate", "--gt", "a.txt", "--pred", "b.txt", "--max-lost", "1"]);
    assert!(common::stderr(&o).contains("--max-lost"), "{}", common::stderr(&o));
}
