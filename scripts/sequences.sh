#!/usr/bin/env bash
# Draft quality on the six shared sequences as they are (../shared/data: mot15, mot16, mot20):
#
#   scripts/sequences.sh OUT [prelabel run options...]
#
# labels each with `prelabel run --classes person --device cpu` plus your options into OUT/,
# then prints `prelabel eval`'s table for all six and writes OUT/eval.json. With --no-track
# the AP50 column scores the detector alone. The variants made from the sequences (scaled,
# one frame in N) are scripts/quality.sh's job. PRELABEL_DET=1 also runs the detector alone
# (--no-track at the tracker's lowest level, 0.2) into OUT/det/, so that eval's diagnostics
# split missed people into never detected and dropped by tracking or refinement.
# Needs ../shared/data (or $PRELABEL_SHARED) and a release build ($PRELABEL_BIN for another).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:?usage: scripts/sequences.sh OUT [prelabel run options...]}; shift
DATA=${PRELABEL_SHARED:-$ROOT/../shared}/data
BIN=${PRELABEL_BIN:-$ROOT/target/release/prelabel}
[[ -x $BIN ]] || (cd "$ROOT" && cargo build --release -q)
SEQS=(mot15/TUD-Campus mot15/TUD-Stadtmitte mot15/ETH-Sunnyday mot15/KITTI-17 mot16/MOT16-09 mot20/MOT20-01)
[[ -n ${PRELABEL_SEQS:-} ]] && read -r -a SEQS <<<"$PRELABEL_SEQS"
videos=() pairs=()
for s in "${SEQS[@]}"; do
    name=${s##*/}
    [[ -f $DATA/$s/$name.mp4 ]] || { echo "sequences.sh: $DATA/$s/$name.mp4 missing" >&2; exit 1; }
    videos+=("$DATA/$s/$name.mp4")
    pairs+=(--gt "$DATA/$s/gt/gt.txt" --pred "$OUT/labels/$name.mp4/mot.txt")
    [[ -n ${PRELABEL_DET:-} ]] && pairs+=(--det "$OUT/det/$name.mp4/mot.txt")
done
mkdir -p "$OUT"
"$BIN" run "${videos[@]}" --out "$OUT/labels" --classes person --device cpu -q "$@" || true
if [[ -n ${PRELABEL_DET:-} ]]; then
    "$BIN" run "${videos[@]}" --out "$OUT/det" --classes person --device cpu -q --no-track -s 0.2 "$@" || true
fi
"$BIN" eval "${pairs[@]}" --json >"$OUT/eval.json"
"$BIN" eval "${pairs[@]}"
