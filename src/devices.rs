//! Which device runs each stage. Takes `--device` (and the per-stage overrides), gives the
//! stage objects the pipeline drives: a [`Preparer`] (preprocess on the CPU or in
//! `shaders/preprocess.wgsl`) and a [`Postprocess`] (box decoding and NMS on the CPU or in
//! `shaders/ssd_decode.wgsl` + `shaders/nms.wgsl`), sharing one [`GpuContext`].
//!
//! Why `auto` chooses what it does (numbers in docs/src/quality.md, from `cargo bench --bench shaders`
//! and `--bench nms`): a software adapter (lavapipe, llvmpipe) is never used unless asked
//! for, since it runs 3-200x slower than the CPU code it replaces; on a real GPU, preprocess
//! runs in the shader (its cost grows with frame size and batch); postprocess stays on the
//! CPU, where it costs about 0.1 ms a frame: too little for a GPU to win back the copies.

use std::sync::Arc;

use crate::decode::HwDecode;
use crate::error::{Error, Result};
use crate::gpu::{AdapterSummary, GpuContext};
use crate::infer::DeviceChoice;
use crate::model::{InputSpec, ModelSpec};
use crate::postprocess::gpu::GpuPostprocessor;
use crate::postprocess::{Filter, Postprocessor};
use crate::preprocess::gpu::GpuPreprocessor;
use crate::preprocess::make_region_batch;
use crate::types::{Batch, Frame, FrameDetections, RawOutputs, Region};

/// Preprocess on the device chosen for it.
pub enum Preparer {
    Cpu(InputSpec),
    Gpu(Box<GpuPreprocessor>),
}

impl Preparer {
    /// One batch item per (frame, region), as [`make_region_batch`].
    pub fn prepare(&mut self, items: &[(&Frame, Region)]) -> Result<Batch> {
        match self {
            Preparer::Cpu(input) => Ok(make_region_batch(items, input)),
            Preparer::Gpu(gpu) => gpu.make_region_batch(items),
        }
    }
    pub(crate) fn on_gpu(&self) -> bool {
        matches!(self, Preparer::Gpu(_))
    }
}

/// Postprocess on the device chosen for it.
#[allow(clippy::large_enum_variant)] // one per run, never moved in a hot loop
pub enum Postprocess {
    Cpu(Postprocessor),
    Gpu(Box<GpuPostprocessor>),
}

impl Postprocess {
    /// One entry per batch item, as [`Postprocessor::process_batch`].
    pub fn process_batch(&mut self, raw: &RawOutputs, batch: &Batch) -> Result<Vec<FrameDetections>> {
        match self {
            Postprocess::Cpu(p) => p.process_batch(raw, batch),
            Postprocess::Gpu(p) => p.process_batch(raw, batch),
        }
    }
}

/// The devices asked for: `--device`, and the overrides for single stages.
#[derive(Debug, Clone, Copy)]
pub struct DeviceRequest {
    pub all: DeviceChoice,
    pub preprocess: Option<DeviceChoice>,
    pub infer: Option<DeviceChoice>,
    pub postprocess: Option<DeviceChoice>,
    pub decode: Option<DeviceChoice>,
}

impl DeviceRequest {
    /// `choice` for every stage, none set apart.
    pub fn all(choice: DeviceChoice) -> DeviceRequest {
        DeviceRequest { all: choice, preprocess: None, infer: None, postprocess: None, decode: None }
    }

    /// Inference: `gpu` for the whole pipeline means "CUDA if it works, else the CPU with a
    /// logged reason": a wgpu adapter (even lavapipe) can run the shaders where CUDA cannot
    /// run, and the run should still go through. `--infer-device gpu` insists on CUDA.
    pub fn infer(&self) -> DeviceChoice {
        self.infer.unwrap_or(match self.all {
            DeviceChoice::Gpu => DeviceChoice::Auto,
            d => d,
        })
    }

