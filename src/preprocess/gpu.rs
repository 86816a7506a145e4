//! Stage 2 on the GPU: takes frames (or regions of frames) and gives the same [`Batch`] as
//! the CPU reference in [`super`] (equal to float rounding), computed by one compute
//! dispatch of `shaders/preprocess.wgsl` for the whole batch. Runs on the wgpu adapter of
//! the shared [`GpuContext`].
//!
//! Frames are uploaded as they are (packed RGB8 bytes, or the three YUV 4:2:0 planes, which
//! the shader converts with the integers of [`super::yuv`]; four bytes to a u32 word); each batch item
//! gets a small record (where its frame lies in the upload, its region, scale and padding),
//! and the shader writes the output tensor word by word (f32, or two f16 per word).
//!
//! Double buffering: two sets of GPU buffers are used alternately. [`GpuPreprocessor::submit`]
//! packs batch N+1 into wgpu's upload memory and queues its copy and dispatch while the GPU
//! may still be working on batch N; [`GpuPreprocessor::finish`] then maps and copies out
//! batch N's result while the GPU works on N+1. What does *not* overlap: on the GPU itself
//! the copies and dispatches of consecutive batches run one after another (one queue), and
//! [`GpuPreprocessor::make_region_batch`] (submit then finish) overlaps nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};

use super::{channel_affine, InputTransform, PAD_VALUE};
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::model::{DType, InputSpec, Layout};
use crate::types::{Batch, Frame, FrameInfo, PixelFormat, Region};

const SHADER: &str = include_str!("../../shaders/preprocess.wgsl");
/// Must equal `@workgroup_size` of the shader's entry points: `preprocess` (8x8 pixel pairs
/// of one item) and `preprocess_f16_odd` (64 words).
const TILE: u32 = 8;
const WORKGROUP_ODD: u32 = 64;
/// Buffers grow in steps of this much, so slowly changing batches do not reallocate often.
const GROW_STEP: u64 = 1 << 20;

/// `Params` in the shader (uniform).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    out_w: u32,
    out_h: u32,
    n_items: u32,
    nchw: u32,
    dtype: u32,
    total: u32,
    row_invocations: u32,
    _pad: u32,
    mul: [f32; 4],
    add: [f32; 4],
    pad: [f32; 4],
}

/// `Item` in the shader (storage).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Item {
    format: u32,
    offset: u32,
    stride: u32,
    u_offset: u32,
    v_offset: u32,
    uv_stride: u32,
    region: [u32; 4],
    start: [u32; 2],
    covered: [u32; 2],
    scale: [f32; 2],
}

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

/// Sizes of one batch on the GPU, checked against the adapter's limits before anything is
/// allocated.
struct Plan {
    /// Byte offset of each distinct frame in the upload, and which frame each item uses.
    frame_offsets: Vec<(usize, u64)>,
    item_frame: Vec<usize>,
    src_bytes: u64,
    elements: u64,
    words: u64,
}

pub struct GpuPreprocessor {
    ctx: Arc<GpuContext>,
    input: InputSpec,
    pipeline: wgpu::ComputePipeline,
    /// f16 with an odd output width: the per-word fallback entry point.
    odd_f16: bool,
    slots: [Slot; 2],
    next_slot: usize,
    last: Option<usize>,
}

impl GpuPreprocessor {
    /// Compiles the shader for the model input `input`.
    pub fn new(ctx: Arc<GpuContext>, input: &InputSpec) -> Result<GpuPreprocessor> {
        let odd_f16 = input.dtype == DType::F16 && input.width % 2 == 1;
        let entry = if odd_f16 { "preprocess_f16_odd" } else { "preprocess" };
        let pipeline = ctx.compute_pipeline("preprocess", SHADER, entry);
        Ok(GpuPreprocessor { ctx, input: input.clone(), pipeline, odd_f16, slots: Default::default(), next_slot: 0, last: None })
    }

    /// Whole frames, as [`super::make_batch`].
    pub fn make_batch(&mut self, frames: &[Frame]) -> Result<Batch> {
        let items: Vec<(&Frame, Region)> = frames.iter().map(|f| (f, Region::full(&f.info()))).collect();
        self.make_region_batch(&items)
    }

    /// One region of a frame per item, as [`super::make_region_batch`]. Waits for the
    /// result; a batch too big for one dispatch on this adapter is done in several.
    pub fn make_region_batch(&mut self, items: &[(&Frame, Region)]) -> Result<Batch> {
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
        Ok(out.unwrap_or_else(|| self.empty_batch()))
    }

