#!/usr/bin/env bash
# The cost of more I/O threads: build/echo_server's CPU time per million echoed
# messages at 1, 2 and 4 I/O threads, under the same load spread over many
# connections. It measures overhead (what each message costs the server), not
# throughput, so two cores are enough: the server is pinned to one CPU, the
# load generator to the other.
#
#   tests/bench/scaling.sh [threads...]        (default: 1 2 4)
#
# Environment: LOADGEN (default: the side-by-side kit's, built by
# `../shared/bench/run.sh --setup-only` into ~/.cache/ws-bench), CONNS (256),
# SIZE (32), PIPELINE (4), DURATION (5 s), REPEAT (3: the median is reported).
set -euo pipefail
cd "$(dirname "$0")/../.."
LOADGEN=${LOADGEN:-$HOME/.cache/ws-bench/target/release/loadgen}
CONNS=${CONNS:-256} SIZE=${SIZE:-32} PIPELINE=${PIPELINE:-4}
DURATION=${DURATION:-5} REPEAT=${REPEAT:-3}
threads=("$@")
((${#threads[@]})) || threads=(1 2 4)
if [[ ! -x $LOADGEN ]]; then
  echo "scaling skipped: no load generator at $LOADGEN (run ../shared/bench/run.sh --setup-only, or set LOADGEN)"
  exit 0
fi
[[ -x build/echo_server ]] || { echo "build/echo_server is missing (run make)" >&2; exit 1; }
ticks=$(getconf CLK_TCK)

# CPU seconds (user + system) the process has used so far.
cpu_seconds() {
  awk -v t="$ticks" '{ print ($14 + $15) / t }' "/proc/$1/stat"
}

# One run: prints "msgs_per_s cpu_seconds_per_million".
run() {
  local n=$1 port=$((20000 + RANDOM % 10000))
  taskset -c 0 build/echo_server --host 127.0.0.1 --port "$port" --threads "$n" >/dev/null &
  local pid=$!
  "$LOADGEN" wait --url "ws://127.0.0.1:$port/" --timeout 10 >/dev/null
  local out before after
  before=$(cpu_seconds "$pid")
  out=$(taskset -c 1 "$LOADGEN" echo --url "ws://127.0.0.1:$port/" -c "$CONNS" -s "$SIZE" \
    -p "$PIPELINE" -d "$DURATION" -w 0)
  after=$(cpu_seconds "$pid")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
msgs = r["msgs_per_s"] * float(sys.argv[4])
cpu = float(sys.argv[3]) - float(sys.argv[2])
rate = r["msgs_per_s"]
print("%.0f %.3f" % (rate, cpu / (msgs / 1e6)))
' "$out" "$before" "$after" "$DURATION"
}

echo "echo_server CPU per million echoed messages: $CONNS connections, $SIZE B, $PIPELINE in flight, ${DURATION} s, median of $REPEAT"
echo
echo "| I/O threads | msg/s | server CPU-s per million messages | vs 1 thread |"
echo "|---:|---:|---:|---:|"
base=
for n in "${threads[@]}"; do
  results=()
  for ((i = 0; i < REPEAT; i++)); do results+=("$(run "$n")"); done
  median=$(printf '%s\n' "${results[@]}" | sort -k2 -n | sed -n "$(((REPEAT + 1) / 2))p")
  rate=${median% *} cost=${median#* }
  base=${base:-$cost}
  ratio=$(python3 -c "print(f'{$cost / $base:.2f}')")
  printf '| %s | %s | %s | %s |\n' "$n" "$rate" "$cost" "$ratio"
done
