#!/usr/bin/env bash
# Runs every C test program in build/tests/ (built by `make ctests`) under
# valgrind. A program fails when it exits non-zero (a failed check), or when
# valgrind reports an error or a definite leak (exit code 99). "Still
# reachable" / "possibly lost" memory (the library's global runtime thread is
# never joined) does not count. tests/valgrind.supp silences false positives
# inside the TLS crypto assembly (it says why).
#
# Arguments name the programs to run (default: all of them).
#
# Prints each program's summary line ("N passed, M failed"), then one line
# "N passed, M failed" counting programs; exits non-zero if any program failed.
#
# Environment: VALGRIND=0 runs the programs directly (no valgrind);
# TEST_TIMEOUT (seconds, default 300) bounds each program. Under valgrind,
# which runs one thread at a time and each many times slower, test_stress
# opens 200 clients instead of 1000 (STRESS_CLIENTS overrides): enough to
# check memory on every path, where 1000 would run into its handshake
# timeouts. Without valgrind (make test-threads) and under ThreadSanitizer
# (make tsan) it opens all 1000.
set -euo pipefail

cd "$(dirname "$0")/.."
bindir=build/tests
logdir=build/tests/logs
timeout_s=${TEST_TIMEOUT:-300}

shopt -s nullglob
programs=("$@")
if ((${#programs[@]} == 0)); then
  for f in "$bindir"/*; do
    [[ -f $f && -x $f ]] && programs+=("$f")
  done
fi
if ((${#programs[@]} == 0)); then
  echo "no test programs in $bindir (run 'make ctests' first)" >&2
  exit 1
fi

use_valgrind=${VALGRIND:-1}
if [[ $use_valgrind != 0 ]] && ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind is not installed" >&2
  exit 1
fi
if [[ $use_valgrind != 0 ]]; then
  export STRESS_CLIENTS=${STRESS_CLIENTS:-200}
fi

mkdir -p "$logdir"
passed=0
failed=0
for prog in "${programs[@]}"; do
  name=$(basename "$prog")
  out="$logdir/$name.out"
  vlog="$logdir/$name.valgrind"
  rm -f "$out" "$vlog"
  rc=0
  if [[ $use_valgrind != 0 ]]; then
    timeout -k 10 "$timeout_s" valgrind --quiet --error-exitcode=99 --leak-check=full \
      --suppressions=tests/valgrind.supp \
      --errors-for-leak-kinds=definite --show-leak-kinds=definite \
      --log-file="$vlog" "$prog" >"$out" 2>&1 || rc=$?
  else
    timeout -k 10 "$timeout_s" "$prog" >"$out" 2>&1 || rc=$?
  fi
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
  [[ -n $summary ]] || summary="no summary line"
  if ((rc == 0)); then
    passed=$((passed + 1))
    echo "PASS $name: $summary"
  else
    failed=$((failed + 1))
    case $rc in
      99) why="valgrind reported errors or definite leaks" ;;
      124 | 137) why="timed out after ${timeout_s}s" ;;
      *) why="exit code $rc" ;;
    esac
    echo "FAIL $name: $summary ($why)"
    grep -E '^FAIL ' "$out" | sed 's/^/    /' || true
    if [[ -s $vlog ]]; then
      echo "    valgrind ($vlog):"
      sed 's/^/    /' "$vlog" | head -n 60
    fi
    echo "    full output: $out"
  fi
done

echo "$passed passed, $failed failed"
((failed == 0))
