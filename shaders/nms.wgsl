// Batched greedy NMS, driven by src/postprocess/gpu/nms.rs; CPU reference:
// src/postprocess/nms.rs. Per batch item: candidates (written by a decoder shader or uploaded)
// -> `sort_items` (bitonic sort by (score desc, input index asc), gathers the best TOP_K)
// -> `iou_mask` (one bit per pair: row i suppresses j > i) -> `sweep` (greedy pass over the
// bits, one workgroup per item) -> kept boxes in `out`.
//
// Bit-exact with the CPU: the IoU mirrors BBox::iou operation by operation; `opaque` stops
// the compiler from fusing a product into the following add (an FMA rounds once, the CPU
// twice). Division may be off by 2.5 ULP in WGSL, so pairs whose IoU lies within `band` of the
// threshold, and non-finite or denormal-range values (GPUs may flush denormals), set
// FLAG_UNSURE and the host redoes that item on the CPU.

const TOP_K: u32 = 1024u;
const WORDS: u32 = 32u; // TOP_K / 32
const FLAG_OVERFLOW: u32 = 1u; // more candidates than `cap`: some were not stored
const FLAG_UNSURE: u32 = 2u; // an IoU too close to call, or a value out of the safe range
const FLAG_EXHAUSTED: u32 = 4u; // swept all TOP_K, kept < max_keep, more candidates remain

struct Params {
    n_items: u32,
    cap: u32,
    max_keep: u32,
    class_aware: u32,
    iou_threshold: f32,
    band: f32,
    zero: u32, // always 0; the GPU cannot know that, see `opaque`
    out_stride: u32, // u32 words per item in `out`: 2 + 8 * max_keep
}

struct Cand {
    x1: f32, y1: f32, x2: f32, y2: f32,
    score: f32,
    cls: u32,
    index: u32, // position in the CPU reference's candidate order: the tie-breaker
    pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> cands: array<Cand>;          // n_items * cap
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;  // n_items
@group(0) @binding(3) var<storage, read_write> keys: array<vec4<u32>>;      // n_items * cap
@group(0) @binding(4) var<storage, read_write> sorted: array<Cand>;         // n_items * TOP_K
@group(0) @binding(5) var<storage, read_write> mask: array<u32>;            // n_items * TOP_K * WORDS
@group(0) @binding(6) var<storage, read_write> flags: array<atomic<u32>>;   // n_items
@group(0) @binding(7) var<storage, read_write> out: array<u32>;             // n_items * out_stride
// Workgroup counts for `iou_mask` (x, y, z), x grown here to cover the longest item; the host
// sets (0, n_items, 1) first.
@group(0) @binding(8) var<storage, read_write> mask_dispatch: array<atomic<u32>, 3>;

fn opaque(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ params.zero);
}

// f32 bits -> u32 whose ascending order is f32::total_cmp's, inverted: descending scores.
fn desc_key(s: f32) -> u32 {
    let b = bitcast<u32>(s);
    var asc = b | 0x80000000u;
    if ((b & 0x80000000u) != 0u) {
        asc = ~b;
    }
    return ~asc;
}

fn before(a: vec4<u32>, b: vec4<u32>) -> bool {
    return a.x < b.x || (a.x == b.x && a.y < b.y);
}

// Finite and not in the denormal range (or exactly zero).
fn safe(v: f32) -> bool {
    let a = abs(v);
    return a == 0.0 || (a >= 1e-30 && a <= 1e30);
}

var<workgroup> wg_n: u32;

// One workgroup (256 threads) per item: bitonic sort of the item's keys in global memory,
// then the best min(n, TOP_K) candidates copied into `sorted` in order.
@compute @workgroup_size(256)
fn sort_items(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let item = wid.x;
    let base = item * params.cap;
    if (lid == 0u) {
        let count = atomicLoad(&counts[item]);
        if (count > params.cap) {
            atomicOr(&flags[item], FLAG_OVERFLOW);
        }
        wg_n = min(count, params.cap);
        atomicMax(&mask_dispatch[0], (min(wg_n, TOP_K) * WORDS + 63u) / 64u);
    }
    let n = workgroupUniformLoad(&wg_n);
    var n_pad = 1u;
    while (n_pad < n) {
        n_pad = n_pad * 2u;
    }
    for (var i = lid; i < n_pad; i += 256u) {
        if (i < n) {
            let c = cands[base + i];
            keys[base + i] = vec4<u32>(desc_key(c.score), c.index, i, 0u);
        } else {
            keys[base + i] = vec4<u32>(0xffffffffu, 0xffffffffu, i, 0u);
        }
    }
    storageBarrier();
    for (var k = 2u; k <= n_pad; k = k * 2u) {
        for (var j = k / 2u; j > 0u; j = j / 2u) {
            for (var t = lid; t < n_pad / 2u; t += 256u) {
                let i = 2u * j * (t / j) + t % j;
                let l = i + j;
                let a = keys[base + i];
                let b = keys[base + l];
                let ascending = (i & k) == 0u;
                if (before(b, a) == ascending) {
                    keys[base + i] = b;
                    keys[base + l] = a;
                }
            }
            storageBarrier();
        }
    }
    let n_k = min(n, TOP_K);
    for (var i = lid; i < n_k; i += 256u) {
        let c = cands[base + keys[base + i].z];
        sorted[item * TOP_K + i] = c;
        if (!(safe(c.x1) && safe(c.y1) && safe(c.x2) && safe(c.y2))) {
            atomicOr(&flags[item], FLAG_UNSURE);
        }
    }
}

