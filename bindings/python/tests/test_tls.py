"""TLS: wss:// between our client and server, with the ``websockets`` package
in both roles, certificate checks and client certificates. The CA and the
certificates are made by openssl (the ``certs`` fixture)."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from conftest import Certs, echo, run
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

import libwebsocket as lw
from libwebsocket import ClientTLS, ServerTLS


def server_tls(certs: Certs, **more: object) -> ServerTLS:
    return ServerTLS(cert_file=certs.server_cert, key_file=certs.server_key, **more)  # type: ignore[arg-type]


def test_our_client_and_server_over_tls(certs: Certs) -> None:
    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0, tls=server_tls(certs)) as server:
            url = f"wss://localhost:{server.port}/"
            async with lw.connect(url, tls=ClientTLS(ca_file=certs.ca)) as ws:
                assert ws.is_secure
                await ws.send("over TLS")
                assert await ws.recv() == "over TLS"

    run(main())


def test_sync_client_over_tls_with_deflate(certs: Certs) -> None:
    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0, tls=server_tls(certs), compression="deflate") as server:
            url = f"wss://127.0.0.1:{server.port}/"
            # The sync client dispatches on its thread while it waits; the
            # loop's server gets its events through the same queue.
            def client() -> str | bytes:
                with lw.Client.connect(url, tls=ClientTLS(ca_file=certs.ca), compression="deflate") as ws:
                    assert ws.is_secure and ws.extensions.startswith("permessage-deflate")
                    ws.send("x" * 50_000)
                    return ws.recv(timeout=10)

            assert await asyncio.to_thread(client) == "x" * 50_000

    run(main())


def test_an_untrusted_certificate_fails_with_ws_err_tls(certs: Certs) -> None:
    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0, tls=server_tls(certs)) as server:
            url = f"wss://127.0.0.1:{server.port}/"
            with pytest.raises(lw.WebSocketError) as info:
                await lw.connect(url, tls=ClientTLS(system_roots=False, ca_file=certs.rogue_cert))
            assert info.value.code == lw.Status.WS_ERR_TLS
            assert url in info.value.message
            # Without verification it connects (encrypted, not authenticated).
            async with lw.connect(url, tls=ClientTLS(verify=False)) as ws:
                await ws.send("unverified")
                assert await ws.recv() == "unverified"

    run(main())


def test_client_certificates(certs: Certs) -> None:
    async def main() -> None:
        tls = server_tls(certs, client_ca_file=certs.ca)
        async with lw.serve(echo, "127.0.0.1", 0, tls=tls) as server:
            url = f"wss://127.0.0.1:{server.port}/"
            with pytest.raises(lw.WebSocketError):
                await lw.connect(url, tls=ClientTLS(ca_file=certs.ca))
            mine = ClientTLS(ca_file=certs.ca, cert_file=certs.client_cert, key_file=certs.client_key)
            async with lw.connect(url, tls=mine) as ws:
                await ws.send("with a certificate")
                assert await ws.recv() == "with a certificate"

    run(main())


def test_a_websockets_client_with_our_tls_server(certs: Certs) -> None:
    context = ssl.create_default_context(cafile=str(certs.ca))

    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0, tls=server_tls(certs)) as server:
            async with ws_connect(f"wss://localhost:{server.port}/", ssl=context, proxy=None) as ws:
                await ws.send(b"\x01" * 70_000)
                assert await ws.recv() == b"\x01" * 70_000

    run(main())


def test_our_client_with_a_websockets_tls_server(certs: Certs) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)

    async def main() -> None:
        async with ws_serve(echo, "127.0.0.1", 0, ssl=context) as server:
            port = server.sockets[0].getsockname()[1]
            async with lw.connect(f"wss://localhost:{port}/", tls=ClientTLS(ca_file=certs.ca)) as ws:
                assert ws.is_secure
                await ws.send("to websockets over TLS")
                assert await ws.recv() == "to websockets over TLS"

    run(main())


def test_a_bad_certificate_file_is_refused_at_once(certs: Certs) -> None:
    async def main() -> None:
        with pytest.raises(lw.WebSocketError) as info:
            await lw.serve(echo, "127.0.0.1", 0, tls=ServerTLS(cert_file=certs.ca, key_file=certs.server_key))
        assert info.value.code == lw.Status.WS_ERR_TLS

    run(main())
