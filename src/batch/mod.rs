//! A batch job over many videos: expands folders, gives each video its own output folder
//! (named after what the video is, see [`identity`]), takes this worker's [`shard`] of them,
//! and labels them `--jobs` at a time (their frames share model batches, see `pipeline`),
//! each on its own thread (`label_video`): under a [`claim`] (so overlapping workers never label one video
//! twice), into a [`staging`] folder renamed into place when complete, with the video's
//! [`manifest`] written last. Keeps going past bad files, and keeps its report current after
//! every video (in input order) so a killed job still says what it finished.
//!
//! A job is set up by a [`Labeler`], built once from [`JobSettings`] (the model, the devices,
//! the settings, the report's template); `prelabel run`, `prelabel serve` and an embedding
//! program all start there.

mod calibration;
pub mod claim;
pub mod identity;
mod labeler;
pub mod manifest;
pub mod report;
mod settings;
pub mod shard;
pub mod staging;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, Result};
use crate::export::Format;
use crate::pipeline::{Pipeline, Stop, Videos};
use crate::types::VideoInfo;
pub use identity::Input;
pub use labeler::Labeler;
use manifest::{Manifest, ModelPrint, SettingsPrint, Source};
use report::{lossless, RunReport, Status, VideoReport};
pub use settings::JobSettings;
use staging::Staging;

/// File extensions picked up when a folder is given.
pub const VIDEO_EXTENSIONS: &[&str] =
    &["mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg", "mpeg", "ts", "mts", "m2ts", "wmv", "flv", "3gp", "ogv"];

/// Files given by name are taken as they are; folders are searched (recursively) for files
/// with a video extension, in name order. A path that does not exist is kept, so that it is
/// reported as a failed input rather than silently dropped. Each gets its output folder
/// (`identity::assign`).
///
/// The walk visits each real file once, by device and inode: the same file spelled two ways
/// (`a/clip.mp4`, `a/../a/clip.mp4`), a link beside its target or a hard link is labelled once,
/// under the first name met. It never follows a directory cycle (`d/self -> .`) and never
/// enters `out` (the labels, previews and web copies of an earlier run are not videos to label);
/// an input folder that is `out` itself is refused. What is not a regular file (a FIFO, a
/// device, a socket) is kept, and refused without being opened when its turn comes
/// (`not_a_regular_file`).
pub fn expand_inputs(inputs: &[PathBuf], out: &Path) -> Result<Vec<Input>> {
    let out_id = file_id(out);
    let mut walk = Walk { out_id, out, visited: HashSet::new() };
    let mut found = Vec::new();
    for input in inputs {
        if input.is_dir() {
            if out_id.is_some() && file_id(input) == out_id {
                return Err(Error::Usage(format!(
                    "{} is the output folder (--out {}): labels go into a folder of their own, not among the videos",
                    input.display(),
                    out.display()
                )));
            }
            let mut videos = Vec::new();
            walk.collect(input, &mut videos).map_err(|e| Error::Usage(format!("cannot list {}: {e}", input.display())))?;
            if videos.is_empty() {
                return Err(Error::Usage(format!(
                    "{} holds no video files (looked for .{})",
                    input.display(),
                    VIDEO_EXTENSIONS.join(", .")
                )));
            }
            found.extend(videos.into_iter().map(|p| (p, Some(input.clone()))));
        } else {
            found.push((input.clone(), None));
        }
    }
    // Each real file once, under the first name it was met by.
    let mut first: HashMap<(u64, u64), PathBuf> = HashMap::new();
    found.retain(|(path, _)| match file_id(path) {
        None => true,
        Some(id) => match first.get(&id) {
            Some(before) => {
                tracing::warn!("{}: the same file as {}, labelled once", path.display(), before.display());
                false
            }
            None => {
                first.insert(id, path.clone());
                true
            }
        },
    });
    Ok(identity::assign(found))
}

