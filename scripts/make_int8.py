#!/usr/bin/env python3
"""Makes the int8 copy of the default detector with ONNX Runtime's static quantization (QDQ).

    make_int8.py FP32.onnx OUT.onnx --frames DIR [--format qdq|qoperator] [--per-tensor]
                 [--exclude-first-conv] [--float-heads] [--calibration minmax|percentile|entropy]

Calibration frames are real footage that is NOT what prelabel's accuracy is checked on (the
sample vtest.avi and the two MOTChallenge TUD sequences): the other videos and photos Debian's
opencv-doc ships in DIR (usr/share/doc/opencv-doc/examples/data): Megamind.avi (an animated
trailer), tree.avi (outdoor), and the photos with people and street scenes. Each is
preprocessed exactly as the pipeline does for this model (models/ssd_mobilenet_v2_coco.toml,
src/preprocess/): RGB, bilinear resize of the whole frame to 300x300 with pixel centres
(OpenCV INTER_LINEAR on float pixels), value = pixel * 2/255 - 1, NHWC.

What is quantized, and why (measured; README "int8 on CPU-only machines"):
- every convolution (with its Relu6 / Add), weights per channel (depthwise layers' channels
  differ by orders of magnitude), activations uint8, weights int8 (what x86 VNNI multiplies);
- the 12 box-predictor convolutions too: 3x3 convolutions over 546 class channels, they are
  68% of the model's 1.9 GMAC, so leaving them in float (--float-heads) gives only 1.1x. Their
  8-bit outputs cost no AP50 (measured: within +0.011 of fp32 on both TUD sequences);
- not the reshape/concat after them (left in float), nor the anchors (a constant output).
The model is first run through quant_pre_process (shape inference, batch-norm folding), as
ONNX Runtime's documentation recommends.

Writes OUT only when complete (OUT.tmp, checked, then renamed), and checks that the int8
model's outputs have the fp32 model's names and shapes and its anchors bit for bit.
"""
import argparse
import os
import sys
import tempfile

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

INPUT = "Preprocessor/sub:0"
SIZE = 300
# Never calibrate on what accuracy is measured on.
FORBIDDEN = ("vtest", "TUD-", "Megamind_bugy")
VIDEOS = {"Megamind.avi": 6, "tree.avi": 4}  # file -> take every Nth frame
PHOTOS = ["basketball1.png", "basketball2.png", "messi5.jpg", "building.jpg", "home.jpg", "aero1.jpg",
          "aero3.jpg", "fruits.jpg", "baboon.jpg", "butterfly.jpg", "starry_night.jpg", "stuff.jpg",
          "orange.jpg", "apple.jpg", "leuvenA.jpg", "leuvenB.jpg", "licenseplate_motion.jpg",
          "squirrel_cls.jpg", "HappyFish.jpg", "board.jpg", "graf1.png", "pic1.png", "rubberwhale1.png",
          "box_in_scene.png", "smarties.png", "Blender_Suzanne1.jpg", "ela_original.jpg"]


