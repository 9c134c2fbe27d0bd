"""The asyncio API, shaped like the ``websockets`` package's: :func:`connect`,
:func:`serve`, :class:`Connection` and :class:`Server`.

The library's events are dispatched on the loop when its event fd is
readable (``loop.add_reader``), so everything here runs on the loop's thread.
"""

from .client import ClientConnection, connect
from .connection import Connection
from .server import Server, ServerConnection, serve

__all__ = ["connect", "serve", "Connection", "ClientConnection", "ServerConnection", "Server"]