/// Device and inode of what `path` names (links followed); None when it cannot be read.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Why `path` must not be opened as a video: it exists but is not a regular file (links
/// followed). A FIFO would block the open until a writer comes, a device never ends; `stat`
/// tells without opening. None for regular files and for paths that cannot be read (those fail
/// when opened, with the reason).
pub(crate) fn not_a_regular_file(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let t = std::fs::metadata(path).ok()?.file_type();
    let what = if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "a special file"
    };
    Some(format!("{what}, not a regular file: refused without opening it"))
}

/// A recursive folder walk: folders met once each, `--out` left out.
struct Walk<'a> {
    out_id: Option<(u64, u64)>,
    out: &'a Path,
    visited: HashSet<(u64, u64)>,
}

impl Walk<'_> {
    fn collect(&mut self, dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if let Some(id) = file_id(dir) {
            if !self.visited.insert(id) {
                tracing::warn!("{}: a folder already searched (a symlink loop or a second link to it), not followed", dir.display());
                return Ok(());
            }
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>()?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                if self.out_id.is_some() && file_id(&p) == self.out_id {
                    tracing::info!("{}: the output folder (--out {}), not searched for videos", p.display(), self.out.display());
                    continue;
                }
                self.collect(&p, found)?;
            } else if p.extension().and_then(|e| e.to_str()).is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())) {
                found.push(p);
            }
        }
        Ok(())
    }
}

/// Callbacks through which the batch reports progress (the CLI draws bars with them). `n` is
/// the video's place in this worker's list (from 1); several videos are in flight at once.
pub trait Progress: Sync {
    fn video_started(&self, n: usize, total: usize, info: &VideoInfo);
    fn frames_done(&self, n: usize, frames: u64);
    fn video_finished(&self, n: usize, report: &VideoReport);
}

pub struct BatchJob<'a> {
    pub pipeline: Pipeline<'a>,
    pub out_dir: PathBuf,
    pub overwrite: bool,
    /// The model's fingerprint, for the manifests ([`ModelPrint::new`]).
    pub model: ModelPrint,
    /// This worker's share of the inputs (None: all of them); also names the report.
    pub shard: Option<shard::Shard>,
    /// A claim without a heartbeat for this long is another worker's to take over.
    pub claim_timeout: Duration,
    pub report: RunReport,
    /// Videos decoded at once, their frames sharing model batches (`--jobs`).
    pub jobs: usize,
}

/// What to do with one video before labelling it.
enum Plan {
    Skip(String),
    /// Label it; the reason when it was labelled before.
    Label(Option<String>),
}

/// What every video of a job shares; read-only, so videos run on several threads, all
/// labelling through one [`Videos`].
pub(crate) struct VideoJob<'a> {
    pub out_dir: &'a Path,
    pub formats: &'a [Format],
    /// `preview.mp4` and `review.png` are outputs too (`--preview`).
    pub preview: bool,
    /// `--web-video`: the copy is one of the outputs a re-run checks for.
    pub web_video: bool,
    pub overwrite: bool,
    pub model: &'a ModelPrint,
    pub settings: &'a SettingsPrint,
    pub claim_timeout: Duration,
    /// When this run started: with `--overwrite`, a video whose manifest is newer was
    /// labelled by an overlapping worker of this job and is not labelled again.
    pub started: SystemTime,
}

/// The report as videos finish, in input order whatever order they finish in.
struct Record {
    report: RunReport,
    /// Place in the input list of each entry of `report.videos`.
    order: Vec<usize>,
    path: PathBuf,
    start: Instant,
    /// This worker's videos and `--out`, for [`stop_now`]'s account of the ones not finished.
    mine: Vec<Input>,
    out_dir: PathBuf,
    /// Written for the last time by [`stop_now`]: the process is about to end, later
    /// changes are not written.
    sealed: bool,
}

impl Record {
    fn add(&mut self, n: usize, entry: VideoReport) -> Result<()> {
        if self.sealed {
            return Ok(());
        }
        let at = self.order.partition_point(|&i| i < n);
        self.order.insert(at, n);
        self.report.videos.insert(at, entry);
        self.write()
    }

    fn finish(&mut self, state: &'static str) -> Result<()> {
        if self.sealed {
            return Ok(());
        }
        self.report.state = state;
        self.write()
    }

