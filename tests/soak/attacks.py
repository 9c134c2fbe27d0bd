#!/usr/bin/env python3
"""The attacks of RESILIENCE.md, run against build/echo_server over loopback.

    tests/soak/attacks.py [ATTACK ...]

Each attack starts a fresh echo_server, does what a hostile peer (or a
careless host) would, checks that the server held, and prints one line with
its figures. With no argument, every attack runs. Exits non-zero when one
failed. Needs `ulimit -n` of 12500 or more for the slowloris and idle
attacks (it raises the soft limit itself when the hard limit allows; the
server, a process of its own, needs as many).

Attacks: slowloris, no-readers, unfinished-deflate, churn, idle, ping-flood,
sigterm, fin, fork.
"""

import base64
import os
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ECHO = os.path.join(ROOT, "build", "echo_server")
REQUEST = ("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")


class Server:
    """A fresh build/echo_server on a free port."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([ECHO, "--host", "127.0.0.1", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        self.port = int(line.rsplit(":", 1)[1].strip("/\n"))

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def frame(opcode, payload, fin=True, rsv1=False):
    """A masked client frame."""
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else \
        (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return head + mask + masked


def connect(port, extra=""):
    """A client socket after a 101, and the bytes read past the response head."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall((REQUEST + extra + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.split(b"\r\n")[0].decode())
    return s, rest


def read_frame(s, buf=b""):
    """(opcode, payload, rest) of the next server frame."""
    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
    need(2)
    op, n = buf[0] & 0x0F, buf[1] & 0x7F
    at = 2
    if n == 126:
        need(4)
        n, at = struct.unpack("!H", buf[2:4])[0], 4
    elif n == 127:
        need(10)
        n, at = struct.unpack("!Q", buf[2:10])[0], 10
    need(at + n)
    return op, buf[at:at + n], buf[at + n:]


def echo_time(port):
    """Seconds a fresh client takes to connect and get an echo."""
    start = time.monotonic()
    s, rest = connect(port)
    s.sendall(frame(1, b"fresh"))
    op, payload, _ = read_frame(s, rest)
    took = time.monotonic() - start
    s.close()
    if (op, payload) != (1, b"fresh"):
        raise AssertionError(f"echo was {op} {payload!r}")
    return took


def raise_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= want


# ---------------------------------------------------------------- attacks

def slowloris():
    """10,000 connections that send a request a byte at a time and never
    finish it; a fresh client must still connect and echo within 1 s."""
    if not raise_fd_limit(10500):
        return None, "skipped: ulimit -n is below 10500"
    server = Server()
    slow = []
    worst = 0.0
    for i in range(10000):
        try:
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.setblocking(False)
            s.send(b"G")
            slow.append(s)
        except OSError:
            pass
        if i % 2000 == 1999:
            worst = max(worst, echo_time(server.port))
    for s in slow[-2000:]:
        try:
            s.send(b"E")
        except OSError:
            pass
    worst = max(worst, echo_time(server.port))
    rss = server.rss_mib()
    for s in slow:
        s.close()
    server.stop()
    ok = worst < 1.0
    return ok, (f"{len(slow)} slowloris connections; a fresh client echoed in {worst * 1000:.0f} ms "
                f"at worst (limit 1000 ms); server RSS {rss:.0f} MiB")


def no_readers():
    """64 clients send 64 MiB each and never read the echoes: the server's
    outbound budget (512 MiB by default) bounds what it holds."""
    server = Server()
    clients = []
    block = frame(2, os.urandom(1 << 20))
    for _ in range(64):
        s, _ = connect(server.port)
        s.setblocking(False)
        clients.append([s, 64 * len(block)])
    # Until the server stops taking more (it stops reading connections whose
    # echoes wait: TCP pushes back) or everything went.
    last_progress = time.monotonic()
    peak = 0.0
    while any(left for _, left in clients) and time.monotonic() < last_progress + 3:
        progress = False
        for c in clients:
            s, left = c
            if not left:
                continue
            try:
                sent = s.send(block[len(block) - (left % len(block) or len(block)):])
                c[1] -= sent
                progress = True
            except BlockingIOError:
                pass
            except OSError:
                c[1] = 0
        peak = max(peak, server.rss_mib())
        if progress:
            last_progress = time.monotonic()
        else:
            time.sleep(0.05)
    time.sleep(1)
    peak = max(peak, server.rss_mib())
    for s, _ in clients:
        s.close()
    server.stop()
    taken = sum(64 * len(block) - left for _, left in clients) / (1 << 20)
    ok = peak < 512 + 32
    return ok, (f"64 clients sending 64 MiB each, never reading: the server took {taken:.0f} MiB, "
                f"its RSS peaked at {peak:.0f} MiB (budget 512 MiB)")


