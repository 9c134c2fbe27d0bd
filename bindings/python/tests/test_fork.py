"""A child process made with fork() after the parent used the package makes
its own connections (the library gives it its own event queue and fd)."""

from __future__ import annotations

import os
import select
import signal
import threading

from conftest import echo, run

import libwebsocket as lw


async def echo_once() -> str | bytes:
    async with lw.serve(echo, "127.0.0.1", 0) as server:
        async with lw.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("asyncio")
            return await ws.recv()


def sync_echo_once() -> str | bytes:
    with lw.Server("127.0.0.1", 0, on_message=lambda conn, m: conn.send(m)) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                ws.send("sync")
                return ws.recv(timeout=10)
        finally:
            server.shutdown()
            thread.join(10)


def test_a_forked_child_makes_its_own_connections() -> None:
    assert run(echo_once()) == "asyncio"  # the parent has used the event fd
    assert sync_echo_once() == "sync"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: say what it got, then leave at once
        try:
            os.close(r)
            answers = (run(echo_once(), 10), sync_echo_once())
            os.write(w, repr(answers).encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 20)
        said = os.read(r, 1000).decode() if ready else "nothing within 20 s"
    finally:
        os.close(r)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert said == repr(("asyncio", "sync"))
    assert run(echo_once()) == "asyncio"  # the parent goes on
