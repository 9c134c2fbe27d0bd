#!/usr/bin/env bash
# A real browser (headless Chromium) loads examples-c/www/index.html from
# build/echo_server --static, over https:// and over http://, and the page's
# WebSocket (wss:// and ws:// back to the same port) gets its message echoed:
# the page puts the echo in its title, which is read from the DOM Chromium dumps.
#
# Skipped (exit 0, saying so) when Chromium is not installed; .ci/run installs it.
# The test certificate is not in Chromium's trust store, so Chromium runs with
# --ignore-certificate-errors: what is tested is the browser's TLS and WebSocket
# stack against ours, not the certificate (tests/examples.sh checks that).
set -uo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $CHROMIUM ]]; then
  echo "browser test skipped: chromium is not installed (apt-get install chromium)"
  exit 0
fi

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

start_server() { # start_server [echo_server options...]
  build/echo_server --host 127.0.0.1 --port 0 --static examples-c/www "$@" >"$TMP/server.out" 2>&1 &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1 50); do
    PORT=$(sed -n 's|^listening on wss*://127.0.0.1:\([0-9]*\)/$|\1|p' "$TMP/server.out")
    [[ -n "$PORT" ]] && return 0
    sleep 0.1
  done
  return 1
}

# Stops the server with SIGTERM; fails unless it was still running and exits 0
# (a browser that drops connections must not kill it, e.g. with SIGPIPE).
stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID"
  local status=$?
  SERVER_PID=""
  return "$status"
}

# Prints the page's DOM once loaded and given up to 5 s of (virtual) time.
# Virtual time does not wait for WebSocket traffic (only for pending fetches),
# so on a loaded machine the DOM can be dumped before the echo arrived:
# echoed() then shows what the page logged and tries once more.
browse() {
  timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$TMP/profile-$RANDOM" --ignore-certificate-errors \
    --virtual-time-budget=5000 --dump-dom "$1" 2>"$TMP/chromium.err"
}

# echoed URL: the page at URL got its echo (its title says so).
echoed() {
  local want='<title>echo: hello from the browser</title>'
  browse "$1" >"$TMP/dom"
  grep -q "$want" "$TMP/dom" && return 0
  echo "# no echo in the dumped page; it logged:"
  tr '\n' ' ' <"$TMP/dom" | grep -o '<title>[^<]*</title>\|<div id="log">[^<]*' | sed 's/^/#   /'
  echo "# trying once more"
  browse "$1" >"$TMP/dom"
  grep -q "$want" "$TMP/dom"
}

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
check "a self-signed certificate for localhost" test -s "$TMP/cert.pem"

check "echo_server serves the page over TLS" start_server --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
check "https:// page: the server echoed its message" echoed "https://localhost:$PORT/"
check "https:// page: its WebSocket was wss://" grep -q "open wss://localhost:$PORT/echo" "$TMP/dom"
check "echo_server outlived the browser and stops cleanly (exit 0)" stop_server

check "echo_server serves the page without TLS" start_server
check "http:// page: the server echoed its message" echoed "http://127.0.0.1:$PORT/"
check "http:// page: its WebSocket was ws://" grep -q "open ws://127.0.0.1:$PORT/echo" "$TMP/dom"
check "echo_server outlived the browser and stops cleanly (exit 0)" stop_server

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
