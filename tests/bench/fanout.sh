#!/usr/bin/env bash
# Fan-out: one message published to every subscriber, our topics against Bun's
# server.publish in the same run. build/bench/fanout_server and
# tests/bench/publish_bun.js both subscribe every connection to one topic and
# publish each message they get to it; the side-by-side kit's load generator
# opens SUBS subscribers and one publisher, keeps WINDOW messages in flight and
# counts deliveries per second (see ../shared/bench/README.md, scenario i).
# The server is pinned to CPU 0, the generator to CPU 1; the servers take
# turns, REPEAT rounds, and the median of each is reported.
#
#   tests/bench/fanout.sh
#
# Environment: LOADGEN and BUN (default: the kit's, built by
# `../shared/bench/run.sh --setup-only` into ~/.cache/ws-bench), SUBS (10000),
# SIZE (64), WINDOW (16), DURATION (5 s), REPEAT (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT=$HOME/.cache/ws-bench
LOADGEN=${LOADGEN:-$KIT/target/release/loadgen}
BUN=${BUN:-$KIT/servers/node/node_modules/@oven/bun-linux-x64/bin/bun}
SUBS=${SUBS:-10000} SIZE=${SIZE:-64} WINDOW=${WINDOW:-16}
DURATION=${DURATION:-5} REPEAT=${REPEAT:-3}
for tool in "$LOADGEN" "$BUN"; do
  if [[ ! -x $tool ]]; then
    echo "fanout skipped: $tool is missing (run ../shared/bench/run.sh --setup-only, or set LOADGEN and BUN)"
    exit 0
  fi
done
[[ -x build/bench/fanout_server ]] || { echo "build/bench/fanout_server is missing (make build/bench/fanout_server)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < SUBS + 500)); then
  echo "ulimit -n is $(ulimit -n): too low for $SUBS subscribers" >&2
  exit 1
fi
# Ports below the ephemeral range (32768 and up), which the subscribers fill.
port=$((20000 + RANDOM % 10000))

# run NAME COMMAND...: one measurement; prints the loadgen's JSON line.
run() {
  local name=$1; shift
  port=$((port + 1))
  taskset -c 0 "$@" --host 127.0.0.1 --port "$port" 2>/dev/null &
  local pid=$!
  taskset -c 1 "$LOADGEN" wait --url "ws://127.0.0.1:$port/" --timeout 20 >/dev/null
  local json
  json=$(taskset -c 1 "$LOADGEN" fanout --url "ws://127.0.0.1:$port/" -n "$SUBS" -s "$SIZE" \
    -w "$WINDOW" -d "$DURATION" --server-pid "$pid")
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  echo "$name $json"
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((round = 1; round <= REPEAT; round++)); do
  run libwebsocket build/bench/fanout_server | tee -a "$results"
  run bun env DO_NOT_TRACK=1 "$BUN" tests/bench/publish_bun.js | tee -a "$results"
done
python3 - "$results" "$SUBS" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, _, data = line.partition(" ")
    runs.setdefault(name, []).append(json.loads(data))
print(f"\nfan-out to {sys.argv[2]} subscribers (median of {len(next(iter(runs.values())))})")
print("| server | deliveries/s | delivery ratio | p50 µs | p99 µs | server CPU % | loadgen CPU % |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, rs in runs.items():
    med = lambda k: statistics.median(r.get(k, 0) or 0 for r in rs)
    print(f"| {name} | {med('deliveries_per_s'):,.0f} | {med('delivery_ratio'):.3f} | {med('p50_us'):,.0f} "
          f"| {med('p99_us'):,.0f} | {med('server_cpu_pct'):.0f} | {med('loadgen_cpu_pct'):.0f} |")
PY
