//! The GPU preprocess shader against its CPU reference: randomised frames, regions, sizes,
//! layouts, resize modes, normalisations and dtypes, and real MOT15 frames. Runs on whatever
//! adapter wgpu finds, software ones included (Mesa lavapipe in CI).
//!
//! Differences are measured in pixel levels (0..255), undoing the normalisation, and must
//! stay within 1 level.

mod common;

use std::sync::Arc;

use prelabel::decode::{PixelOutput, VideoReader};
use prelabel::gpu::GpuContext;
use prelabel::model::{Channels, DType, FitSpec, InputSpec, Layout, ResizeMode};
use prelabel::preprocess::gpu::GpuPreprocessor;
use prelabel::preprocess::{make_batch, make_region_batch};
use prelabel::types::{Batch, Frame, Region, Yuv420};
use prelabel::yuv::as_rgb;

fn context() -> Arc<GpuContext> {
    match GpuContext::new(true) {
        Ok(ctx) => {
            eprintln!("adapter: {}", ctx.adapter);
            Arc::new(ctx)
        }
        Err(e) => panic!("no GPU adapter at all: install mesa-vulkan-drivers (lavapipe), as CI has: {e}"),
    }
}

/// SplitMix64: small, seeded, good enough to pick test cases.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % (hi - lo + 1) as u64) as u32
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn spec(w: u32, h: u32, layout: Layout, resize: ResizeMode, dtype: DType) -> InputSpec {
    InputSpec {
        name: "in".into(),
        width: w,
        height: h,
        layout,
        resize,
        pad: 114.0,
        channels: Channels::Rgb,
        fit: None,
        mean: [0.0; 3],
        std: [1.0; 3],
        dtype,
    }
}

fn random_frame(rng: &mut Rng, index: u64, w: u32, h: u32) -> Frame {
    // Smooth gradients plus noise: both flat areas and sharp steps get sampled.
    let (gx, gy) = (rng.range(0, 9), rng.range(0, 9));
    let rgb = (0..w * h * 3)
        .map(|i| {
            let (p, c) = (i / 3, i % 3);
            let (x, y) = (p % w, p / w);
            let noise = (rng.next() % 64) as u32;
            ((x * gx + y * gy + c * 70 + noise) % 256) as u8
        })
        .collect();
    Frame::from_rgb(index, w, h, rgb)
}

/// Random planes: any byte is a valid YUV sample (out-of-gamut ones clamp).
fn random_yuv_frame(rng: &mut Rng, index: u64, w: u32, h: u32) -> Frame {
    let (w, h) = (w as usize, h as usize);
    let mut plane = |n: usize, lo: u64| (0..n).map(|i| (lo + (i as u64 * 7 + rng.next() % 40) % 200) as u8).collect::<Vec<u8>>();
    let chroma = w.div_ceil(2) * h.div_ceil(2);
    let yuv = Yuv420 { y: plane(w * h, 16), u: plane(chroma, 28), v: plane(chroma, 28) };
    Frame { index, width: w as u32, height: h as u32, rgb: vec![], yuv: Some(yuv) }
}

fn random_region(rng: &mut Rng, f: &Frame) -> Region {
    if rng.range(0, 3) == 0 {
        return Region::full(&f.info());
    }
    let (w, h) = (rng.range(1, f.width), rng.range(1, f.height));
    Region { x: rng.range(0, f.width - w), y: rng.range(0, f.height - h), width: w, height: h }
}

/// The batch's elements as f32, whichever dtype it carries.
fn values(b: &Batch) -> Vec<f32> {
    if b.data_f16.is_empty() {
        b.data.clone()
    } else {
        b.data_f16.iter().map(|v| v.to_f32()).collect()
    }
}

/// Largest difference between two batches in pixel levels (normalisation undone).
fn max_level_diff(gpu: &Batch, cpu: &Batch, input: &InputSpec) -> f32 {
    assert_eq!(gpu.shape, cpu.shape);
    assert_eq!(gpu.frames, cpu.frames);
    assert_eq!(gpu.regions, cpu.regions);
    assert_eq!(gpu.data.len(), cpu.data.len());
    assert_eq!(gpu.data_f16.len(), cpu.data_f16.len());
    let (g, c) = (values(gpu), values(cpu));
    let plane = cpu.shape[2] * cpu.shape[3];
    g.iter()
        .zip(&c)
        .enumerate()
        .map(|(i, (a, b))| {
            let ch = match input.layout {
                Layout::Nhwc => i % 3,
                Layout::Nchw => (i / plane) % 3,
            };
            (a - b).abs() * input.std[ch] * 255.0
        })
        .fold(0.0, f32::max)
}

