//! Runs the stages over one video: decode and preprocess each on their own thread, inference,
//! postprocess and export on the caller's, joined by bounded channels so at most
//! `2 * batch_size` decoded frames and two prepared batches are in flight at any time,
//! whatever the length of the video.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use crate::decode::VideoReader;
use crate::error::{Error, Result};
use crate::export::{ExportContext, Format, LabelWriter};
use crate::infer::Detector;
use crate::model::ModelSpec;
use crate::postprocess::Postprocessor;
use crate::preprocess::make_region_batch;
use crate::tile::{merge_batch, TilePlan, Tiling};
use crate::types::{Batch, Frame, Region, VideoInfo};

/// Busy time per stage, summed over the video (stages overlap, so these add up to more than
/// the wall time when the pipeline keeps every stage busy).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StageTimes {
    pub decode_s: f64,
    pub preprocess_s: f64,
    pub infer_s: f64,
    pub postprocess_s: f64,
    pub export_s: f64,
}

/// What came of one video.
#[derive(Debug, Clone)]
pub struct VideoOutcome {
    pub info: VideoInfo,
    pub frames: u64,
    pub detections: u64,
    pub decode_errors: u32,
    /// Set when the stream ended well before the frame count its container announced.
    pub truncated: Option<String>,
    pub files: Vec<PathBuf>,
    pub wall: Duration,
    pub stages: StageTimes,
}

pub struct Pipeline<'a> {
    pub spec: &'a ModelSpec,
    pub detector: &'a mut Detector,
    pub post: &'a Postprocessor,
    pub batch_size: usize,
    pub formats: &'a [Format],
    /// Which regions of each frame the model sees (whole frame, tiles) and how their
    /// detections merge back.
    pub tiles: Tiling,
}

impl Pipeline<'_> {
    /// Labels `video` into `out_dir` (created if needed). `on_frames(n)` is called as frames
    /// finish; `cancel` stops the run between batches, leaving no output files behind.
    pub fn run(
        &mut self,
        video: &Path,
        out_dir: &Path,
        cancel: &AtomicBool,
        on_start: &dyn Fn(&VideoInfo),
        on_frames: &(dyn Fn(u64) + Sync),
    ) -> Result<VideoOutcome> {
        let start = Instant::now();
        let reader = VideoReader::open(video)?;
        let info = reader.info().clone();
        on_start(&info);
        std::fs::create_dir_all(out_dir)
            .map_err(|e| Error::Output(format!("cannot create {}: {e}", out_dir.display())))?;
        let ctx = ExportContext { video: &info, model: self.spec, dir: out_dir };
        let mut writers: Vec<Box<dyn LabelWriter>> = self.formats.iter().map(|f| f.create(&ctx)).collect::<Result<_>>()?;

        let batch_size = self.batch_size.max(1);
        let (frame_tx, frame_rx) = sync_channel::<Result<Frame>>(batch_size * 2);
        let (batch_tx, batch_rx) = sync_channel::<Result<Batch>>(2);
        let mut stages = StageTimes::default();
        let mut frames = 0u64;
        let mut detections = 0u64;

        let (decode_errors, decode_s, preprocess_s) = std::thread::scope(|s| -> Result<(u32, f64, f64)> {
            let decoder = s.spawn(move || decode_loop(reader, frame_tx, cancel));
            let input = &self.spec.input;
            let tiles = &self.tiles;
            let prep = s.spawn(move || preprocess_loop(frame_rx, batch_tx, batch_size, input, tiles));
            let consumed = (|| -> Result<()> {
                for batch in batch_rx.iter() {
                    let batch = batch?;
                    let t = Instant::now();
                    let raw = self.detector.run(&batch)?;
                    let t_post = Instant::now();
                    // One entry per region, then one per frame: downstream never sees tiles.
                    let labelled = self.post.process_batch(&raw, &batch)?;
                    let labelled = merge_batch(labelled, &batch.regions, &self.tiles.merge);
                    let t_export = Instant::now();
                    for fd in &labelled {
                        detections += fd.detections.len() as u64;
                        for w in writers.iter_mut() {
                            w.write_frame(fd)?;
                        }
                    }
                    stages.infer_s += (t_post - t).as_secs_f64();
                    stages.postprocess_s += (t_export - t_post).as_secs_f64();
                    stages.export_s += t_export.elapsed().as_secs_f64();
                    frames += labelled.len() as u64;
                    on_frames(labelled.len() as u64);
                }
                Ok(())
            })();
            // On an error here, dropping the receiver unblocks the other threads.
            drop(batch_rx);
            let prep_s = prep.join().map_err(|_| Error::Inference("preprocess thread panicked".into()))?;
            let (errs, dec_s) = decoder.join().map_err(|_| Error::video(video, "decoder thread panicked"))?;
            consumed?;
            Ok((errs, dec_s, prep_s))
        })?;
        stages.decode_s = decode_s;
        stages.preprocess_s = preprocess_s;

        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        if frames == 0 {
            return Err(Error::video(video, "no frames could be decoded"));
        }
        let truncated = (info.frames_hint > frames + 2).then(|| {
            format!("stream ended after {frames} of the {} frames its container announces (truncated or damaged file)", info.frames_hint)
        });
        let t = Instant::now();
        let files = writers.into_iter().map(|w| w.finish()).collect::<Result<Vec<_>>>()?;
        stages.export_s += t.elapsed().as_secs_f64();
        Ok(VideoOutcome { info, frames, detections, decode_errors, truncated, files, wall: start.elapsed(), stages })
    }
}

