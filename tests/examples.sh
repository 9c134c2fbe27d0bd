#!/usr/bin/env bash
# The command-line contracts of the example programs (DEVELOPERS.md), over loopback:
# echo_server, wscat, and a clean shutdown of the server on SIGTERM.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0
check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok - $name"
  else failed=$((failed + 1)); echo "FAIL - $name"; fi
}

TMP=$(mktemp -d)
SERVER_PID=""
cleanup() { [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

start_server() {
  build/echo_server --host 127.0.0.1 --port 0 >"$TMP/server.out" 2>&1 &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1 50); do
    PORT=$(sed -n 's|^listening on ws://127.0.0.1:\([0-9]*\)/$|\1|p' "$TMP/server.out")
    [[ -n "$PORT" ]] && return 0
    sleep 0.1
  done
  return 1
}

check "echo_server starts on a free port and says where" start_server
URL="ws://127.0.0.1:$PORT/"

printf 'hello\nwörld\n\nlast line without newline' | timeout 10 build/wscat "$URL" >"$TMP/out" 2>"$TMP/err"
rc=$?
check "wscat exits 0 after EOF and the close handshake" test "$rc" -eq 0
check "wscat prints each echoed line" diff <(printf 'hello\nwörld\n\nlast line without newline\n') "$TMP/out"
check "wscat is silent on stderr on a normal close" test ! -s "$TMP/err"

printf 'bin\n' | timeout 10 build/wscat --binary "$URL" >"$TMP/out" 2>&1
check "wscat --binary round-trips" grep -qx bin "$TMP/out"

start=$(date +%s%N)
timeout 10 build/wscat "$URL" < <(printf 'close-me\n'; sleep 5) >"$TMP/out" 2>"$TMP/err"
rc=$?
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "close-me: the server closes with 4000 \"bye\"" grep -qx 'wscat: closed: 4000 bye' "$TMP/err"
check "close-me: wscat exits 3" test "$rc" -eq 3
check "close-me: at once, not when stdin ends 5 s later (${elapsed_ms} ms)" test "$elapsed_ms" -lt 4000

timeout 10 build/wscat "ws://127.0.0.1:1/" </dev/null >"$TMP/out" 2>"$TMP/err"
rc=$?
check "refused port: non-zero exit" test "$rc" -ne 0
check "refused port: one line on stderr naming the cause" \
  bash -c "[[ \$(wc -l <'$TMP/err') -eq 1 ]] && grep -q 'Connection refused' '$TMP/err'"

timeout 10 build/wscat "http://127.0.0.1:$PORT/" </dev/null >/dev/null 2>"$TMP/err"
rc=$?
check "bad URL: non-zero exit with one line" bash -c "[[ $rc -ne 0 && \$(wc -l <'$TMP/err') -eq 1 ]]"

# SIGTERM: every client gets 1001 "going away" before the server exits.
(sleep 30) | build/wscat "$URL" >"$TMP/out" 2>"$TMP/err" &
WSCAT_PID=$!
sleep 1   # let it connect
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"; src=$?
SERVER_PID=""
check "echo_server exits 0 on SIGTERM" test "$src" -eq 0
timeout 10 tail --pid="$WSCAT_PID" -f /dev/null
check "a connected client is closed with 1001" grep -q '^wscat: closed: 1001' "$TMP/err"
kill "$WSCAT_PID" 2>/dev/null

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
