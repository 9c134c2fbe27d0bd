"""max_queue: a connection holds at most that many unread messages; then it
stops reading, and TCP stops the peer until the application reads."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import websockets.sync.client
import websockets.sync.server
from conftest import run

import libwebsocket as lw
from libwebsocket._connection import ConnectionBase

COUNT = 2000
SIZE = 64 * 1024
# What the library read before the pause took effect still arrives: the
# messages already in its event queue (some tens here, at most its 64 MiB).
READ_AHEAD = COUNT // 4


def message(index: int) -> bytes:
    return index.to_bytes(4, "big") + bytes(SIZE - 4)


def test_a_handler_that_does_not_read_stops_the_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer sends 2000 messages of 64 KiB to a handler that does not read:
    the connection holds max_queue of them and what the library had read
    ahead, a fraction of them, and the peer's sends block;
    once the handler reads, every message arrives, in order."""
    most_unread = 0
    held_one = ConnectionBase._held_one

    def counting_held_one(self: ConnectionBase) -> None:
        nonlocal most_unread
        held_one(self)
        most_unread = max(most_unread, self._unread)

    monkeypatch.setattr(ConnectionBase, "_held_one", counting_held_one)
    sent_all = threading.Event()
    errors: list[BaseException] = []

    def send_all(url: str) -> None:
        try:
            with websockets.sync.client.connect(url, proxy=None) as ws:
                for index in range(COUNT):
                    ws.send(message(index))
                sent_all.set()
                ws.recv(timeout=20)  # "done", once the handler has read everything
        except BaseException as e:
            errors.append(e)

    async def main() -> None:
        read_now = asyncio.Event()
        got: list[tuple[int, int]] = []

        async def handler(ws: Any) -> None:
            await read_now.wait()
            for _ in range(COUNT):
                data = await ws.recv()
                got.append((int.from_bytes(data[:4], "big"), len(data)))
            await ws.send("done")

        loop = asyncio.get_running_loop()
        async with lw.serve(handler, "127.0.0.1", 0, max_queue=16) as server:
            sender = threading.Thread(target=send_all, args=(f"ws://127.0.0.1:{server.port}/",))
            sender.start()
            # Unread, the messages stop the sender: it cannot finish in a second.
            assert not await loop.run_in_executor(None, sent_all.wait, 1.0)
            assert 16 <= most_unread <= 16 + READ_AHEAD
            read_now.set()
            await loop.run_in_executor(None, sender.join, 20)
            assert not sender.is_alive() and errors == []
        assert got == [(index, SIZE) for index in range(COUNT)]

    run(main())


def test_max_queue_none_holds_everything() -> None:
    """With max_queue=None nothing stops the peer: it finishes sending before
    the handler reads anything."""
    count = 200
    sent_all = threading.Event()

    def send_all(url: str) -> None:
        with websockets.sync.client.connect(url, proxy=None) as ws:
            for index in range(count):
                ws.send(message(index))
            sent_all.set()
            ws.recv(timeout=20)

    async def main() -> None:
        read_now = asyncio.Event()
        got: list[int] = []

        async def handler(ws: Any) -> None:
            await read_now.wait()
            for _ in range(count):
                got.append(int.from_bytes((await ws.recv())[:4], "big"))
            await ws.send("done")

        loop = asyncio.get_running_loop()
        async with lw.serve(handler, "127.0.0.1", 0, max_queue=None) as server:
            sender = threading.Thread(target=send_all, args=(f"ws://127.0.0.1:{server.port}/",))
            sender.start()
            assert await loop.run_in_executor(None, sent_all.wait, 20)
            read_now.set()
            await loop.run_in_executor(None, sender.join, 20)
        assert got == list(range(count))

    run(main())


def test_a_sync_client_that_does_not_read_stops_the_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for a sync client whose events another thread dispatches
    (here a sync server's serve_forever) while it does not call recv."""
    most_unread = 0
    held_one = ConnectionBase._held_one

    def counting_held_one(self: ConnectionBase) -> None:
        nonlocal most_unread
        held_one(self)
        most_unread = max(most_unread, self._unread)

    monkeypatch.setattr(ConnectionBase, "_held_one", counting_held_one)
    sent_all = threading.Event()

    def flood(ws: Any) -> None:
        for index in range(COUNT):
            ws.send(message(index))
        sent_all.set()
        ws.recv()  # until the client closes

    with websockets.sync.server.serve(flood, "127.0.0.1", 0) as peer:
        peer_thread = threading.Thread(target=peer.serve_forever)
        peer_thread.start()
        with lw.Server("127.0.0.1", 0) as dispatcher:
            dispatching = threading.Thread(target=dispatcher.serve_forever)
            dispatching.start()
            try:
                with lw.Client.connect(f"ws://127.0.0.1:{peer.socket.getsockname()[1]}/", max_queue=8) as ws:
                    assert not sent_all.wait(1.0)
                    assert 8 <= most_unread <= 8 + READ_AHEAD
                    got = []
                    for _ in range(COUNT):
                        data = ws.recv(timeout=10)
                        got.append((int.from_bytes(data[:4], "big"), len(data)))
                    assert got == [(index, SIZE) for index in range(COUNT)]
            finally:
                dispatcher.shutdown()
                dispatching.join(10)
        peer.shutdown()
        peer_thread.join(10)
