//! `prelabel report DIR`: one summary of a job whose shards ran as separate workers, and an
//! exit status a scheduler can act on (see `ReportArgs`' help).
//!
//! The job's videos are the union of the `assigned` lists of its shard reports (every video
//! a shard was given, done before or not), taken from the reports of the most recent shard
//! count. A video is done when its folder holds a manifest, whichever worker wrote it (two
//! workers of one shard share one report file, and the last to finish writes it); a video
//! that is not done is failed when a report says so, else missing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::args::ReportArgs;
use prelabel::batch::manifest::Manifest;
use prelabel::batch::report::ShardInfo;
use prelabel::batch::shard::parse_report_name;
use prelabel::error::{Error, Result};

pub(crate) const COMPLETE: u8 = 0;
pub(crate) const FAILURES: u8 = 2;
pub(crate) const INCOMPLETE: u8 = 3;

/// The parts of a run's report read here.
#[derive(Deserialize)]
struct RunFile {
    state: String,
    #[serde(default)]
    shard: Option<ShardInfo>,
    #[serde(default)]
    assigned: Option<Vec<String>>,
    #[serde(default)]
    videos: Vec<VideoEntry>,
}

#[derive(Deserialize)]
struct VideoEntry {
    input: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    why: Option<String>,
    #[serde(default)]
    folder: String,
}

#[derive(Serialize)]
struct ShardRow {
    index: u32,
    report: String,
    /// The report's state: finished, interrupted, failed, or running (still running, or killed).
    state: String,
    assigned: usize,
    done: usize,
    failed: usize,
    missing: usize,
}

#[derive(Serialize)]
struct VideoRow {
    folder: String,
    shard: u32,
    /// ok, partial, failed or missing.
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    /// The error (failed), or what the last report said (missing: claimed, interrupted...).
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Serialize, Default)]
struct Totals {
    videos: usize,
    done: usize,
    ok: usize,
    partial: usize,
    failed: usize,
    missing: usize,
}

#[derive(Serialize)]
struct Summary {
    dir: PathBuf,
    /// complete, failures or incomplete (exit status 0, 2, 3).
    verdict: &'static str,
    exit_code: u8,
    shard_count: u32,
    shards: Vec<ShardRow>,
    /// Shards of the count that wrote no report: they never ran (or never started a video).
    shards_without_report: Vec<u32>,
    /// Shards to run again: those with failed or missing videos, and those without a report.
    rerun_shards: Vec<u32>,
    /// Reports left out because they come from a run with another shard count.
    ignored_reports: Vec<String>,
    totals: Totals,
    videos: Vec<VideoRow>,
}

pub(crate) fn report(args: ReportArgs) -> Result<ExitCode> {
    let s = summarise(&args.dir)?;
    let text = if args.json { serde_json::to_string_pretty(&s).map_err(|e| Error::Output(e.to_string()))? + "\n" } else { table(&s) };
    // A reader that stops early (`| head`) is not an error.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(Error::Output(format!("stdout: {e}"))),
        _ => {}
    }
    Ok(ExitCode::from(s.exit_code))
}

