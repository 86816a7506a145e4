//! Batched greedy NMS on the GPU (shaders/nms.wgsl): takes candidate detections per batch
//! item, either uploaded ([`GpuNms::run`]) or left in GPU memory by a decoder shader, gives
//! the kept boxes per item, best first, equal box for box to [`crate::postprocess::nms`].
//!
//! All of it runs on the GPU: sort, IoU bitmask and the greedy sweep (one workgroup per item;
//! the sweep reads 4 bytes per kept box per word, so reading the n x n bitmask back to sweep
//! on the CPU would cost more transfer than it saves). Only `max_keep` boxes per item come
//! back. An item goes to the CPU reference instead, which gives the same answer, when the GPU
//! cannot promise it: an IoU within a hair of the threshold (WGSL division may be off by 2.5
//! ULP), values in the denormal or non-finite range, more than `MAX_CAP` candidates, or
//! when the best [`TOP_K`] candidates run out before `max_keep` boxes are kept.
//! [`GpuNms::fallbacks`] counts those items.

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::kernels;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::postprocess::nms::nms_with;
use crate::types::{BBox, Detection};

/// Candidates per item that take part in the bitmask sweep (the shader's TOP_K).
pub const TOP_K: usize = 1024;
const WORDS: usize = TOP_K / 32;
/// Most candidates per item the GPU stores; items with more go to the CPU.
pub(crate) const MAX_CAP: usize = 32768;

/// One candidate as the shaders see it (32 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub(crate) struct GpuCand {
    pub bbox: [f32; 4],
    pub score: f32,
    pub class: u32,
    /// Position in the CPU reference's candidate order: breaks score ties.
    pub index: u32,
    pub pad: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct Params {
    n_items: u32,
    cap: u32,
    max_keep: u32,
    class_aware: u32,
    iou_threshold: f32,
    band: f32,
    zero: u32,
    out_stride: u32,
}

/// GPU memory for one size of batch; grown, never shrunk.
pub(crate) struct NmsBuffers {
    pub n_items: usize,
    pub cap: usize,
    pub max_keep: usize,
    params: wgpu::Buffer,
    pub cands: wgpu::Buffer,
    pub counts: wgpu::Buffer,
    pub flags: wgpu::Buffer,
    out: wgpu::Buffer,
    /// Indirect dispatch arguments of the bitmask pass, sized on the GPU by the sort.
    dispatch: wgpu::Buffer,
    /// Its copy that the dispatch reads (a buffer cannot be bound and read as arguments at once).
    indirect: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

/// What the GPU says about one item.
pub(crate) enum ItemOut {
    Kept(Vec<Detection>),
    /// The GPU could not promise the CPU's answer (shader flags); redo it on the CPU.
    Redo,
}

pub struct GpuNms {
    ctx: Arc<GpuContext>,
    layout: wgpu::BindGroupLayout,
    pipes: [wgpu::ComputePipeline; 3],
    bufs: Option<NmsBuffers>,
    band: Option<f32>,
    /// Items redone on the CPU since this was made.
    pub fallbacks: usize,
}

impl GpuNms {
    pub fn new(ctx: Arc<GpuContext>) -> Result<GpuNms> {
        let layout = kernels::layout(&ctx, "nms", 8);
        let src = include_str!("../../../shaders/nms.wgsl");
        let pipes = kernels::pipelines(&ctx, "nms.wgsl", src, &layout, ["sort_items", "iou_mask", "sweep"])?;
        Ok(GpuNms { ctx, layout, pipes, bufs: None, band: None, fallbacks: 0 })
    }

    /// Overrides how close to the threshold an IoU must be to send its item to the CPU
    /// (default `|threshold| * 2^-20`, 8 to 16 ULP against the 2.5 WGSL allows). Tests set 0 to exercise the shader on
    /// every case where the adapter's division is known to be exact (lavapipe).
    pub fn set_unsure_band(&mut self, band: f32) {
        self.band = Some(band);
    }

