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
        return dir_pairs(gt_dir, pred_dir, &args.pred_name);
    }
    if args.gt.is_empty() || args.gt.len() != args.pred.len() {
        return Err(Error::Usage(format!(
            "give --gt FILE --pred FILE pairs (got {} --gt, {} --pred), or --gt-dir and --pred-dir",
            args.gt.len(),
            args.pred.len()
        )));
    }
    Ok(args.gt.iter().zip(&args.pred).map(|(g, p)| Pair { name: name_of(p), gt: g.clone(), pred: p.clone() }).collect())
}

/// A draft file's video name: its folder (prelabel writes labels/<video>/mot.txt).
fn name_of(pred: &Path) -> String {
    let dir = pred.parent().and_then(Path::file_name);
    dir.unwrap_or(pred.as_os_str()).to_string_lossy().into_owned()
}

/// Every GT_DIR/SEQ/gt/gt.txt (any depth), sorted, with PRED_DIR/SEQ/NAME.
fn dir_pairs(gt_dir: &Path, pred_dir: &Path, pred_name: &str) -> Result<Vec<Pair>> {
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
        let mut pred = pred_dir.join(&rel).join(pred_name);
        // `prelabel run SEQ/SEQ.mp4` writes PRED_DIR/SEQ.mp4/: the video's own file name.
        if let (false, Some(seq)) = (pred.is_file(), rel.file_name()) {
            let video_dir = |ext: &&str| {
                let mut name = seq.to_os_string();
                name.push(format!(".{ext}"));
                pred_dir.join(&rel).with_file_name(name).join(pred_name)
            };
            if let Some(p) = prelabel::batch::VIDEO_EXTENSIONS.iter().map(video_dir).find(|p| p.is_file()) {
                pred = p;
            }
        }
        if !pred.is_file() {
            return Err(Error::Usage(format!("{} has ground truth but there is no {}", seq_dir.display(), pred.display())));
        }
        pairs.push(Pair { name: rel.to_string_lossy().into_owned(), gt, pred });
    }
    Ok(pairs)
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
    let a = &r.overall.annotator;
    let p = &r.settings.annotator;
    let saved = if a.saved.is_nan() { "nothing to label".into() } else { format!("{:.0}% saved", a.saved * 100.0) };
    println!(
        "(percent; matches at IoU {}; HOTA averages IoU 0.05 to 0.95; AP is the detector's at that IoU)\nannotator time: drafts {:.2} h, from scratch {:.2} h, {saved} (K={}, costs in s: {})",
        r.settings.iou, a.drafts_hours, a.scratch_hours, p.keyframe_step, p.costs
    );
}
