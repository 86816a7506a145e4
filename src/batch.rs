//! A batch job over many videos: expands folders, gives each video its own output folder,
//! runs the pipeline on each in turn, keeps going past bad files, and keeps `report.json`
//! current after every video so a killed job still says what it finished.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::export::report::{RunReport, Status, VideoReport};
use crate::export::Format;
use crate::pipeline::Pipeline;
use crate::types::VideoInfo;

/// File extensions picked up when a folder is given.
pub const VIDEO_EXTENSIONS: &[&str] =
    &["mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg", "mpeg", "ts", "mts", "m2ts", "wmv", "flv", "3gp", "ogv"];

/// Files given by name are taken as they are; folders are searched (recursively) for files
/// with a video extension, in name order. A path that does not exist is kept, so that it is
/// reported as a failed input rather than silently dropped.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let before = out.len();
            collect_videos(input, &mut out)
                .map_err(|e| Error::Usage(format!("cannot list {}: {e}", input.display())))?;
            if out.len() == before {
                return Err(Error::Usage(format!(
                    "{} holds no video files (looked for .{})",
                    input.display(),
                    VIDEO_EXTENSIONS.join(", .")
                )));
            }
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
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

/// One output folder name per input: the file stem, with `-2`, `-3`... when stems repeat.
pub fn output_names(inputs: &[PathBuf]) -> Vec<String> {
    let mut seen = HashSet::new();
    inputs
        .iter()
        .map(|p| {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into());
            let mut name = stem.clone();
            let mut n = 2;
            while !seen.insert(name.clone()) {
                name = format!("{stem}-{n}");
                n += 1;
            }
            name
        })
        .collect()
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
    pub report: RunReport,
}

impl BatchJob<'_> {
    /// Runs every input; returns the final report (also written to `out_dir/report.json`).
    pub fn run(mut self, inputs: &[PathBuf], cancel: &AtomicBool, progress: &dyn Progress) -> Result<RunReport> {
        std::fs::create_dir_all(&self.out_dir)
            .map_err(|e| Error::Output(format!("cannot create output folder {}: {e}", self.out_dir.display())))?;
        let report_path = self.out_dir.join("report.json");
        let start = Instant::now();
        self.report.state = "running";
        self.report.write(&report_path)?;

        let names = output_names(inputs);
        for (n, (input, name)) in inputs.iter().zip(&names).enumerate() {
            let dir = self.out_dir.join(name);
            let entry = if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                VideoReport::without_labels(input, &dir, Status::Interrupted, None)
            } else if !self.overwrite && outputs_complete(&dir, self.pipeline.formats) {
                VideoReport::without_labels(input, &dir, Status::Skipped, Some("outputs already exist (use --overwrite to redo)".into()))
            } else {
                let started = |info: &VideoInfo| progress.video_started(n + 1, inputs.len(), info);
                let done = |f: u64| progress.frames_done(f);
                match self.pipeline.run(input, &dir, cancel, &started, &done) {
                    Ok(outcome) => VideoReport::from_outcome(input, &dir, &outcome),
                    Err(Error::Interrupted) => VideoReport::without_labels(input, &dir, Status::Interrupted, None),
                    // The model or runtime failing is not this video's fault: stop the job.
                    Err(e @ (Error::Inference(_) | Error::Runtime(_) | Error::Model(_))) => {
                        self.report.videos.push(VideoReport::without_labels(input, &dir, Status::Failed, Some(e.to_string())));
                        self.finish(&report_path, start, "failed")?;
                        return Err(e);
                    }
                    Err(e) => VideoReport::without_labels(input, &dir, Status::Failed, Some(e.to_string())),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_stems_get_distinct_folders() {
        let names = output_names(&["a/cam.mp4".into(), "b/cam.mp4".into(), "cam.avi".into(), "x.mp4".into()]);
        assert_eq!(names, ["cam", "cam-2", "cam-3", "x"]);
    }

    #[test]
    fn folders_expand_to_videos_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.mp4", "a.AVI", "notes.txt", "sub/c.mkv"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let got = expand_inputs(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = got.iter().map(|p| p.strip_prefix(dir.path()).unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(names, ["a.AVI", "b.mp4", "sub/c.mkv"]);
        let empty = tempfile::tempdir().unwrap();
        assert!(expand_inputs(&[empty.path().to_path_buf()]).is_err());
    }
}
