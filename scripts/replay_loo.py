#!/usr/bin/env python3
"""Choose tracking and refine settings without fitting one sequence: replay, then leave one out.

    scripts/replay_loo.py GRID [--out DIR] [--shared ../shared] [--det-level 0.2]

GRID has one setting a line, `name key=value ...` (keys as `examples/retrack` takes them, e.g.
`refine.stitch.max_gap_s=2`, `tracker.buffer_s=1.5`, `refine.steps=stitch,smooth`); the first
line is the baseline (usually `default` with no keys). For the 18 videos of scripts/quality.sh
(six shared sequences: as they are, far, one frame in four) it

  1. detects once, cached: `prelabel run --no-track --score-threshold LEVEL` (tiles as the
     pipeline's probe chooses them) into DIR/dets, and the colours the tracker would read from
     each box (`examples/looks`);
  2. replays tracking and refinement per setting (`examples/retrack ... looks=1`: seconds);
  3. scores each with `prelabel eval` and prints the change against the baseline per video,
     then the leave-one-sequence-out check: for each sequence, the setting best on the other
     five (mean MOTA and IDF1 over their three videos), scored on the sixth.

LEVEL (`--det-level`) is 0.2 by default: the level the pipeline itself detects down to (the
lower of `-s` and `--track-low`). Where tiles overlap, the boxes under it change which cut
boxes the merge keeps, so a lower level scores a little apart from the pipeline: on
2026-12-06, against `scripts/quality.sh` on the same build, detections at 0.2 read MOT16-09
0.6178 / 0.7043 (the pipeline 0.6182 / 0.7045) and MOT20-01 0.3652 / 0.4526 (0.3653 /
0.4526), where the earlier cache at 0.1 read 0.6150 / 0.7059 and 0.3630 / 0.4481; 13 of the
18 videos were exact either way. Use a lower level only to replay `tracker.low` under 0.2.
The level is kept in DIR/dets.level (a cache without one was made at 0.1), and a cache made
at another level is refused. Until then it detected with `--tiles off` and could not see
the videos the pipeline tiles; that cache lived in target/replay, this one in
target/replay-tiles. Confirm a choice with `scripts/quality.sh` before making it a default.
Needs a release build with its examples (`cargo build --release --examples`).
"""
import argparse, json, os, shutil, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQS = ["TUD-Campus", "TUD-Stadtmitte", "ETH-Sunnyday", "KITTI-17", "MOT16-09", "MOT20-01"]
VARIANTS = ["orig", "far", "sub4"]


def sh(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, **kw)


def detections(out, shared, binary, examples, level):
    """DIR/dets/<video>/{<video>/mot.txt, fps, frames, size, looks.bin}, made once."""
    cache = os.path.join(os.environ.get("PRELABEL_CACHE", os.path.expanduser("~/.cache/prelabel")), "variants")
    names = sh(sys.executable, os.path.join(ROOT, "scripts/make_variants.py"), cache, "--shared", shared, "--only", ",".join(VARIANTS),
               capture_output=True, text=True).stdout.split()
    dets = os.path.join(out, "dets")
    made = dets + ".level"
    if os.path.isdir(dets) and os.listdir(dets):
        had = float(open(made).read()) if os.path.exists(made) else 0.1
        if had != level:
            sys.exit(f"replay_loo: {dets} holds detections down to {had}, not {level}: pass --det-level {had}, or another --out")
    os.makedirs(dets, exist_ok=True)
    with open(made, "w") as f:
        f.write(f"{level}\n")
    todo = [n for n in names if not os.path.exists(os.path.join(dets, n, "looks.bin"))]
    if todo:
        print(f"detecting {len(todo)} videos once (cached in {dets})", file=sys.stderr)
        runs = os.path.join(out, "runs")
        sh(binary, "run", *[os.path.join(cache, n, n + ".mp4") for n in todo], "--out", runs, "--classes", "person", "--device", "cpu",
           "-q", "--no-track", "--score-threshold", level)
        report = {v["folder"]: v for v in json.load(open(os.path.join(runs, "report.json")))["videos"]}
        for n in todo:
            video, seen = os.path.join(cache, n, n + ".mp4"), report[n + ".mp4"]
            if seen["status"] != "ok":
                sys.exit(f"replay_loo: {video}: {seen['status']}")
            os.makedirs(os.path.join(dets, n, n), exist_ok=True)
            shutil.copyfile(os.path.join(runs, n + ".mp4", "mot.txt"), os.path.join(dets, n, n, "mot.txt"))
            for name, value in (("fps", seen["fps"]), ("frames", seen["frames"]), ("size", f"{seen['width']} {seen['height']}")):
                with open(os.path.join(dets, n, name), "w") as f:
                    f.write(f"{value}\n")
            part = os.path.join(dets, n, "looks.bin.part")
            sh(os.path.join(examples, "looks"), video, os.path.join(dets, n, n, "mot.txt"), part)
            os.replace(part, os.path.join(dets, n, "looks.bin"))
    return dets, cache, names


