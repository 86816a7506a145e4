//! Preprocess on the GPU: takes frames (or regions of frames) and gives the same [`Batch`] as
//! the CPU reference in [`super`] (equal to float rounding), computed by one compute
//! dispatch of `shaders/preprocess.wgsl` for the whole batch. Runs on the wgpu adapter of
//! the shared [`GpuContext`].
//!
//! Frames are uploaded as they are (packed RGB8 bytes, or the three YUV 4:2:0 planes, which
//! the shader converts with the integers of [`crate::yuv`]; four bytes to a u32 word); each batch item
//! gets a small record (where its frame lies in the upload, its region, scale and padding),
//! and the shader writes the output tensor word by word (f32, or two f16 per word).
//!
//! Double buffering: two sets of GPU buffers are used alternately. [`GpuPreprocessor::submit`]
//! packs batch N+1 into wgpu's upload memory and queues its copy and dispatch while the GPU
//! may still be working on batch N; [`GpuPreprocessor::finish`] then maps and copies out
//! batch N's result while the GPU works on N+1. What does *not* overlap: on the GPU itself
//! the copies and dispatches of consecutive batches run one after another (one queue), and
//! [`GpuPreprocessor::make_region_batch`] (submit then finish) overlaps nothing.
//!
//! The result comes back to CPU memory: wgpu (Vulkan) and ONNX Runtime (CUDA) share no
//! buffers, so on a GPU machine this path costs an upload of the frames, a readback of the
//! tensor and ONNX Runtime's own upload of it. It pays where CPU cores are scarce, frames are
//! large, or YUV input spares the CPU its colour conversion; measure (benches/shaders.rs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::gpu_plan::{bytes_of_items, plane_offsets, planes, Params, Planner, WORKGROUP_ODD};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::{DType, InputSpec};
use crate::types::{Batch, Frame, FrameInfo, Region};

const SHADER: &str = include_str!("../../shaders/preprocess.wgsl");

/// The shader entry for `planner`'s output: the per-word fallback for f16 of odd width.
fn entry_point(planner: &Planner) -> &'static str {
    if planner.odd_f16 {
        "preprocess_f16_odd"
    } else {
        "preprocess"
    }
}
/// Buffers grow in steps of this much, so slowly changing batches do not reallocate often.
const GROW_STEP: u64 = 1 << 20;

/// One of the two alternating buffer sets.
#[derive(Default)]
struct Slot {
    params: Option<wgpu::Buffer>,
    items: Option<wgpu::Buffer>,
    src: Option<wgpu::Buffer>,
    dst: Option<wgpu::Buffer>,
    staging: Option<wgpu::Buffer>,
    bind_group: Option<wgpu::BindGroup>,
    /// Bumped on every submit into this slot, so a stale [`Pending`] is caught.
    generation: u64,
    dispatch: [u32; 3],
}

/// A batch queued on the GPU; hand it back to [`GpuPreprocessor::finish`].
#[must_use = "a submitted batch is only read back by finish()"]
pub struct Pending {
    slot: usize,
    generation: u64,
    submission: wgpu::SubmissionIndex,
    frames: Vec<FrameInfo>,
    regions: Vec<Region>,
    shape: [usize; 4],
    elements: usize,
    words: usize,
}

pub struct GpuPreprocessor {
    ctx: Arc<GpuContext>,
    /// The model's input as described; `planner` holds it fitted to the current frame size.
    input: InputSpec,
    planner: Planner,
    pipeline: wgpu::ComputePipeline,
    slots: [Slot; 2],
    next_slot: usize,
    last: Option<usize>,
}

impl GpuPreprocessor {
    /// Compiles the shader for the model input `input`.
    pub fn new(ctx: Arc<GpuContext>, input: &InputSpec) -> Result<GpuPreprocessor> {
        let planner = Planner::new(input, &ctx.limits);
        let pipeline = ctx.compute_pipeline("preprocess", SHADER, entry_point(&planner));
        Ok(GpuPreprocessor { ctx, input: input.clone(), planner, pipeline, slots: Default::default(), next_slot: 0, last: None })
    }

    /// For a model whose input size follows the frame: plans for `items`' frame size (the
    /// same size the CPU reference picks), recompiling only if the entry point changes.
    fn fit_to(&mut self, items: &[(&Frame, Region)]) {
        let fitted = super::batch_input(items, &self.input);
        if (fitted.width, fitted.height) == (self.planner.input.width, self.planner.input.height) {
            return;
        }
        let planner = Planner::new(&fitted, &self.ctx.limits);
        if planner.odd_f16 != self.planner.odd_f16 {
            self.pipeline = self.ctx.compute_pipeline("preprocess", SHADER, entry_point(&planner));
        }
        self.planner = planner;
    }

