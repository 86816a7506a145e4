#!/usr/bin/env bash
# The main job on the bundled sample: set-up (cached), build, then draft labels for
# vtest.avi (pedestrians on a campus road, 795 frames) into out/sample/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
cargo build --release
./target/release/prelabel run .deps/vtest.avi --out out/sample "$@"
