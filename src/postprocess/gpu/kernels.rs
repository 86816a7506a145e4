//! Plumbing shared by the postprocess shaders: one bind group layout of a uniform plus
//! read-write storage buffers, compute pipelines built against it with shader errors turned
//! into [`Error::Gpu`] instead of wgpu's default panic, and buffer helpers. Host side only.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;

/// Binding 0 a uniform, bindings 1..=`storage` read-write storage buffers.
pub(crate) fn layout(ctx: &GpuContext, label: &str, storage: u32) -> wgpu::BindGroupLayout {
    let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
        count: None,
    };
    let mut entries = vec![entry(0, wgpu::BufferBindingType::Uniform)];
    entries.extend((1..=storage).map(|b| entry(b, wgpu::BufferBindingType::Storage { read_only: false })));
    ctx.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(label), entries: &entries })
}

/// Compiles `entries` of the WGSL `source` against `layout`; a shader the driver refuses is
/// an error naming it.
pub(crate) fn pipelines<const N: usize>(
    ctx: &GpuContext,
    label: &str,
    source: &str,
    layout: &wgpu::BindGroupLayout,
    entries: [&str; N],
) -> Result<[wgpu::ComputePipeline; N]> {
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = ctx
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(label), source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(source)) });
    let pl = ctx.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(layout)],
        immediate_size: 0,
    });
    let made = entries.map(|entry| {
        ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pl),
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        })
    });
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(Error::Gpu(format!("shader {label} does not compile on {}: {e}", ctx.adapter)));
    }
    Ok(made)
}

pub(crate) fn storage(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::INDIRECT,
        mapped_at_creation: false,
    })
}

pub(crate) fn uniform(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

pub(crate) fn readback(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

pub(crate) fn bind_group(ctx: &GpuContext, layout: &wgpu::BindGroupLayout, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> =
        buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout, entries: &entries })
}

/// Smallest power of two >= `n` (at least `min`).
pub(crate) fn pow2_at_least(n: usize, min: usize) -> usize {
    n.max(min).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_shader_is_an_error_not_a_panic() {
        let ctx = GpuContext::new(true).expect("no GPU adapter at all: install mesa-vulkan-drivers");
        let l = layout(&ctx, "t", 1);
        let err = pipelines(&ctx, "broken.wgsl", "@compute @workgroup_size(1) fn main() { let class = 1; }", &l, ["main"])
            .expect_err("a reserved word must not compile");
        assert!(err.to_string().contains("broken.wgsl"), "{err}");
    }

    #[test]
    fn powers_of_two() {
        assert_eq!(pow2_at_least(0, 64), 64);
        assert_eq!(pow2_at_least(65, 64), 128);
        assert_eq!(pow2_at_least(4096, 1), 4096);
    }
}
