"""The benchmark's baseline: the same model in Python onnxruntime, frames from an ffmpeg pipe,
OpenCV bilinear resize, numpy box decoding and per-class NMS. This is what a team would write
without prelabel; benches/pipeline.rs runs it beside prelabel (the SSD) and reports the ratio.

Usage: baseline_python.py MODEL.onnx VIDEO [--threads N] [--mot OUT.txt] [--device cpu|cuda] [--batch N]
                          [--size WxH]
Prints one JSON line: {"frames": ..., "seconds": ..., "fps": ..., "detections": ..., "provider": ...}.
--device cuda (onnxruntime-gpu, scripts/gpu-check.sh) fails rather than fall back to the CPU.

The model's outputs say which it is: the SSD's raw head (300x300, whole frame stretched) or
NanoDet-g (`scores`, `boxes`: top-left letterbox into --size, default 768x448, what prelabel
picks for 1080p; BGR, (p - mean) / std; GFL decode, models/nanodet_g_coco.toml).
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
# NanoDet-g (models/nanodet_g_coco.toml): BGR mean and std in pixel units, strides, bins per side.
ND_MEAN = np.array([103.53, 116.28, 123.675], np.float32)
ND_STD = np.array([57.375, 57.12, 58.395], np.float32)
ND_STRIDES = (8, 16, 32)
ND_BINS = 11


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


def nanodet_grid(w, h):
    cx, cy, st = [], [], []
    for s in ND_STRIDES:
        gh, gw = -(-h // s), -(-w // s)
        yy, xx = np.mgrid[0:gh, 0:gw]
        cx.append((xx.ravel() + 0.5) * s)
        cy.append((yy.ravel() + 0.5) * s)
        st.append(np.full(gh * gw, s))
    return [np.concatenate(v).astype(np.float32) for v in (cx, cy, st)]


def nanodet_input(rgb, w, h):
    """Top-left letterbox of an RGB frame into w x h: ([3,h,w] float32, scale)."""
    fh, fw = rgb.shape[:2]
    scale = min(w / fw, h / fh)
    rw, rh = max(1, round(fw * scale)), max(1, round(fh * scale))
    img = np.zeros((h, w, 3), np.float32)
    img[:rh, :rw] = cv2.resize(rgb[:, :, ::-1], (rw, rh), interpolation=cv2.INTER_LINEAR)
    img[:rh, :rw] = (img[:rh, :rw] - ND_MEAN) / ND_STD
    img[rh:, :] = -ND_MEAN / ND_STD
    img[:rh, rw:] = -ND_MEAN / ND_STD
    return img.transpose(2, 0, 1), scale


def nanodet_decode(scores, dist, grid, scale):
    cx, cy, st = grid
    dets = []
    for c in range(scores.shape[1]):
        sel = np.nonzero(scores[:, c] >= SCORE)[0]
        if not sel.size:
            continue
        d = dist[sel].reshape(-1, 4, ND_BINS)
        p = np.exp(d - d.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        e = (p * np.arange(ND_BINS, dtype=np.float32)).sum(-1) * st[sel, None]
        b = np.stack([cx[sel] - e[:, 0], cy[sel] - e[:, 1], cx[sel] + e[:, 2], cy[sel] + e[:, 3]], 1) / scale
        s = scores[sel, c]
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
    ap.add_argument("--size", default="768x448", help="NanoDet input WxH (multiples of 32)")
    a = ap.parse_args()
    so = ort.SessionOptions()
    if a.threads:
        so.intra_op_num_threads = a.threads
    provider = "CUDAExecutionProvider" if a.device == "cuda" else "CPUExecutionProvider"
    sess = ort.InferenceSession(a.model, so, providers=[provider])
    if sess.get_providers()[0] != provider:
        raise SystemExit(f"baseline: {provider} is not available (got {sess.get_providers()})")
    nanodet = {o.name for o in sess.get_outputs()} >= {"scores", "boxes"}
    in_name = sess.get_inputs()[0].name
    iw, ih = map(int, a.size.lower().split("x"))
    grid = nanodet_grid(iw, ih) if nanodet else None
    w, h = probe_size(a.video)
    start = time.perf_counter()
    ff = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-i", a.video, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE
    )
    frames, ndet, rows = 0, 0, []

    def flush(batch):
        nonlocal frames, ndet
        if nanodet:
            scores, dist = sess.run(["scores", "boxes"], {in_name: np.stack([b for b, _ in batch])})
        else:
            enc, logits, anchors = sess.run(None, {in_name: np.stack(batch)})
        for i in range(len(batch)):
            if nanodet:
                dets = nanodet_decode(scores[i], dist[i], grid, batch[i][1])
            else:
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
        if nanodet:
            batch.append(nanodet_input(img, iw, ih))
        else:
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
