#!/usr/bin/env bash
# The scale-out of examples-c/deploy, on loopback: redis-server, two
# build/chat_server processes bridged through it (--redis), and nginx in front
# (examples-c/deploy/nginx-chat.conf.template), each run as the current user
# from a temporary directory. Checks that
# - a message from a client of one process reaches a client of the other, once
#   (connected to each process directly, then through nginx, which spreads
#   clients over both: the welcome message names each one's process);
# - the bridge comes back after Redis restarts;
# - when a process is killed, its clients reconnect through nginx (to the
#   other process) and chat again. The clients here are build/wscat in a
#   loop that starts it again whenever it ends; the browser library's own
#   reconnection is tested by tests/chat.sh.
#
# Skipped (exit 0, saying so) when nginx, redis-server or hiredis is not
# installed; .ci/run installs them.
set -uo pipefail
cd "$(dirname "$0")/.."

for tool in nginx redis-server; do
  if ! PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null 2>&1; then
    echo "deploy test skipped: $tool is not installed (apt-get install $tool)"
    exit 0
  fi
done
if ! pkg-config --exists hiredis; then
  echo "deploy test skipped: chat_server was built without --redis (apt-get install libhiredis-dev)"
  exit 0
fi
NGINX=$(PATH=$PATH:/usr/sbin command -v nginx)
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY # loopback only: wscat and fetch go direct

TMP=$(mktemp -d)
source tests/lib.sh
PIDS=() # every process started here (the clients' loops too), killed at the end
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for f in "$TMP"/*.wscat.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for FILE PATTERN [N]: FILE has N (default 1) lines matching PATTERN within 10 s.
wait_for() {
  for _ in $(seq 1 100); do
    (($(grep -c -- "$2" "$1" 2>/dev/null) >= ${3:-1})) && return 0
    sleep 0.1
  done
  echo "# waited 10 s for ${3:-1} line(s) matching '$2' in $(basename "$1"), which has:"
  sed 's/^/#   /' "$1" 2>/dev/null | tail -n 10
  return 1
}

start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
    >>"$TMP/redis.out" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_for "$TMP/redis.out" "Ready to accept connections" "$1"
}

# start_chat N: chat_server number N with --redis; sets CHAT<N>_PID and CHAT<N>_PORT.
start_chat() {
  start_server build/chat_server --redis "redis://127.0.0.1:$REDIS_PORT" || return 1
  mv "$TMP/server.out" "$TMP/chat$1.out" # it keeps writing there
  PIDS+=("$SERVER_PID")
  printf -v "CHAT$1_PID" %s "$SERVER_PID"
  printf -v "CHAT$1_PORT" %s "$PORT"
  wait_for "$TMP/chat$1.out" "subscribed to chat:"
}

start_nginx() {
  mkdir -p "$TMP/nginx"
  sed -e "s|\${LISTEN}|127.0.0.1:$NGINX_PORT|" -e "s|\${CHAT1}|127.0.0.1:$CHAT1_PORT|" \
    -e "s|\${CHAT2}|127.0.0.1:$CHAT2_PORT|" -e "s|\${WEB_ROOT}|$PWD/examples-c/web|" \
    examples-c/deploy/nginx-chat.conf.template >"$TMP/nginx/chat.conf"
  # What a system's nginx.conf has around it, all in $TMP (root runs its workers as root
  # here: they read $TMP, which only its owner may).
  cat >"$TMP/nginx/nginx.conf" <<EOF
$( (($(id -u) == 0)) && echo "user root;")
daemon off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 256; }
http {
  access_log $TMP/nginx/access.log;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  include $TMP/nginx/chat.conf;
}
EOF
  "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" 2>>"$TMP/nginx/error.log" &
  PIDS+=($!)
  for _ in $(seq 1 50); do
    fetch "http://127.0.0.1:$NGINX_PORT/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$TMP/nginx/error.log"
  return 1
}

# client NAME URL: build/wscat connected to URL, started again whenever it
# ends (a client that reconnects); what it receives goes to $TMP/NAME.out.
# Lines written to $TMP/NAME.in are sent (the pipe is held open by this shell,
# so wscat never sees the end of its input).
client() {
  mkfifo "$TMP/$1.in"
  eval "exec {fd}<>'$TMP/$1.in'"
  while :; do
    build/wscat "$2" <"$TMP/$1.in" >>"$TMP/$1.out" 2>>"$TMP/$1.err" &
    echo $! >"$TMP/$1.wscat.pid"
    wait $!
    sleep 0.2
  done &
  PIDS+=($!)
}
say() { printf '{"type":"chat","name":"%s","text":"%s"}\n' "$1" "$2" >"$TMP/$1.in"; }
welcomed_by() { grep '"type":"welcome"' "$TMP/$1.out" | tail -n 1 | sed 's/.*"server":"\([^"]*\)".*/\1/'; }
on_process() { [[ $(welcomed_by "$1") == *:$2 ]]; } # client NAME is on the process with PID $2