    /// Uploads `items` and queues their dispatch without waiting. At most two batches may
    /// be in flight: the third submit reuses the first one's buffers, and finishing the first
    /// one after that is an error.
    pub fn submit(&mut self, items: &[(&Frame, Region)]) -> Result<Pending> {
        let plan = self.plan(items).map_err(Error::Gpu)?;
        let (w, h) = (self.input.width as usize, self.input.height as usize);
        let shape = match self.input.layout {
            Layout::Nhwc => [items.len(), h, w, 3],
            Layout::Nchw => [items.len(), 3, h, w],
        };
        let slot_index = self.next_slot;
        self.next_slot = 1 - self.next_slot;
        let records = self.records(items, &plan)?;
        let ctx = &*self.ctx;
        let dispatch = self.dispatch(items.len(), plan.words);
        let params = self.params(items.len(), plan.elements as u32, dispatch[0] * WORKGROUP_ODD);

        let slot = &mut self.slots[slot_index];
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        ensure(ctx, &mut slot.params, 256, wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST);
        ensure(ctx, &mut slot.items, bytes_of_items(items.len()), storage);
        ensure(ctx, &mut slot.src, plan.src_bytes, storage);
        ensure(ctx, &mut slot.dst, plan.words * 4, wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC);
        ensure(ctx, &mut slot.staging, plan.words * 4, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        let (params_buf, items_buf, src, dst, staging) = (
            slot.params.as_ref().unwrap(),
            slot.items.as_ref().unwrap(),
            slot.src.as_ref().unwrap(),
            slot.dst.as_ref().unwrap(),
            slot.staging.as_ref().unwrap(),
        );

        ctx.queue.write_buffer(params_buf, 0, bytemuck::bytes_of(&params));
        ctx.queue.write_buffer(items_buf, 0, bytemuck::cast_slice(&records));
        {
            let size = wgpu::BufferSize::new(plan.src_bytes).expect("plans are never empty");
            let mut view = ctx
                .queue
                .write_buffer_with(src, 0, size)
                .ok_or_else(|| Error::Gpu("cannot stage the frame upload".into()))?;
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
            match self.input.dtype {
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
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, slot.bind_group.as_ref(), &[]);
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
        if self.plan(items).is_ok() {
            return items.len();
        }
        // Sizes only grow with more items: binary search for the last prefix that fits.
        let (mut fits, mut fails) = (0, items.len());
        while fails - fits > 1 {
            let mid = (fits + fails) / 2;
            if self.plan(&items[..mid]).is_ok() { fits = mid } else { fails = mid }
        }
        fits
    }

    /// Workgroup counts: pixel pairs x rows x items, or rows of words for the fallback.
    fn dispatch(&self, n_items: usize, words: u64) -> [u32; 3] {
        if self.odd_f16 {
            let groups = words.div_ceil(WORKGROUP_ODD as u64);
            let gx = groups.min(self.ctx.limits.max_compute_workgroups_per_dimension as u64).max(1);
            [gx as u32, groups.div_ceil(gx) as u32, 1]
        } else {
            [self.input.width.div_ceil(2).div_ceil(TILE), self.input.height.div_ceil(TILE), n_items as u32]
        }
    }

    fn empty_batch(&self) -> Batch {
        let (w, h) = (self.input.width as usize, self.input.height as usize);
        let shape = match self.input.layout {
            Layout::Nhwc => [0, h, w, 3],
            Layout::Nchw => [0, 3, h, w],
        };
        Batch { frames: vec![], regions: vec![], shape, data: vec![], data_f16: vec![] }
    }

    /// Lays out the upload and checks the batch against the adapter's limits; the error
    /// says what to change.
    fn plan(&self, items: &[(&Frame, Region)]) -> Result<Plan, String> {
        if items.is_empty() {
            return Err("empty batch".into());
        }
        let mut frame_offsets: Vec<(usize, u64)> = Vec::new();
        let mut item_frame = Vec::with_capacity(items.len());
        let mut src_bytes = 0u64;
        for (i, (frame, _)) in items.iter().enumerate() {
            // Tiles of one frame share its upload.
            let known = frame_offsets.iter().position(|&(j, _)| std::ptr::eq(items[j].0, *frame));
            item_frame.push(known.unwrap_or_else(|| {
                frame_offsets.push((i, src_bytes));
                src_bytes += planes(frame).iter().map(|p| (p.len() as u64).next_multiple_of(4)).sum::<u64>();
                frame_offsets.len() - 1
            }));
        }
        let elements = items.len() as u64 * 3 * self.input.width as u64 * self.input.height as u64;
        let words = match self.input.dtype {
            DType::F32 => elements,
            DType::F16 => elements.div_ceil(2),
        };
        let limits = &self.ctx.limits;
        let binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size).min(u32::MAX as u64);
        let max_groups = limits.max_compute_workgroups_per_dimension;
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        for (what, bytes) in [("frame upload", src_bytes), ("output tensor", words * 4), ("item table", bytes_of_items(items.len()))] {
            if bytes > binding {
                return Err(format!(
                    "a batch of {} regions needs {:.0} MiB for its {what}, over this adapter's limit of {:.0} MiB per buffer; use a smaller batch",
                    items.len(), mib(bytes), mib(binding)
                ));
            }
        }
        let too_many = if self.odd_f16 {
            words.div_ceil(WORKGROUP_ODD as u64) > max_groups as u64 * max_groups as u64
        } else {
            items.len() as u64 > max_groups as u64 || self.input.height.div_ceil(TILE) > max_groups
        };
        if too_many {
            return Err(format!("a batch of {} regions needs more workgroups than this adapter allows; use a smaller batch", items.len()));
        }
        Ok(Plan { frame_offsets, item_frame, src_bytes, elements, words })
    }

    fn records(&self, items: &[(&Frame, Region)], plan: &Plan) -> Result<Vec<Item>> {
        items
            .iter()
            .zip(&plan.item_frame)
            .map(|((frame, r), &fi)| {
                let inside = r.width > 0 && r.height > 0 && r.x + r.width <= frame.width && r.y + r.height <= frame.height;
                if !inside || !frame.is_consistent() {
                    return Err(Error::Usage(format!(
                        "preprocess: region {}x{}+{}+{} does not lie inside frame {} ({}x{} {:?}, {} bytes)",
                        r.width, r.height, r.x, r.y, frame.index, frame.width, frame.height, frame.format(),
                        planes(frame).iter().map(|p| p.len()).sum::<usize>()
                    )));
                }
                let at = plane_offsets(frame, plan.frame_offsets[fi].1);
                let yuv = frame.format() == PixelFormat::Yuv420;
                let t = InputTransform::for_region(*r, &self.input);
                // Same integer placement as `taps` in the CPU reference.
                let covered = |len: u32, scale: f32| (len as f32 * scale).round() as u32;
                Ok(Item {
                    format: yuv as u32,
                    offset: at[0] as u32,
                    stride: if yuv { frame.width } else { frame.width * 3 },
                    u_offset: at.get(1).copied().unwrap_or(0) as u32,
                    v_offset: at.get(2).copied().unwrap_or(0) as u32,
                    uv_stride: frame.width.div_ceil(2),
                    region: [r.x, r.y, r.width, r.height],
                    start: [t.pad_x as u32, t.pad_y as u32],
                    covered: [covered(r.width, t.scale_x), covered(r.height, t.scale_y)],
                    scale: [t.scale_x, t.scale_y],
                })
            })
            .collect()
    }

    fn params(&self, n_items: usize, total: u32, row_invocations: u32) -> Params {
        let (mul, add) = channel_affine(&self.input);
        let four = |v: [f32; 3]| [v[0], v[1], v[2], 0.0];
        Params {
            out_w: self.input.width,
            out_h: self.input.height,
            n_items: n_items as u32,
            nchw: matches!(self.input.layout, Layout::Nchw) as u32,
            dtype: matches!(self.input.dtype, DType::F16) as u32,
            total,
            row_invocations,
            _pad: 0,
            mul: four(mul),
            add: four(add),
            pad: four(std::array::from_fn(|c| PAD_VALUE * mul[c] + add[c])),
        }
    }
}

/// The pixel buffers of a frame, in upload order.
fn planes(frame: &Frame) -> Vec<&[u8]> {
    match &frame.yuv {
        None => vec![&frame.rgb],
        Some(p) => vec![&p.y, &p.u, &p.v],
    }
}

/// Where each of `planes(frame)` goes when the frame's upload starts at `start` (every
/// plane on a word boundary, so plane sizes need not be multiples of 4).
fn plane_offsets(frame: &Frame, start: u64) -> Vec<u64> {
    planes(frame)
        .iter()
        .scan(start, |at, p| {
            let here = *at;
            *at += (p.len() as u64).next_multiple_of(4);
            Some(here)
        })
        .collect()
}

/// Binds the first `size` bytes of `buffer`.
fn entry(binding: u32, buffer: &wgpu::Buffer, size: u64) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer, offset: 0, size: wgpu::BufferSize::new(size) }),
    }
}

