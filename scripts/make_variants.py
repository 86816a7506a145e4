#!/usr/bin/env python3
"""Makes the footage the defaults are chosen on: variants of the shared MOTChallenge sequences.

    scripts/make_variants.py OUT [--shared ../shared] [--only NAME,...] [--seq SEQ,...]

For each sequence in SHARED/data/mot15 it writes OUT/<seq>-<variant>/<seq>-<variant>.mp4 and
OUT/<seq>-<variant>/gt/gt.txt (MOTChallenge, frames from 1), moved and renumbered the same way
as the pixels:

  orig    the sequence as it is (640x480, 25 fps), the file copied
  far     shrunk 3x into a black 1920x1080 frame: people 20-100 px tall, as from 200 ft
  mid     shrunk 2x into a black 960x720 frame
  sub4    one frame in four kept: 6.25 fps, people move 4x as far between frames
  farsub4 far and sub4 together

Cached: a variant whose files exist is not made again. Only ffmpeg is needed (set-up installs
it). The data stays outside the repository (MOTChallenge licence): OUT should be too.
"""
import argparse
import os
import shutil
import subprocess
import sys

# name -> (scale factor, canvas (w, h), top-left (x, y), keep one frame in N)
VARIANTS = {
    "orig": (1.0, None, (0, 0), 1),
    "far": (1 / 3, (1920, 1080), (853, 460), 1),
    "mid": (1 / 2, (960, 720), (160, 120), 1),
    "sub4": (1.0, None, (0, 0), 4),
    "farsub4": (1 / 3, (1920, 1080), (853, 460), 4),
}


def even(v):
    return int(round(v / 2)) * 2


def make(seq_dir, seq, name, out_root):
    scale, canvas, (ox, oy), step = VARIANTS[name]
    dest = os.path.join(out_root, f"{seq}-{name}")
    video = os.path.join(dest, f"{seq}-{name}.mp4")
    gt_out = os.path.join(dest, "gt", "gt.txt")
    if os.path.isfile(video) and os.path.isfile(gt_out):
        return
    os.makedirs(os.path.dirname(gt_out), exist_ok=True)
    src = os.path.join(seq_dir, f"{seq}.mp4")
    w, h = even(640 * scale), even(480 * scale)
    filters = []
    if step > 1:
        filters.append(f"select='not(mod(n\\,{step}))',setpts=N/({25 / step}*TB)")
    if canvas:
        filters.append(f"scale={w}:{h},pad={canvas[0]}:{canvas[1]}:{ox}:{oy}")
    if not filters:
        shutil.copyfile(src, video + ".tmp.mp4")  # as it is: no re-encoding
        cmd = None
    else:
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", src]
        cmd += ["-vf", ",".join(filters)]
        cmd += ["-r", str(25 / step), "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", video + ".tmp.mp4"]
        subprocess.run(cmd, check=True)
    sx, sy = w / 640, h / 480
    rows = []
    with open(os.path.join(seq_dir, "gt", "gt.txt")) as f:
        for line in f:
            p = line.strip().split(",")
            if len(p) < 7:
                continue
            frame = int(float(p[0]))
            if (frame - 1) % step:
                continue
            x, y, bw, bh = (float(v) for v in p[2:6])
            nf = (frame - 1) // step + 1
            rows.append(f"{nf},{p[1]},{x * sx + ox:.2f},{y * sy + oy:.2f},{bw * sx:.2f},{bh * sy:.2f},{','.join(p[6:])}")
    with open(gt_out + ".tmp", "w") as f:
        f.write("\n".join(rows) + "\n")
    os.replace(gt_out + ".tmp", gt_out)
    os.replace(video + ".tmp.mp4", video)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    ap.add_argument("--only", default=",".join(VARIANTS), help="variants to make (default: all)")
    ap.add_argument("--seq", default="", help="sequences to use, comma separated (default: all)")
    args = ap.parse_args()
    root = os.path.join(args.shared, "data", "mot15")
    if not os.path.isdir(root):
        print(f"make_variants: no MOTChallenge data at {root}", file=sys.stderr)
        return 1
    seqs = [s for s in args.seq.split(",") if s] or sorted(os.listdir(root))
    for seq in seqs:
        if not os.path.isdir(os.path.join(root, seq)):
            print(f"make_variants: no sequence {seq} in {root}", file=sys.stderr)
            return 1
        for name in args.only.split(","):
            if name not in VARIANTS:
                print(f"make_variants: unknown variant {name}; known: {', '.join(VARIANTS)}", file=sys.stderr)
                return 1
            make(os.path.join(root, seq), seq, name, args.out)
            print(f"{seq}-{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
