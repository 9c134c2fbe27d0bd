#!/usr/bin/env python3
"""Echo throughput of libwebsocket's asyncio ``serve`` against the
``websockets`` package's ``serve``, under the same load.

    python3 bindings/python/bench/echo_bench.py [--duration 5] [--repeat 3] [--client loadgen|websockets]

Each server runs in a process of its own (this script with ``serve NAME``),
pinned to CPU 0; the load comes from another process pinned to CPU 1, the
same for both servers:

- ``loadgen`` (the default when found): the Rust load generator of the
  side-by-side kit (../shared/bench, built in ~/.cache/ws-bench by its
  ``run.sh --setup-only``; or give its path in ``LOADGEN``);
- ``websockets``: this script's own client (``drive``): the ``websockets``
  asyncio client, one task per connection, keeping a window of messages in
  flight.

Scenarios: 64 connections × 32 B text with 16 messages in flight each, and
16 connections × 16 KiB binary with 4 in flight. For each it prints the
echoed messages per second, the server's CPU time (user + system, all its
threads, from /proc) per message, how busy that made its CPU, and the CPU
that other processes used meanwhile ("others", in CPUs; a run where they
used more than 0.2 is taken again, up to 4 times). Medians of 3 runs. Nothing else should run on
the machine meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCENARIOS = [
    # (label, connections, size, kind, in flight per connection)
    ("32 B text, 64 conns, 16 in flight", 64, 32, "text", 16),
    ("16 KiB binary, 16 conns, 4 in flight", 16, 16384, "binary", 4),
]
SERVERS = ["libwebsocket", "websockets"]
LOADGEN_DEFAULT = Path.home() / ".cache/ws-bench/target/release/loadgen"


async def echo(ws):  # type: ignore[no-untyped-def]
    async for message in ws:
        await ws.send(message)


async def serve(name: str) -> None:
    """Run the echo server ``name`` on a free port of 127.0.0.1; print the port."""
    if name == "libwebsocket":
        import libwebsocket

        server = await libwebsocket.serve(echo, "127.0.0.1", 0)
        port = server.port
    else:
        from websockets.asyncio.server import serve as ws_serve

        server = await ws_serve(echo, "127.0.0.1", 0, max_size=None, ping_interval=None)
        port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await asyncio.Event().wait()


async def drive(url: str, conns: int, size: int, kind: str, window: int, duration: float) -> dict[str, float]:
    """The websockets client's load: ``conns`` connections, each keeping
    ``window`` messages in flight, for ``duration`` seconds."""
    from websockets.asyncio.client import connect

    message: str | bytes = "x" * size if kind == "text" else os.urandom(size)
    stop = time.monotonic() + duration
    counts = []

    async def client() -> None:
        echoed = 0
        async with connect(url, compression=None, max_size=None, proxy=None, ping_interval=None) as ws:
            for _ in range(window):
                await ws.send(message)
            while time.monotonic() < stop:
                await ws.recv()
                echoed += 1
                await ws.send(message)
            for _ in range(window):
                await ws.recv()
        counts.append(echoed)

    start = time.monotonic()
    await asyncio.gather(*(client() for _ in range(conns)))
    return {"messages": sum(counts), "seconds": time.monotonic() - start}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(client: str, port: int, scenario: tuple[str, int, int, str, int], duration: float) -> tuple[int, float]:
    """Run one scenario against the server on ``port``: (messages echoed, seconds)."""
    _, conns, size, kind, window = scenario
    url = f"ws://127.0.0.1:{port}/"
    if client == "websockets":
        args = [sys.executable, __file__, "drive", url, str(conns), str(size), kind, str(window), str(duration)]
    else:
        args = [client, "echo", "--url", url, "-c", str(conns), "-s", str(size), "--kind", kind,
                "-p", str(window), "-d", str(duration), "-w", "0", "--threads", "1"]
    out = subprocess.run(["taskset", "-c", "1", *args], check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if client == "websockets":
        return int(result["messages"]), float(result["seconds"])
    if result["errors"] or result["mismatches"]:
        raise RuntimeError(f"loadgen: {result['first_error']}")
    return int(result["msgs"]), float(result["duration_s"])


def box_busy_seconds() -> float:
    """CPU time the whole machine spent busy, all CPUs (from /proc/stat)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(client: str, name: str, scenario: tuple[str, int, int, str, int], duration: float) -> tuple[float, ...]:
    """Start the server ``name`` and load it. Returns msg/s, the server's CPU
    seconds per message, its CPU busy fraction, and the CPU that other
    processes used meanwhile (in CPUs)."""
    server = subprocess.Popen(["taskset", "-c", "0", sys.executable, __file__, "serve", name],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        before = cpu_seconds(server.pid), children_cpu_seconds(), box_busy_seconds(), time.monotonic()
        messages, seconds = load(client, port, scenario, duration)
        cpu = cpu_seconds(server.pid) - before[0]
        client_cpu = children_cpu_seconds() - before[1]
        wall = time.monotonic() - before[3]
        other = (box_busy_seconds() - before[2] - cpu - client_cpu) / wall
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    return messages / seconds, cpu / messages, cpu / wall, max(0.0, other)


def quiet_run(client: str, name: str, scenario: tuple[str, int, int, str, int], duration: float) -> tuple[float, ...]:
    """A run during which other processes used at most 0.2 CPU (tried up to 5 times)."""
    for _ in range(4):
        result = run_once(client, name, scenario, duration)
        if result[3] <= 0.2:
            return result
        print(f"(a run of {name} was disturbed: other processes used {result[3]:.0%} of a CPU; again)",
              file=sys.stderr)
        time.sleep(5)
    return run_once(client, name, scenario, duration)


def bench(client: str, duration: float, repeat: int) -> None:
    import websockets

    import libwebsocket

    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python {platform.python_version()}, "
          f"websockets {websockets.__version__}, libwebsocket {libwebsocket.library_version()}, "
          f"client: {'websockets (asyncio)' if client == 'websockets' else 'loadgen (Rust)'}, "
          f"{duration:g} s per run, medians of {repeat}")
    print("| scenario | server | msg/s | server CPU µs/msg | server CPU busy | others |")
    print("|---|---|---:|---:|---:|---:|")
    for scenario in SCENARIOS:
        for name in SERVERS:
            runs = [quiet_run(client, name, scenario, duration) for _ in range(repeat)]
            rate, cpu, busy, other = (statistics.median(column) for column in zip(*runs))
            print(f"| {scenario[0]} | {name} | {rate:,.0f} | {cpu * 1e6:.1f} | {busy:.0%} | {other:.0%} |",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    p_serve = sub.add_parser("serve", help="run one echo server (internal)")
    p_serve.add_argument("name", choices=SERVERS)
    p_drive = sub.add_parser("drive", help="the websockets client's load (internal)")
    for field in ("url", "conns", "size", "kind", "window", "duration"):
        p_drive.add_argument(field)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (default 5)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, whose median is shown (default 3)")
    parser.add_argument("--client", choices=["loadgen", "websockets"], help="the load's client (see above)")
    args = parser.parse_args()
    if args.command == "serve":
        asyncio.run(serve(args.name))  # until SIGTERM
    elif args.command == "drive":
        result = asyncio.run(drive(args.url, int(args.conns), int(args.size), args.kind, int(args.window),
                                   float(args.duration)))
        print(json.dumps(result))
    else:
        loadgen = os.environ.get("LOADGEN") or (str(LOADGEN_DEFAULT) if LOADGEN_DEFAULT.exists() else None)
        client = args.client or ("loadgen" if loadgen else "websockets")
        if client == "loadgen":
            if not loadgen or not shutil.which(loadgen):
                sys.exit("echo_bench: no loadgen (set LOADGEN, or run ../shared/bench/run.sh --setup-only)")
            client = loadgen
        bench(client, args.duration, args.repeat)


if __name__ == "__main__":
    main()
