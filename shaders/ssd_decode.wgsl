// SSD raw-head decoding, driven by src/postprocess/gpu/ssd.rs; CPU reference:
// src/postprocess/ssd.rs plus the clamp to the region in src/postprocess/mod.rs.
// One thread per (item, anchor): every class whose logit passes the threshold and is kept
// becomes a candidate in the item's slice of `cands` (nms.wgsl's layout), appended with an
// atomic counter. The append order is not deterministic; `index` (anchor * classes + class,
// the CPU's push order) is, and the NMS sort breaks ties by it, so the result is.
// exp and division may differ from the CPU's by a few ULP (WGSL allows it), so boxes and
// scores match the CPU to ~1e-6 relative, not bit for bit.

struct Params {
    n_items: u32,
    n_anchors: u32,
    n_classes: u32,
    cap: u32,
    logit_threshold: f32,
    in_w: f32,
    in_h: f32,
    zero: u32,
    scales: vec4<f32>,
}

// InputTransform of the item's region, and the region's corners in frame pixels.
struct ItemTf {
    scale_x: f32, scale_y: f32, pad_x: f32, pad_y: f32,
    x0: f32, y0: f32, x1: f32, y1: f32,
}

struct Cand {
    x1: f32, y1: f32, x2: f32, y2: f32,
    score: f32,
    cls: u32,
    index: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> enc: array<f32>;      // [N, A, 4] (ty, tx, th, tw)
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;   // [N, A, C]
@group(0) @binding(3) var<storage, read_write> anchors: array<f32>;  // [A, 4] (ymin, xmin, ymax, xmax)
@group(0) @binding(4) var<storage, read_write> keep: array<u32>;     // [C] 1 = reported
@group(0) @binding(5) var<storage, read_write> items: array<ItemTf>; // [N]
@group(0) @binding(6) var<storage, read_write> cands: array<Cand>;   // [N, cap]
@group(0) @binding(7) var<storage, read_write> counts: array<atomic<u32>>; // [N]

// Keeps a product from being fused into the next add: the CPU rounds twice.
fn opaque(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ params.zero);
}

@compute @workgroup_size(64)
fn decode_ssd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let a = gid.x;
    let item = gid.y;
    if (a >= params.n_anchors || item >= params.n_items) {
        return;
    }
    let n_classes = params.n_classes;
    let row = (item * params.n_anchors + a) * n_classes;
    let tf = items[item];
    var have_box = false;
    var valid = false;
    var b = vec4<f32>(0.0);
    for (var c = 1u; c < n_classes; c++) {
        let logit = logits[row + c];
        if (logit < params.logit_threshold || keep[c] == 0u) {
            continue;
        }
        if (!have_box) {
            have_box = true;
            let an = vec4<f32>(anchors[a * 4u], anchors[a * 4u + 1u], anchors[a * 4u + 2u], anchors[a * 4u + 3u]);
            let e_at = (item * params.n_anchors + a) * 4u;
            let e = vec4<f32>(enc[e_at], enc[e_at + 1u], enc[e_at + 2u], enc[e_at + 3u]);
            let s = params.scales;
            let ha = an.z - an.x;
            let wa = an.w - an.y;
            let ya = an.x + ha / 2.0;
            let xa = an.y + wa / 2.0;
            let yc = opaque(e.x / s.x * ha) + ya;
            let xc = opaque(e.y / s.y * wa) + xa;
            let h = opaque(exp(e.z / s.z) * ha);
            let w = opaque(exp(e.w / s.w) * wa);
            // normalised (ymin, xmin, ymax, xmax) -> input pixels -> frame pixels -> region
            let ymin = yc - h / 2.0;
            let xmin = xc - w / 2.0;
            let ymax = yc + h / 2.0;
            let xmax = xc + w / 2.0;
            let fx1 = opaque((opaque(xmin * params.in_w) - tf.pad_x) / tf.scale_x) + tf.x0;
            let fy1 = opaque((opaque(ymin * params.in_h) - tf.pad_y) / tf.scale_y) + tf.y0;
            let fx2 = opaque((opaque(xmax * params.in_w) - tf.pad_x) / tf.scale_x) + tf.x0;
            let fy2 = opaque((opaque(ymax * params.in_h) - tf.pad_y) / tf.scale_y) + tf.y0;
            b = vec4<f32>(
                min(max(fx1, tf.x0), tf.x1),
                min(max(fy1, tf.y0), tf.y1),
                min(max(fx2, tf.x0), tf.x1),
                min(max(fy2, tf.y0), tf.y1),
            );
            valid = max(b.z - b.x, 0.0) * max(b.w - b.y, 0.0) > 0.0;
        }
        if (!valid) {
            break;
        }
        let slot = atomicAdd(&counts[item], 1u);
        if (slot < params.cap) {
            let score = 1.0 / (1.0 + exp(-logit));
            cands[item * params.cap + slot] = Cand(b.x, b.y, b.z, b.w, score, c, a * n_classes + c, 0u);
        }
    }
}