    fn write(&mut self) -> Result<()> {
        self.report.update_totals(self.start.elapsed().as_secs_f64());
        self.report.write(&self.path).map_err(full_disk_hint)
    }
}

/// The job running in this process, for [`stop_now`].
static RUNNING: Mutex<Option<Arc<Mutex<Record>>>> = Mutex::new(None);

/// Why videos in flight were stopped (the signal, in words), for their report entries.
static STOP_REASON: Mutex<Option<String>> = Mutex::new(None);

/// Records why the job is being stopped ("SIGTERM", "Ctrl-C (SIGINT)"): interrupted videos'
/// report entries say so.
pub fn set_stop_reason(what: &str) {
    *STOP_REASON.lock().unwrap_or_else(|e| e.into_inner()) = Some(what.to_string());
}

/// The `why` of an interrupted video's report entry.
fn interrupted_why(at_once: bool) -> String {
    let what = STOP_REASON.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| "a stop request".into());
    let how = if at_once { "stopped at once by" } else { "stopped by" };
    format!("{how} {what} before it finished: nothing of it was kept; the next run labels it")
}

/// For a second signal: ends the running job's report now, as the last thing before the
/// process exits without waiting for the videos in flight. Every video without an entry yet
/// gets an interrupted one, the state becomes "interrupted", and the report is sealed (no
/// later write changes it). Waits at most `wait` for a report write in progress; returns
/// whether the report was written (false: no job running, or it could not be).
///
/// What the videos in flight leave (claims of this process, attempt folders in `.staging`)
/// is what a killed worker leaves: the next run takes it over and cleans it.
pub fn stop_now(wait: Duration) -> bool {
    let Some(record) = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return false };
    let deadline = Instant::now() + wait;
    let mut r = loop {
        match record.try_lock() {
            Ok(r) => break r,
            Err(std::sync::TryLockError::Poisoned(e)) => break e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        }
    };
    if r.sealed {
        return true;
    }
    let why = interrupted_why(true);
    for n in 0..r.mine.len() {
        if r.order.binary_search(&n).is_ok() {
            continue;
        }
        let input = &r.mine[n];
        let mut entry = VideoReport::without_labels(&input.path, &r.out_dir.join(&input.rel_out), Status::Interrupted, None);
        entry.folder = input.rel_out.clone();
        let at = r.order.partition_point(|&i| i < n);
        r.order.insert(at, n);
        r.report.videos.insert(at, entry.because(why.clone()));
    }
    r.report.state = "interrupted";
    let written = r.write().is_ok();
    r.sealed = true;
    written
}

