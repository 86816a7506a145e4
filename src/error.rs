//! One error type for the library. Every variant renders as one line a user can act on;
//! the binary prints it and exits non-zero, never panics.

use std::path::PathBuf;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("{path}: {msg}")]
    Video { path: PathBuf, msg: String },
    #[error("model: {0}")]
    Model(String),
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    #[error("GPU: {0}")]
    Gpu(String),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("output: {0}")]
    Output(String),
    #[error("{0}")]
    Usage(String),
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn video(path: &std::path::Path, msg: impl std::fmt::Display) -> Error {
        Error::Video { path: path.to_path_buf(), msg: msg.to_string() }
    }
}
