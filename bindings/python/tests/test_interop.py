"""Interop with the ``websockets`` package as the peer, in both roles, over
the asyncio and the sync APIs: text, binary, 1 MiB messages, deflate, closes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import websockets
import websockets.sync.client
import websockets.sync.server
from conftest import echo, run
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

import libwebsocket as lw
from libwebsocket import _dispatch
from libwebsocket.asyncio import Connection

MiB = 1 << 20
MESSAGES: list[str | bytes] = ["hello", "héllo ☃ 𝄞", "", b"\x00\x01\xfe\xff", b"", "t" * MiB, bytes(range(256)) * 4096]


def port_of(server: Any) -> int:
    return int(server.sockets[0].getsockname()[1])


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_our_client_with_a_websockets_server(compression: str | None) -> None:
    extensions: list[list[str]] = []

    async def handler(ws: Any) -> None:
        extensions.append([type(e).__name__ for e in ws.protocol.extensions])
        await echo(ws)

    async def main() -> None:
        async with ws_serve(handler, "127.0.0.1", 0, max_size=None, compression=compression) as server:
            url = f"ws://127.0.0.1:{port_of(server)}/"
            async with lw.connect(url, compression="deflate") as ws:
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                assert ws.extensions.startswith("permessage-deflate") == (compression == "deflate")
        assert extensions == [["PerMessageDeflate"] if compression else []]

    run(main())


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_a_websockets_client_with_our_server(compression: str | None) -> None:
    extensions: list[str] = []

    async def handler(ws: Connection) -> None:
        extensions.append(ws.extensions)
        await echo(ws)

    async def main() -> None:
        async with lw.serve(handler, "127.0.0.1", 0, compression="deflate") as server:
            url = f"ws://127.0.0.1:{server.port}/"
            async with ws_connect(url, max_size=None, compression=compression, proxy=None) as ws:
                for message in MESSAGES:
                    await ws.send(message)
                    assert await ws.recv() == message
                assert bool(ws.protocol.extensions) == (compression == "deflate")
        assert [e.startswith("permessage-deflate") for e in extensions] == [compression == "deflate"]

    run(main())


def test_closes_with_a_websockets_server() -> None:
    codes: list[tuple[int | None, str | None]] = []

    async def handler(ws: Any) -> None:
        if await ws.recv() == "close yourself":
            await ws.close(4003, "websockets says bye")
        else:
            await ws.wait_closed()
            codes.append((ws.close_code, ws.close_reason))

    async def main() -> None:
        async with ws_serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{port_of(server)}/"
            async with lw.connect(url) as ws:
                await ws.send("close yourself")
                with pytest.raises(lw.ConnectionClosedError) as info:
                    await ws.recv()
                assert (info.value.code, info.value.reason) == (4003, "websockets says bye")
            async with lw.connect(url) as ws:
                await ws.send("wait")
                await ws.close(4004, "libwebsocket says bye")
        assert codes == [(4004, "libwebsocket says bye")]

    run(main())


def test_closes_with_a_websockets_client() -> None:
    async def handler(ws: Connection) -> None:
        if await ws.recv() == "close yourself":
            await ws.close(4005, "libwebsocket says bye")
            return
        with pytest.raises(lw.ConnectionClosedError) as info:
            await ws.recv()
        assert (info.value.code, info.value.reason) == (4006, "websockets says bye")
        await ws.send("unreachable")

    async def main() -> None:
        async with lw.serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{server.port}/"
            async with ws_connect(url, proxy=None) as ws:
                await ws.send("close yourself")
                with pytest.raises(websockets.ConnectionClosedError):
                    await ws.recv()
                assert (ws.close_code, ws.close_reason) == (4005, "libwebsocket says bye")
            async with ws_connect(url, proxy=None) as ws:
                await ws.send("wait")
                await ws.close(4006, "websockets says bye")

    run(main())


@contextmanager
def websockets_sync_server(handler: Any, **options: Any) -> Iterator[int]:
    """A ``websockets`` sync server in a thread; gives its port."""
    with websockets.sync.server.serve(handler, "127.0.0.1", 0, **options) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield int(server.socket.getsockname()[1])
        finally:
            server.shutdown()
            thread.join()


def test_our_sync_client_with_a_websockets_server() -> None:
    def handler(ws: Any) -> None:
        for message in ws:
            if message == "close yourself":
                ws.close(4007, "bye")
            else:
                ws.send(message)

    with websockets_sync_server(handler, max_size=None) as port:
        with lw.Client.connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
            assert ws.extensions.startswith("permessage-deflate")
            for message in MESSAGES:
                ws.send(message)
                assert ws.recv(timeout=10) == message
            ws.send("close yourself")
            with pytest.raises(lw.ConnectionClosedError) as info:
                ws.recv(timeout=10)
            assert (info.value.code, info.value.reason) == (4007, "bye")


def test_a_websockets_sync_client_with_our_sync_server() -> None:
    closes: list[tuple[int, str]] = []

    def on_message(conn: lw.ServerConnection, message: str | bytes) -> None:
        conn.send(message)

    def on_close(conn: lw.ServerConnection, code: int, reason: str) -> None:
        closes.append((code, reason))

    with lw.Server("127.0.0.1", 0, on_message=on_message, on_close=on_close, compression="deflate") as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            url = f"ws://127.0.0.1:{server.port}/"
            with websockets.sync.client.connect(url, max_size=None, proxy=None) as ws:
                assert ws.protocol.extensions
                for message in MESSAGES:
                    ws.send(message)
                    assert ws.recv(timeout=10) == message
                ws.close(4008, "sync bye")
        finally:
            server.shutdown()
            thread.join(timeout=10)
    assert closes == [(4008, "sync bye")]


def test_a_drain_dispatched_while_send_returns_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another thread may dispatch the drain of a send before that send has
    returned: Client.send must still return, not wait for a second drain."""
    drained = threading.Event()
    real_send = lw._ffi.lib.ws_conn_send

    def dispatch_the_drain() -> None:
        # As another thread would; it cannot while the sender holds the dispatch lock.
        if _dispatch.lock.acquire(blocking=False):
            try:
                _dispatch.wait_for(drained.is_set, 10)
            finally:
                _dispatch.lock.release()

    def send_with_a_dispatch_behind(*args: Any) -> int:
        status = int(real_send(*args))
        if status == lw.Status.WS_STATUS_BACKPRESSURE:
            other = threading.Thread(target=dispatch_the_drain)
            other.start()
            other.join(20)
        return status

    class Client(lw.Client):
        def _got_drain(self) -> None:
            super()._got_drain()
            drained.set()

    def sink(ws: Any) -> None:
        for _ in ws:
            pass

    with websockets_sync_server(sink, max_size=None) as port:
        with Client.connect(f"ws://127.0.0.1:{port}/") as ws:
            monkeypatch.setattr(lw._ffi.lib, "ws_conn_send", send_with_a_dispatch_behind)
            sender = threading.Thread(target=ws.send, args=(bytes(8 * MiB),), daemon=True)
            sender.start()
            sender.join(20)
            assert not sender.is_alive(), "send waits for a drain already dispatched"
            monkeypatch.undo()