impl BatchJob<'_> {
    /// Runs this shard's inputs, `jobs` at a time; returns the final report (also written to
    /// `out_dir`, as `report.json` or `report.shard-I-of-N.json`). Per-video errors are
    /// recorded and the others go on; an error that stops the job (the model or runtime
    /// failing, a full disk) ends the videos in flight as interrupted.
    pub fn run(self, inputs: &[Input], cancel: &AtomicBool, progress: &dyn Progress) -> Result<RunReport> {
        let BatchJob { mut pipeline, out_dir, overwrite, model, shard, claim_timeout, mut report, jobs } = self;
        std::fs::create_dir_all(&out_dir).map_err(|e| Error::write(format!("cannot create output folder {}", out_dir.display()), &e))?;
        let mine: Vec<&Input> = inputs.iter().filter(|i| shard.as_ref().is_none_or(|s| s.takes(&i.rel_out))).collect();
        if let Some(s) = &shard {
            tracing::info!("shard {} of {} (index from {}): {} of the {} videos", s.index, s.count, s.index_from, mine.len(), inputs.len());
        }
        report.shard = shard.as_ref().map(Into::into);
        report.assigned = mine.iter().map(|i| lossless(&i.rel_out)).collect();
        let report_path = out_dir.join(shard::report_name(shard.as_ref()));
        // What killed workers left behind: their claims, half-written folders, report temps.
        claim::clean(&out_dir, claim_timeout)?;
        staging::clean(&out_dir, claim_timeout)?;
        clean_report_temps(&out_dir);
        report.state = "running";
        let settings = SettingsPrint::new(&report.settings);
        let record = Record {
            report,
            order: Vec::new(),
            path: report_path,
            start: Instant::now(),
            mine: mine.iter().map(|&i| i.clone()).collect(),
            out_dir: out_dir.clone(),
            sealed: false,
        };
        let record = Arc::new(Mutex::new(record));
        record.lock().unwrap_or_else(|e| e.into_inner()).write()?;
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some(record.clone());
        // However this returns, a later stop_now has no job to write for.
        struct Unregister;
        impl Drop for Unregister {
            fn drop(&mut self) {
                RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take();
            }
        }
        let _unregister = Unregister;
        let formats = pipeline.formats.clone();
        let job = VideoJob {
            out_dir: &out_dir,
            formats: &formats,
            preview: pipeline.preview,
            web_video: pipeline.export.web_video,
            overwrite,
            model: &model,
            settings: &settings,
            claim_timeout,
            started: SystemTime::now(),
        };

        let stop = Stop::new(cancel);
        let jobs = jobs.clamp(1, mine.len().max(1));
        let next = AtomicUsize::new(0);
        let fatal: Mutex<Option<Error>> = Mutex::new(None);
        let fail = |e: Error| {
            stop.halt();
            fatal.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
        };
        let ((), batches) = pipeline.serve(jobs, &stop, |videos| {
            std::thread::scope(|s| {
                for _ in 0..jobs {
                    s.spawn(|| loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= mine.len() || fatal.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                            break;
                        }
                        let input = mine[n];
                        let (mut entry, error) = if stop.requested() {
                            (VideoReport::without_labels(&input.path, &out_dir.join(&input.rel_out), Status::Interrupted, None), None)
                        } else {
                            label_video(videos, &job, input, (n + 1, mine.len()), &stop, progress)
                        };
                        entry.folder = input.rel_out.clone();
                        if entry.status == Status::Interrupted && entry.why.is_none() {
                            entry.why = Some(if stop.by_user() {
                                interrupted_why(false)
                            } else {
                                "not finished: the job stopped on an error (see the report's other entries); the next run labels it".into()
                            });
                        }
                        progress.video_finished(n + 1, &entry);
                        if let Err(e) = record.lock().unwrap_or_else(|e| e.into_inner()).add(n, entry) {
                            fail(e);
                        }
                        if let Some(e) = error {
                            fail(e);
                        }
                    });
                }
            })
        });
        let mut record = record.lock().unwrap_or_else(|e| e.into_inner());
        record.report.model_batches = Some(batches);
        if let Some(e) = fatal.into_inner().unwrap_or_else(|e| e.into_inner()) {
            record.finish("failed")?;
            return Err(e);
        }
        // Empty bookkeeping folders go, so a finished job's folder holds only labels and reports
        // (a worker still running makes them again when it needs them).
        for d in [claim::DIR, staging::DIR] {
            let _ = std::fs::remove_dir(out_dir.join(d));
        }
        record.finish(if stop.by_user() { "interrupted" } else { "finished" })?;
        Ok(record.report.clone())
    }
}

