// Preprocess on the GPU: frames (packed RGB8, or YUV 4:2:0 planes) to the model's input
// tensor in one pass: colour conversion, bilinear resize of a region, letterbox padding,
// per-channel normalisation, NHWC or NCHW layout, f32 or f16 (packed two per u32 word).
// Driven by src/preprocess/gpu.rs; must match the CPU reference in src/preprocess/mod.rs
// (and src/preprocess/yuv.rs for YUV), operation for operation, so that results agree to
// float rounding.
//
// One invocation per output u32 word: one element for f32, two for f16. Going by element
// rather than by pixel makes every layout and dtype the same loop, and consecutive
// invocations write consecutive words.

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
    // invocations per row of workgroups (the dispatch may be 2-D when it is large)
    row_invocations: u32,
    _pad: u32,
    // value = pixel * mul + add, per channel; pad = the normalised letterbox grey
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

// BT.601 limited range, 8-bit fixed point; same integers as src/preprocess/yuv.rs.
fn yuv_channel(it: Item, x: u32, y: u32, c: u32) -> f32 {
    let luma = i32(byte_at(it.offset + y * it.stride + x)) - 16;
    let ci = (y >> 1u) * it.uv_stride + (x >> 1u);
    let d = i32(byte_at(it.u_offset + ci)) - 128;
    let e = i32(byte_at(it.v_offset + ci)) - 128;
    var v: i32;
    if c == 0u {
        v = 298 * luma + 409 * e + 128;
    } else if c == 1u {
        v = 298 * luma - 100 * d - 208 * e + 128;
    } else {
        v = 298 * luma + 516 * d + 128;
    }
    return f32(clamp(v >> 8u, 0, 255));
}

// Channel c of pixel (x, y) of the item's region, 0..255.
fn pixel(it: Item, x: u32, y: u32, c: u32) -> f32 {
    let fx = it.region_x + x;
    let fy = it.region_y + y;
    if it.format == 0u {
        return f32(byte_at(it.offset + fy * it.stride + fx * 3u + c));
    }
    return yuv_channel(it, fx, fy, c);
}

// The normalised value of output element e (flat index in the output tensor).
fn element(e: u32) -> f32 {
    let plane = params.out_w * params.out_h;
    let n = e / (3u * plane);
    let r = e - n * 3u * plane;
    var c: u32;
    var x: u32;
    var y: u32;
    if params.nchw == 0u {
        c = r % 3u;
        let p = r / 3u;
        y = p / params.out_w;
        x = p - y * params.out_w;
    } else {
        c = r / plane;
        let p = r - c * plane;
        y = p / params.out_w;
        x = p - y * params.out_w;
    }
    let it = items[n];
    if x < it.start_x || x >= it.start_x + it.covered_x || y < it.start_y || y >= it.start_y + it.covered_y {
        return params.pad[c];
    }
    let tx = tap(x, it.start_x, it.scale_x, it.region_w);
    let ty = tap(y, it.start_y, it.scale_y, it.region_h);
    let a = pixel(it, tx.i0, ty.i0, c);
    let b = pixel(it, tx.i1, ty.i0, c);
    let d = pixel(it, tx.i0, ty.i1, c);
    let f = pixel(it, tx.i1, ty.i1, c);
    let top = a + (b - a) * tx.w1;
    let bottom = d + (f - d) * tx.w1;
    return (top + (bottom - top) * ty.w1) * params.mul[c] + params.add[c];
}

@compute @workgroup_size(64)
fn preprocess(@builtin(global_invocation_id) gid: vec3<u32>) {
    let word = gid.y * params.row_invocations + gid.x;
    if params.dtype == 0u {
        if word >= params.total {
            return;
        }
        dst[word] = bitcast<u32>(element(word));
    } else {
        let e = word * 2u;
        if e >= params.total {
            return;
        }
        var hi = 0.0;
        if e + 1u < params.total {
            hi = element(e + 1u);
        }
        dst[word] = pack2x16float(vec2<f32>(element(e), hi));
    }
}
