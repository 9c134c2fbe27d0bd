"""Loading the library, the constants against the header, and the log."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import echo, run

import libwebsocket as lw

HEADER = Path(__file__).resolve().parents[3] / "include" / "websocket.h"
PACKAGE = Path(lw.__file__).parent


def test_library_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", lw.library_version())


@pytest.mark.skipif(not HEADER.exists(), reason="not run from the source tree")
def test_constants_match_the_header() -> None:
    text = HEADER.read_text()
    defines = dict(re.findall(r"#define (WS_\w+) (-?\d+)", text))
    enum = dict(re.findall(r"^\s+(WS_(?:STATUS|ERR)_\w+) = (-?\d+),", text, re.M))
    for code in lw.CloseCode:
        assert int(defines[code.name]) == code.value
        assert getattr(lw, code.name) == code
    close_codes = {n for n in defines if 1000 <= int(defines[n]) <= 1015}
    assert close_codes == {c.name for c in lw.CloseCode}
    assert {n: int(v) for n, v in enum.items()} == {s.name: s.value for s in lw.Status}


def import_with(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "LIBWEBSOCKET_PATH"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import libwebsocket; print(libwebsocket.library_version())"],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
    )


def test_a_missing_library_path_says_what_to_do(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "libwebsocket")
    result = import_with({"LIBWEBSOCKET_PATH": str(tmp_path / "nothing.so"), "PYTHONPATH": str(tmp_path)}, tmp_path)
    assert result.returncode != 0
    assert "LibraryNotFoundError" in result.stderr and "LIBWEBSOCKET_PATH" in result.stderr


def test_without_a_library_the_error_lists_what_was_tried(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "libwebsocket")  # outside the source tree
    result = import_with({"PYTHONPATH": str(tmp_path)}, tmp_path)
    if result.returncode == 0:
        pytest.skip("libwebsocket.so.0 is installed on this machine")
    assert "libwebsocket.so.0" in result.stderr
    assert "Set LIBWEBSOCKET_PATH" in result.stderr and "make" in result.stderr


def test_library_path_is_honoured(tmp_path: Path) -> None:
    library = os.environ.get("LIBWEBSOCKET_PATH")
    if not library:
        pytest.skip("LIBWEBSOCKET_PATH is not set")
    shutil.copytree(PACKAGE, tmp_path / "libwebsocket")
    result = import_with({"LIBWEBSOCKET_PATH": library, "PYTHONPATH": str(tmp_path)}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == lw.library_version()


def test_the_log_reaches_the_logging_module(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with lw.serve(echo, "127.0.0.1", 0) as server:
            async with lw.connect(f"ws://127.0.0.1:{server.port}/x") as ws:
                await ws.send("logged")
                assert await ws.recv() == "logged"
                ids.append(ws.id)

    ids: list[int] = []
    lw.enable_logging(logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger="libwebsocket"):
            run(main())
    finally:
        lw.enable_logging(None)
    lines = [r for r in caplog.records if r.name == "libwebsocket"]
    assert any(getattr(r, "conn_id", None) == ids[0] for r in lines), [r.getMessage() for r in lines]
