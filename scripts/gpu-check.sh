#!/usr/bin/env bash
# One-shot GPU check: everything prelabel has never run on a real GPU, measured in one go on a
# node with no network and only the NVIDIA driver and the CUDA 13 runtime (Python wheels
# nvidia-*-cu13 or the system libraries), within 8 minutes on an H100/H200. The book's page
# docs/src/devices.md ("One-shot GPU check") says how to use it; here is what it does.
#
#   scripts/gpu-check.sh pack PARTS           on the build machine (Debian 12, after scripts/setup.sh):
#                                             makes the kit, xz-compressed, in pieces of at most
#                                             60 MB (GPU_CHECK_PIECE_BYTES), in PARTS/
#   scripts/gpu-check.sh run PARTS [options]  on the GPU node: checks and assembles the pieces, runs
#                                             every step below, writes one results file (markdown)
#   scripts/gpu-check.sh assemble PARTS DEST  only check the pieces and unpack the kit as DEST/gpu-kit
#
# run options:
#   --out FILE      results file (default gpu-check-results.md in the current folder)
#   --work DIR      where the kit is unpacked and the clips and labels go (default: a temp folder)
#   --dry-run       check the pieces' sums, print the plan and exit: no GPU, nothing unpacked
#
# The kit: one tar of gpu-kit/ (with its own SHA256SUMS), compressed with xz -9, cut into
# gpu-kit.tar.xz.000, .001, ... beside a SHA256SUMS of the pieces (an uncompressed tar in
# pieces, as `prelabel bundle --pieces` writes, is read too). It holds only what the node
# lacks: the node (this workplace's CUDA image) has the NVIDIA driver, the CUDA 13 and cuDNN 9
# libraries as nvidia-* Python wheels, Python 3.12 with numpy and OpenCV, and a CPU-only
# onnxruntime; it has no ffmpeg libraries, no ONNX Runtime with CUDA and no network.
#   bundle/     `prelabel bundle` with ONNX Runtime 1.31.1's CUDA build (from the PyPI wheel
#               onnxruntime-gpu, built for CUDA 13 / cuDNN 9): the program, libonnxruntime.so
#               (CPU and CUDA providers: no separate CPU build), the CUDA provider with only its
#               sm_90 (H100/H200) GPU code kept (scripts/fatbin_keep_arch.py), ffmpeg libraries,
#               libvulkan.so.1, the default model (NanoDet-g)
#   python/     the wheel's onnxruntime package for the Python baseline, without its copies of
#               the libraries (the provider libraries are linked in from bundle/lib at run time)
#   bin/        the shader benches (benches/shaders.rs, benches/nms.rs), without debug
#               information; the ffmpeg and ffprobe programs (they run on the bundle's libraries)
#   repo/       models/*.toml, the int8 SSD (the NMS bench decodes SSD outputs),
#               scripts/baseline_python.py; data/ the TUD clips the benches read
# An xz program is not needed on the node: without one, Python's lzma module unpacks.
#
# Steps on the node, each under its own time limit, a failed step recorded and the rest run:
#   1 GPU, driver and CUDA libraries found; 2 shader benches on the real adapter; 3 two 1080p
#   H.264 clips made with ffmpeg (8 videos in all); 4 prelabel on them (CUDA provider, shaders,
#   NVDEC if the build has it, --jobs auto if it has that); 5 the same clip through prelabel
#   alone and through Python onnxruntime-gpu (scripts/baseline_python.py, the same NanoDet-g
#   at 768x448, what prelabel picks for 1080p), the ratio.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# 60 MB a piece: with the repository (2 MB) it fits one device call's 64 MiB.
PIECE_BYTES=${GPU_CHECK_PIECE_BYTES:-60000000}
ORT_GPU_VERSION=1.31.1
ORT_GPU_WHEEL=onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl
ORT_GPU_SHA256=05d548956197b9d01f59b625de740e0d6be3593f874e241a12dc0362650ecdf7
# The GPU architectures whose code the CUDA provider keeps: 90 = H100, H200.
GPU_ARCHS=${GPU_CHECK_ARCHS:-90}
# Seconds per step; together well inside 8 minutes (assembly and unpacking take ~30 s more).
# The environment may lower them (a trial run on a slow machine).
BUDGET_SHADERS=${BUDGET_SHADERS:-90} BUDGET_NMS=${BUDGET_NMS:-50} BUDGET_CLIPS=${BUDGET_CLIPS:-50}
BUDGET_JOB=${BUDGET_JOB:-110} BUDGET_ONE=${BUDGET_ONE:-45} BUDGET_PY=${BUDGET_PY:-60}
# Whatever the steps take, none starts or runs past this many seconds after the start.
LIMIT_S=${GPU_CHECK_LIMIT_S:-465}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}
die() { echo "gpu-check: error: $*" >&2; exit 1; }
bad_usage() { echo "gpu-check: $*" >&2; echo "run 'scripts/gpu-check.sh --help' for usage" >&2; exit 2; }
say() { echo "gpu-check: $*" >&2; }

