//! Stage 3, infer: takes a [`Batch`], gives the model's raw output tensors ([`RawOutputs`]).
//! Runs through ONNX Runtime, on the GPU with the CUDA execution provider when the loaded
//! library has it and a GPU answers, else on the CPU; [`Detector::execution_provider`] says
//! which ran and [`Detector::fallback_reason`] why the CPU was used.
//!
//! ONNX Runtime is loaded at run time ([`runtime`]); batches go through an IoBinding
//! ([`binding`]) so that on CUDA each batch crosses the bus once each way.

pub mod binding;
pub mod runtime;
mod shapes;

use std::collections::HashMap;
use std::path::Path;

use ort::ep::{self, ExecutionProvider};
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::{TensorRef, ValueType};

use self::binding::{Bound, HostMemory};
pub use self::runtime::RuntimeInfo;
pub(crate) use self::runtime::{find_library, load_runtime};
use crate::error::{Error, Result};
use crate::model::{Layout, ModelSpec};
use crate::types::{Batch, RawOutputs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// Per stage, the GPU where it pays and is present, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The GPU (for --infer-device: CUDA or fail).
    Gpu,
}

/// ONNX Runtime's names for the providers prelabel registers.
pub(crate) const CUDA_PROVIDER: &str = "CUDAExecutionProvider";
pub(crate) const CPU_PROVIDER: &str = "CPUExecutionProvider";

/// Whether this CPU has int8 dot-product instructions (VNNI), without which ONNX Runtime's
/// int8 kernels are no faster than fp32 (AVX2 alone: measured, docs/src/models.md).
pub fn cpu_has_int8_dot_product() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512vnni") || std::arch::is_x86_feature_detected!("avxvnni");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// The name of `spec`'s int8 copy when there is one beside it and this CPU runs int8 fast.
fn int8_copy_worth_it(spec: &ModelSpec) -> Option<String> {
    let name = format!("{}_int8", spec.name);
    let beside = spec.path.with_file_name(format!("{name}.toml"));
    (cpu_has_int8_dot_product() && !spec.name.ends_with("_int8") && beside.is_file()).then_some(name)
}

/// Frames per inference call when the user does not say: on the CPU batching does not pay
/// (measured: batch 1 is fastest), on a GPU 16 SSD-sized frames keep it busy while holding
/// at most 32 decoded frames in flight (pipeline bound: 2 x batch).
pub(crate) const AUTO_BATCH_CPU: usize = 1;
pub(crate) const AUTO_BATCH_CUDA: usize = 16;

/// A loaded model, ready to run batches.
pub struct Detector {
    session: Session,
    bound: Bound,
    input_name: String,
    /// Which execution provider runs the model, e.g. "cuda" or "cpu (CUDA provider failed: ...)".
    pub device: String,
    /// ONNX Runtime's name for it: `CUDA_PROVIDER` or `CPU_PROVIDER`.
    pub execution_provider: &'static str,
    /// Why the CPU runs the model when `auto` was asked for; `None` on CUDA or with `--device cpu`.
    pub fallback_reason: Option<String>,
}