    /// Decoding: NVDEC unless the CPU is asked for; `--decode-device gpu` (only) insists on a
    /// CUDA device, checked at start (`check_decode`).
    pub fn decode(&self) -> HwDecode {
        match (self.decode, self.all) {
            (Some(DeviceChoice::Cpu), _) => HwDecode::Off("--decode-device cpu"),
            (None, DeviceChoice::Cpu) => HwDecode::Off("--device cpu"),
            _ => HwDecode::Cuda,
        }
    }
}

/// `--decode-device gpu` without a CUDA device fails here, before any video, with the reason.
pub(crate) fn check_decode(request: &DeviceRequest) -> Result<()> {
    if request.decode != Some(DeviceChoice::Gpu) {
        return Ok(());
    }
    crate::decode::cuda_available().map_err(|why| Error::Gpu(format!("--decode-device gpu: {why}")))
}

/// The shader stages, built on the devices `request` resolves to.
pub struct ShaderStages {
    pub preparer: Preparer,
    pub postprocess: Postprocess,
    /// The adapter the shaders run on, when any does.
    pub adapter: Option<AdapterSummary>,
}

impl ShaderStages {
    pub fn new(request: &DeviceRequest, spec: &ModelSpec, filter: Filter) -> Result<ShaderStages> {
        let pre = request.preprocess.unwrap_or(request.all);
        let post = request.postprocess.unwrap_or(request.all);
        let forced = pre == DeviceChoice::Gpu || post == DeviceChoice::Gpu;
        let wanted = forced || pre == DeviceChoice::Auto;
        let ctx = if !wanted {
            None
        } else {
            match GpuContext::new(forced) {
                Ok(ctx) => Some(Arc::new(ctx)),
                Err(e) if !forced => {
                    // Expected on a machine without a GPU: said with -v only.
                    tracing::debug!("shader stages on the CPU: {e}");
                    None
                }
                Err(e) => return Err(Error::Gpu(format!("--device gpu asks for a GPU adapter for the shader stages: {e}"))),
            }
        };
        let on_gpu = |choice: DeviceChoice, auto: bool| match choice {
            DeviceChoice::Gpu => true,
            DeviceChoice::Auto => auto && ctx.as_ref().is_some_and(|c| !c.adapter.software),
            DeviceChoice::Cpu => false,
        };
        let preparer = match &ctx {
            Some(c) if on_gpu(pre, true) => Preparer::Gpu(Box::new(GpuPreprocessor::new(c.clone(), &spec.input)?)),
            _ => Preparer::Cpu(spec.input.clone()),
        };
        let postprocess = match &ctx {
            Some(c) if on_gpu(post, false) => Postprocess::Gpu(Box::new(GpuPostprocessor::new(c.clone(), spec, filter)?)),
            _ => Postprocess::Cpu(Postprocessor::new(spec, filter)),
        };
        let used = preparer.on_gpu() || matches!(postprocess, Postprocess::Gpu(_));
        let adapter = ctx.filter(|_| used).map(|c| c.adapter.clone());
        Ok(ShaderStages { preparer, postprocess, adapter })
    }

    /// What each shader stage ran on, for the log and `report.json`.
    pub fn describe(&self) -> (String, String) {
        let gpu = |a: &Option<AdapterSummary>| a.as_ref().map_or("gpu".to_string(), |a| format!("gpu: {a}"));
        let pre = if self.preparer.on_gpu() { gpu(&self.adapter) } else { "cpu".into() };
        let post = match &self.postprocess {
            Postprocess::Gpu(p) if p.decodes_on_gpu() => format!("{} (decode + NMS)", gpu(&self.adapter)),
            Postprocess::Gpu(_) => format!("{} (NMS; box decoding on the cpu)", gpu(&self.adapter)),
            Postprocess::Cpu(_) => "cpu".into(),
        };
        (pre, post)
    }
}
