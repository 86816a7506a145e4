//! The model stages shared by every video in flight (`--jobs`): takes frames from any number
//! of per-video decode threads through one bounded queue, gives each frame's detections back
//! on its own video's channel. Two threads: the batcher forms batches from whatever frames
//! are queued, across videos, and prepares them (preprocess, on the CPU or in the shader); the
//! model thread runs inference and postprocess, merges each frame's tile
//! detections, and sends every frame's result to its video.
//!
//! Order: one queue, one batcher and one model thread, each first in first out, so a video's
//! frames come back in the order its decoder sent them, which the tracker needs.
//!
//! Memory: each frame past its decoder holds a [`Permit`] from one job-wide `Permits`
//! pool: taken before the frame enters the queue, given back when the frame is dropped (by
//! the video's tracker, or anywhere on the way when a video stops early), so the job holds at
//! most `Permits::cap` frames in flight however many videos are open.
//!
//! Batches: a full batch goes at once; a partial one only when the model has nothing to do,
//! so batches fill while the model is busy and the model never waits for one to fill. Which
//! frames share a batch depends on timing; the labels do not: ONNX Runtime's CPU kernels give
//! a frame the same bits in any batch (checked by `tests/jobs.rs`, which compares `--jobs 3`
//! with `--jobs 1` byte for byte).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::Stop;
use crate::devices::{Postprocess, Preparer};
use crate::error::{Error, Result};
use crate::infer::Detector;
use crate::model::InputSpec;
use crate::tile::{merge_batch, MergeParams, TileConfig, TileMode, TilePlan, Tiling};
use crate::types::{Batch, Frame, FrameDetections, Region};

/// Frames the job keeps between decoding and tracking: a batch in the model, one filling and
/// being prepared, and for each video one waiting in the queue and one being tracked.
pub(crate) fn frames_in_flight(batch_size: usize, jobs: usize) -> usize {
    2 * batch_size.max(1) + 2 * jobs.max(1)
}

/// The job-wide pool of frames in flight.
pub(crate) struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
    pub cap: usize,
}

/// One frame's place in the pool, given back on drop.
pub struct Permit(Arc<Permits>);

impl Permits {
    pub fn new(cap: usize) -> Arc<Permits> {
        let cap = cap.max(1);
        Arc::new(Permits { free: Mutex::new(cap), freed: Condvar::new(), cap })
    }

    /// Waits for a free place; `None` when `stop()` turns true first (checked every 50 ms,
    /// so a cancelled or failed video's decoder never waits for frames that will not return).
    pub fn acquire(self: &Arc<Self>, stop: &dyn Fn() -> bool) -> Option<Permit> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if stop() {
                return None;
            }
            if *free > 0 {
                *free -= 1;
                return Some(Permit(self.clone()));
            }
            free = self.freed.wait_timeout(free, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Places free now (for tests).
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        *self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// A decoded frame on its way to the model, and where its result goes.
pub struct Work {
    /// Which video it is from (numbered by the job), to count batches shared by videos.
    pub video: u64,
    pub frame: Frame,
    /// Whether the model sees this frame's tiles too (where `--tiles` makes any): false once
    /// `--tiles auto`'s probe found that they do not pay on this video.
    pub tiles: bool,
    /// With `tiles`: the finer grid `--tiles auto` keeps for small people (its probe said so).
    pub fine: bool,
    /// One of the first frames `--tiles auto` probes: its whole-frame detections are kept
    /// apart too (only these; later tiled frames skip that second merge).
    pub probe: bool,
    pub reply: Sender<Result<Detected>>,
    pub permit: Permit,
}

/// One frame's result, sent back to its video.
pub struct Detected {
    /// The frame's detections, its tiles merged.
    pub detections: FrameDetections,
    /// With `--tiles auto`, for a tiled frame: its detections from the whole frame alone, as
    /// an untiled frame would have had them (the probe compares the two).
    pub whole: Option<FrameDetections>,
    /// The frame itself when the tracker reads its colours.
    pub frame: Option<Frame>,
    /// This frame's share of its batch's preprocess, inference and postprocess time.
    pub preprocess_s: f64,
    pub infer_s: f64,
    pub postprocess_s: f64,
    /// Held until the tracker is done with the frame.
    pub permit: Permit,
}

/// How the model's batches were filled over a job (report.json `model_batches`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct BatchStats {
    /// Model calls.
    pub batches: u64,
    /// Frames in them (each frame's tiles count once).
    pub frames: u64,
    /// Batches that held `--batch-size` frames.
    pub full: u64,
    /// Batches that held frames of more than one video.
    pub shared: u64,
}

/// What the engine threads need besides their queues.
pub(crate) struct Engine<'a> {
    pub preparer: &'a mut Preparer,
    pub detector: &'a mut Detector,
    pub post: &'a mut Postprocess,
    pub input: &'a InputSpec,
    pub tiles: Tiling,
    pub batch_size: usize,
    /// Carry each frame's pixels on to its tracker (which reads the colours of each box).
    pub keep_frames: bool,
}

