#!/usr/bin/env python3
"""Scores a tracker's MOTChallenge file against ground truth with py-motmetrics.

    scripts/mot_eval.py GT PRED [--iou 0.5]

GT: a MOTChallenge gt.txt (frame,id,x,y,w,h,conf,...; rows with conf 0 are ignored, as the
MOT15 benchmark does). PRED: a prelabel mot.txt (frame,id,x,y,w,h,score,-1,-1,-1, frames from
1). Both are read with motmetrics' own 'mot15-2D' reader. Prints MOTA, MOTP, IDF1, id
switches, fragmentations and counts, then one JSON line with the same numbers for scripts and tests.
When TrackEval (the MOTChallenge reference, PyPI `trackeval`) is importable, the JSON also has
its HOTA, DetA, AssA, DetRe, DetPr, AssRe, AssPr and LocA (means over its 19 IoU thresholds),
computed on the same boxes motmetrics read.

MOT15 ground truth only has pedestrians: run prelabel with --classes person.
Needs motmetrics (1.4.0), which calls np.asfarray; numpy 2 removed it, so it is put back here.
"""
import argparse
import json
import sys

import numpy as np

if not hasattr(np, "asfarray"):
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)

import motmetrics as mm  # noqa: E402

METRICS = ["mota", "motp", "idf1", "idp", "idr", "precision", "recall", "num_switches",
           "num_false_positives", "num_misses", "num_fragmentations", "num_objects", "num_predictions",
           "num_unique_objects", "mostly_tracked", "partially_tracked", "mostly_lost"]
RATIOS = {"mota", "motp", "idf1", "idp", "idr", "precision", "recall"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gt")
    ap.add_argument("pred")
    ap.add_argument("--iou", type=float, default=0.5, help="IoU a prediction needs to match (default 0.5)")
    args = ap.parse_args()

    gt = mm.io.loadtxt(args.gt, fmt="mot15-2D", min_confidence=1)
    pred = mm.io.loadtxt(args.pred, fmt="mot15-2D")
    # compare_to_groundtruth takes a distance threshold: 1 - IoU.
    acc = mm.utils.compare_to_groundtruth(gt, pred, "iou", distth=1.0 - args.iou)
    summary = mm.metrics.create().compute(acc, metrics=METRICS, name="seq")
    row = summary.loc["seq"]
    out = {m: (float(row[m]) if m in RATIOS else int(row[m])) for m in METRICS}
    print(f"MOTA {out['mota']:.4f}  IDF1 {out['idf1']:.4f}  IDs {out['num_switches']}  "
          f"FP {out['num_false_positives']}  FN {out['num_misses']}  MOTP {out['motp']:.4f}  "
          f"Frag {out['num_fragmentations']}  GT objects {out['num_objects']}  predictions {out['num_predictions']}  "
          f"MT {out['mostly_tracked']}/{out['num_unique_objects']}")
    out.update(trackeval_hota(gt, pred))
    print(json.dumps(out))
    return 0


def trackeval_hota(gt, pred):
    """TrackEval's HOTA on the frames and boxes motmetrics loaded, or {} without TrackEval."""
    try:
        from trackeval.metrics import HOTA
        from trackeval.datasets._base_dataset import _BaseDataset
    except ImportError:
        return {}
    frames = sorted(set(gt.index.get_level_values(0)) | set(pred.index.get_level_values(0)))
    gt_ids = {i: n for n, i in enumerate(dict.fromkeys(gt.index.get_level_values(1)))}
    pr_ids = {i: n for n, i in enumerate(dict.fromkeys(pred.index.get_level_values(1)))}
    data = {"gt_ids": [], "tracker_ids": [], "similarity_scores": [], "num_gt_ids": len(gt_ids),
            "num_tracker_ids": len(pr_ids), "num_gt_dets": len(gt), "num_tracker_dets": len(pred)}
    cols = ["X", "Y", "Width", "Height"]
    for f in frames:
        g = gt.loc[f] if f in gt.index.get_level_values(0) else gt.iloc[:0]
        p = pred.loc[f] if f in pred.index.get_level_values(0) else pred.iloc[:0]
        data["gt_ids"].append(np.array([gt_ids[i] for i in g.index], dtype=int))
        data["tracker_ids"].append(np.array([pr_ids[i] for i in p.index], dtype=int))
        data["similarity_scores"].append(
            _BaseDataset._calculate_box_ious(g[cols].to_numpy(float), p[cols].to_numpy(float), box_format="xywh"))
    res = HOTA().eval_sequence(data)
    names = {"HOTA": "hota", "DetA": "det_a", "AssA": "ass_a", "DetRe": "det_re", "DetPr": "det_pr",
             "AssRe": "ass_re", "AssPr": "ass_pr", "LocA": "loc_a"}
    return {"hota_" + v if v != "hota" else "hota": float(np.mean(res[k])) for k, v in names.items()}


if __name__ == "__main__":
    sys.exit(main())
