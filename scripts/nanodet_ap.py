#!/usr/bin/env python3
"""Dev tool: person AP50 and CPU time per frame of NanoDet-g (fp32 / int8 ONNX) and the SSD.

    nanodet_ap.py [--nanodet models/nanodet_g_coco.onnx ...] [--ssd models/ssd_mobilenet_v2_coco.onnx]
                  [--data ../shared/data/mot15] [--seq TUD-Stadtmitte ...] [--size 416x320]
                  [--size-for KITTI-17=672x224] [--threads 2] [--max-frames N] [--json OUT]
    nanodet_ap.py --time 200 [--nanodet ...] [--ssd ...]     timing only, models interleaved

Run with the tools venv (.deps/venv: onnxruntime, OpenCV). For each MOT15 sequence folder
(its .mp4 and gt/gt.txt; video frame n is gt frame n + 1):
- NanoDet: the frame letterboxed at the top-left into W x H exactly as prelabel does it
  (make_int8_nanodet.letterbox: BGR, (p - mean) / std, zero padding); outputs `scores`
  [1,A,80] and `boxes` [1,A,44] decoded as GFL: softmax over the 11 bins of each side,
  distance = sum(p_i * i) * stride, centre ((x + 0.5) * s, (y + 0.5) * s), box = (cx - l,
  cy - t, cx + r, cy + b), divided by the letterbox scale; cells row-major per stride,
  strides 8, 16, 32 in that order.
- SSD (raw head, 300x300 NHWC, RGB, whole frame stretched, pixel * 2/255 - 1, TF OD API
  centre-size decode with scales 10, 10, 5, 5, person = logit 1).
Then person detections with score >= 0.05, NMS at IoU 0.6 (per class: only the person class
is scored, so other classes never suppress a person), no cap on the count.

AP50: VOC all-point AP, detections of all frames ranked by score, each matched to the
unmatched ground-truth box of its frame with the highest IoU >= 0.5. MOT15 rows with conf 0
(KITTI-17 and ETH-Sunnyday have some) are ignore regions: a detection matching no scored
box but overlapping an ignore box by IoU >= 0.5 counts neither way ("ap50"); "ap50_skip"
drops those rows instead (a detection on one is a false positive), as mot_eval.py does.
Ground-truth boxes are used as written (x, y, w, h).

Time: ONNX Runtime session.run only (no decode, no preprocessing), batch 1, intra-op threads
--threads, sequential execution; median over the frames after 3 warm-up runs. With --time N
only timing: N frames of the first sequence (at --size, the SSD at 300x300), each frame run
through every model in turn (the order rotating), so that load from other processes falls
on all models alike; wall and CPU time (all threads; pool threads told not to spin, so CPU
time is the work done, which load from other processes hardly changes), medians and ratios to
the last model.
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_int8_nanodet import letterbox  # noqa: E402  (the pipeline's preprocessing)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRIDES = (8, 16, 32)
BINS = 11
SCORE_MIN = 0.05
NMS_IOU = 0.6


def iou_matrix(a, b):
    """IoU of each box in a [n,4] with each in b [m,4], (x1,y1,x2,y2)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def nms(boxes, scores, iou):
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        rest = order[1:]
        order = rest[iou_matrix(boxes[i:i + 1], boxes[rest])[0] <= iou]
    return np.array(keep, dtype=np.int64)


def anchor_grid(w, h):
    """Per anchor: centre x, centre y, stride (strides 8, 16, 32; row-major cells)."""
    cx, cy, st = [], [], []
    for s in STRIDES:
        gh, gw = h // s, w // s
        yy, xx = np.mgrid[0:gh, 0:gw]
        cx.append(((xx.ravel() + 0.5) * s).astype(np.float32))
        cy.append(((yy.ravel() + 0.5) * s).astype(np.float32))
        st.append(np.full(gh * gw, s, np.float32))
    return np.concatenate(cx), np.concatenate(cy), np.concatenate(st)


def decode_nanodet(scores, boxes, grid, scale, cls=0):
    """One image's [A,80] scores and [A,44] distributions -> person boxes (frame px), scores."""
    cx, cy, st = grid
    sel = np.nonzero(scores[:, cls] >= SCORE_MIN)[0]
    d = boxes[sel].reshape(-1, 4, BINS)
    p = np.exp(d - d.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    dist = (p * np.arange(BINS, dtype=np.float32)).sum(-1) * st[sel, None]
    b = np.stack([cx[sel] - dist[:, 0], cy[sel] - dist[:, 1], cx[sel] + dist[:, 2], cy[sel] + dist[:, 3]], 1)
    return b / scale, scores[sel, cls]


def ssd_preprocess(bgr):
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
    x = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_LINEAR)
    return (x * (2.0 / 255.0) - 1.0)[None].astype(np.float32)


