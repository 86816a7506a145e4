"""Converts the TensorFlow SSD MobileNet v2 COCO frozen graph to a raw-head ONNX model.

Usage: convert_ssd.py frozen_inference_graph.pb out.onnx

The graph is cut after the box predictor, before the TF post-processing, so that resize and
NMS belong to prelabel (see models/ssd_mobilenet_v2_coco.toml for the tensor contract):
  input   Preprocessor/sub:0       float32 [N,300,300,3], RGB, pixel * 2/255 - 1
  output  concat:0                 box encodings [N,1917,1,4] (ty, tx, th, tw)
  output  concat_1:0               class logits  [N,1917,91]
  output  Concatenate/concat:0     anchors       [1917,4] (ymin, xmin, ymax, xmax)
Runs offline, in the converter venv that scripts/setup.sh creates.
"""
import sys

import numpy as np

# tf2onnx 1.17 still calls np.product, which newer numpy removed.
if not hasattr(np, "product"):
    np.product = np.prod


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    pb, out = sys.argv[1], sys.argv[2]
    sys.argv = [
        "tf2onnx.convert",
        "--graphdef", pb,
        "--inputs", "Preprocessor/sub:0[-1,300,300,3]",
        "--outputs", "concat:0,concat_1:0,Concatenate/concat:0",
        "--opset", "17",
        "--output", out,
    ]
    from tf2onnx import convert  # in-process, so the np.product alias above applies

    convert.main()

    import onnx  # imported late: only to check what was written

    model = onnx.load(out)
    names = [o.name for o in model.graph.output]
    want = ["concat:0", "concat_1:0", "Concatenate/concat:0"]
    if names != want:
        sys.exit(f"unexpected outputs {names}, wanted {want}")
    print(f"wrote {out}: inputs {[i.name for i in model.graph.input]}, outputs {names}")


if __name__ == "__main__":
    main()
