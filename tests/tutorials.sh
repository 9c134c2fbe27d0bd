#!/usr/bin/env bash
# The README's tutorials, one a language: each is a program in the tree that
# README.md shows verbatim (a test fails when the two differ), and each runs
# here and prints what the README says it prints.
# Prints one line per check and "N passed, M failed"; exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

# True when README.md holds the whole file as one fenced block of that language.
in_readme() { # in_readme LANGUAGE FILE
  python3 - "$1" "$2" <<'PY'
import sys
lang, path = sys.argv[1:]
block = "```" + lang + "\n" + open(path, encoding="utf-8").read() + "```\n"
sys.exit(0 if block in open("README.md", encoding="utf-8").read() else 1)
PY
}

# True when the command exits 0 within 30 s and prints every line given after --.
prints() { # prints command... -- line...
  local cmd=() out
  while [[ $1 != -- ]]; do cmd+=("$1"); shift; done
  shift
  out=$(timeout 30 "${cmd[@]}" 2>&1) || { echo "$out" | sed 's/^/     /'; return 1; }
  for line in "$@"; do
    grep -qxF -- "$line" <<<"$out" || { echo "     missing \"$line\" in:"; echo "$out" | sed 's/^/     /'; return 1; }
  done
}

TMP=$(mktemp -d)
source tests/lib.sh
SERVER_PID=""
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
check "echo_server is listening" start_server build/echo_server
URL="ws://127.0.0.1:$PORT/"

echo "== C: examples-c/first_client.c"
check "README.md shows it as it is" in_readme c examples-c/first_client.c
check "it echoes through echo_server" prints build/first_client "$URL" -- "got: hello" "closed with 1000"

echo "== C++: examples-cpp/tutorial.cpp"
check "README.md shows it as it is" in_readme cpp examples-cpp/tutorial.cpp
check "it runs a server and a client" prints build/cpp_tutorial -- "echoed: hello"

echo "== Perl: bindings/perl/examples/tutorial.pl"
check "README.md shows it as it is" in_readme perl bindings/perl/examples/tutorial.pl
if perl -MFFI::Platypus -e1 2>/dev/null; then
  check "it runs a server and a client" prints perl -Ibindings/perl/lib bindings/perl/examples/tutorial.pl \
    -- "echoed: hello" "the client left with 1000 (done)"
else
  echo "skip it runs: FFI::Platypus is not installed (apt-get install libffi-platypus-perl)"
fi

echo "== Python: bindings/python/examples/tutorial.py"
check "README.md shows it as it is" in_readme python bindings/python/examples/tutorial.py
check "it runs a server and a client" prints env PYTHONPATH=bindings/python python3 bindings/python/examples/tutorial.py \
  -- "client: got 'Hello, WebSocket!'" "client: closed with 1000" "server: closed"

summary