/// Decodes until the end, an error (sent down the channel), a cancel, or the consumer
/// hanging up. Returns the count of skipped decode errors and the time spent decoding.
fn decode_loop(mut reader: VideoReader, tx: SyncSender<Result<Frame>>, cancel: &AtomicBool) -> (u32, f64) {
    let mut busy = Duration::ZERO;
    loop {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let t = Instant::now();
        let next = reader.next_frame();
        busy += t.elapsed();
        match next {
            Ok(Some(frame)) => {
                if tx.send(Ok(frame)).is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Err(e));
                break;
            }
        }
    }
    (reader.skipped_errors, busy.as_secs_f64())
}

/// Groups frames into batches of `batch_size` frames and prepares each; every region the
/// tile plan gives a frame becomes one batch item, a frame's regions side by side, so a batch
/// holds `batch_size` x regions items. Returns the time spent preparing.
fn preprocess_loop(
    rx: Receiver<Result<Frame>>,
    tx: SyncSender<Result<Batch>>,
    batch_size: usize,
    input: &crate::model::InputSpec,
    tiles: &Tiling,
) -> f64 {
    let mut busy = Duration::ZERO;
    let mut pending: Vec<Frame> = Vec::with_capacity(batch_size);
    // Frames of a video share one size, so the plan is computed once (again if it changes).
    let mut plan: Option<TilePlan> = None;
    let mut flush = |pending: &mut Vec<Frame>, busy: &mut Duration| -> bool {
        if pending.is_empty() {
            return true;
        }
        let t = Instant::now();
        let mut items: Vec<(&Frame, Region)> = Vec::new();
        for f in pending.iter() {
            let full = Region::full(&f.info());
            let p = match &plan {
                Some(p) if p.regions[0] == full => p,
                _ => {
                    let p = plan.insert(tiles.plan(f.width, f.height, input));
                    if p.is_tiled() {
                        let (w, h) = (f.width, f.height);
                        tracing::info!("{w}x{h} frames: whole frame + {}x{} tiles, {} model inputs per frame", p.rows, p.cols, p.regions.len());
                    }
                    p
                }
            };
            items.extend(p.regions.iter().map(|r| (f, *r)));
        }
        let batch = make_region_batch(&items, input);
        *busy += t.elapsed();
        pending.clear();
        tx.send(Ok(batch)).is_ok()
    };
    for frame in rx.iter() {
        match frame {
            Ok(f) => {
                pending.push(f);
                if pending.len() == batch_size && !flush(&mut pending, &mut busy) {
                    return busy.as_secs_f64();
                }
            }
            Err(e) => {
                // Frames decoded before the error still get labelled, then the error.
                if flush(&mut pending, &mut busy) {
                    let _ = tx.send(Err(e));
                }
                return busy.as_secs_f64();
            }
        }
    }
    flush(&mut pending, &mut busy);
    busy.as_secs_f64()
}
