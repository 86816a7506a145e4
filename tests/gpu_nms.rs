//! The GPU postprocess shaders against their CPU references, on whatever adapter wgpu finds
//! (Mesa lavapipe in CI): NMS on seeded random cases (ties, duplicates, zero-area boxes,
//! empty items, both class modes) must keep exactly the CPU's boxes in the CPU's order; SSD
//! decoding + NMS on real model outputs of real frames must give the CPU's detections.

mod common;

use std::sync::Arc;

use prelabel::gpu::GpuContext;
use prelabel::postprocess::gpu::nms::{GpuNms, TOP_K};
use prelabel::postprocess::nms::nms_with;
use prelabel::types::{BBox, Detection};

fn gpu() -> Arc<GpuContext> {
    match GpuContext::new(true) {
        Ok(ctx) => {
            eprintln!("adapter: {}", ctx.adapter);
            Arc::new(ctx)
        }
        Err(e) => panic!("no GPU adapter at all, not even a software one: install mesa-vulkan-drivers ({e})"),
    }
}

/// One random NMS case: boxes on a coarse grid (exact duplicates, exact IoU ties), some
/// zero-area or inverted, scores from a few levels (many exact ties) or continuous.
fn random_case(rng: &mut fastrand::Rng) -> Vec<Detection> {
    let n = match rng.u32(0..10) {
        0 => 0,
        1 => rng.usize(1..4),
        _ => rng.usize(0..300),
    };
    let classes = rng.u32(1..5);
    let grid = rng.bool();
    let levels = rng.u32(1..12);
    let mut out: Vec<Detection> = Vec::with_capacity(n);
    for _ in 0..n {
        if !out.is_empty() && rng.u32(0..8) == 0 {
            // An exact duplicate box, maybe with another score or class.
            let mut d = out[rng.usize(0..out.len())];
            if rng.bool() {
                d.score = rng.f32();
            }
            if rng.bool() {
                d.class = rng.u32(0..classes);
            }
            out.push(d);
            continue;
        }
        let coord = |rng: &mut fastrand::Rng| if grid { rng.u32(0..20) as f32 * 8.0 } else { rng.f32() * 200.0 };
        let (x1, y1) = (coord(rng), coord(rng));
        let (mut w, mut h) = (coord(rng) * 0.5, coord(rng) * 0.5);
        match rng.u32(0..12) {
            0 => w = 0.0,
            1 => h = 0.0,
            2 => w = -w, // inverted: area 0
            _ => {}
        }
        let score = if levels > 1 { rng.u32(0..levels) as f32 / levels as f32 } else { rng.f32() };
        out.push(Detection { bbox: BBox { x1, y1, x2: x1 + w, y2: y1 + h }, class: rng.u32(0..classes), score });
    }
    out
}

/// Runs `cases` through the GPU in batches of random size and checks each against the CPU.
fn check_cases(nms: &mut GpuNms, seed: u64, cases: usize) -> usize {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut done = 0;
    while done < cases {
        let batch: Vec<Vec<Detection>> = (0..rng.usize(1..48).min(cases - done)).map(|_| random_case(&mut rng)).collect();
        let iou = [0.3, 0.5, 0.6, 0.7, rng.f32()][rng.usize(0..5)];
        let max_keep = [0, 1, 5, 100, 1000][rng.usize(0..5)];
        let class_aware = rng.bool();
        let got = nms.run(&batch, iou, max_keep, class_aware).unwrap();
        assert_eq!(got.len(), batch.len());
        for (i, (g, cands)) in got.iter().zip(&batch).enumerate() {
            let want = nms_with(cands.clone(), iou, max_keep, class_aware);
            assert_eq!(
                g,
                &want,
                "case {} (seed {seed}): {} candidates, iou {iou}, max_keep {max_keep}, class_aware {class_aware}",
                done + i,
                cands.len()
            );
        }
        done += batch.len();
    }
    done
}

#[test]
fn nms_matches_cpu_on_random_cases() {
    let mut nms = GpuNms::new(gpu()).unwrap();
    let cases = check_cases(&mut nms, 7, 1200);
    eprintln!("{cases} cases, {} redone on the CPU", nms.fallbacks);
    // The CPU may only help out now and then, or the shader was not what got tested. These
    // cases are built for exact ties, so IoU == threshold exactly (sent to the CPU unless
    // the shader-only test below runs) is far more common here than in real outputs.
    assert!(nms.fallbacks * 10 < cases, "{} of {cases} items fell back to the CPU", nms.fallbacks);
}

