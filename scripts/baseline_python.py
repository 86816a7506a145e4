"""The benchmark's baseline: the same SSD model in Python onnxruntime, frames from an ffmpeg
pipe, OpenCV bilinear resize, numpy box decoding and per-class NMS. This is what a team would
write without prelabel; benches/pipeline.rs runs it beside prelabel and reports the ratio.

Usage: baseline_python.py MODEL.onnx VIDEO [--threads N] [--mot OUT.txt] [--device cpu|cuda] [--batch N]
Prints one JSON line: {"frames": ..., "seconds": ..., "fps": ..., "detections": ..., "provider": ...}.
--device cuda (onnxruntime-gpu, scripts/gpu-check.sh) fails rather than fall back to the CPU.
"""
import argparse
import json
import subprocess
import time

import cv2
import numpy as np
import onnxruntime as ort

SCORE = 0.3
NMS_IOU = 0.6
MAX_DET = 100


def probe_size(video):
    out = subprocess.check_output(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", video]
    )
    w, h = out.decode().strip().split(",")[:2]
    return int(w), int(h)


def nms(boxes, scores, iou):
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        ov = inter / (area(boxes[i]) + area(boxes[order[1:]]) - inter + 1e-9)
        order = order[1:][ov <= iou]
    return keep


def decode(enc, logits, anchors, w, h):
    ha, wa = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    ya, xa = anchors[:, 0] + ha / 2, anchors[:, 1] + wa / 2
    yc = enc[:, 0] / 10 * ha + ya
    xc = enc[:, 1] / 10 * wa + xa
    bh = np.exp(enc[:, 2] / 5) * ha
    bw = np.exp(enc[:, 3] / 5) * wa
    boxes = np.stack([(xc - bw / 2) * w, (yc - bh / 2) * h, (xc + bw / 2) * w, (yc + bh / 2) * h], 1)
    scores = 1 / (1 + np.exp(-logits))
    dets = []
    for c in range(1, scores.shape[1]):
        m = scores[:, c] >= SCORE
        if not m.any():
            continue
        b, s = boxes[m], scores[m, c]
        for i in nms(b, s, NMS_IOU):
            dets.append((c, float(s[i]), b[i]))
    dets.sort(key=lambda d: -d[1])
    return dets[:MAX_DET]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("video")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--mot")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--batch", type=int, default=1, help="frames per inference call")
    a = ap.parse_args()
    so = ort.SessionOptions()
    if a.threads:
        so.intra_op_num_threads = a.threads
    provider = "CUDAExecutionProvider" if a.device == "cuda" else "CPUExecutionProvider"
    sess = ort.InferenceSession(a.model, so, providers=[provider])
    if sess.get_providers()[0] != provider:
        raise SystemExit(f"baseline: {provider} is not available (got {sess.get_providers()})")
    w, h = probe_size(a.video)
    start = time.perf_counter()
    ff = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-i", a.video, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE
    )
    frames, ndet, rows = 0, 0, []

    def flush(batch):
        nonlocal frames, ndet
        enc, logits, anchors = sess.run(None, {"Preprocessor/sub:0": np.stack(batch)})
        for i in range(len(batch)):
            dets = decode(enc[i, :, 0, :], logits[i], anchors, w, h)
            frames += 1
            ndet += len(dets)
            for c, s, b in dets:
                rows.append(f"{frames},-1,{b[0]:.2f},{b[1]:.2f},{b[2]-b[0]:.2f},{b[3]-b[1]:.2f},{s:.4f},-1,-1,-1")

    batch = []
    while True:
        buf = ff.stdout.read(w * h * 3)
        if len(buf) < w * h * 3:
            break
        img = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
        batch.append(cv2.resize(img, (300, 300), interpolation=cv2.INTER_LINEAR).astype(np.float32) * (2 / 255) - 1)
        if len(batch) == a.batch:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    ff.wait()
    secs = time.perf_counter() - start
    if a.mot:
        with open(a.mot, "w") as f:
            f.write("\n".join(rows) + "\n")
    print(json.dumps({"frames": frames, "seconds": secs, "fps": frames / secs, "detections": ndet, "provider": sess.get_providers()[0]}))


if __name__ == "__main__":
    main()
