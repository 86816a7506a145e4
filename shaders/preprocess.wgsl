// Preprocess on the GPU: frames (packed RGB8, or YUV 4:2:0 planes) to the model's input
// tensor in one pass: colour conversion, bilinear resize of a region, letterbox padding,
// per-channel normalisation, NHWC or NCHW layout, f32 or f16 (packed two per u32 word).
// Driven by src/preprocess/gpu.rs; must match the CPU reference in src/preprocess/mod.rs
// (and src/yuv.rs for YUV), operation for operation, so that results agree to
// float rounding.
//
// One invocation per pair of output pixels; a per-word fallback covers f16 outputs of odd
// width.

struct Params {
    out_w: u32,
    out_h: u32,
    n_items: u32,
    // 0 = NHWC, 1 = NCHW (`layout` is a WGSL keyword)
    nchw: u32,
    // 0 = f32, 1 = f16 (pack2x16float)
    dtype: u32,
    // elements in the whole output tensor (n_items * 3 * out_w * out_h)
    total: u32,
    // preprocess_f16_odd only: invocations per row of its 2-D dispatch
    row_invocations: u32,
    // 1 = write channels as B, G, R (mul, add and pad are already in that order)
    bgr: u32,
    // value = pixel * mul + add, per tensor channel; pad = the normalised letterbox value
    mul: vec4<f32>,
    add: vec4<f32>,
    pad: vec4<f32>,
}

