#!/usr/bin/env bash
# prelabel serve against prelabel run on the same videos: ten 60-frame cuts of the sample
# (.deps/vtest.avi, each from another point, so each has its own fingerprint), labelled by
# `prelabel run --jobs 2`, then sent as one 10-task predict request to a `prelabel serve`
# started with the same options and `--jobs 2` (model loaded before the clock starts, as a
# running server's is). Checks every task got its predictions, once, equal to run's, and
# prints both times and their ratio (issue 19 asks for at most 1.2).
#
#   scripts/bench_serve.sh [PRELABEL_BINARY] [-- extra run options]
#
# Writes only under a temporary folder; stops the server it started by its PID.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-$ROOT/target/release/prelabel}
shift || true
[[ ${1:-} == -- ]] && shift
EXTRA=("$@")
OPTS=(--device cpu --classes person,car --stride 3 --jobs 2 "${EXTRA[@]}")
WORK=$(mktemp -d)
SERVER=
cleanup() {
    [[ -n $SERVER ]] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/root/clips"
for i in $(seq 0 9); do
    ffmpeg -v error -ss "$((i * 6))" -i "$ROOT/.deps/vtest.avi" -frames:v 60 -c:v libx264 -pix_fmt yuv420p -preset veryfast \
        "$WORK/root/clips/clip$i.mp4"
done

start=$(date +%s.%N)
"$BIN" run "$WORK/root/clips" --out "$WORK/run" -q "${OPTS[@]}"
run_s=$(echo "$(date +%s.%N) - $start" | bc)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PRELABEL_LOG=prelabel=warn "$BIN" serve --listen "127.0.0.1:$port" --root "$WORK/root" --cache "$WORK/cache" --wait 3000 \
    -- "${OPTS[@]}" 2>"$WORK/serve.log" &
SERVER=$!
until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
    kill -0 "$SERVER" || { cat "$WORK/serve.log"; exit 1; }
    sleep 0.2
done

python3 - "$WORK" "$port" "$run_s" <<'EOF'
import json, sys, time, urllib.request
work, port, run_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
config = ('<View><Labels name="l" toName="video"><Label value="person"/><Label value="car"/></Labels>'
          '<Video name="video" value="$video"/><VideoRectangle name="box" toName="video"/></View>')
tasks = [{"id": i, "data": {"video": f"/data/local-files/?d=clips/clip{i}.mp4"}} for i in range(10)]
body = json.dumps({"tasks": tasks, "project": "1.0", "label_config": config}).encode()
t = time.time()
with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=body), timeout=3000) as r:
    answer = json.load(r)
serve_s = time.time() - t
results = answer["results"]
assert len(results) == 10, len(results)
for i, r in enumerate(results):
    assert "result" in r, f"task {i}: {r}"
    want = json.load(open(f"{work}/run/clips/clip{i}.mp4/labelstudio.json"))[0]["predictions"][0]["result"]
    assert r["result"] == want, f"task {i}: the server's regions differ from prelabel run's"
status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/status"))
assert (status["batches"], status["done"], status["failed"]) == (1, 10, 0), status
print(f"prelabel run --jobs 2: {run_s:.1f} s (process start and model load included)")
print(f"prelabel serve --jobs 2, one 10-task request: {serve_s:.1f} s (model already loaded)")
print(f"ratio serve/run: {serve_s / run_s:.2f} (issue 19: at most 1.2); every task answered once, regions equal to run's")
EOF
