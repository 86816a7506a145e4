//! Layout of one GPU preprocess batch: takes the model input, the adapter's limits and the
//! batch items, gives the records `shaders/preprocess.wgsl` reads (`Params`, one `Item` per
//! region), where each frame's bytes go in the upload, the dispatch size, or the reason a
//! batch does not fit. CPU-side bookkeeping for [`super::gpu`]; touches no GPU.

use bytemuck::{Pod, Zeroable};

use super::{channel_affine, InputTransform};
use crate::error::{Error, Result};
use crate::model::{Channels, DType, InputSpec, Layout};
use crate::types::{Frame, PixelFormat, Region};

/// Must equal `@workgroup_size` of the shader's entry points: `preprocess` (8x8 pixel pairs
/// of one item) and `preprocess_f16_odd` (64 words).
pub(crate) const TILE: u32 = 8;
pub(crate) const WORKGROUP_ODD: u32 = 64;

/// `Params` in the shader (uniform).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct Params {
    pub out_w: u32,
    pub out_h: u32,
    pub n_items: u32,
    pub nchw: u32,
    pub dtype: u32,
    pub total: u32,
    pub row_invocations: u32,
    /// 1: write channels in BGR order.
    pub bgr: u32,
    pub mul: [f32; 4],
    pub add: [f32; 4],
    pub pad: [f32; 4],
}

/// `Item` in the shader (storage).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct Item {
    pub format: u32,
    pub offset: u32,
    pub stride: u32,
    pub u_offset: u32,
    pub v_offset: u32,
    pub uv_stride: u32,
    pub region: [u32; 4],
    pub start: [u32; 2],
    pub covered: [u32; 2],
    pub scale: [f32; 2],
}

/// Sizes of one batch on the GPU, checked against the adapter's limits before anything is
/// allocated.
pub(crate) struct Plan {
    /// Byte offset of each distinct frame in the upload, and which frame each item uses.
    pub frame_offsets: Vec<(usize, u64)>,
    pub item_frame: Vec<usize>,
    pub src_bytes: u64,
    pub elements: u64,
    pub words: u64,
}

/// Everything a batch's layout depends on besides its items.
pub(crate) struct Planner {
    pub input: InputSpec,
    pub limits: wgpu::Limits,
    /// f16 with an odd output width: the shader's per-word fallback entry point.
    pub odd_f16: bool,
}

impl Planner {
    pub fn new(input: &InputSpec, limits: &wgpu::Limits) -> Planner {
        let odd_f16 = input.dtype == DType::F16 && input.width % 2 == 1;
        Planner { input: input.clone(), limits: limits.clone(), odd_f16 }
    }

    /// The batch tensor's shape for `n` items.
    pub fn shape(&self, n: usize) -> [usize; 4] {
        let (w, h) = (self.input.width as usize, self.input.height as usize);
        match self.input.layout {
            Layout::Nhwc => [n, h, w, 3],
            Layout::Nchw => [n, 3, h, w],
        }
    }

    /// How many of `items`, from the first, fit one dispatch (0 when not even the first does).
    pub fn max_items(&self, items: &[(&Frame, Region)]) -> usize {
        if self.plan(items).is_ok() {
            return items.len();
        }
        // Sizes only grow with more items: binary search for the last prefix that fits.
        let (mut fits, mut fails) = (0, items.len());
        while fails - fits > 1 {
            let mid = (fits + fails) / 2;
            if self.plan(&items[..mid]).is_ok() {
                fits = mid
            } else {
                fails = mid
            }
        }
        fits
    }

    /// Workgroup counts: pixel pairs x rows x items, or rows of words for the fallback.
    pub fn dispatch(&self, n_items: usize, words: u64) -> [u32; 3] {
        if self.odd_f16 {
            let groups = words.div_ceil(WORKGROUP_ODD as u64);
            let gx = groups.min(self.limits.max_compute_workgroups_per_dimension as u64).max(1);
            [gx as u32, groups.div_ceil(gx) as u32, 1]
        } else {
            [self.input.width.div_ceil(2).div_ceil(TILE), self.input.height.div_ceil(TILE), n_items as u32]
        }
    }

    /// Lays out the upload and checks the batch against the adapter's limits; the error
    /// says what to change.
    pub fn plan(&self, items: &[(&Frame, Region)]) -> Result<Plan, String> {
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
        let limits = &self.limits;
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

    pub fn records(&self, items: &[(&Frame, Region)], plan: &Plan) -> Result<Vec<Item>> {
        items
            .iter()
            .zip(&plan.item_frame)
            .map(|((frame, r), &fi)| {
                let inside = r.width > 0 && r.height > 0 && r.x + r.width <= frame.width && r.y + r.height <= frame.height;
                if !inside || !frame.is_consistent() {
                    return Err(Error::Usage(format!(
                        "preprocess: region {}x{}+{}+{} does not lie inside frame {} ({}x{} {:?}, {} bytes)",
                        r.width,
                        r.height,
                        r.x,
                        r.y,
                        frame.index,
                        frame.width,
                        frame.height,
                        frame.format(),
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

    pub fn params(&self, n_items: usize, total: u32, row_invocations: u32) -> Params {
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
            bgr: (self.input.channels == Channels::Bgr) as u32,
            mul: four(mul),
            add: four(add),
            pad: four(std::array::from_fn(|c| self.input.pad * mul[c] + add[c])),
        }
    }
}

/// The pixel buffers of a frame, in upload order.
pub fn planes(frame: &Frame) -> Vec<&[u8]> {
    match &frame.yuv {
        None => vec![&frame.rgb],
        Some(p) => vec![&p.y, &p.u, &p.v],
    }
}

/// Where each of `planes(frame)` goes when the frame's upload starts at `start` (every
/// plane on a word boundary, so plane sizes need not be multiples of 4).
pub(crate) fn plane_offsets(frame: &Frame, start: u64) -> Vec<u64> {
    planes(frame)
        .iter()
        .scan(start, |at, p| {
            let here = *at;
            *at += (p.len() as u64).next_multiple_of(4);
            Some(here)
        })
        .collect()
}

pub(crate) fn bytes_of_items(n: usize) -> u64 {
    (n * std::mem::size_of::<Item>()) as u64
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
