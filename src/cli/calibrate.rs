//! `prelabel calibrate`: takes the parsed arguments, pairs corrected ground truth with drafts
//! as `prelabel eval` does ([`super::eval::pairs`]), judges every draft track per class
//! ([`prelabel::eval::calibrate::judge_files`]), pools the tracks of all videos, and either
//! picks accept and drop levels ([`prelabel::eval::calibrate::choose`]) or reports what given
//! `--thresholds` do; prints `--thresholds ...` for `prelabel run` and a table, or JSON.

use std::process::ExitCode;

use prelabel::error::{Error, Result};
use prelabel::eval::calibrate::{bands, choose, judge_files, Band, Calibration};
use prelabel::eval::report::is_mot;
use prelabel::route::{DEFAULT_ACCEPT, DEFAULT_DROP};
use serde::Serialize;

use super::args::CalibrateArgs;
use super::calibrate_profile::{check_profile, learn_profile, write_profile, ClassParts};
use super::eval::pairs;

#[derive(Serialize)]
struct VideoBand {
    video: String,
    #[serde(flatten)]
    band: Band,
}

#[derive(Serialize)]
struct ClassReport {
    label: String,
    /// Chosen (or, with --thresholds, given) levels and what they do to all videos' tracks.
    #[serde(flatten)]
    levels: Calibration,
    chosen: bool,
    accepted_share: f64,
    accepted_precision: f64,
    review_share: f64,
    dropped_share: f64,
    score_source: Vec<&'static str>,
    videos: Vec<VideoBand>,
    /// The drop level that loses no correct track (for --profile).
    #[serde(skip)]
    safe_drop: f64,
}

#[derive(Serialize)]
struct Report {
    /// The line to give `prelabel run`.
    thresholds: String,
    iou: f32,
    target_precision: f64,
    max_lost: f64,
    correct_rule: &'static str,
    classes: Vec<ClassReport>,
    /// With --profile or --check: the calibration profile per class and what each part does.
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<Vec<ClassParts>>,
}

const CORRECT_RULE: &str = "at least half of the draft track's boxes matched (CLEAR) to one ground-truth track";

