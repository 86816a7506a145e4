//! The queue of videos to label and the one worker thread that labels them. Takes videos
//! (path and [`Store`] key) from the request handlers, gives each a [`Phase`] the handlers
//! can wait on; finished results go to the store, and to Label Studio's API for the tasks
//! whose requests had to answer before the video was done ([`Waiter`]).
//!
//! Every queued video is labelled once: a key already queued or running is joined, not
//! queued again, and one on disk is never queued. The worker takes everything queued as one
//! batch job (its `--jobs` videos at a time sharing the model's batches, as `prelabel run`
//! does), so a request for ten tasks runs as `prelabel run` over ten videos would.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::client::{Access, Post};
use super::labeling::Project;
use super::store::Store;
use crate::batch::report::{Status, VideoReport};
use crate::batch::{expand_inputs, Progress};
use crate::error::Result;
use crate::types::VideoInfo;

/// Labels videos as `prelabel run` does: [`crate::batch::Labeler`], built from the run
/// options, or a stand-in in tests.
pub trait Labeler {
    /// Labels `videos` into `out`, a fresh folder; `progress` hears of each video as
    /// `prelabel run`'s progress bars do, and `video_finished` gets each video's report entry
    /// (its `output_dir` holds its `labelstudio.json`). An error is a failure of the whole
    /// batch; a video's own failure is in its entry.
    fn label(&mut self, videos: &[PathBuf], out: &Path, cancel: &AtomicBool, progress: &dyn Progress) -> Result<()>;
}

/// The job set-up `prelabel run` uses: one batch job per call, over a fresh folder (so
/// `overwrite`, and no shard: this server labels every video it is given).
impl Labeler for crate::batch::Labeler {
    fn label(&mut self, videos: &[PathBuf], out: &Path, cancel: &AtomicBool, progress: &dyn Progress) -> Result<()> {
        let inputs = expand_inputs(videos, out)?;
        self.job(out.to_path_buf(), true, None).run(&inputs, cancel, progress).map(|_| ())
    }
}

/// Makes the labeler on the worker thread (the model is loaded there, and stays there).
pub type MakeLabeler = Box<dyn FnOnce() -> Result<Box<dyn Labeler>> + Send>;

/// Most videos taken into one batch job.
const MAX_BATCH: usize = 256;

/// Where a queued video is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Running,
    /// Its result is in the store.
    Done,
    Failed(String),
}

/// A task whose predictions go to Label Studio's API when its video is done.
pub struct Waiter {
    pub task: u64,
    pub project: Arc<Project>,
    pub access: Option<Access>,
    pub model_version: String,
}

struct Job {
    video: PathBuf,
    name: String,
    phase: watch::Sender<Phase>,
    frames_done: u64,
    frames_hint: u64,
    waiters: Vec<Waiter>,
}

#[derive(Default)]
struct Table {
    /// Queued and running videos, by key.
    jobs: HashMap<String, Job>,
    queue: VecDeque<String>,
    /// Videos that failed, by key, with why: answered again without labelling them again
    /// (until the server restarts).
    failed: HashMap<String, String>,
    stopping: bool,
    done: u64,
    batches: u64,
}

/// What a handler gets for a video it submits.
pub enum Ticket {
    Ready,
    Failed(String),
    /// Queued or running: wait on it.
    Wait(watch::Receiver<Phase>),
}

pub struct Work {
    table: Mutex<Table>,
    wake: Condvar,
    pub store: Store,
    /// Most videos queued or running at once (`--queue`).
    capacity: usize,
    posts: mpsc::UnboundedSender<Post>,
    pub cancel: Arc<AtomicBool>,
}

