//! Stage 4, postprocess: takes the model's [`RawOutputs`] for a batch, gives
//! [`FrameDetections`] per frame in original-frame pixels: boxes decoded by the decoder the
//! model description names, filtered by score and class, then class-aware NMS (skipped for
//! models that run NMS themselves). Runs on the CPU.

mod end2end;
pub mod gpu;
pub(crate) mod nanodet;
pub mod nms;
pub mod ssd;
mod yolo;

use crate::error::{Error, Result};
use crate::model::{ModelSpec, OutputSpec};
use crate::preprocess::InputTransform;
use crate::types::{Batch, Detection, FrameDetections, FrameInfo, RawOutputs, RawTensor, Region};

/// What to keep.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Detections scoring below this are dropped before NMS.
    pub score_threshold: f32,
    /// Class indices to keep; empty keeps every reportable class.
    pub classes: Vec<u32>,
    /// At most this many detections per frame, best first.
    pub max_detections: usize,
}

pub struct Postprocessor {
    spec: ModelSpec,
    filter: Filter,
    /// `keep[c]`: whether class index `c` is reported.
    keep: Vec<bool>,
}

/// Per-batch facts every decoder needs.
pub(crate) struct DecodeContext<'a> {
    pub frames: &'a [FrameInfo],
    pub transforms: Vec<InputTransform>,
    pub input_w: f32,
    pub input_h: f32,
    pub score_threshold: f32,
    pub keep: &'a [bool],
}

/// Candidate detections per frame of the batch, before NMS.
pub(crate) type Candidates = Vec<Vec<Detection>>;

impl Postprocessor {
    pub fn new(spec: &ModelSpec, filter: Filter) -> Postprocessor {
        let keep = (0..spec.classes.len() as u32)
            .map(|c| spec.is_reportable(c) && (filter.classes.is_empty() || filter.classes.contains(&c)))
            .collect();
        Postprocessor { spec: spec.clone(), filter, keep }
    }

    /// Turns one batch of raw outputs into detections, one entry per item of `batch`
    /// (so a tiled frame gets one entry per tile), in frame pixels.
    pub fn process_batch(&self, raw: &RawOutputs, batch: &Batch) -> Result<Vec<FrameDetections>> {
        self.process_regions(raw, &batch.frames, &batch.regions)
    }

    /// Like [`Postprocessor::process_batch`], for a batch of whole frames.
    pub fn process(&self, raw: &RawOutputs, frames: &[FrameInfo]) -> Result<Vec<FrameDetections>> {
        let regions: Vec<Region> = frames.iter().map(Region::full).collect();
        self.process_regions(raw, frames, &regions)
    }

    fn process_regions(&self, raw: &RawOutputs, frames: &[FrameInfo], regions: &[Region]) -> Result<Vec<FrameDetections>> {
        let cands = self.candidates(raw, frames, regions)?;
        let nms_iou = self.nms_iou();
        Ok(cands
            .into_iter()
            .zip(frames)
            .map(|(c, frame)| {
                let detections = match nms_iou {
                    Some(iou) => nms::nms(c, iou, self.filter.max_detections),
                    None => {
                        let mut c = c;
                        c.sort_by(|a, b| b.score.total_cmp(&a.score));
                        c.truncate(self.filter.max_detections);
                        c
                    }
                };
                FrameDetections { frame: *frame, detections }
            })
            .collect())
    }

    /// The IoU threshold of the NMS this model needs; `None` when the model ran NMS itself.
    pub fn nms_iou(&self) -> Option<f32> {
        match &self.spec.output {
            OutputSpec::Ssd { nms_iou, .. }
            | OutputSpec::Nanodet { nms_iou, .. }
            | OutputSpec::Yolov5 { nms_iou, .. }
            | OutputSpec::Yolov8 { nms_iou, .. } => Some(*nms_iou),
            OutputSpec::End2end { .. } | OutputSpec::End2endSplit { .. } => None,
        }
    }

    pub(crate) fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Class `c` is reported (reportable and asked for).
    pub(crate) fn keeps(&self) -> &[bool] {
        &self.keep
    }

    /// Candidates per batch item, before NMS: decoded, in frame pixels, clamped to the region
    /// the model saw, empty boxes dropped; in decoder order (the order NMS breaks ties by).
    pub fn candidates(&self, raw: &RawOutputs, frames: &[FrameInfo], regions: &[Region]) -> Result<Vec<Vec<Detection>>> {
        // The input the batch was made for (a batch holds frames of one size).
        let input = frames.first().map_or_else(|| self.spec.input.clone(), |f| self.spec.input.for_frame(f.width, f.height));
        let ctx = DecodeContext {
            frames,
            transforms: regions.iter().map(|r| InputTransform::for_region(*r, &input)).collect(),
            input_w: input.width as f32,
            input_h: input.height as f32,
            score_threshold: self.filter.score_threshold,
            keep: &self.keep,
        };
        let mut cands: Candidates = vec![Vec::new(); frames.len()];
        let decoded = match &self.spec.output {
            OutputSpec::Ssd { boxes, logits, anchors, scales, .. } => ssd::decode(raw, [boxes, logits, anchors], *scales, &ctx, &mut cands),
            OutputSpec::Nanodet { scores, boxes, strides, reg_max, .. } => {
                nanodet::decode(raw, [scores, boxes], strides, *reg_max as usize, &ctx, &mut cands)
            }
            OutputSpec::Yolov5 { output, .. } => yolo::decode(raw, output, false, &ctx, &mut cands),
            OutputSpec::Yolov8 { output, .. } => yolo::decode(raw, output, true, &ctx, &mut cands),
            OutputSpec::End2end { output, normalized } => end2end::decode_packed(raw, output, *normalized, &ctx, &mut cands),
            OutputSpec::End2endSplit { boxes, scores, classes, count, box_order, normalized } => {
                end2end::decode_split(raw, [boxes, scores, classes], count.as_deref(), *box_order, *normalized, &ctx, &mut cands)
            }
        };
        decoded.map_err(|e| Error::Inference(format!("model {}: {e}", self.spec.name)))?;
        Ok(cands
            .into_iter()
            .zip(regions)
            .map(|(c, r)| {
                // Clamped to the region the model saw: a box cut by a tile border ends on it,
                // which is how the tile merge recognises it.
                let (x0, y0) = (r.x as f32, r.y as f32);
                let (x1, y1) = (x0 + r.width as f32, y0 + r.height as f32);
                c.into_iter().map(|d| Detection { bbox: d.bbox.clamp_to(x0, y0, x1, y1), ..d }).filter(|d| d.bbox.area() > 0.0).collect()
            })
            .collect())
    }
}

fn tensor<'a>(raw: &'a RawOutputs, name: &str) -> Result<&'a RawTensor, String> {
    raw.get(name).ok_or_else(|| format!("the model produced no output named '{name}'"))
}
