#!/usr/bin/env python3
"""Loads one video's prelabel output with the third-party parsers annotators use, and checks
that they read what prelabel meant to write. Exit status 0 when every file loads and matches,
1 with one line per failure otherwise (tests/import_thirdparty.rs runs it).

    check_imports.py DIR --expect expect.json [--gt gt.txt --min-recall 0.5] [--json]

DIR is a video's output folder (coco.json, cvat.xml, labelstudio.json, labelstudio_config.xml,
mot.txt, yolo/). expect.json says what was written, computed from the labels, not the files:
    {"frames": N, "width": W, "height": H, "fps": F, "labels": [names in order],
     "tracks": {"<id>": {"label": name, "boxes": n, "needs_review": bool,
                         "held": n, "outside": 0|1}},   (held and outside optional)
     "yolo_track_ids": bool}
Parsers: datumaro (CVAT's format library) for cvat.xml ("cvat"), coco.json
("coco_instances"), mot.txt ("mot_seq") and yolo/ ("yolo"); label-studio-sdk's
LabelInterface for the Label Studio tasks; motmetrics for mot.txt against a ground truth.
Besides counts, boxes are compared across formats by track id and frame, which pins each
format's frame numbering against the others.
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from collections import Counter, defaultdict

import numpy as np

if not hasattr(np, "asfarray"):  # motmetrics 1.4.0 still calls it; removed in numpy 2
    np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)

import datumaro as dm  # noqa: E402
import motmetrics as mm  # noqa: E402
from datumaro.components.annotation import AnnotationType  # noqa: E402
from label_studio_sdk.label_interface import LabelInterface  # noqa: E402

failures = []
report = {}


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


def load(path, fmt, **kw):
    try:
        return dm.Dataset.import_from(path, fmt, **kw)
    except Exception as e:  # a rejection is a failure, with the parser's words
        failures.append(f"{fmt}: datumaro rejected {path}: {type(e).__name__}: {e}")
        return None


def label_names(ds):
    return [c.name for c in ds.categories()[AnnotationType.label]]


def boxes_of(ds):
    """(item, bbox) for every bbox annotation."""
    return [(item, a) for item in ds for a in item.annotations if a.type == AnnotationType.bbox]


def close(a, b, tol):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--expect", required=True)
    ap.add_argument("--gt", help="MOTChallenge ground truth to score mot.txt against")
    ap.add_argument("--min-recall", type=float, default=0.0)
    ap.add_argument("--json", action="store_true", help="print what was read as JSON")
    args = ap.parse_args()
    exp = json.load(open(args.expect))
    d = args.dir
    tracks = {int(k): v for k, v in exp["tracks"].items()}
    total_boxes = sum(t["boxes"] for t in tracks.values())
    labels = exp["labels"]
    # "held" (boxes CVAT and Label Studio keep) and "outside" may be left out, e.g. when
    # the expectations come from a real run's mot.txt rather than from the tracks.
    known_held = all("held" in t and "outside" in t for t in tracks.values())

    # ---------------------------------------------------------------- MOT (reference boxes)
    # mot.txt is read first: its boxes, keyed by (track id, frame from 0), are the reference
    # the other formats are compared with.
    ref = {}
    ds = load(os.path.join(d, "mot.txt"), "mot_seq")
    if ds is not None:
        got = boxes_of(ds)
        check(len(got) == total_boxes, f"mot_seq: {len(got)} boxes, expected {total_boxes}")
        per_track = Counter(a.attributes.get("track_id") for _, a in got)
        check(per_track == Counter({i: t["boxes"] for i, t in tracks.items()}), f"mot_seq: boxes per track {dict(per_track)}")
        for item, a in got:
            ref[(a.attributes["track_id"], int(item.id) - 1)] = a.get_bbox()
        frames = [int(item.id) for item in ds]
        check(not frames or (min(frames) >= 1 and max(frames) <= exp["frames"]), f"mot_seq: frames {min(frames)}..{max(frames)} not in 1..{exp['frames']}")
        report["mot_seq"] = {"items": len(ds), "boxes": len(got)}

    hyp = mm.io.loadtxt(os.path.join(d, "mot.txt"), fmt="mot15-2D")
    check(len(hyp) == total_boxes, f"motmetrics: read {len(hyp)} boxes, expected {total_boxes}")
    if args.gt:
        gt = mm.io.loadtxt(args.gt, fmt="mot15-2D", min_confidence=1)
        acc = mm.utils.compare_to_groundtruth(gt, hyp, "iou", distth=0.5)
        mh = mm.metrics.create()
        s = mh.compute(acc, metrics=["num_frames", "recall", "precision", "mota", "idf1", "num_switches"], name="x")
        m = {k: float(s[k].iloc[0]) for k in s.columns}
        report["motmetrics"] = m
        gt_frames = gt.index.get_level_values(0).nunique()
        check(m["num_frames"] >= gt_frames, f"motmetrics: scored {m['num_frames']} frames, ground truth has {gt_frames}")
        check(m["recall"] >= args.min_recall, f"motmetrics: recall {m['recall']:.3f} < {args.min_recall}")

    # ---------------------------------------------------------------- CVAT for video 1.1
    ds = load(os.path.join(d, "cvat.xml"), "cvat")
    if ds is not None:
        check(label_names(ds) == labels, f"cvat: labels {label_names(ds)}, expected {labels}")
        got = boxes_of(ds)
        outside = sum(1 for _, a in got if a.attributes.get("outside"))
        if known_held:
            held = sum(t["held"] + t["outside"] for t in tracks.values())
            check(len(got) == held, f"cvat: {len(got)} boxes, expected {held}")
            check(outside == sum(t["outside"] for t in tracks.values()), f"cvat: {outside} outside boxes")
        for item, a in got:
            tid, frame = a.attributes.get("track_id"), item.attributes["frame"]
            t = tracks.get(tid)
            if not check(t is not None, f"cvat: unknown track id {tid}"):
                continue
            check(0 <= frame < exp["frames"], f"cvat: track {tid} has a box on frame {frame}, outside 0..{exp['frames'] - 1}")
            check(labels[a.label] == t["label"], f"cvat: track {tid} is {labels[a.label]}, expected {t['label']}")
            check(a.attributes.get("needs_review") is t["needs_review"], f"cvat: track {tid} needs_review {a.attributes.get('needs_review')}")
            check(isinstance(a.attributes.get("score"), float), f"cvat: track {tid} frame {frame} has no numeric score")
            if not a.attributes.get("outside"):
                check((tid, frame) in ref and close(a.get_bbox(), ref[(tid, frame)], 0.011),
                      f"cvat: track {tid} frame {frame} box {a.get_bbox()} is not mot.txt's {ref.get((tid, frame))}")
        report["cvat"] = {"items": len(ds), "boxes": len(got), "outside": outside}

    # ---------------------------------------------------------------- COCO (TAO style)
    # datumaro only reads COCO laid out as annotations/instances_<subset>.json beside an
    # images/ folder; other readers (CVAT upload, pycocotools) take the bare file. Give
    # datumaro a copy laid out that way (docs/src/import.md says so too).
    tmp = tempfile.mkdtemp()
    os.makedirs(os.path.join(tmp, "annotations"))
    os.makedirs(os.path.join(tmp, "images"))
    shutil.copy(os.path.join(d, "coco.json"), os.path.join(tmp, "annotations", "instances_default.json"))
    ds = load(os.path.join(tmp, "annotations", "instances_default.json"), "coco_instances")
    if ds is not None:
        check(label_names(ds) == labels, f"coco: labels {label_names(ds)}, expected {labels}")
        check(len(ds) == exp["frames"], f"coco: {len(ds)} images, expected {exp['frames']}")
        got = boxes_of(ds)
        check(len(got) == total_boxes, f"coco: {len(got)} boxes, expected {total_boxes}")
        for item, a in got:
            tid, frame = a.attributes.get("track_id"), item.attributes["id"] - 1
            check(item.id == "frame_%06d" % frame, f"coco: image id {frame + 1} is named {item.id}")
            check(isinstance(a.attributes.get("score"), float), f"coco: track {tid} frame {frame} has no score")
            check(tracks.get(tid, {}).get("needs_review") is a.attributes.get("needs_review"), f"coco: track {tid} needs_review")
            check((tid, frame) in ref and close(a.get_bbox(), ref[(tid, frame)], 0.011),
                  f"coco: track {tid} frame {frame} box {a.get_bbox()} is not mot.txt's {ref.get((tid, frame))}")
        raw = json.load(open(os.path.join(d, "coco.json")))
        check(sorted(t["id"] for t in raw["tracks"]) == sorted(tracks), "coco: tracks list differs")
        check([im["frame_index"] for im in raw["images"]] == list(range(exp["frames"])), "coco: frame_index is not 0..frames-1")
        report["coco"] = {"items": len(ds), "boxes": len(got)}
    shutil.rmtree(tmp)

    # ---------------------------------------------------------------- YOLO
    if exp.get("yolo_track_ids"):
        # Six columns, which datumaro refuses (why the column is opt-in): read them here.
        n = 0
        for frame in range(exp["frames"]):
            for line in open(os.path.join(d, "yolo", "obj_train_data", "frame_%06d.txt" % frame)):
                f = line.split()
                n += 1
                check(len(f) == 6 and int(f[5]) in tracks and labels[int(f[0])] == tracks[int(f[5])]["label"],
                      f"yolo: frame {frame} line {line.strip()!r} is not class cx cy w h track_id")
        check(n == total_boxes, f"yolo: {n} lines, expected {total_boxes}")
        ds = None
    else:
        ds = load(os.path.join(d, "yolo"), "yolo")
    if ds is not None:
        check(label_names(ds) == labels, f"yolo: labels {label_names(ds)}, expected {labels}")
        check(len(ds) == exp["frames"], f"yolo: {len(ds)} images, expected {exp['frames']}")
        got = boxes_of(ds)
        check(len(got) == total_boxes, f"yolo: {len(got)} boxes, expected {total_boxes}")
        # No track ids in YOLO: compare each frame's boxes, sorted, with the clamped reference.
        per_frame = defaultdict(list)
        for (tid, frame), b in ref.items():
            x1, y1 = max(b[0], 0), max(b[1], 0)
            x2, y2 = min(b[0] + b[2], exp["width"]), min(b[1] + b[3], exp["height"])
            per_frame[frame].append([x1, y1, x2 - x1, y2 - y1])
        for item in ds:
            frame = int(item.id.split("_")[-1])
            mine = sorted(a.get_bbox() for a in item.annotations if a.type == AnnotationType.bbox)
            theirs = sorted(per_frame.get(frame, []))
            check(len(mine) == len(theirs) and all(close(m, t, 0.02) for m, t in zip(mine, theirs)),
                  f"yolo: frame {frame} boxes {mine[:3]}... are not mot.txt's {theirs[:3]}...")
        report["yolo"] = {"items": len(ds), "boxes": len(got)}

    # ---------------------------------------------------------------- Label Studio
    config = open(os.path.join(d, "labelstudio_config.xml")).read()
    tasks = json.load(open(os.path.join(d, "labelstudio.json")))
    li = LabelInterface(config)
    check(isinstance(tasks, list) and len(tasks) == 1, "labelstudio: expected a list of one task")
    task = tasks[0]
    # validate_task() on a task with predictions crashes in label-studio-sdk 2.1.2 (it calls
    # validate_prediction() without the prediction): check the data and predictions apart.
    check(li.validate_task({"data": task["data"]}), "labelstudio: LabelInterface.validate_task refused the task data")
    pred = task["predictions"][0]
    errors = li.validate_prediction(pred, return_errors=True)
    check(not errors, f"labelstudio: validate_prediction: {errors[:3]}")
    regions = pred["result"]
    check(len(regions) == len(tracks), f"labelstudio: {len(regions)} regions, expected {len(tracks)} tracks")
    for r in regions:
        tid = int(r["id"].split("-")[1])
        t = tracks.get(tid)
        if not check(t is not None, f"labelstudio: unknown region {r['id']}"):
            continue
        v = r["value"]
        check(v["labels"] == [t["label"]], f"labelstudio: {r['id']} labels {v['labels']}")
        check(v["framesCount"] == exp["frames"], f"labelstudio: {r['id']} framesCount {v['framesCount']}")
        check(not known_held or len(v["sequence"]) == t["held"], f"labelstudio: {r['id']} has {len(v['sequence'])} keyframes, expected {t.get('held')}")
        check([s["enabled"] for s in v["sequence"]][-1] is False, f"labelstudio: {r['id']} does not end")
        check(("meta" in r) == t["needs_review"], f"labelstudio: {r['id']} review note")
        for s in v["sequence"]:
            frame = s["frame"] - 1
            b = ref.get((tid, frame))
            if not check(b is not None, f"labelstudio: {r['id']} frame {s['frame']} has no mot.txt box"):
                continue
            px = [s["x"] * exp["width"] / 100, s["y"] * exp["height"] / 100, s["width"] * exp["width"] / 100, s["height"] * exp["height"] / 100]
            x1, y1 = max(b[0], 0), max(b[1], 0)
            clamped = [x1, y1, min(b[0] + b[2], exp["width"]) - x1, min(b[1] + b[3], exp["height"]) - y1]
            check(close(px, clamped, 0.02), f"labelstudio: {r['id']} frame {s['frame']} box {px} is not mot.txt's {clamped}")
            check(math.isclose(s["time"], frame / exp["fps"], abs_tol=1e-5), f"labelstudio: {r['id']} frame {s['frame']} time {s['time']}")
    report["labelstudio"] = {"regions": len(regions), "keyframes": sum(len(r["value"]["sequence"]) for r in regions)}

    if args.json:
        print(json.dumps(report))
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
