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
    /// Writing an output failed in the system: `kind` says how, so that a full disk
    /// (`Error::is_full_disk`) is told by its kind, not by the message's text.
    #[error("output: {msg}")]
    Write { msg: String, kind: std::io::ErrorKind },
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

    /// An output that could not be written: `what` (e.g. "cannot write x.json") and the
    /// system's error, whose kind is kept.
    pub fn write(what: impl std::fmt::Display, e: &std::io::Error) -> Error {
        Error::Write { msg: format!("{what}: {e}"), kind: e.kind() }
    }

    /// Whether the disk (or a quota, or a file size limit) ran out: ENOSPC, EDQUOT, EFBIG.
    pub(crate) fn is_full_disk(&self) -> bool {
        use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
        matches!(self, Error::Write { kind: StorageFull | QuotaExceeded | FileTooLarge, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_told_by_its_kind() {
        for errno in [28, 122, 27] {
            let e = Error::write("cannot write x", &std::io::Error::from_raw_os_error(errno));
            assert!(e.is_full_disk(), "{e}");
        }
        let denied = Error::write("cannot write x", &std::io::Error::from_raw_os_error(13));
        assert!(!denied.is_full_disk());
        assert!(!Error::Output("cannot write x: No space left on device (os error 28)".into()).is_full_disk());
        assert_eq!(denied.to_string(), format!("output: cannot write x: {}", std::io::Error::from_raw_os_error(13)));
    }
}
