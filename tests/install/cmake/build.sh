#!/usr/bin/env bash
# Builds the CMake consumer against an installed shoal twice, with the
# static and with the shared library (SHOAL_USE_SHARED), and runs it.
# usage: build.sh PREFIX OUTDIR
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../common.sh
. "$here/../common.sh" "$@"
prefix=$first

# Built with remote, the install must offer the component.
remote=OFF
if compgen -G "$prefix/lib/libshoal_remote.*" >/dev/null ||
   compgen -G "$prefix/lib/*/libshoal_remote.*" >/dev/null; then
  remote=ON
fi

for shared in OFF ON; do
  dir=$out/shared-$shared
  cmake -S "$here" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DSHOAL_USE_SHARED=$shared -DREQUIRE_REMOTE=$remote >"$dir.log" 2>&1 ||
    { cat "$dir.log" >&2; exit 1; }
  cmake --build "$dir" >>"$dir.log" 2>&1 || { cat "$dir.log" >&2; exit 1; }
  programs=(main)
  [ "$remote" = ON ] && programs+=(remote_main)
  for p in "${programs[@]}"; do
    "$dir/$p" | tee "$dir/$p.out"
    grep -qx ok "$dir/$p.out" || { echo "$p (shared=$shared) did not print ok" >&2; exit 1; }
  done
done
