"""Generates small ONNX models with the output layouts users bring (YOLOv5, YOLOv8/11,
end-to-end with NMS inside), their prelabel description files, and the detections each must
give, computed here in numpy independently of prelabel's Rust decoders.

Usage: make_test_models.py OUT_DIR

Each model's outputs are fixed tensors plus one input-dependent term: the mean of the input
(for a frame of one grey value, known exactly) times 32 is added to the first
box's x coordinate. So a batch [black, white] must give two different first boxes, in order,
which proves the batch dimension and frame order survive the trip through ONNX Runtime.
tests/model_families.rs runs them.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CLASSES = ["person", "car", "dog"]
IN_W = IN_H = 64
FRAME_W, FRAME_H = 128, 96
SCORE = 0.25
NMS_IOU = 0.45
SHIFT = 32.0

# cx, cy, w, h, objectness, class scores (input pixels)
ROWS = np.array(
    [
        [20, 20, 10, 10, 0.9, 0.9, 0.1, 0.1],  # person 0.81
        [21, 20, 10, 10, 0.8, 0.9, 0.1, 0.1],  # person 0.72, overlaps the first: suppressed
        [21, 20, 10, 10, 0.8, 0.1, 0.9, 0.1],  # car 0.72, same place, other class: kept
        [50, 50, 8, 8, 0.5, 0.2, 0.2, 0.6],  # dog 0.30
        [40, 10, 6, 6, 0.3, 0.5, 0.1, 0.1],  # person 0.15: below threshold
        [60, 60, 20, 20, 0.9, 0.1, 0.1, 0.95],  # dog 0.855, crosses the border: clamped
    ],
    np.float32,
)


def graph(name, outputs, layout_nchw=True):
    """Input 'images' [N,3,64,64] (or NHWC); each output = const + mean(input) * mask."""
    shape = ["N", 3, IN_H, IN_W] if layout_nchw else ["N", IN_H, IN_W, 3]
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, shape)
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean4"], keepdims=1, axes=[1, 2, 3]),
    ]
    outs, inits = [], []
    for out_name, const, mask, dtype in outputs:
        rank = const.ndim
        inits += [
            numpy_helper.from_array(np.array([-1] + [1] * rank, np.int64), f"{out_name}_shape"),
            numpy_helper.from_array(const[None].astype(np.float32), f"{out_name}_const"),
            numpy_helper.from_array(mask[None].astype(np.float32), f"{out_name}_mask"),
        ]
        nodes += [
            helper.make_node("Reshape", ["mean4", f"{out_name}_shape"], [f"{out_name}_m"]),
            helper.make_node("Mul", [f"{out_name}_m", f"{out_name}_mask"], [f"{out_name}_d"]),
            helper.make_node("Add", [f"{out_name}_d", f"{out_name}_const"], [f"{out_name}_f"]),
        ]
        if dtype == "int64":
            nodes.append(helper.make_node("Cast", [f"{out_name}_f"], [out_name], to=TensorProto.INT64))
            elem = TensorProto.INT64
        else:
            nodes.append(helper.make_node("Identity", [f"{out_name}_f"], [out_name]))
            elem = TensorProto.FLOAT
        outs.append(helper.make_tensor_value_info(out_name, elem, ["N"] + list(const.shape)))
    g = helper.make_graph(nodes, name, [inp], outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def letterbox():
    s = min(IN_W / FRAME_W, IN_H / FRAME_H)
    return s, s, np.floor((IN_W - FRAME_W * s) / 2), np.floor((IN_H - FRAME_H * s) / 2)


def stretch():
    return IN_W / FRAME_W, IN_H / FRAME_H, 0.0, 0.0


def to_frame(b, t):
    sx, sy, px, py = t
    x1, y1, x2, y2 = (b[0] - px) / sx, (b[1] - py) / sy, (b[2] - px) / sx, (b[3] - py) / sy
    return [min(max(x1, 0), FRAME_W), min(max(y1, 0), FRAME_H), min(max(x2, 0), FRAME_W), min(max(y2, 0), FRAME_H)]


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def yolo_expected(rows, t, use_obj):
    dets = []
    for r in rows:
        obj = r[4] if use_obj else 1.0
        cls = r[5:]
        c = int(np.argmax(cls))
        score = float(obj * cls[c])
        if score < SCORE:
            continue
        cx, cy, w, h = r[:4]
        dets.append({"class": c, "score": score, "box": to_frame([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], t)})
    dets.sort(key=lambda d: -d["score"])
    kept = []
    for d in dets:
        if all(k["class"] != d["class"] or iou(k["box"], d["box"]) <= NMS_IOU for k in kept):
            kept.append(d)
    return kept


def input_mean(pixel, resize):
    """Mean of the normalised input for a frame of one grey value (letterbox pads with 114)."""
    if resize == "stretch":
        return pixel / 255
    content_h = FRAME_H * min(IN_W / FRAME_W, IN_H / FRAME_H)
    return (content_h * pixel + (IN_H - content_h) * 114) / (IN_H * 255)


def rows_for(mean):
    r = ROWS.copy()
    r[0, 0] += SHIFT * mean
    return r


def description(name, resize, layout, output):
    lines = [
        f'name = "{name}"',
        f'file = "{name}.onnx"',
        'licence = "test model generated by scripts/make_test_models.py"',
        f"classes = {json.dumps(CLASSES)}",
        "",
        "[input]",
        'name = "images"',
        f"width = {IN_W}",
        f"height = {IN_H}",
        f'layout = "{layout}"',
        f'resize = "{resize}"',
        "mean = [0.0, 0.0, 0.0]",
        "std = [1.0, 1.0, 1.0]",
        "",
        "[output]",
    ] + [f"{k} = {json.dumps(v)}" for k, v in output.items()]
    return "\n".join(lines) + "\n"


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    pixels = [0, 255]  # a black frame, then a white one
    means = lambda resize: [input_mean(p, resize) for p in pixels]
    expected = {}

    # YOLOv5 [N, A, 5+C], NCHW, stretch.
    mask = np.zeros_like(ROWS)
    mask[0, 0] = SHIFT
    onnx.save(graph("yolov5", [("output0", ROWS, mask, "float")]), out / "yolov5.onnx")
    (out / "yolov5.toml").write_text(description("yolov5", "stretch", "nchw", {"kind": "yolov5", "output": "output0", "nms_iou": NMS_IOU}))
    expected["yolov5"] = [yolo_expected(rows_for(m), stretch(), True) for m in means("stretch")]

    # YOLOv8 [N, 4+C, A]: objectness folded into the class scores, transposed; NHWC, letterbox.
    v8 = np.concatenate([ROWS[:, :4], ROWS[:, 5:] * ROWS[:, 4:5]], 1)
    onnx.save(graph("yolov8", [("output0", v8.T.copy(), mask[:, [0, 1, 2, 3, 5, 6, 7]].T.copy(), "float")], False), out / "yolov8.onnx")
    (out / "yolov8.toml").write_text(description("yolov8", "letterbox", "nhwc", {"kind": "yolov8", "output": "output0", "nms_iou": NMS_IOU}))
    v8_rows = lambda m: np.concatenate([rows_for(m)[:, :4], np.ones((6, 1), np.float32), v8[:, 4:]], 1)
    expected["yolov8"] = [yolo_expected(v8_rows(m), letterbox(), True) for m in means("letterbox")]

    # End-to-end [N, K, 6] = x1, y1, x2, y2, score, class (input pixels), zero padded; letterbox.
    e2e = np.array(
        [[10, 10, 30, 40, 0.9, 0], [40, 40, 60, 60, 0.6, 2], [5, 5, 15, 15, 0.1, 1], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]],
        np.float32,
    )
    e2e_mask = np.zeros_like(e2e)
    e2e_mask[0, [0, 2]] = SHIFT
    onnx.save(graph("end2end", [("output0", e2e, e2e_mask, "float")]), out / "end2end.onnx")
    (out / "end2end.toml").write_text(description("end2end", "letterbox", "nchw", {"kind": "end2end", "output": "output0"}))

    def e2e_expected(m):
        rows = e2e + e2e_mask * m
        dets = [
            {"class": int(r[5]), "score": float(r[4]), "box": to_frame(list(r[:4]), letterbox())}
            for r in rows
            if r[4] >= SCORE
        ]
        return sorted(dets, key=lambda d: -d["score"])

    expected["end2end"] = [e2e_expected(m) for m in means("letterbox")]

    # End-to-end split, TF style: boxes [N,K,4] (ymin, xmin, ymax, xmax) normalised, scores,
    # int64 classes, count [N] (only the first 2 rows are valid); stretch.
    boxes = np.array([[0.1, 0.2, 0.5, 0.6], [0.5, 0.5, 0.9, 0.8], [0.0, 0.0, 0.2, 0.2]], np.float32)
    boxes_mask = np.zeros_like(boxes)
    boxes_mask[0, 1] = 0.25  # the white frame moves box 0 right by a quarter of the input
    scores = np.array([0.8, 0.5, 0.9], np.float32)  # the third is beyond `count`: ignored
    classes = np.array([1, 0, 2], np.float32)
    zeros = lambda a: np.zeros_like(a)
    outputs = [
        ("detection_boxes", boxes, boxes_mask, "float"),
        ("detection_scores", scores, zeros(scores), "float"),
        ("detection_classes", classes, zeros(classes), "int64"),
        ("num_detections", np.array(2.0, np.float32), np.array(0.0, np.float32), "float"),
    ]
    onnx.save(graph("end2end_split", outputs), out / "end2end_split.onnx")
    (out / "end2end_split.toml").write_text(
        description(
            "end2end_split",
            "stretch",
            "nchw",
            {
                "kind": "end2end_split",
                "boxes": "detection_boxes",
                "scores": "detection_scores",
                "classes": "detection_classes",
                "count": "num_detections",
                "box_order": "yxyx",
                "normalized": True,
            },
        )
    )

    def split_expected(m):
        b = boxes + boxes_mask * m
        dets = []
        for i in range(2):
            y1, x1, y2, x2 = b[i]
            box = to_frame([x1 * IN_W, y1 * IN_H, x2 * IN_W, y2 * IN_H], stretch())
            dets.append({"class": int(classes[i]), "score": float(scores[i]), "box": box})
        return sorted(dets, key=lambda d: -d["score"])

    expected["end2end_split"] = [split_expected(m) for m in means("stretch")]

    # A description that names the wrong decoder for a model: must be refused with a clear error.
    (out / "mismatched.toml").write_text(
        description("yolov5", "stretch", "nchw", {"kind": "yolov8", "output": "output0", "nms_iou": NMS_IOU})
    )

    to_py = lambda o: json.loads(json.dumps(o, default=float))
    (out / "expected.json").write_text(json.dumps(to_py({"frame": [FRAME_W, FRAME_H], "score_threshold": SCORE, "models": expected}), indent=1))
    print(f"wrote test models to {out}")


if __name__ == "__main__":
    main()
