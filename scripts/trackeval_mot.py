#!/usr/bin/env python3
"""Scores drafts with TrackEval's own MOTChallenge evaluation, preprocessing included.

    scripts/trackeval_mot.py --benchmark MOT20 --gt SEQ/gt/gt.txt --frames 429 --pred mot.txt

Runs `trackeval.datasets.MotChallenge2DBox` (the MOTChallenge reference, PyPI `trackeval`)
with HOTA, CLEAR and Identity on one sequence: for MOT16/17/20 it first removes draft boxes
that match distractors, static people and reflections, then scores pedestrians only; MOT15
skips that step. Prints one JSON line: mota, idf1, hota, det_a, ass_a, num_switches,
num_false_positives, num_misses, num_objects, num_predictions (after preprocessing).

The prediction file is a MOTChallenge text file (frames from 1); it is copied into the folder
layout TrackEval expects in a temporary directory. The ground truth is read where it is.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark", required=True, choices=["MOT15", "MOT16", "MOT17", "MOT20"])
    ap.add_argument("--gt", required=True, help="SEQ/gt/gt.txt")
    ap.add_argument("--frames", required=True, type=int, help="number of frames of the sequence")
    ap.add_argument("--pred", required=True, help="drafts, MOTChallenge text")
    args = ap.parse_args()

    import trackeval

    seq_dir = os.path.dirname(os.path.dirname(os.path.abspath(args.gt)))
    seq = os.path.basename(seq_dir)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "prelabel", "data")
        os.makedirs(data)
        shutil.copyfile(args.pred, os.path.join(data, seq + ".txt"))
        dataset = trackeval.datasets.MotChallenge2DBox({
            "GT_FOLDER": os.path.dirname(seq_dir),
            "TRACKERS_FOLDER": tmp,
            "OUTPUT_FOLDER": tmp,
            "BENCHMARK": args.benchmark,
            "SKIP_SPLIT_FOL": True,
            "SEQ_INFO": {seq: args.frames},
            "GT_LOC_FORMAT": "{gt_folder}/{seq}/gt/gt.txt",
            "TRACKERS_TO_EVAL": ["prelabel"],
            "PRINT_CONFIG": False,
        })
        evaluator = trackeval.Evaluator({
            "USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_ONLY_COMBINED": False,
            "PRINT_CONFIG": False, "TIME_PROGRESS": False, "DISPLAY_LESS_PROGRESS": True,
            "OUTPUT_SUMMARY": False, "OUTPUT_EMPTY_CLASSES": False, "OUTPUT_DETAILED": False,
            "PLOT_CURVES": False, "BREAK_ON_ERROR": True, "RETURN_ON_ERROR": False,
        })
        metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
                   trackeval.metrics.Identity({"PRINT_CONFIG": False})]
        stdout = sys.stdout
        sys.stdout = sys.stderr  # TrackEval prints progress; keep stdout for the JSON line.
        try:
            res, _ = evaluator.evaluate([dataset], metrics)
        finally:
            sys.stdout = stdout
    r = res["MotChallenge2DBox"]["prelabel"][seq]["pedestrian"]
    clear, ident, hota = r["CLEAR"], r["Identity"], r["HOTA"]
    print(json.dumps({
        "mota": float(clear["MOTA"]), "idf1": float(ident["IDF1"]), "hota": float(np.mean(hota["HOTA"])),
        "det_a": float(np.mean(hota["DetA"])), "ass_a": float(np.mean(hota["AssA"])),
        "num_switches": int(clear["IDSW"]), "num_false_positives": int(clear["CLR_FP"]),
        "num_misses": int(clear["CLR_FN"]), "num_objects": int(clear["CLR_TP"] + clear["CLR_FN"]),
        "num_predictions": int(clear["CLR_TP"] + clear["CLR_FP"]),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
