#!/usr/bin/env bash
# make demo: start the echo server on a free port, run the demo client against
# it, then pipe two lines through wscat. Exits non-zero if any step failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOG="$(mktemp)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -f "$LOG"
}
trap cleanup EXIT

echo "== 1. start the echo server (port 0 = any free port)"
build/echo_server --host 127.0.0.1 --port 0 >"$LOG" 2>&1 &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 50); do
  PORT="$(sed -n 's#^listening on ws://127\.0\.0\.1:\([0-9]*\)/$#\1#p' "$LOG")"
  [[ -n "$PORT" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$PORT" ]]; then
  echo "FAILED: the echo server did not start:" >&2
  cat "$LOG" >&2
  exit 1
fi
cat "$LOG"
URL="ws://127.0.0.1:$PORT/"

failed=0
echo
echo "== 2. demo_client: text, binary, ping/pong, close with a code"
if ! build/demo_client "$URL"; then
  failed=1
fi

echo
echo "== 3. wscat: each stdin line is a message, each echo is printed"
echo "\$ printf 'hello\\nworld\\n' | build/wscat $URL"
out="$(printf 'hello\nworld\n' | build/wscat "$URL")"
rc=$?
echo "$out"
if [[ $rc -ne 0 || "$out" != $'hello\nworld' ]]; then
  echo "FAILED: wscat exited $rc or did not print the two echoes" >&2
  failed=1
fi

echo
if [[ $failed -eq 0 ]]; then
  echo "== demo passed"
else
  echo "== demo FAILED" >&2
fi
exit $failed
