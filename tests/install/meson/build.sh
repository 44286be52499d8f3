#!/usr/bin/env bash
# Builds the meson consumer with shoal as a subproject and runs it.
# usage: build.sh SHOAL_SRC OUTDIR   (OUTDIR becomes the consumer project)
here=$(cd "$(dirname "$0")" && pwd)
first_arg=SHOAL_SRC  # read by common.sh
# shellcheck source-path=SCRIPTDIR source=../common.sh
. "$here/../common.sh" "$@"
src=$first

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
