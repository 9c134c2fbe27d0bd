#!/usr/bin/env python3
"""The sync API: an echo Server whose callbacks run in a thread of its own,
and a Client that blocks on each call. Prints what it does and exits 0.

    python3 bindings/python/examples/sync_echo.py
"""

import threading

from libwebsocket import Client, Server


def on_message(conn, message):
    """Runs on the thread in serve_forever(), once per message."""
    conn.send(message)


with Server("127.0.0.1", 0, on_message=on_message) as server:
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    print(f"server: listening on port {server.port}")

    with Client.connect(f"ws://127.0.0.1:{server.port}/") as ws:
        ws.send("ping?")
        print(f"client: got {ws.recv(timeout=5)!r}")
        for i in range(3):
            ws.send(f"message {i}")
        print("client: got", [ws.recv(timeout=5) for _ in range(3)])

    server.shutdown()  # closes what is still open; serve_forever returns
    thread.join()
print("done")
