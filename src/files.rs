//! Output files as every stage that writes writes them (export's label files, render's
//! contact sheet, the job's report and manifests): write-then-rename ([`AtomicFile`]), so
//! readers see either nothing or the whole file, and the fixed names in a video's output
//! folder that more than one stage knows (`WEB_VIDEO`). Shared: below export and render,
//! so neither reaches into the other.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// File name of the browser-playable copy in each video's output folder (`--web-video`),
/// written by render and named in the label files by export: one fixed name, as for the
/// label files, so it never clashes with them or with another video's folder.
pub(crate) const WEB_VIDEO: &str = "video.mp4";

/// A file being written under a hidden name, renamed to its final name by [`AtomicFile::commit`].
pub struct AtomicFile {
    out: BufWriter<NamedTempFile>,
    dest: PathBuf,
}

impl AtomicFile {
    /// Starts `dest` as a hidden `.prelabel-*.partial` file beside it (same file system, so
    /// the final rename is atomic). Dropped without [`AtomicFile::commit`], it is deleted.
    pub fn create(dest: PathBuf) -> Result<AtomicFile> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        // Permissions as File::create gives the label files (the umask decides), not
        // tempfile's owner-only default: the files are shared with a team or a web server.
        let tmp = tempfile::Builder::new()
            .prefix(".prelabel-")
            .suffix(".partial")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(|e| Error::write(format!("cannot create a file in {}", dir.display()), &e))?;
        Ok(AtomicFile { out: BufWriter::with_capacity(1 << 16, tmp), dest })
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Maps an I/O error on this file to a one-line error naming it.
    pub fn err(&self, e: std::io::Error) -> Error {
        Error::write(format!("cannot write {}", self.dest.display()), &e)
    }

    /// Flushes, syncs to disk and renames into place.
    pub fn commit(self) -> Result<PathBuf> {
        let dest = self.dest;
        let err = |e: std::io::Error| Error::write(format!("cannot write {}", dest.display()), &e);
        let tmp = self.out.into_inner().map_err(|e| err(e.into_error()))?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(&dest).map_err(|e| err(e.error))?;
        Ok(dest)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_under_the_final_name_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.txt");
        let mut f = AtomicFile::create(dest.clone()).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!dest.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "hello");
        // dropped without commit: no file, no leftovers
        let other = dir.path().join("b.txt");
        drop(AtomicFile::create(other.clone()).unwrap());
        assert!(!other.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
