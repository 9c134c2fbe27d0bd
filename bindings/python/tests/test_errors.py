"""Errors: refused ports, bad URLs, bad arguments, use after close, and
exceptions raised inside ws_dispatch()."""

from __future__ import annotations

import socket
import time

import pytest
from conftest import echo, run

import libwebsocket as lw
from libwebsocket import _dispatch


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_port_raises_ws_err_connect() -> None:
    url = f"ws://127.0.0.1:{closed_port()}/"
    with pytest.raises(lw.WebSocketError) as info:
        lw.Client.connect(url)
    assert info.value.code == lw.Status.WS_ERR_CONNECT
    assert "refused" in str(info.value) and url in str(info.value)

    async def main() -> None:
        with pytest.raises(lw.WebSocketError) as info:
            await lw.connect(url)
        assert info.value.code == lw.Status.WS_ERR_CONNECT
        assert "refused" in str(info.value)

    run(main())


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "ws://", "not a url", "ws://[::1/"])
def test_bad_urls_raise_invalid_uri(url: str) -> None:
    with pytest.raises(lw.InvalidURI) as info:
        lw.Client.connect(url)
    assert info.value.code == lw.Status.WS_ERR_BAD_URL
    assert url in info.value.message

    async def main() -> None:
        with pytest.raises(lw.InvalidURI):
            await lw.connect(url)

    run(main())


def test_a_port_in_use_cannot_be_listened_on() -> None:
    with lw.Server("127.0.0.1", 0) as server:
        with pytest.raises(lw.WebSocketError) as info:
            lw.Server("127.0.0.1", server.port)
        assert info.value.code < 0 and str(server.port) in info.value.message


def test_bad_options_are_refused() -> None:
    with pytest.raises(TypeError):
        lw.Client.connect("ws://127.0.0.1:1/", no_such_option=1)
    with pytest.raises(ValueError):
        lw.Client.connect("ws://127.0.0.1:1/", compression="brotli")
    with pytest.raises(ValueError):
        lw.Client.connect("ws://127.0.0.1:1/", open_timeout=0)
    with pytest.raises(lw.WebSocketError) as info:
        lw.Client.connect("ws://127.0.0.1:1/", additional_headers={"Bad Name": "x"})
    assert info.value.code == lw.Status.WS_ERR_INVALID_ARGUMENT


@pytest.mark.parametrize(
    "options",
    [
        {"max_size": -1},
        {"max_size": 2**64},
        {"compression_threshold": -1},
        {"max_queue": 0},
        {"open_timeout": -1},
        {"close_timeout": float("nan")},
        {"ping_interval": float("inf")},
        {"close_timeout": 1e17},
    ],
)
def test_numbers_out_of_range_are_refused(options: dict[str, float]) -> None:
    """Numbers that ctypes would wrap (max_size=-1 as 2**64-1) raise ValueError."""
    name = next(iter(options))
    with pytest.raises(ValueError, match=name):
        lw.Client.connect("ws://127.0.0.1:1/", **options)
    with pytest.raises(ValueError, match=name):
        lw.Server("127.0.0.1", 0, **options)
    with pytest.raises(ValueError, match=name):
        lw.serve(echo, "127.0.0.1", 0, **options)


def test_ports_and_waits_out_of_range_are_refused() -> None:
    for port in (-1, 70000):  # 70000 would wrap to 4464
        with pytest.raises(ValueError, match="port"):
            lw.Server("127.0.0.1", port)
        with pytest.raises(ValueError, match="port"):
            run(lw.serve(echo, "127.0.0.1", port))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_connections"):
        lw.Server("127.0.0.1", 0, max_connections=-5)
    with lw.Server("127.0.0.1", 0) as server:
        with pytest.raises(ValueError, match="timeout"):
            server.handle_events(-1)
        with lw.Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            with pytest.raises(ValueError, match="timeout"):
                ws.recv(timeout=float("nan"))


def test_use_after_close_raises_and_never_crashes() -> None:
    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0) as server:
            ws = await lw.connect(f"ws://127.0.0.1:{server.port}/")
            await ws.close()
            await ws.close()  # twice: nothing
            for call in (ws.send("x"), ws.recv(), ws.ping()):
                with pytest.raises(lw.ConnectionClosedOK):
                    await call
            assert ws.path == "/" and ws.close_code == lw.WS_OK and ws.buffered_amount == 0
            with pytest.raises(TypeError):
                await ws.send(42)  # type: ignore[arg-type]
        server.close()  # closing a closed server: nothing
        with pytest.raises(lw.WebSocketError):
            server.port

    run(main())
    with lw.Server("127.0.0.1", 0) as sync_server:
        pass
    sync_server.close()
    with pytest.raises(lw.WebSocketError) as info:
        sync_server.broadcast("x")
    assert info.value.code == lw.Status.WS_ERR_BAD_STATE


def test_invalid_close_codes_and_reasons() -> None:
    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0) as server:
            async with lw.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                for code, reason in [(1005, ""), (999, ""), (70000, ""), (1000, "x" * 124), (1000, "nul\0")]:
                    with pytest.raises(lw.WebSocketError) as info:
                        await ws.close(code, reason)
                    assert info.value.code in (
                        lw.Status.WS_ERR_INVALID_CLOSE_CODE,
                        lw.Status.WS_ERR_TOO_LARGE,
                        lw.Status.WS_ERR_INVALID_ARGUMENT,
                    )
                await ws.send("still open")
                assert await ws.recv() == "still open"

    run(main())


def test_an_exception_inside_dispatch_is_raised_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A callback of ws_dispatch() that raises does not unwind through C: the
    exception comes out of the call that dispatched, and dispatch goes on."""

    class Fragile(lw.Client):
        def _got_message(self, message: str | bytes) -> None:
            if message == "raise":
                raise RuntimeError("raised inside ws_dispatch")
            super()._got_message(message)

    with lw.Server("127.0.0.1", 0, on_message=lambda conn, m: conn.send(m)) as server:
        ws = Fragile.connect(f"ws://127.0.0.1:{server.port}/")
        ws.send("raise")
        ws.send("after")
        deadline = time.monotonic() + 10
        with pytest.raises(RuntimeError, match="raised inside ws_dispatch"):
            while time.monotonic() < deadline:
                server.handle_events(0.01)
                _dispatch.dispatch()
        answer = None
        while answer is None and time.monotonic() < deadline:
            server.handle_events(0.01)
            try:
                answer = ws.recv(timeout=0.01)
            except TimeoutError:
                pass
        assert answer == "after"
        ws.close()


def test_open_timeout_against_a_silent_server() -> None:
    with socket.socket() as silent:  # accepts TCP connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}/"
        start = time.monotonic()
        with pytest.raises(lw.WebSocketError) as info:
            lw.Client.connect(url, open_timeout=0.3)
        assert info.value.code == lw.Status.WS_ERR_TIMEOUT
        assert 0.2 < time.monotonic() - start < 5
