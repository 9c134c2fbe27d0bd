#!/usr/bin/env bash
# Miri over the sans-I/O protocol core's unit tests: undefined behaviour,
# out-of-bounds or misaligned accesses, use of uninitialised memory, in our code
# and in what it calls of std. Skips plainly when there is no nightly toolchain
# or no Miri for it.
#
# The modules: frame, mask, utf8, close, handshake, url, proxy, receiver,
# outqueue. Two stay out, too slow for Miri (which runs some thousand times
# slower than native code): protocol::deflate, zlib-rs at work on buffers of
# kilobytes to megabytes, and protocol::session, whose tests drive whole
# sessions through messages of tens of kilobytes (over 7 minutes for three
# quarters of it). The few tests of the other modules that loop over tens of
# thousands of cases or megabytes are #[cfg_attr(miri, ignore)] (each says
# why). About 10 minutes in all.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "miri skipped: no nightly toolchain (rustup toolchain list)"
  exit 0
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  if ! rustup component add miri --toolchain nightly >/dev/null 2>&1; then
    echo "miri skipped: no Miri for the nightly toolchain (rustup component add miri --toolchain nightly)"
    exit 0
  fi
fi

modules=(frame mask utf8 close handshake url proxy receiver outqueue)
filters=()
for m in "${modules[@]}"; do
  filters+=("protocol::$m::")
done

echo "== Miri: the protocol core's unit tests (${modules[*]})"
if ! out=$(cargo +nightly miri test -q --target-dir target/miri --lib -- "${filters[@]}" 2>&1); then
  echo "$out" | tail -n 80
  echo "miri: FAILED"
  exit 1
fi
echo "$out" | grep -E '^test result'
echo "miri: no undefined behaviour found"
