//! `prelabel`: the command line. Parses arguments, sets up logging, progress bars and Ctrl-C,
//! and hands the work to the library. Every failure ends as one line on stderr and a
//! non-zero exit: 1 for a job that could not run, 2 when some videos failed or were
//! incomplete, 130 when interrupted.

mod cli;

use std::process::ExitCode;

// The process's memory allocator: mimalloc instead of glibc's malloc, so that memory stays
// flat in video length. The program chooses it, not the library: a program that embeds
// prelabel keeps its own (the pipeline benches choose mimalloc too, to measure what this
// program runs).
//
// Why: decoded frames (640x480 RGB is 900 KiB, 1080p 6 MiB) and batch tensors are made on one
// thread and freed on another. glibc serves such blocks with their own `mmap` at first, but
// raises its mmap threshold to the size of every such block freed, so from the second frame on
// they come from per-thread heaps that fragment and never shrink: peak RSS grew by ~0.7 MB per
// detector frame on TUD-Campus looped (`--no-track`, stride 10: 305 MB once, 496 MB at 40
// loops) while the live heap stayed at 200 MB (heaptrack). Pinning glibc's threshold
// (`mallopt(M_MMAP_THRESHOLD)`) made it flat too, but then every frame is a fresh mapping
// and its page faults: the decode thread took twice as long. mimalloc frees blocks to the
// thread that made them and reuses them: flat and as fast as before
// (`cargo bench --bench memory`). ffmpeg and ONNX Runtime keep their own allocators (pools
// and arenas that do not grow with the video).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before any thread starts: it sets an environment variable.
    prelabel::gpu::quiet_vulkan_device_select();
    let args = match cli::parse_args() {
        Ok(cli::Parsed::Cli(args)) => *args,
        Ok(cli::Parsed::PrintConfig(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("prelabel: error: {e}");
            return ExitCode::from(1);
        }
    };
    cli::init_logging(args.verbose, args.quiet);
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("prelabel: error: {e}");
            ExitCode::from(1)
        }
    }
}
