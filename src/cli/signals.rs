//! `prelabel run`'s stop signals: SIGINT (Ctrl-C), SIGTERM (what schedulers send) and SIGHUP.
//!
//! The first asks the job to stop after the current batch: the videos in flight end as
//! interrupted, nothing partial is kept, the report's state is "interrupted", exit 130.
//! A second one stops at once: the report is finished as interrupted (every video without an
//! entry gets one), then the process ends with `_exit(130)`, which runs no exit handlers or
//! static destructors. (`exit` would tear ONNX Runtime down under the inference still running
//! on other threads, whose errors then read as an inference failure and a "failed" job.)
//!
//! The handler itself only stores the signal and writes a byte to a pipe (what is safe in a
//! signal handler); a thread reads the pipe and does the rest.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The write end of the pipe the handler wakes the watcher through (-1: not installed).
static PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) on a pipe is async-signal-safe; a full pipe just drops the byte.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }
}

/// The signal in words, for the messages and the report.
pub(crate) fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "Ctrl-C (SIGINT)",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP (the terminal closed)",
        _ => "a signal",
    }
}

/// Installs the handlers; `cancel` is set on the first signal. Returns false (and changes
/// nothing) when they cannot be installed.
pub(crate) fn install(cancel: Arc<AtomicBool>) -> bool {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: plain system calls on our own file descriptors and signal dispositions.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return false;
        }
        PIPE.store(fds[1], Ordering::SeqCst);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
    let read_fd = fds[0];
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            loop {
                let mut b = 0u8;
                // SAFETY: reading one byte from our own pipe into a local.
                let n = unsafe { libc::read(read_fd, (&mut b as *mut u8).cast(), 1) };
                if n != 1 {
                    if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return;
                }
                seen += 1;
                let what = name(b as i32);
                if seen == 1 {
                    prelabel::batch::set_stop_reason(what);
                    cancel.store(true, Ordering::SeqCst);
                    eprintln!("\nprelabel: {what}: stopping after the current batch (send it again to stop at once)");
                } else {
                    prelabel::batch::set_stop_reason(what);
                    let written = prelabel::batch::stop_now(Duration::from_secs(2));
                    let report = if written { "report.json says which videos the next run labels" } else { "no report was written" };
                    eprintln!("\nprelabel: {what} again: stopped at once; {report}");
                    // SAFETY: ends the process without running exit handlers (see the module docs).
                    unsafe { libc::_exit(130) }
                }
            }
        })
        .is_ok()
}
