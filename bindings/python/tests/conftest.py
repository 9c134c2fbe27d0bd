"""Fixtures of the Python binding's tests: a throwaway CA and certificates
(openssl), and a helper that runs a coroutine with a time limit. Everything
listens on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

#: The longest any one test may take; a test that hangs fails instead.
TIME_LIMIT = 30.0


def run(coroutine: Coroutine[Any, Any, T], limit: float = TIME_LIMIT) -> T:
    """Run ``coroutine`` on a new event loop, failing after ``limit`` seconds."""
    return asyncio.run(asyncio.wait_for(coroutine, limit))


@dataclass
class Certs:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client
    certificate, all signed by the CA; and a self-signed certificate of nobody's CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


_MAKE_CERTS = r"""
set -e
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
openssl req -x509 $ec -keyout rogue.key -out rogue.pem -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost
for who in server client; do
  openssl req -new $ec -keyout $who.key -out $who.csr -subj /CN=$who
done
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
printf 'extendedKeyUsage=clientAuth\n' > client.ext
for who in server client; do
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile $who.ext -out $who.pem
done
"""


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """Certificates made with openssl in a temporary directory."""
    where = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", "-c", _MAKE_CERTS], cwd=where, check=True, capture_output=True)
    return Certs(
        ca=where / "ca.pem",
        server_cert=where / "server.pem",
        server_key=where / "server.key",
        client_cert=where / "client.pem",
        client_key=where / "client.key",
        rogue_cert=where / "rogue.pem",
        rogue_key=where / "rogue.key",
    )


async def echo(ws: Any) -> None:
    """An echo handler for our asyncio server and for the ``websockets`` one."""
    async for message in ws:
        await ws.send(message)
