"""What both servers share: the ``ws_server`` handle they listen with, and
the topics their connections subscribe to."""

from __future__ import annotations

import weakref

from . import _dispatch
from ._connection import ConnectionBase, Data, _encode
from ._ffi import lib
from .constants import Status
from .exceptions import WebSocketError, _check, _last_error
from .options import ServerOptions, check_count, server_config


def _topic(topic: str, what: str) -> bytes:
    """``topic`` for the C API (the library checks its length: 1 to 1024 bytes)."""
    if not isinstance(topic, str):
        raise TypeError(f"a topic is a str, not {type(topic).__name__}")
    if "\0" in topic:
        raise WebSocketError(Status.WS_ERR_INVALID_ARGUMENT, f"{what}: the topic contains a NUL character")
    return topic.encode()


class Subscriber(ConnectionBase):
    """What a server's connections add: topics (see :meth:`Listener.publish`)."""

    def subscribe(self, topic: str) -> None:
        """Subscribe to ``topic`` (a name of 1 to 1024 UTF-8 bytes): from now
        on the connection gets what the server publishes to it. Subscribing
        again does nothing; a connection leaves all its topics when it
        closes. Never blocks; from any thread. Raises
        :class:`~libwebsocket.ConnectionClosed` once the connection is
        closed, and :class:`~libwebsocket.WebSocketError`
        (``WS_ERR_INVALID_ARGUMENT``) for a bad name."""
        status = lib.ws_conn_subscribe(self._conn(), _topic(topic, "subscribe"))
        if status == Status.WS_ERR_NOT_OPEN:
            raise self._closed_error()
        _check(status, "subscribe")

    def unsubscribe(self, topic: str) -> None:
        """Leave ``topic``; nothing happens when not subscribed to it."""
        _check(lib.ws_conn_unsubscribe(self._conn(), _topic(topic, "unsubscribe")), "unsubscribe")

    def is_subscribed(self, topic: str) -> bool:
        """True when the connection is subscribed to ``topic``."""
        return _check(lib.ws_conn_is_subscribed(self._conn(), _topic(topic, "is_subscribed")), "is_subscribed") == 1


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

    def publish(self, topic: str, message: Data) -> int:
        """Queue ``message`` (``str``: text, bytes-like: binary) to every
        connection subscribed to ``topic`` (see ``conn.subscribe``) and return
        how many it went to (0 when the topic has none). The frame is made
        once for all of them. Never blocks; from any thread, callbacks
        included; what one thread publishes reaches each subscriber in
        order. A subscriber whose send queue cannot take it misses it, or is
        closed with 1008 (the ``slow_subscriber`` option)."""
        name = _topic(topic, "publish")
        kind, data = _encode(message)
        return _check(lib.ws_server_publish(self._server(), name, kind, data, len(data)), "publish")

    def subscriber_count(self, topic: str) -> int:
        """How many connections are subscribed to ``topic``."""
        return int(lib.ws_server_subscriber_count(self._server(), _topic(topic, "subscriber_count")))

    def __repr__(self) -> str:
        where = "closed" if self._handle is None else f"{self.host}:{self.port}"
        return f"<libwebsocket {type(self).__name__} {where}>"
