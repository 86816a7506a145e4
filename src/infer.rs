//! Stage 3, infer: takes a [`Batch`], gives the model's raw output tensors ([`RawOutputs`]).
//! Runs through ONNX Runtime, on the GPU with the CUDA execution provider when the loaded
//! library has it and a GPU answers, else on the CPU; [`Detector::device`] says which ran.
//!
//! ONNX Runtime is loaded at run time (ort `load-dynamic`) from, in order: `--ort-lib`,
//! `ORT_DYLIB_PATH`, `libonnxruntime.so` beside the executable, and the copy
//! `scripts/setup.sh` unpacks into this checkout's `.deps/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ort::ep::{self, ExecutionProvider};
use ort::session::{builder::GraphOptimizationLevel, Session};
use ort::value::{PrimitiveTensorElementType, TensorElementType, TensorRef, ValueType};

use crate::error::{Error, Result};
use crate::model::ModelSpec;
use crate::postprocess;
use crate::types::Batch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when available, else CPU.
    Auto,
    Cpu,
    /// CUDA or fail.
    Gpu,
}

/// One output tensor copied out of ONNX Runtime, as f32 (integer class tensors are converted).
#[derive(Debug, Clone)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub type RawOutputs = HashMap<String, RawTensor>;

/// Where the library came from and its version, for logs and the run report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeInfo {
    pub library: PathBuf,
    pub version: String,
}

static RUNTIME: std::sync::OnceLock<std::result::Result<(RuntimeInfo, ort::environment::Environment), String>> =
    std::sync::OnceLock::new();

/// Loads ONNX Runtime once per process. A missing, wrong or too old library is an error naming
/// the file and what to do.
pub fn load_runtime(explicit: Option<&Path>) -> Result<RuntimeInfo> {
    let loaded = RUNTIME.get_or_init(|| {
        let library = find_library(explicit)?;
        let builder = ort::init_from(&library).map_err(|e| match e {
            ort::LoadDynamicError::BadVersion { version_str, path } => format!(
                "{} is version {version_str}, prelabel needs 1.{} or newer (run scripts/setup.sh, or point ORT_DYLIB_PATH at a newer libonnxruntime.so)",
                path.display(),
                ort::MINOR_VERSION
            ),
            other => format!("{other} (run scripts/setup.sh, or point ORT_DYLIB_PATH at libonnxruntime.so)"),
        })?;
        let env = builder.with_name("prelabel").build().map_err(|e| e.to_string())?;
        Ok((RuntimeInfo { version: library_version(&library), library }, env))
    });
    match loaded {
        Ok((info, _)) => Ok(info.clone()),
        Err(msg) => Err(Error::Runtime(msg.clone())),
    }
}

/// The version in the real file's name (`libonnxruntime.so.1.32.0`), as ort keeps the one
/// it reads from the library private.
fn library_version(path: &Path) -> String {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.split_once(".so.").map_or_else(|| "unknown".to_string(), |(_, v)| v.to_string())
}

fn find_library(explicit: Option<&Path>) -> std::result::Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() { Ok(p.to_path_buf()) } else { Err(format!("library {} does not exist", p.display())) };
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("ORT_DYLIB_PATH={} does not exist", p.display())) };
    }
    let mut tried = Vec::new();
    let beside_exe = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("libonnxruntime.so")));
    let in_checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join(".deps/ort-active/libonnxruntime.so");
    for p in beside_exe.into_iter().chain([in_checkout]) {
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    Err(format!(
        "libonnxruntime.so not found (looked in {}); run scripts/setup.sh or set ORT_DYLIB_PATH",
        tried.join(", ")
    ))
}

