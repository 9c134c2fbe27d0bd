"""The asyncio API, our client against our server."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref

import pytest
from conftest import echo, run

import libwebsocket as lw
from libwebsocket import _dispatch
from libwebsocket.asyncio import Connection, Server


def test_echo_text_binary_and_empty() -> None:
    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0) as server:
            async with lw.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                for message in ["hello", "héllo ☃ 𝄞", "", b"\x00\xff" * 10, b""]:
                    await ws.send(message)
                    answer = await ws.recv()
                    assert answer == message and type(answer) is type(message)
                await ws.send(bytearray(b"ba"))
                assert await ws.recv() == b"ba"
                await ws.send(memoryview(b"mv"))
                assert await ws.recv() == b"mv"

    run(main())


def test_async_iteration_ends_on_a_normal_close() -> None:
    async def handler(ws: Connection) -> None:
        for i in range(5):
            await ws.send(str(i))
        await ws.close(lw.WS_OK, "done")

    async def main() -> None:
        async with lw.serve(handler, "127.0.0.1", 0) as server:
            async with lw.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                received = [message async for message in ws]
                assert received == ["0", "1", "2", "3", "4"]
                assert (ws.close_code, ws.close_reason) == (1000, "done")

    run(main())


def test_close_codes_and_reasons_both_ways() -> None:
    seen: list[tuple[int | None, str]] = []

    async def handler(ws: Connection) -> None:
        message = await ws.recv()
        if message == "close yourself":
            await ws.close(4002, "server says bye")
            return
        with pytest.raises(lw.ConnectionClosedError) as info:
            await ws.recv()
        seen.append((info.value.code, info.value.reason))

    async def main() -> None:
        async with lw.serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            async with lw.connect(url) as ws:
                await ws.send("close yourself")
                with pytest.raises(lw.ConnectionClosedError) as info:
                    await ws.recv()
                assert (info.value.code, info.value.reason) == (4002, "server says bye")
                assert (ws.close_code, ws.close_reason) == (4002, "server says bye")
            ws = await lw.connect(url)
            await ws.send("stay")
            await ws.close(4001, "client says bye")
            assert ws.close_code == 4001  # the server's answer echoes the code
            while server.connections:
                await asyncio.sleep(0.01)
        assert seen == [(4001, "client says bye")]

    run(main())


def test_handler_return_closes_1000_and_exception_closes_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(ws: Connection) -> None:
        if await ws.recv() == "fail":
            raise RuntimeError("handler failed on purpose")

    async def main() -> None:
        async with lw.serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            async with lw.connect(url) as ws:
                await ws.send("ok")
                await ws.wait_closed()
                assert ws.close_code == lw.WS_OK
            async with lw.connect(url) as ws:
                await ws.send("fail")
                await ws.wait_closed()
                assert ws.close_code == lw.WS_INTERNAL_SERVER_ERROR

    run(main())
    assert "handler failed on purpose" in caplog.text


def test_server_close_sends_1001_and_serve_forever_returns() -> None:
    async def main() -> None:
        server = await lw.serve(echo, "127.0.0.1", 0)
        forever = asyncio.ensure_future(server.serve_forever())
        ws = await lw.connect(f"ws://127.0.0.1:{server.port}/")
        await ws.send("x")
        assert await ws.recv() == "x"
        server.close()
        await ws.wait_closed()
        assert ws.close_code == lw.WS_GONE
        await server.wait_closed()
        await forever
        with pytest.raises(lw.WebSocketError) as info:
            server.port
        assert info.value.code == lw.Status.WS_ERR_BAD_STATE

    run(main())


def test_subprotocols_headers_path_and_query() -> None:
    seen = {}

    async def handler(ws: Connection) -> None:
        seen.update(path=ws.path, query=ws.query, headers=dict(ws.headers), subprotocol=ws.subprotocol)
        await ws.send("hi")

    async def main() -> None:
        async with lw.serve(handler, "127.0.0.1", 0, subprotocols=["chat.v2", "chat.v1"]) as server:
            url = f"ws://127.0.0.1:{server.port}/room/1?user=ann"
            options = dict(subprotocols=["chat.v1"], additional_headers={"X-Token": "secret"}, origin="https://example.com")
            async with lw.connect(url, **options) as ws:
                assert await ws.recv() == "hi"
                assert ws.subprotocol == "chat.v1"
                assert ws.remote_address == ("127.0.0.1", server.port)
                assert not ws.is_secure
        assert seen["path"] == "/room/1" and seen["query"] == "user=ann"
        assert seen["subprotocol"] == "chat.v1"
        assert seen["headers"]["X-Token"] == "secret"
        assert seen["headers"]["Origin"] == "https://example.com"

    run(main())


def test_deflate_and_compression_threshold() -> None:
    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0, compression="deflate", compression_threshold=0) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            async with lw.connect(url, compression="deflate") as ws:
                assert ws.extensions.startswith("permessage-deflate")
                big = "compressible " * 100_000
                await ws.send(big)
                assert await ws.recv() == big
            async with lw.connect(url) as ws:
                assert ws.extensions == ""

    run(main())


def test_oversize_messages_fail_with_1009() -> None:
    async def sends_big(ws: Connection) -> None:
        await ws.send(b"x" * 2000)
        await ws.wait_closed()

    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0, max_size=1000) as server:
            async with lw.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                await ws.send(b"y" * 1000)
                assert await ws.recv() == b"y" * 1000
                await ws.send(b"y" * 1001)
                with pytest.raises(lw.ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.code == lw.WS_MESSAGE_TOO_LARGE
        async with lw.serve(sends_big, "127.0.0.1", 0) as server:
            async with lw.connect(f"ws://127.0.0.1:{server.port}/", max_size=1000) as ws:
                # This side failed the connection: the peer's code is 1006
                # (it closed without a close frame), the message says why.
                with pytest.raises(lw.ConnectionClosedError, match="message too large.*1009"):
                    await ws.recv()

    run(main())


def test_ping_gives_the_round_trip_time() -> None:
    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0) as server:
            async with lw.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                latency = await (await ws.ping(b"abc"))
                assert 0 <= latency < 5
                waiters = [await ws.ping() for _ in range(3)]
                assert all(0 <= t < 5 for t in await asyncio.gather(*waiters))

    run(main())


def test_two_hundred_concurrent_clients_in_order() -> None:
    clients, messages = 200, 10

    async def client(url: str, n: int) -> list[str]:
        async with lw.connect(url) as ws:
            for i in range(messages):
                await ws.send(f"{n}:{i}")
            return [await ws.recv() for _ in range(messages)]  # type: ignore[misc]

    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            answers = await asyncio.gather(*(client(url, n) for n in range(clients)))
        for n, got in enumerate(answers):
            assert got == [f"{n}:{i}" for i in range(messages)]

    run(main())


def test_large_messages_with_backpressure(monkeypatch: pytest.MonkeyPatch) -> None:
    drains = 0
    got_drain = Connection._got_drain

    def counting_got_drain(self: Connection) -> None:
        nonlocal drains
        drains += 1
        got_drain(self)

    monkeypatch.setattr(Connection, "_got_drain", counting_got_drain)

    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0) as server:
            async with lw.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                chunk = bytes(range(256)) * 4096  # 1 MiB
                for _ in range(8):
                    await ws.send(chunk)
                for _ in range(8):
                    assert await ws.recv() == chunk

    run(main())
    assert drains > 0  # the sends did wait for the send queue to drain


def test_a_server_nobody_holds_keeps_serving() -> None:
    async def main() -> None:
        server = weakref.ref(await lw.serve(echo, "127.0.0.1", 0))
        gc.collect()
        listening = server()
        assert listening is not None
        async with lw.connect(f"ws://127.0.0.1:{listening.port}/") as ws:
            await ws.send("still here")
            assert await ws.recv() == "still here"
        listening.close()
        await listening.wait_closed()

    run(main())


def test_broadcast_reaches_every_connection() -> None:
    async def handler(ws: Connection) -> None:
        await ws.wait_closed()

    async def main() -> None:
        async with lw.serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            clients = [await lw.connect(url) for _ in range(5)]
            while len(server.connections) < 5:
                await asyncio.sleep(0.01)
            assert server.broadcast(b"to everyone") == 5
            assert [await c.recv() for c in clients] == [b"to everyone"] * 5
            for c in clients:
                await c.close()

    run(main())


def test_a_connect_cancelled_while_opening_leaves_no_reader() -> None:
    """connect() cancelled (here by wait_for's timeout) before the server
    answers gives up the connection and the loop's event fd reader."""
    with socket.socket() as silent:  # accepts TCP connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/"

        async def main() -> None:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(lw.connect(url), 0.2)
            assert not asyncio.get_running_loop().remove_reader(_dispatch.event_fd())

        run(main())


def test_a_client_dropped_without_close_leaves_no_reader() -> None:
    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0) as server:
            ws = await lw.connect(f"ws://127.0.0.1:{server.port}/")
            await ws.send("hello")
            assert await ws.recv() == "hello"
            del ws
            gc.collect()
        assert not asyncio.get_running_loop().remove_reader(_dispatch.event_fd())

    run(main())


def test_a_server_left_open_goes_with_its_loop() -> None:
    """A server not closed when its loop ends is freed with the loop: it
    stops listening, instead of being kept for ever."""

    async def leave_listening() -> tuple[weakref.ref[Server], int]:
        server = await lw.serve(echo, "127.0.0.1", 0)
        return weakref.ref(server), server.port

    server, port = run(leave_listening())
    gc.collect()
    assert server() is None
    with pytest.raises(lw.WebSocketError) as info:
        lw.Client.connect(f"ws://127.0.0.1:{port}/")
    assert info.value.code == lw.Status.WS_ERR_CONNECT
