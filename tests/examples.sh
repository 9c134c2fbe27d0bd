#!/usr/bin/env bash
# The command-line contracts of the example programs (README.md), over loopback:
# echo_server, wscat, a clean shutdown of the server on SIGTERM, and TLS
# (certificates made here with openssl) with the static page of examples-c/www;
# chat_server's page and protocol.
set -uo pipefail
cd "$(dirname "$0")/.."

TMP=$(mktemp -d)
source tests/lib.sh
SERVER_PID=""
PROXY_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null
  [[ -n "$PROXY_PID" ]] && kill "$PROXY_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

start_echo() { start_server build/echo_server "$@"; } # start_echo [echo_server options...]

check "echo_server starts on a free port and says where" start_echo
URL="ws://127.0.0.1:$PORT/"

# A burst of clients waits in the listen queue instead of having its SYNs
# dropped: the backlog is the system's maximum (up to 4096), not std's 128.
# (`ss` shows a listening socket's backlog as its Send-Q.)
if command -v ss >/dev/null 2>&1; then
  backlog=$(ss -Hlnt "sport = :$PORT" | awk '{ print $3 }')
  somaxconn=$(cat /proc/sys/net/core/somaxconn)
  want=$((somaxconn < 4096 ? somaxconn : 4096))
  check "the listen backlog is $want (${backlog:-none})" test "${backlog:-0}" -eq "$want"
else
  echo "skip - listen backlog: ss is not installed (iproute2)"
fi

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

# --verbose: the library's log lines on stderr, with the connection's id.
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
check "echo_server --verbose starts" start_echo --verbose
URL="ws://127.0.0.1:$PORT/"
printf 'hi\n' | timeout 10 build/wscat "$URL" >/dev/null 2>&1
for _ in $(seq 1 50); do # the server logs the close once its side of TCP ends too
  grep -q 'closed with 1000' "$TMP/server.out" && break
  sleep 0.1
done
check "echo_server --verbose logs where it listens" grep -q '^websocket: INFO listening on 127.0.0.1:' "$TMP/server.out"
check "echo_server --verbose logs a client's open and close" \
  bash -c "grep -q '^websocket: INFO \[conn [0-9]*\] open: from 127.0.0.1:' '$TMP/server.out' &&
           grep -q '^websocket: INFO \[conn [0-9]*\] closed with 1000' '$TMP/server.out'"
check "echo_server --verbose logs DEBUG detail" grep -q '^websocket: DEBUG accepted a TCP connection' "$TMP/server.out"
printf 'hi\n' | timeout 10 build/wscat --verbose "$URL" >"$TMP/out" 2>"$TMP/err"
check "wscat --verbose: log lines on stderr, echoes unchanged on stdout" \
  bash -c "grep -q '^websocket: INFO \[conn [0-9]*\] open: to 127.0.0.1:' '$TMP/err' && grep -qx hi '$TMP/out'"
timeout 20 build/demo_client "$URL" --verbose >"$TMP/out" 2>"$TMP/err"
rc=$?
check "demo_client --verbose: its steps pass, log lines on stderr" \
  bash -c "[[ $rc -eq 0 ]] && grep -q '^websocket: INFO \[conn [0-9]*\] open: to 127.0.0.1:' '$TMP/err'"

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

# TLS: a CA, and a certificate for localhost and 127.0.0.1 signed by it.
make_certs() {
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$TMP/ca.key" -out "$TMP/ca.pem" -days 2 -subj /CN=test-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign &&
    openssl req "${ec[@]}" -keyout "$TMP/server.key" -out "$TMP/server.csr" -subj /CN=localhost &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$TMP/san" &&
    openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" \
      -CAcreateserial -days 1 -extfile "$TMP/san" -out "$TMP/server.pem"
}
check "openssl makes a CA and a server certificate" make_certs 2>/dev/null
check "echo_server --tls-cert --tls-key --static starts and says wss://" \
  start_echo --tls-cert "$TMP/server.pem" --tls-key "$TMP/server.key" --static examples-c/www
check "its banner says wss://" grep -q '^listening on wss://' "$TMP/server.out"

