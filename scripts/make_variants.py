#!/usr/bin/env python3
"""Makes the footage the defaults are chosen on: variants of the shared MOTChallenge sequences.

    scripts/make_variants.py OUT [--shared ../shared] [--only NAME,...] [--seq SEQ,...]

For each sequence in SHARED/data/<benchmark>/ (mot15, mot16, mot20) it writes
OUT/<seq>-<variant>/<seq>-<variant>.mp4, OUT/<seq>-<variant>/gt/gt.txt (MOTChallenge, frames
from 1, every column kept: MOT16/20's classes too, so eval applies the same rules) and a
seqinfo.ini, moved and renumbered the same way as the pixels. Size and frame rate come from the
sequence's seqinfo.ini:

  orig    the sequence as it is, the file copied
  far     shrunk 3x into the middle of a black 1920x1080 frame: a 640x480 sequence's people
          are 20-100 px tall, as from 200 ft; a 1080p one's a third of their size
  mid     shrunk 2x into a black frame of at least 960x720
  sub4    one frame in four kept: a quarter of the frame rate, people move 4x as far
  farsub4 far and sub4 together

Cached: a variant whose files exist is not made again. Only ffmpeg is needed (set-up installs
it). The data stays outside the repository (MOTChallenge licence): OUT should be too.
"""
import argparse
import configparser
import os
import shutil
import subprocess
import sys

# name -> (scale factor, smallest canvas (w, h) or None, keep one frame in N)
VARIANTS = {
    "orig": (1.0, None, 1),
    "far": (1 / 3, (1920, 1080), 1),
    "mid": (1 / 2, (960, 720), 1),
    "sub4": (1.0, None, 4),
    "farsub4": (1 / 3, (1920, 1080), 4),
}
BENCHMARKS = ("mot15", "mot16", "mot20")


def even(v):
    return int(round(v / 2)) * 2


def seqinfo(seq_dir):
    """(width, height, frame rate) from the sequence's seqinfo.ini."""
    ini = configparser.ConfigParser()
    ini.read(os.path.join(seq_dir, "seqinfo.ini"))
    s = ini["Sequence"]
    return int(s["imWidth"]), int(s["imHeight"]), float(s["frameRate"])


def make(seq_dir, seq, name, out_root):
    scale, canvas, step = VARIANTS[name]
    dest = os.path.join(out_root, f"{seq}-{name}")
    video = os.path.join(dest, f"{seq}-{name}.mp4")
    gt_out = os.path.join(dest, "gt", "gt.txt")
    if os.path.isfile(video) and os.path.isfile(gt_out):
        return
    os.makedirs(os.path.dirname(gt_out), exist_ok=True)
    src = os.path.join(seq_dir, f"{seq}.mp4")
    width, height, fps = seqinfo(seq_dir)
    w, h = even(width * scale), even(height * scale)
    cw, ch = (max(canvas[0], w), max(canvas[1], h)) if canvas else (w, h)
    # far: centred; mid: a quarter of the picture's own size in from the top left (where it
    # has always been made, so cached and measured variants stay the same).
    ox, oy = ((cw - w) // 2, (ch - h) // 2) if name in ("far", "farsub4") else (min(w // 2, cw - w), min(h // 2, ch - h))
    filters = []
    if step > 1:
        filters.append(f"select='not(mod(n\\,{step}))',setpts=N/({fps / step}*TB)")
    if canvas:
        filters.append(f"scale={w}:{h},pad={cw}:{ch}:{ox}:{oy}")
    if not filters:
        shutil.copyfile(src, video + ".tmp.mp4")  # as it is: no re-encoding
    else:
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", src]
        cmd += ["-vf", ",".join(filters)]
        cmd += ["-r", str(fps / step), "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", video + ".tmp.mp4"]
        subprocess.run(cmd, check=True)
    sx, sy = w / width, h / height
    rows = []
    frames = 0
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
            frames = max(frames, nf)
            rows.append(f"{nf},{p[1]},{x * sx + ox:.2f},{y * sy + oy:.2f},{bw * sx:.2f},{bh * sy:.2f},{','.join(p[6:])}")
    with open(gt_out + ".tmp", "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(os.path.join(dest, "seqinfo.ini"), "w") as f:
        f.write(f"[Sequence]\nname={seq}-{name}\nframeRate={fps / step:g}\nimWidth={cw}\nimHeight={ch}\n")
    os.replace(gt_out + ".tmp", gt_out)
    os.replace(video + ".tmp.mp4", video)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    ap.add_argument("--only", default=",".join(VARIANTS), help="variants to make (default: all)")
    ap.add_argument("--seq", default="", help="sequences to use, comma separated (default: all)")
    args = ap.parse_args()
    data = os.path.join(args.shared, "data")
    found = {s: os.path.join(data, b, s) for b in BENCHMARKS if os.path.isdir(os.path.join(data, b))
             for s in sorted(os.listdir(os.path.join(data, b))) if os.path.isdir(os.path.join(data, b, s))}
    if not found:
        print(f"make_variants: no MOTChallenge data under {data}", file=sys.stderr)
        return 1
    seqs = [s for s in args.seq.split(",") if s] or list(found)
    for seq in seqs:
        if seq not in found:
            print(f"make_variants: no sequence {seq} under {data} ({', '.join(found)})", file=sys.stderr)
            return 1
        for name in args.only.split(","):
            if name not in VARIANTS:
                print(f"make_variants: unknown variant {name}; known: {', '.join(VARIANTS)}", file=sys.stderr)
                return 1
            make(found[seq], seq, name, args.out)
            print(f"{seq}-{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