// BBox::iou, operation by operation; sets `unsure` when the result cannot be trusted to
// match the CPU's rounding.
fn iou_above(a: Cand, b: Cand, unsure: ptr<function, bool>) -> bool {
    let w = max(min(a.x2, b.x2) - max(a.x1, b.x1), 0.0);
    let h = max(min(a.y2, b.y2) - max(a.y1, b.y1), 0.0);
    let inter = opaque(w * h);
    let area_a = opaque(max(a.x2 - a.x1, 0.0) * max(a.y2 - a.y1, 0.0));
    let area_b = opaque(max(b.x2 - b.x1, 0.0) * max(b.y2 - b.y1, 0.0));
    let uni = opaque(area_a + area_b) - inter;
    if (!(safe(w) && safe(h) && safe(inter) && safe(area_a) && safe(area_b) && safe(uni))) {
        *unsure = true;
    }
    var iou = 0.0;
    if (!(uni <= 0.0)) {
        iou = inter / uni;
    }
    // inter == 0 gives exactly 0 on both sides; only a real quotient can round differently.
    if (inter > 0.0 && abs(iou - params.iou_threshold) <= params.band) {
        *unsure = true;
    }
    return iou > params.iou_threshold;
}

// One thread per (item, row i, word w): bit b of word w says whether i suppresses
// j = 32 w + b (j > i, same class when class-aware).
@compute @workgroup_size(64)
fn iou_mask(@builtin(global_invocation_id) gid: vec3<u32>) {
    let item = gid.y;
    let i = gid.x / WORDS;
    let w = gid.x % WORDS;
    let n_k = min(min(atomicLoad(&counts[item]), params.cap), TOP_K);
    if (item >= params.n_items || i >= n_k || w * 32u >= n_k) {
        return;
    }
    let a = sorted[item * TOP_K + i];
    var bits = 0u;
    var unsure = false;
    for (var b = 0u; b < 32u; b++) {
        let j = w * 32u + b;
        if (j > i && j < n_k) {
            let c = sorted[item * TOP_K + j];
            if ((params.class_aware == 0u || a.cls == c.cls) && iou_above(a, c, &unsure)) {
                bits |= 1u << b;
            }
        }
    }
    mask[(item * TOP_K + i) * WORDS + w] = bits;
    if (unsure) {
        atomicOr(&flags[item], FLAG_UNSURE);
    }
}

var<workgroup> removed: array<u32, 32>;
var<workgroup> wg_keep: u32;
var<workgroup> wg_kept: u32;

// One workgroup per item, one thread per mask word: the greedy pass in sorted order. A kept
// box ORs its row into `removed`; the pass stops at max_keep.
@compute @workgroup_size(32)
fn sweep(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let item = wid.x;
    let o = item * params.out_stride;
    removed[lid] = 0u;
    if (lid == 0u) {
        wg_n = min(atomicLoad(&counts[item]), params.cap);
        wg_kept = 0u;
    }
    let n = workgroupUniformLoad(&wg_n);
    let n_k = min(n, TOP_K);
    var kept = 0u;
    if (params.max_keep > 0u) {
        for (var i = 0u; i < n_k; i++) {
            if (lid == 0u) {
                wg_keep = select(0u, 1u, (removed[i / 32u] & (1u << (i % 32u))) == 0u);
                if (wg_keep == 1u) {
                    let c = sorted[item * TOP_K + i];
                    let r = o + 2u + wg_kept * 8u;
                    out[r] = bitcast<u32>(c.x1);
                    out[r + 1u] = bitcast<u32>(c.y1);
                    out[r + 2u] = bitcast<u32>(c.x2);
                    out[r + 3u] = bitcast<u32>(c.y2);
                    out[r + 4u] = bitcast<u32>(c.score);
                    out[r + 5u] = c.cls;
                    out[r + 6u] = c.index;
                    out[r + 7u] = 0u;
                    wg_kept += 1u;
                }
            }
            let keep = workgroupUniformLoad(&wg_keep);
            if (keep == 1u) {
                removed[lid] |= mask[(item * TOP_K + i) * WORDS + lid];
            }
            kept = workgroupUniformLoad(&wg_kept);
            if (kept >= params.max_keep) {
                break;
            }
            // Nobody may start the next step (thread 0 rewrites wg_keep) before all are done.
            workgroupBarrier();
        }
    }
    if (lid == 0u) {
        var f = atomicLoad(&flags[item]);
        if (kept < params.max_keep && n > n_k) {
            f |= FLAG_EXHAUSTED;
        }
        out[o] = kept;
        out[o + 1u] = f;
    }
}
