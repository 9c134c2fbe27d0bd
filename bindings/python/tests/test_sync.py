"""The sync API: Client and Server, and their threads."""

from __future__ import annotations

import asyncio
import gc
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import echo, run

import libwebsocket as lw
from libwebsocket import _dispatch


@contextmanager
def serving(**callbacks: Any) -> Iterator[lw.Server]:
    """Our sync server, its callbacks run by serve_forever in a thread."""
    with lw.Server("127.0.0.1", 0, **callbacks) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            thread.join(timeout=10)
            assert not thread.is_alive()


def echo_message(conn: lw.ServerConnection, message: str | bytes) -> None:
    if message == "close yourself":
        conn.close(4000, "as asked")
    else:
        conn.send(message)


def test_client_and_server_echo_in_order() -> None:
    threads = set()

    def on_message(conn: lw.ServerConnection, message: str | bytes) -> None:
        threads.add(threading.get_ident())
        echo_message(conn, message)

    with serving(on_message=on_message) as server:
        with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            for i in range(100):
                ws.send(f"m{i}")
            ws.send(b"\x00" * 100_000)
            assert [ws.recv(timeout=5) for _ in range(100)] == [f"m{i}" for i in range(100)]
            assert ws.recv(timeout=5) == b"\x00" * 100_000
    assert len(threads) == 1 and threading.get_ident() not in threads  # the serve_forever thread


def test_iteration_and_close_by_the_server() -> None:
    with serving(on_message=echo_message) as server:
        with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            ws.send("a")
            ws.send("b")
            ws.send("close yourself")
            with pytest.raises(lw.ConnectionClosedError) as info:
                list(ws)
            assert (info.value.code, info.value.reason) == (4000, "as asked")
            assert ws.closed and ws.close_code == 4000


def test_iteration_ends_on_a_normal_close() -> None:
    def on_connect(conn: lw.ServerConnection) -> None:
        conn.send("only")
        conn.close()

    with serving(on_connect=on_connect) as server:
        with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            assert list(ws) == ["only"]
            assert ws.close_code == lw.WS_OK


def test_recv_timeout_raises_timeout_error_in_time() -> None:
    with serving() as server:
        with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.2)
            assert 0.15 < time.monotonic() - start < 2


def test_close_code_and_reason_reach_the_server() -> None:
    closes = []
    with serving(on_close=lambda conn, code, reason: closes.append((code, reason))) as server:
        ws = lw.Client.connect(f"ws://127.0.0.1:{server.port}/")
        ws.close(4010, "client leaves")
        assert ws.close_code == 4010
        ws.close()  # twice does nothing
        with pytest.raises(lw.ConnectionClosed):
            ws.send("after close")
    assert closes == [(4010, "client leaves")]


def test_broadcast_and_connections() -> None:
    with serving() as server:
        clients = [lw.Client.connect(f"ws://127.0.0.1:{server.port}/") for _ in range(3)]
        deadline = time.monotonic() + 5
        while len(server.connections) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.broadcast("to all") == 3
        assert [c.recv(timeout=5) for c in clients] == ["to all"] * 3
        for c in clients:
            c.close()


def test_handle_events_runs_callbacks_on_the_calling_thread() -> None:
    got = []
    with lw.Server("127.0.0.1", 0, on_message=lambda conn, m: got.append((threading.get_ident(), m))) as server:
        result: list[Any] = []

        def client() -> None:
            with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                ws.send("one")
                result.append("sent")

        thread = threading.Thread(target=client)
        thread.start()
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            server.handle_events(1)
        thread.join(timeout=10)
        assert got == [(threading.get_ident(), "one")] and result == ["sent"]


def test_callback_exceptions_propagate_out_of_serve_forever() -> None:
    def on_message(conn: lw.ServerConnection, message: str | bytes) -> None:
        raise ValueError(f"bad message {message!r}")

    with lw.Server("127.0.0.1", 0, on_message=on_message) as server:
        outcome: list[BaseException] = []

        def serve() -> None:
            try:
                server.serve_forever()
            except ValueError as e:
                outcome.append(e)

        thread = threading.Thread(target=serve)
        thread.start()
        with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            ws.send("boom")
            thread.join(timeout=10)
        assert [str(e) for e in outcome] == ["bad message 'boom'"]


