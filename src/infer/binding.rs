//! Running a session through an ONNX Runtime IoBinding: takes a [`Batch`] in host memory,
//! gives the output tensors as f32 ([`RawOutputs`]). The binding lives as long as the session,
//! so outputs are bound once and each run only rebinds the input.
//!
//! Where the data goes (why this module exists):
//! - The batch is copied once into a staging input tensor that ONNX Runtime allocated and the
//!   binding keeps: CUDA pinned (page-locked) host memory on CUDA, so the host -> GPU copy
//!   made at bind time is a DMA; plain host memory on the CPU, where ONNX Runtime reads it in
//!   place. Binding a borrowed Rust slice instead is not an option: ort rc.15 then clones it
//!   through a helper session, and that clone deadlocks on its own lock.
//! - Outputs are bound to CUDA pinned host memory on CUDA (one GPU -> host DMA), to plain host
//!   memory on the CPU.
//!
//! In both cases the outputs are then converted into owned f32 vectors for postprocess, which
//! also turns integer class tensors into f32.

use std::collections::HashMap;

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{IoBinding, Session};
use ort::value::{PrimitiveTensorElementType, Tensor, TensorElementType};

use crate::error::{Error, Result};
use crate::types::{Batch, RawOutputs, RawTensor};

/// Host memory the staging input and the outputs live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostMemory {
    /// Plain host memory (CPU execution provider, or CUDA when pinned memory is refused).
    Plain,
    /// Page-locked host memory from the CUDA provider's allocator.
    CudaPinned,
}

impl HostMemory {
    fn info(self, kind: MemoryType) -> Result<MemoryInfo<'static>> {
        let device = match self {
            HostMemory::Plain => AllocationDevice::CPU,
            HostMemory::CudaPinned => AllocationDevice::CUDA_PINNED,
        };
        MemoryInfo::new(device, 0, AllocatorType::Device, kind).map_err(inference)
    }
}

pub(crate) struct Bound {
    binding: IoBinding,
    allocator: Allocator,
    staging: Option<Tensor<f32>>,
    input_name: String,
    output_names: Vec<String>,
    pub memory: HostMemory,
}

fn inference(e: impl std::fmt::Display) -> Error {
    Error::Inference(e.to_string())
}

impl Bound {
    pub fn new(session: &Session, input_name: &str, memory: HostMemory) -> Result<Bound> {
        let allocator = match memory {
            HostMemory::Plain => Allocator::default(),
            HostMemory::CudaPinned => Allocator::new(session, memory.info(MemoryType::CPUInput)?).map_err(inference)?,
        };
        let binding = session.create_binding().map_err(inference)?;
        let output_names = session.outputs().iter().map(|o| o.name().to_string()).collect();
        Ok(Bound { binding, allocator, staging: None, input_name: input_name.to_string(), output_names, memory })
    }

    /// Binds every output to host memory of our kind. Shapes are left to ONNX Runtime (the
    /// batch dimension, and for some models the box count, are only known after the run);
    /// it allocates them on the first run and then reuses them, so a new batch shape needs a
    /// fresh binding.
    fn bind_outputs(&mut self) -> Result<()> {
        let info = self.memory.info(MemoryType::CPUOutput)?;
        self.binding.clear_outputs();
        for name in &self.output_names {
            self.binding.bind_output_to_device(name.as_str(), &info).map_err(inference)?;
        }
        Ok(())
    }

    /// Runs one batch and copies every output out as f32.
    pub fn run(&mut self, session: &mut Session, batch: &Batch) -> Result<RawOutputs> {
        if batch.data.len() != batch.shape.iter().product::<usize>() {
            return Err(Error::Inference(format!("batch of shape {:?} holds {} values", batch.shape, batch.data.len())));
        }
        let fits = self.staging.as_ref().is_some_and(|t| t.shape().iter().map(|d| *d as usize).eq(batch.shape));
        if !fits {
            // Only when the shape changes (first run, the last and shorter batch of a video).
            self.staging = Some(Tensor::<f32>::new(&self.allocator, batch.shape).map_err(inference)?);
            self.bind_outputs()?;
        }
        let staging = self.staging.as_mut().expect("allocated above");
        staging.extract_tensor_mut().1.copy_from_slice(&batch.data);
        // Rebound every run: on CUDA, binding is when the host -> GPU copy happens.
        self.binding.bind_input(self.input_name.as_str(), &*staging).map_err(inference)?;
        let outputs = session.run_binding(&self.binding).map_err(inference)?;
        if self.memory == HostMemory::CudaPinned {
            // The copy into pinned memory may still be in flight on the CUDA stream.
            self.binding.synchronize_outputs().map_err(inference)?;
        }
        copy_out(&outputs)
    }
}

/// Copies every output out of ONNX Runtime as f32.
pub(super) fn copy_out(outputs: &ort::session::SessionOutputs<'_>) -> Result<RawOutputs> {
    let mut raw = HashMap::new();
    for (name, value) in outputs.iter() {
        let tensor = match value.dtype().tensor_type() {
            Some(TensorElementType::Float32) => extract::<f32>(&value, |v| v),
            Some(TensorElementType::Int64) => extract::<i64>(&value, |v| v as f32),
            Some(TensorElementType::Int32) => extract::<i32>(&value, |v| v as f32),
            other => return Err(Error::Inference(format!("output '{name}' has unsupported element type {other:?}"))),
        }?;
        raw.insert(name.to_string(), tensor);
    }
    Ok(raw)
}

/// Copies one output tensor out of ONNX Runtime as f32 (class tensors may be integers).
fn extract<T: PrimitiveTensorElementType + Copy>(value: &ort::value::DynValue, to_f32: fn(T) -> f32) -> Result<RawTensor> {
    let (shape, data) = value.try_extract_tensor::<T>().map_err(inference)?;
    Ok(RawTensor { shape: shape.iter().map(|d| *d as usize).collect(), data: data.iter().map(|v| to_f32(*v)).collect() })
}