#[test]
fn randomised_batches_match_the_cpu_reference() {
    let ctx = context();
    let mut rng = Rng(0x5eed_0001);
    let (mut cases, mut worst_f32, mut worst_f16, mut odd_f16) = (0, 0f32, 0f32, 0);
    for _ in 0..60 {
        let layout = if rng.range(0, 1) == 0 { Layout::Nhwc } else { Layout::Nchw };
        let resize = [ResizeMode::Stretch, ResizeMode::Letterbox, ResizeMode::LetterboxTopLeft][rng.range(0, 2) as usize];
        let dtype = if rng.range(0, 3) == 0 { DType::F16 } else { DType::F32 };
        let mut input = spec(rng.range(1, 48), rng.range(1, 48), layout, resize, dtype);
        if rng.range(0, 1) == 0 {
            input.mean = std::array::from_fn(|_| rng.unit());
            input.std = std::array::from_fn(|_| 0.1 + rng.unit());
        }
        // NanoDet's conventions: BGR, zero padding, and an input size that follows the frame
        // (the batch's first frame decides, on both paths).
        if rng.range(0, 2) == 0 {
            (input.channels, input.pad) = (Channels::Bgr, 0.0);
        }
        if rng.range(0, 3) == 0 && dtype == DType::F32 {
            input.fit = Some(FitSpec { multiple: 8, pixels: rng.range(64, 1200), max_shrink: 1.0 + 3.0 * rng.unit(), max_pixels: 4000 });
        }
        let mut gpu = GpuPreprocessor::new(ctx.clone(), &input).unwrap();
        // f16 of odd width takes the shader's per-word fallback entry point.
        odd_f16 += (dtype == DType::F16 && input.width % 2 == 1) as u32;
        for _ in 0..5 {
            let frames: Vec<Frame> = (0..rng.range(1, 3))
                .map(|i| {
                    let (w, h) = (rng.range(1, 90), rng.range(1, 70));
                    if rng.range(0, 2) == 0 {
                        random_yuv_frame(&mut rng, i as u64, w, h)
                    } else {
                        random_frame(&mut rng, i as u64, w, h)
                    }
                })
                .collect();
            // Several regions per frame sometimes (tiles share one upload).
            let items: Vec<(&Frame, Region)> = (0..rng.range(1, 5))
                .map(|_| {
                    let f = &frames[rng.range(0, frames.len() as u32 - 1) as usize];
                    (f, random_region(&mut rng, f))
                })
                .collect();
            let want = make_region_batch(&items, &input);
            let got = gpu.make_region_batch(&items).unwrap();
            let diff = max_level_diff(&got, &want, &input);
            assert!(diff <= 1.0, "case {cases}: {diff} levels apart; input {input:?}, items {:?}", got.regions);
            match dtype {
                DType::F32 => worst_f32 = worst_f32.max(diff),
                DType::F16 => worst_f16 = worst_f16.max(diff),
            }
            cases += 1;
        }
    }
    assert!(odd_f16 > 0, "no case reached the f16 odd-width entry point");
    eprintln!(
        "{cases} random batches ({odd_f16} specs f16 odd width): worst difference {worst_f32:.6} levels (f32), {worst_f16:.6} levels (f16)"
    );
}

#[test]
fn two_batches_in_flight_and_a_third_is_refused() {
    let ctx = context();
    let input = spec(17, 11, Layout::Nchw, ResizeMode::Letterbox, DType::F32);
    let mut gpu = GpuPreprocessor::new(ctx, &input).unwrap();
    let mut rng = Rng(7);
    let frames: Vec<Frame> = (0..3).map(|i| random_frame(&mut rng, i, 40 + i as u32, 30)).collect();
    let item = |i: usize| vec![(&frames[i], Region::full(&frames[i].info()))];
    let (a, b) = (gpu.submit(&item(0)).unwrap(), gpu.submit(&item(1)).unwrap());
    let (ra, rb) = (gpu.finish(a).unwrap(), gpu.finish(b).unwrap());
    assert_eq!(ra.data, make_region_batch(&item(0), &input).data);
    assert_eq!(rb.frames[0].index, 1);
    assert!(max_level_diff(&rb, &make_region_batch(&item(1), &input), &input) <= 1.0);

    let stale = gpu.submit(&item(0)).unwrap();
    let _b = gpu.submit(&item(1)).unwrap();
    let _c = gpu.submit(&item(2)).unwrap();
    let err = gpu.finish(stale).unwrap_err().to_string();
    assert!(err.contains("at most two"), "{err}");
}