/// Labels one video (`n` of `total`), start to finish: skips it when its manifest matches;
/// else claims it (or leaves it to the worker holding it), labels it into a staging folder,
/// writes the manifest there, and renames the folder into place while the claim is still
/// its own. Returns its report entry, and the error that must stop the whole job (the model
/// or runtime failing, a full disk), if any.
pub(crate) fn label_video(
    videos: &Videos,
    job: &VideoJob,
    input: &Input,
    (n, total): (usize, usize),
    stop: &Stop,
    progress: &dyn Progress,
) -> (VideoReport, Option<Error>) {
    let Input { path: video, rel_out } = input;
    let dest = job.out_dir.join(rel_out);
    let failed = |e: &Error| VideoReport::without_labels(video, &dest, Status::Failed, Some(e.to_string()));
    // Before anything opens it: opening a FIFO blocks until a writer comes.
    if let Some(why) = not_a_regular_file(video) {
        return (failed(&Error::video(video, why)), None);
    }
    let source = Source::read(video).ok();
    let decide = || match &source {
        _ if job.overwrite => {
            let modified = std::fs::metadata(dest.join(manifest::FILE_NAME)).and_then(|m| m.modified()).ok();
            if modified.is_some_and(|m| m >= job.started) {
                return Plan::Skip("labelled by another worker since this run started (--overwrite redoes only older labels)".into());
            }
            let before = dest.join(manifest::FILE_NAME).exists() || outputs_complete(&dest, job.formats);
            Plan::Label(before.then(|| "--overwrite".into()))
        }
        // Unreadable: the pipeline says why in one line.
        None => Plan::Label(None),
        Some(source) => plan(&dest, job, source),
    };
    // Finished videos are skipped without touching claims, so a finished job resumes fast.
    if let Plan::Skip(why) = decide() {
        return (VideoReport::without_labels(video, &dest, Status::Skipped, None).because(why), None);
    }
    let claim = match claim::acquire(job.out_dir, rel_out, job.claim_timeout) {
        Ok(claim::Attempt::Held(c)) => c,
        Ok(claim::Attempt::Busy(who)) => {
            tracing::info!("{}: claimed by another worker ({who}), left to it", rel_out.display());
            let why = format!("claimed by other worker ({who})");
            return (VideoReport::without_labels(video, &dest, Status::Claimed, None).because(why), None);
        }
        Err(e) => return (failed(&e), Some(full_disk_hint(e))),
    };
    // Again under the claim: another worker may have finished it meanwhile.
    let why = match decide() {
        Plan::Skip(why) => return (VideoReport::without_labels(video, &dest, Status::Skipped, None).because(why), None),
        Plan::Label(why) => why,
    };
    if let Some(why) = &why {
        tracing::info!("{}: {why} -> relabelling", rel_out.display());
    }
    let staging = match Staging::new(job.out_dir, rel_out, &claim) {
        Ok(s) => s,
        Err(e) => return (failed(&e), Some(full_disk_hint(e))),
    };
    let started = |info: &VideoInfo| progress.video_started(n, total, info);
    let done = |f: u64| progress.frames_done(n, f);
    let outcome = match videos.label(video, staging.path(), &dest, stop, &started, &done) {
        Ok(outcome) => outcome,
        Err(Error::Interrupted) => return (VideoReport::without_labels(video, &dest, Status::Interrupted, None), None),
        // The model or runtime failing is not this video's fault: stop the job.
        Err(e @ (Error::Inference(_) | Error::Runtime(_) | Error::Model(_))) => return (failed(&e), Some(e)),
        // Errors name the file by its final name, not the attempt's staging folder.
        Err(e @ (Error::Output(_) | Error::Write { .. })) => {
            let (staged, final_name) = (staging.path().display().to_string(), dest.display().to_string());
            let e = match e {
                Error::Write { msg, kind } => Error::Write { msg: msg.replace(&staged, &final_name), kind },
                Error::Output(m) => Error::Output(m.replace(&staged, &final_name)),
                e => e,
            };
            let stop = e.is_full_disk();
            let e = full_disk_hint(e);
            return (failed(&e), stop.then_some(e));
        }
        Err(e) => return (failed(&e), None),
    };
    let mut entry = VideoReport::from_outcome(video, &dest, &outcome);
    let files: Vec<PathBuf> = entry.files.iter().filter_map(|f| f.strip_prefix(staging.path()).ok().map(Path::to_path_buf)).collect();
    entry.files = files.iter().map(|f| dest.join(f)).collect();
    if let Some(source) = source {
        let m = Manifest {
            prelabel_version: env!("CARGO_PKG_VERSION").into(),
            status: format!("{:?}", entry.status).to_lowercase(),
            source,
            fingerprint_method: manifest::FINGERPRINT_METHOD.into(),
            model: job.model.clone(),
            settings: job.settings.clone(),
            files,
        };
        if let Err(e) = m.write(staging.path()) {
            let e = full_disk_hint(e);
            return (failed(&e), Some(e));
        }
    }
    if !claim.still_held() {
        let why = "claimed by other worker (it took the claim over while this one labelled; this result was dropped)";
        return (VideoReport::without_labels(video, &dest, Status::Claimed, None).because(why.into()), None);
    }
    if let Err(e) = staging.commit() {
        let stop = e.is_full_disk();
        let e = full_disk_hint(e);
        return (failed(&e), stop.then_some(e));
    }
    drop(claim);
    tracing::info!("{}: labelled, {} frames", rel_out.display(), entry.frames);
    (
        match why {
            Some(why) => entry.because(why),
            None => entry,
        },
        None,
    )
}

