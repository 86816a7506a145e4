#!/usr/bin/env bash
# The cluster engines the engine tests start or validate (tests/cluster_*.rs), from package
# registries only. Called by `scripts/setup.sh --tests`; idempotent, each step checks its
# output first and writes its marker only on success.
#
#   Slurm 22.05 + munge  Debian `slurm-wlm munge`: a real single-node cluster the test starts
#   Ray                  PyPI `ray[default]` in .deps/venv-ray: a local head the test starts
#   kubernetes-validate  PyPI, in .deps/venv-k8s: validates the Indexed Job offline (no cluster
#                        can be had from the registries, so that one is only validated)
#
# Measured on a 2-core Debian 12 machine, nothing cached: apt ~8 s (update + ~10 MB), the Ray
# venv ~35 s (384 MB), the validator venv ~9 s (144 MB); warm (all present) 0.06 s.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS=$ROOT/.deps
mkdir -p "$DEPS"

# Pinned: the tests are written against these.
RAY_VERSION=2.60.0
K8S_VALIDATE_VERSION=1.37.0

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# ---------------------------------------------------------------- Slurm and munge (Debian)
# The packages only install: no daemon starts (the tests start their own, by PID).
apt_install "Slurm and munge for the cluster tests" slurm-wlm munge

# ---------------------------------------------------------------- Python venvs (PyPI)
# Made once; the marker holds the pinned version, so changing the pin remakes the venv.
venv_once() { # dir marker-text what packages...
    local dir=$1 want=$2 what=$3; shift 3
    [[ $(cat "$dir/.complete" 2>/dev/null) == "$want" ]] && return 0
    say "creating the $what venv (once)"
    rm -rf "$dir" && python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@" || die "could not install the $what from PyPI"
    echo "$want" >"$dir/.complete"
}
venv_once "$DEPS/venv-ray" "ray==$RAY_VERSION" "Ray $RAY_VERSION" "ray[default]==$RAY_VERSION"
venv_once "$DEPS/venv-k8s" "kubernetes-validate==$K8S_VALIDATE_VERSION" "kubernetes-validate" \
    "kubernetes-validate==$K8S_VALIDATE_VERSION"