impl Detector {
    /// Loads the model described by `spec` on `device` with `threads` intra-op threads
    /// (0 = ONNX Runtime's default), and checks its tensors against the description.
    pub fn new(spec: &ModelSpec, device: DeviceChoice, threads: usize, ort_lib: Option<&Path>) -> Result<Detector> {
        load_runtime(ort_lib)?;
        let onnx = spec.onnx_path();
        if !onnx.is_file() {
            return Err(Error::Model(format!(
                "{} not found (described by {}); run scripts/setup.sh to build the default model",
                onnx.display(),
                spec.path.display()
            )));
        }
        let cuda_built = ep::CUDA::is_available().unwrap_or(false);
        let cpu = |reason: Option<String>| -> Result<Detector> {
            let session = build_session(&onnx, threads, false)?;
            Detector::assemble(spec, session, false, HostMemory::Plain, reason)
        };
        let detector = match device {
            DeviceChoice::Cpu => cpu(None)?,
            DeviceChoice::Gpu if !cuda_built => {
                return Err(Error::Runtime(
                    "--infer-device gpu: the loaded ONNX Runtime has no CUDA provider (set PRELABEL_ORT=gpu for scripts/setup.sh)".into(),
                ))
            }
            DeviceChoice::Gpu => Detector::on_cuda(spec, &onnx, threads).map_err(|e| Error::Runtime(format!("--infer-device gpu: {e}")))?,
            DeviceChoice::Auto if !cuda_built => cpu(Some("ONNX Runtime build has no CUDA provider".into()))?,
            DeviceChoice::Auto => match Detector::on_cuda(spec, &onnx, threads) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("CUDA execution provider failed: {e}");
                    cpu(Some(format!("CUDA provider failed: {}", ort_message(&e))))?
                }
            },
        };
        if let Some(reason) = &detector.fallback_reason {
            tracing::info!("running on the CPU execution provider: {reason}");
        }
        detector.check_against(spec)?;
        if detector.execution_provider == CPU_PROVIDER {
            if let Some(int8) = int8_copy_worth_it(spec) {
                tracing::info!(
                    "this CPU has int8 dot-product instructions (VNNI): `--model {int8}` runs the model about 2x faster; \
                     its boxes score within 0.01 AP50, but its tracks can differ more: check it on your footage \
                     (docs: models.md, int8 on CPU-only machines)"
                );
            }
        }
        Ok(detector)
    }

    /// A CUDA session, warmed up with one blank frame: the first run is where a missing CUDA
    /// or cuDNN library, or pinned memory being refused, shows up, and failing here still
    /// leaves room to fall back instead of failing the first video.
    fn on_cuda(spec: &ModelSpec, onnx: &Path, threads: usize) -> Result<Detector> {
        let (h, w) = (spec.input.height as usize, spec.input.width as usize);
        let shape = match spec.input.layout {
            Layout::Nhwc => [1, h, w, 3],
            Layout::Nchw => [1, 3, h, w],
        };
        let blank = Batch { frames: Vec::new(), regions: Vec::new(), data_f16: Vec::new(), shape, data: vec![0.0; h * w * 3] };
        let session = build_session(onnx, threads, true)?;
        let pinned = Detector::assemble(spec, session, true, HostMemory::CudaPinned, None).and_then(|mut d| d.run(&blank).map(|_| d));
        match pinned {
            Ok(d) => Ok(d),
            Err(e) => {
                tracing::warn!("CUDA with pinned host memory failed ({}); trying plain host memory", ort_message(&e));
                let mut d = Detector::assemble(spec, build_session(onnx, threads, true)?, true, HostMemory::Plain, None)?;
                d.run(&blank)?;
                Ok(d)
            }
        }
    }

    fn assemble(spec: &ModelSpec, session: Session, cuda: bool, memory: HostMemory, reason: Option<String>) -> Result<Detector> {
        let bound = Bound::new(&session, &spec.input.name, memory)?;
        Ok(Detector {
            session,
            bound,
            input_name: spec.input.name.clone(),
            device: match (&reason, cuda) {
                (_, true) => "cuda".to_string(),
                (Some(r), false) => format!("cpu ({r})"),
                (None, false) => "cpu".to_string(),
            },
            execution_provider: if cuda { CUDA_PROVIDER } else { CPU_PROVIDER },
            fallback_reason: reason,
        })
    }

    /// Frames per inference call for `--batch-size 0` (auto).
    pub fn auto_batch_size(&self) -> usize {
        if self.execution_provider == CUDA_PROVIDER {
            AUTO_BATCH_CUDA
        } else {
            AUTO_BATCH_CPU
        }
    }

    /// Fails with a clear message when the model's tensors are not what its description says.
    fn check_against(&self, spec: &ModelSpec) -> Result<()> {
        let mismatch = |msg: String| {
            Error::Model(format!("{} does not match its description {}: {msg}", spec.onnx_path().display(), spec.path.display()))
        };
        let inputs: Vec<&str> = self.session.inputs().iter().map(|i| i.name()).collect();
        let input = self
            .session
            .inputs()
            .iter()
            .find(|i| i.name() == spec.input.name)
            .ok_or_else(|| mismatch(format!("no input named '{}' (it has {inputs:?})", spec.input.name)))?;
        let dims = tensor_dims(input.dtype()).ok_or_else(|| mismatch("input is not a tensor".into()))?;
        let want = match spec.input.layout {
            Layout::Nhwc => [-1, spec.input.height as i64, spec.input.width as i64, 3],
            Layout::Nchw => [-1, 3, spec.input.height as i64, spec.input.width as i64],
        };
        if dims.len() != 4 || dims.iter().zip(want).skip(1).any(|(d, w)| *d >= 0 && *d != w) {
            return Err(mismatch(format!("input '{}' has shape {dims:?}, expected {want:?}", spec.input.name)));
        }
        let outputs: HashMap<String, Vec<i64>> =
            self.session.outputs().iter().filter_map(|o| Some((o.name().to_string(), tensor_dims(o.dtype())?))).collect();
        shapes::check_output_shapes(spec, &outputs).map_err(mismatch)
    }

    /// Runs one batch through the IoBinding and copies every output out as f32.
    pub fn run(&mut self, batch: &Batch) -> Result<RawOutputs> {
        self.bound.run(&mut self.session, batch)
    }

    /// The same without IoBinding (plain `Session::run`, ONNX Runtime allocates the outputs).
    /// Kept to check, in tests and benches, that binding changes neither results nor speed.
    pub fn run_unbound(&mut self, batch: &Batch) -> Result<RawOutputs> {
        let input = TensorRef::from_array_view((batch.shape, batch.data.as_slice())).map_err(|e| Error::Inference(e.to_string()))?;
        let outputs = self.session.run(ort::inputs![self.input_name.as_str() => input]).map_err(|e| Error::Inference(e.to_string()))?;
        binding::copy_out(&outputs)
    }
}