pub(crate) fn calibrate(args: CalibrateArgs) -> Result<ExitCode> {
    let share = |name: &str, v: f64, top_open: bool| {
        let ok = v >= 0.0 && if top_open { v < 1.0 } else { v <= 1.0 };
        if ok {
            Ok(())
        } else {
            Err(Error::Usage(format!("{name} {v} is outside 0..1")))
        }
    };
    share("--iou", args.iou as f64, false)?;
    share("--target-precision", args.target_precision, false)?;
    share("--max-lost", args.max_lost, true)?;
    let labels: Vec<String> = args.label.iter().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    if labels.is_empty() {
        return Err(Error::Usage("--label: give at least one class".into()));
    }
    let given = parse_levels(&args.thresholds, &labels)?;
    // A bad profile to check is reported before any label file is read.
    if let Some(path) = &args.check {
        prelabel::refine::profile::Profile::load(path).map_err(|e| Error::Usage(e.to_string().replacen("--calibration", "--check", 1)))?;
    }
    let pairs = pairs(&args.files)?;
    if labels.len() > 1 {
        if let Some(p) = pairs.iter().flat_map(|p| [&p.gt, &p.pred]).find(|p| is_mot(p)) {
            return Err(Error::Usage(format!(
                "{} is MOTChallenge text, which has no labels: calibrate one class at a time (--label {})",
                p.display(),
                labels[0]
            )));
        }
    }

    let mut classes = Vec::new();
    for label in &labels {
        let mut all = Vec::new();
        let mut per_video = Vec::new();
        let mut sources = Vec::new();
        for pair in &pairs {
            let (judged, source) = judge_files(&pair.gt, &pair.pred, label, args.iou)?;
            let tracks: Vec<(f64, bool)> = judged.iter().map(|j| (j.score, j.correct)).collect();
            if !sources.contains(&source) {
                sources.push(source);
            }
            per_video.push((pair.name.clone(), tracks.clone()));
            all.extend(tracks);
        }
        let (levels, chosen) = match given.iter().find(|(l, ..)| l == label) {
            Some(&(_, accept, drop)) => {
                (Calibration { accept, drop, target_met: true, band: bands(&all, accept, drop), notes: Vec::new() }, false)
            }
            None if !args.thresholds.is_empty() => {
                let (a, d) = (DEFAULT_ACCEPT as f64, DEFAULT_DROP as f64);
                (Calibration { accept: a, drop: d, target_met: true, band: bands(&all, a, d), notes: vec!["run's defaults".into()] }, false)
            }
            None => (choose(&all, args.target_precision, args.max_lost), true),
        };
        let mut levels = levels;
        if !chosen {
            levels.target_met = levels.band.accepted_precision() >= args.target_precision;
        }
        if all.is_empty() {
            levels.notes.push(format!("no draft tracks of {label}"));
        }
        let safe_drop = choose(&all, args.target_precision, 0.0).drop.min(levels.drop);
        let b = levels.band;
        let videos = per_video.into_iter().map(|(video, t)| VideoBand { video, band: bands(&t, levels.accept, levels.drop) }).collect();
        classes.push(ClassReport {
            label: label.clone(),
            accepted_share: b.accepted_share(),
            accepted_precision: b.accepted_precision(),
            review_share: b.review_share(),
            dropped_share: b.dropped_share(),
            levels,
            chosen,
            score_source: sources,
            videos,
            safe_drop,
        });
    }
    let spec: Vec<String> = classes.iter().map(|c| format!("{}={}:{}", c.label, c.levels.accept, c.levels.drop)).collect();
    let profile = if let Some(path) = &args.check {
        Some(check_profile(&pairs, &labels, path)?)
    } else if let Some(path) = &args.profile {
        let levels = |label: &str| {
            let c = classes.iter().find(|c| c.label == label)?;
            Some(((c.levels.accept, c.safe_drop), (c.levels.band.tracks, c.levels.band.correct)))
        };
        let (profile, parts) = learn_profile(&pairs, &labels, levels)?;
        write_profile(&profile, &pairs, path)?;
        Some(parts)
    } else {
        None
    };
    let report = Report {
        thresholds: format!("--thresholds {}", spec.join(",")),
        iou: args.iou,
        target_precision: args.target_precision,
        max_lost: args.max_lost,
        correct_rule: CORRECT_RULE,
        classes,
        profile,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| Error::Output(e.to_string()))?);
    } else {
        print_table(&report, pairs.len());
        if let Some(parts) = &report.profile {
            super::calibrate_profile::print(parts, args.check.is_none());
            if let Some(path) = &args.profile {
                println!("profile written to {} (prelabel run --calibration {})", path.display(), path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `CLASS=ACCEPT[:DROP]` as `prelabel run --thresholds` takes them (drop defaulting to run's
/// `--drop-score` default, lowered to accept), for classes among `labels`.
fn parse_levels(specs: &[String], labels: &[String]) -> Result<Vec<(String, f64, f64)>> {
    let mut out = Vec::new();
    for spec in specs.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let bad = || Error::Usage(format!("--thresholds '{spec}': expected CLASS=ACCEPT[:DROP], e.g. person=0.7:0.4"));
        let (name, levels) = spec.split_once('=').ok_or_else(bad)?;
        let num = |v: &str| v.trim().parse::<f64>().ok().filter(|v| (0.0..=1.0).contains(v)).ok_or_else(bad);
        let (accept, drop) = match levels.split_once(':') {
            Some((a, d)) => (num(a)?, num(d)?),
            None => {
                let a = num(levels)?;
                (a, (DEFAULT_DROP as f64).min(a))
            }
        };
        if drop > accept {
            return Err(Error::Usage(format!("--thresholds '{spec}': need drop <= accept")));
        }
        let name = name.trim();
        if !labels.iter().any(|l| l == name) {
            return Err(Error::Usage(format!("--thresholds '{spec}': {name} is not among --label {}", labels.join(","))));
        }
        out.push((name.to_string(), accept, drop));
    }
    Ok(out)
}

fn pct(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{:.1}%", v * 100.0)
    }
}

fn print_table(r: &Report, videos: usize) {
    println!("{}", r.thresholds);
    println!(
        "{:<16} {:>6} {:>7} {:>9} {:>9} {:>8} {:>8} {:>5}",
        "class", "tracks", "correct", "accepted", "acc.prec", "review", "dropped", "lost"
    );
    for c in &r.classes {
        let b = &c.levels.band;
        println!(
            "{:<16} {:>6} {:>7} {:>9} {:>9} {:>8} {:>8} {:>5}",
            c.label,
            b.tracks,
            b.correct,
            pct(c.accepted_share),
            pct(c.accepted_precision),
            pct(c.review_share),
            pct(c.dropped_share),
            b.dropped_correct
        );
    }
    println!(
        "(tracks of {videos} video{} pooled; shares of all tracks; acc.prec: correct share of the accepted; lost: correct tracks dropped)",
        if videos == 1 { "" } else { "s" }
    );
    println!("correct: {} at IoU {}", r.correct_rule, r.iou);
    for c in &r.classes {
        if c.chosen {
            println!(
                "{}: accept = lowest level with >= {} of the accepted correct{}; drop = highest level with at most {} of the correct tracks below",
                c.label,
                pct(r.target_precision),
                if c.levels.target_met { "" } else { " (none reaches it)" },
                pct(r.max_lost)
            );
        } else {
            println!("{}: levels given, not chosen", c.label);
        }
        for s in &c.score_source {
            println!("{}: track score = {s}", c.label);
        }
        for n in &c.levels.notes {
            println!("{}: {n}", c.label);
        }
    }
}
