//! `prelabel calibrate --profile FILE` and `--check FILE`: takes the parsed pairs and, per
//! class, the review levels `calibrate` chose; learns a calibration profile from the pairs
//! ([`prelabel::eval::guideline::learn`]) and writes it as TOML (atomically), or reads a
//! given one; either way prints what each part does to the given videos (errors, MOTA, IDF1,
//! annotator hours), so a profile learned on some videos can be checked on others.

use std::io::Write;
use std::path::Path;

use prelabel::error::{Error, Result};
use prelabel::eval::annotator::Params;
use prelabel::eval::guideline::{learn, parts, Outcome, Sample};
use prelabel::files::AtomicFile;
use prelabel::refine::profile::{ClassProfile, Profile, VERSION};
use serde::Serialize;

use prelabel::eval::report::Pair;

/// One class: what the profile holds for it, why parts are missing, and what each part does.
#[derive(Serialize)]
pub(crate) struct ClassParts {
    pub(crate) label: String,
    pub(crate) profile: ClassProfile,
    pub(crate) notes: Vec<String>,
    /// (part, outcome with it and every part above it); the first is no profile.
    pub(crate) parts: Vec<PartOutcome>,
}

#[derive(Serialize)]
pub(crate) struct PartOutcome {
    part: &'static str,
    errors: u64,
    mota: f64,
    idf1: f64,
    mean_iou: f64,
    drafts_hours: f64,
    saved: f64,
    #[serde(flatten)]
    counts: Outcome,
}

/// Reads every pair for `label`.
fn samples(pairs: &[Pair], label: &str) -> Result<Vec<Sample>> {
    pairs.iter().map(|p| Sample::read(&p.name, &p.gt, &p.pred, label)).collect()
}

fn outcomes(samples: &[Sample], p: &ClassProfile, params: &Params) -> Vec<PartOutcome> {
    parts(samples, p, params)
        .into_iter()
        .map(|(part, o)| PartOutcome {
            part,
            errors: o.errors(),
            mota: o.mota(),
            idf1: o.idf1(),
            mean_iou: o.mean_iou(),
            drafts_hours: o.drafts_hours,
            saved: o.saved(),
            counts: o,
        })
        .collect()
}

/// Learns each class's profile; `levels(label)` gives the chosen review levels and the
/// (tracks, correct tracks) they came from.
pub(crate) fn learn_profile(
    pairs: &[Pair],
    labels: &[String],
    levels: impl Fn(&str) -> Option<((f64, f64), (usize, usize))>,
) -> Result<(Profile, Vec<ClassParts>)> {
    let params = Params::default();
    let mut profile = Profile { version: VERSION, ..Default::default() };
    let mut out = Vec::new();
    for label in labels {
        let s = samples(pairs, label)?;
        let (lv, tracks) = levels(label).map_or((None, (0, 0)), |(l, t)| (Some(l), t));
        let learned = learn(&s, lv, tracks, &params);
        out.push(ClassParts {
            label: label.clone(),
            parts: outcomes(&s, &learned.profile, &params),
            profile: learned.profile.clone(),
            notes: learned.notes,
        });
        profile.class.insert(label.clone(), learned.profile);
    }
    Ok((profile, out))
}

/// What the profile at `path` does to the pairs, per class of `labels` it names.
pub(crate) fn check_profile(pairs: &[Pair], labels: &[String], path: &Path) -> Result<Vec<ClassParts>> {
    let profile = Profile::load(path).map_err(|e| Error::Usage(e.to_string().replacen("--calibration", "--check", 1)))?;
    let params = Params::default();
    let mut out = Vec::new();
    for label in labels {
        let Some(p) = profile.class.get(label) else {
            out.push(ClassParts {
                label: label.clone(),
                profile: ClassProfile::default(),
                notes: vec![format!("{} has no class.{label}", path.display())],
                parts: Vec::new(),
            });
            continue;
        };
        let s = samples(pairs, label)?;
        out.push(ClassParts { label: label.clone(), parts: outcomes(&s, p, &params), profile: p.clone(), notes: Vec::new() });
    }
    Ok(out)
}