#[test]
fn empty_batches_and_bad_regions() {
    let ctx = context();
    let input = spec(8, 8, Layout::Nhwc, ResizeMode::Stretch, DType::F32);
    let mut gpu = GpuPreprocessor::new(ctx, &input).unwrap();
    let b = gpu.make_batch(&[]).unwrap();
    assert_eq!(b.shape, [0, 8, 8, 3]);
    assert!(b.data.is_empty());
    let f = random_frame(&mut Rng(1), 0, 10, 10);
    let err = gpu.make_region_batch(&[(&f, Region { x: 5, y: 0, width: 6, height: 4 })]).unwrap_err().to_string();
    assert!(err.contains("does not lie inside"), "{err}");
}

#[test]
fn batches_over_the_binding_limit_are_split() {
    // 24 1080p frames are 149 MiB of upload: over lavapipe's 128 MiB per binding, so the
    // batch is done in several dispatches; on adapters with more room it is one.
    let ctx = context();
    let input = spec(8, 6, Layout::Nchw, ResizeMode::Letterbox, DType::F32);
    let mut gpu = GpuPreprocessor::new(ctx.clone(), &input).unwrap();
    let frames: Vec<Frame> = (0..24).map(|i| Frame::from_rgb(i, 1920, 1080, vec![(i * 10) as u8; 1920 * 1080 * 3])).collect();
    let items: Vec<(&Frame, Region)> = frames.iter().map(|f| (f, Region::full(&f.info()))).collect();
    let fit = gpu.max_items(&items);
    let limit = ctx.limits.max_storage_buffer_binding_size.min(ctx.limits.max_buffer_size);
    eprintln!("binding limit {} MiB: {fit} of 24 1080p frames fit one dispatch", limit >> 20);
    assert!(fit >= 1);
    if limit < 24 * 1920 * 1080 * 3 {
        assert!(fit < 24);
        let err = gpu.submit(&items).err().expect("over the limit").to_string();
        assert!(err.contains("smaller batch"), "{err}");
    }
    let got = gpu.make_batch(&frames).unwrap();
    assert_eq!(got.shape, [24, 3, 6, 8]);
    assert!(max_level_diff(&got, &make_batch(&frames, &input), &input) <= 1.0);
}

fn decode(path: &std::path::Path, n: usize) -> Vec<Frame> {
    decode_as(path, n, PixelOutput::Rgb8)
}

fn decode_as(path: &std::path::Path, n: usize, output: PixelOutput) -> Vec<Frame> {
    let mut reader = VideoReader::open_as(path, output).unwrap();
    (0..n).map_while(|_| reader.next_frame().unwrap()).collect()
}

#[test]
fn real_mot15_frames_match_the_cpu_reference() {
    let Some(dir) = common::mot15("TUD-Campus") else { return };
    let frames = decode(&dir.join("TUD-Campus.mp4"), 8);
    assert_eq!(frames.len(), 8);
    let ctx = context();
    // The default model (300x300 NHWC stretch), a YOLO-like input (640 NCHW letterbox,
    // ImageNet normalisation, f16) and 2x2 tiles of each frame.
    let ssd = spec(300, 300, Layout::Nhwc, ResizeMode::Stretch, DType::F32);
    let mut yolo = spec(640, 640, Layout::Nchw, ResizeMode::Letterbox, DType::F16);
    yolo.mean = [0.485, 0.456, 0.406];
    yolo.std = [0.229, 0.224, 0.225];
    for input in [ssd, yolo] {
        let mut gpu = GpuPreprocessor::new(ctx.clone(), &input).unwrap();
        let whole = max_level_diff(&gpu.make_batch(&frames).unwrap(), &make_batch(&frames, &input), &input);
        let tiles: Vec<(&Frame, Region)> = frames[..2]
            .iter()
            .flat_map(|f| (0..4).map(move |t| (f, Region { x: (t % 2) * 300, y: (t / 2) * 220, width: 340, height: 260 })))
            .collect();
        let tiled = max_level_diff(&gpu.make_region_batch(&tiles).unwrap(), &make_region_batch(&tiles, &input), &input);
        eprintln!(
            "{}x{} {:?} {:?}: whole frames {whole:.6} levels, tiles {tiled:.6} levels",
            input.width, input.height, input.layout, input.dtype
        );
        assert!(whole <= 1.0 && tiled <= 1.0, "{whole} / {tiled} levels apart");
    }
}

