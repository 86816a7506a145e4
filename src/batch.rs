//! A batch job over many videos: expands folders, gives each video its own output folder
//! (named after what the video is, see [`identity`]), runs the pipeline on each in turn, keeps
//! going past bad files, writes each finished video's [`manifest`], and keeps `report.json`
//! current after every video so a killed job still says what it finished.

pub mod identity;
pub mod manifest;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::export::report::{RunReport, Status, VideoReport};
use crate::export::Format;
use crate::pipeline::Pipeline;
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

/// Callbacks through which the batch reports progress (the CLI draws bars with them).
pub trait Progress: Sync {
    fn video_started(&self, n: usize, total: usize, info: &VideoInfo);
    fn frames_done(&self, frames: u64);
    fn video_finished(&self, report: &VideoReport);
}

pub struct BatchJob<'a> {
    pub pipeline: Pipeline<'a>,
    pub out_dir: PathBuf,
    pub overwrite: bool,
    /// The model's fingerprint, for the manifests ([`ModelPrint::new`]).
    pub model: ModelPrint,
    pub report: RunReport,
}

/// What to do with one video before labelling it.
enum Plan {
    Skip(String),
    /// Label it; the reason when it was labelled before.
    Label(Option<String>),
}

impl BatchJob<'_> {
    /// Runs every input; returns the final report (also written to `out_dir/report.json`).
    pub fn run(mut self, inputs: &[Input], cancel: &AtomicBool, progress: &dyn Progress) -> Result<RunReport> {
        std::fs::create_dir_all(&self.out_dir)
            .map_err(|e| Error::Output(format!("cannot create output folder {}: {e}", self.out_dir.display())))?;
        let report_path = self.out_dir.join("report.json");
        let start = Instant::now();
        self.report.state = "running";
        self.report.write(&report_path)?;
        let settings = SettingsPrint::new(&self.report.settings);

        for (n, Input { path: input, rel_out }) in inputs.iter().enumerate() {
            let dir = self.out_dir.join(rel_out);
            let source = Source::read(input).ok();
            let plan = match &source {
                _ if self.overwrite => {
                    let before = dir.join(manifest::FILE_NAME).exists() || outputs_complete(&dir, self.pipeline.formats);
                    Plan::Label(before.then(|| "--overwrite".into()))
                }
                // Unreadable: the pipeline says why in one line.
                None => Plan::Label(None),
                Some(source) => self.plan(&dir, source, &settings),
            };
            let entry = if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                VideoReport::without_labels(input, &dir, Status::Interrupted, None)
            } else {
                let why = match plan {
                    Plan::Skip(why) => {
                        let entry = VideoReport::without_labels(input, &dir, Status::Skipped, None).because(why);
                        progress.video_finished(&entry);
                        self.report.videos.push(entry);
                        self.report.update_totals(start.elapsed().as_secs_f64());
                        self.report.write(&report_path)?;
                        continue;
                    }
                    Plan::Label(why) => why,
                };
                if let Some(why) = &why {
                    tracing::info!("{}: {why} -> relabelling", rel_out.display());
                }
                // The manifest marks a finished video: gone before anything is replaced.
                match std::fs::remove_file(dir.join(manifest::FILE_NAME)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::Output(format!("cannot remove {}: {e}", dir.join(manifest::FILE_NAME).display())))
                    }
                    _ => {}
                }
                let started = |info: &VideoInfo| progress.video_started(n + 1, inputs.len(), info);
                let done = |f: u64| progress.frames_done(f);
                let entry = match self.pipeline.run(input, &dir, cancel, &started, &done) {
                    Ok(outcome) => VideoReport::from_outcome(input, &dir, &outcome),
                    Err(Error::Interrupted) => VideoReport::without_labels(input, &dir, Status::Interrupted, None),
                    // The model or runtime failing is not this video's fault: stop the job.
                    Err(e @ (Error::Inference(_) | Error::Runtime(_) | Error::Model(_))) => {
                        self.report.videos.push(VideoReport::without_labels(input, &dir, Status::Failed, Some(e.to_string())));
                        self.finish(&report_path, start, "failed")?;
                        return Err(e);
                    }
                    Err(e) => VideoReport::without_labels(input, &dir, Status::Failed, Some(e.to_string())),
                };
                if let (Status::Ok | Status::Partial, Some(source)) = (entry.status, source) {
                    Manifest {
                        prelabel_version: env!("CARGO_PKG_VERSION").into(),
                        status: format!("{:?}", entry.status).to_lowercase(),
                        source,
                        fingerprint_method: manifest::FINGERPRINT_METHOD.into(),
                        model: self.model.clone(),
                        settings: settings.clone(),
                        files: entry.files.iter().filter_map(|f| f.strip_prefix(&dir).ok().map(Path::to_path_buf)).collect(),
                    }
                    .write(&dir)?;
                }
                match why {
                    Some(why) => entry.because(why),
                    None => entry,
                }
            };
            progress.video_finished(&entry);
            self.report.videos.push(entry);
            self.report.update_totals(start.elapsed().as_secs_f64());
            self.report.write(&report_path)?;
        }
        let state = if cancel.load(std::sync::atomic::Ordering::Relaxed) { "interrupted" } else { "finished" };
        self.finish(&report_path, start, state)?;
        Ok(self.report)
    }

    /// Skip a video only when its manifest says this source was labelled with this model and
    /// these settings, and the files of every format asked for are there.
    fn plan(&self, dir: &Path, source: &Source, settings: &SettingsPrint) -> Plan {
        let outputs = outputs_complete(dir, self.pipeline.formats) && web_video_complete(dir, &self.pipeline);
        let Some(m) = Manifest::load(dir) else {
            return Plan::Label(outputs.then(|| "labels without a manifest (an older prelabel)".to_string()));
        };
        let mut changes = m.changes(source, &self.model, settings);
        if !outputs {
            let mut missing: Vec<String> = self
                .pipeline
                .formats
                .iter()
                .filter(|f| !f.output_exists(dir))
                .map(|f| format!("{f:?}").to_lowercase())
                .collect();
            if !web_video_complete(dir, &self.pipeline) {
                missing.push(crate::export::video_ref::WEB_VIDEO.into());
            }
            changes.push(format!("outputs missing ({})", missing.join(", ")));
        }
        if self.pipeline.preview && !crate::render::outputs_exist(dir) {
            changes.push("outputs missing (preview)".into());
        }
        if changes.is_empty() {
            Plan::Skip("labelled before with the same source, model and settings (manifest.json; --overwrite redoes it)".into())
        } else {
            Plan::Label(Some(changes.join("; ")))
        }
    }

    fn finish(&mut self, path: &Path, start: Instant, state: &'static str) -> Result<()> {
        self.report.state = state;
        self.report.update_totals(start.elapsed().as_secs_f64());
        self.report.write(path)
    }
}

/// Outputs are only ever renamed into place whole, so existing files mean a finished video.
fn outputs_complete(dir: &Path, formats: &[Format]) -> bool {
    !formats.is_empty() && formats.iter().all(|f| f.output_exists(dir))
}

/// The web copy (`--web-video`) is there when asked for.
fn web_video_complete(dir: &Path, pipeline: &Pipeline) -> bool {
    !pipeline.export.web_video || dir.join(crate::export::video_ref::WEB_VIDEO).exists()
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
