"""What both servers share: the ``ws_server`` handle they listen with."""

from __future__ import annotations

import weakref

from . import _dispatch
from ._connection import ConnectionBase, Data, _encode
from ._ffi import lib
from .constants import Status
from .exceptions import WebSocketError, _check, _last_error
from .options import ServerOptions, check_count, server_config


class Listener:
    """A listening ``ws_server`` (polled dispatch) whose opened connections
    go to ``self._accept``; the sync and asyncio servers derive from it."""

    def __init__(self, host: str, port: int, options: ServerOptions) -> None:
        """Listen on ``host`` and ``port`` (0: a free one)."""
        check_count("port", port, most=0xFFFF)
        self._user_data = _dispatch.register(self)
        with server_config(options) as cfg:
            handle = lib.ws_server_listen(host.encode(), port, cfg, _dispatch.CALLBACKS_REF, self._user_data)
        if not handle:
            _dispatch.unregister(self._user_data)
            raise _last_error(f"listen on {host}:{port}")
        self._handle: int | None = handle
        self._max_queue = options.max_queue
        self._free = weakref.finalize(self, lib.ws_server_free, handle)
        self.host = host
        """The host the server listens on, as given."""

    def _accept(self, conn: int) -> ConnectionBase:
        """The connection object of ``conn``, which just opened (called by
        the dispatcher, on whichever thread dispatches)."""
        raise NotImplementedError

    def _server(self) -> int:
        if self._handle is None:
            raise WebSocketError(Status.WS_ERR_BAD_STATE, "the server is closed")
        return self._handle

    def _stop(self) -> None:
        """Stop accepting and close every connection with 1001 (``ws_server_stop``)."""
        _check(lib.ws_server_stop(self._server()), "close")

    def _release(self) -> None:
        """Free the server (once its connections have closed)."""
        if self._handle is not None:
            self._handle = None
            self._free()
            _dispatch.unregister(self._user_data)

    @property
    def port(self) -> int:
        """The port the server listens on (the one picked for port 0)."""
        return int(lib.ws_server_port(self._server()))

    def broadcast(self, message: Data) -> int:
        """Queue ``message`` (``str``: text, bytes-like: binary) to every open
        connection; returns how many took it (those closing or whose send
        queue is full are skipped)."""
        kind, data = _encode(message)
        return _check(lib.ws_server_broadcast(self._server(), kind, data, len(data)), "broadcast")

    def __repr__(self) -> str:
        where = "closed" if self._handle is None else f"{self.host}:{self.port}"
        return f"<libwebsocket {type(self).__name__} {where}>"
