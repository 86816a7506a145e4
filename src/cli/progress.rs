//! Progress bars while a job runs (the job's total and one bar per video in flight) and the
//! one-screen summary after it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use prelabel::batch::report::{RunReport, Status, VideoReport};
use prelabel::batch::Progress;
use prelabel::types::VideoInfo;

/// One line for the job (frames of every video, the job's frames/s, videos done) and one per
/// video in flight, removed when it finishes.
pub(crate) struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    videos: Mutex<HashMap<usize, ProgressBar>>,
    done: AtomicUsize,
    inputs: AtomicUsize,
}

impl Bars {
    pub(crate) fn new(quiet: bool) -> Bars {
        let multi = MultiProgress::with_draw_target(if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
        let total = multi.add(ProgressBar::new_spinner());
        total.set_style(ProgressStyle::with_template("job: {pos} frames, {per_sec} {msg}").expect("valid template"));
        Bars { multi, total, videos: Mutex::new(HashMap::new()), done: AtomicUsize::new(0), inputs: AtomicUsize::new(0) }
    }

    pub(crate) fn clear(&self) {
        for bar in self.videos.lock().unwrap_or_else(|e| e.into_inner()).values() {
            bar.finish_and_clear();
        }
        self.total.finish_and_clear();
        let _ = self.multi.clear();
    }

    fn count_done(&self) {
        let done = self.done.load(Ordering::Relaxed);
        let inputs = self.inputs.load(Ordering::Relaxed);
        let in_flight = self.videos.lock().unwrap_or_else(|e| e.into_inner()).len();
        self.total.set_message(format!("({done} of {inputs} videos done, {in_flight} in flight)"));
    }
}

impl Progress for Bars {
    fn video_started(&self, n: usize, total: usize, info: &VideoInfo) {
        let bar = self.multi.add(ProgressBar::new(info.frames_hint));
        let style = if info.frames_hint > 0 {
            "{msg} [{bar:30}] {pos}/{len} frames, {per_sec}, eta {eta}"
        } else {
            "{msg} {spinner} {pos} frames, {per_sec}"
        };
        bar.set_style(ProgressStyle::with_template(style).expect("valid template").progress_chars("=> "));
        bar.set_message(format!("[{n}/{total}] {}", info.name));
        self.videos.lock().unwrap_or_else(|e| e.into_inner()).insert(n, bar);
        self.inputs.store(total, Ordering::Relaxed);
        self.count_done();
    }
    fn frames_done(&self, n: usize, frames: u64) {
        if let Some(bar) = self.videos.lock().unwrap_or_else(|e| e.into_inner()).get(&n) {
            bar.inc(frames);
        }
        self.total.inc(frames);
    }
    fn video_finished(&self, n: usize, r: &VideoReport) {
        if let Some(bar) = self.videos.lock().unwrap_or_else(|e| e.into_inner()).remove(&n) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        self.count_done();
        let line = match r.status {
            Status::Ok => return,
            Status::Skipped => format!("skipped {}: {}", r.input.display(), r.why.as_deref().unwrap_or("outputs exist")),
            Status::Claimed => format!("left to another worker {}: {}", r.input.display(), r.why.as_deref().unwrap_or("claimed")),
            Status::Interrupted => {
                format!("interrupted {}: {}", r.input.display(), r.why.as_deref().unwrap_or("stopped before it finished"))
            }
            _ => {
                let input = r.input.display().to_string();
                let error = r.error.as_deref().unwrap_or("");
                let error = error.strip_prefix(&format!("{input}: ")).unwrap_or(error);
                format!("{} {input}: {error}", format!("{:?}", r.status).to_lowercase())
            }
        };
        self.multi.suspend(|| eprintln!("prelabel: {line}"));
    }
}

/// The summary after a run; `report` is where its report was written.
pub(crate) fn print_summary(r: &RunReport, report: &Path) {
    let t = &r.totals;
    println!(
        "\nprelabel: {} video(s), {} frames, {} detections, {} tracks in {:.1} s ({:.1} frames/s) on {}",
        t.videos, t.frames, t.detections, t.tracks, t.wall_s, t.frames_per_s, r.device
    );
    println!("  {:<11} {:>7} {:>7} {:>7}  video -> labels", "status", "frames", "boxes", "fps");
    for v in &r.videos {
        let status = format!("{:?}", v.status).to_lowercase();
        let dest = if v.files.is_empty() { "-".to_string() } else { v.output_dir.display().to_string() };
        println!("  {:<11} {:>7} {:>7} {:>7.1}  {} -> {}", status, v.frames, v.detections, v.frames_per_s, v.input.display(), dest);
        if let Some(e) = &v.error {
            println!("  {:<11} {e}", "");
        }
        if let Some(w) = &v.why {
            println!("  {:<11} {w}", "");
        }
    }
    let s = &t.stages;
    println!(
        "  busy time per stage: decode {:.1} s, preprocess {:.1} s, infer {:.1} s, postprocess {:.1} s, export {:.1} s",
        s.decode_s, s.preprocess_s, s.infer_s, s.postprocess_s, s.export_s
    );
    let counts: Vec<String> =
        [(t.ok, "ok"), (t.partial, "partial"), (t.failed, "failed"), (t.interrupted, "interrupted"), (t.skipped, "skipped")]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
    if !counts.is_empty() {
        println!("  {}", counts.join(", "));
    }
    if t.interrupted > 0 {
        println!("  {} video(s) interrupted before they finished: run the same command again to label them", t.interrupted);
    }
    if t.claimed > 0 {
        println!("  {} video(s) left to other workers holding their claims: `prelabel report` says when all are done", t.claimed);
    }
    if s.render_s > 0.0 {
        println!("  render (preview.mp4, review.png, video.mp4): {:.1} s", s.render_s);
    }
    println!("  report: {}", report.display());
}