printf 'secret\nsecond\n' | timeout 10 build/wscat "wss://localhost:$PORT/" --ca "$TMP/ca.pem" >"$TMP/out" 2>"$TMP/err"
rc=$?
check "wscat --ca: wss:// round trip, exit 0" test "$rc" -eq 0
check "wscat --ca: the lines come back" diff <(printf 'secret\nsecond\n') "$TMP/out"
printf 'packed\n' | timeout 10 build/wscat "wss://127.0.0.1:$PORT/" --ca "$TMP/ca.pem" --deflate >"$TMP/out" 2>&1
check "wscat --deflate over TLS, to the IP address" grep -qx packed "$TMP/out"

timeout 10 build/wscat "wss://localhost:$PORT/" </dev/null >"$TMP/out" 2>"$TMP/err"
rc=$?
check "wscat without --ca: exit 1" test "$rc" -eq 1
check "wscat without --ca: one line saying the certificate is not trusted" \
  bash -c "[[ \$(wc -l <'$TMP/err') -eq 1 ]] && grep -q 'not signed by a trusted CA' '$TMP/err'"
timeout 10 build/wscat "ws://localhost:$PORT/" </dev/null >"$TMP/out" 2>"$TMP/err"
check "ws:// to the TLS port: the server's 400 says why" grep -q 'Plain HTTP Request Sent To TLS Port' "$TMP/err"

fetch "https://localhost:$PORT/" "$TMP/ca.pem" >"$TMP/page" 2>"$TMP/err"
check "the same port serves examples-c/www/index.html over https" cmp -s "$TMP/page" examples-c/www/index.html

# Proxies from the environment, as curl users expect: https_proxy for wss://,
# http_proxy for ws://, no_proxy to go direct.
python3 tests/tools/connect_proxy.py "$TMP/proxy.log" >"$TMP/proxy.out" 2>&1 &
PROXY_PID=$!
for _ in $(seq 1 50); do
  PROXY_PORT=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$TMP/proxy.out")
  [[ -n "$PROXY_PORT" ]] && break
  sleep 0.1
done
printf 'tunnelled\n' | https_proxy="http://127.0.0.1:$PROXY_PORT" timeout 10 \
  build/wscat "wss://localhost:$PORT/" --ca "$TMP/ca.pem" >"$TMP/out" 2>&1
check "https_proxy: wss:// through the CONNECT proxy" grep -qx tunnelled "$TMP/out"
check "https_proxy: the proxy saw CONNECT localhost:$PORT" grep -qx "CONNECT localhost:$PORT HTTP/1.1" "$TMP/proxy.log"
: >"$TMP/proxy.log"
printf 'direct\n' | https_proxy="http://127.0.0.1:$PROXY_PORT" no_proxy=localhost timeout 10 \
  build/wscat "wss://localhost:$PORT/" --ca "$TMP/ca.pem" >"$TMP/out" 2>&1
check "no_proxy=localhost: direct, the proxy saw nothing" \
  bash -c "grep -qx direct '$TMP/out' && [[ ! -s '$TMP/proxy.log' ]]"
printf 'x\n' | https_proxy="http://127.0.0.1:1" timeout 10 \
  build/wscat "wss://localhost:$PORT/" --ca "$TMP/ca.pem" >"$TMP/out" 2>"$TMP/err"
check "a proxy that is down: exit 1, the proxy named" grep -q "proxy 127.0.0.1:1" "$TMP/err"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; SERVER_PID=""

check "echo_server --static without TLS" start_echo --static examples-c/www
fetch "http://127.0.0.1:$PORT/" >"$TMP/page" 2>"$TMP/err"
check "plain http:// serves the page too" cmp -s "$TMP/page" examples-c/www/index.html
printf 'still\n' | timeout 10 build/wscat "ws://127.0.0.1:$PORT/" >"$TMP/out" 2>&1
check "and WebSockets on the same port" grep -qx still "$TMP/out"
: >"$TMP/proxy.log"
printf 'plain\n' | http_proxy="http://127.0.0.1:$PROXY_PORT" timeout 10 \
  build/wscat "ws://127.0.0.1:$PORT/" >"$TMP/out" 2>&1
check "http_proxy: ws:// through the proxy" \
  bash -c "grep -qx plain '$TMP/out' && grep -qx 'CONNECT 127.0.0.1:$PORT HTTP/1.1' '$TMP/proxy.log'"
kill "$PROXY_PID"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; SERVER_PID=""

build/echo_server --host 127.0.0.1 --port 0 --tls-cert "$TMP/server.pem" --tls-key "$TMP/ca.key" \
  >/dev/null 2>"$TMP/err"
