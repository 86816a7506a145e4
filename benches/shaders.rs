//! GPU shaders against their CPU references, per stage, on frames decoded from a real clip.
//! One function per stage (`bench_decode`, `bench_preprocess`, ...), each printing its own
//! table; a new shader gets its own function called from `main`.
//!
//!   cargo bench --bench shaders            (needs ../shared/data/mot15 and the ffmpeg CLI)
//!   PRELABEL_BENCH_SECONDS=2 cargo bench --bench shaders     (time per measurement)
//!
//! Set-up encodes a 1080p H.264 clip from TUD-Stadtmitte with the ffmpeg CLI into
//! target/bench-data/ (once; cached). On a software adapter (lavapipe) the "GPU" numbers are
//! CPU numbers of a Vulkan emulation and say nothing about a real GPU.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prelabel::decode::{PixelOutput, VideoReader};
use prelabel::gpu::GpuContext;
use prelabel::model::{Channels, DType, InputSpec, Layout, ResizeMode};
use prelabel::preprocess::gpu::GpuPreprocessor;
use prelabel::preprocess::make_batch;
use prelabel::types::{Frame, Region};

const BATCHES: [usize; 3] = [1, 8, 32];

/// The checkout (models/, target/bench-data/); `PRELABEL_REPO` names another when the bench
/// binary runs away from where it was built (scripts/gpu-check.sh on a GPU node).
fn repo() -> &'static Path {
    static REPO: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    REPO.get_or_init(|| std::env::var_os("PRELABEL_REPO").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from))
}

fn fail(msg: String) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(1)
}

/// The 640x480 MOT15 clip and a 1080p re-encode of it.
fn clips() -> Vec<(String, PathBuf)> {
    let shared = std::env::var_os("PRELABEL_SHARED").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared"));
    let sd = shared.join("data/mot15/TUD-Stadtmitte/TUD-Stadtmitte.mp4");
    if !sd.is_file() {
        fail(format!("{} not found (set PRELABEL_SHARED)", sd.display()));
    }
    let dir = repo().join("target/bench-data");
    let hd = dir.join("TUD-Stadtmitte-1080p.mp4");
    if !hd.is_file() {
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(format!("{}: {e}", dir.display())));
        let tmp = dir.join("encoding.mp4");
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&sd)
            .args(["-frames:v", "64", "-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p"])
            .arg(&tmp)
            .status()
            .unwrap_or_else(|e| fail(format!("cannot run the ffmpeg CLI: {e}")));
        if !status.success() {
            fail(format!("ffmpeg failed to encode {}", hd.display()));
        }
        std::fs::rename(&tmp, &hd).unwrap_or_else(|e| fail(format!("{}: {e}", hd.display())));
    }
    vec![("640x480".into(), sd), ("1920x1080".into(), hd)]
}

fn decode(path: &Path, n: usize, output: PixelOutput) -> Vec<Frame> {
    let mut reader = VideoReader::open_as(path, output).unwrap_or_else(|e| fail(e.to_string()));
    let frames: Vec<Frame> = (0..n).map_while(|_| reader.next_frame().unwrap_or_else(|e| fail(e.to_string()))).collect();
    if frames.len() < n {
        fail(format!("{} has only {} frames", path.display(), frames.len()));
    }
    frames
}

