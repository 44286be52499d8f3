#!/usr/bin/env bash
# Builds the meson consumer with shoal as a subproject and runs it.
# usage: build.sh SHOAL_SRC OUTDIR   (OUTDIR becomes the consumer project)
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SHOAL_SRC OUTDIR" >&2; exit 2; }
src=$(realpath "$1")
out=$2
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$out/subprojects"
cp "$here/meson.build" "$out/"
cp -r "$here/../consumer" "$out/"
# A symlink, not a copy: the subproject builds in OUTDIR/build, never in
# the source tree, so sharing it is safe and costs nothing.
ln -sfn "$src" "$out/subprojects/shoal"

meson setup "$out/build" "$out" >"$out/setup.log" 2>&1 || { cat "$out/setup.log" >&2; exit 1; }
meson compile -C "$out/build" >"$out/compile.log" 2>&1 || { cat "$out/compile.log" >&2; exit 1; }
programs=(main)
[ -x "$out/build/remote_main" ] && programs+=(remote_main)
for p in "${programs[@]}"; do
  "$out/build/$p" | tee "$out/build/$p.out"
  grep -qx ok "$out/build/$p.out" || { echo "$p did not print ok" >&2; exit 1; }
done
