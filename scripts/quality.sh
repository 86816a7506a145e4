#!/usr/bin/env bash
# Draft quality on the shared sequences and the variants made from them, the footage the
# defaults are chosen on (never the sample video):
#
#   scripts/quality.sh OUT [prelabel run options...]
#
# makes the variants once (scripts/make_variants.py: as they are, far away in 1080p, half size,
# one frame in four, far and one in four) under $PRELABEL_CACHE/variants, labels all of them
# with `prelabel run --classes person` plus your options into OUT/, and prints
# `prelabel eval`'s table (MOTA, IDF1, ... and annotator time) and OUT/eval.json.
# E.g. `scripts/quality.sh /tmp/q --refine none` shows what refinement is worth.
# Needs ../shared/data/mot15 (or $PRELABEL_SHARED) and a release build ($PRELABEL_BIN to use another).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:?usage: scripts/quality.sh OUT [prelabel run options...]}; shift
SHARED=${PRELABEL_SHARED:-$ROOT/../shared}
VARIANTS=${PRELABEL_CACHE:-$HOME/.cache/prelabel}/variants
BIN=${PRELABEL_BIN:-$ROOT/target/release/prelabel}
[[ -x $BIN ]] || (cd "$ROOT" && cargo build --release -q)
python3 "$ROOT/scripts/make_variants.py" "$VARIANTS" --shared "$SHARED" >/dev/null
mkdir -p "$OUT"
"$BIN" run "$VARIANTS"/*/*.mp4 --out "$OUT/labels" --classes person --device cpu -q "$@" || true
"$BIN" eval --gt-dir "$VARIANTS" --pred-dir "$OUT/labels" --json > "$OUT/eval.json"
"$BIN" eval --gt-dir "$VARIANTS" --pred-dir "$OUT/labels"
python3 - "$OUT/eval.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("annotator time per video (hours, drafts / from scratch, saved):")
for v in d["videos"]:
    a = v["annotator"]
    print(f"  {v['name']:24s} {a['drafts_hours']:.3f} / {a['scratch_hours']:.3f}  {100 * a['saved']:.0f}%")
PY