impl Work {
    pub fn new(store: Store, capacity: usize, posts: mpsc::UnboundedSender<Post>) -> Work {
        Work { table: Mutex::default(), wake: Condvar::new(), store, capacity, posts, cancel: Arc::new(AtomicBool::new(false)) }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues the videos (key, path, name for the log) not done, failed or queued already,
    /// all under one lock so the worker takes them as one batch.
    pub fn submit(&self, videos: &[(String, PathBuf, String)]) -> Vec<Ticket> {
        let mut t = self.lock();
        let mut tickets = Vec::with_capacity(videos.len());
        for (key, path, name) in videos {
            if self.store.has(key) {
                tickets.push(Ticket::Ready);
            } else if let Some(why) = t.failed.get(key) {
                tickets.push(Ticket::Failed(why.clone()));
            } else if let Some(job) = t.jobs.get(key) {
                tickets.push(Ticket::Wait(job.phase.subscribe()));
            } else if t.stopping {
                tickets.push(Ticket::Failed("the server is stopping".into()));
            } else if t.jobs.len() >= self.capacity {
                tickets.push(Ticket::Failed(format!(
                    "the queue is full ({} videos queued or being labelled, --queue): retrieve predictions again later",
                    self.capacity
                )));
            } else {
                let (phase, rx) = watch::channel(Phase::Queued);
                let job = Job { video: path.clone(), name: name.clone(), phase, frames_done: 0, frames_hint: 0, waiters: Vec::new() };
                t.jobs.insert(key.clone(), job);
                t.queue.push_back(key.clone());
                tracing::info!("queued {name} ({} queued or running)", t.jobs.len());
                tickets.push(Ticket::Wait(rx));
            }
        }
        drop(t);
        self.wake.notify_all();
        tickets
    }

    /// Where `key` is now; when it is still queued or running and `waiter` is given, the
    /// waiter gets its predictions through the API once it is done. Decided under the lock
    /// the worker finishes videos under, so a task is answered exactly once: here, or by
    /// the API.
    pub(crate) fn settle(&self, key: &str, waiter: Option<Waiter>) -> Phase {
        let mut t = self.lock();
        if self.store.has(key) {
            return Phase::Done;
        }
        if let Some(why) = t.failed.get(key) {
            return Phase::Failed(why.clone());
        }
        match t.jobs.get_mut(key) {
            Some(job) => {
                job.waiters.extend(waiter);
                job.phase.borrow().clone()
            }
            None => Phase::Failed("interrupted before it finished (the server stopped): retrieve predictions again".into()),
        }
    }

    /// Stops taking work: the batch in flight is stopped after its current model batch
    /// (videos already finished are kept), queued videos are dropped.
    pub fn stop(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.lock().stopping = true;
        self.wake.notify_all();
    }

    /// For the status route and the log.
    pub fn status(&self) -> Value {
        let t = self.lock();
        let mut videos: Vec<Value> = t
            .jobs
            .iter()
            .map(|(key, j)| {
                json!({
                    "name": j.name, "key": key,
                    "phase": match &*j.phase.borrow() { Phase::Queued => "queued", Phase::Running => "running", Phase::Done => "done", Phase::Failed(_) => "failed" },
                    "frames_done": j.frames_done, "frames": j.frames_hint, "tasks_waiting": j.waiters.len(),
                })
            })
            .collect();
        videos.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let running = t.jobs.values().filter(|j| *j.phase.borrow() == Phase::Running).count();
        json!({
            "state": if t.stopping { "stopping" } else { "serving" },
            "queued": t.queue.len(), "running": running, "done": t.done, "failed": t.failed.len(),
            "batches": t.batches, "videos": videos,
        })
    }

    /// The worker: takes what is queued as one batch, labels it, repeats until stopped.
    pub(crate) fn run_worker(&self, labeler: &mut dyn Labeler) {
        loop {
            let (n, batch) = {
                let mut t = self.lock();
                while t.queue.is_empty() && !t.stopping {
                    t = self.wake.wait(t).unwrap_or_else(|e| e.into_inner());
                }
                if t.stopping {
                    break;
                }
                let take = t.queue.len().min(MAX_BATCH);
                let keys: Vec<String> = t.queue.drain(..take).collect();
                let batch: Vec<(String, PathBuf)> = keys
                    .into_iter()
                    .filter_map(|k| {
                        let job = t.jobs.get(&k)?;
                        job.phase.send_replace(Phase::Running);
                        Some((k, job.video.clone()))
                    })
                    .collect();
                t.batches += 1;
                (t.batches, batch)
            };
            tracing::info!("labelling {} video(s) (batch {n})", batch.len());
            let dir = self.store.work_dir(n);
            let progress = BatchProgress {
                work: self,
                order: batch.iter().map(|(k, _)| k.clone()).collect(),
                paths: batch.iter().map(|(k, p)| (p.clone(), k.clone())).collect(),
            };
            let paths: Vec<PathBuf> = batch.iter().map(|(_, p)| p.clone()).collect();
            let result = labeler.label(&paths, &dir, &self.cancel, &progress);
            // Whatever the batch did not finish: failed with the batch's error, or
            // interrupted (not remembered: the next request queues it again).
            let why = match &result {
                Err(e) => format!("the labelling job failed: {e}"),
                Ok(_) => "the labelling job ended without finishing it".into(),
            };
            for (key, _) in &batch {
                if self.cancel.load(Ordering::SeqCst) {
                    self.finish(key, None);
                } else {
                    self.finish(key, Some(Err(why.clone())));
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        // Stopped: queued videos are dropped (their requests are answered or their tasks
        // retrieved again later); nothing of them was computed.
        let mut t = self.lock();
        let queued: Vec<String> = t.queue.drain(..).collect();
        for k in queued {
            t.jobs.remove(&k);
        }
    }

    /// Ends `key`'s job, if it is still in the table: Some(Ok) done (result stored), Some(Err)
    /// failed, None interrupted. The waiters of a done job get their predictions posted.
    fn finish(&self, key: &str, outcome: Option<std::result::Result<(), String>>) {
        let mut t = self.lock();
        let Some(job) = t.jobs.remove(key) else { return };
        let phase = match outcome {
            Some(Ok(())) => {
                t.done += 1;
                Phase::Done
            }
            Some(Err(why)) => {
                tracing::warn!("{}: {why}", job.name);
                t.failed.insert(key.to_string(), why.clone());
                Phase::Failed(why)
            }
            None => Phase::Failed("interrupted: the server is stopping".into()),
        };
        job.phase.send_replace(phase.clone());
        drop(t);
        if phase == Phase::Done {
            self.post(key, job.waiters);
        }
    }

    /// For a task whose video became known only after its request was answered (an upload
    /// still being fetched then): its predictions go through the API once `key` is done, or
    /// at once when it already is.
    pub fn follow(&self, key: &str, waiter: Waiter) {
        let mut t = self.lock();
        if self.store.has(key) {
            drop(t);
            return self.post(key, vec![waiter]);
        }
        if let Some(why) = t.failed.get(key) {
            return tracing::warn!("task {}: {why}", waiter.task);
        }
        match t.jobs.get_mut(key) {
            Some(job) => job.waiters.push(waiter),
            None => tracing::warn!("task {}: its video was not labelled (the server is stopping): retrieve it again", waiter.task),
        }
    }

    /// Sends `key`'s stored predictions to each waiter's Label Studio.
    fn post(&self, key: &str, waiters: Vec<Waiter>) {
        if waiters.is_empty() {
            return;
        }
        let Some(stored) = self.store.get(key) else { return };
        for w in waiters {
            let Some(access) = w.access else {
                tracing::warn!(
                    "task {}: predictions ready, but no Label Studio URL and token to send them with (--label-studio-url, or the setup call): retrieve them again",
                    w.task
                );
                continue;
            };
            let prediction = json!({
                "task": w.task,
                "result": w.project.regions(&stored.regions),
                "score": stored.score,
                "model_version": w.model_version,
            });
            let _ = self.posts.send(Post { access, prediction });
        }
    }

    /// A video of the batch finished (`report` says how): keep its result, wake its waiters.
    fn video_finished(&self, key: &str, report: &VideoReport) {
        let outcome = match report.status {
            Status::Ok | Status::Partial => {
                let file = report.output_dir.join("labelstudio.json");
                match self.store.put(key, &file) {
                    Ok(()) => Ok(()),
                    Err(e) => Err(format!("labelled, but the result could not be kept: {e}")),
                }
            }
            Status::Interrupted => return self.finish(key, None),
            _ => Err(report.error.clone().or_else(|| report.why.clone()).unwrap_or_else(|| format!("{:?}", report.status).to_lowercase())),
        };
        if let Status::Partial = report.status {
            tracing::warn!("{}: labelled the frames that decode ({})", report.input.display(), report.error.as_deref().unwrap_or(""));
        }
        tracing::info!("finished {} ({:.1} s): {}", report.input.display(), report.wall_s, if outcome.is_ok() { "ok" } else { "failed" });
        self.finish(key, Some(outcome));
    }
}

/// The batch job's progress callbacks, mapped to the table.
struct BatchProgress<'a> {
    work: &'a Work,
    /// Keys in input order (the batch's `n` counts from 1).
    order: Vec<String>,
    paths: HashMap<PathBuf, String>,
}

impl Progress for BatchProgress<'_> {
    fn video_started(&self, n: usize, _total: usize, info: &VideoInfo) {
        tracing::info!("labelling {} ({}x{}, {} frames)", info.name, info.width, info.height, info.frames_hint);
        if let Some(k) = self.order.get(n.wrapping_sub(1)) {
            if let Some(j) = self.work.lock().jobs.get_mut(k) {
                j.frames_hint = info.frames_hint;
            }
        }
    }

    fn frames_done(&self, n: usize, frames: u64) {
        if let Some(k) = self.order.get(n.wrapping_sub(1)) {
            if let Some(j) = self.work.lock().jobs.get_mut(k) {
                // A line in the log at each quarter of a long video (when its length is known).
                let quarter = |f: u64| (f * 4).checked_div(j.frames_hint).map_or(0, |q| q.min(3));
                let before = quarter(j.frames_done);
                j.frames_done += frames;
                if quarter(j.frames_done) > before {
                    tracing::info!("{}: {} of {} frames", j.name, j.frames_done, j.frames_hint);
                }
            }
        }
    }

    fn video_finished(&self, n: usize, report: &VideoReport) {
        // By path: the batch's own numbering would shift if it dropped a duplicate input.
        let key = self.paths.get(&report.input).or_else(|| self.order.get(n.wrapping_sub(1)));
        if let Some(k) = key {
            self.work.video_finished(k, report);
        }
    }
}
