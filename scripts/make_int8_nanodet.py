#!/usr/bin/env python3
"""Makes the int8 copy of NanoDet-g with ONNX Runtime's static quantization (QDQ).

    make_int8_nanodet.py FP32.onnx OUT.onnx --frames DIR [--size 416x320]
                         [--weight-bits 7|8] [--float-heads] [--per-tensor]
                         [--calibration minmax|percentile|entropy]

FP32.onnx is models/nanodet_g_coco.onnx (scripts/convert_nanodet.py: input `input`
[N,3,H,W], outputs `scores` [N,A,80] and `boxes` [N,A,44]). The int8 model has the same
inputs and outputs (names, dynamic N, H, W), float32 in and out.

Calibration frames: the same Debian opencv-doc footage scripts/make_int8.py calibrates the
SSD on (its VIDEOS and PHOTOS lists, imported from it), never what accuracy is measured on
(vtest.avi, MOTChallenge). Each frame is preprocessed exactly as prelabel does for this
model (src/preprocess/): letterboxed at the TOP-LEFT into 416x320 (scale = min(W/w, H/h),
covered size round(w*scale) x round(h*scale), bilinear with pixel centres, src = (dst+0.5)
/scale - 0.5 clamped at the edges), zero padding right and bottom (pixel value 0 before
normalisation), channels BGR, value = (pixel - [103.53,116.28,123.675]) / [57.375,57.12,58.395],
NCHW.

What is quantized: every operator ONNX Runtime's QDQ quantizer handles (convolutions with
per-channel int8 weights, uint8 activations; LeakyRelu, Add, Concat, Resize, MaxPool, Pad,
Sigmoid ride along). Weights are limited to 7 bits by default (ONNX Runtime's reduce_range):
on x86 CPUs without VNNI (AVX2 only) ONNX Runtime multiplies uint8 by int8 with VPMADDUBSW,
whose 16-bit pair sums saturate with 8-bit weights (255*127*2 > 32767; 255*63*2 is not).
Measured on an AVX2-only CPU: with 8-bit weights the integer kernels differ from the exact
QDQ arithmetic by up to 0.27 in a class score, with 7-bit weights by 0.03. 7 bits make one
file that is right on every CPU, whichever CPU made it (--weight-bits 8 only for VNNI CPUs).
--float-heads keeps the three last convolutions (the GFL heads, 1x1, 128 -> 80 class logits
+ 44 box-distribution logits per stride) and everything after them in float; it buys
nothing (the int8 error comes from the backbone), so the heads are quantized too.
Person AP50 (scripts/nanodet_ap.py; TUD-Stadtmitte, TUD-Campus, ETH-Sunnyday at 416x320,
KITTI-17 at 672x224):  fp32 0.842 0.790 0.890 0.855;  int8, 7-bit weights (default) 0.839
0.798 0.888 0.854;  8-bit weights on the AVX2-only CPU 0.846 0.779 0.881 0.849;  7-bit with
float heads 0.839 0.799 0.889 0.850.

Writes OUT only when complete (OUT.tmp, checked, then renamed): the int8 model must have the
fp32 model's inputs and outputs, its class scores and decoded box sides must stay close to
fp32's on calibration frames, and it must run at other sizes (256x640, 640x256, 640x640...)
with a batch of 2 giving what each image gives alone.
"""
import argparse
import os
import sys
import tempfile

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_int8 import FORBIDDEN, PHOTOS, VIDEOS, Reader  # noqa: E402  (one calibration set for both models)

INPUT = "input"
OUTPUTS = ["scores", "boxes"]
MEAN = np.array([103.53, 116.28, 123.675], np.float32)  # B, G, R
STD = np.array([57.375, 57.12, 58.395], np.float32)
DEFAULT_SIZE = (416, 320)  # W, H
DEFAULT_WEIGHT_BITS = 7
BINS = 11
STRIDES = (8, 16, 32)


