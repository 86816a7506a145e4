//! Progress bars while a job runs and the one-screen summary after it.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use prelabel::batch::Progress;
use prelabel::export::report::{RunReport, Status, VideoReport};
use prelabel::types::VideoInfo;

pub(crate) struct Bars {
    pub(crate) bar: ProgressBar,
}

impl Bars {
    pub(crate) fn new(quiet: bool) -> Bars {
        let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
        Bars { bar }
    }
}

impl Progress for Bars {
    fn video_started(&self, n: usize, total: usize, info: &VideoInfo) {
        self.bar.reset();
        self.bar.set_length(info.frames_hint);
        let style = if info.frames_hint > 0 {
            "{msg} [{bar:30}] {pos}/{len} frames, {per_sec}, eta {eta}"
        } else {
            "{msg} {spinner} {pos} frames, {per_sec}"
        };
        self.bar.set_style(ProgressStyle::with_template(style).expect("valid template").progress_chars("=> "));
        self.bar.set_message(format!("[{n}/{total}] {}", info.name));
    }
    fn frames_done(&self, frames: u64) {
        self.bar.inc(frames);
    }
    fn video_finished(&self, r: &VideoReport) {
        let line = match r.status {
            Status::Ok => return,
            Status::Skipped => format!("skipped {}: {}", r.input.display(), r.why.as_deref().unwrap_or("outputs exist")),
            Status::Claimed => format!("left to another worker {}: {}", r.input.display(), r.why.as_deref().unwrap_or("claimed")),
            _ => {
                let input = r.input.display().to_string();
                let error = r.error.as_deref().unwrap_or("");
                let error = error.strip_prefix(&format!("{input}: ")).unwrap_or(error);
                format!("{} {input}: {error}", format!("{:?}", r.status).to_lowercase())
            }
        };
        self.bar.suspend(|| eprintln!("prelabel: {line}"));
    }
}

/// The summary after a run; `report` is where its report was written.
pub(crate) fn print_summary(r: &RunReport, report: &Path) {
    let t = &r.totals;
    println!(
        "\nprelabel: {} video(s), {} frames, {} detections, {} tracks in {:.1} s ({:.1} frames/s) on {}",
        t.videos, t.frames, t.detections, t.tracks, t.wall_s, t.frames_per_s, r.device
    );
    println!("  {:<8} {:>7} {:>7} {:>7}  video -> labels", "status", "frames", "boxes", "fps");
    for v in &r.videos {
        let status = format!("{:?}", v.status).to_lowercase();
        let dest = if v.files.is_empty() { "-".to_string() } else { v.output_dir.display().to_string() };
        println!("  {:<8} {:>7} {:>7} {:>7.1}  {} -> {}", status, v.frames, v.detections, v.frames_per_s, v.input.display(), dest);
        if let Some(e) = &v.error {
            println!("  {:<8} {e}", "");
        }
        if let Some(w) = &v.why {
            println!("  {:<8} {w}", "");
        }
    }
    let s = &t.stages;
    println!(
        "  busy time per stage: decode {:.1} s, preprocess {:.1} s, infer {:.1} s, postprocess {:.1} s, export {:.1} s",
        s.decode_s, s.preprocess_s, s.infer_s, s.postprocess_s, s.export_s
    );
    if t.claimed > 0 {
        println!("  {} video(s) left to other workers holding their claims: `prelabel report` says when all are done", t.claimed);
    }
    if s.render_s > 0.0 {
        println!("  render (preview.mp4, review.png, video.mp4): {:.1} s", s.render_s);
    }
    println!("  report: {}", report.display());
}
