#!/usr/bin/env bash
# Cap'n Proto's own tool reads shoal's golden frame against the schema:
# the frame format is standard Cap'n Proto, not something only shoal reads.
# usage: capnp_decode.sh SOURCE_ROOT
set -euo pipefail
root="$1"
out=$(capnp decode --import-path=/usr/include "$root/wire/frame.capnp" Frame \
        < "$root/tests/wire/golden/batch.bin")
echo "$out"
for want in 'firstSequence = 100' '"test.Ping"' '"test.Note"' 'name = "greeter"' \
            'address = "127.0.0.1:7001"' 'requestId = 20817' 'sequenceOffset = 4'; do
  if ! grep -qF -- "$want" <<<"$out"; then
    echo "capnp decode output lacks: $want" >&2
    exit 1
  fi
done
echo "capnp decode read the golden frame"
