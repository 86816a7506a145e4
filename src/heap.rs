//! Process-wide heap setting that keeps memory flat in video length. Call [`return_large_blocks`]
//! once, first thing in `main`, before any thread starts.
//!
//! Why: glibc's malloc serves blocks of 128 KiB and up with their own `mmap`, and gives them
//! back to the system on `free`, but it *raises* that threshold to the size of every such block
//! freed (up to 32 MiB). A decoded frame (640x480 RGB is 900 KiB, 1080p 6 MiB) is allocated
//! on the decode thread and freed on another one, so after the first frame every frame and
//! every batch tensor comes from the per-thread heaps instead, which fragment and never shrink:
//! peak RSS grew by ~0.7 MB per detector frame on TUD-Campus looped (`--no-track`, stride 10),
//! while the live heap stayed flat (heaptrack: 200 MB peak heap, 500 MB RSS at 40 loops).
//! Pinning the threshold at glibc's own default turns the adjustment off: large blocks always
//! go straight back to the system (one `mmap`/`munmap` per frame, a few hundred page faults,
//! nothing next to decoding it). `cargo bench --bench memory` measures it.

/// glibc's default `M_MMAP_THRESHOLD`: blocks this size and larger get their own mapping.
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// Stops glibc from raising its mmap threshold (see the module doc). Returns whether the
/// setting took (always false off glibc, where there is nothing to do).
pub fn return_large_blocks() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes malloc's parameters; called before other threads run.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
