#!/usr/bin/env bash
# Set-up step: makes models/ssd_mobilenet_v2_coco_int8.onnx from the fp32 default model with
# scripts/make_int8.py (ONNX Runtime static quantization, calibrated on Debian opencv-doc's
# footage). Cached: redone only when make_int8.py or the fp32 model changes (the stamp in
# .deps/ is written last, on success; the model is written to a temp name and renamed).
#   scripts/make_int8.sh PYTHON    (PYTHON: a venv with onnxruntime, onnx, OpenCV: .deps/venv)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${1:?usage: make_int8.sh PYTHON}
FP32=$ROOT/models/ssd_mobilenet_v2_coco.onnx
OUT=$ROOT/models/ssd_mobilenet_v2_coco_int8.onnx
STAMP=$ROOT/.deps/int8.stamp
DATA=${PRELABEL_CALIBRATION_DATA:-/usr/share/doc/opencv-doc/examples/data}
[[ -f $FP32 ]] || { echo "make_int8: $FP32 missing (scripts/setup.sh makes it first)" >&2; exit 1; }
stamp=$(cat "$ROOT/scripts/make_int8.py" "$FP32" | sha256sum | cut -d' ' -f1)
[[ -f $OUT && $(cat "$STAMP" 2>/dev/null) == "$stamp" ]] && exit 0
printf '\033[1msetup:\033[0m %s\n' "quantizing the default model to int8 (once, ~30 s)" >&2
rm -f "$STAMP"
"$PY" "$ROOT/scripts/make_int8.py" "$FP32" "$OUT" --frames "$DATA"
echo "$stamp" >"$STAMP"