REDIS_PORT=$(free_port)
NGINX_PORT=$(free_port)
check "redis-server on 127.0.0.1:$REDIS_PORT" start_redis 1
check "chat_server 1 with --redis, subscribed" start_chat 1
check "chat_server 2 with --redis, subscribed" start_chat 2
check "nginx in front of both, on 127.0.0.1:$NGINX_PORT" start_nginx
fetch "http://127.0.0.1:$NGINX_PORT/" >"$TMP/page" 2>&1
check "nginx serves the chat page" cmp -s "$TMP/page" examples-c/web/index.html
fetch "http://127.0.0.1:$NGINX_PORT/websocket-client.js" >"$TMP/page" 2>&1
check "nginx serves websocket-client.js" cmp -s "$TMP/page" examples-c/web/websocket-client.js

# Straight to each process: x on process 1, y on process 2.
client x "ws://127.0.0.1:$CHAT1_PORT/chat?room=direct"
client y "ws://127.0.0.1:$CHAT2_PORT/chat?room=direct"
check "direct: x is welcomed by process 1" eval 'wait_for "$TMP/x.out" welcome && on_process x "$CHAT1_PID"'
check "direct: y is welcomed by process 2" eval 'wait_for "$TMP/y.out" welcome && on_process y "$CHAT2_PID"'
say y "hello from process 2"
check "direct: y's message (process 2) reaches x (process 1)" wait_for "$TMP/x.out" '"text":"hello from process 2"'
say x "hello from process 1"
check "direct: x's message reaches y" wait_for "$TMP/y.out" '"text":"hello from process 1"'
sleep 0.3 # time for a message to come twice
check "direct: x got each message once (no echo from Redis)" test "$(grep -c '"type":"chat"' "$TMP/x.out")" -eq 2
check "direct: so did y" test "$(grep -c '"type":"chat"' "$TMP/y.out")" -eq 2

# Through nginx: a then b; least_conn puts them on different processes.
client a "ws://127.0.0.1:$NGINX_PORT/chat?room=lobby"
check "nginx: a is welcomed" wait_for "$TMP/a.out" welcome
client b "ws://127.0.0.1:$NGINX_PORT/chat?room=lobby"
check "nginx: b is welcomed" wait_for "$TMP/b.out" welcome
check "nginx: a and b are on different processes ($(welcomed_by a), $(welcomed_by b))" \
  test "$(welcomed_by a)" != "$(welcomed_by b)"
say a "hi b"
check "nginx: a's message reaches b, on the other process" wait_for "$TMP/b.out" '"text":"hi b"'
sleep 0.3
check "nginx: a got its own message once" test "$(grep -c '"text":"hi b"' "$TMP/a.out")" -eq 1

# Redis goes away and comes back on the same port: both bridges reconnect.
kill "$REDIS_PID"
check "Redis stopped: the chat servers say so" wait_for "$TMP/chat1.out" "subscription lost"
check "redis-server restarted" start_redis 2
check "bridge 1 subscribes again" wait_for "$TMP/chat1.out" "subscribed to chat:" 2
check "bridge 2 subscribes again" wait_for "$TMP/chat2.out" "subscribed to chat:" 2
say b "redis is back"
check "after the Redis restart, b's message reaches a" wait_for "$TMP/a.out" '"text":"redis is back"'

# The process of a is killed: a reconnects through nginx, to the other one.
if on_process a "$CHAT1_PID"; then victim=$CHAT1_PID survivor=$CHAT2_PID; else victim=$CHAT2_PID survivor=$CHAT1_PID; fi
disown "$victim" # (no "Killed" from bash)
kill -KILL "$victim"
check "a's process killed: a is welcomed again" wait_for "$TMP/a.out" welcome 2
check "a is now on the other process" on_process a "$survivor"
say a "a is back"
check "after the failover, a's message reaches b" wait_for "$TMP/b.out" '"text":"a is back"'
say b "welcome back a"
check "and b's reaches a" wait_for "$TMP/a.out" '"text":"welcome back a"'

summary