def score(binary, examples, dets, cache, names, out, name, keys):
    """{video: (MOTA, IDF1)} of one setting, cached in DIR/replays/<name>.json."""
    where = os.path.join(out, "replays", name)
    js = where + ".json"
    if not os.path.exists(js):
        sh(os.path.join(examples, "retrack"), dets, where, "looks=1", *keys, stdout=subprocess.DEVNULL)
        pairs = [a for n in names for a in ("--gt", os.path.join(cache, n, "gt", "gt.txt"), "--pred", os.path.join(where, n + ".txt"))]
        with open(js, "w") as f:
            f.write(sh(binary, "eval", *pairs, "--json", capture_output=True, text=True).stdout)
    videos = json.load(open(js))["videos"]
    return {n: (v["tracking"]["mota"], v["tracking"]["idf1"]) for n, v in zip(names, videos)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("grid")
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "replay-tiles"))
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--det-level", type=float, default=0.2, help="lowest detector score kept (the pipeline's own: 0.2)")
    a = ap.parse_args()
    release = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
    binary, examples = os.path.join(release, "prelabel"), os.path.join(release, "examples")
    if not os.path.exists(os.path.join(examples, "retrack")):
        sh("cargo", "build", "--release", "--examples", cwd=ROOT)
    grid = [line.split() for line in open(a.grid) if line.strip() and not line.startswith("#")]
    dets, cache, names = detections(a.out, a.shared, binary, examples, a.det_level)
    results = {g[0]: score(binary, examples, dets, cache, names, a.out, g[0], g[1:]) for g in grid}
    base = results[grid[0][0]]

    def mean(r, seqs):
        vals = [x for n in names if n.rsplit("-", 1)[0] in seqs for x in r[n]]
        return sum(vals) / len(vals)
    print(f"{'MOTA/IDF1':12s}" + "".join(f"{n[:20]:>21s}" for n in names))
    for name, r in results.items():
        cells = [f"{r[n][0]:.3f}/{r[n][1]:.3f}" if r is base else f"{r[n][0] - base[n][0]:+.3f}/{r[n][1] - base[n][1]:+.3f}" for n in names]
        print(f"{name[:12]:12s}" + "".join(f"{c:>21s}" for c in cells) + f"   mean {mean(r, SEQS):.4f}")
    print("\nleave one sequence out: chosen on the other five, scored on the sixth (baseline in brackets)")
    for held in SEQS:
        best = max(results, key=lambda n: mean(results[n], [s for s in SEQS if s != held]))
        cells = [f"{v} {results[best][held + '-' + v][0]:.3f}/{results[best][held + '-' + v][1]:.3f} "
                 f"({base[held + '-' + v][0]:.3f}/{base[held + '-' + v][1]:.3f})" for v in VARIANTS]
        print(f"{held:15s} {best:12s} " + "  ".join(cells))


if __name__ == "__main__":
    main()
