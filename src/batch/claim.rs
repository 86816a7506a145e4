//! Per-video claims, so that workers sharing one `--out` (a shard run twice by a retry or a
//! replaced pod, overlapping resubmissions) never label the same video at once.
//!
//! A claim is `OUT/.claims/<key>.claim`, written whole to a temp file and hard-linked to its
//! name (link fails when the name exists: exactly one creator wins, also on NFS and most
//! shared file systems), so no reader ever sees an empty claim, even of a worker killed while
//! claiming; file systems without hard links fall back to `create_new` (O_EXCL). It holds who claimed it (host,
//! pid, when) and a heartbeat a thread refreshes while the video is labelled. A claim is stale,
//! and is taken over with a log line, when its heartbeat is older than the claim timeout
//! (`--claim-timeout`), or at once when it was made on this host (same host name, boot and pid
//! namespace) by a process that is gone. Takeover renames the stale claim aside and checks it
//! moved the claim it judged stale, so two workers taking over at once do not both win.
//! A worker checks its claim is still its own before it puts a video in place.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The folder of claims in `--out` (hidden: no input's folder can be named so).
pub const DIR: &str = ".claims";

/// Default `--claim-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The claim file's name for the video whose output folder is `rel_out`: its folder name
/// (cut to 80 bytes) for people, and a hash of the whole relative path for uniqueness.
pub fn key(rel_out: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let leaf = rel_out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut cut = leaf.len().min(80);
    while !leaf.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{}", &leaf[..cut], super::identity::short_hash(rel_out.as_os_str().as_bytes(), 16))
}

/// Who runs this process, as far as telling live from dead goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// The kernel's boot id: a host name seen again after a reboot is not the same machine.
    #[serde(default)]
    pub boot_id: String,
    /// The pid namespace: containers with one host name do not share pids.
    #[serde(default)]
    pub pid_ns: String,
    /// The process's start time (clock ticks since boot): a reused pid is another process.
    #[serde(default)]
    pub pid_start: u64,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Field 22 of `/proc/PID/stat`, the start time; None when there is no such process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Owner {
    pub fn me() -> Owner {
        let pid = std::process::id();
        Owner {
            host: read_trim("/proc/sys/kernel/hostname"),
            pid,
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            pid_ns: std::fs::read_link("/proc/self/ns/pid").map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
            pid_start: start_time(pid).unwrap_or(0),
        }
    }

    /// Whether `self` names a process of this host that has ended (never true for another host).
    fn gone(&self, me: &Owner) -> bool {
        let same_host = self.host == me.host && !self.boot_id.is_empty() && self.boot_id == me.boot_id && self.pid_ns == me.pid_ns;
        same_host && start_time(self.pid) != Some(self.pid_start)
    }
}

/// The content of a claim file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimFile {
    /// The video's output folder, relative to `--out`.
    pub video: String,
    #[serde(flatten)]
    pub owner: Owner,
    /// Milliseconds since 1970.
    pub started_ms: u64,
    pub heartbeat_ms: u64,
    /// Random, one per attempt; also names the attempt's staging folder.
    pub token: String,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Text for a time in milliseconds since 1970: `2026-11-30 14:05:09 UTC`.
pub(crate) fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970 (Howard Hinnant's algorithm).
    let z = days as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// What a claim file found on disk says.
enum Judged {
    /// Held by a live worker: who.
    Live(String),
    /// Stale: why, and the token of the claim judged (empty when unreadable).
    Stale(String, String),
    /// Gone meanwhile.
    Gone,
}

fn judge(path: &Path, timeout: Duration, me: &Owner) -> Judged {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Judged::Gone,
        Err(_) => String::new(),
    };
    let age_of = |ms: u64| Duration::from_millis(now_ms().saturating_sub(ms));
    match serde_json::from_str::<ClaimFile>(&text) {
        Ok(c) => {
            let who = format!("{} pid {} since {}", c.owner.host, c.owner.pid, utc(c.started_ms));
            if c.owner.gone(me) {
                Judged::Stale(format!("claimed by {who}, a process of this host that has ended"), c.token)
            } else if age_of(c.heartbeat_ms) > timeout {
                Judged::Stale(format!("claimed by {who}, no heartbeat for {} s", age_of(c.heartbeat_ms).as_secs()), c.token)
            } else {
                Judged::Live(who)
            }
        }
        // Being written (create_new, then the content) or damaged: judged by its age.
        Err(_) => {
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            let age = modified.and_then(|m| SystemTime::now().duration_since(m).ok()).unwrap_or_default();
            if age > timeout {
                Judged::Stale(format!("unreadable claim {} s old", age.as_secs()), String::new())
            } else {
                Judged::Live("a worker writing its claim".into())
            }
        }
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::write(format!("{what} {}", path.display()), &e)
}

/// Renames the stale claim at `path` aside and deletes it. When the claim moved is not the one
/// judged stale (another worker took over first and claimed anew), it is put back.
fn take_over(path: &Path, stale_token: &str) -> Result<()> {
    let aside = path.with_file_name(transient_name("taken", &Owner::me()));
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("cannot take over the claim", path, e)),
    }
    let moved = std::fs::read_to_string(&aside).ok().and_then(|t| serde_json::from_str::<ClaimFile>(&t).ok());
    if moved.as_ref().is_some_and(|m| m.token != stale_token) {
        // A fresh claim: back where it was unless yet another one is there now.
        let _ = std::fs::hard_link(&aside, path);
    }
    let _ = std::fs::remove_file(&aside);
    Ok(())
}

