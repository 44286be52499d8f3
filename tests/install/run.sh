#!/usr/bin/env bash
# Installs shoal into a scratch prefix and builds and runs each consumer
# against it: pkg-config, CMake (static and shared), a dlopen()ed plug-in
# with the static library inside, and meson with shoal as a subproject.
# One line per consumer; stops at the first failure, saying which. Needs no
# network. Leaves nothing behind (SHOAL_INSTALL_KEEP=1 keeps the scratch dir).
# usage: run.sh SHOAL_SRC BUILD_DIR
# BUILD_DIR is created, or reused if an earlier run.sh made it (it is
# reconfigured: never hand it a build dir of your own).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SHOAL_SRC BUILD_DIR" >&2; exit 2; }
src=$(realpath "$1")
build=$(realpath -m "$2")
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shoal-install.XXXXXX")
cleanup() {
  if [ "${SHOAL_INSTALL_KEEP:-0}" = 1 ]; then echo "install: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# run NAME COMMAND...: one line on success; on failure the log and a reason.
run() {
  local name=$1 log
  shift
  log="$tmp/$(echo "$name" | tr ' ' '-').log"
  if "$@" >"$log" 2>&1; then
    echo "install: $name ok"
  else
    cat "$log" >&2
    echo "install: $name FAILED (log above)" >&2
    exit 1
  fi
}

# A build dir of its own, whatever the caller's builds use: the prefix is
# an absolute path baked in at setup, and release is what users install.
opts=(--prefix="$tmp/prefix" --buildtype=release
      -Dtests=false -Dbench=disabled -Dtools=false -Dexamples=false -Dcaf=disabled -Dremote=enabled)
marker="$build/.shoal-install-test"
if [ -f "$marker" ]; then
  run "configure" meson configure "$build" "${opts[@]}"
elif [ -e "$build" ] && [ -n "$(ls -A "$build")" ]; then
  echo "install: $build exists and is not run.sh's build dir; name a new one" >&2
  exit 2
else
  run "configure" meson setup "$build" "$src" "${opts[@]}"
  touch "$marker"
fi
run "meson install" meson install -C "$build" --quiet

run "pkg-config consumer" "$here/pkgconfig/build.sh" "$tmp/prefix" "$tmp/pkgconfig"
run "cmake consumer" "$here/cmake/build.sh" "$tmp/prefix" "$tmp/cmake"
run "plug-in consumer" "$here/plugin/build.sh" "$tmp/prefix" "$tmp/plugin"
run "meson subproject consumer" "$here/meson/build.sh" "$src" "$tmp/meson"