/// A prepared batch and, per frame, where its result goes.
struct Prepared {
    batch: Batch,
    frames: Vec<Pending>,
    preprocess_s: f64,
}

/// A frame in a prepared batch: its pixels are dropped after preprocessing unless the
/// tracker reads them.
struct Pending {
    frame: Option<Frame>,
    regions: usize,
    /// Keep the whole frame's own detections apart too (a probed frame).
    probed: bool,
    reply: Sender<Result<Detected>>,
    permit: Permit,
}

impl Engine<'_> {
    /// Runs the batcher and the model thread until `queue` closes (every video's sender
    /// dropped) and the last batch is answered. Once `stop` is requested, frames still queued
    /// are dropped unprepared (their videos end as interrupted).
    pub fn run(self, queue: Receiver<Work>, stop: &Stop) -> BatchStats {
        let Engine { preparer, detector, post, input, tiles, batch_size, keep_frames } = self;
        // Batches sent to the model thread and not answered yet: a partial batch goes only at 0.
        let in_model = AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Prepared>(1);
        std::thread::scope(|s| {
            let in_model = &in_model;
            let merge = tiles.merge;
            s.spawn(move || model_loop(rx, detector, post, &merge, in_model));
            batch_loop(queue, tx, preparer, input, &tiles, batch_size.max(1), keep_frames, in_model, stop)
        })
    }
}

/// Forms batches from the queue and prepares them.
#[allow(clippy::too_many_arguments)]
fn batch_loop(
    queue: Receiver<Work>,
    tx: SyncSender<Prepared>,
    preparer: &mut Preparer,
    input: &InputSpec,
    tiles: &Tiling,
    batch_size: usize,
    keep_frames: bool,
    in_model: &AtomicUsize,
    stop: &Stop,
) -> BatchStats {
    let mut stats = BatchStats::default();
    // One tile plan per frame size (videos differ in size), tiles on or off, and grid.
    let mut plans: HashMap<(u32, u32, bool, bool), TilePlan> = HashMap::new();
    let probing = tiles.config.mode == TileMode::Auto;
    // A frame whose input size differs from the batch being formed starts the next one.
    let mut carried: Option<Work> = None;
    // Model input size per frame size, worked out once per size (not per frame).
    let mut sizes: HashMap<(u32, u32), (u32, u32)> = HashMap::new();
    let mut input_size = |w: &Work| {
        *sizes.entry((w.frame.width, w.frame.height)).or_insert_with(|| {
            let fitted = input.for_frame(w.frame.width, w.frame.height);
            (fitted.width, fitted.height)
        })
    };
    while let Some(first) = carried.take().or_else(|| queue.recv().ok()) {
        let size = input_size(&first);
        let mut works = vec![first];
        while works.len() < batch_size {
            let next = match queue.try_recv() {
                Ok(w) => w,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) if in_model.load(Ordering::Acquire) == 0 => break,
                // The model is busy: wait a little for more frames to fill the batch.
                Err(TryRecvError::Empty) => match queue.recv_timeout(Duration::from_millis(1)) {
                    Ok(w) => w,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
            };
            // One batch is one tensor shape: a model whose input follows the frame size takes
            // frames of one input size per batch.
            if input_size(&next) != size {
                carried = Some(next);
                break;
            }
            works.push(next);
        }
        if stop.requested() {
            continue;
        }
        stats.batches += 1;
        stats.frames += works.len() as u64;
        stats.full += (works.len() == batch_size) as u64;
        stats.shared += works.iter().any(|w| w.video != works[0].video) as u64;
        let t = Instant::now();
        let mut items: Vec<(&Frame, Region)> = Vec::new();
        let mut counts = Vec::with_capacity(works.len());
        for w in &works {
            let (width, height) = (w.frame.width, w.frame.height);
            let plan = plans.entry((width, height, w.tiles, w.fine)).or_insert_with(|| {
                let fitted = input.for_frame(width, height);
                let config = match (w.tiles, w.fine) {
                    (false, _) => TileConfig::OFF,
                    (true, false) => tiles.config,
                    (true, true) => tiles.config.fine(width, height, fitted.width, fitted.height),
                };
                let p = TilePlan::new(width, height, fitted.width, fitted.height, &config);
                if p.is_tiled() && !probing {
                    tracing::info!(
                        "{width}x{height} frames: whole frame + {}x{} tiles, {} model inputs per frame",
                        p.rows,
                        p.cols,
                        p.regions.len()
                    );
                }
                p
            });
            items.extend(plan.regions.iter().map(|r| (&w.frame, *r)));
            counts.push((plan.regions.len(), w.probe && plan.is_tiled()));
        }
        let batch = preparer.prepare(&items);
        drop(items);
        let preprocess_s = t.elapsed().as_secs_f64();
        let frames = works
            .into_iter()
            .zip(counts)
            .map(|(w, (regions, probed))| Pending {
                frame: keep_frames.then_some(w.frame),
                regions,
                probed,
                reply: w.reply,
                permit: w.permit,
            })
            .collect::<Vec<_>>();
        match batch {
            Ok(batch) => {
                in_model.fetch_add(1, Ordering::AcqRel);
                if tx.send(Prepared { batch, frames, preprocess_s }).is_err() {
                    // The model thread is gone (it panicked): its videos find their frames missing.
                    break;
                }
            }
            Err(e) => answer_all_with(frames, &e),
        }
    }
    stats
}

