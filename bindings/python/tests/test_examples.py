"""The example programs run, print what they do and exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import libwebsocket

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str) -> str:
    env = dict(os.environ)
    # The package the tests import, whether installed or from the source tree.
    env["PYTHONPATH"] = str(Path(libwebsocket.__file__).parents[1])
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_tutorial() -> None:
    out = run_example("tutorial.py").splitlines()
    assert out[0].startswith("server: listening on port ")
    # The two sides run concurrently: each side's lines come in order.
    assert [line for line in out[1:] if line.startswith("server:")] == [
        "server: 127.0.0.1 connected to /tutorial",
        "server: the client left with 1000 'done'",
        "server: closed",
    ]
    assert [line for line in out if line.startswith("client:")] == [
        "client: got 'Hello, WebSocket!'",
        "client: got b'\\x01\\x02\\x03'",
        "client: closed with 1000",
    ]


def test_sync_example() -> None:
    out = run_example("sync_echo.py")
    assert "client: got 'ping?'" in out and out.endswith("done\n")