#[test]
fn nms_shader_alone_matches_cpu_where_division_is_exact() {
    let ctx = gpu();
    if !ctx.adapter.software {
        eprintln!("NOTE: {} may divide to 2.5 ULP; the shader-only check runs on lavapipe", ctx.adapter);
        return;
    }
    // No band: every case, exact IoU ties with the threshold included, is the shader's.
    let mut nms = GpuNms::new(ctx).unwrap();
    nms.set_unsure_band(-1.0);
    let cases = check_cases(&mut nms, 11, 300);
    assert_eq!(nms.fallbacks, 0, "{cases} cases");
}

#[test]
fn nms_edge_cases() {
    let mut nms = GpuNms::new(gpu()).unwrap();
    assert!(nms.run(&[], 0.5, 10, true).unwrap().is_empty());
    assert_eq!(nms.run(&[vec![], vec![]], 0.5, 10, true).unwrap(), vec![Vec::<Detection>::new(); 2]);
    let d = |x: f32, s: f32, c: u32| Detection { bbox: BBox { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 }, class: c, score: s };
    // Hand-checked: equal scores keep input order; the shifted box (IoU 0.818) is suppressed
    // only within its class, or by anything when class-agnostic.
    let items = vec![vec![d(1.0, 0.5, 0), d(0.0, 0.5, 1), d(0.0, 0.5, 0), d(50.0, 0.9, 0)]];
    assert_eq!(nms.run(&items, 0.5, 10, true).unwrap()[0], vec![d(50.0, 0.9, 0), d(1.0, 0.5, 0), d(0.0, 0.5, 1)]);
    assert_eq!(nms.run(&items, 0.5, 10, false).unwrap()[0], vec![d(50.0, 0.9, 0), d(1.0, 0.5, 0)]);
    assert_eq!(nms.run(&items, 0.5, 0, true).unwrap()[0], vec![]);
}

#[test]
fn nms_beyond_top_k_matches_cpu() {
    // More candidates than the bitmask holds, all far apart: the top K run out before
    // max_keep is reached, and the item must still come out right (through the CPU).
    let mut nms = GpuNms::new(gpu()).unwrap();
    let n = TOP_K + 500;
    let item: Vec<Detection> = (0..n)
        .map(|i| Detection {
            bbox: BBox {
                x1: (i % 64) as f32 * 20.0,
                y1: (i / 64) as f32 * 20.0,
                x2: (i % 64) as f32 * 20.0 + 10.0,
                y2: (i / 64) as f32 * 20.0 + 10.0,
            },
            class: 0,
            score: (i % 7) as f32 / 7.0,
        })
        .collect();
    let want = nms_with(item.clone(), 0.5, 2000, true);
    assert_eq!(want.len(), n);
    assert_eq!(nms.run(std::slice::from_ref(&item), 0.5, 2000, true).unwrap()[0], want);
    // With max_keep within the top K the GPU answers alone.
    let before = nms.fallbacks;
    assert_eq!(nms.run(std::slice::from_ref(&item), 0.5, 100, true).unwrap()[0], nms_with(item, 0.5, 100, true));
    assert_eq!(nms.fallbacks, before);
}

mod decode_parity {
    use super::*;
    use prelabel::decode::VideoReader;
    use prelabel::infer::{Detector, DeviceChoice};
    use prelabel::model::ModelSpec;
    use prelabel::postprocess::gpu::GpuPostprocessor;
    use prelabel::postprocess::{Filter, Postprocessor};
    use prelabel::preprocess::make_region_batch;
    use prelabel::types::{Batch, Frame, FrameDetections, RawOutputs, Region};

    /// Every 10th of the first 80 frames of a MOT15 sequence.
    fn frames(seq: &str) -> Option<Vec<Frame>> {
        let dir = common::mot15(seq)?;
        let mut reader = VideoReader::open(&dir.join(format!("{seq}.mp4"))).unwrap();
        let mut out = Vec::new();
        while let Some(f) = reader.next_frame().unwrap() {
            if f.index % 10 == 0 {
                out.push(f);
            }
            if out.len() == 8 {
                break;
            }
        }
        Some(out)
    }

