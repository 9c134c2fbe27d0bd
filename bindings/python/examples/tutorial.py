#!/usr/bin/env python3
"""A first program with libwebsocket's asyncio API: an echo server and a
client in one file. It prints what it does and exits 0.

    make                               # from the top of the source tree
    PYTHONPATH=bindings/python python3 bindings/python/examples/tutorial.py

Run from the source tree like this, the package uses the build tree's library.
Installed with `pip install ./bindings/python`, it uses the library the system
loader finds as libwebsocket.so.0 (after `make install`), or the one named by
LIBWEBSOCKET_PATH=$PWD/target/release/libwebsocket.so.
"""

import asyncio

from libwebsocket import WS_OK, connect, serve


async def echo(ws):
    """The server's handler: one call per connection; it sends back each message."""
    print(f"server: {ws.remote_address[0]} connected to {ws.path}")
    async for message in ws:
        await ws.send(message)
    print(f"server: the client left with {ws.close_code} {ws.close_reason!r}")


async def main():
    # Port 0: the system picks a free port; server.port says which.
    async with serve(echo, "127.0.0.1", 0) as server:
        print(f"server: listening on port {server.port}")

        async with connect(f"ws://127.0.0.1:{server.port}/tutorial") as ws:
            await ws.send("Hello, WebSocket!")  # str: a text message
            print(f"client: got {await ws.recv()!r}")

            await ws.send(bytes([1, 2, 3]))  # bytes: a binary message
            print(f"client: got {await ws.recv()!r}")

            await ws.close(WS_OK, "done")  # a close code and a reason
            print(f"client: closed with {ws.close_code}")

    print("server: closed")


if __name__ == "__main__":
    asyncio.run(main())