    /// Whole frames, as [`super::make_batch`].
    pub fn make_batch(&mut self, frames: &[Frame]) -> Result<Batch> {
        let items: Vec<(&Frame, Region)> = frames.iter().map(|f| (f, Region::full(&f.info()))).collect();
        self.make_region_batch(&items)
    }

    /// One region of a frame per item, as [`super::make_region_batch`]. Waits for the
    /// result; a batch too big for one dispatch on this adapter is done in several.
    pub fn make_region_batch(&mut self, items: &[(&Frame, Region)]) -> Result<Batch> {
        self.fit_to(items);
        let chunk = self.max_items(items).max(1);
        let mut out: Option<Batch> = None;
        for part in items.chunks(chunk) {
            let pending = self.submit(part)?;
            let b = self.finish(pending)?;
            match out.as_mut() {
                None => out = Some(b),
                Some(o) => {
                    o.frames.extend(b.frames);
                    o.regions.extend(b.regions);
                    o.shape[0] += b.shape[0];
                    o.data.extend(b.data);
                    o.data_f16.extend(b.data_f16);
                }
            }
        }
        let empty = || Batch { frames: vec![], regions: vec![], shape: self.planner.shape(0), data: vec![], data_f16: vec![] };
        Ok(out.unwrap_or_else(empty))
    }

    /// Uploads `items` and queues their dispatch without waiting. At most two batches may
    /// be in flight: the third submit reuses the first one's buffers, and finishing the first
    /// one after that is an error.
    pub fn submit(&mut self, items: &[(&Frame, Region)]) -> Result<Pending> {
        self.fit_to(items);
        let plan = self.planner.plan(items).map_err(Error::Gpu)?;
        let shape = self.planner.shape(items.len());
        let slot_index = self.next_slot;
        self.next_slot = 1 - self.next_slot;
        let records = self.planner.records(items, &plan)?;
        let ctx = &*self.ctx;
        let dispatch = self.planner.dispatch(items.len(), plan.words);
        let params: Params = self.planner.params(items.len(), plan.elements as u32, dispatch[0] * WORKGROUP_ODD);
        // wgpu reports failures (out of GPU memory above all) to a handler that panics;
        // scopes turn them into errors. Dropped on an early return, they pop themselves.
        let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let invalid = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);

        let slot = &mut self.slots[slot_index];
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let params_buf = ensure(ctx, &mut slot.params, 256, wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST);
        let items_buf = ensure(ctx, &mut slot.items, bytes_of_items(items.len()), storage);
        let src = ensure(ctx, &mut slot.src, plan.src_bytes, storage);
        let dst = ensure(ctx, &mut slot.dst, plan.words * 4, wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC);
        let staging = ensure(ctx, &mut slot.staging, plan.words * 4, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);

        ctx.queue.write_buffer(params_buf, 0, bytemuck::bytes_of(&params));
        ctx.queue.write_buffer(items_buf, 0, bytemuck::cast_slice(&records));
        {
            let size = wgpu::BufferSize::new(plan.src_bytes).expect("plans are never empty");
            let mut view = ctx.queue.write_buffer_with(src, 0, size).ok_or_else(|| Error::Gpu("cannot stage the frame upload".into()))?;
            for &(frame, offset) in &plan.frame_offsets {
                for (plane, at) in planes(items[frame].0).into_iter().zip(plane_offsets(items[frame].0, offset)) {
                    view.slice(at as usize..at as usize + plane.len()).copy_from_slice(plane);
                }
            }
        }

