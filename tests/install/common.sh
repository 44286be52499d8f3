# shellcheck shell=bash
# How every consumer's build.sh begins (sourced with the script's own
# arguments): strict mode, the two arguments (an installed prefix, or for
# meson/ the source tree; and an output directory, made here) and, for a
# prefix, pkg-config's path into it.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 ${first_arg:-PREFIX} OUTDIR" >&2; exit 2; }
# shellcheck disable=SC2034  # read by the script that sources this
first=$(realpath "$1")
out=$2
mkdir -p "$out"

# Makes pkg-config look in prefix $1 first. meson's libdir is
# lib/x86_64-linux-gnu on Debian, lib elsewhere.
use_prefix_pkgconfig() {
  local multiarch
  multiarch=$(gcc -print-multiarch 2>/dev/null || true)
  export PKG_CONFIG_PATH="$1/lib/pkgconfig${multiarch:+:$1/lib/$multiarch/pkgconfig}${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
}