/// Skip a video only when its manifest says this source was labelled with this model and
/// these settings, and the files of every format asked for are there.
fn plan(dir: &Path, job: &VideoJob, source: &Source) -> Plan {
    let formats = job.formats;
    let outputs = outputs_complete(dir, formats) && web_video_complete(dir, job);
    let Some(m) = Manifest::load(dir) else {
        return Plan::Label(outputs.then(|| "labels without a manifest (an older prelabel)".to_string()));
    };
    let mut changes = m.changes(source, job.model, job.settings);
    if !outputs {
        let mut missing: Vec<String> = formats.iter().filter(|f| !f.output_exists(dir)).map(|f| format!("{f:?}").to_lowercase()).collect();
        if !web_video_complete(dir, job) {
            missing.push(crate::files::WEB_VIDEO.into());
        }
        changes.push(format!("outputs missing ({})", missing.join(", ")));
    }
    if job.preview && !crate::render::outputs_exist(dir) {
        changes.push("outputs missing (preview)".into());
    }
    if changes.is_empty() {
        Plan::Skip("labelled before with the same source, model and settings (manifest.json; --overwrite redoes it)".into())
    } else {
        Plan::Label(Some(changes.join("; ")))
    }
}

/// A full disk says what to do about it.
fn full_disk_hint(e: Error) -> Error {
    if !e.is_full_disk() {
        return e;
    }
    match e {
        Error::Write { msg, kind } => Error::Write {
            msg: format!(
                "{msg}: the disk is full (or a quota or file size limit was reached); nothing partial was kept \
                 under a final name: make room and run the same command again (finished videos are skipped)"
            ),
            kind,
        },
        e => e,
    }
}

/// Report temp files (`.prelabel-*.partial` beside the report) older than a minute: a report
/// is written in milliseconds, so these are left by killed workers.
fn clean_report_temps(out: &Path) {
    let Ok(entries) = std::fs::read_dir(out) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(".prelabel-") && name.ends_with(".partial")) {
            continue;
        }
        let age = e.metadata().and_then(|m| m.modified()).ok().and_then(|m| std::time::SystemTime::now().duration_since(m).ok());
        if age.is_some_and(|a| a > Duration::from_secs(60)) && e.path().is_file() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Outputs are only ever renamed into place whole, so existing files mean a finished video.
fn outputs_complete(dir: &Path, formats: &[Format]) -> bool {
    !formats.is_empty() && formats.iter().all(|f| f.output_exists(dir))
}

/// The web copy (`--web-video`) is there when asked for.
fn web_video_complete(dir: &Path, job: &VideoJob) -> bool {
    !job.web_video || dir.join(crate::files::WEB_VIDEO).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_expand_to_videos_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.mp4", "a.AVI", "notes.txt", "sub/c.mkv"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let got = expand_inputs(&[dir.path().to_path_buf()], &dir.path().join("out")).unwrap();
        let names: Vec<_> = got.iter().map(|i| i.path.strip_prefix(dir.path()).unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(names, ["a.AVI", "b.mp4", "sub/c.mkv"]);
        let top = identity::sanitize_component(dir.path().file_name().unwrap());
        let rels: Vec<_> = got.iter().map(|i| i.rel_out.to_str().unwrap().to_string()).collect();
        assert_eq!(rels, [format!("{top}/a.AVI"), format!("{top}/b.mp4"), format!("{top}/sub/c.mkv")]);
        let empty = tempfile::tempdir().unwrap();
        assert!(expand_inputs(&[empty.path().to_path_buf()], &dir.path().join("out")).is_err());
    }
}