def taps(src_len, out_len, scale):
    """Source pixel pairs and weights for the covered outputs, as src/preprocess/ computes them."""
    covered = min(out_len, int(np.floor(np.float32(src_len) * scale + np.float32(0.5))))
    o = np.arange(covered, dtype=np.float32)
    s = np.clip((o + np.float32(0.5)) / scale - np.float32(0.5), 0, src_len - 1).astype(np.float32)
    i0 = np.floor(s).astype(np.int64)
    i1 = np.minimum(i0 + 1, src_len - 1)
    return i0, i1, (s - i0).astype(np.float32)


def letterbox(bgr, w, h):
    """BGR uint8 frame -> ([1,3,h,w] float32 input, scale). Top-left letterbox, zero padding."""
    fh, fw = bgr.shape[:2]
    scale = min(np.float32(w) / np.float32(fw), np.float32(h) / np.float32(fh))
    x0, x1, wx = taps(fw, w, scale)
    y0, y1, wy = taps(fh, h, scale)
    f = bgr.astype(np.float32)
    top = f[y0][:, x0] + (f[y0][:, x1] - f[y0][:, x0]) * wx[None, :, None]
    bot = f[y1][:, x0] + (f[y1][:, x1] - f[y1][:, x0]) * wx[None, :, None]
    img = np.zeros((h, w, 3), np.float32)  # pixel value 0 in the padding, before normalisation
    img[:len(y0), :len(x0)] = top + (bot - top) * wy[:, None, None]
    x = (img - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), float(scale)


