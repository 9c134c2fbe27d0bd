#!/usr/bin/env bash
# ThreadSanitizer over the concurrent code: the transport's loopback suites and
# the C stress test (1000 clients), with 4 I/O threads, the library and Rust's
# std instrumented (nightly toolchain, -Zbuild-std). A data race fails the run.
# Skips plainly when there is no nightly toolchain (or no rust-src for it).
#
# The I/O threads live as long as the process, by design: thread-leak reports
# are turned off.
set -euo pipefail
cd "$(dirname "$0")/.."

source tests/nightly-std.sh
nightly_std tsan ThreadSanitizer
target=$(rustc +nightly -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Zsanitizer=thread"
export TSAN_OPTIONS="report_thread_leaks=0 halt_on_error=1"
export WS_IO_THREADS=4
cargo=(cargo +nightly -q)
build=(-Zbuild-std --release --target "$target" --target-dir target/tsan)

echo "== ThreadSanitizer: Rust loopback suites with 4 I/O threads"
# (Messages in parts, statistics and the log go through the same mailbox and
# event queue as these; they stay out to keep CI within its time.)
if ! out=$("${cargo[@]}" test "${build[@]}" --test loopback --test fairness --test keepalive \
  --test raw_peer --test deflate --test handshake --test tls --test parts --test topics \
  --test reconnect --test conn_controls 2>&1); then
  echo "$out" | tail -n 80
  echo "tsan: FAILED"
  exit 1
fi
echo "$out" | grep -E '^test result'

echo "== ThreadSanitizer: C stress test (4 I/O threads, 1000 clients)"
"${cargo[@]}" build "${build[@]}" --lib
lib=target/tsan/$target/release
soname=$(packaging/soname.sh "$lib/libwebsocket.so")
ln -sfn libwebsocket.so "$lib/$soname"
runtime=$(rustc +nightly --print sysroot)/lib/rustlib/$target/lib/librustc-nightly_rt.tsan.a
mkdir -p build/tsan
cc -O1 -g -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude tests/c/test_stress.c -o build/tsan/test_stress \
  -Wl,--whole-archive "$runtime" -Wl,--no-whole-archive -L"$lib" -Wl,-rpath,"$PWD/$lib" \
  -lwebsocket -lpthread -ldl -lm -lstdc++
build/tsan/test_stress | tail -n 1
echo "tsan: no data race found"
