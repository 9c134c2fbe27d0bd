#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer over the C API: every program in
# tests/c (the fork and stress tests included), built by clang with
# -fsanitize=address,undefined, linked against the library built with
# -Zsanitizer=address (nightly toolchain, -Zbuild-std: Rust's std instrumented
# too). An invalid access, a leak or undefined behaviour in the C tests fails
# the run. Skips plainly when there is no clang, no nightly toolchain or no
# rust-src for it.
#
# Linking: each test takes the Rust staticlib (libwebsocket.a), so the only
# sanitizer runtime in the executable is clang's, brought in by
# -fsanitize=address,undefined. Debian's clang runtime and rustc's LLVM agree
# on the ASan ABI (both check __asan_version_mismatch_check_v8), so no runtime
# of Rust's is linked in, unlike run-tsan.sh.
#
# Leaks are checked (detect_leaks=1), in the library's allocations as well as
# the tests'; none needs a suppression (the I/O threads' state is still
# reachable at exit, which LeakSanitizer does not report).
#
# Arguments name the tests to run (default: all of tests/c/*.c), e.g.
# tests/run-asan.sh test_api test_fork. test_stress opens 200 clients, as under
# valgrind (STRESS_CLIENTS overrides).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v clang >/dev/null 2>&1; then
  echo "asan skipped: no clang (apt-get install clang)"
  exit 0
fi
source tests/nightly-std.sh
nightly_std asan AddressSanitizer
target=$(rustc +nightly -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export STRESS_CLIENTS=${STRESS_CLIENTS:-200}
timeout_s=${TEST_TIMEOUT:-300}

echo "== AddressSanitizer: the library"
cargo +nightly -q build -Zbuild-std --release --target "$target" --target-dir target/asan --lib
lib=target/asan/$target/release

names=("$@")
if ((${#names[@]} == 0)); then
  for f in tests/c/*.c; do
    names+=("$(basename "$f" .c)")
  done
fi

echo "== AddressSanitizer + UndefinedBehaviorSanitizer: the C tests"
mkdir -p build/asan/logs
passed=0
failed=0
for name in "${names[@]}"; do
  name=${name%.c}
  name=${name##*/}
  clang -O1 -g -Wall -Wextra -Werror -std=c11 -D_POSIX_C_SOURCE=200809L \
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
    -Iinclude "tests/c/$name.c" -o "build/asan/$name" "$lib/libwebsocket.a" -lpthread -ldl -lm
  out=build/asan/logs/$name.out
  rc=0
  timeout -k 10 "$timeout_s" "build/asan/$name" >"$out" 2>&1 || rc=$?
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
  [[ -n $summary ]] || summary="no summary line"
  if ((rc == 0)) && ! grep -qE '^(==[0-9]+==ERROR|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer)|runtime error:' "$out"; then
    passed=$((passed + 1))
    echo "PASS $name: $summary"
  else
    failed=$((failed + 1))
    echo "FAIL $name: $summary (exit code $rc)"
    grep -E '^FAIL ' "$out" | sed 's/^/    /' || true
    grep -A40 -E '^==[0-9]+==ERROR|runtime error:' "$out" | head -n 60 | sed 's/^/    /' || true
    echo "    full output: $out"
  fi
done

echo "$passed passed, $failed failed"
if ((failed > 0)); then
  echo "asan: FAILED"
  exit 1
fi
echo "asan: no invalid access, leak or undefined behaviour found"