    /// Detections must be the same boxes in the same order. Tolerances: WGSL lets `exp` and
    /// division differ from the CPU by a few ULP; at 640 px one ULP is 6e-5 px, and a score
    /// in (0, 1) has ULPs below 6e-8.
    fn assert_same(gpu: &[FrameDetections], cpu: &[FrameDetections], what: &str) -> usize {
        assert_eq!(gpu.len(), cpu.len());
        let (mut n, mut worst_box, mut worst_score) = (0, 0f32, 0f32);
        for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
            assert_eq!(g.frame, c.frame);
            let classes = |d: &FrameDetections| d.detections.iter().map(|d| d.class).collect::<Vec<_>>();
            assert_eq!(classes(g), classes(c), "{what}, item {i}: kept sets differ");
            for (a, b) in g.detections.iter().zip(&c.detections) {
                let d = [a.bbox.x1 - b.bbox.x1, a.bbox.y1 - b.bbox.y1, a.bbox.x2 - b.bbox.x2, a.bbox.y2 - b.bbox.y2];
                worst_box = d.iter().fold(worst_box, |m, v| m.max(v.abs()));
                worst_score = worst_score.max((a.score - b.score).abs());
                assert!(d.iter().all(|v| v.abs() <= 1e-3), "{what}, item {i}: {a:?} vs {b:?}");
                assert!((a.score - b.score).abs() <= 1e-6, "{what}, item {i}: {a:?} vs {b:?}");
            }
            n += c.detections.len();
        }
        eprintln!("{what}: {n} detections agree; largest difference {worst_box:e} px, {worst_score:e} in score");
        n
    }

    fn run(detector: &mut Detector, batch: &Batch, threshold: f32) -> (RawOutputs, Filter) {
        let raw = detector.run(batch).unwrap();
        (raw, Filter { score_threshold: threshold, classes: vec![], max_detections: 100 })
    }

    #[test]
    fn ssd_on_gpu_matches_cpu_on_real_frames() {
        let Some(frames) = frames("TUD-Campus") else { return };
        let spec = ModelSpec::load(&common::repo().join("models/ssd_mobilenet_v2_coco.toml")).unwrap();
        let mut detector = Detector::new(&spec, DeviceChoice::Cpu, 2, None).unwrap();
        let ctx = gpu();
        // Whole frames, then 2x2 overlapping tiles of the first two (region mapping + clamp).
        let whole: Vec<(&Frame, Region)> = frames.iter().map(|f| (f, Region::full(&f.info()))).collect();
        let tiles: Vec<(&Frame, Region)> = frames[..2]
            .iter()
            .flat_map(|f| {
                let (w, h) = (f.width * 6 / 10, f.height * 6 / 10);
                [(0, 0), (f.width - w, 0), (0, f.height - h), (f.width - w, f.height - h)]
                    .map(|(x, y)| (f, Region { x, y, width: w, height: h }))
            })
            .collect();
        let mut total = 0;
        for (name, items) in [("whole frames", whole), ("tiles", tiles)] {
            let batch = make_region_batch(&items, &spec.input);
            // 0.3 is the default; 0.05 (the AP evaluation's) gives thousands of candidates.
            for threshold in [0.3, 0.05] {
                let (raw, filter) = run(&mut detector, &batch, threshold);
                let cpu = Postprocessor::new(&spec, filter.clone()).process_batch(&raw, &batch).unwrap();
                let mut gpu_post = GpuPostprocessor::new(ctx.clone(), &spec, filter).unwrap();
                assert!(gpu_post.decodes_on_gpu());
                let got = gpu_post.process_batch(&raw, &batch).unwrap();
                total += assert_same(&got, &cpu, &format!("{name}, threshold {threshold}"));
                assert_eq!(gpu_post.cpu_fallbacks, 0, "{name}, threshold {threshold}: items redone on the CPU");
                // Deterministic: the same input again gives the same output, bit for bit.
                assert_eq!(gpu_post.process_batch(&raw, &batch).unwrap(), got);
            }
        }
        assert!(total > 50, "only {total} detections: the comparison says little");
    }
}