    /// NMS of each item's `candidates` (in the order the CPU reference would get them), like
    /// [`nms_with`] on each.
    pub fn run(&mut self, items: &[Vec<Detection>], iou_threshold: f32, max_keep: usize, class_aware: bool) -> Result<Vec<Vec<Detection>>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let longest = items.iter().map(Vec::len).max().unwrap_or(0);
        let cap = kernels::pow2_at_least(longest, 64).min(MAX_CAP);
        self.buffers(items.len(), cap, max_keep)?;
        let bufs = self.bufs.as_ref().expect("buffers were just made");
        let mut cands = vec![GpuCand::zeroed(); items.len() * bufs.cap];
        for (item, dets) in items.iter().enumerate() {
            for (i, d) in dets.iter().take(bufs.cap).enumerate() {
                cands[item * bufs.cap + i] =
                    GpuCand { bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2], score: d.score, class: d.class, index: i as u32, pad: 0 };
            }
        }
        let counts: Vec<u32> = items.iter().map(|d| d.len() as u32).collect();
        let q = &self.ctx.queue;
        q.write_buffer(&bufs.cands, 0, bytemuck::cast_slice(&cands));
        q.write_buffer(&bufs.counts, 0, bytemuck::cast_slice(&counts));
        q.write_buffer(&bufs.flags, 0, bytemuck::cast_slice(&vec![0u32; items.len()]));
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        self.encode(&mut enc, items.len(), iou_threshold, max_keep, class_aware);
        self.ctx.queue.submit([enc.finish()]);
        let outs = self.read(items.len())?;
        Ok(outs
            .into_iter()
            .zip(items)
            .map(|(o, cands)| match o {
                ItemOut::Kept(k) => k,
                ItemOut::Redo => {
                    self.fallbacks += 1;
                    nms_with(cands.clone(), iou_threshold, max_keep, class_aware)
                }
            })
            .collect())
    }

    /// Buffers for `n_items` items of up to `cap` candidates (a power of two) each; fewer
    /// slots when the adapter's storage buffers cannot hold that many (items with more
    /// candidates then go to the CPU).
    pub(crate) fn buffers(&mut self, n_items: usize, cap: usize, max_keep: usize) -> Result<&NmsBuffers> {
        let fits = self.bufs.as_ref().is_some_and(|b| b.n_items >= n_items && b.cap >= cap && b.max_keep >= max_keep);
        if !fits {
            let old = self.bufs.take();
            let (n_items, cap, max_keep) = match old {
                Some(b) => (b.n_items.max(n_items), b.cap.max(cap), b.max_keep.max(max_keep)),
                None => (n_items, cap, max_keep),
            };
            let ctx = &*self.ctx;
            let n = n_items.max(1) as u64;
            let limit = ctx.limits.max_storage_buffer_binding_size;
            let out_bytes = n * (2 + 8 * max_keep as u64) * 4;
            if n * (TOP_K * WORDS * 4) as u64 > limit || out_bytes > limit {
                return Err(Error::Gpu(format!(
                    "a batch of {n_items} items with {max_keep} detections each does not fit in {}'s storage buffers ({limit} bytes)",
                    ctx.adapter
                )));
            }
            let most = (limit / (n * 32)) as usize;
            let cap = cap.min(1 << most.ilog2());
            let params = kernels::uniform(ctx, "nms params", std::mem::size_of::<Params>() as u64);
            let cands = kernels::storage(ctx, "nms cands", n * cap as u64 * 32);
            let counts = kernels::storage(ctx, "nms counts", n * 4);
            let keys = kernels::storage(ctx, "nms keys", n * cap as u64 * 16);
            let sorted = kernels::storage(ctx, "nms sorted", n * TOP_K as u64 * 32);
            let mask = kernels::storage(ctx, "nms mask", n * (TOP_K * WORDS) as u64 * 4);
            let flags = kernels::storage(ctx, "nms flags", n * 4);
            let out = kernels::storage(ctx, "nms out", out_bytes);
            let dispatch = kernels::storage(ctx, "nms mask dispatch", 12);
            let indirect = kernels::storage(ctx, "nms mask indirect", 12);
            let readback = kernels::readback(ctx, "nms readback", out_bytes);
            let bind_group =
                kernels::bind_group(ctx, &self.layout, &[&params, &cands, &counts, &keys, &sorted, &mask, &flags, &out, &dispatch]);
            self.bufs =
                Some(NmsBuffers { n_items, cap, max_keep, params, cands, counts, flags, out, dispatch, indirect, readback, bind_group });
        }
        Ok(self.bufs.as_ref().expect("buffers were just made"))
    }

    /// Records sort, bitmask, sweep and the copy of the kept boxes for readback. Candidates,
    /// counts and zeroed flags must be in the buffers by then.
    pub(crate) fn encode(&self, enc: &mut wgpu::CommandEncoder, n_items: usize, iou_threshold: f32, max_keep: usize, class_aware: bool) {
        let b = self.bufs.as_ref().expect("GpuNms::buffers before encode");
        let band = self.band.unwrap_or((iou_threshold.abs() * (-20f32).exp2()).max(1e-30));
        let params = Params {
            n_items: n_items as u32,
            cap: b.cap as u32,
            max_keep: max_keep as u32,
            class_aware: class_aware as u32,
            iou_threshold,
            band,
            zero: 0,
            out_stride: (2 + 8 * b.max_keep) as u32,
        };
        self.ctx.queue.write_buffer(&b.params, 0, bytemuck::bytes_of(&params));
        self.ctx.queue.write_buffer(&b.dispatch, 0, bytemuck::cast_slice(&[0u32, n_items as u32, 1]));
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("nms sort"), timestamp_writes: None });
            pass.set_bind_group(0, &b.bind_group, &[]);
            pass.set_pipeline(&self.pipes[0]);
            pass.dispatch_workgroups(n_items as u32, 1, 1);
        }
        enc.copy_buffer_to_buffer(&b.dispatch, 0, &b.indirect, 0, 12);
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("nms sweep"), timestamp_writes: None });
            pass.set_bind_group(0, &b.bind_group, &[]);
            // As many rows as the longest item needs, which only the GPU knows.
            pass.set_pipeline(&self.pipes[1]);
            pass.dispatch_workgroups_indirect(&b.indirect, 0);
            pass.set_pipeline(&self.pipes[2]);
            pass.dispatch_workgroups(n_items as u32, 1, 1);
        }
        let bytes = n_items as u64 * (2 + 8 * b.max_keep as u64) * 4;
        enc.copy_buffer_to_buffer(&b.out, 0, &b.readback, 0, bytes);
    }

    /// Kept boxes per item, once the encoded work was submitted.
    pub(crate) fn read(&self, n_items: usize) -> Result<Vec<ItemOut>> {
        let b = self.bufs.as_ref().expect("GpuNms::buffers before read");
        let words: Vec<u32> = self.ctx.read_buffer(&b.readback)?;
        let stride = 2 + 8 * b.max_keep;
        Ok((0..n_items)
            .map(|item| {
                let o = &words[item * stride..][..stride];
                if o[1] != 0 {
                    return ItemOut::Redo;
                }
                let kept = o[0] as usize;
                ItemOut::Kept(
                    o[2..2 + 8 * kept]
                        .chunks_exact(8)
                        .map(|r| {
                            let f = |k: usize| f32::from_bits(r[k]);
                            Detection { bbox: BBox { x1: f(0), y1: f(1), x2: f(2), y2: f(3) }, score: f(4), class: r[5] }
                        })
                        .collect(),
                )
            })
            .collect())
    }
}