def preprocess(rgb):
    """One RGB uint8 frame -> [1,300,300,3] float32, as src/preprocess/ does it."""
    x = cv2.resize(rgb.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    return (x * (2.0 / 255.0) - 1.0)[None].astype(np.float32)


def calibration_frames(data_dir):
    frames, names = [], []
    for name, every in VIDEOS.items():
        cap = cv2.VideoCapture(os.path.join(data_dir, name))
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % every == 0:
                frames.append(preprocess(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
            i += 1
        names.append(f"{name} ({i} frames, every {every}th)")
    for name in PHOTOS:
        bgr = cv2.imread(os.path.join(data_dir, name), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        frames.append(preprocess(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        names.append(name)
    assert not any(f in n for n in names for f in FORBIDDEN), names
    if len(frames) < 50:
        sys.exit(f"make_int8: only {len(frames)} calibration frames found in {data_dir} (is opencv-doc installed?)")
    return frames, names


class Reader(CalibrationDataReader):
    """Feeds calibration frames to the model input `name` (shared by make_int8_nanodet.py)."""

    def __init__(self, frames, name=INPUT):
        self.it = iter(frames)
        self.name = name

    def get_next(self):
        x = next(self.it, None)
        return None if x is None else {self.name: x}


def head_convs(model):
    """The box-predictor convolutions: their outputs are the model's raw outputs."""
    return [n.name for n in model.graph.node if n.op_type == "Conv" and "BoxPredictor_" in "".join(n.output) + n.name]


def first_conv(model):
    return next(n.name for n in model.graph.node if n.op_type == "Conv")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fp32")
    ap.add_argument("out")
    ap.add_argument("--frames", required=True, help="opencv-doc's examples/data folder")
    ap.add_argument("--format", choices=["qdq", "qoperator"], default="qdq")
    ap.add_argument("--per-tensor", action="store_true", help="one scale per weight tensor instead of per channel")
    ap.add_argument("--exclude-first-conv", action="store_true")
    ap.add_argument("--float-heads", action="store_true", help="keep the box-predictor convolutions in float")
    ap.add_argument("--calibration", choices=["minmax", "percentile", "entropy"], default="minmax")
    a = ap.parse_args()

    frames, names = calibration_frames(a.frames)
    print(f"make_int8: {len(frames)} calibration frames from {', '.join(names)}", file=sys.stderr)
    tmp = a.out + ".tmp"
    with tempfile.TemporaryDirectory() as td:
        pre = os.path.join(td, "pre.onnx")
        quant_pre_process(a.fp32, pre, skip_symbolic_shape=True)
        model = onnx.load(pre)
        exclude = head_convs(model) if a.float_heads else []
        if a.exclude_first_conv:
            exclude.append(first_conv(model))
        method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                  "entropy": CalibrationMethod.Entropy}[a.calibration]

        def quantize(reduce_range):
            quantize_static(
                pre, tmp, Reader(frames),
                quant_format=QuantFormat.QDQ if a.format == "qdq" else QuantFormat.QOperator,
                per_channel=not a.per_tensor,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["Conv", "Clip", "Add", "Mul"],
                nodes_to_exclude=exclude,
                calibrate_method=method,
                calibration_providers=["CPUExecutionProvider"],
            )
            return check(a.fp32, tmp, frames[:: max(1, len(frames) // 8)])

        # 8-bit weights first. On x86 CPUs without VNNI (AVX2 only), ONNX Runtime multiplies
        # uint8 by int8 with VPMADDUBSW, whose 16-bit sums saturate: scores then differ from
        # fp32 by up to 0.8 (seen on an AMD EPYC with AVX2 only). 7-bit weights
        # (reduce_range, ONNX Runtime's advice for such CPUs) cannot saturate there.
        worst = quantize(False)
        if worst > 0.5:
            print(f"make_int8: 8-bit weights disagree with fp32 on this CPU ({worst:.3f}: no VNNI?); "
                  "trying 7-bit weights", file=sys.stderr)
            worst = quantize(True)
        if worst > 0.5:
            sys.exit(f"make_int8: the int8 model disagrees with fp32 (score difference {worst:.3f}); not written")
    os.replace(tmp, a.out)
    print(f"make_int8: wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB; excluded {len(exclude)} nodes)", file=sys.stderr)


def check(fp32, int8, frames):
    """Same outputs (names, shapes), identical anchors, and class scores close to fp32's."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    a = ort.InferenceSession(fp32, so, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(int8, so, providers=["CPUExecutionProvider"])
    assert [o.name for o in a.get_outputs()] == [o.name for o in b.get_outputs()]
    worst = 0.0
    for x in frames:
        ra, rb = a.run(None, {INPUT: x}), b.run(None, {INPUT: x})
        for u, v in zip(ra, rb):
            assert u.shape == v.shape, (u.shape, v.shape)
        assert np.array_equal(ra[2], rb[2]), "anchors changed"
        sig = lambda z: 1 / (1 + np.exp(-z))
        worst = max(worst, float(np.abs(sig(ra[1]) - sig(rb[1])).max()))
    print(f"make_int8: largest class-score difference to fp32 on {len(frames)} frames: {worst:.3f}", file=sys.stderr)
    return worst


if __name__ == "__main__":
    main()
