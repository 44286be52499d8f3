#!/usr/bin/env bash
# The HTML report in a real browser. Makes a sample trace (2 workers and a
# guest lane, "io 0", with remote frames), renders it with shoal-trace, loads
# the page in headless Chromium and checks that it rendered without a script
# error (its title says so), that it has one lane per worker and one for the
# guest, labelled with its name, that the trace's statistics made the "Measured per actor" table
# (table#measured-actors, data-rows ≥ 1: the sample's sink is instrumented),
# and that a screenshot of it is not blank. Then the same with a trace whose
# actor is named with markup (the page must still say ok and hold no element
# made from the name), and with a trace that recorded nothing and has no
# statistics (no measured table).
#
# usage: report_in_chromium.sh MAKE_SAMPLE_TRACE SHOAL_TRACE BUILD_DIR
# Writes BUILD_DIR/report_in_chromium/{sample.trace,report.html,report.png,…}.
# Exit status: 0 pass, 1 fail, 77 skip (no chromium; tools/setup-deps
# installs it).
set -euo pipefail

make_sample=$1
shoal_trace=$2
out=$3/report_in_chromium

if ! command -v chromium >/dev/null 2>&1; then
  echo "SKIP: chromium is not installed (tools/setup-deps installs it)"
  exit 77
fi

mkdir -p "$out"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
start=$SECONDS

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Headless Chromium, never longer than two minutes. As root it needs
# --no-sandbox; its own profile keeps it from any user's.
browser() {
  timeout 120 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
    --no-default-browser-check --hide-scrollbars --user-data-dir="$profile" "$@" \
    2>>"$out/chromium.log"
}

# measured_rows NAME: data-rows of NAME.dom's table#measured-actors ("" if none)
measured_rows() {
  { grep -o '<table[^>]*id="measured-actors"[^>]*>' "$out/$1.dom" || true; } | head -1 |
    sed -n 's/.*data-rows="\([0-9]*\)".*/\1/p'
}

# render NAME LANES [make-sample-trace flags]: sample trace → NAME.html → NAME.dom
render() {
  local name=$1 want=$2
  shift 2
  "$make_sample" "$out/$name.trace" "$@" || fail "make-sample-trace $*"
  "$shoal_trace" "$out/$name.trace" --html "$out/$name.html" --summary >"$out/$name.summary" ||
    fail "shoal-trace on $name.trace"
  browser --dump-dom "file://$out/$name.html" >"$out/$name.dom" ||
    fail "chromium --dump-dom (status $?)"
  title=$(sed -n 's/.*<title>\([^<]*\)<\/title>.*/\1/p' "$out/$name.dom" | head -1)
  lanes=$(sed -n 's/.*data-lanes="\([0-9]*\)".*/\1/p' "$out/$name.dom" | head -1)
  measured=$(measured_rows "$name")
  echo "$name: title \"$title\", data-lanes \"$lanes\", measured rows \"$measured\""
  [ "$title" = "shoal trace report: ok ($want lanes)" ] || fail "$name: the page did not render cleanly"
  [ "$lanes" = "$want" ] || fail "$name: data-lanes is not $want"
  [ "$(grep -o 'class="lane"' "$out/$name.dom" | wc -l)" -eq "$want" ] ||
    fail "$name: not $want lane elements"
}

# has_measured NAME: the measured table is there with at least one row
has_measured() {
  [ -n "$measured" ] && [ "$measured" -ge 1 ] || fail "$1: no measured-actors table with rows"
}

render report 3
has_measured report
grep -q '<b>io 0</b>' "$out/report.dom" || fail "report: no lane labelled \"io 0\""
grep -q '^guest *io 0: .* 1 frames in (1 messages), 1 writes out' "$out/report.summary" ||
  fail "report: the summary does not show the guest lane's frames"
cat "$out/report.summary"

rm -f "$out/report.png"
browser --screenshot="$out/report.png" --window-size=1400,900 \
  "file://$out/report.html" >/dev/null || fail "chromium --screenshot (status $?)"
[ -f "$out/report.png" ] || fail "no screenshot"
size=$(stat -c %s "$out/report.png")
echo "screenshot: $out/report.png ($size bytes)"
[ "$size" -gt 20000 ] || fail "the screenshot is only $size bytes: a blank page?"

render hostile 3 --hostile-names
has_measured hostile
if grep -q '<img' "$out/hostile.dom"; then fail "a name became an element"; fi
render empty 2 --empty
[ -z "$measured" ] || fail "empty: a measured table without statistics"

echo "PASS in $((SECONDS - start)) s"
