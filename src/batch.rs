//! A batch job over many videos: expands folders, gives each video its own output folder
//! (named after what the video is, see [`identity`]), runs the pipeline on `--jobs` videos at
//! a time (their frames share model batches, see `pipeline`), keeps going past bad files,
//! writes each finished video's [`manifest`], and keeps `report.json` current (in input
//! order) after every video so a killed job still says what it finished.

pub mod identity;
pub mod manifest;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::export::report::{RunReport, Status, VideoReport};
use crate::export::Format;
use crate::pipeline::{Pipeline, Stop, Videos};
use crate::types::VideoInfo;
pub use identity::Input;
use manifest::{Manifest, ModelPrint, SettingsPrint, Source};

/// File extensions picked up when a folder is given.
pub const VIDEO_EXTENSIONS: &[&str] =
    &["mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg", "mpeg", "ts", "mts", "m2ts", "wmv", "flv", "3gp", "ogv"];

/// Files given by name are taken as they are; folders are searched (recursively) for files
/// with a video extension, in name order. A path that does not exist is kept, so that it is
/// reported as a failed input rather than silently dropped. Each gets its output folder
/// ([`identity::assign`]).
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<Input>> {
    let mut found = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut out = Vec::new();
            collect_videos(input, &mut out)
                .map_err(|e| Error::Usage(format!("cannot list {}: {e}", input.display())))?;
            if out.is_empty() {
                return Err(Error::Usage(format!(
                    "{} holds no video files (looked for .{})",
                    input.display(),
                    VIDEO_EXTENSIONS.join(", .")
                )));
            }
            found.extend(out.into_iter().map(|p| (p, Some(input.clone()))));
        } else {
            found.push((input.clone(), None));
        }
    }
    Ok(identity::assign(found))
}

fn collect_videos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_videos(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Callbacks through which the batch reports progress (the CLI draws bars with them). `n`
/// is the video's place in the input list (from 0); several videos are in flight at once.
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

/// What every video of the job shares: where outputs go and what a manifest records.
struct Job<'j> {
    out_dir: &'j Path,
    overwrite: bool,
    model: &'j ModelPrint,
    settings: &'j SettingsPrint,
    formats: &'j [Format],
}

/// An error that ends the job (the model or runtime failing, report.json not writable), with
/// the video's entry when it has one.
struct Fatal {
    entry: Option<VideoReport>,
    error: Error,
}

/// `report.json` as videos finish, in input order whatever order they finish in.
struct Record {
    report: RunReport,
    /// Input index of each entry of `report.videos`.
    order: Vec<usize>,
    path: PathBuf,
    start: Instant,
}

impl Record {
    fn add(&mut self, n: usize, entry: VideoReport) -> Result<()> {
        let at = self.order.partition_point(|&i| i < n);
        self.order.insert(at, n);
        self.report.videos.insert(at, entry);
        self.report.update_totals(self.start.elapsed().as_secs_f64());
        self.report.write(&self.path)
    }

    fn finish(&mut self, state: &'static str) -> Result<()> {
        self.report.state = state;
        self.report.update_totals(self.start.elapsed().as_secs_f64());
        self.report.write(&self.path)
    }
}

impl BatchJob<'_> {
    /// Runs every input, `jobs` at a time; returns the final report (also written to
    /// `out_dir/report.json`). Per-video errors are recorded and the others go on; an
    /// error of the model or runtime stops the job (the videos in flight end as interrupted).
    pub fn run(self, inputs: &[Input], cancel: &AtomicBool, progress: &dyn Progress) -> Result<RunReport> {
        let BatchJob { mut pipeline, out_dir, overwrite, model, mut report, jobs } = self;
        std::fs::create_dir_all(&out_dir)
            .map_err(|e| Error::Output(format!("cannot create output folder {}: {e}", out_dir.display())))?;
        let settings = SettingsPrint::new(&report.settings);
        report.state = "running";
        let record = Mutex::new(Record { report, order: Vec::new(), path: out_dir.join("report.json"), start: Instant::now() });
        record.lock().unwrap_or_else(|e| e.into_inner()).finish("running")?;
        let job = Job { out_dir: &out_dir, overwrite, model: &model, settings: &settings, formats: pipeline.formats };
        let stop = Stop::new(cancel);
        let jobs = jobs.clamp(1, inputs.len().max(1));
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
                        if n >= inputs.len() || fatal.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                            break;
                        }
                        let dir = out_dir.join(&inputs[n].rel_out);
                        let done = if stop.requested() {
                            Ok(VideoReport::without_labels(&inputs[n].path, &dir, Status::Interrupted, None))
                        } else {
                            job.label_one(n, inputs, videos, &stop, progress)
                        };
                        let (entry, error) = match done {
                            Ok(entry) => (Some(entry), None),
                            Err(Fatal { entry, error }) => (entry, Some(error)),
                        };
                        if let Some(entry) = entry {
                            progress.video_finished(n, &entry);
                            if let Err(e) = record.lock().unwrap_or_else(|e| e.into_inner()).add(n, entry) {
                                fail(e);
                            }
                        }
                        if let Some(e) = error {
                            fail(e);
                        }
                    });
                }
            })
        });
        let mut record = record.into_inner().unwrap_or_else(|e| e.into_inner());
        record.report.model_batches = Some(batches);
        if let Some(e) = fatal.into_inner().unwrap_or_else(|e| e.into_inner()) {
            record.finish("failed")?;
            return Err(e);
        }
        record.finish(if stop.by_user() { "interrupted" } else { "finished" })?;
        Ok(record.report)
    }
}