def calibration_frames(data_dir, w, h):
    frames, names = [], []
    for name, every in VIDEOS.items():
        cap = cv2.VideoCapture(os.path.join(data_dir, name))
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % every == 0:
                frames.append(letterbox(bgr, w, h)[0])
            i += 1
        names.append(f"{name} ({i} frames, every {every}th)")
    for name in PHOTOS:
        bgr = cv2.imread(os.path.join(data_dir, name), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        frames.append(letterbox(bgr, w, h)[0])
        names.append(name)
    assert not any(f in n for n in names for f in FORBIDDEN), names
    if len(frames) < 50:
        sys.exit(f"make_int8_nanodet: only {len(frames)} calibration frames found in {data_dir} "
                 "(is opencv-doc installed?)")
    return frames, names


def head_convs(model):
    """The convolutions whose outputs are split into class and box logits (one per stride)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    return [producers[n.input[0]].name for n in model.graph.node
            if n.op_type == "Split" and producers[n.input[0]].op_type == "Conv"]


def downstream(model, names):
    """The named nodes and every node after them."""
    consumers = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    by_name = {n.name: n for n in model.graph.node}
    out, todo = list(names), [o for nm in names for o in by_name[nm].output]
    while todo:
        for n in consumers.get(todo.pop(), []):
            if n.name not in out:
                out.append(n.name)
                todo.extend(n.output)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fp32")
    ap.add_argument("out")
    ap.add_argument("--frames", required=True, help="opencv-doc's examples/data folder")
    ap.add_argument("--size", default="%dx%d" % DEFAULT_SIZE, help="calibration input WxH (default 416x320)")
    ap.add_argument("--per-tensor", action="store_true", help="one scale per weight tensor instead of per channel")
    ap.add_argument("--float-heads", action="store_true",
                    help="keep the three last 1x1 convolutions (the GFL heads) and what follows them in float")
    ap.add_argument("--weight-bits", type=int, choices=[7, 8], default=DEFAULT_WEIGHT_BITS,
                    help="7: int8 weights limited to 7 bits (ONNX Runtime's reduce_range)")
    ap.add_argument("--calibration", choices=["minmax", "percentile", "entropy"], default="minmax")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    if w % 32 or h % 32:
        sys.exit("make_int8_nanodet: --size must be multiples of 32")

    frames, names = calibration_frames(a.frames, w, h)
    print(f"make_int8_nanodet: {len(frames)} calibration frames at {w}x{h} from {', '.join(names)}", file=sys.stderr)
    tmp = a.out + ".tmp"
    with tempfile.TemporaryDirectory() as td:
        pre = os.path.join(td, "pre.onnx")
        quant_pre_process(a.fp32, pre, skip_symbolic_shape=True)
        model = onnx.load(pre)
        exclude = downstream(model, head_convs(model)) if a.float_heads else []
        method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                  "entropy": CalibrationMethod.Entropy}[a.calibration]
        quantize_static(
            pre, tmp, Reader(frames, INPUT),
            quant_format=QuantFormat.QDQ,
            per_channel=not a.per_tensor,
            reduce_range=a.weight_bits == 7,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
            calibrate_method=method,
            calibration_providers=["CPUExecutionProvider"],
        )
    check(a.fp32, tmp, frames[:: max(1, len(frames) // 8)])
    os.replace(tmp, a.out)
    print(f"make_int8_nanodet: wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB; {a.weight_bits}-bit weights, float heads: {a.float_heads}, "
          f"{len(exclude)} nodes excluded)", file=sys.stderr)


def expected_sides(boxes):
    """[N,A,44] distributions -> [N,A,4] expected side distances in bins (softmax over 11)."""
    d = boxes.reshape(*boxes.shape[:-1], 4, BINS)
    p = np.exp(d - d.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return (p * np.arange(BINS, dtype=np.float32)).sum(-1)


def check(fp32, int8, frames):
    """Same inputs and outputs; class scores and, where a class is confident, box sides close."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    a = ort.InferenceSession(fp32, so, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(int8, so, providers=["CPUExecutionProvider"])
    sig = lambda s: [(i.name, i.shape) for i in s]  # noqa: E731
    if sig(a.get_inputs()) != sig(b.get_inputs()) or sig(a.get_outputs()) != sig(b.get_outputs()):
        sys.exit(f"make_int8_nanodet: int8 I/O {sig(b.get_inputs())} {sig(b.get_outputs())} differs from fp32's")
    worst_score, worst_side = 0.0, 0.0
    for x in frames:
        (sa, ba), (sb, bb) = a.run(OUTPUTS, {INPUT: x}), b.run(OUTPUTS, {INPUT: x})
        if sa.shape != sb.shape or ba.shape != bb.shape:
            sys.exit(f"make_int8_nanodet: output shapes {sb.shape} {bb.shape}, fp32 {sa.shape} {ba.shape}")
        worst_score = max(worst_score, float(np.abs(sa - sb).max()))
        conf = sa.max(-1) >= 0.3  # cells where fp32 sees something: the box sides matter there
        if conf.any():
            worst_side = max(worst_side, float(np.abs(expected_sides(ba) - expected_sides(bb))[conf].max()))
    # Free size and batch, as in fp32: a few shapes, a batch of 2 equal to its items alone.
    x = frames[0]
    for h, w in [(256, 640), (640, 256), (256, 256), (640, 640), (320, 416)]:
        y = np.zeros((2, 3, h, w), np.float32)
        y[0, :, :min(h, x.shape[2]), :min(w, x.shape[3])] = x[0, :, :h, :w]
        y[1] = y[0, :, ::-1, ::-1]
        s2, b2 = b.run(OUTPUTS, {INPUT: y})
        n_anchor = sum((h // st) * (w // st) for st in STRIDES)
        if s2.shape != (2, n_anchor, 80) or b2.shape != (2, n_anchor, BINS * 4):
            sys.exit(f"make_int8_nanodet: int8 output shapes {s2.shape} {b2.shape} at 2x{h}x{w}")
        for k in range(2):
            s1, b1 = b.run(OUTPUTS, {INPUT: y[k:k + 1]})
            if np.abs(s1[0] - s2[k]).max() > 1e-4 or np.abs(b1[0] - b2[k]).max() > 1e-3:
                sys.exit(f"make_int8_nanodet: int8 batch of 2 at {h}x{w}: item {k} differs from running it alone")
    print(f"make_int8_nanodet: on {len(frames)} frames, largest class-score difference to fp32 {worst_score:.3f}, "
          f"largest box-side difference where a score >= 0.3 {worst_side:.2f} bins; batch of 2 at 256x640..640x640 ok",
          file=sys.stderr)
    if worst_score > 0.5 or worst_side > 3.0:
        sys.exit("make_int8_nanodet: the int8 model disagrees with fp32; not written")


if __name__ == "__main__":
    main()
