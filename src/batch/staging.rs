//! A unique staging folder per attempt at a video, `OUT/.staging/<claim key>.<pid>.<token>`,
//! where the pipeline writes every file and the manifest; renamed into the video's final
//! folder only when complete, so a reader never sees half a folder and a killed attempt
//! leaves nothing under a final name. Folders of attempts whose claim is gone (a killed
//! worker) are deleted by [`clean`] at the start of the next run.
//!
//! Replacing a folder that exists (a video labelled again) swaps the new folder and the old
//! one in one step (Linux `renameat2(RENAME_EXCHANGE)`), then deletes the old one from
//! `.staging`: a reader sees the old folder or the new one, never none and never a mix. Where
//! the file system cannot swap (NFS, older kernels) it takes two renames, old aside then new
//! in, between which the folder is briefly absent. Entries of the old folder that prelabel did
//! not write (another video's folder nested under it, a user's notes) are carried over into
//! the new one first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::claim::{self, Claim};
use crate::error::{Error, Result};

/// The folder of attempts in `--out` (hidden: no input's folder can be named so).
pub const DIR: &str = ".staging";

pub(crate) struct Staging {
    dir: PathBuf,
    aside: PathBuf,
    dest: PathBuf,
    committed: bool,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::write(format!("{what} {}", path.display()), &e)
}

impl Staging {
    /// Creates the attempt's folder for the video whose folder is `out/rel_out`.
    pub fn new(out: &Path, rel_out: &Path, claim: &Claim) -> Result<Staging> {
        let root = out.join(DIR);
        let name = format!("{}.{}.{}", claim::key(rel_out), std::process::id(), claim.token());
        let dir = root.join(&name);
        let mut tries = 0;
        loop {
            std::fs::create_dir_all(&root).map_err(|e| io_err("cannot create", &root, e))?;
            match std::fs::create_dir(&dir) {
                Ok(()) => break,
                // A worker finishing its run removes the folder when it is empty: again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 3 => tries += 1,
                Err(e) => return Err(io_err("cannot create", &dir, e)),
            }
        }
        Ok(Staging { aside: root.join(format!("{name}.old")), dir, dest: out.join(rel_out), committed: false })
    }

    /// Where the attempt writes.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Puts the finished folder in place, replacing an older one; returns its path.
    pub fn commit(mut self) -> Result<PathBuf> {
        let dest = self.dest.clone();
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err("cannot create", parent, e))?;
        }
        let exists = std::fs::symlink_metadata(&dest).is_ok();
        if exists {
            if !dest.is_dir() || dest.is_symlink() {
                return Err(Error::Output(format!("{} is in the way (not a folder prelabel made)", dest.display())));
            }
            for e in std::fs::read_dir(&dest).map_err(|e| io_err("cannot list", &dest, e))?.flatten() {
                let name = e.file_name();
                let own = name.to_str().is_some_and(|n| super::identity::is_prelabel_name(n) || n.starts_with(".prelabel-"));
                if !own && std::fs::symlink_metadata(self.dir.join(&name)).is_err() {
                    std::fs::rename(e.path(), self.dir.join(&name)).map_err(|err| io_err("cannot carry over", &e.path(), err))?;
                }
            }
            match exchange(&self.dir, &dest) {
                Ok(()) => {
                    // The old folder now sits where the attempt was: delete it (a kill here
                    // leaves it to the next run's `clean`, as the attempt's folder).
                    self.committed = true;
                    if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                        tracing::warn!("cannot delete the replaced folder {}: {e}", self.dir.display());
                    }
                    return Ok(dest);
                }
                Err(e) => tracing::debug!("cannot swap folders in one step ({e}): two renames"),
            }
            std::fs::rename(&dest, &self.aside).map_err(|e| io_err("cannot move aside", &dest, e))?;
        }
        if let Err(e) = std::fs::rename(&self.dir, &dest) {
            if exists {
                // Put the old folder back rather than leave none.
                let _ = std::fs::rename(&self.aside, &dest);
            }
            return Err(io_err("cannot move into place", &dest, e));
        }
        self.committed = true;
        if exists {
            if let Err(e) = std::fs::remove_dir_all(&self.aside) {
                tracing::warn!("cannot delete the replaced folder {}: {e}", self.aside.display());
            }
        }
        Ok(dest)
    }
}