def test_sync_client_against_an_asyncio_server_in_another_thread() -> None:
    ready = threading.Event()
    stop: list[Any] = []
    port: list[int] = []

    async def serve() -> None:
        async with lw.serve(echo, "127.0.0.1", 0) as server:
            port.append(server.port)
            stop.append((asyncio.get_running_loop(), server))
            ready.set()
            await server.serve_forever()

    thread = threading.Thread(target=asyncio.run, args=(serve(),))
    thread.start()
    assert ready.wait(10)
    try:
        with lw.Client.connect(f"ws://127.0.0.1:{port[0]}/") as ws:
            for i in range(50):
                ws.send(str(i))
                assert ws.recv(timeout=5) == str(i)
    finally:
        loop, server = stop[0]
        loop.call_soon_threadsafe(server.close)
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_sync_clients_in_several_threads() -> None:
    errors: list[BaseException] = []

    def client(url: str, n: int) -> None:
        try:
            with lw.Client.connect(url) as ws:
                for i in range(20):
                    ws.send(f"{n}:{i}")
                assert [ws.recv(timeout=10) for _ in range(20)] == [f"{n}:{i}" for i in range(20)]
        except BaseException as e:
            errors.append(e)

    with serving(on_message=echo_message) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        threads = [threading.Thread(target=client, args=(url, n)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    assert errors == []


def test_events_of_a_closed_loop_are_dropped() -> None:
    """A connection left open when its asyncio loop ended still gets events
    (here its close): dispatching them elsewhere must not fail."""

    async def leave_open(url: str) -> Any:
        return await lw.connect(url)

    with lw.Server("127.0.0.1", 0) as server:
        ws = run(leave_open(f"ws://127.0.0.1:{server.port}/"))
        server.shutdown()
        server.serve_forever()
        # The client's side of the close may come after the server's: wait for it here.
        assert _dispatch.wait_for(lambda: ws.closed, 10)
        assert ws.close_code == lw.WS_GONE


def test_a_send_to_a_client_that_left_does_not_stop_the_server() -> None:
    closed: list[int] = []
    raised: list[BaseException] = []

    def on_message(conn: lw.ServerConnection, message: str | bytes) -> None:
        try:
            conn.send(message)
        except BaseException as e:
            raised.append(e)
            raise

    with lw.Server(
        "127.0.0.1", 0, on_message=on_message, on_close=lambda conn, code, r: closed.append(code)
    ) as server:
        with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            ws.send("answer me")
        # The client has closed before the server's callbacks run: the echo
        # raises ConnectionClosed inside on_message, which the server ignores.
        deadline = time.monotonic() + 10
        while not closed and time.monotonic() < deadline:
            server.handle_events(1)
    assert closed == [lw.WS_OK]
    assert len(raised) == 1 and isinstance(raised[0], lw.ConnectionClosed)


def test_clients_dropped_without_close_are_freed_with_1001() -> None:
    codes: list[int] = []
    with serving(on_message=echo_message, on_close=lambda conn, code, reason: codes.append(code)) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        for i in range(50):
            ws = lw.Client.connect(url)
            ws.send(str(i))
            if i % 2:
                assert ws.recv(timeout=5) == str(i)
            del ws  # the finalizer frees the client: the library closes it with 1001
        gc.collect()
        with lw.Client.connect(url) as ws:  # the server still serves
            ws.send("last")
            assert ws.recv(timeout=5) == "last"
        deadline = time.monotonic() + 10
        while len(codes) < 51 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert sorted(codes) == [lw.WS_OK] + [lw.WS_GONE] * 50


def wait_for_events(until: float) -> None:
    """Wait until the library has events to dispatch or ``until`` (a monotonic time) passed."""
    select.select([_dispatch.event_fd()], [], [], max(0.0, until - time.monotonic()))


def test_a_zero_timeout_takes_what_has_arrived() -> None:
    """handle_events() (timeout 0) and recv(timeout=0) dispatch the events
    already queued instead of giving up before looking."""
    got: list[str | bytes] = []

    def on_message(conn: lw.ServerConnection, message: str | bytes) -> None:
        got.append(message)
        conn.send(message)

    with lw.Server("127.0.0.1", 0, on_message=on_message) as server:
        with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            ws.send("one")
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                server.handle_events()
                wait_for_events(min(deadline, time.monotonic() + 0.1))
            assert got == ["one"]
            answer: str | bytes | None = None
            while answer is None and time.monotonic() < deadline:
                try:
                    answer = ws.recv(timeout=0)
                except TimeoutError:
                    wait_for_events(min(deadline, time.monotonic() + 0.1))
            assert answer == "one"