rc=$?
check "echo_server with a key that does not match: exit 2 and why" \
  bash -c "[[ $rc -eq 2 ]] && grep -q 'does not belong to the certificate' '$TMP/err'"

# --threads: several clients at once on a server with 3 I/O threads.
check "echo_server --threads 3 starts" start_echo --threads 3
clients=()
for i in 1 2 3 4 5 6; do
  printf 'client %s\n' "$i" | timeout 10 build/wscat "ws://127.0.0.1:$PORT/" >"$TMP/out.$i" 2>&1 &
  clients+=($!)
done
wait "${clients[@]}"
check "--threads 3: six clients get their echoes" \
  bash -c "for i in 1 2 3 4 5 6; do grep -qx \"client \$i\" '$TMP/out.'\$i || exit 1; done"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID"; SERVER_PID=""
build/echo_server --host 127.0.0.1 --port 0 --threads many >/dev/null 2>"$TMP/err"
rc=$?
check "echo_server --threads many: usage error (exit 2)" test "$rc" -eq 2

# chat_server: its page, and its JSON protocol (examples-c/chat_server.c).
check "chat_server starts" start_server build/chat_server
CHAT="ws://127.0.0.1:$PORT/chat"
fetch "http://127.0.0.1:$PORT/" >"$TMP/page" 2>"$TMP/err"
check "chat_server serves examples-c/web" cmp -s "$TMP/page" examples-c/web/index.html
# chat LINE...: the JSON of a chat message from "ada" for each LINE
chat() { for text in "$@"; do printf '{"type":"chat","name":"ada","text":"%s"}\n' "$text"; done; }
timeout 10 build/wscat "$CHAT?room=b" < <(sleep 1) >"$TMP/b.out" 2>&1 &
room_b=$!
for _ in $(seq 1 50); do grep -qs welcome "$TMP/b.out" && break; sleep 0.1; done
chat 'hi \"you\"\n' | timeout 10 build/wscat "$CHAT" >"$TMP/out" 2>&1
check "chat: welcomed to room lobby (the default)" \
  grep -q '^{"type":"welcome","room":"lobby","server":"[^"]*:[0-9]*","users":1}$' "$TMP/out"
check "chat: the message comes back to the room, its sender included" \
  grep -qx '{"type":"chat","room":"lobby","name":"ada","text":"hi \\"you\\"\\n"}' "$TMP/out"
wait "$room_b"
check "chat: room b did not get it" test "$(grep -c '"type":"chat"' "$TMP/b.out")" -eq 0
{ echo 'not json'; echo '{"type":"chat","text":"no name"}'; chat 'still here'; } |
  timeout 10 build/wscat "$CHAT?room=x" >"$TMP/out" 2>&1
check "chat: what is not a chat message gets an error, and the connection goes on" bash -c \
  "[[ \$(grep -c '\"type\":\"error\"' '$TMP/out') == 2 ]] && grep -q '\"text\":\"still here\"' '$TMP/out'"
timeout 10 build/wscat "$CHAT?room=no/way" </dev/null >"$TMP/out" 2>&1
check "chat: a bad room name closes with 1008" grep -q '^wscat: closed: 1008 ' "$TMP/out"
printf 'x\n' | timeout 10 build/wscat --binary "$CHAT" >"$TMP/out" 2>&1
check "chat: a binary message closes with 1003" grep -q '^wscat: closed: 1003 ' "$TMP/out"
head -c 5000 /dev/zero | tr '\0' a | timeout 10 build/wscat "$CHAT" >"$TMP/out" 2>&1
check "chat: a message over 4 KiB closes with 1009" grep -q '^wscat: closed: 1009 ' "$TMP/out"
kill -TERM "$SERVER_PID"; wait "$SERVER_PID"
rc=$?
SERVER_PID=""
check "chat_server stops on SIGTERM (exit 0)" test "$rc" -eq 0
build/chat_server --port 0 --redis localhost:6379 >/dev/null 2>"$TMP/err"
rc=$?
if pkg-config --exists hiredis; then
  check "chat_server --redis with a bad URL: exit 2 and why" \
    bash -c "[[ $rc -eq 2 ]] && grep -q 'redis://HOST\[:PORT\]' '$TMP/err'"
else
  check "chat_server built without hiredis: --redis says so (exit 2)" \
    bash -c "[[ $rc -eq 2 ]] && grep -q 'without Redis support' '$TMP/err'"
fi

summary
