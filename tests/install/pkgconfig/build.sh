#!/usr/bin/env bash
# Builds consumer/main.cpp against an installed shoal through pkg-config
# alone and runs it; with shoal-remote.pc installed, remote_main.cpp too.
# usage: build.sh PREFIX OUTDIR
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../common.sh
. "$here/../common.sh" "$@"
prefix=$first

use_prefix_pkgconfig "$prefix"

# The rpath finds libshoal.so where it was installed: -lshoal takes the
# shared library when both are there.
build() {  # build PACKAGE SOURCE EXE
  local libdir flags
  libdir=$(pkg-config --variable=libdir "$1")
  flags=$(pkg-config --cflags --libs "$1")
  # shellcheck disable=SC2086  # flags are words by design
  g++ -std=c++20 -O2 -o "$out/$3" "$here/../consumer/$2" $flags -Wl,-rpath,"$libdir"
  "$out/$3" | tee "$out/$3.out"
  grep -qx ok "$out/$3.out" || { echo "$3 did not print ok" >&2; exit 1; }
}

build shoal main.cpp main
# Built with remote, the install must have its .pc too.
if compgen -G "$prefix/lib/libshoal_remote.*" >/dev/null ||
   compgen -G "$prefix/lib/*/libshoal_remote.*" >/dev/null; then
  build shoal-remote remote_main.cpp remote_main
fi
