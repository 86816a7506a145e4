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
                g, &want,
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
            bbox: BBox { x1: (i % 64) as f32 * 20.0, y1: (i / 64) as f32 * 20.0, x2: (i % 64) as f32 * 20.0 + 10.0, y2: (i / 64) as f32 * 20.0 + 10.0 },
            class: 0,
            score: (i % 7) as f32 / 7.0,
        })
        .collect();
    let want = nms_with(item.clone(), 0.5, 2000, true);
    assert_eq!(want.len(), n);
    assert_eq!(nms.run(std::slice::from_ref(&item), 0.5, 2000, true).unwrap()[0], want);
    // With max_keep within the top K the GPU answers alone.
    let before = nms.fallbacks;
    assert_eq!(nms.run(&[item.clone()], 0.5, 100, true).unwrap()[0], nms_with(item, 0.5, 100, true));
    assert_eq!(nms.fallbacks, before);
}
