#!/usr/bin/env bash
# What the Label Studio round trip (tests/labelstudio_roundtrip.rs) needs, from package
# registries only: Label Studio from PyPI in its own venv (about 1 GB; its Django and pins
# clash with the other venvs), the `websockets` package in the same venv for the small
# Chrome DevTools client (scripts/ls_browser_check.py), and Debian's `chromium`.
#
#   scripts/setup-labelstudio.sh      (scripts/setup.sh --tests calls it)
#
# Idempotent: the venv is made once and marked complete only when both imports work.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$ROOT/.deps"
# The real path: a venv's scripts name their interpreter by absolute path, so a venv made
# through a symlinked .deps would break when the link goes.
DEPS=$(cd -P "$ROOT/.deps" && pwd)
LS_VERSION=1.23.2
WEBSOCKETS_VERSION=15.0.1
VENV=$DEPS/venv-labelstudio

# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

apt_install "headless browser for the Label Studio editor check" chromium fonts-dejavu-core

# The marker holds the pinned versions and where the venv was made: a new pin, or a moved
# venv (they do not survive a move), rebuilds it.
want="label-studio==$LS_VERSION websockets==$WEBSOCKETS_VERSION"
if [[ $(cat "$VENV/.complete" 2>/dev/null) != "$want $VENV" ]]; then
    say "creating the Label Studio $LS_VERSION venv (once, about 1 GB)"
    rm -rf "$VENV" && python3 -m venv "$VENV"
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install -q $want || die "could not install Label Studio from PyPI"
    "$VENV/bin/python" -c 'import label_studio, websockets' || die "the Label Studio venv does not import"
    echo "$want $VENV" >"$VENV/.complete"
fi