impl Job<'_> {
    /// The job's work on one video, `inputs[n]`: skip it when labelled before with the same
    /// source, model and settings; else remove its old manifest, label it, and write the new
    /// manifest. Returns its entry for report.json.
    fn label_one(&self, n: usize, inputs: &[Input], videos: &Videos, stop: &Stop, progress: &dyn Progress) -> Result<VideoReport, Fatal> {
        let Input { path: input, rel_out } = &inputs[n];
        let dir = self.out_dir.join(rel_out);
        let source = Source::read(input).ok();
        let plan = match &source {
            _ if self.overwrite => {
                let before = dir.join(manifest::FILE_NAME).exists() || outputs_complete(&dir, self.formats);
                Plan::Label(before.then(|| "--overwrite".into()))
            }
            // Unreadable: the pipeline says why in one line.
            None => Plan::Label(None),
            Some(source) => self.plan(&dir, source),
        };
        let why = match plan {
            Plan::Skip(why) => return Ok(VideoReport::without_labels(input, &dir, Status::Skipped, None).because(why)),
            Plan::Label(why) => why,
        };
        if let Some(why) = &why {
            tracing::info!("{}: {why} -> relabelling", rel_out.display());
        }
        // The manifest marks a finished video: gone before anything is replaced.
        let manifest_path = dir.join(manifest::FILE_NAME);
        match std::fs::remove_file(&manifest_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                let error = Error::Output(format!("cannot remove {}: {e}", manifest_path.display()));
                return Err(Fatal { entry: None, error });
            }
            _ => {}
        }
        let started = |info: &VideoInfo| progress.video_started(n, inputs.len(), info);
        let done = |f: u64| progress.frames_done(n, f);
        let entry = match videos.label(input, &dir, stop, &started, &done) {
            Ok(outcome) => VideoReport::from_outcome(input, &dir, &outcome),
            Err(Error::Interrupted) => VideoReport::without_labels(input, &dir, Status::Interrupted, None),
            // The model or runtime failing is not this video's fault: stop the job.
            Err(e @ (Error::Inference(_) | Error::Runtime(_) | Error::Model(_))) => {
                let entry = VideoReport::without_labels(input, &dir, Status::Failed, Some(e.to_string()));
                return Err(Fatal { entry: Some(entry), error: e });
            }
            Err(e) => VideoReport::without_labels(input, &dir, Status::Failed, Some(e.to_string())),
        };
        if let (Status::Ok | Status::Partial, Some(source)) = (entry.status, source) {
            let written = Manifest {
                prelabel_version: env!("CARGO_PKG_VERSION").into(),
                status: format!("{:?}", entry.status).to_lowercase(),
                source,
                fingerprint_method: manifest::FINGERPRINT_METHOD.into(),
                model: self.model.clone(),
                settings: self.settings.clone(),
                files: entry.files.iter().filter_map(|f| f.strip_prefix(&dir).ok().map(Path::to_path_buf)).collect(),
            }
            .write(&dir);
            if let Err(error) = written {
                return Err(Fatal { entry: Some(entry), error });
            }
        }
        Ok(match why {
            Some(why) => entry.because(why),
            None => entry,
        })
    }

    /// Skip a video only when its manifest says this source was labelled with this model and
    /// these settings, and the files of every format asked for are there.
    fn plan(&self, dir: &Path, source: &Source) -> Plan {
        let outputs = outputs_complete(dir, self.formats);
        let Some(m) = Manifest::load(dir) else {
            return Plan::Label(outputs.then(|| "labels without a manifest (an older prelabel)".to_string()));
        };
        let mut changes = m.changes(source, self.model, self.settings);
        if !outputs {
            let missing: Vec<String> =
                self.formats.iter().filter(|f| !f.output_exists(dir)).map(|f| format!("{f:?}").to_lowercase()).collect();
            changes.push(format!("outputs missing ({})", missing.join(", ")));
        }
        if changes.is_empty() {
            Plan::Skip("labelled before with the same source, model and settings (manifest.json; --overwrite redoes it)".into())
        } else {
            Plan::Label(Some(changes.join("; ")))
        }
    }
}

/// Outputs are only ever renamed into place whole, so existing files mean a finished video.
fn outputs_complete(dir: &Path, formats: &[Format]) -> bool {
    !formats.is_empty() && formats.iter().all(|f| f.output_exists(dir))
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
        let got = expand_inputs(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = got.iter().map(|i| i.path.strip_prefix(dir.path()).unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(names, ["a.AVI", "b.mp4", "sub/c.mkv"]);
        let top = identity::sanitize_component(dir.path().file_name().unwrap());
        let rels: Vec<_> = got.iter().map(|i| i.rel_out.to_str().unwrap().to_string()).collect();
        assert_eq!(rels, [format!("{top}/a.AVI"), format!("{top}/b.mp4"), format!("{top}/sub/c.mkv")]);
        let empty = tempfile::tempdir().unwrap();
        assert!(expand_inputs(&[empty.path().to_path_buf()]).is_err());
    }
}