/// Swaps the two paths in one atomic step (both must exist); an error where the file system
/// cannot (NFS, older kernels), with both left as they were.
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: two valid NUL-terminated paths; renameat2 only reads them.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Deletes attempt folders in `out/.staging` that no live claim owns (their workers were
/// killed). Run after [`claim::clean`] at the start of a job.
pub fn clean(out: &Path, timeout: Duration) -> Result<usize> {
    let root = out.join(DIR);
    let Ok(entries) = std::fs::read_dir(&root) else { return Ok(0) };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let base = name.strip_suffix(".old").unwrap_or(&name);
        // <key>.<pid>.<token>: the key may hold dots, the pid and token do not.
        let mut parts = base.rsplitn(3, '.');
        let (token, _pid, key) = (parts.next(), parts.next(), parts.next());
        let live = match (key, token) {
            (Some(key), Some(token)) => claim::live_token(out, key, timeout).is_some_and(|t| t == token),
            _ => false,
        };
        if !live {
            let path = e.path();
            let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            match gone {
                Ok(()) => removed += 1,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(io_err("cannot delete the stale attempt", &path, err)),
            }
        }
    }
    if removed > 0 {
        tracing::info!("deleted {removed} unfinished attempt(s) of killed workers from {}", root.display());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::claim::{acquire, Attempt, DEFAULT_TIMEOUT};

    fn claim(out: &Path, rel: &str) -> Claim {
        match acquire(out, Path::new(rel), DEFAULT_TIMEOUT).unwrap() {
            Attempt::Held(c) => c,
            Attempt::Busy(w) => panic!("{w}"),
        }
    }

    #[test]
    fn whole_folders_appear_at_once_and_replace_old_ones_keeping_foreign_entries() {
        let out = tempfile::tempdir().unwrap();
        let c = claim(out.path(), "cam/clip.mp4");
        let s = Staging::new(out.path(), Path::new("cam/clip.mp4"), &c).unwrap();
        std::fs::write(s.path().join("mot.txt"), "new").unwrap();
        assert!(!out.path().join("cam/clip.mp4").exists(), "nothing under the final name before commit");
        let dest = s.commit().unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("mot.txt")).unwrap(), "new");
        // Again, over an old folder holding an old label file and a nested video's folder.
        std::fs::write(dest.join("coco.json"), "stale").unwrap();
        std::fs::create_dir_all(dest.join("nested.mp4")).unwrap();
        std::fs::write(dest.join("nested.mp4/mot.txt"), "nested").unwrap();
        let s = Staging::new(out.path(), Path::new("cam/clip.mp4"), &c).unwrap();
        std::fs::write(s.path().join("mot.txt"), "newer").unwrap();
        s.commit().unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("mot.txt")).unwrap(), "newer");
        assert!(!dest.join("coco.json").exists(), "old label files go with the old folder");
        assert_eq!(std::fs::read_to_string(dest.join("nested.mp4/mot.txt")).unwrap(), "nested");
        assert_eq!(std::fs::read_dir(out.path().join(DIR)).unwrap().count(), 0, "no leftovers");
    }

    #[test]
    fn exchange_swaps_two_folders_or_leaves_both_untouched() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        for (d, f) in [(&a, "from_a"), (&b, "from_b")] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join(f), f).unwrap();
        }
        match exchange(&a, &b) {
            Ok(()) => assert!(a.join("from_b").is_file() && b.join("from_a").is_file()),
            Err(e) => {
                eprintln!("no RENAME_EXCHANGE here ({e}): commits take two renames");
                assert!(a.join("from_a").is_file() && b.join("from_b").is_file());
            }
        }
        assert!(exchange(&a, &t.path().join("missing")).is_err(), "both must exist");
    }

    #[test]
    fn dropped_attempts_vanish_and_killed_ones_are_cleaned_unless_live() {
        let out = tempfile::tempdir().unwrap();
        let c = claim(out.path(), "a.mp4");
        let s = Staging::new(out.path(), Path::new("a.mp4"), &c).unwrap();
        std::fs::write(s.path().join("mot.txt"), "x").unwrap();
        drop(s);
        assert_eq!(std::fs::read_dir(out.path().join(DIR)).unwrap().count(), 0);
        // A live attempt survives a clean; a killed one (no claim) does not.
        let live = Staging::new(out.path(), Path::new("a.mp4"), &c).unwrap();
        let killed = out.path().join(DIR).join("b.mp4~0123456789abcdef.4242.zzzzzzzzzz");
        std::fs::create_dir_all(killed.join("yolo")).unwrap();
        std::fs::create_dir_all(out.path().join(DIR).join("c.mp4~0123456789abcdef.4242.yyyyyyyyyy.old")).unwrap();
        assert_eq!(clean(out.path(), DEFAULT_TIMEOUT).unwrap(), 2);
        assert!(live.path().is_dir() && !killed.exists());
        drop(c);
        assert_eq!(clean(out.path(), DEFAULT_TIMEOUT).unwrap(), 1, "without its claim, the attempt is debris");
        std::mem::forget(live);
    }
}
