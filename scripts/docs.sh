#!/usr/bin/env bash
# Builds the book in docs/ (mdBook) into OUT, default target/book/ (open OUT/index.html).
#
#   scripts/docs.sh [OUT]
#
# First writes the generated pages into a copy of docs/ (never into the checkout): the text of
# `prelabel --help` and of each command's `--help`, from the binary, so the book's option
# reference cannot drift from the program. tests/docs.rs runs this and then checks every link.
#
#   PRELABEL  the binary whose help goes in (default: target/release/prelabel, built if missing)
#   MDBOOK    mdbook to use (default: .deps/mdbook/bin/mdbook, which scripts/setup.sh --tests
#             builds from crates.io; else mdbook on the PATH)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf 'docs: error: %s\n' "$*" >&2; exit 1; }
OUT=${1:-$ROOT/target/book}
[[ $OUT = /* ]] || OUT=$PWD/$OUT

MDBOOK=${MDBOOK:-$ROOT/.deps/mdbook/bin/mdbook}
if [[ ! -x $MDBOOK ]]; then
    MDBOOK=$(command -v mdbook) || die "mdbook not found: run scripts/setup.sh --tests (it builds it into .deps/mdbook)"
fi
if [[ -z ${PRELABEL:-} ]]; then
    target=${CARGO_TARGET_DIR:-$ROOT/target}
    [[ $target = /* ]] || target=$ROOT/$target
    PRELABEL=$target/release/prelabel
    [[ -x $PRELABEL ]] || (cd "$ROOT" && cargo build --release --bin prelabel)
fi

# A shadow of the repository: docs/ copied, everything else beside it linked, so that pages
# that include files from elsewhere (models/*.toml) find them at the same relative paths.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for entry in "$ROOT"/*; do
    [[ $(basename "$entry") == docs ]] || ln -s "$entry" "$work/"
done
cp -r "$ROOT/docs" "$work/docs"
rm -rf "$work/docs/book"

# The help pages. The environment must not leak into them ([env: PRELABEL_MODEL=...]).
help() { env -u PRELABEL_MODEL "$PRELABEL" "$@" --help; }
gen=$work/docs/src/generated
mkdir -p "$gen"
{
    echo '## prelabel'
    echo
    echo '```text'
    help
    echo '```'
    # The commands, as the top-level help lists them (all but `help`).
    help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on && $1 != "help" { print $1 }' |
        while read -r cmd; do
            echo
            echo "## prelabel $cmd"
            echo
            echo '```text'
            help "$cmd"
            echo '```'
        done
} >"$gen/help.md"
grep -q '^## prelabel run$' "$gen/help.md" || die "no 'run' command found in $PRELABEL --help"

rm -rf "$OUT"
# mdBook only logs some faults (a broken {{#include}} is an ERROR line, and the book is still
# written): any ERROR or WARN line fails the build here.
status=0
log=$("$MDBOOK" build "$work/docs" --dest-dir "$OUT" 2>&1) || status=$?
sed 's/^/mdbook: /' <<<"$log" >&2
((status == 0)) || die "mdbook build failed (see above)"
if grep -qE '^ *(ERROR|WARN) ' <<<"$log"; then
    die "mdbook reported errors or warnings (see above)"
fi
echo "docs: the book is in $OUT/index.html" >&2