# ------------------------------------------------------------------ pieces
# Checks every piece SHA256SUMS names: present, and its sum right. Prints one line per problem.
check_pieces() { # parts
    local parts=$1 bad=0 sum name
    [[ -d $parts ]] || die "kit pieces not found: $parts is not a folder (make it with 'scripts/gpu-check.sh pack $parts')"
    [[ -f $parts/SHA256SUMS ]] || die "$parts/SHA256SUMS missing: not a pieces folder (made by 'scripts/gpu-check.sh pack')"
    PIECES=()
    while read -r sum name; do
        [[ -n $name ]] || continue
        name=${name#\*}
        [[ $name == */* || $name == .* ]] && die "$parts/SHA256SUMS names '$name': pieces must sit beside it"
        PIECES+=("$name")
        if [[ ! -f $parts/$name ]]; then
            echo "gpu-check: piece $name is missing from $parts" >&2; bad=1
        elif [[ $(sha256sum "$parts/$name" | cut -d' ' -f1) != "$sum" ]]; then
            echo "gpu-check: piece $name is corrupt (sha256 differs from SHA256SUMS): copy it again" >&2; bad=1
        fi
    done <"$parts/SHA256SUMS"
    ((${#PIECES[@]})) || die "$parts/SHA256SUMS lists no pieces"
    ((bad == 0)) || die "the kit in $parts is incomplete or damaged (see above); nothing was unpacked"
}

# xz on stdin -> stdout: the xz program, else Python's lzma module (GPU_CHECK_UNXZ=python forces it).
unxz_stream() {
    if [[ ${GPU_CHECK_UNXZ:-} != python ]] && command -v xz >/dev/null; then
        xz -dc
    else
        python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.LZMAFile(sys.stdin.buffer), sys.stdout.buffer, 1 << 20)'
    fi
}

# Joins the pieces and unpacks them as DEST/gpu-kit: in a temp folder first, checked against
# the kit's own SHA256SUMS, then renamed, so DEST/gpu-kit is either complete or absent.
assemble() { # parts dest
    local parts=$1 dest=$2 tmp
    check_pieces "$parts"
    [[ -e $dest/gpu-kit ]] && die "$dest/gpu-kit already exists; remove it or choose another folder"
    mkdir -p "$dest"
    tmp=$(mktemp -d "$dest/.gpu-kit.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    local magic
    magic=$(head -c 6 "$parts/${PIECES[0]}" | od -An -tx1 | tr -d ' \n')
    if [[ $magic == fd377a585a00 ]]; then
        (cd "$parts" && cat "${PIECES[@]}") | unxz_stream | tar -x -C "$tmp" || die "the pieces in $parts do not join into an xz-compressed tar"
    else
        (cd "$parts" && cat "${PIECES[@]}") | tar -x -C "$tmp" || die "the pieces in $parts do not join into a tar"
    fi
    [[ -d $tmp/gpu-kit ]] || die "the pieces in $parts do not hold a gpu-kit/ folder"
    if [[ -f $tmp/gpu-kit/SHA256SUMS ]]; then
        (cd "$tmp/gpu-kit" && sha256sum --quiet -c SHA256SUMS) >&2 || die "the unpacked kit does not match its SHA256SUMS"
    fi
    mv "$tmp/gpu-kit" "$dest/gpu-kit"
    rm -rf "$tmp"
    trap - EXIT
    say "kit ready in $dest/gpu-kit"
}

# ------------------------------------------------------------------ pack (build machine)
pack() { # parts
    local parts=$1 stage
    [[ -e $parts ]] && die "$parts already exists; remove it or choose another folder"
    local target=${CARGO_TARGET_DIR:-$ROOT/target}
    [[ -f $ROOT/models/nanodet_g_coco.onnx && -f $ROOT/models/ssd_mobilenet_v2_coco_int8.onnx ]] || die "run scripts/setup.sh first (no models)"
    local shared=${PRELABEL_SHARED:-$ROOT/../shared}
    [[ -f $shared/data/mot15/TUD-Stadtmitte/TUD-Stadtmitte.mp4 ]] || die "no MOTChallenge data in $shared/data/mot15 (set PRELABEL_SHARED)"
    command -v xz >/dev/null || die "xz not installed (apt-get install xz-utils)"
    stage=$(mktemp -d "${TMPDIR:-/tmp}/gpu-kit-stage.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$stage' '$parts.tmp'" EXIT
    local kit=$stage/gpu-kit
    mkdir -p "$kit/bin" "$kit/python" "$kit/repo/scripts" "$kit/repo/models" "$kit/data/mot15"
    say "building prelabel and the shader benches (release)"
    (cd "$ROOT" && cargo build --release -q) || die "cargo build failed"
    local bench
    for bench in shaders nms; do
        local exe
        exe=$(cd "$ROOT" && cargo bench --no-run --bench "$bench" --message-format=json 2>/dev/null \
            | grep '"kind":\["bench"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
        [[ -x $exe ]] || die "cannot build the $bench bench"
        # Without debug information or symbols: 7 MB of 96 (8.9 with symbols), the same code.
        strip --strip-all -o "$kit/bin/bench-$bench" "$exe" || die "cannot copy $exe"
    done

    # ONNX Runtime's CUDA build from the PyPI wheel, cut to what the node runs.
    local cache=${PRELABEL_CACHE:-$HOME/.cache/prelabel}/ort-gpu
    if [[ ! -f $cache/$ORT_GPU_WHEEL ]]; then
        say "downloading onnxruntime-gpu $ORT_GPU_VERSION from PyPI (256 MB, once)"
        mkdir -p "$cache"
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --platform manylinux_2_28_x86_64 "onnxruntime-gpu==$ORT_GPU_VERSION" -d "$cache" || die "pip download failed"
    fi
    [[ $(sha256sum "$cache/$ORT_GPU_WHEEL" | cut -d' ' -f1) == "$ORT_GPU_SHA256" ]] \
        || die "$cache/$ORT_GPU_WHEEL: sha256 mismatch; delete it and retry"
    local whl=$stage/wheel ort=$stage/ort
    mkdir -p "$whl" "$ort"
    python3 -m zipfile -e "$cache/$ORT_GPU_WHEEL" "$whl" || die "cannot unpack $ORT_GPU_WHEEL"
    local capi=$whl/onnxruntime/capi
    mv "$capi/libonnxruntime.so.$ORT_GPU_VERSION" "$capi/libonnxruntime_providers_shared.so" "$ort/"
    # The CUDA provider: 219 of its 284 MB are GPU code for six architectures; the node's GPU
    # runs one (sm_90), the others are blanked and compress to nothing.
    local arch keep=()
    for arch in $GPU_ARCHS; do keep+=(--keep "$arch"); done
    python3 "$ROOT/scripts/fatbin_keep_arch.py" "$capi/libonnxruntime_providers_cuda.so" \
        "$ort/libonnxruntime_providers_cuda.so" "${keep[@]}" 2>"$stage/fatbin.log" || { cat "$stage/fatbin.log" >&2; die "cannot cut the CUDA provider"; }
    chmod +x "$ort"/*.so*
    # Not loaded by prelabel or the baseline: the TensorRT provider; the CUDA provider comes from bundle/lib.
    rm -f "$capi/libonnxruntime_providers_cuda.so" "$capi/libonnxruntime_providers_tensorrt.so"
    mv "$whl/onnxruntime" "$whl"/onnxruntime_gpu-*.dist-info "$kit/python/"

    say "bundling prelabel with the CUDA build of ONNX Runtime (it serves the CPU too)"
    "$target/release/prelabel" bundle "$kit/bundle" --ort-lib "$ort/libonnxruntime.so.$ORT_GPU_VERSION" -q || die "prelabel bundle failed"
    cp "$(command -v ffmpeg)" "$(command -v ffprobe)" "$kit/bin/" || die "ffmpeg/ffprobe not installed (scripts/setup.sh)"
    cp "$ROOT/scripts/baseline_python.py" "$kit/repo/scripts/"
    cp "$ROOT"/models/*.toml "$kit/repo/models/"
    # The bundle carries the default model (NanoDet-g), which the Python baseline runs too; the
    # NMS bench decodes SSD outputs, which the int8 SSD gives at a quarter of the size.
    cp "$ROOT/models/ssd_mobilenet_v2_coco_int8.onnx" "$kit/repo/models/"
    local seq
    for seq in TUD-Stadtmitte TUD-Campus; do
        mkdir -p "$kit/data/mot15/$seq"
        cp -r "$shared/data/mot15/$seq/." "$kit/data/mot15/$seq/"
    done
    chmod -R u+w "$kit"
    (cd "$kit" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs -d '\n' sha256sum >SHA256SUMS)
    local raw
    raw=$(du -sb "$kit" | cut -f1)
    say "compressing $raw bytes (xz -9, a few minutes)"
    rm -rf "$parts.tmp" && mkdir -p "$parts.tmp"
    tar -C "$stage" --owner=0 --group=0 --numeric-owner -cf - gpu-kit | xz -9 -T"${GPU_CHECK_XZ_THREADS:-2}" \
        | split -b "$PIECE_BYTES" -d -a 3 - "$parts.tmp/gpu-kit.tar.xz."
    (cd "$parts.tmp" && sha256sum gpu-kit.tar.xz.* >SHA256SUMS)
    mv "$parts.tmp" "$parts"
    say "kit: $parts ($(ls "$parts"/gpu-kit.tar.xz.* | wc -l) pieces, $(cat "$parts"/gpu-kit.tar.xz.* | wc -c) bytes; $raw unpacked); copy the folder and scripts/gpu-check.sh to the node"
}

# ------------------------------------------------------------------ run (GPU node)
# The plan, as lines "budget|name|what": printed by --dry-run, followed by run.
plan() {
    cat <<EOF
20|assemble|check each piece's sha256, join, unpack (xz) the kit, check every file
10|gpu|nvidia-smi (GPU, driver), CUDA 13 / cuDNN 9 libraries from the nvidia-* wheels or ldconfig, Vulkan adapter
$BUDGET_SHADERS|shaders|bench-shaders: preprocess shader vs CPU on the real adapter (TUD-Stadtmitte 640x480 and 1080p)
$BUDGET_NMS|nms|bench-nms: SSD decode + NMS shaders vs CPU on the real adapter (int8 SSD outputs)
$BUDGET_CLIPS|clips|ffmpeg: 1080p H.264 clips from TUD-Stadtmitte and TUD-Campus, 4 videos of each
$BUDGET_JOB|job|prelabel run on the 8 clips: --device gpu (CUDA provider, shaders), NVDEC and --jobs auto when this build has them
$BUDGET_ONE|one|prelabel run on one 1080p clip, same settings, for the baseline comparison
$BUDGET_PY|python|scripts/baseline_python.py on the same clip, same model (NanoDet-g 768x448), Python onnxruntime-gpu (CUDA provider), batch 16
EOF
}

RESULTS=()
record() { # name status seconds summary
    RESULTS+=("| $1 | $2 | $3 | ${4//|/\\|} |")
}

# Runs one step with a time limit, its output to LOG/NAME.log; sets STEP_STATUS and STEP_SECONDS.
step() { # name budget command...
    local name=$1 budget=$2; shift 2
    local t0=$SECONDS rc=0 left=$((DEADLINE - SECONDS))
    if ((left < 5)); then
        STEP_STATUS="skipped (the ${LIMIT_S} s limit was reached)" STEP_SECONDS=0
        echo "not run: out of time" >"$LOG/$name.log"
        return
    fi
    ((budget <= left)) || budget=$left
    say "step $name (at most ${budget}s)"
    # SIGTERM first: prelabel then stops after its current batch and writes its report.
    timeout --kill-after=10 "$budget" "$@" >"$LOG/$name.log" 2>&1 || rc=$?
    STEP_SECONDS=$((SECONDS - t0))
    case $rc in
        0) STEP_STATUS=ok ;;
        124 | 137) STEP_STATUS="timed out" ;;
        *) STEP_STATUS="failed ($rc)" ;;
    esac
}

# Lines of the run's report.json worth a results row: frames, fps, devices.
report_summary() { # report.json
    python3 - "$1" <<'EOF' 2>/dev/null || echo "no report.json"
import json, sys
r = json.load(open(sys.argv[1]))
t = r.get("totals", {})
parts = [f"{t.get('ok', 0)}/{t.get('videos', 0)} videos ok", f"{t.get('frames', 0)} frames",
         f"{t.get('frames_per_s', 0):.0f} frames/s over {t.get('wall_s', 0):.1f} s"]
for k in ("execution_provider", "fallback_reason", "gpu_adapter", "stage_devices"):
    if r.get(k):
        parts.append(f"{k}: {json.dumps(r[k])[:200]}")
print("; ".join(parts))
EOF
}

# prelabel's frames/s on the clip over the Python baseline's.
ratio() { # report.json python.log
    python3 - "$1" "$2" <<'EOF' 2>/dev/null || echo "no ratio: a run failed"
import json, sys
p = json.load(open(sys.argv[1]))["totals"]["frames_per_s"]
b = next(json.loads(l)["fps"] for l in open(sys.argv[2]) if l.startswith("{"))
print(f"{p:.0f} / {b:.0f} frames/s = {p / b:.2f}x on the same 1080p clip")
EOF
}

run_check() { # parts out work dry
    local parts=$1 out=$2 work=$3 dry=$4
    if ((dry)); then
        check_pieces "$parts"
        echo "gpu-check plan (dry run: pieces checked, ${#PIECES[@]} of them; nothing unpacked, no GPU used):"
        local total=0 b n w
        while IFS='|' read -r b n w; do
            printf '  %-9s %4ss  %s\n' "$n" "$b" "$w"
            total=$((total + b))
        done < <(plan)
        echo "  total budget ${total}s (limit 480s); results to $out"
        return 0
    fi
    [[ -e $out && ! -f $out ]] && die "--out $out is not a file"
    [[ -d $(dirname "$out") && -w $(dirname "$out") ]] || die "cannot write the results file $out (no such folder, or not writable)"
    local started=$SECONDS
    DEADLINE=$((SECONDS + LIMIT_S))
    assemble "$parts" "$work"
    local kit=$work/gpu-kit
    LOG=$work/logs
    mkdir -p "$LOG"
    record assemble ok $((SECONDS - started)) "${#PIECES[@]} pieces, sha256 checked"

    # ONNX Runtime's CUDA build: prelabel loads the bundle's; the Python package (python/) takes
    # the same provider libraries, linked in beside its own extension module.
    local py=$kit/python ort_lib so
    ort_lib=$(ls "$kit"/bundle/lib/libonnxruntime.so.* | head -1)
    for so in libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
        ln -sf "$kit/bundle/lib/$so" "$py/onnxruntime/capi/$so"
    done
    # The CUDA libraries: the nvidia-* wheels' lib folders (CUDA 13 wheels put them under cu13/).
    local cuda_dirs
    cuda_dirs=$(python3 - <<'EOF' 2>/dev/null || true
import glob, importlib.util, os
spec = importlib.util.find_spec("nvidia")
dirs = set()
for root in (spec.submodule_search_locations if spec else []):
    for so in glob.glob(os.path.join(root, "**", "lib*.so*"), recursive=True):
        dirs.add(os.path.dirname(so))
print(":".join(sorted(dirs)))
EOF
)
    export LD_LIBRARY_PATH="${cuda_dirs:+$cuda_dirs:}${LD_LIBRARY_PATH:-}"
    # ffmpeg, ffprobe and the benches run on the bundle's libraries (libvulkan.so.1, the loader
    # wgpu opens, among them; prelabel's launcher does the same), which only they see: the
    # programs on PATH are wrappers, so Python and its extensions keep their own libraries.
    local libs="$kit/bundle/lib"
    mkdir -p "$work/bin"
    local tool
    for tool in ffmpeg ffprobe; do
        printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' "$libs" "$kit/bin/$tool" >"$work/bin/$tool"
        chmod +x "$work/bin/$tool"
    done
    export PATH="$work/bin:$PATH"
    local nvicd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [[ -z ${VK_DRIVER_FILES:-} && -f $nvicd ]] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
        export VK_DRIVER_FILES=$nvicd
    fi
    export PRELABEL_SHARED=$kit PRELABEL_REPO=$kit/repo ORT_DYLIB_PATH=$ort_lib
    export PRELABEL_BENCH_SECONDS=${PRELABEL_BENCH_SECONDS:-0.5} PRELABEL_BENCH_ROUNDS=${PRELABEL_BENCH_ROUNDS:-3}

    step gpu 10 bash -c 'rc=0; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader || rc=$?
        echo "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-none}"; echo "VK_DRIVER_FILES: ${VK_DRIVER_FILES:-unset}"
        ldconfig -p | grep -E "libcuda.so.1|libcudnn.so.9|libcublasLt.so.13|libvulkan.so.1" || true
        exit $rc'
    record gpu "$STEP_STATUS" "$STEP_SECONDS" "$(head -1 "$LOG/gpu.log")"

    step shaders "$BUDGET_SHADERS" env LD_LIBRARY_PATH="$libs:$LD_LIBRARY_PATH" "$kit/bin/bench-shaders"
    record shaders "$STEP_STATUS" "$STEP_SECONDS" "$(grep -im1 'adapter' "$LOG/shaders.log" || tail -1 "$LOG/shaders.log")"
    step nms "$BUDGET_NMS" env LD_LIBRARY_PATH="$libs:$LD_LIBRARY_PATH" \
        PRELABEL_BENCH_MODEL="$kit/repo/models/ssd_mobilenet_v2_coco_int8.toml" "$kit/bin/bench-nms"
    record nms "$STEP_STATUS" "$STEP_SECONDS" "$(grep -im1 'adapter' "$LOG/nms.log" || tail -1 "$LOG/nms.log")"

    local clips=$work/clips
    mkdir -p "$clips"
    step clips "$BUDGET_CLIPS" bash -c '
        set -e; k=$1; c=$2
        for s in TUD-Stadtmitte TUD-Campus; do
            ffmpeg -v error -y -stream_loop 2 -i "$k/data/mot15/$s/$s.mp4" -vf scale=1920:1080 \
                -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p "$c/$s-1080p-1.mp4"
            for i in 2 3 4; do cp "$c/$s-1080p-1.mp4" "$c/$s-1080p-$i.mp4"; done
        done
        ls -la "$c"' _ "$kit" "$clips"
    record clips "$STEP_STATUS" "$STEP_SECONDS" "$(ls "$clips" | wc -l) clips, $(du -sh "$clips" | cut -f1)"

    # What this build offers: --jobs (videos in flight), a hardware-decode switch.
    local help extra=()
    help=$("$kit/bundle/prelabel" run --help 2>&1 || true)
    grep -q -- '--jobs' <<<"$help" && extra+=(--jobs auto)
    if grep -q -- '--decode-device' <<<"$help"; then extra+=(--decode-device gpu)
    elif grep -q -- '--hwaccel' <<<"$help"; then extra+=(--hwaccel cuda)
    fi
    local common=(--device gpu --classes person -q --ort-lib "$ort_lib" "${extra[@]}")
    step job "$BUDGET_JOB" "$kit/bundle/prelabel" run "$clips" --out "$work/labels-job" "${common[@]}"
    record job "$STEP_STATUS" "$STEP_SECONDS" "flags: ${common[*]/#$ort_lib/ORT}; $(report_summary "$work/labels-job/report.json")"
    local one=$clips/TUD-Stadtmitte-1080p-1.mp4
    step one "$BUDGET_ONE" "$kit/bundle/prelabel" run "$one" --out "$work/labels-one" "${common[@]}"
    record one "$STEP_STATUS" "$STEP_SECONDS" "$(report_summary "$work/labels-one/report.json")"
    step python "$BUDGET_PY" env PYTHONPATH="$py${PYTHONPATH:+:$PYTHONPATH}" \
        python3 "$kit/repo/scripts/baseline_python.py" "$kit/bundle/models/nanodet_g_coco.onnx" "$one" --device cuda --batch 16 --size 768x448
    record python "$STEP_STATUS" "$STEP_SECONDS" "$(grep -m1 '^{' "$LOG/python.log" || tail -1 "$LOG/python.log")"
    record "prelabel / python" - - "$(ratio "$work/labels-one/report.json" "$LOG/python.log")"

    write_results "$out" "$kit" $((SECONDS - started))
    say "done in $((SECONDS - started)) s: $out"
}

write_results() { # out kit seconds
    local out=$1 kit=$2 total=$3 tmp="$1.tmp.$$" name
    {
        echo "# prelabel GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "Host $(hostname), $(nproc) cores; total ${total} s; kit $kit."
        echo
        echo "| step | status | seconds | result |"
        echo "|---|---|---|---|"
        printf '%s\n' "${RESULTS[@]}"
        for name in gpu shaders nms clips job one python; do
            [[ -f $LOG/$name.log ]] || continue
            echo
            echo "## $name (last 60 lines of output)"
            echo
            echo '```'
            tail -60 "$LOG/$name.log"
            echo '```'
        done
    } >"$tmp"
    mv "$tmp" "$out"
}

# ------------------------------------------------------------------ arguments
cmd=${1:-}
[[ -z $cmd ]] && bad_usage "missing command (pack, run or assemble)"
shift
case $cmd in
    -h | --help | help) usage; exit 0 ;;
    pack)
        [[ $# -eq 1 ]] || bad_usage "pack takes one argument: the pieces folder to create"
        pack "$1" ;;
    assemble)
        [[ $# -eq 2 ]] || bad_usage "assemble takes two arguments: the pieces folder and a destination"
        assemble "$1" "$2" ;;
    run)
        parts= out=$PWD/gpu-check-results.md work= dry=0
        while (($#)); do
            case $1 in
                --out) [[ $# -ge 2 ]] || bad_usage "--out needs a file"; out=$2; shift 2 ;;
                --work) [[ $# -ge 2 ]] || bad_usage "--work needs a folder"; work=$2; shift 2 ;;
                --dry-run) dry=1; shift ;;
                -h | --help) usage; exit 0 ;;
                -*) bad_usage "unknown option '$1'" ;;
                *) [[ -z $parts ]] || bad_usage "unexpected argument '$1' (the pieces folder is $parts)"; parts=$1; shift ;;
            esac
        done
        [[ -n $parts ]] || bad_usage "run needs the kit's pieces folder (made by 'scripts/gpu-check.sh pack')"
        [[ -n $work || $dry == 1 ]] || work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
        run_check "$parts" "$out" "$work" "$dry" ;;
    *) bad_usage "unknown command '$cmd' (pack, run or assemble)" ;;
esac