def decode_ssd(enc, logits, anchors, fw, fh):
    sc = 1 / (1 + np.exp(-logits[0, :, 1]))
    sel = np.nonzero(sc >= SCORE_MIN)[0]
    t = enc[0, sel, 0]
    a = anchors[sel]
    ha, wa = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    ya, xa = a[:, 0] + ha / 2, a[:, 1] + wa / 2
    yc, xc = t[:, 0] / 10 * ha + ya, t[:, 1] / 10 * wa + xa
    h, w = np.exp(t[:, 2] / 5) * ha, np.exp(t[:, 3] / 5) * wa
    b = np.stack([(xc - w / 2) * fw, (yc - h / 2) * fh, (xc + w / 2) * fw, (yc + h / 2) * fh], 1)
    return b, sc[sel]


def read_gt(path):
    """frame (0-based video index) -> (scored boxes [n,4], ignore boxes [m,4])."""
    gt = {}
    for line in open(path):
        f = line.strip().split(",")
        if len(f) < 7:
            continue
        fr, x, y, w, h, conf = int(f[0]) - 1, *map(float, f[2:6]), float(f[6])
        s, ig = gt.setdefault(fr, ([], []))
        (s if conf != 0 else ig).append([x, y, x + w, y + h])
    return {k: (np.array(s).reshape(-1, 4), np.array(ig).reshape(-1, 4)) for k, (s, ig) in gt.items()}


def ap50(dets, gt, n_frames, use_ignore=True):
    """VOC all-point AP at IoU 0.5. dets: frame -> (boxes, scores)."""
    recs = []
    n_pos = 0
    for fr in range(n_frames):
        g, ig = gt.get(fr, (np.zeros((0, 4)), np.zeros((0, 4))))
        if not use_ignore:
            ig = np.zeros((0, 4))  # conf-0 rows dropped: a detection on one is a false positive
        n_pos += len(g)
        b, s = dets.get(fr, (np.zeros((0, 4)), np.zeros(0)))
        order = np.argsort(-s, kind="stable")
        ious = iou_matrix(b, g)
        ign = iou_matrix(b, ig).max(1) >= 0.5 if len(ig) else np.zeros(len(b), bool)
        used = np.zeros(len(g), bool)
        for i in order:
            tp = 0
            if len(g):
                cand = np.where(used, -1, ious[i])
                j = int(np.argmax(cand))
                if cand[j] >= 0.5:
                    used[j] = True
                    tp = 1
            if not tp and ign[i]:
                continue
            recs.append((s[i], tp))
    if not recs or n_pos == 0:
        return 0.0
    recs.sort(key=lambda r: -r[0])
    tp = np.cumsum([r[1] for r in recs])
    fp = np.cumsum([1 - r[1] for r in recs])
    rec = tp / n_pos
    prec = tp / np.maximum(tp + fp, 1e-9)
    mrec = np.concatenate([[0], rec, [1]])
    mpre = np.concatenate([[0], prec, [0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]).sum())


def session(path, threads, spin=True):
    so = ort.SessionOptions()
    if not spin:  # idle pool threads sleep instead of spinning: CPU time is then work done
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def frames_of(video, limit):
    cap = cv2.VideoCapture(video)
    out = []
    while limit is None or len(out) < limit:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(bgr)
    if not out:
        sys.exit(f"nanodet_ap: no frames in {video}")
    return out


def evaluate(kind, sess, frames, gt, size):
    dets, times = {}, []
    fh, fw = frames[0].shape[:2]
    if kind == "nanodet":
        w, h = size
        grid = anchor_grid(w, h)
    for i, bgr in enumerate(frames + frames[:3]):
        if kind == "nanodet":
            x, scale = letterbox(bgr, w, h)
            t0 = time.perf_counter()
            scores, boxes = sess.run(["scores", "boxes"], {"input": x})
            times.append(time.perf_counter() - t0)
            b, s = decode_nanodet(scores[0], boxes[0], grid, scale)
        else:
            x = ssd_preprocess(bgr)
            t0 = time.perf_counter()
            enc, logits, anchors = sess.run(["concat:0", "concat_1:0", "Concatenate/concat:0"],
                                            {"Preprocessor/sub:0": x})
            times.append(time.perf_counter() - t0)
            b, s = decode_ssd(enc, logits, anchors, fw, fh)
        if i >= len(frames):
            continue  # the warm-up runs at the end repeat frames: timed only
        keep = nms(b, s, NMS_IOU) if len(s) else np.zeros(0, np.int64)
        dets[i] = (b[keep], s[keep])
    # Warm-up: drop the first 3 timings.
    t = np.array(times[3:]) * 1e3
    return {"ap50": ap50(dets, gt, len(frames)), "ap50_skip": ap50(dets, gt, len(frames), use_ignore=False),
            "ms_median": float(np.median(t)), "ms_mean": float(t.mean()), "frames": len(frames)}