/// Writes `profile` to `path` atomically, with a header naming the videos it came from.
pub(crate) fn write_profile(profile: &Profile, pairs: &[Pair], path: &Path) -> Result<()> {
    let videos: Vec<&str> = pairs.iter().map(|p| p.name.as_str()).collect();
    let header = format!(
        "prelabel calibration profile, learned by `prelabel calibrate` from {} video{}: {}.\n\
         Apply with `prelabel run --calibration {}`. Edit freely; delete a key to switch that part off.\n\
         Parts left out were not supported by the corrected sample (see calibrate's notes).",
        videos.len(),
        if videos.len() == 1 { "" } else { "s" },
        videos.join(", "),
        path.display()
    );
    let mut f = AtomicFile::create(path.to_path_buf())?;
    f.write_all(profile.to_toml(&header).as_bytes()).map_err(|e| f.err(e))?;
    f.commit()?;
    Ok(())
}

fn describe(p: &ClassProfile) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(h) = p.min_height {
        out.push(format!("smallest box: {h} px high"));
    }
    if !p.min_height_by_row.is_empty() {
        let rows: Vec<String> =
            p.min_height_by_row.iter().map(|r| format!("bottom above y {}: {} px", r.bottom_below, r.min_height)).collect();
        out.push(format!("smallest box by row: {}", rows.join("; ")));
    }
    for g in &p.geometry {
        let size = g.max_height.map_or("larger boxes".to_string(), |m| format!("boxes up to {m} px"));
        out.push(format!(
            "geometry, {size}: left {:+.1}%, right {:+.1}% of the width; top {:+.1}%, bottom {:+.1}% of the height",
            g.left * 100.0,
            g.right * 100.0,
            g.top * 100.0,
            g.bottom * 100.0
        ));
    }
    if let Some(s) = p.max_hidden_s {
        out.push(format!("hidden: a track is kept at most {s} s where the detector does not see it"));
    }
    match (p.accept, p.drop) {
        (Some(a), Some(d)) => out.push(format!("review levels: accept {a}, drop {d}")),
        (Some(a), None) => out.push(format!("review levels: accept {a} (drop: run's)")),
        _ => {}
    }
    out
}

pub(crate) fn print(classes: &[ClassParts], learned: bool) {
    for c in classes {
        let from = c.profile.corrected_boxes.map_or(String::new(), |n| format!(" (from {n} corrected boxes)"));
        println!("\n{}: calibration profile{from}{}", c.label, if learned { " learned" } else { "" });
        let lines = describe(&c.profile);
        if lines.is_empty() {
            println!("  nothing: no part is supported by these videos");
        }
        for l in lines {
            println!("  {l}");
        }
        for n in &c.notes {
            println!("  note: {n}");
        }
        if c.parts.is_empty() {
            continue;
        }
        println!(
            "  {:<16} {:>7} {:>7} {:>7} {:>6} {:>12} {:>8} {:>12}",
            "with", "errors", "MOTA", "IDF1", "IoU", "draft hours", "saved", "hours saved"
        );
        let base = c.parts[0].drafts_hours;
        for p in &c.parts {
            let name = if p.part == "none" { "no profile".to_string() } else { format!("+ {}", p.part) };
            println!(
                "  {:<16} {:>7} {:>7.3} {:>7.3} {:>6.3} {:>12.2} {:>7.1}% {:>12.2}",
                name,
                p.errors,
                p.mota,
                p.idf1,
                p.mean_iou,
                p.drafts_hours,
                p.saved * 100.0,
                base - p.drafts_hours
            );
        }
    }
    println!("(each row adds its part to the rows above; errors: misses + false boxes + switches at IoU 0.5; IoU: mean over matched boxes; hours: eval's annotator-time model on the given videos)");
}