// One batch item: a region of a frame and how it maps into the output.
struct Item {
    // 0 = packed RGB8, 1 = YUV 4:2:0 (three planes)
    format: u32,
    // byte offsets into `src` of the RGB data or of the Y plane, and its row stride in bytes
    offset: u32,
    stride: u32,
    // U and V planes (YUV only), and their row stride
    u_offset: u32,
    v_offset: u32,
    uv_stride: u32,
    region_x: u32,
    region_y: u32,
    region_w: u32,
    region_h: u32,
    // output pixels covered by the region (the rest is letterbox padding) start at
    // start_x/start_y and run for covered_x/covered_y
    start_x: u32,
    start_y: u32,
    covered_x: u32,
    covered_y: u32,
    scale_x: f32,
    scale_y: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> items: array<Item>;
// All frames' bytes, four to a word (little endian).
@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

fn byte_at(i: u32) -> u32 {
    return (src[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

struct Tap {
    i0: u32,
    i1: u32,
    w1: f32,
}

// Same arithmetic as `taps` in src/preprocess/mod.rs.
fn tap(o: u32, start: u32, scale: f32, len: u32) -> Tap {
    var s = (f32(o - start) + 0.5) / scale - 0.5;
    s = clamp(s, 0.0, f32(len - 1u));
    let i0 = u32(floor(s));
    return Tap(i0, min(i0 + 1u, len - 1u), s - f32(i0));
}

// BT.601 limited range, 8-bit fixed point, chroma of the 2x2 block (no chroma
// interpolation); the same integers as src/yuv.rs.
fn yuv_rgb(it: Item, x: u32, y: u32) -> vec3<f32> {
    let luma = 298 * (i32(byte_at(it.offset + y * it.stride + x)) - 16) + 128;
    let ci = (y >> 1u) * it.uv_stride + (x >> 1u);
    let d = i32(byte_at(it.u_offset + ci)) - 128;
    let e = i32(byte_at(it.v_offset + ci)) - 128;
    let rgb = vec3<i32>(luma + 409 * e, luma - 100 * d - 208 * e, luma + 516 * d) >> vec3<u32>(8u);
    return vec3<f32>(clamp(rgb, vec3<i32>(0), vec3<i32>(255)));
}

// RGB of pixel (x, y) of the item's region, 0..255.
fn rgb_at(it: Item, x: u32, y: u32) -> vec3<f32> {
    let fx = it.region_x + x;
    let fy = it.region_y + y;
    if it.format == 0u {
        let i = it.offset + fy * it.stride + fx * 3u;
        return vec3<f32>(f32(byte_at(i)), f32(byte_at(i + 1u)), f32(byte_at(i + 2u)));
    }
    return yuv_rgb(it, fx, fy);
}

// The normalised channels of output pixel (x, y) of item `it`, in tensor order: bilinear
// inside the region's footprint, letterbox padding outside it.
fn output_pixel(it: Item, x: u32, y: u32) -> vec3<f32> {
    if x < it.start_x || x >= it.start_x + it.covered_x || y < it.start_y || y >= it.start_y + it.covered_y {
        return params.pad.xyz;
    }
    var rgb = sample(it, x, y);
    if params.bgr == 1u {
        rgb = rgb.zyx;
    }
    return rgb * params.mul.xyz + params.add.xyz;
}

// Bilinear RGB (0..255) at output pixel (x, y), which lies in the region's footprint.
fn sample(it: Item, x: u32, y: u32) -> vec3<f32> {
    let tx = tap(x, it.start_x, it.scale_x, it.region_w);
    let ty = tap(y, it.start_y, it.scale_y, it.region_h);
    let a = rgb_at(it, tx.i0, ty.i0);
    let b = rgb_at(it, tx.i1, ty.i0);
    let d = rgb_at(it, tx.i0, ty.i1);
    let f = rgb_at(it, tx.i1, ty.i1);
    let top = a + (b - a) * tx.w1;
    let bottom = d + (f - d) * tx.w1;
    return top + (bottom - top) * ty.w1;
}

// Main entry: one invocation per pair of horizontally adjacent output pixels of one item
// (x = 2 * gid.x, y = gid.y, item = gid.z). The pair shares its row taps, and for f16 its
// six NHWC values (or two per NCHW plane) fill whole u32 words when out_w is even, which
// the driver guarantees before choosing this entry for f16.
@compute @workgroup_size(8, 8, 1)
fn preprocess(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x * 2u;
    let y = gid.y;
    let n = gid.z;
    if x >= params.out_w || y >= params.out_h || n >= params.n_items {
        return;
    }
    let it = items[n];
    let p0 = output_pixel(it, x, y);
    let second = x + 1u < params.out_w;
    var p1 = vec3<f32>(0.0);
    if second {
        p1 = output_pixel(it, x + 1u, y);
    }
    let row = n * params.out_h + y;
    if params.dtype == 0u {
        if params.nchw == 0u {
            let base = (row * params.out_w + x) * 3u;
            for (var c = 0u; c < 3u; c++) {
                dst[base + c] = bitcast<u32>(p0[c]);
                if second {
                    dst[base + 3u + c] = bitcast<u32>(p1[c]);
                }
            }
        } else {
            for (var c = 0u; c < 3u; c++) {
                let base = ((n * 3u + c) * params.out_h + y) * params.out_w + x;
                dst[base] = bitcast<u32>(p0[c]);
                if second {
                    dst[base + 1u] = bitcast<u32>(p1[c]);
                }
            }
        }
    } else if params.nchw == 0u {
        let word = (row * params.out_w + x) * 3u / 2u;
        dst[word] = pack2x16float(p0.xy);
        dst[word + 1u] = pack2x16float(vec2<f32>(p0.z, p1.x));
        dst[word + 2u] = pack2x16float(p1.yz);
    } else {
        for (var c = 0u; c < 3u; c++) {
            dst[(((n * 3u + c) * params.out_h + y) * params.out_w + x) / 2u] = pack2x16float(vec2<f32>(p0[c], p1[c]));
        }
    }
}

// Fallback for f16 with an odd output width, where element pairs straddle rows: one
// invocation per output word (two elements), dispatched as rows of `row_invocations`.
fn element(e: u32) -> f32 {
    let plane = params.out_w * params.out_h;
    let n = e / (3u * plane);
    let r = e - n * 3u * plane;
    var c: u32;
    var p: u32;
    if params.nchw == 0u {
        c = r % 3u;
        p = r / 3u;
    } else {
        c = r / plane;
        p = r - c * plane;
    }
    let y = p / params.out_w;
    return output_pixel(items[n], p - y * params.out_w, y)[c];
}

@compute @workgroup_size(64)
fn preprocess_f16_odd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = (gid.y * params.row_invocations + gid.x) * 2u;
    if e >= params.total {
        return;
    }
    var hi = 0.0;
    if e + 1u < params.total {
        hi = element(e + 1u);
    }
    dst[e / 2u] = pack2x16float(vec2<f32>(element(e), hi));
}
