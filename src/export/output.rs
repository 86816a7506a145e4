//! The one place label files are written: a hidden staging folder (`.prelabel-*.partial`)
//! inside the output folder, whose top-level entries are renamed into place by
//! [`Output::commit`] once every format has finished. Dropped without a commit (an error, a
//! panic, a kill), the staging folder is deleted and the final names are untouched; on the
//! same file system each rename is atomic, so readers see an old file or a whole new one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use tempfile::TempDir;

use crate::error::{Error, Result};

/// Threads that sync written files at commit.
const SYNC_THREADS: usize = 32;

pub struct Output {
    staging: TempDir,
    dir: PathBuf,
    /// First path component of everything written, in order.
    entries: Vec<String>,
    /// Every file written, synced to disk together at commit.
    written: Vec<PathBuf>,
}

impl Output {
    /// Starts a staging folder inside `dir` (which must exist).
    pub fn new(dir: &Path) -> Result<Output> {
        let staging = tempfile::Builder::new()
            .prefix(".prelabel-")
            .suffix(".partial")
            .tempdir_in(dir)
            .map_err(|e| Error::write(format!("cannot create a folder in {}", dir.display()), &e))?;
        Ok(Output { staging, dir: dir.to_path_buf(), entries: Vec::new(), written: Vec::new() })
    }

    /// Writes the file `rel` (a relative path such as `coco.json` or `yolo/obj.names`) with
    /// `body`. It reaches the disk at [`Output::commit`].
    pub fn file(&mut self, rel: &str, body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
        let rel_path = Path::new(rel);
        let first = match rel_path.components().next() {
            Some(Component::Normal(c)) if rel_path.components().all(|c| matches!(c, Component::Normal(_))) => {
                c.to_string_lossy().into_owned()
            }
            _ => return Err(Error::Output(format!("bad output name {rel}"))),
        };
        let dest = self.dir.join(rel);
        let err = |e: std::io::Error| Error::write(format!("cannot write {}", dest.display()), &e);
        let path = self.staging.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let mut w = BufWriter::with_capacity(1 << 16, File::create(&path).map_err(err)?);
        body(&mut w).map_err(err)?;
        w.into_inner().map_err(|e| err(e.into_error()))?;
        self.written.push(path);
        if !self.entries.contains(&first) {
            self.entries.push(first);
        }
        Ok(())
    }

    /// Moves every entry into the output folder, replacing what was there; returns their
    /// final paths in the order they were first written.
    pub fn commit(self) -> Result<Vec<PathBuf>> {
        // Data on disk before any name points at it. One fsync per file, from many threads
        // at once (it waits on the disk, not the CPU): the file system folds concurrent syncs
        // into a few journal commits, so the YOLO folder's ~800 files cost a fraction of what
        // syncing them one by one does (see `cargo bench --bench export`).
        let chunk = self.written.len().div_ceil(SYNC_THREADS).max(1);
        std::thread::scope(|s| {
            let jobs: Vec<_> = self
                .written
                .chunks(chunk)
                .map(|files| s.spawn(move || files.iter().try_for_each(|p| File::open(p).and_then(|f| f.sync_all()))))
                .collect();
            jobs.into_iter().try_for_each(|j| j.join().unwrap_or_else(|_| Err(std::io::Error::other("sync thread panicked"))))
        })
        .map_err(|e| Error::write(format!("cannot write to {}", self.dir.display()), &e))?;
        let mut done = Vec::with_capacity(self.entries.len());
        for (i, name) in self.entries.iter().enumerate() {
            let from = self.staging.path().join(name);
            let to = self.dir.join(name);
            let err = |e: std::io::Error| Error::write(format!("cannot move {} into place", to.display()), &e);
            // rename() replaces a file but not a non-empty folder: move an old folder aside
            // into the staging folder (deleted with it) first.
            if to.is_dir() && from.is_dir() {
                std::fs::rename(&to, self.staging.path().join(format!(".old-{i}"))).map_err(err)?;
            }
            std::fs::rename(&from, &to).map_err(err)?;
            done.push(to);
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn nothing_under_final_names_until_commit_then_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("set")).unwrap();
        std::fs::write(dir.path().join("set/stale.txt"), "old").unwrap();
        std::fs::write(dir.path().join("a.txt"), "old").unwrap();
        let mut out = Output::new(dir.path()).unwrap();
        out.file("a.txt", |w| w.write_all(b"new")).unwrap();
        out.file("set/x.txt", |w| w.write_all(b"x")).unwrap();
        out.file("set/sub/y.txt", |w| w.write_all(b"y")).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).unwrap(), "old");
        assert!(!dir.path().join("set/x.txt").exists());
        let paths = out.commit().unwrap();
        assert_eq!(paths, [dir.path().join("a.txt"), dir.path().join("set")]);
        assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).unwrap(), "new");
        assert_eq!(names(&dir.path().join("set")), ["sub", "x.txt"], "the old folder is replaced, not merged");
        assert_eq!(names(dir.path()), ["a.txt", "set"], "no staging left");
    }

    #[test]
    fn dropped_or_failed_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Output::new(dir.path()).unwrap();
        out.file("a.txt", |w| w.write_all(b"a")).unwrap();
        let e = out.file("b.txt", |_| Err(std::io::Error::other("disk full"))).unwrap_err();
        assert!(e.to_string().contains("b.txt") && e.to_string().contains("disk full"), "{e}");
        assert!(out.file("../escape.txt", |_| Ok(())).is_err());
        drop(out);
        assert!(names(dir.path()).is_empty());
    }
}