/// The result of trying to claim a video.
pub enum Attempt {
    Held(Claim),
    /// Another live worker holds it: who.
    Busy(String),
}

/// A claim this process holds; released (deleted) on drop while it is still ours.
pub struct Claim {
    path: PathBuf,
    token: String,
    lost: Arc<AtomicBool>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    heartbeat: Option<JoinHandle<()>>,
}

/// Claims the video whose output folder is `rel_out` in `out`, taking over a stale claim.
pub fn acquire(out: &Path, rel_out: &Path, timeout: Duration) -> Result<Attempt> {
    let dir = out.join(DIR);
    std::fs::create_dir_all(&dir).map_err(|e| io_err("cannot create", &dir, e))?;
    let path = dir.join(format!("{}.claim", key(rel_out)));
    let me = Owner::me();
    for _ in 0..8 {
        let now = now_ms();
        let mine = ClaimFile {
            video: rel_out.to_string_lossy().into_owned(),
            owner: me.clone(),
            started_ms: now,
            heartbeat_ms: now,
            token: fastrand_token(),
        };
        match create_whole(&dir, &path, &mine, &me) {
            Ok(()) => return Ok(Attempt::Held(Claim::start(path, mine, timeout))),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // The folder was removed as empty by a worker finishing its run: make it again.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&dir).map_err(|e| io_err("cannot create", &dir, e))?;
                continue;
            }
            Err(e) => return Err(io_err("cannot create", &path, e)),
        }
        match judge(&path, timeout, &me) {
            Judged::Live(who) => return Ok(Attempt::Busy(who)),
            Judged::Gone => continue,
            Judged::Stale(why, token) => {
                tracing::warn!("{}: taking over a stale claim ({why})", rel_out.display());
                take_over(&path, &token)?;
            }
        }
    }
    Ok(Attempt::Busy("other workers (the claim changed hands 8 times while trying)".into()))
}

/// Creates the claim file at `path` holding `claim`, failing with `AlreadyExists` when there is
/// one: written to a temp file first and hard-linked into place, so the claim appears whole.
fn create_whole(dir: &Path, path: &Path, claim: &ClaimFile, me: &Owner) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(claim).map_err(std::io::Error::other)?;
    let linked = with_transient(dir, "new", me, &text, |tmp| std::fs::hard_link(tmp, path));
    match linked {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied) => {
            // No hard links here (some FUSE and object-store mounts): O_EXCL, then the content.
            tracing::debug!("no hard links in {} ({e}): claims are created with O_EXCL", dir.display());
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
            f.write_all(&text).and_then(|_| f.sync_all()).inspect_err(|_| {
                let _ = std::fs::remove_file(path);
            })
        }
        other => other,
    }
}

/// Writes `text` to a new transient file in `dir` and hands its path to `place` (which links
/// or renames it into place); the transient file is gone afterwards either way.
fn with_transient(
    dir: &Path,
    kind: &str,
    me: &Owner,
    text: &[u8],
    place: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = dir.join(transient_name(kind, me));
    let done = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(text)?;
            f.sync_all()
        })
        .and_then(|()| place(&tmp));
    // After a rename there is nothing left to remove; after a link or a failure there is.
    let _ = std::fs::remove_file(&tmp);
    done
}

/// The name of a short-lived file in the claims folder (a claim being written, a heartbeat's
/// new content, a claim renamed aside to be taken over): `.<kind>.<random>.<pid>@<host>`, so
/// that [`clean`] can tell the leftovers of a killed process of this host at once.
fn transient_name(kind: &str, me: &Owner) -> String {
    format!(".{kind}.{}.{}@{}", fastrand_token(), me.pid, me.host)
}

