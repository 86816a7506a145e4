//! SSD raw-head decoding on the GPU (shaders/ssd_decode.wgsl): takes the box encodings,
//! logits and anchors of a batch from host memory, gives candidates straight into
//! [`GpuNms`]'s buffers (threshold and compaction on the GPU, nothing read back). Mirrors
//! `postprocess::ssd::decode` and the clamp to the region in `postprocess::mod`.

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::kernels;
use super::nms::NmsBuffers;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::preprocess::InputTransform;
use crate::types::RawOutputs;
use crate::types::Region;

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct Params {
    n_items: u32,
    n_anchors: u32,
    n_classes: u32,
    cap: u32,
    logit_threshold: f32,
    in_w: f32,
    in_h: f32,
    zero: u32,
    scales: [f32; 4],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct ItemTf {
    scale_x: f32,
    scale_y: f32,
    pad_x: f32,
    pad_y: f32,
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

/// Names and constants of the model's SSD head.
pub(crate) struct SsdHead {
    pub names: [String; 3],
    pub scales: [f32; 4],
    pub input: crate::model::InputSpec,
}

pub(crate) struct SsdDecoder {
    ctx: Arc<GpuContext>,
    head: SsdHead,
    layout: wgpu::BindGroupLayout,
    pipe: wgpu::ComputePipeline,
    params: wgpu::Buffer,
    keep: wgpu::Buffer,
    /// enc, logits, anchors, items; grown as batches need.
    inputs: Option<[wgpu::Buffer; 4]>,
}

impl SsdDecoder {
    pub fn new(ctx: Arc<GpuContext>, head: SsdHead, keep: &[bool]) -> Result<SsdDecoder> {
        let layout = kernels::layout(&ctx, "ssd_decode", 7);
        let [pipe] =
            kernels::pipelines(&ctx, "ssd_decode.wgsl", include_str!("../../../shaders/ssd_decode.wgsl"), &layout, ["decode_ssd"])?;
        let params = kernels::uniform(&ctx, "ssd params", std::mem::size_of::<Params>() as u64);
        let keep_words: Vec<u32> = keep.iter().map(|&k| k as u32).collect();
        let keep = kernels::storage(&ctx, "ssd keep", keep_words.len() as u64 * 4);
        ctx.queue.write_buffer(&keep, 0, bytemuck::cast_slice(&keep_words));
        Ok(SsdDecoder { ctx, head, layout, pipe, params, keep, inputs: None })
    }

    /// Anchors per item, checked against the tensors like the CPU decoder does.
    pub fn anchors(&self, raw: &RawOutputs, n_items: usize, n_classes: usize) -> Result<usize> {
        let get = |n: &str| raw.get(n).ok_or_else(|| Error::Inference(format!("the model produced no output named '{n}'")));
        let (boxes, logits, anchors) = (get(&self.head.names[0])?, get(&self.head.names[1])?, get(&self.head.names[2])?);
        let a = anchors.shape.first().copied().unwrap_or(0);
        let c = logits.shape.last().copied().unwrap_or(0);
        if c != n_classes || boxes.data.len() != n_items * a * 4 || logits.data.len() != n_items * a * c || anchors.data.len() != a * 4 {
            return Err(Error::Inference(format!("SSD output sizes do not match {n_items} frames x {a} anchors x {n_classes} classes")));
        }
        Ok(a)
    }

    /// Uploads the batch and records the decoding into `nms`'s candidate buffers (whose
    /// counts must be zero by then).
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        raw: &RawOutputs,
        regions: &[Region],
        n_anchors: usize,
        n_classes: usize,
        score_threshold: f32,
        nms: &NmsBuffers,
    ) {
        let n = regions.len();
        let t = score_threshold.clamp(1e-6, 1.0 - 1e-6);
        let params = Params {
            n_items: n as u32,
            n_anchors: n_anchors as u32,
            n_classes: n_classes as u32,
            cap: nms.cap as u32,
            logit_threshold: (t / (1.0 - t)).ln(),
            in_w: self.head.input.width as f32,
            in_h: self.head.input.height as f32,
            zero: 0,
            scales: self.head.scales,
        };
        let items: Vec<ItemTf> = regions
            .iter()
            .map(|r| {
                let tf = InputTransform::for_region(*r, &self.head.input);
                let (x0, y0) = (r.x as f32, r.y as f32);
                ItemTf {
                    scale_x: tf.scale_x,
                    scale_y: tf.scale_y,
                    pad_x: tf.pad_x,
                    pad_y: tf.pad_y,
                    x0,
                    y0,
                    x1: x0 + r.width as f32,
                    y1: y0 + r.height as f32,
                }
            })
            .collect();
        let datas: [&[f32]; 3] = std::array::from_fn(|i| raw[&self.head.names[i]].data.as_slice());
        let sizes = [datas[0].len() * 4, datas[1].len() * 4, datas[2].len() * 4, items.len() * 32].map(|s| s as u64);
        let fits = self.inputs.as_ref().is_some_and(|b| b.iter().zip(sizes).all(|(b, s)| b.size() >= s));
        if !fits {
            let labels = ["ssd enc", "ssd logits", "ssd anchors", "ssd items"];
            self.inputs = Some(std::array::from_fn(|i| kernels::storage(&self.ctx, labels[i], sizes[i])));
        }
        let inputs = self.inputs.as_ref().expect("inputs were just made");
        let q = &self.ctx.queue;
        q.write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        for (buf, data) in inputs.iter().zip(datas) {
            q.write_buffer(buf, 0, bytemuck::cast_slice(data));
        }
        q.write_buffer(&inputs[3], 0, bytemuck::cast_slice(&items));
        let bind = kernels::bind_group(
            &self.ctx,
            &self.layout,
            &[&self.params, &inputs[0], &inputs[1], &inputs[2], &self.keep, &inputs[3], &nms.cands, &nms.counts],
        );
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("ssd decode"), timestamp_writes: None });
        pass.set_pipeline(&self.pipe);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(n_anchors.div_ceil(64) as u32, n as u32, 1);
    }
}