/// Runs each prepared batch through the model and postprocess, and answers its frames.
fn model_loop(rx: Receiver<Prepared>, detector: &mut Detector, post: &mut Postprocess, merge: &MergeParams, in_model: &AtomicUsize) {
    for Prepared { batch, frames, preprocess_s } in rx.iter() {
        let t = Instant::now();
        let raw = detector.run(&batch);
        let t_post = Instant::now();
        let labelled = raw.and_then(|raw| post.process_batch(&raw, &batch));
        let (infer_s, post_s) = ((t_post - t).as_secs_f64(), t_post.elapsed().as_secs_f64());
        in_model.fetch_sub(1, Ordering::AcqRel);
        let labelled = match labelled {
            Ok(l) if l.len() == batch.regions.len() => l,
            Ok(l) => {
                let e = Error::Inference(format!("postprocess gave {} results for {} model inputs", l.len(), batch.regions.len()));
                answer_all_with(frames, &e);
                continue;
            }
            Err(e) => {
                answer_all_with(frames, &e);
                continue;
            }
        };
        let n = frames.len() as f64;
        let mut items = labelled.into_iter();
        let mut at = 0;
        for p in frames {
            // One frame's regions, merged into its detections (merged per frame: two videos'
            // frames in one batch can share an index).
            let parts: Vec<FrameDetections> = items.by_ref().take(p.regions).collect();
            // The whole frame's part through the same merge as an untiled frame's: the same boxes.
            let whole = if p.probed { merge_batch(parts[..1].to_vec(), &batch.regions[at..at + 1], merge).pop() } else { None };
            let merged = merge_batch(parts, &batch.regions[at..at + p.regions], merge).pop();
            at += p.regions;
            let result = merged
                .map(|detections| Detected {
                    detections,
                    whole,
                    frame: p.frame,
                    preprocess_s: preprocess_s / n,
                    infer_s: infer_s / n,
                    postprocess_s: post_s / n,
                    permit: p.permit,
                })
                .ok_or_else(|| Error::Inference("a frame came back from postprocess without results".into()));
            // A video that stopped early no longer listens: its result is dropped, permit and all.
            let _ = p.reply.send(result);
        }
    }
}

/// Every frame of a batch that failed gets the error (the job stops on model errors; a
/// failing shader fails the videos of this batch).
fn answer_all_with(frames: Vec<Pending>, e: &Error) {
    for p in frames {
        let _ = p.reply.send(Err(e.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_bound_the_frames_in_flight_and_come_back_on_drop() {
        let pool = Permits::new(2);
        let a = pool.acquire(&|| false).unwrap();
        let b = pool.acquire(&|| false).unwrap();
        assert_eq!(pool.available(), 0);
        // A third waits until told to stop...
        let started = Instant::now();
        let stop_after = |ms| move || started.elapsed() > Duration::from_millis(ms);
        assert!(pool.acquire(&stop_after(120)).is_none());
        // ...or until one comes back.
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(30));
                drop(a);
            });
            assert!(pool.acquire(&|| false).is_some());
        });
        drop(b);
        assert_eq!(pool.available(), 2);
    }

    #[test]
    fn in_flight_grows_with_batch_and_jobs() {
        assert_eq!(frames_in_flight(1, 1), 4);
        assert_eq!(frames_in_flight(16, 8), 48);
        assert_eq!(frames_in_flight(0, 0), 4);
    }
}