        // Bindings cover only this batch's bytes: the buffers may be bigger than one binding
        // may be, and the plan checked this batch against that limit.
        {
            slot.bind_group = Some(ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("preprocess"),
                layout: &self.pipeline.get_bind_group_layout(0),
                entries: &[
                    entry(0, params_buf, std::mem::size_of::<Params>() as u64),
                    entry(1, items_buf, bytes_of_items(items.len())),
                    entry(2, src, plan.src_bytes),
                    entry(3, dst, plan.words * 4),
                ],
            }));
        }
        slot.dispatch = dispatch;
        slot.generation += 1;
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, slot.bind_group.as_ref(), &[]);
            pass.dispatch_workgroups(dispatch[0], dispatch[1], dispatch[2]);
        }
        encoder.copy_buffer_to_buffer(dst, 0, staging, 0, plan.words * 4);
        let submission = ctx.queue.submit([encoder.finish()]);
        for scope in [invalid, oom] {
            if let Some(e) = pollster::block_on(scope.pop()) {
                // The slot's buffers may be the ones that failed: make them anew next time.
                *slot = Slot { generation: slot.generation, ..Default::default() };
                return Err(Error::Gpu(format!("preprocess batch of {} regions failed: {e}", items.len())));
            }
        }
        self.last = Some(slot_index);
        Ok(Pending {
            slot: slot_index,
            generation: slot.generation,
            submission,
            frames: items.iter().map(|(f, _)| f.info()).collect(),
            regions: items.iter().map(|(_, r)| *r).collect(),
            shape,
            elements: plan.elements as usize,
            words: plan.words as usize,
        })
    }

    /// Waits for a submitted batch and reads it back.
    pub fn finish(&mut self, p: Pending) -> Result<Batch> {
        let slot = &self.slots[p.slot];
        if slot.generation != p.generation {
            return Err(Error::Gpu("a batch was finished after two newer ones were submitted; at most two may be in flight".into()));
        }
        let staging = slot.staging.as_ref().expect("submitted slots have buffers");
        let slice = staging.slice(..p.words as u64 * 4);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.ctx
            .device
            .poll(wgpu::PollType::Wait { submission_index: Some(p.submission), timeout: None })
            .map_err(|e| Error::Gpu(format!("GPU wait failed: {e}")))?;
        rx.recv()
            .map_err(|_| Error::Gpu("GPU readback was dropped".into()))?
            .map_err(|e| Error::Gpu(format!("GPU readback failed: {e}")))?;
        let (mut data, mut data_f16) = (Vec::new(), Vec::new());
        {
            let view = slice.get_mapped_range().map_err(|e| Error::Gpu(format!("GPU readback failed: {e}")))?;
            match self.planner.input.dtype {
                DType::F32 => {
                    data = vec![0f32; p.elements];
                    bytemuck::cast_slice_mut(&mut data).copy_from_slice(&view[..p.elements * 4]);
                }
                DType::F16 => {
                    data_f16 = vec![half::f16::ZERO; p.elements];
                    bytemuck::cast_slice_mut(&mut data_f16).copy_from_slice(&view[..p.elements * 2]);
                }
            }
        }
        staging.unmap();
        Ok(Batch { frames: p.frames, regions: p.regions, shape: p.shape, data, data_f16 })
    }

    /// Runs the last batch's dispatch again, alone, and times it: the shader's own cost
    /// without uploads and readback (plus one submit and wait). For benchmarks.
    pub fn time_last_dispatch(&mut self) -> Result<Duration> {
        let slot = &self.slots[self.last.ok_or_else(|| Error::Gpu("nothing dispatched yet".into()))?];
        let Some(bind_group) = slot.bind_group.as_ref() else { return Err(Error::Gpu("the last dispatch failed".into())) };
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            let [x, y, z] = slot.dispatch;
            pass.dispatch_workgroups(x, y, z);
        }
        let t = Instant::now();
        self.ctx.queue.submit([encoder.finish()]);
        self.ctx.wait()?;
        Ok(t.elapsed())
    }

    /// How many of `items`, from the first, fit one [`GpuPreprocessor::submit`] on this
    /// adapter (0 when not even the first does). Callers that pipeline batches cap their
    /// batch size with it; [`GpuPreprocessor::make_region_batch`] splits by it.
    pub fn max_items(&self, items: &[(&Frame, Region)]) -> usize {
        self.planner.max_items(items)
    }
}

/// Binds the first `size` bytes of `buffer`.
fn entry(binding: u32, buffer: &wgpu::Buffer, size: u64) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer, offset: 0, size: wgpu::BufferSize::new(size) }),
    }
}

/// Makes `buf` at least `size` bytes (a new buffer when it is missing or too small) and gives
/// it: the caller holds a buffer, never an `Option` it must trust to be filled.
fn ensure<'b>(ctx: &GpuContext, buf: &'b mut Option<wgpu::Buffer>, size: u64, usage: wgpu::BufferUsages) -> &'b wgpu::Buffer {
    if buf.as_ref().is_some_and(|b| b.size() < size) {
        *buf = None;
    }
    buf.get_or_insert_with(|| {
        let size = size.next_multiple_of(GROW_STEP).min(ctx.limits.max_buffer_size.max(size));
        ctx.device.create_buffer(&wgpu::BufferDescriptor { label: Some("preprocess"), size, usage, mapped_at_creation: false })
    })
}