fn summarise(dir: &Path) -> Result<Summary> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Usage(format!("cannot read {}: {e}", dir.display())))?;
    // (index, count, name, modified, content)
    let mut found: Vec<(u32, u32, String, SystemTime, RunFile)> = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((index, count)) = parse_report_name(&name) else { continue };
        let text = std::fs::read_to_string(e.path()).map_err(|err| Error::Usage(format!("cannot read {}: {err}", e.path().display())))?;
        let run: RunFile =
            serde_json::from_str(&text).map_err(|err| Error::Usage(format!("{} is not a prelabel report: {err}", e.path().display())))?;
        let Some(_) = &run.assigned else {
            return Err(Error::Usage(format!(
                "{} has no list of assigned videos (made by an older prelabel): run the job again to rewrite it",
                e.path().display()
            )));
        };
        if let Some(s) = &run.shard {
            if (s.index, s.count) != (index, count) {
                return Err(Error::Usage(format!("{} says it is shard {} of {}", e.path().display(), s.index, s.count)));
            }
        }
        let modified = e.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
        found.push((index, count, name, modified, run));
    }
    let Some(count) = found.iter().max_by_key(|f| f.3).map(|f| f.1) else {
        return Err(Error::Usage(format!(
            "no report.json or report.shard-I-of-N.json in {}: is it the --out folder of a prelabel run?",
            dir.display()
        )));
    };
    let mut ignored = Vec::new();
    found.retain(|f| {
        if f.1 != count {
            ignored.push(f.2.clone());
        }
        f.1 == count
    });
    found.sort_by_key(|f| f.0);
    ignored.sort();

    let mut videos: BTreeMap<String, VideoRow> = BTreeMap::new();
    let mut shards = Vec::new();
    for (index, _, name, _, run) in &found {
        let last: BTreeMap<&str, &VideoEntry> = run.videos.iter().map(|v| (v.folder.as_str(), v)).collect();
        let mut row =
            ShardRow { index: *index, report: name.clone(), state: run.state.clone(), assigned: 0, done: 0, failed: 0, missing: 0 };
        for folder in run.assigned.as_deref().unwrap_or_default() {
            row.assigned += 1;
            let entry = last.get(folder.as_str());
            let manifest = Manifest::load(&dir.join(folder));
            let (state, note) = match (manifest, entry) {
                (Some(m), _) => (m.status, None),
                (None, Some(v)) if v.status == "failed" => ("failed".to_string(), v.error.clone()),
                (None, Some(v)) if matches!(v.status.as_str(), "ok" | "partial" | "skipped") => {
                    ("missing".to_string(), Some(format!("no manifest.json (removed since? the last report says {})", v.status)))
                }
                (None, Some(v)) => {
                    ("missing".to_string(), Some(v.why.clone().unwrap_or_else(|| format!("{} in the last report", v.status))))
                }
                (None, None) => ("missing".to_string(), Some("not reached".into())),
            };
            match state.as_str() {
                "failed" => row.failed += 1,
                "missing" => row.missing += 1,
                _ => row.done += 1,
            }
            videos.insert(
                folder.clone(),
                VideoRow { folder: folder.clone(), shard: *index, state, input: entry.map(|v| v.input.clone()), note },
            );
        }
        shards.push(row);
    }
    let have: BTreeSet<u32> = found.iter().map(|f| f.0).collect();
    let without: Vec<u32> = (0..count).filter(|i| !have.contains(i)).collect();

    let mut t = Totals { videos: videos.len(), ..Totals::default() };
    for v in videos.values() {
        match v.state.as_str() {
            "ok" => t.ok += 1,
            "partial" => t.partial += 1,
            "failed" => t.failed += 1,
            _ => t.missing += 1,
        }
    }
    t.done = t.ok + t.partial;
    let mut rerun: BTreeSet<u32> = without.iter().copied().collect();
    rerun.extend(videos.values().filter(|v| v.state == "failed" || v.state == "missing").map(|v| v.shard));
    let (verdict, exit_code) = if t.missing > 0 || !without.is_empty() {
        ("incomplete", INCOMPLETE)
    } else if t.failed + t.partial > 0 {
        ("failures", FAILURES)
    } else {
        ("complete", COMPLETE)
    };
    Ok(Summary {
        dir: dir.to_path_buf(),
        verdict,
        exit_code,
        shard_count: count,
        shards,
        shards_without_report: without,
        rerun_shards: rerun.into_iter().collect(),
        ignored_reports: ignored,
        totals: t,
        videos: videos.into_values().collect(),
    })
}

/// Most videos listed by name in the table (all are in --json).
const LISTED: usize = 40;

fn table(s: &Summary) -> String {
    let mut text = String::new();
    macro_rules! out {
        ($($a:tt)*) => {{
            text.push_str(&format!($($a)*));
            text.push('\n');
        }};
    }
    out!("prelabel report {}: {} shard(s)", s.dir.display(), s.shard_count);
    out!("  {:>5}  {:<12} {:>8} {:>8} {:>8} {:>8}  report", "shard", "state", "videos", "done", "failed", "missing");
    for r in &s.shards {
        out!("  {:>5}  {:<12} {:>8} {:>8} {:>8} {:>8}  {}", r.index, r.state, r.assigned, r.done, r.failed, r.missing, r.report);
    }
    for i in &s.shards_without_report {
        out!("  {i:>5}  {:<12} {:>8} {:>8} {:>8} {:>8}  (no report: never ran)", "-", "?", "-", "-", "?");
    }
    let t = &s.totals;
    out!(
        "  total: {} video(s): {} done ({} ok, {} partial), {} failed, {} missing",
        t.videos,
        t.done,
        t.ok,
        t.partial,
        t.failed,
        t.missing
    );
    let bad: Vec<&VideoRow> = s.videos.iter().filter(|v| v.state != "ok").collect();
    for v in bad.iter().take(LISTED) {
        let note = v.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
        out!("  {:<8} shard {:<4} {}{note}", v.state, v.shard, v.folder);
    }
    if bad.len() > LISTED {
        out!("  ... and {} more (--json lists all)", bad.len() - LISTED);
    }
    for r in &s.ignored_reports {
        out!("  ignored {r}: from a run with another shard count");
    }
    let rerun = s.rerun_shards.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    match s.verdict {
        "complete" => out!("prelabel: complete: every video of the job is labelled"),
        "failures" => out!("prelabel: finished with failures (exit {}): shards to run again for the failed ones: {rerun}", s.exit_code),
        _ => out!("prelabel: incomplete (exit {}): run these shards again: {rerun}", s.exit_code),
    }
    text
}