/// Whether a transient file's name says it belongs to a process of this host that has ended.
fn transient_of_dead_process(name: &str, me: &Owner) -> bool {
    let Some((rest, host)) = name.rsplit_once('@') else { return false };
    let Some(pid) = rest.rsplit_once('.').and_then(|(_, pid)| pid.parse::<u32>().ok()) else { return false };
    host == me.host && start_time(pid).is_none()
}

/// Ten random letters and digits.
fn fastrand_token() -> String {
    std::iter::repeat_with(fastrand::alphanumeric).take(10).collect()
}

/// How often a held claim's heartbeat is written: often enough that a live worker is never
/// taken for a dead one.
fn heartbeat_every(timeout: Duration) -> Duration {
    (timeout / 5).clamp(Duration::from_millis(200), Duration::from_secs(60))
}

impl Claim {
    fn start(path: PathBuf, mut file: ClaimFile, timeout: Duration) -> Claim {
        let lost = Arc::new(AtomicBool::new(false));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let token = file.token.clone();
        let (p, l, s) = (path.clone(), lost.clone(), stop.clone());
        let every = heartbeat_every(timeout);
        let heartbeat = std::thread::Builder::new()
            .name("claim-heartbeat".into())
            .spawn(move || loop {
                let (m, cv) = &*s;
                let Ok(guard) = m.lock() else { return };
                let Ok((guard, _)) = cv.wait_timeout_while(guard, every, |stop| !*stop) else { return };
                if *guard {
                    return;
                }
                drop(guard);
                if !still_ours(&p, &file.token) {
                    tracing::warn!("{}: the claim was taken over by another worker", file.video);
                    l.store(true, Ordering::SeqCst);
                    return;
                }
                file.heartbeat_ms = now_ms();
                if let Err(e) = rewrite(&p, &file) {
                    tracing::warn!("cannot refresh the claim {}: {e}", p.display());
                }
            })
            .ok();
        Claim { path, token, lost, stop, heartbeat }
    }

    /// The attempt's token (names its staging folder).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether the claim is still this attempt's (checked just before a video is put in place).
    pub(crate) fn still_held(&self) -> bool {
        !self.lost.load(Ordering::SeqCst) && still_ours(&self.path, &self.token)
    }
}

fn still_ours(path: &Path, token: &str) -> bool {
    std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str::<ClaimFile>(&t).ok()).is_some_and(|c| c.token == token)
}

/// Replaces the claim's content whole (temp file and rename), so readers never see half.
fn rewrite(path: &Path, file: &ClaimFile) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let text = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
    with_transient(dir, "hb", &file.owner, &text, |tmp| std::fs::rename(tmp, path))
}

