//! Postprocess on the GPU: takes the model's [`RawOutputs`] for a batch, gives the same
//! [`FrameDetections`] as the CPU [`Postprocessor`] (one entry per batch item, frame pixels,
//! clamped to the item's region). Runs on a wgpu adapter ([`GpuContext`]).
//!
//! | family | decode, threshold, compaction | sort + NMS |
//! |---|---|---|
//! | `ssd` | GPU (shaders/ssd_decode.wgsl) | GPU (shaders/nms.wgsl) |
//! | `nanodet` | CPU (a softmax expectation per box side, only for cells above the threshold) | GPU |
//! | `yolov5`, `yolov8` | CPU (their decoders are a per-anchor argmax; not ported yet) | GPU |
//! | `end2end*` | CPU: NMS ran inside the model, nothing left to offload | CPU (sort + truncate) |
//!
//! NMS output equals the CPU's box for box (see [`nms`]). SSD decoding uses the GPU's `exp`
//! and division, which WGSL lets differ from the CPU's by a few ULP: boxes and scores agree
//! to ~1e-6 relative, and the kept set is the same unless a decoded IoU or score sits
//! within those ULP of a threshold.

mod kernels;
pub mod nms;
mod ssd;

use std::sync::Arc;

use self::nms::{GpuNms, ItemOut, MAX_CAP};
use self::ssd::{SsdDecoder, SsdHead};
use super::{Filter, Postprocessor};
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::model::{ModelSpec, OutputSpec};
use crate::types::RawOutputs;
use crate::types::{Batch, FrameDetections};

/// Candidate slots per item for the first try of GPU decoding; an item with more is retried
/// once with [`MAX_CAP`] slots, and beyond that decoded on the CPU.
const FIRST_CAP: usize = 4096;

pub struct GpuPostprocessor {
    ctx: Arc<GpuContext>,
    cpu: Postprocessor,
    nms: GpuNms,
    ssd: Option<SsdDecoder>,
    n_classes: usize,
    /// Items whose answer came from the CPU reference since this was made (see [`nms`]).
    pub cpu_fallbacks: usize,
}

impl GpuPostprocessor {
    /// Compiles the shaders for `spec`'s output family on `ctx`'s adapter.
    pub fn new(ctx: Arc<GpuContext>, spec: &ModelSpec, filter: Filter) -> Result<GpuPostprocessor> {
        let cpu = Postprocessor::new(spec, filter);
        let ssd = match &spec.output {
            OutputSpec::Ssd { boxes, logits, anchors, scales, .. } => {
                let head = SsdHead { names: [boxes.clone(), logits.clone(), anchors.clone()], scales: *scales, input: spec.input.clone() };
                Some(SsdDecoder::new(ctx.clone(), head, cpu.keeps())?)
            }
            _ => None,
        };
        let nms = GpuNms::new(ctx.clone())?;
        Ok(GpuPostprocessor { ctx, cpu, nms, ssd, n_classes: spec.classes.len(), cpu_fallbacks: 0 })
    }

    /// Whether box decoding runs on the GPU for this model (else only NMS does).
    pub fn decodes_on_gpu(&self) -> bool {
        self.ssd.is_some()
    }

    /// Same meaning as [`Postprocessor::process_batch`].
    pub fn process_batch(&mut self, raw: &RawOutputs, batch: &Batch) -> Result<Vec<FrameDetections>> {
        let Some(iou) = self.cpu.nms_iou() else {
            return self.cpu.process_batch(raw, batch);
        };
        let max_keep = self.cpu.filter().max_detections;
        if self.ssd.is_none() {
            let cands = self.cpu.candidates(raw, &batch.frames, &batch.regions)?;
            let before = self.nms.fallbacks;
            let kept = self.nms.run(&cands, iou, max_keep, true)?;
            self.cpu_fallbacks += self.nms.fallbacks - before;
            return Ok(kept.into_iter().zip(&batch.frames).map(|(detections, f)| FrameDetections { frame: *f, detections }).collect());
        }
        let mut outs = self.ssd_on_gpu(raw, batch, iou, max_keep, FIRST_CAP)?;
        if outs.iter().any(|o| matches!(o, ItemOut::Redo)) {
            // Most redos are items with too many candidates for the slots: retry with more.
            outs = self.ssd_on_gpu(raw, batch, iou, max_keep, MAX_CAP)?;
        }
        let mut cpu: Option<Vec<FrameDetections>> = None;
        let mut result = Vec::with_capacity(outs.len());
        for (i, (o, f)) in outs.into_iter().zip(&batch.frames).enumerate() {
            match o {
                ItemOut::Kept(detections) => result.push(FrameDetections { frame: *f, detections }),
                ItemOut::Redo => {
                    self.cpu_fallbacks += 1;
                    if cpu.is_none() {
                        cpu = Some(self.cpu.process_batch(raw, batch)?);
                    }
                    result.push(cpu.as_ref().expect("just computed")[i].clone());
                }
            }
        }
        Ok(result)
    }

    fn ssd_on_gpu(&mut self, raw: &RawOutputs, batch: &Batch, iou: f32, max_keep: usize, cap: usize) -> Result<Vec<ItemOut>> {
        let n = batch.regions.len();
        let ssd = self.ssd.as_mut().expect("SSD model");
        let n_anchors = ssd.anchors(raw, n, self.n_classes)?;
        let bufs = self.nms.buffers(n, cap, max_keep)?;
        let ctx = &self.ctx;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        enc.clear_buffer(&bufs.counts, 0, None);
        enc.clear_buffer(&bufs.flags, 0, None);
        ssd.encode(&mut enc, raw, &batch.regions, n_anchors, self.n_classes, self.cpu.filter().score_threshold, bufs);
        self.nms.encode(&mut enc, n, iou, max_keep, true);
        ctx.queue.submit([enc.finish()]);
        self.nms.read(n)
    }
}
