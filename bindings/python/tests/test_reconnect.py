"""The reconnect option: a server stopped and started again on the same port,
and the same client object carrying on; max_tries, cancelling from
on_reconnect, close() between two connections; sync and asyncio."""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import run

import libwebsocket as lw
from libwebsocket import _dispatch

FAST = lw.Reconnect(delay=0.02, max_delay=0.08)


@contextmanager
def serving(port: int = 0) -> Iterator[lw.Server]:
    """Our sync echo server in a thread; it says "welcome" to each client."""

    def on_message(conn: lw.ServerConnection, message: str | bytes) -> None:
        conn.send(message)

    with lw.Server("127.0.0.1", port, on_connect=lambda conn: conn.send("welcome"), on_message=on_message) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()  # closes the connections with 1001: clients reconnect
            thread.join(timeout=10)
            assert not thread.is_alive()


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(what: str, ready: Callable[[], bool], step: Callable[[], object], limit: float = 10) -> None:
    """Call ``step`` until ``ready()``, failing after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not ready():
        assert time.monotonic() < deadline, f"no {what} within {limit} s"
        step()


def test_the_same_client_reconnects_to_a_restarted_server() -> None:
    attempts: list[tuple[int, float]] = []
    reconnected: list[int] = []
    threads = set()

    def on_reconnect(ws: lw.Client, attempt: int, delay: float) -> None:
        threads.add(threading.get_ident())
        attempts.append((attempt, delay))

    def on_reconnected(ws: lw.Client, attempt: int) -> None:
        reconnected.append(attempt)
        ws.send("back")  # the place to resend state: the client is open again

    with serving() as server:
        port = server.port
        ws = lw.Client.connect(
            f"ws://127.0.0.1:{port}/", reconnect=FAST, on_reconnect=on_reconnect, on_reconnected=on_reconnected
        )
        assert ws.recv(timeout=5) == "welcome"
        ws.send("one")
        assert ws.recv(timeout=5) == "one"
        first_id = ws.id

    # The server is gone: the client tries again and again.
    until("third attempt", lambda: len(attempts) >= 3, lambda: ws.handle_events(timeout=1))
    assert ws.reconnecting and not ws.closed
    assert ws.close_code in (lw.WS_GONE, lw.WS_CLOSED_ABNORMALLY)
    assert "reconnecting" in repr(ws)
    with pytest.raises(lw.NotConnected) as info:
        ws.send("lost")
    assert info.value.code == lw.Status.WS_ERR_NOT_OPEN
    with pytest.raises(TimeoutError):
        ws.recv(timeout=0.05)  # waits while reconnecting, as long as asked

    # Back on the same port: recv() waits across the reconnection.
    with serving(port):
        assert ws.recv(timeout=10) == "welcome"
        assert not ws.reconnecting and ws.close_code is None
        assert reconnected == [attempts[-1][0]]
        assert ws.recv(timeout=5) == "back"
        ws.send("two")  # the same object, on its new connection
        assert ws.recv(timeout=5) == "two"
        assert ws.id != first_id
        assert ws.remote_address == ("127.0.0.1", port)
        for attempt, delay in attempts:
            ceiling = min(0.08, 0.02 * 2 ** (attempt - 1))
            assert ceiling / 2 - 0.001 <= delay <= ceiling + 0.001, (attempt, delay)
        assert [a for a, _ in attempts] == list(range(1, len(attempts) + 1))
        assert threads == {threading.get_ident()}  # the thread in handle_events and recv
        ws.close()
        assert ws.closed and not ws.reconnecting and ws.close_code == lw.WS_OK
    ws.close()  # closing twice does nothing


def test_max_tries_ends_the_client() -> None:
    attempts = []
    url = f"ws://127.0.0.1:{free_port()}/"
    reconnect = lw.Reconnect(delay=0.005, max_delay=0.02, max_tries=3)
    with pytest.raises(lw.WebSocketError) as info:
        lw.Client.connect(url, reconnect=reconnect, on_reconnect=lambda ws, n, d: attempts.append(n))
    assert info.value.code == lw.Status.WS_ERR_CONNECT
    assert attempts == [1, 2, 3]


def test_max_tries_after_a_lost_connection() -> None:
    attempts = []
    with serving() as server:
        ws = lw.Client.connect(
            f"ws://127.0.0.1:{server.port}/",
            reconnect=lw.Reconnect(delay=0.005, max_delay=0.02, max_tries=2),
            on_reconnect=lambda ws, n, d: attempts.append(n),
        )
        assert ws.recv(timeout=5) == "welcome"
    with pytest.raises(lw.ConnectionClosedError) as info:
        ws.recv(timeout=10)  # waits through the attempts, then the client ends
    assert info.value.code == lw.WS_CLOSED_ABNORMALLY
    assert attempts == [1, 2]
    assert ws.closed and not ws.reconnecting
    with pytest.raises(lw.ConnectionClosed):
        ws.send("late")


def test_on_reconnect_returning_false_cancels() -> None:
    attempts = []

    def on_reconnect(ws: lw.Client, attempt: int, delay: float) -> bool:
        attempts.append(attempt)
        return attempt < 2

    url = f"ws://127.0.0.1:{free_port()}/"
    reconnect = lw.Reconnect(delay=0.005, max_delay=0.02)
    with pytest.raises(lw.WebSocketError) as info:
        lw.Client.connect(url, reconnect=reconnect, on_reconnect=on_reconnect)
    assert info.value.code == lw.Status.WS_ERR_CONNECT
    time.sleep(0.1)
    _dispatch.wait_for(lambda: False, 0)
    assert attempts == [1, 2]

    # Once connected: the client ends with the lost connection's close code.
    with serving() as server:
        ws = lw.Client.connect(f"ws://127.0.0.1:{server.port}/", reconnect=reconnect, on_reconnect=lambda *a: False)
        assert ws.recv(timeout=5) == "welcome"
    with pytest.raises(lw.ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.code in (lw.WS_GONE, lw.WS_CLOSED_ABNORMALLY)
    assert ws.closed and not ws.reconnecting


def test_close_during_the_delay_stops_reconnecting() -> None:
    attempts = []
    slow = lw.Reconnect(delay=5, max_delay=10)
    with serving() as server:
        port = server.port
        ws = lw.Client.connect(f"ws://127.0.0.1:{port}/", reconnect=slow, on_reconnect=lambda ws, n, d: attempts.append(n))
        assert ws.recv(timeout=5) == "welcome"
    until("on_reconnect", lambda: bool(attempts), lambda: ws.handle_events(timeout=1))
    assert ws.reconnecting
    started = time.monotonic()
    ws.close()
    assert time.monotonic() - started < 2
    assert ws.closed and not ws.reconnecting
    with serving(port) as server:
        time.sleep(0.2)
        assert not server.connections  # no attempt was made


def test_close_between_the_close_and_the_attempt() -> None:
    # Dispatch one event at a time, on this thread only: after the lost
    # connection's on_close, before its on_reconnect. close() then ends the
    # client at once.
    attempts = []
    with lw.Server("127.0.0.1", 0, on_connect=lambda conn: conn.send("welcome")) as server:
        port = server.port
        ws = lw.Client.connect(
            f"ws://127.0.0.1:{port}/",
            reconnect=lw.Reconnect(delay=0.05, max_delay=0.1),
            on_reconnect=lambda ws, n, d: attempts.append(n),
        )
        server.handle_events(timeout=5)
        assert ws.recv(timeout=5) == "welcome"
        server.shutdown()
        fd = _dispatch.event_fd()
        deadline = time.monotonic() + 10
        while not ws.reconnecting:
            assert time.monotonic() < deadline
            select.select([fd], [], [], 0.1)
            _dispatch.dispatch(1)
        ws.close()
        assert ws.closed and not ws.reconnecting
    time.sleep(0.2)
    _dispatch.wait_for(lambda: False, 0)
    assert attempts == []
    with serving(port) as again:
        time.sleep(0.2)
        assert not again.connections


def test_the_option_is_checked() -> None:
    assert lw.ClientOptions(reconnect=True).reconnect == lw.Reconnect(delay=0.5, max_delay=30.0, max_tries=None)
    assert lw.ClientOptions(reconnect=False).reconnect is None
    for bad in (
        dict(delay=-1),
        dict(delay=0),
        dict(delay=2, max_delay=1),
        dict(max_delay=86401),
        dict(max_tries=0),
        dict(delay=float("nan")),
    ):
        with pytest.raises(ValueError):
            lw.Reconnect(**bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lw.Reconnect(max_tries=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lw.ClientOptions(reconnect="yes")  # type: ignore[arg-type]


def test_asyncio_client_reconnects() -> None:
    async def main() -> None:
        events: list[Any] = []

        async def welcome(ws: Any) -> None:
            await ws.send("welcome")
            async for message in ws:
                await ws.send(message)

        async def on_reconnected(ws: Any, attempt: int) -> None:
            events.append(("reconnected", attempt))
            await ws.send("back")

        server = await lw.serve(welcome, "127.0.0.1", 0)
        port = server.port
        ws = await lw.connect(
            f"ws://127.0.0.1:{port}/",
            reconnect=FAST,
            on_reconnect=lambda ws, n, d: events.append(("reconnect", n)),
            on_reconnected=on_reconnected,
        )
        assert await ws.recv() == "welcome"
        server.close()
        await server.wait_closed()
        while not any(e[0] == "reconnect" for e in events):
            await asyncio.sleep(0.01)
        assert ws.reconnecting and not ws.closed
        with pytest.raises(lw.NotConnected):
            await ws.send("lost")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.05)  # recv waits while reconnecting

        async with lw.serve(welcome, "127.0.0.1", port):
            assert await ws.recv() == "welcome"  # the same object, on a new connection
            assert await ws.recv() == "back"
            assert not ws.reconnecting
            await ws.send("two")
            assert await ws.recv() == "two"
            assert events[-1][0] == "reconnected"
            await ws.close()
        assert ws.closed and not ws.reconnecting

    run(main())


def test_asyncio_on_reconnect_cancels_and_close_stops() -> None:
    async def main() -> None:
        async def welcome(ws: Any) -> None:
            await ws.send("welcome")
            await ws.wait_closed()

        async def no(ws: Any, attempt: int, delay: float) -> bool:
            return False

        server = await lw.serve(welcome, "127.0.0.1", 0)
        port = server.port
        cancelled = await lw.connect(f"ws://127.0.0.1:{port}/", reconnect=FAST, on_reconnect=no)
        waiting = await lw.connect(f"ws://127.0.0.1:{port}/", reconnect=lw.Reconnect(delay=5, max_delay=10))
        assert await cancelled.recv() == "welcome" and await waiting.recv() == "welcome"
        server.close()
        await server.wait_closed()

        await cancelled.wait_closed()  # on_reconnect said no
        assert not cancelled.reconnecting
        with pytest.raises(lw.ConnectionClosed):
            await cancelled.recv()

        while not waiting.reconnecting:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(waiting.close(), 2)  # no wait for the 5 s delay
        assert waiting.closed and not waiting.reconnecting
        async with lw.serve(welcome, "127.0.0.1", port) as again:
            await asyncio.sleep(0.2)
            assert not again.connections

    run(main())
