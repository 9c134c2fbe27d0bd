"""Topics: conn.subscribe, server.publish, server.subscriber_count, over
loopback, with the sync and the asyncio servers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import run

import libwebsocket as lw


def chat(server_ref: list[lw.Server]) -> Callable[[lw.ServerConnection, str | bytes], None]:
    """A handler of "join ROOM", "leave ROOM", "in ROOM" and "say ROOM TEXT"."""

    def on_message(conn: lw.ServerConnection, message: str | bytes) -> None:
        assert isinstance(message, str)
        verb, _, rest = message.partition(" ")
        if verb == "join":
            conn.subscribe(rest)
            conn.send(f"joined {rest}")
        elif verb == "leave":
            conn.unsubscribe(rest)
            conn.send(f"left {rest}")
        elif verb == "in":
            conn.send("yes" if conn.is_subscribed(rest) else "no")
        elif verb == "say":
            room, _, text = rest.partition(" ")
            reached = server_ref[0].publish(room, text)  # from a callback
            conn.send(f"reached {reached}")

    return on_message


@contextmanager
def chat_server(**options: Any) -> Iterator[lw.Server]:
    ref: list[lw.Server] = []
    with lw.Server("127.0.0.1", 0, on_message=chat(ref), **options) as server:
        ref.append(server)
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            thread.join(timeout=10)
            assert not thread.is_alive()


def ask(ws: lw.Client, request: str) -> str | bytes:
    ws.send(request)
    return ws.recv(timeout=5)


def eventually(ready: Callable[[], bool], limit: float = 5) -> bool:
    deadline = time.monotonic() + limit
    while not ready():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_two_rooms() -> None:
    with chat_server() as server:
        url = f"ws://127.0.0.1:{server.port}/"
        with lw.Client.connect(url) as a, lw.Client.connect(url) as b, lw.Client.connect(url) as c:
            assert ask(a, "join lobby") == "joined lobby"
            assert ask(b, "join lobby") == "joined lobby"
            assert ask(b, "join lobby") == "joined lobby"  # again: no error, counted once
            assert ask(c, "join kitchen") == "joined kitchen"
            assert server.subscriber_count("lobby") == 2
            assert server.subscriber_count("kitchen") == 1
            assert server.subscriber_count("attic") == 0
            assert ask(a, "in lobby") == "yes" and ask(a, "in kitchen") == "no"

            # From this thread (not a callback): str as text, bytes as binary.
            assert server.publish("lobby", "hello lobby") == 2
            assert server.publish("kitchen", b"\x01\x02") == 1
            assert server.publish("attic", "nobody") == 0
            assert a.recv(timeout=5) == "hello lobby"
            assert b.recv(timeout=5) == "hello lobby"
            assert c.recv(timeout=5) == b"\x01\x02"  # and not the lobby's message

            # From a callback.
            a.send("say lobby hi")
            assert sorted([a.recv(timeout=5), a.recv(timeout=5)]) == ["hi", "reached 2"]  # type: ignore[type-var]
            assert b.recv(timeout=5) == "hi"

            # Many in a row arrive in order.
            for i in range(50):
                assert server.publish("kitchen", f"m{i}") == 1
            assert [c.recv(timeout=5) for _ in range(50)] == [f"m{i}" for i in range(50)]

            # Unsubscribing.
            assert ask(a, "leave lobby") == "left lobby"
            assert ask(a, "leave attic") == "left attic"  # not subscribed: no error
            assert ask(a, "in lobby") == "no"
            assert server.subscriber_count("lobby") == 1
            assert server.publish("lobby", "just b") == 1
            assert b.recv(timeout=5) == "just b"
            with pytest.raises(TimeoutError):
                a.recv(timeout=0.1)

            # Closing leaves every topic.
            b.close()
            assert eventually(lambda: server.subscriber_count("lobby") == 0)
            assert server.publish("lobby", "gone") == 0
            assert server.subscriber_count("kitchen") == 1


def test_subscribing_from_any_thread_and_bad_names() -> None:
    with chat_server() as server:
        with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            assert eventually(lambda: len(server.connections) == 1)
            (conn,) = server.connections
            conn.subscribe("news")  # from this thread, not the server's
            long_name = "é" * 512  # 1024 bytes: the longest name
            conn.subscribe(long_name)
            assert conn.is_subscribed("news") and conn.is_subscribed(long_name)
            assert server.publish(long_name, "long") == 1
            assert ws.recv(timeout=5) == "long"

            for bad in ("", "x" * 1025, "é" * 513):
                for call in (conn.subscribe, conn.unsubscribe, conn.is_subscribed):
                    with pytest.raises(lw.WebSocketError) as info:
                        call(bad)
                    assert info.value.code == lw.Status.WS_ERR_INVALID_ARGUMENT
                with pytest.raises(lw.WebSocketError) as info:
                    server.publish(bad, "x")
                assert info.value.code == lw.Status.WS_ERR_INVALID_ARGUMENT
            with pytest.raises(lw.WebSocketError) as info:
                conn.subscribe("a\0b")
            assert info.value.code == lw.Status.WS_ERR_INVALID_ARGUMENT
            with pytest.raises(lw.WebSocketError):
                server.publish("a\0b", "x")
            with pytest.raises(TypeError):
                conn.subscribe(b"news")  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                server.publish("news", 42)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                server.subscriber_count(None)  # type: ignore[arg-type]
            assert server.subscriber_count("news") == 1

        assert eventually(lambda: conn.closed)
        with pytest.raises(lw.ConnectionClosed):
            conn.subscribe("news")  # a closed connection
        assert server.subscriber_count("news") == 0


def test_slow_subscriber_option() -> None:
    for policy in ("skip", "close", None):
        with lw.Server("127.0.0.1", 0, slow_subscriber=policy):
            pass
    with pytest.raises(ValueError):
        lw.ServerOptions(slow_subscriber="drop")  # type: ignore[arg-type]


def test_asyncio_topics() -> None:
    async def main() -> None:
        async def handler(ws: Any) -> None:
            async for message in ws:
                ws.subscribe(message)
                await ws.send(f"joined {message}")

        async with lw.serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            async with lw.connect(url) as a, lw.connect(url) as b:
                await a.send("red")
                await b.send("blue")
                assert await a.recv() == "joined red"
                assert await b.recv() == "joined blue"
                assert server.subscriber_count("red") == 1
                assert server.publish("red", "to red") == 1
                assert server.publish("blue", b"to blue") == 1
                assert await a.recv() == "to red"
                assert await b.recv() == b"to blue"
                (conn_a,) = [c for c in server.connections if c.is_subscribed("red")]
                conn_a.unsubscribe("red")
                assert server.publish("red", "nobody") == 0
            while server.subscriber_count("blue"):  # closed: leaves its topics
                await asyncio.sleep(0.01)

    run(main())