/// A loaded model, ready to run batches.
pub struct Detector {
    session: Session,
    input_name: String,
    /// Which execution provider runs the model, e.g. "cuda" or "cpu (CUDA provider failed: ...)".
    pub device: String,
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
        let (session, device_used) = match device {
            DeviceChoice::Cpu => (build_session(&onnx, threads, false)?, "cpu".to_string()),
            DeviceChoice::Gpu if !cuda_built => {
                return Err(Error::Runtime(
                    "--device gpu: the loaded ONNX Runtime has no CUDA provider (set PRELABEL_ORT=gpu for scripts/setup.sh)".into(),
                ))
            }
            DeviceChoice::Gpu => (
                build_session(&onnx, threads, true).map_err(|e| Error::Runtime(format!("--device gpu: {e}")))?,
                "cuda".to_string(),
            ),
            DeviceChoice::Auto if !cuda_built => {
                (build_session(&onnx, threads, false)?, "cpu (ONNX Runtime build has no CUDA provider)".to_string())
            }
            DeviceChoice::Auto => match build_session(&onnx, threads, true) {
                Ok(s) => (s, "cuda".to_string()),
                Err(e) => {
                    tracing::warn!("CUDA unavailable, running on CPU: {e}");
                    (build_session(&onnx, threads, false)?, format!("cpu (CUDA provider failed: {})", first_line(&e)))
                }
            },
        };
        let detector = Detector { input_name: spec.input.name.clone(), session, device: device_used };
        detector.check_against(spec)?;
        Ok(detector)
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
            crate::model::Layout::Nhwc => [-1, spec.input.height as i64, spec.input.width as i64, 3],
            crate::model::Layout::Nchw => [-1, 3, spec.input.height as i64, spec.input.width as i64],
        };
        if dims.len() != 4 || dims.iter().zip(want).skip(1).any(|(d, w)| *d >= 0 && *d != w) {
            return Err(mismatch(format!("input '{}' has shape {dims:?}, expected {want:?}", spec.input.name)));
        }
        let outputs: HashMap<String, Vec<i64>> = self
            .session
            .outputs()
            .iter()
            .filter_map(|o| Some((o.name().to_string(), tensor_dims(o.dtype())?)))
            .collect();
        postprocess::check_output_shapes(spec, &outputs).map_err(mismatch)
    }

    /// Runs one batch and copies every output out as f32.
    pub fn run(&mut self, batch: &Batch) -> Result<RawOutputs> {
        let input = TensorRef::from_array_view((batch.shape, batch.data.as_slice()))
            .map_err(|e| Error::Inference(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => input])
            .map_err(|e| Error::Inference(e.to_string()))?;
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
}

/// Copies one output tensor out of ONNX Runtime as f32 (class tensors may be integers).
fn extract<T: PrimitiveTensorElementType + Copy>(value: &ort::value::DynValue, to_f32: fn(T) -> f32) -> Result<RawTensor> {
    let (shape, data) = value.try_extract_tensor::<T>().map_err(|e| Error::Inference(e.to_string()))?;
    Ok(RawTensor { shape: shape.iter().map(|d| *d as usize).collect(), data: data.iter().map(|v| to_f32(*v)).collect() })
}

fn build_session(onnx: &Path, threads: usize, cuda: bool) -> Result<Session> {
    let env = &RUNTIME.get().expect("load_runtime ran").as_ref().expect("runtime loaded").1;
    let fail = |e: String| Error::Model(format!("cannot load {}: {e}", onnx.display()));
    let mut builder = Session::builder(env)
        .map_err(|e| fail(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| fail(e.to_string()))?;
    if threads > 0 {
        builder = builder.with_intra_threads(threads).map_err(|e| fail(e.to_string()))?;
    }
    let providers = if cuda {
        vec![ep::CUDA::default().build().error_on_failure()]
    } else {
        vec![ep::CPU::default().build()]
    };
    builder = builder.with_execution_providers(providers).map_err(|e| fail(e.to_string()))?;
    builder.commit_from_file(onnx).map_err(|e| fail(e.to_string()))
}

fn tensor_dims(ty: &ValueType) -> Option<Vec<i64>> {
    ty.tensor_shape().map(|s| s.iter().copied().collect())
}

fn first_line(e: &Error) -> String {
    e.to_string().lines().next().unwrap_or_default().chars().take(160).collect()
}
