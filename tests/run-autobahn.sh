#!/usr/bin/env bash
# The Autobahn|Testsuite (1.* to 13.*, permessage-deflate included) in both
# roles, strict (NON-STRICT and UNIMPLEMENTED count as failures):
#   fuzzingclient tests our server (build/echo_server --deflate),
#   fuzzingserver tests our client (build/autobahn_client --deflate).
#
#   tests/run-autobahn.sh [AUTOBAHN_DIR]
#
# AUTOBAHN_DIR defaults to $AUTOBAHN_DIR, then ../shared/autobahn. Without it the
# suites are skipped, and this says so. Reports go to reports/servers and
# reports/clients. The two roles run at the same time (each Autobahn process
# keeps one CPU busy) and take about 12 minutes, mostly the compression cases;
# AUTOBAHN_EXCLUDE lists case patterns to leave out: `make test` leaves out
# '12.2.*,12.3.*,12.5.*' (about 6 minutes), '12.*,13.*' makes a quick run.
# WS_IO_THREADS sets the I/O threads of both programs under test (default 1);
# `make test` runs a second, shorter pass with 4.
set -uo pipefail
cd "$(dirname "$0")/.."

DIR="${1:-${AUTOBAHN_DIR:-}}"
if [[ -z "$DIR" && -d ../shared/autobahn ]]; then DIR=../shared/autobahn; fi
if [[ -z "$DIR" || ! -x "$DIR/run-fuzzingclient.sh" ]]; then
  echo "autobahn: SKIPPED: no Autobahn scripts found (set AUTOBAHN_DIR or put them in ../shared/autobahn)"
  exit 0
fi
DIR="$(cd "$DIR" && pwd)"
EXCLUDE="${AUTOBAHN_EXCLUDE:-}"
export AUTOBAHN_STRICT=1

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

SERVER_PID=""
WORK=$(mktemp -d)
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# Once, before the two roles start at the same time (both would set it up).
"$DIR/setup.sh" >&2

# --- our server under test -------------------------------------------------
LOG=$WORK/echo_server.log
build/echo_server --host 127.0.0.1 --port 0 --deflate >"$LOG" 2>&1 &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 50); do
  PORT=$(sed -n 's|^listening on ws://127.0.0.1:\([0-9]*\)/$|\1|p' "$LOG")
  [[ -n "$PORT" ]] && break
  sleep 0.1
done
if [[ -z "$PORT" ]]; then
  echo "autobahn: echo_server did not start:"; cat "$LOG"
  echo "0 passed, 1 failed"; exit 1
fi
THREADS="${WS_IO_THREADS:-1} I/O thread(s)"
SERVER_HEAD="== Autobahn fuzzingclient: testing build/echo_server --deflate on port $PORT, $THREADS (excluded: ${EXCLUDE:-none})"
AUTOBAHN_AGENT=libwebsocket AUTOBAHN_REPORT_DIR="$PWD/reports/servers" \
  "$DIR/run-fuzzingclient.sh" "$PORT" '*' "$EXCLUDE" >"$WORK/server-role.log" 2>&1 &
SERVER_ROLE=$!

# --- our client under test, meanwhile ---------------------------------------
CPORT=$(free_port)
CLIENT_HEAD="== Autobahn fuzzingserver: testing build/autobahn_client --deflate on port $CPORT, $THREADS (excluded: ${EXCLUDE:-none})"
AUTOBAHN_AGENT=libwebsocket AUTOBAHN_EXCLUDE="$EXCLUDE" AUTOBAHN_REPORT_DIR="$PWD/reports/clients" \
  "$DIR/run-fuzzingserver.sh" "$CPORT" build/autobahn_client --url "ws://127.0.0.1:$CPORT" --agent libwebsocket --deflate \
  >"$WORK/client-role.log" 2>&1 &
CLIENT_ROLE=$!

wait "$SERVER_ROLE"
SERVER_RC=$?
wait "$CLIENT_ROLE"
CLIENT_RC=$?
kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
echo "$SERVER_HEAD"
cat "$WORK/server-role.log"
echo "$CLIENT_HEAD"
cat "$WORK/client-role.log"

if [[ $SERVER_RC -ne 0 || $CLIENT_RC -ne 0 ]]; then
  echo "autobahn: FAILED (server role exit $SERVER_RC, client role exit $CLIENT_RC; reports in reports/)"
  exit 1
fi
echo "autobahn: both roles passed ($THREADS)"