impl Drop for Claim {
    fn drop(&mut self) {
        let (m, cv) = &*self.stop;
        if let Ok(mut g) = m.lock() {
            *g = true;
        }
        cv.notify_all();
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
        if still_ours(&self.path, &self.token) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The token of the live claim on the video with claim key `key`, if any (for telling live
/// staging folders from debris).
pub(crate) fn live_token(out: &Path, key: &str, timeout: Duration) -> Option<String> {
    let path = out.join(DIR).join(format!("{key}.claim"));
    let me = Owner::me();
    match judge(&path, timeout, &me) {
        Judged::Live(_) => std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<ClaimFile>(&t).ok()).map(|c| c.token),
        _ => None,
    }
}

/// Removes stale claims (their workers died after finishing or mid-way) and leftovers of
/// takeovers and heartbeats, logging what it took over. Run at the start of a job.
pub fn clean(out: &Path, timeout: Duration) -> Result<()> {
    let dir = out.join(DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(()) };
    let me = Owner::me();
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".claim") {
            if let Judged::Stale(why, token) = judge(&path, timeout, &me) {
                tracing::warn!("taking over a stale claim {name} to delete it ({why})");
                take_over(&path, &token)?;
            }
        } else {
            // Claims being written, heartbeat temp files, claims renamed aside: they live for
            // milliseconds, so they are debris when their process is gone or they are old.
            let old = e.metadata().and_then(|m| m.modified()).ok().and_then(|m| SystemTime::now().duration_since(m).ok());
            if transient_of_dead_process(&name, &me) || old.is_some_and(|a| a > Duration::from_secs(60).min(timeout)) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(a: Attempt) -> Claim {
        match a {
            Attempt::Held(c) => c,
            Attempt::Busy(who) => panic!("busy: {who}"),
        }
    }

    #[test]
    fn one_holder_at_a_time_released_on_drop() {
        let out = tempfile::tempdir().unwrap();
        let rel = Path::new("camA/clip.mp4");
        let a = held(acquire(out.path(), rel, DEFAULT_TIMEOUT).unwrap());
        assert!(a.still_held());
        match acquire(out.path(), rel, DEFAULT_TIMEOUT).unwrap() {
            Attempt::Busy(who) => assert!(who.contains(&format!("pid {}", std::process::id())), "{who}"),
            Attempt::Held(_) => panic!("claimed twice"),
        }
        // Another video is free.
        let other = held(acquire(out.path(), Path::new("camB/clip.mp4"), DEFAULT_TIMEOUT).unwrap());
        drop(a);
        let again = held(acquire(out.path(), rel, DEFAULT_TIMEOUT).unwrap());
        drop((again, other));
        assert_eq!(std::fs::read_dir(out.path().join(DIR)).unwrap().count(), 0, "released claims leave nothing");
    }

    #[test]
    fn a_dead_process_or_an_old_heartbeat_is_taken_over_and_the_loser_notices() {
        let out = tempfile::tempdir().unwrap();
        let rel = Path::new("clip.mp4");
        let dir = out.path().join(DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.claim", key(rel)));
        // A claim by a process of this host that has ended (a pid that cannot exist).
        let mut dead =
            ClaimFile { video: "clip.mp4".into(), owner: Owner::me(), started_ms: now_ms(), heartbeat_ms: now_ms(), token: "dead".into() };
        dead.owner.pid = u32::MAX - 1;
        std::fs::write(&path, serde_json::to_vec(&dead).unwrap()).unwrap();
        let c = held(acquire(out.path(), rel, DEFAULT_TIMEOUT).unwrap());
        drop(c);
        // Another host's claim: live until its heartbeat is older than the timeout.
        let mut far = dead.clone();
        far.owner.host = "elsewhere".into();
        far.owner.pid = 1;
        std::fs::write(&path, serde_json::to_vec(&far).unwrap()).unwrap();
        assert!(matches!(acquire(out.path(), rel, DEFAULT_TIMEOUT).unwrap(), Attempt::Busy(w) if w.contains("elsewhere")));
        far.heartbeat_ms -= 11 * 60 * 1000;
        std::fs::write(&path, serde_json::to_vec(&far).unwrap()).unwrap();
        let mine = held(acquire(out.path(), rel, DEFAULT_TIMEOUT).unwrap());
        // Someone takes it from us: we notice before putting anything in place.
        let mut thief = far.clone();
        thief.token = "thief".into();
        thief.heartbeat_ms = now_ms();
        std::fs::write(&path, serde_json::to_vec(&thief).unwrap()).unwrap();
        assert!(!mine.still_held());
        drop(mine);
        assert!(path.exists(), "a claim that is no longer ours is not deleted");
    }

    #[test]
    fn leftovers_of_a_killed_claimer_are_cleaned_at_once_and_live_ones_kept() {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join(DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let me = Owner::me();
        let mut dead = me.clone();
        dead.pid = u32::MAX - 1;
        let killed = transient_name("new", &dead);
        let live = transient_name("new", &me);
        let mut elsewhere = dead.clone();
        elsewhere.host = "other.host".into();
        let far = transient_name("hb", &elsewhere);
        for n in [&killed, &live, &far] {
            std::fs::write(dir.join(n), b"{").unwrap();
        }
        clean(out.path(), DEFAULT_TIMEOUT).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        let mut want = vec![live.clone(), far.clone()];
        want.sort();
        assert_eq!(left, want, "only the dead process's file goes (another host's pids mean nothing here)");
        // A claim made next to them is whole and leaves no temp file of its own.
        let c = held(acquire(out.path(), Path::new("a.mp4"), DEFAULT_TIMEOUT).unwrap());
        assert!(c.still_held());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
    }

    #[test]
    fn heartbeats_keep_a_slow_worker_alive() {
        let out = tempfile::tempdir().unwrap();
        let rel = Path::new("slow.mp4");
        let timeout = Duration::from_millis(600);
        let c = held(acquire(out.path(), rel, timeout).unwrap());
        std::thread::sleep(Duration::from_millis(1500));
        assert!(matches!(acquire(out.path(), rel, timeout).unwrap(), Attempt::Busy(_)), "heartbeats keep it live");
        assert!(c.still_held());
        assert!(utc(0).starts_with("1970-01-01 00:00:00"));
        assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
    }
}
