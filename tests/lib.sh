# Sourced by the shell test scripts (examples.sh, install.sh, tutorials.sh,
# cpp/examples.sh, deploy.sh): checks that count, a server on a free port, and
# an HTTP client.
# The sourcing script has set its own TMP (a private directory).

passed=0 failed=0

# check NAME COMMAND...: runs COMMAND in this shell (so it may set variables)
# and prints "ok - NAME", or "FAIL - NAME" followed by the end of its output.
check() {
  local name=$1; shift
  if "$@" >"$TMP/check.out" 2>&1; then
    passed=$((passed + 1)); echo "ok - $name"
  else
    failed=$((failed + 1)); echo "FAIL - $name"
    tail -n 20 "$TMP/check.out" | sed 's/^/     /'
  fi
}

# summary: prints "N passed, M failed"; fails when a check failed.
summary() {
  echo "$passed passed, $failed failed"
  ((failed == 0))
}

# start_server PROGRAM [options...]: starts an echo server program on a free
# port of 127.0.0.1 (output in $TMP/server.out); sets SERVER_PID, and PORT
# once it says where it listens ("listening on ws://..." or "wss://"); fails
# when it has not said so within 5 s.
start_server() {
  local program=$1; shift
  "$program" --host 127.0.0.1 --port 0 "$@" >"$TMP/server.out" 2>&1 &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1 50); do
    PORT=$(sed -n 's|^listening on wss*://127.0.0.1:\([0-9]*\)/$|\1|p' "$TMP/server.out")
    [[ -n $PORT ]] && return 0
    sleep 0.1
  done
  return 1
}

# fetch URL [CAFILE]: prints the body of a GET (fails on an HTTP error status);
# an https:// URL's certificate is checked against CAFILE when given.
fetch() {
  python3 - "$@" <<'PY'
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2]) if len(sys.argv) > 2 else None
sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=10).read())
PY
}
