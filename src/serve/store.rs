//! The server's folder on disk (`--cache`), the only place it writes:
//!
//! - `results/<key>.json`: a video's `labelstudio.json` exactly as `prelabel run` wrote it,
//!   keyed by the video's fingerprint and the settings ([`Store::key`]); written whole or
//!   not at all (write, sync, rename), so a result on disk is never computed again, across
//!   restarts too;
//! - `uploads/`: videos fetched from Label Studio, under a name made from their URL;
//! - `work/`: the batch jobs' output folders while they run (emptied at start and after
//!   each batch).
//!
//! Files being written are hidden `*.partial` files beside their final name until complete;
//! those a killed server left are removed at the next start.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::batch::manifest::Source;
use crate::error::{Error, Result};
use crate::files::AtomicFile;
use crate::fingerprint::hex;

/// A stored video's predictions, as `labelstudio.json` holds them.
#[derive(Debug, Clone)]
pub struct Stored {
    pub regions: Vec<Value>,
    pub score: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// The first 16 hex digits of the settings fingerprint, part of every key.
    settings: String,
}

impl Store {
    /// Opens (creates) the folders under `root`; `settings_sha256` is the settings fingerprint.
    /// Leftovers of a stopped server in `work/` go.
    pub fn open(root: &Path, settings_sha256: &str) -> Result<Store> {
        let s = Store { root: root.to_path_buf(), settings: settings_sha256.chars().take(16).collect() };
        let _ = std::fs::remove_dir_all(s.root.join("work"));
        for d in ["results", "uploads", "work"] {
            let p = s.root.join(d);
            std::fs::create_dir_all(&p).map_err(|e| Error::Output(format!("cannot create {}: {e}", p.display())))?;
            // Files a killed server was writing (never under a final name): gone.
            for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().ends_with(".partial") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(s)
    }

    /// The key of the video at `path`: its fingerprint (size, first and last MiB, as the
    /// manifests of `prelabel run` record it) and the settings'. Reads up to 2 MiB.
    pub fn key(&self, path: &Path) -> std::io::Result<String> {
        Ok(format!("{}-{}", Source::read(path)?.fingerprint, self.settings))
    }

    fn result_path(&self, key: &str) -> PathBuf {
        self.root.join("results").join(format!("{key}.json"))
    }

    pub fn has(&self, key: &str) -> bool {
        self.result_path(key).is_file()
    }

    /// Keeps `labelstudio` (a batch job's file) as the result of `key`.
    pub fn put(&self, key: &str, labelstudio: &Path) -> Result<()> {
        let text = std::fs::read(labelstudio).map_err(|e| Error::Output(format!("cannot read {}: {e}", labelstudio.display())))?;
        let mut f = AtomicFile::create(self.result_path(key))?;
        f.write_all(&text).map_err(|e| f.err(e))?;
        f.commit()?;
        Ok(())
    }

    /// The stored result of `key`; None when there is none (or it cannot be read).
    pub fn get(&self, key: &str) -> Option<Stored> {
        let text = std::fs::read(self.result_path(key)).ok()?;
        let tasks: Value = serde_json::from_slice(&text).ok()?;
        let prediction = &tasks[0]["predictions"][0];
        Some(Stored { regions: prediction["result"].as_array()?.clone(), score: prediction["score"].as_f64() })
    }

    /// Where an upload (`/data/upload/...`) is kept: a hash of its path, plus the file's
    /// extension (ffmpeg guesses some containers by it).
    pub(crate) fn upload_path(&self, upload: &str) -> PathBuf {
        let ext = Path::new(upload)
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        self.root.join("uploads").join(format!("{}{ext}", &hex(&Sha256::digest(upload.as_bytes()))[..32]))
    }

    /// A fresh folder for batch number `n`.
    pub(crate) fn work_dir(&self, n: u64) -> PathBuf {
        self.root.join("work").join(format!("batch-{n}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_kept_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cache"), "0123456789abcdef0123").unwrap();
        let video = dir.path().join("v.mp4");
        std::fs::write(&video, b"not really a video").unwrap();
        let key = store.key(&video).unwrap();
        assert!(key.ends_with("-0123456789abcdef") && !store.has(&key));
        let file = dir.path().join("labelstudio.json");
        std::fs::write(&file, r#"[{"data":{"video":"v"},"predictions":[{"score":0.5,"result":[{"id":"track-1"}]}]}]"#).unwrap();
        store.put(&key, &file).unwrap();
        let got = store.get(&key).unwrap();
        assert_eq!((got.regions.len(), got.score), (1, Some(0.5)));
        // Nothing but the result in results/: no temporary file left.
        assert_eq!(std::fs::read_dir(dir.path().join("cache/results")).unwrap().count(), 1);
        // What a killed server was writing goes at the next start; results stay.
        std::fs::write(dir.path().join("cache/uploads/.download-x.partial"), b"half").unwrap();
        let store = Store::open(&dir.path().join("cache"), "0123456789abcdef0123").unwrap();
        assert_eq!(std::fs::read_dir(dir.path().join("cache/uploads")).unwrap().count(), 0);
        assert!(store.has(&key));
        assert!(store.upload_path("/data/upload/1/x-clip.MP4").to_string_lossy().ends_with(".MP4"));
        assert!(!store.upload_path("/data/upload/1/x-clip.m/../p").to_string_lossy().contains(".."));
    }
}
