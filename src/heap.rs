//! The process's memory allocator: mimalloc instead of glibc's malloc, so that memory stays
//! flat in video length. It applies to every program built on this library (the command line,
//! the benches, the tests).
//!
//! Why: decoded frames (640x480 RGB is 900 KiB, 1080p 6 MiB) and batch tensors are made on one
//! thread and freed on another. glibc serves such blocks with their own `mmap` at first, but
//! raises its mmap threshold to the size of every such block freed, so from the second frame on
//! they come from per-thread heaps that fragment and never shrink: peak RSS grew by ~0.7 MB per
//! detector frame on TUD-Campus looped (`--no-track`, stride 10: 305 MB once, 496 MB at 40
//! loops) while the live heap stayed at 200 MB (heaptrack). Pinning glibc's threshold
//! (`mallopt(M_MMAP_THRESHOLD)`) made it flat too, but then every frame is a fresh mapping
//! and its page faults: the decode thread took twice as long. mimalloc frees blocks to the
//! thread that made them and reuses them: flat and as fast as before
//! (`cargo bench --bench memory`). ffmpeg and ONNX Runtime keep their own allocators (pools
//! and arenas that do not grow with the video).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