def time_models(models, sessions, frames, size, rounds):
    w, h = size
    xs = [letterbox(f, w, h)[0] for f in frames]
    ys = [ssd_preprocess(f) for f in frames]
    wall = {p: [] for _, p in models}
    cpu = {p: [] for _, p in models}
    for _, p in models:  # warm-up
        for _ in range(3):
            run_one(models, sessions, p, xs[0], ys[0])
    for i in range(rounds):
        k = i % len(frames)
        order = models[i % len(models):] + models[:i % len(models)]
        for _, p in order:
            t0, c0 = time.perf_counter(), time.process_time()
            run_one(models, sessions, p, xs[k], ys[k])
            wall[p].append(time.perf_counter() - t0)
            cpu[p].append(time.process_time() - c0)
    base_w, base_c = np.median(wall[models[-1][1]]), np.median(cpu[models[-1][1]])
    print(f"{len(frames)} frames, {rounds} rounds; ratios to {os.path.basename(models[-1][1])}")
    for _, p in models:
        w, c = np.median(wall[p]), np.median(cpu[p])
        print(f"{os.path.basename(p):32s} wall median {w * 1e3:7.1f} ms (x{w / base_w:.2f}, p10 "
              f"{np.percentile(wall[p], 10) * 1e3:.1f})   CPU median {c * 1e3:7.1f} ms (x{c / base_c:.2f})", flush=True)


def run_one(models, sessions, p, x, y):
    kind = dict((q, k) for k, q in models)[p]
    if kind == "nanodet":
        sessions[p].run(["scores", "boxes"], {"input": x})
    else:
        sessions[p].run(["concat:0", "concat_1:0", "Concatenate/concat:0"], {"Preprocessor/sub:0": y})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nanodet", nargs="*", default=[os.path.join(ROOT, "models/nanodet_g_coco.onnx"),
                                                       os.path.join(ROOT, "models/nanodet_g_coco_int8.onnx")])
    ap.add_argument("--ssd", nargs="*", default=[os.path.join(ROOT, "models/ssd_mobilenet_v2_coco.onnx")])
    ap.add_argument("--data", default=os.path.join(os.environ.get("PRELABEL_SHARED", os.path.join(ROOT, "..", "shared")),
                                                   "data", "mot15"))
    ap.add_argument("--seq", nargs="*", default=["TUD-Stadtmitte", "TUD-Campus", "ETH-Sunnyday", "KITTI-17"])
    ap.add_argument("--size", default="416x320", help="NanoDet input WxH (default 416x320)")
    ap.add_argument("--size-for", nargs="*", default=["KITTI-17=672x224"],
                    help="SEQ=WxH overrides (default KITTI-17=672x224: what models/nanodet_g_coco.toml's fit picks for 1224x370)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-frames", type=int)
    ap.add_argument("--json")
    ap.add_argument("--time", type=int, metavar="N", help="timing only: N interleaved rounds")
    a = ap.parse_args()
    parse = lambda s: tuple(int(v) for v in s.split("x"))  # noqa: E731
    sizes = {k: parse(v) for k, v in (o.split("=") for o in a.size_for)}
    models = [("nanodet", p) for p in a.nanodet] + [("ssd", p) for p in a.ssd]
    sessions = {p: session(p, a.threads, spin=not a.time) for _, p in models}
    if a.time:
        seq = a.seq[0]
        frames = frames_of(os.path.join(a.data, seq, f"{seq}.mp4"), 50)
        time_models(models, sessions, frames, sizes.get(seq, parse(a.size)), a.time)
        return
    results = []
    for seq in a.seq:
        d = os.path.join(a.data, seq)
        frames = frames_of(os.path.join(d, f"{seq}.mp4"), a.max_frames)
        gt = read_gt(os.path.join(d, "gt", "gt.txt"))
        size = sizes.get(seq, parse(a.size))
        for kind, p in models:
            r = evaluate(kind, sessions[p], frames, gt, size)
            r.update(seq=seq, model=os.path.basename(p), size="%dx%d" % (size if kind == "nanodet" else (300, 300)))
            results.append(r)
            print(f"{seq:15s} {r['model']:32s} {r['size']:8s} AP50 {r['ap50']:.3f} (conf-0 rows as FP targets: "
                  f"{r['ap50_skip']:.3f})  {r['ms_median']:.1f} ms/frame  ({r['frames']} frames)", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