def unfinished_deflate():
    """160 connections each start a compressed message that inflates to 31 MiB
    and never finish it: the inbound budget (512 MiB) keeps as many as it holds
    and fails the others with 1009 (the newcomer, or the one holding the most)."""
    server = Server("--deflate")
    ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(b"\0" * (31 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    clients, refused = [], 0
    peak = 0.0
    for _ in range(160):
        s, _ = connect(server.port, ext)
        s.sendall(frame(2, body, fin=False, rsv1=True))
        clients.append(s)
        peak = max(peak, server.rss_mib())
    time.sleep(1)
    peak = max(peak, server.rss_mib())
    for s in clients:
        s.settimeout(5)
        try:
            op, payload, _ = read_frame(s)
            if op == 8 and struct.unpack("!H", payload[:2])[0] == 1009:
                refused += 1
        except (OSError, ConnectionError):
            pass
        s.close()
    server.stop()
    ok = peak < 512 + 32 and refused >= 160 - 512 // 32
    return ok, (f"160 unfinished messages of {len(body) >> 10} KiB compressed, 31 MiB inflated: "
                f"{refused} failed with 1009; server RSS peaked at {peak:.0f} MiB (budget 512 MiB)")


def churn():
    """20,000 connect / echo / close cycles: memory does not grow."""
    server = Server()
    rss_after_1000 = None
    for i in range(20000):
        s, rest = connect(server.port)
        s.sendall(frame(1, b"x") + frame(8, b"\x03\xe8"))
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
        if i == 999:
            rss_after_1000 = server.rss_mib()
    rss = server.rss_mib()
    server.stop()
    ok = rss < rss_after_1000 + 8
    return ok, f"20,000 cycles: server RSS {rss_after_1000:.1f} MiB after 1,000, {rss:.1f} MiB after 20,000"


def idle():
    """12,000 clients connect and stay idle: the first 10,000 (echo_server's
    max_connections) open, the rest get 503; memory per open connection."""
    if not raise_fd_limit(12500):
        return None, "skipped: ulimit -n is below 12500"
    server = Server()
    base = server.rss_mib()
    conns, refused = [], 0
    for _ in range(12000):
        try:
            conns.append(connect(server.port)[0])
        except ConnectionError as e:
            refused += "503" in str(e)
    time.sleep(1)
    rss = server.rss_mib()
    conns.pop().close()
    time.sleep(0.5)
    took = echo_time(server.port)
    for s in conns:
        s.close()
    server.stop()
    per = (rss - base) * 1024 * 1024 / (len(conns) + 1)
    ok = len(conns) + 1 == 10000 and refused == 2000 and took < 1.0
    return ok, (f"12,000 idle clients: {len(conns) + 1} open ({per:.0f} B each), {refused} got 503; "
                f"with one place free, a fresh client echoed in {took * 1000:.0f} ms")


def ping_flood():
    """One client sends 200,000 pings without reading the pongs: the server
    keeps answering only the latest, and its memory stays flat."""
    server = Server()
    s, _ = connect(server.port)
    base = server.rss_mib()
    burst = frame(9, b"p" * 125) * 1000
    s.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 60
    while sent < 200 and time.monotonic() < deadline:
        try:
            s.sendall(burst)
            sent += 1
        except BlockingIOError:
            time.sleep(0.01)
    rss = server.rss_mib()
    s.setblocking(True)
    took = echo_time(server.port)
    s.close()
    server.stop()
    ok = rss < base + 32 and took < 1.0
    return ok, (f"{sent * 1000} pings unread: server RSS {base:.1f} -> {rss:.1f} MiB; "
                f"another client echoed in {took * 1000:.0f} ms")


def sigterm():
    """1,000 clients each send a message, and SIGTERM comes right after: every
    message that arrived is echoed, then each connection gets 1001."""
    server = Server()
    clients = [connect(server.port) for _ in range(1000)]
    for s, _ in clients:
        s.sendall(frame(1, b"last words"))
    server.proc.send_signal(signal.SIGTERM)
    echoed = gone_away = 0
    for s, rest in clients:
        s.settimeout(10)
        try:
            op, payload, rest = read_frame(s, rest)
            if (op, payload) == (1, b"last words"):
                echoed += 1
                op, payload, rest = read_frame(s, rest)
            if op == 8 and struct.unpack("!H", payload[:2])[0] == 1001:
                gone_away += 1
                s.sendall(frame(8, payload[:2]))
        except (OSError, ConnectionError):
            pass
        s.close()
    rc = server.proc.wait(timeout=15)
    ok = echoed == 1000 and gone_away == 1000 and rc == 0
    return ok, f"SIGTERM after 1,000 messages: {echoed} echoed, {gone_away} got 1001, exit status {rc}"


def fin():
    """A message followed at once by FIN, 1,000 times: every echo comes."""
    server = Server()
    got = 0
    for _ in range(1000):
        s, rest = connect(server.port)
        s.sendall(frame(1, b"then FIN"))
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        try:
            op, payload, _ = read_frame(s, rest)
            got += (op, payload) == (1, b"then FIN")
        except (OSError, ConnectionError):
            pass
        s.close()
    server.stop()
    return got == 1000, f"a message then FIN, 1,000 times: {got} echoes came"


def fork():
    """fork() after the library started (tests/c/test_fork.c): inherited
    handles fail at once with a clear error, new ones work in the child."""
    test = os.path.join(ROOT, "build", "tests", "test_fork")
    if not os.path.exists(test):
        return None, "skipped: build/tests/test_fork is missing (make ctests)"
    out = subprocess.run([test], capture_output=True, text=True, timeout=120)
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "no output"
    return out.returncode == 0, f"test_fork: {summary}"


ATTACKS = {
    "slowloris": slowloris,
    "no-readers": no_readers,
    "unfinished-deflate": unfinished_deflate,
    "churn": churn,
    "idle": idle,
    "ping-flood": ping_flood,
    "sigterm": sigterm,
    "fin": fin,
    "fork": fork,
}


def main():
    names = sys.argv[1:] or list(ATTACKS)
    failed = 0
    for name in names:
        start = time.monotonic()
        try:
            ok, figures = ATTACKS[name]()
        except Exception as e:  # an attack that crashes is a failure, with its reason
            ok, figures = False, f"{type(e).__name__}: {e}"
        verdict = {True: "ok  ", False: "FAIL", None: "skip"}[ok]
        print(f"{verdict} {name:19} {figures} ({time.monotonic() - start:.0f} s)", flush=True)
        failed += ok is False
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