#[test]
fn real_mot15_yuv_frames_match_the_cpu_reference_and_the_rgb_decoder() {
    let Some(dir) = common::mot15("TUD-Stadtmitte") else { return };
    let video = dir.join("TUD-Stadtmitte.mp4");
    let (yuv, rgb) = (decode_as(&video, 8, PixelOutput::Yuv420), decode(&video, 8));
    assert_eq!(yuv.len(), 8);
    assert!(yuv.iter().all(|f| f.yuv.is_some() && f.is_consistent()));
    assert_eq!(yuv.iter().map(|f| f.index).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());

    // The shader's YUV path against the CPU reference on the same planes.
    let ctx = context();
    let input = spec(300, 300, Layout::Nhwc, ResizeMode::Stretch, DType::F32);
    let mut gpu = GpuPreprocessor::new(ctx, &input).unwrap();
    let from_yuv = gpu.make_batch(&yuv).unwrap();
    let shader_vs_cpu = max_level_diff(&from_yuv, &make_batch(&yuv, &input), &input);

    // How far this conversion is from swscale's (the RGB decoder), per pixel and after resize.
    let (mut max_px, mut sum_px, mut n_px) = (0u8, 0u64, 0u64);
    for (a, b) in yuv.iter().zip(&rgb) {
        for (p, q) in as_rgb(a).rgb.iter().zip(&b.rgb) {
            let d = p.abs_diff(*q);
            (max_px, sum_px, n_px) = (max_px.max(d), sum_px + d as u64, n_px + 1);
        }
    }
    let mean_px = sum_px as f64 / n_px as f64;
    let vs_swscale = max_level_diff(&from_yuv, &make_batch(&rgb, &input), &input);
    eprintln!(
        "YUV path: shader vs CPU reference {shader_vs_cpu:.6} levels; reference vs swscale RGB per pixel max {max_px} mean {mean_px:.3} levels, after resize to 300x300 max {vs_swscale:.3} levels"
    );
    assert!(shader_vs_cpu <= 1.0, "{shader_vs_cpu} levels");
    // Same matrix, different rounding and chroma siting: a few levels, never a colour shift.
    assert!(mean_px < 2.0, "mean {mean_px} levels from swscale");
}

/// A short video made with the ffmpeg CLI (installed by set-up).
fn small_video(dir: &std::path::Path, name: &str, codec: &[&str]) -> std::path::PathBuf {
    let p = dir.join(name);
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-frames:v", "20"])
        .args(codec)
        .arg(&p)
        .status()
        .expect("ffmpeg runs (scripts/setup.sh installs it)");
    assert!(ok.success());
    p
}

#[test]
fn yuv_decoding_gives_the_same_frames_and_refuses_other_pixel_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let mp4 = small_video(tmp.path(), "a.mp4", &["-c:v", "mpeg4", "-pix_fmt", "yuv420p"]);
    let (yuv, rgb) = (decode_as(&mp4, 100, PixelOutput::Yuv420), decode(&mp4, 100));
    assert_eq!((yuv.len(), rgb.len()), (20, 20));
    for (a, b) in yuv.iter().zip(&rgb) {
        assert_eq!((a.index, a.width, a.height), (b.index, b.width, b.height));
        assert!(a.is_consistent() && a.rgb.is_empty());
        let mean = as_rgb(a).rgb.iter().zip(&b.rgb).map(|(p, q)| p.abs_diff(*q) as f64).sum::<f64>() / b.rgb.len() as f64;
        // testsrc has saturated colour bars: chroma siting differs from swscale at their edges.
        assert!(mean < 3.0, "frame {}: mean {mean} levels from swscale", a.index);
    }

    let mkv = small_video(tmp.path(), "b.mkv", &["-c:v", "ffv1", "-pix_fmt", "yuv444p"]);
    let err = VideoReader::open_as(&mkv, PixelOutput::Yuv420).err().expect("yuv444p refused").to_string();
    assert!(err.contains("needs 8-bit yuv420p") && err.contains("b.mkv"), "{err}");
    assert_eq!(decode(&mkv, 100).len(), 20, "RGB output still reads it");
}

#[test]
fn yuv_decoding_of_a_truncated_file_stops_without_panicking() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = std::fs::read(common::from_setup(".deps/vtest.avi")).unwrap();
    let cut = tmp.path().join("cut.avi");
    std::fs::write(&cut, &sample[..sample.len() / 10]).unwrap();
    let mut reader = VideoReader::open_as(&cut, PixelOutput::Yuv420).unwrap();
    let mut frames = 0;
    while let Ok(Some(f)) = reader.next_frame() {
        assert!(f.is_consistent());
        frames += 1;
    }
    assert!(frames > 10 && frames < 795, "{frames} frames");
}