fn build_session(onnx: &Path, threads: usize, cuda: bool) -> Result<Session> {
    let env = runtime::environment().ok_or_else(|| Error::Runtime("ONNX Runtime is not loaded".into()))?;
    let fail = |e: String| Error::Model(format!("cannot load {}: {e}", onnx.display()));
    let mut builder = Session::builder(env)
        .map_err(|e| fail(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| fail(e.to_string()))?;
    if threads > 0 {
        builder = builder.with_intra_threads(threads).map_err(|e| fail(e.to_string()))?;
    }
    let providers = if cuda { vec![ep::CUDA::default().build().error_on_failure()] } else { vec![ep::CPU::default().build()] };
    builder = builder.with_execution_providers(providers).map_err(|e| fail(e.to_string()))?;
    builder.commit_from_file(onnx).map_err(|e| fail(e.to_string()))
}

fn tensor_dims(ty: &ValueType) -> Option<Vec<i64>> {
    ty.tensor_shape().map(|s| s.iter().copied().collect())
}

/// The part of an ONNX Runtime error a person can act on: its messages start with the source
/// file and function (`/onnxruntime_src/...cc:2043 onnxruntime::...() [ONNXRuntimeError] : 1 :
/// FAIL : Failed to load library ... libcublasLt.so.13: cannot open ...`), then say what failed.
fn ort_message(e: &Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    let tail = match line.find("[ONNXRuntimeError]") {
        // Skip "[ONNXRuntimeError] : 1 : FAIL : ".
        Some(i) => line[i..].splitn(4, " : ").nth(3).unwrap_or(&line[i..]),
        None => line,
    };
    tail.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::VideoReader;
    use crate::preprocess::make_batch;

    fn repo() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// The IoBinding path gives exactly what plain `Session::run` gives, across batch sizes
    /// (the staging tensor is reallocated when the shape changes and reused when it does not).
    #[test]
    fn binding_matches_plain_run_bit_for_bit() {
        let spec = ModelSpec::load(&repo().join("models/ssd_mobilenet_v2_coco.toml")).unwrap();
        let mut d = Detector::new(&spec, DeviceChoice::Cpu, 2, None).unwrap();
        assert_eq!((d.execution_provider, d.fallback_reason.as_deref(), d.auto_batch_size()), (CPU_PROVIDER, None, 1));
        let mut reader = VideoReader::open(&repo().join(".deps/vtest.avi")).unwrap();
        let frames: Vec<_> = (0..3).map(|_| reader.next_frame().unwrap().unwrap()).collect();
        for range in [0..2, 2..3, 1..3, 0..1] {
            let batch = make_batch(&frames[range.clone()], &spec.input);
            let bound = d.run(&batch).unwrap();
            let plain = d.run_unbound(&batch).unwrap();
            assert_eq!(bound.len(), 3);
            assert_eq!(bound, plain, "frames {range:?}");
            assert_eq!(bound["concat_1:0"].shape[0], range.len());
        }
    }

    /// The int8 hint names the copy beside the model only where the CPU runs int8 fast, and
    /// never for a model that already is the int8 copy.
    #[test]
    fn int8_hint_only_for_an_fp32_model_with_a_copy_on_a_vnni_cpu() {
        let vnni = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| c.contains("vnni"));
        let spec = |name: &str| ModelSpec::load(&repo().join(format!("models/{name}.toml"))).unwrap();
        let hint = int8_copy_worth_it(&spec("nanodet_g_coco"));
        assert_eq!(hint, vnni.then(|| "nanodet_g_coco_int8".to_string()));
        assert_eq!(int8_copy_worth_it(&spec("nanodet_g_coco_int8")), None);
        let mut lone = spec("ssd_mobilenet_v2_coco");
        lone.name = "nothing_beside_it".into();
        assert_eq!(int8_copy_worth_it(&lone), None);
    }

    #[test]
    fn ort_errors_are_cut_to_what_failed() {
        let e = Error::Model("cannot load m.onnx: /onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file".into());
        assert_eq!(
            ort_message(&e),
            "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file"
        );
        assert_eq!(ort_message(&Error::Runtime("no GPU".into())), "ONNX Runtime: no GPU");
    }

    #[test]
    fn a_batch_whose_data_does_not_fit_its_shape_is_an_error() {
        let spec = ModelSpec::load(&repo().join("models/ssd_mobilenet_v2_coco.toml")).unwrap();
        let mut d = Detector::new(&spec, DeviceChoice::Cpu, 1, None).unwrap();
        let bad = Batch {
            frames: Vec::new(),
            regions: Vec::new(),
            data_f16: Vec::new(),
            shape: [2, 300, 300, 3],
            data: vec![0.0; 300 * 300 * 3],
        };
        assert!(matches!(d.run(&bad), Err(Error::Inference(_))));
    }
}