/// Median time of `f` over repeated runs (at least 3, and until `budget` is used).
fn median(budget: Duration, mut f: impl FnMut() -> Duration) -> Duration {
    f(); // warm-up: buffer allocation, first-use costs
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < 3 || (start.elapsed() < budget && times.len() < 50) {
        times.push(f());
    }
    times.sort();
    times[times.len() / 2]
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Decoding the same frames to RGB (swscale on the CPU) and to YUV planes (no conversion):
/// what the YUV path saves before preprocessing starts.
fn bench_decode(clips: &[(String, PathBuf)], n: usize, budget: Duration) {
    println!("\ndecode: ms per frame (median of runs over {n} frames)");
    println!("{:<10} {:>10} {:>10}", "frames", "RGB", "YUV");
    for (size, path) in clips {
        let per = |output| ms(median(budget, || timed(|| drop(decode(path, n, output))))) / n as f64;
        println!("{size:<10} {:>10.2} {:>10.2}", per(PixelOutput::Rgb8), per(PixelOutput::Yuv420));
    }
}

/// Preprocess: CPU reference vs the shader with upload and readback (one batch at a time,
/// and two in flight), the dispatch alone, and the shader from YUV planes.
fn bench_preprocess(ctx: &Arc<GpuContext>, clips: &[(String, Vec<Frame>, Vec<Frame>)], budget: Duration) {
    let ssd = InputSpec {
        name: "ssd".into(),
        width: 300,
        height: 300,
        layout: Layout::Nhwc,
        resize: ResizeMode::Stretch,
        pad: 114.0,
        channels: Channels::Rgb,
        fit: None,
        mean: [0.0; 3],
        std: [1.0; 3],
        dtype: DType::F32,
    };
    let yolo =
        InputSpec { name: "yolo".into(), width: 640, height: 640, layout: Layout::Nchw, resize: ResizeMode::Letterbox, ..ssd.clone() };
    println!("\npreprocess: ms per batch (median). CPU: reference on RGB frames. GPU: shader incl. upload + readback;");
    println!("pipelined: two batches in flight (submit N+1, then finish N); shader: dispatch alone; yuv: GPU from YUV planes");
    println!(
        "{:<10} {:<22} {:>5} {:>9} {:>9} {:>10} {:>9} {:>9} {:>8}",
        "frames", "model input", "batch", "CPU", "GPU", "pipelined", "shader", "GPU yuv", "GPU/CPU"
    );
    for input in [ssd, yolo] {
        let mut gpu = GpuPreprocessor::new(ctx.clone(), &input).unwrap_or_else(|e| fail(e.to_string()));
        let name = format!("{}x{} {:?} {:?}", input.width, input.height, input.layout, input.resize).to_lowercase();
        for (size, rgb, yuv) in clips {
            for &n in &BATCHES {
                let batch = &rgb[..n];
                let cpu = median(budget, || timed(|| drop(make_batch(batch, &input))));
                let one = median(budget, || timed(|| drop(gpu.make_batch(batch).unwrap())));
                let from_yuv = median(budget, || timed(|| drop(gpu.make_batch(&yuv[..n]).unwrap())));
                // Four batches with two in flight, as a pipeline stage would run them, each
                // capped to what one submit may hold on this adapter; times scaled to n frames.
                let mut items: Vec<_> = batch.iter().map(|f| (f, Region::full(&f.info()))).collect();
                items.truncate(gpu.max_items(&items));
                let scale = n as f64 / items.len() as f64;
                let piped = median(budget, || {
                    timed(|| {
                        let mut prev = gpu.submit(&items).unwrap();
                        for _ in 0..3 {
                            let next = gpu.submit(&items).unwrap();
                            drop(gpu.finish(prev).unwrap());
                            prev = next;
                        }
                        drop(gpu.finish(prev).unwrap());
                    })
                })
                .mul_f64(scale / 4.0);
                let shader = median(budget, || gpu.time_last_dispatch().unwrap()).mul_f64(scale);
                println!(
                    "{size:<10} {name:<22} {n:>5} {:>9.2} {:>9.2} {:>10.2} {:>9.2} {:>9.2} {:>8.2}",
                    ms(cpu),
                    ms(one),
                    ms(piped),
                    ms(shader),
                    ms(from_yuv),
                    one.as_secs_f64() / cpu.as_secs_f64()
                );
            }
        }
    }
}

fn main() {
    let budget = Duration::from_secs_f64(std::env::var("PRELABEL_BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0));
    let ctx = Arc::new(GpuContext::new(true).unwrap_or_else(|e| fail(format!("{e} (install mesa-vulkan-drivers for lavapipe)"))));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("adapter: {}; CPU reference on {threads} threads (rayon)", ctx.adapter);
    if ctx.adapter.software {
        println!("NOTE: software adapter: the GPU columns are a CPU emulation of Vulkan, NOT GPU numbers.");
    }
    let n = *BATCHES.iter().max().unwrap();
    let clips = clips();
    bench_decode(&clips, n, budget);
    let frames: Vec<_> =
        clips.iter().map(|(size, path)| (size.clone(), decode(path, n, PixelOutput::Rgb8), decode(path, n, PixelOutput::Yuv420))).collect();
    bench_preprocess(&ctx, &frames, budget);
}
