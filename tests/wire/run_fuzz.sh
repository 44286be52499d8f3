#!/usr/bin/env bash
# Runs a libFuzzer target for a bounded time. Passes when it found nothing;
# a crash, leak or sanitizer report fails the test and leaves the input
# (crash-*) in the corpus directory, with the command to replay it.
# usage: run_fuzz.sh FUZZER CORPUS_DIR SEED_DIR SECONDS
set -uo pipefail
fuzzer=$(realpath "$1") corpus=$(realpath -m "$2") seeds=$(realpath "$3") seconds="$4"
mkdir -p "$corpus"
cd "$corpus" || exit 1
"$fuzzer" -max_total_time="$seconds" -seed=1 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$corpus" "$seeds"
rc=$?
if [ $rc -ne 0 ]; then
  echo "fuzzer failed (exit $rc); replay with: $fuzzer $corpus/crash-*" >&2
fi
exit $rc
