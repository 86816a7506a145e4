//! The GPU context every GPU stage shares: one wgpu device and queue, made once per run.
//! Takes a choice of adapter, gives a [`GpuContext`] (or a one-line reason why there is
//! none). Runs on whatever adapter wgpu finds: a real GPU, or a software one (Mesa lavapipe
//! / llvmpipe) that is correct but slow, so software adapters are used only when asked for.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// What the run report says about the adapter that ran the shaders.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// A CPU implementation of the graphics API (lavapipe, llvmpipe, WARP): correct, slow.
    pub software: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.software { "software" } else { &self.device_type };
        write!(f, "{} ({}, {kind})", self.name, self.backend)
    }
}

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
}

/// Keeps GPU probing from printing `error: XDG_RUNTIME_DIR is invalid or not set in the
/// environment.` twice on stderr. Call it first thing in `main`, before any thread starts
/// (it sets an environment variable).
///
/// The cause: Mesa's Vulkan device-select layer (`VK_LAYER_MESA_device_select`, an implicit
/// layer that `mesa-vulkan-drivers` installs, so it loads on machines with and without a GPU)
/// asks the Wayland compositor which GPU is the default on every `vkEnumeratePhysicalDevices`,
/// and libwayland writes that line straight to fd 2 when there is no session (servers, cluster
/// nodes, containers), so no log filter can catch it. Where no Wayland session can exist, the
/// layer has nothing to find out, and its documented switch `NODEVICE_SELECT=1` turns it off.
/// Nothing is lost: [`GpuContext::new`] orders adapters itself (the layer's order only breaks
/// ties between GPUs of the same kind). A user who picks a device through the layer
/// (`MESA_VK_DEVICE_SELECT`, `DRI_PRIME`) or sets `NODEVICE_SELECT` keeps their setting.
pub fn quiet_vulkan_device_select() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    let runtime_dir_ok = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    let wayland_possible = runtime_dir_ok || set("WAYLAND_DISPLAY") || set("WAYLAND_SOCKET");
    let user_choice = ["NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT", "DRI_PRIME"].iter().any(|k| std::env::var_os(k).is_some());
    if !wayland_possible && !user_choice {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}

impl GpuContext {
    /// The best adapter wgpu finds: a discrete or integrated GPU first; a software adapter
    /// only when `allow_software` (tests, `--device gpu` on a machine without a GPU).
    pub fn new(allow_software: bool) -> Result<GpuContext> {
        pollster::block_on(Self::new_async(allow_software))
    }

    async fn new_async(allow_software: bool) -> Result<GpuContext> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let mut adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
        // Prefer real GPUs, then Vulkan over GL (compute on GL is limited).
        adapters.sort_by_key(|a| {
            let info = a.get_info();
            let rank = match info.device_type {
                wgpu::DeviceType::DiscreteGpu => 0,
                wgpu::DeviceType::IntegratedGpu => 1,
                wgpu::DeviceType::VirtualGpu => 2,
                wgpu::DeviceType::Other => 3,
                wgpu::DeviceType::Cpu => 4,
            };
            (rank, info.backend != wgpu::Backend::Vulkan)
        });
        let seen: Vec<String> = adapters.iter().map(|a| summarize(&a.get_info()).to_string()).collect();
        let adapter = adapters
            .into_iter()
            .find(|a| {
                let info = a.get_info();
                let s = summarize(&info);
                (allow_software || !s.software) && a.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
            })
            .ok_or_else(|| {
                let found = if seen.is_empty() { "none".to_string() } else { seen.join("; ") };
                let hint = if allow_software { "" } else { " (software adapters are used only with --device gpu)" };
                Error::Gpu(format!("no usable GPU adapter{hint}; adapters found: {found}"))
            })?;
        let summary = summarize(&adapter.get_info());
        // Ask for what the adapter has, so large batches fit in one storage buffer.
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor { label: Some("prelabel"), required_limits: limits.clone(), ..Default::default() })
            .await
            .map_err(|e| Error::Gpu(format!("cannot open {summary}: {e}")))?;
        tracing::info!("GPU adapter: {summary}");
        Ok(GpuContext { device, queue, adapter: summary, limits })
    }

    /// Compiles the WGSL `source` and returns the compute pipeline for `entry`.
    pub(crate) fn compute_pipeline(&self, label: &str, source: &str, entry: &str) -> wgpu::ComputePipeline {
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(source)),
        });
        self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        })
    }

    /// Blocks until the GPU has finished all submitted work.
    pub fn wait(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map(|_| ()).map_err(|e| Error::Gpu(format!("GPU wait failed: {e}")))
    }

    /// Copies `buffer` (which must have MAP_READ usage) back to the CPU.
    pub(crate) fn read_buffer<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer) -> Result<Vec<T>> {
        let slice = buffer.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| Error::Gpu("GPU readback was dropped".into()))?
            .map_err(|e| Error::Gpu(format!("GPU readback failed: {e}")))?;
        let data = {
            let view = slice.get_mapped_range().map_err(|e| Error::Gpu(format!("GPU readback failed: {e}")))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        buffer.unmap();
        Ok(data)
    }
}

fn summarize(info: &wgpu::AdapterInfo) -> AdapterSummary {
    let name = info.name.to_lowercase();
    let software = info.device_type == wgpu::DeviceType::Cpu
        || ["llvmpipe", "lavapipe", "softpipe", "swiftshader", "warp"].iter().any(|s| name.contains(s));
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend).to_lowercase(),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
        software,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_adapter_only_when_allowed() {
        // CI has no GPU: lavapipe must be found when allowed and refused otherwise.
        match GpuContext::new(true) {
            Ok(ctx) => {
                eprintln!("adapter: {}", ctx.adapter);
                if ctx.adapter.software {
                    let err = GpuContext::new(false).err().expect("software adapter picked without being allowed");
                    assert!(err.to_string().contains("no usable GPU adapter"), "{err}");
                }
            }
            Err(e) => panic!("no adapter at all (is mesa-vulkan-drivers installed?): {e}"),
        }
    }
}
