//! `prelabel eval`: takes the parsed arguments, pairs ground truth with drafts (repeated
//! `--gt`/`--pred`, or `--gt-dir`/`--pred-dir`), scores them with
//! [`prelabel::eval::report::evaluate`] and prints a table or one JSON document.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use prelabel::error::{Error, Result};
use prelabel::eval::annotator::{Costs, Params};
use prelabel::eval::report::{evaluate, EvalReport, EvalSettings, Pair, Scores};

use super::args::{EvalArgs, PairArgs};

pub(crate) fn eval(args: EvalArgs) -> Result<ExitCode> {
    for (name, v) in [("--iou", Some(args.iou)), ("--ok-iou", args.ok_iou)] {
        if let Some(v) = v.filter(|v| !(0.0..=1.0).contains(v)) {
            return Err(Error::Usage(format!("{name} {v} is outside 0..1")));
        }
    }
    let settings = EvalSettings {
        iou: args.iou,
        label: args.label.clone(),
        protocol: args.protocol,
        min_visibility: args.min_visibility,
        matching: args.matching,
        annotator: Params { keyframe_step: args.keyframe_step, ok_iou: args.ok_iou.unwrap_or(args.iou), costs: Costs::parse(&args.costs)? },
    };
    let pairs = pairs(&args.files)?;
    let report = evaluate(&pairs, &settings)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| Error::Output(e.to_string()))?);
    } else {
        print_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn pairs(args: &PairArgs) -> Result<Vec<Pair>> {
    if let (Some(gt_dir), Some(pred_dir)) = (&args.gt_dir, &args.pred_dir) {
        return dir_pairs(gt_dir, pred_dir, args.det_dir.as_deref(), &args.pred_name);
    }
    if !args.det.is_empty() && args.det.len() != args.gt.len() {
        return Err(Error::Usage(format!("give one --det per --gt (got {} --det, {} --gt)", args.det.len(), args.gt.len())));
    }
    if args.gt.is_empty() || args.gt.len() != args.pred.len() {
        return Err(Error::Usage(format!(
            "give --gt FILE --pred FILE pairs (got {} --gt, {} --pred), or --gt-dir and --pred-dir",
            args.gt.len(),
            args.pred.len()
        )));
    }
    let pair = |(n, (g, p)): (usize, (&PathBuf, &PathBuf))| Pair {
        name: name_of(p),
        gt: g.clone(),
        pred: p.clone(),
        det: args.det.get(n).cloned(),
    };
    Ok(args.gt.iter().zip(&args.pred).enumerate().map(pair).collect())
}

/// A draft file's video name: its folder (prelabel writes labels/<video>/mot.txt).
fn name_of(pred: &Path) -> String {
    let dir = pred.parent().and_then(Path::file_name);
    dir.unwrap_or(pred.as_os_str()).to_string_lossy().into_owned()
}

/// Every GT_DIR/SEQ/gt/gt.txt (any depth), sorted, with PRED_DIR/SEQ/NAME (and DET_DIR/SEQ/NAME).
fn dir_pairs(gt_dir: &Path, pred_dir: &Path, det_dir: Option<&Path>, pred_name: &str) -> Result<Vec<Pair>> {
    let mut found = Vec::new();
    let mut stack = vec![gt_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::Usage(format!("cannot read {}: {e}", dir.display())))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                let gt = p.join("gt/gt.txt");
                if gt.is_file() {
                    found.push((p, gt))
                } else {
                    stack.push(p)
                }
            }
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(Error::Usage(format!("no SEQ/gt/gt.txt under {}", gt_dir.display())));
    }
    let mut pairs = Vec::new();
    for (seq_dir, gt) in found {
        let rel: PathBuf = seq_dir.strip_prefix(gt_dir).unwrap_or(&seq_dir).to_path_buf();
        let pred = labels_of(pred_dir, &rel, pred_name);
        if !pred.is_file() {
            return Err(Error::Usage(format!("{} has ground truth but there is no {}", seq_dir.display(), pred.display())));
        }
        let det = det_dir.map(|d| labels_of(d, &rel, pred_name));
        if let Some(d) = det.as_ref().filter(|d| !d.is_file()) {
            return Err(Error::Usage(format!("{} has ground truth but there is no {}", seq_dir.display(), d.display())));
        }
        pairs.push(Pair { name: rel.to_string_lossy().into_owned(), gt, pred, det });
    }
    Ok(pairs)
}

