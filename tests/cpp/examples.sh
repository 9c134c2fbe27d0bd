#!/usr/bin/env bash
# The command lines of the C++ examples (examples-cpp/, built by `make` into
# build/cpp_*), over loopback: cpp_echo_server and cpp_client together, the C
# wscat against cpp_echo_server for what cpp_client does not do (binary,
# deflate, TLS), a clean stop on SIGTERM, and bad command lines. (The tutorial
# is checked against README.md by tests/tutorials.sh.)
# Prints "ok - ..." or "FAIL - ..." per check, then "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."

TMP=$(mktemp -d)
source tests/lib.sh
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

start_echo() { start_server build/cpp_echo_server "$@"; } # start_echo [cpp_echo_server options...]
stop_server() {
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}

check "cpp_echo_server starts on a free port and says where" start_echo
URL="ws://127.0.0.1:$PORT/"

timeout 10 build/cpp_client "$URL" hello 'wörld' '' >"$TMP/out" 2>"$TMP/err"
rc=$?
check "cpp_client URL MESSAGE...: exit 0 after a 1000 close" test "$rc" -eq 0
check "cpp_client prints each echo" diff <(printf 'hello\nwörld\n\n') "$TMP/out"
check "cpp_client is silent on stderr on a normal close" test ! -s "$TMP/err"

printf 'one\ntwo\n' | timeout 10 build/cpp_client "$URL" >"$TMP/out" 2>&1
check "cpp_client sends stdin's lines" diff <(printf 'one\ntwo\n') "$TMP/out"

timeout 10 build/cpp_client "$URL" first close-me >"$TMP/out" 2>"$TMP/err"
rc=$?
check "close-me: the server closes with 4000 \"bye\", cpp_client exits 3" \
  bash -c "[[ $rc -eq 3 ]] && grep -qx 'closed: 4000 bye' '$TMP/err' && grep -qx first '$TMP/out'"

timeout 10 build/cpp_client "ws://127.0.0.1:1/" >"$TMP/out" 2>"$TMP/err"
rc=$?
check "refused port: exit 1, one line naming the cause" \
  bash -c "[[ $rc -eq 1 && \$(wc -l <'$TMP/err') -eq 1 ]] && grep -q 'Connection refused' '$TMP/err'"
timeout 10 build/cpp_client "http://127.0.0.1:$PORT/" >"$TMP/out" 2>"$TMP/err"
rc=$?
check "bad URL: exit 1, one line" bash -c "[[ $rc -eq 1 && \$(wc -l <'$TMP/err') -eq 1 ]]"

printf 'bin\n' | timeout 10 build/wscat --binary "$URL" >"$TMP/out" 2>&1
check "wscat --binary: binary messages are echoed" grep -qx bin "$TMP/out"

# SIGTERM: a connected client gets 1001 before the server exits 0.
(echo connected; sleep 30) | build/wscat "$URL" >"$TMP/out" 2>"$TMP/err" &
WSCAT_PID=$!
for _ in $(seq 1 100); do # connected once its first line came back
  grep -qx connected "$TMP/out" && break
  sleep 0.1
done
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"; src=$?
SERVER_PID=""
check "cpp_echo_server exits 0 on SIGTERM" test "$src" -eq 0
timeout 10 tail --pid="$WSCAT_PID" -f /dev/null
check "a connected client is closed with 1001" grep -q '^wscat: closed: 1001' "$TMP/err"
kill "$WSCAT_PID" 2>/dev/null

check "cpp_echo_server --deflate starts" start_echo --deflate
printf 'packed\n' | timeout 10 build/wscat --deflate --verbose "ws://127.0.0.1:$PORT/" >"$TMP/out" 2>"$TMP/err"
check "--deflate: permessage-deflate is negotiated and the echo comes back" \
  bash -c "grep -qx packed '$TMP/out' && grep -q 'extensions \"permessage-deflate' '$TMP/err'"
stop_server

# TLS: a CA (trusted by wscat --ca), and a certificate for 127.0.0.1 signed by it.
make_certs() {
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$TMP/ca.key" -out "$TMP/ca.pem" -days 2 -subj /CN=test-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign &&
    openssl req "${ec[@]}" -keyout "$TMP/key.pem" -out "$TMP/server.csr" -subj /CN=127.0.0.1 &&
    printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/san" &&
    openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
      -days 2 -extfile "$TMP/san" -out "$TMP/cert.pem"
}
check "openssl makes a CA and a server certificate" make_certs 2>/dev/null
check "cpp_echo_server --tls-cert --tls-key starts" start_echo --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
check "its banner says wss://" grep -q '^listening on wss://' "$TMP/server.out"
printf 'secret\n' | timeout 10 build/wscat "wss://127.0.0.1:$PORT/" --ca "$TMP/ca.pem" >"$TMP/out" 2>&1
check "wss:// round trip" grep -qx secret "$TMP/out"
stop_server

build/cpp_echo_server --port 0 --tls-cert "$TMP/cert.pem" >/dev/null 2>"$TMP/err"
rc=$?
check "--tls-cert without --tls-key: exit 2" test "$rc" -eq 2
build/cpp_echo_server --port 0 --tls-cert /nonexistent --tls-key /nonexistent >/dev/null 2>"$TMP/err"
rc=$?
check "an unreadable certificate: exit 2 with the reason" bash -c "[[ $rc -eq 2 ]] && grep -q nonexistent '$TMP/err'"
build/cpp_echo_server --bogus >/dev/null 2>&1
rc=$?
check "an unknown option: exit 2" test "$rc" -eq 2

summary
