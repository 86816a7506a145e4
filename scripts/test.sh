#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up (system packages, ONNX Runtime, default
# model, sample video, test models; cached), then every test. Tests that need the
# MOTChallenge data read it from ../shared (or $PRELABEL_SHARED) and say loudly when it is absent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh --tests
cargo test --release "$@"