/// DIR/SEQ/NAME, or where `prelabel run SEQ/SEQ.mp4` writes it: DIR/SEQ.mp4/NAME (the video's
/// own file name).
fn labels_of(dir: &Path, rel: &Path, name: &str) -> PathBuf {
    let plain = dir.join(rel).join(name);
    if let (false, Some(seq)) = (plain.is_file(), rel.file_name()) {
        let video_dir = |ext: &&str| {
            let mut file = seq.to_os_string();
            file.push(format!(".{ext}"));
            dir.join(rel).with_file_name(file).join(name)
        };
        if let Some(p) = prelabel::batch::VIDEO_EXTENSIONS.iter().map(video_dir).find(|p| p.is_file()) {
            return p;
        }
    }
    plain
}

fn pct(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{:.1}", v * 100.0)
    }
}

fn row(name: &str, s: &Scores) {
    let t = &s.tracking;
    println!(
        "{name:<24} {:>6} {:>6} {:>6} {:>5} {:>5} {:>6} {:>6} {:>6}",
        pct(t.mota),
        pct(t.idf1),
        pct(s.hota.hota),
        t.counts.num_switches,
        t.counts.num_fragmentations,
        pct(t.precision),
        pct(t.recall),
        pct(s.detector.ap)
    );
}

/// Where identity and boxes are lost, one line per video.
fn print_diagnostics(r: &EvalReport) {
    println!(
        "\n{:<24} {:>8} {:>7} {:>6} | {:>8} {:>5} {:>5} {:>7} | {:>6} {:>6} {:>7}",
        "video", "ids/pers", "max", "multi", "unmatch", "dup", "loose", "nothing", "missed", "never", "dropped"
    );
    let line = |name: &str, d: &prelabel::eval::diagnose::Diagnostics| {
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        println!(
            "{name:<24} {:>8.2} {:>7} {:>6} | {:>8} {:>5} {:>5} {:>7} | {:>6} {:>6} {:>7}",
            d.ids_per_person_mean,
            d.ids_per_person_max,
            d.tracks_covering_several_people,
            d.unmatched_boxes,
            d.duplicate_boxes,
            d.loose_boxes,
            d.boxes_on_nothing,
            d.missed_boxes,
            opt(d.missed_never_detected),
            opt(d.missed_dropped)
        );
    };
    for v in &r.videos {
        line(&v.pair.name, &v.scores.diagnostics);
    }
    if r.videos.len() > 1 {
        line("OVERALL", &r.overall.diagnostics);
    }
    println!("(ids/pers: draft ids per person found; multi: draft tracks on two or more people; unmatched draft boxes: duplicate, loose (IoU 0.3 to the match level), on nothing; missed people: never detected or dropped by tracking (with --det))");
    let hidden = r.settings.min_visibility.map(|v| format!(" or on people under {:.0}% visible", v * 100.0)).unwrap_or_default();
    for v in r.videos.iter().filter(|v| v.removed_on_distractors > 0) {
        println!(
            "{}: scored by {} rules, {} draft boxes on distractors{hidden} not scored",
            v.pair.name,
            v.protocol.name(),
            v.removed_on_distractors
        );
    }
}

fn print_table(r: &EvalReport) {
    println!(
        "{:<24} {:>6} {:>6} {:>6} {:>5} {:>5} {:>6} {:>6} {:>6}",
        "video", "MOTA", "IDF1", "HOTA", "IDsw", "Frag", "Prec", "Recall", "AP"
    );
    for v in &r.videos {
        row(&v.pair.name, &v.scores);
    }
    if r.videos.len() > 1 {
        row("OVERALL", &r.overall);
    }
    print_diagnostics(r);
    let a = &r.overall.annotator;
    let p = &r.settings.annotator;
    let saved = if a.saved.is_nan() { "nothing to label".into() } else { format!("{:.0}% saved", a.saved * 100.0) };
    println!(
        "(percent; matches at IoU {}; HOTA averages IoU 0.05 to 0.95; AP is the detector's at that IoU)\nannotator time: drafts {:.2} h, from scratch {:.2} h, {saved} (K={}, costs in s: {})",
        r.settings.iou, a.drafts_hours, a.scratch_hours, p.keyframe_step, p.costs
    );
}
