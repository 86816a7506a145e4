//! Finding and loading the ONNX Runtime shared library (ort `load-dynamic`), once per process.
//! Takes an optional explicit path; gives [`RuntimeInfo`] (file and version) and the ort
//! environment the sessions are built in. Runs on the CPU, at start-up only.
//!
//! Search order: `--ort-lib`, `ORT_DYLIB_PATH`, `libonnxruntime.so` beside the executable, and
//! the copy `scripts/setup.sh` unpacks into this checkout's `.deps/`. `prelabel bundle` uses
//! the same order, so a bundle carries exactly the library a run would load.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where the library came from and its version, for logs and the run report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeInfo {
    pub library: PathBuf,
    pub version: String,
}

type Loaded = std::result::Result<(RuntimeInfo, ort::environment::Environment), String>;
static RUNTIME: std::sync::OnceLock<Loaded> = std::sync::OnceLock::new();

/// Loads ONNX Runtime once per process. A missing, wrong or too old library is an error naming
/// the file and what to do.
pub(crate) fn load_runtime(explicit: Option<&Path>) -> Result<RuntimeInfo> {
    let loaded = RUNTIME.get_or_init(|| {
        let library = locate(explicit)?;
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

/// The environment sessions are built in; `None` until [`load_runtime`] succeeded.
pub(super) fn environment() -> Option<&'static ort::environment::Environment> {
    RUNTIME.get()?.as_ref().ok().map(|(_, env)| env)
}

/// The version in the real file's name (`libonnxruntime.so.1.32.0`), as ort keeps the one
/// it reads from the library private.
fn library_version(path: &Path) -> String {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.split_once(".so.").map_or_else(|| "unknown".to_string(), |(_, v)| v.to_string())
}

/// The library a run would load (without loading it): the search order in the module doc.
pub(crate) fn find_library(explicit: Option<&Path>) -> Result<PathBuf> {
    locate(explicit).map_err(Error::Runtime)
}

fn locate(explicit: Option<&Path>) -> std::result::Result<PathBuf, String> {
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
    Err(format!("libonnxruntime.so not found (looked in {}); run scripts/setup.sh or set ORT_DYLIB_PATH", tried.join(", ")))
}
