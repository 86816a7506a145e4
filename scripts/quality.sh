#!/usr/bin/env bash
# Draft quality on the shared sequences and the variants made from them, the footage the
# defaults are chosen on (never the sample video):
#
#   scripts/quality.sh OUT [prelabel run options...]
#
# makes the variants of all six shared sequences once (scripts/make_variants.py; by default
# orig, far = shrunk 3x into 1080p, sub4 = one frame in four; PRELABEL_VARIANTS=orig,mid,...
# picks others) under $PRELABEL_CACHE/variants, labels all of them with `prelabel run --classes
# person` plus your options into OUT/, and prints `prelabel eval`'s table per video with the
# OVERALL row (counts summed over all, each sequence by its benchmark's rules), the
# diagnostics, annotator time, and OUT/eval.json. About 20 minutes on 2 cores once the
# variants are made. E.g. `scripts/quality.sh /tmp/q --refine none` shows what refinement is worth.
# Needs ../shared/data (or $PRELABEL_SHARED) and a release build ($PRELABEL_BIN to use another).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:?usage: scripts/quality.sh OUT [prelabel run options...]}; shift
SHARED=${PRELABEL_SHARED:-$ROOT/../shared}
VARIANTS=${PRELABEL_CACHE:-$HOME/.cache/prelabel}/variants
BIN=${PRELABEL_BIN:-$ROOT/target/release/prelabel}
[[ -x $BIN ]] || (cd "$ROOT" && cargo build --release -q)
ONLY=${PRELABEL_VARIANTS:-orig,far,sub4}
mapfile -t names < <(python3 "$ROOT/scripts/make_variants.py" "$VARIANTS" --shared "$SHARED" --only "$ONLY")
[[ ${#names[@]} -gt 0 ]] || { echo "quality.sh: no variants made" >&2; exit 1; }
mkdir -p "$OUT"
videos=() pairs=()
for n in "${names[@]}"; do
    videos+=("$VARIANTS/$n/$n.mp4")
    pairs+=(--gt "$VARIANTS/$n/gt/gt.txt" --pred "$OUT/labels/$n.mp4/mot.txt")
done
start=$SECONDS
"$BIN" run "${videos[@]}" --out "$OUT/labels" --classes person --device cpu -q "$@" || true
echo "labelled ${#videos[@]} videos in $((SECONDS - start)) s"
"$BIN" eval "${pairs[@]}" --json > "$OUT/eval.json"
"$BIN" eval "${pairs[@]}"
python3 - "$OUT/eval.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("annotator time per video (hours, drafts / from scratch, saved):")
for v in d["videos"]:
    a = v["annotator"]
    print(f"  {v['name']:28s} {a['drafts_hours']:.3f} / {a['scratch_hours']:.3f}  {100 * a['saved']:.0f}%")
PY
