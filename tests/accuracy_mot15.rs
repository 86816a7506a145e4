//! Draft quality on real footage: the bundled detector through the whole binary on the
//! MOTChallenge sequences in ../shared, scored against their ground truth (person AP at IoU
//! 0.5, VOC all-point, detections with score >= 0.05, `--no-track`: the detector alone). The same model scored 0.837 and 0.804
//! in Python onnxruntime with a plain bilinear resize.

mod common;

use prelabel::eval::{average_precision, read_mot};

fn person_ap(seq: &str) -> Option<f64> {
    let dir = common::mot15(seq)?;
    let tmp = tempfile::tempdir().unwrap();
    let video = dir.join(format!("{seq}.mp4"));
    let out = tmp.path().join("out");
    common::label_people(&video, &out, &["--score-threshold", "0.05", "--no-track"]);
    let gt = read_mot(&dir.join("gt/gt.txt")).unwrap();
    let pred = read_mot(&out.join(format!("{seq}.mp4")).join("mot.txt")).unwrap();
    // Every box belongs to a track (ids from 1); frames count from 1.
    assert!(pred.iter().all(|p| p.id >= 1 && p.frame >= 1));
    let r = average_precision(&gt, &pred, 0.5);
    eprintln!("{seq}: person AP50 {:.4}, recall {:.3} ({} detections)", r.ap, r.recall, r.detections);
    Some(r.ap)
}

#[test]
fn tud_stadtmitte_person_ap50_at_least_0_80() {
    if let Some(ap) = person_ap("TUD-Stadtmitte") {
        assert!(ap >= 0.80, "AP50 {ap:.4} < 0.80");
    }
}

#[test]
fn tud_campus_person_ap50_at_least_0_75() {
    if let Some(ap) = person_ap("TUD-Campus") {
        assert!(ap >= 0.75, "AP50 {ap:.4} < 0.75");
    }
}