fn bytes_of_items(n: usize) -> u64 {
    (n * std::mem::size_of::<Item>()) as u64
}

/// Makes `buf` at least `size` bytes.
fn ensure(ctx: &GpuContext, buf: &mut Option<wgpu::Buffer>, size: u64, usage: wgpu::BufferUsages) {
    if buf.as_ref().is_some_and(|b| b.size() >= size) {
        return;
    }
    let size = size.next_multiple_of(GROW_STEP).min(ctx.limits.max_buffer_size.max(size));
    *buf = Some(ctx.device.create_buffer(&wgpu::BufferDescriptor { label: Some("preprocess"), size, usage, mapped_at_creation: false }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Yuv420;

    #[test]
    fn records_have_the_shader_struct_sizes() {
        // WGSL: Params = 8 u32 + 3 vec4<f32> (16-aligned) = 80 bytes; Item = 16 scalars.
        assert_eq!(std::mem::size_of::<Params>(), 80);
        assert_eq!(std::mem::size_of::<Item>(), 64);
    }

    #[test]
    fn planes_start_on_word_boundaries() {
        // 5x3 YUV: 15 luma bytes, 3x2 = 6 bytes per chroma plane.
        let f = Frame { index: 0, width: 5, height: 3, rgb: vec![], yuv: Some(Yuv420 { y: vec![0; 15], u: vec![0; 6], v: vec![0; 6] }) };
        assert_eq!(plane_offsets(&f, 8), vec![8, 24, 32]);
        let g = Frame::from_rgb(0, 5, 3, vec![0; 45]);
        assert_eq!(plane_offsets(&g, 4), vec![4]);
    }
}
