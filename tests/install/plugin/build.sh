#!/usr/bin/env bash
# Builds plugin.so with the installed static libshoal.a inside, and a host
# that dlopen()s it; runs the host.
# usage: build.sh PREFIX OUTDIR
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../common.sh
. "$here/../common.sh" "$@"
prefix=$first

use_prefix_pkgconfig "$prefix"
archive="$(pkg-config --variable=libdir shoal)/libshoal.a"
[ -f "$archive" ] || { echo "no static library at $archive" >&2; exit 1; }

# The archive by its path, not -lshoal, which would take libshoal.so; its
# own dependencies (Libs.private) from pkg-config --static.
read -ra flags <<<"$(pkg-config --cflags shoal) $(pkg-config --static --libs shoal)"
args=()
for f in "${flags[@]}"; do [ "$f" = -lshoal ] || args+=("$f"); done
# --exclude-libs keeps shoal's symbols out of the plug-in's dynamic table:
# two plug-ins, each with its own copy, must not bind to each other's.
# --no-undefined: a symbol missing from the archive fails the link, not dlopen.
g++ -std=c++20 -O2 -fPIC -shared -fvisibility=hidden -o "$out/plugin.so" \
  "$here/plugin.cpp" "$archive" "${args[@]}" \
  -Wl,--exclude-libs,libshoal.a -Wl,--no-undefined
g++ -O2 -o "$out/host" "$here/host.cpp" -ldl

"$out/host" "$out/plugin.so" | tee "$out/host.out"
grep -qx ok "$out/host.out" || { echo "the plug-in did not print ok" >&2; exit 1; }
