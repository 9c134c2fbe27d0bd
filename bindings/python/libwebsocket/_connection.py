"""What every connection object shares: the ``ws_conn`` handle it holds, the
events the dispatcher records on it, and the calls and properties over it.

The sync :class:`~libwebsocket.Client`, the sync server's
:class:`~libwebsocket.ServerConnection` and the asyncio
:class:`~libwebsocket.asyncio.Connection` derive from :class:`ConnectionBase`;
each says in ``_wake`` how its waiters learn that something happened.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from ctypes import byref, c_char_p

from . import _dispatch, _ffi
from ._ffi import lib
from .constants import Status
from .exceptions import ConnectionClosed, NotConnected, WebSocketError, _check, _connection_closed, _last_error
from .options import ClientOptions, client_config

Message = str | bytes
"""A message: ``str`` for a text message, ``bytes`` for a binary one."""

Data = str | bytes | bytearray | memoryview
"""What may be sent: text as ``str``, binary data as a bytes-like object."""


def _encode(message: Data) -> tuple[int, bytes]:
    if isinstance(message, str):
        return _ffi.MESSAGE_TEXT, message.encode()
    if isinstance(message, (bytes, bytearray, memoryview)):
        return _ffi.MESSAGE_BINARY, bytes(message)
    raise TypeError(f"a message is str or bytes-like, not {type(message).__name__}")


def _nothing() -> None:
    pass


def _free_client(client: int, user_data: int) -> None:
    lib.ws_client_free(client)
    _dispatch.unregister(user_data)


class ConnectionBase:
    """The properties every connection has; its methods are in the subclasses."""

    def __init__(self) -> None:
        self._handle: int | None = None
        self._messages: deque[Message] = deque()
        self._opened = False
        self._closed = False
        self._close_code: int | None = None
        self._close_reason = ""
        self._error: WebSocketError | None = None
        self._backpressure = False
        self._free: Callable[[], object] = _nothing
        self._max_queue: int | None = None
        self._unread = 0  # messages received and not yet taken by the application
        self._paused = False  # whether ws_conn_pause() stopped the reading
        self._release_conn: Callable[[], object] = _nothing
        # A client's: its ws_client, and whether it reconnects; while it
        # does, between a lost connection and the next one, _reconnecting.
        self._client: int | None = None
        self._reconnects = False
        self._reconnecting = False

    def _start_client(self, uri: str, options: ClientOptions) -> None:
        """Connect to ``uri`` (``ws_client_connect``), this object watching
        the connection, and the connections of its reconnect attempts."""
        # Under the dispatch lock, so that no event of the connection comes
        # before it is watched.
        with client_config(options) as cfg, _dispatch.lock:
            user_data = _dispatch.register_client(self)
            client = lib.ws_client_connect(uri.encode(), cfg, _dispatch.CALLBACKS_REF, user_data)
            if not client:
                error = _last_error(f"connect {uri}")
                _dispatch.unregister(user_data)
                raise error
            self._client = client
            self._reconnects = options.reconnect is not None
            self._free = weakref.finalize(self, _free_client, client, user_data)
            conn = lib.ws_client_conn(client)
            self._attach(conn, options.max_queue)
            _dispatch.watch(conn, self)

    def _attach(self, conn: int, max_queue: int | None) -> None:
        """Hold ``conn`` (retained) until this object goes away; hold at most
        ``max_queue`` unread messages (None: no limit)."""
        self._max_queue = max_queue
        self._handle = lib.ws_conn_retain(conn)
        self._release_conn = weakref.finalize(self, lib.ws_conn_release, self._handle)

    def _adopt(self, conn: int) -> None:
        """A reconnect attempt's connection replaces the one held (called by
        the dispatcher, under the dispatch lock, at its first event)."""
        self._release_conn()
        self._handle = lib.ws_conn_retain(conn)
        self._release_conn = weakref.finalize(self, lib.ws_conn_release, self._handle)
        self._paused = False
        limit = self._max_queue
        if limit is not None and self._unread >= limit:
            self._paused = True
            lib.ws_conn_pause(self._handle)

    def _live_client(self) -> int | None:
        """The ``ws_client`` of a reconnecting client until it is freed, else None."""
        free = self._free
        if self._reconnects and isinstance(free, weakref.finalize) and free.alive:
            return self._client
        return None

    # --- Events, recorded by the dispatcher (on any Python thread) -------

    def _wake(self) -> None:
        """Tell whoever waits on this connection that something happened."""

    def _got_open(self) -> None:
        self._opened = True
        self._reconnecting = False
        self._close_code = None
        self._close_reason = ""
        self._error = None
        self._wake()

    def _got_message(self, message: Message) -> None:
        self._messages.append(message)
        self._held_one()
        self._wake()

    def _got_pong(self, data: bytes) -> None:
        pass

    def _got_error(self, status: int, message: str) -> None:
        self._error = WebSocketError(status, message)

    def _got_close(self, code: int, reason: str) -> None:
        self._close_code = code
        self._close_reason = reason
        client = self._live_client()
        if client is not None and lib.ws_client_is_reconnecting(client) == 1:
            self._reconnecting = True
            self._backpressure = False
            self._lost()
        else:
            self._end()

    def _lost(self) -> None:
        """A reconnecting client lost its connection; another attempt follows."""
        self._wake()

    def _end(self) -> None:
        """The connection closed, for good."""
        self._reconnecting = False
        self._closed = True
        self._wake()

    def _got_reconnect(self, attempt: int, delay: float) -> None:
        """Reconnect attempt ``attempt`` connects ``delay`` seconds after the close."""

    def _got_reconnected(self, attempt: int) -> None:
        """Reconnect attempt ``attempt`` opened the connection now held."""

    def _got_drain(self) -> None:
        self._backpressure = False
        self._wake()

    # --- The bound on received messages (max_queue) ----------------------
    #
    # _held_one runs in ws_dispatch(), under the dispatch lock; the others
    # take that lock too, so they all agree on _unread and _paused.

    def _held_one(self) -> None:
        """One more message waits for the application: at ``max_queue``,
        stop reading from the socket (the peer then feels TCP's backpressure)."""
        self._unread += 1
        limit = self._max_queue
        if limit is not None and not self._paused and self._unread >= limit:
            self._paused = True
            lib.ws_conn_pause(self._handle)

    def _took_one(self) -> None:
        """The application took a message: at a quarter of ``max_queue``
        left (0 when it is under 4), read again."""
        with _dispatch.lock:
            self._unread -= 1
            if self._paused and self._unread <= (self._max_queue or 0) // 4:
                self._resume()

    def _read_again(self) -> None:
        """The connection is closing: read again and stay reading, whatever
        waits, so that the peer's close frame is read."""
        with _dispatch.lock:
            self._max_queue = None
            if self._paused:
                self._resume()

    def _resume(self) -> None:
        self._paused = False
        lib.ws_conn_resume(self._handle)

    def _next_message(self) -> Message:
        """Take the oldest message received (there is one)."""
        message = self._messages.popleft()
        self._took_one()
        return message

    # --- Calls -----------------------------------------------------------

    def _conn(self) -> int:
        if self._handle is None:
            raise WebSocketError(Status.WS_ERR_BAD_STATE, "the connection is not open yet")
        return self._handle

    def _open_error(self, uri: str) -> WebSocketError:
        """Why the connection to ``uri`` did not open."""
        if self._error is not None:
            return WebSocketError(self._error.code, f"connect {uri}: {self._error.message}")
        return self._closed_error()

    def _closed_error(self) -> ConnectionClosed:
        failure = self._error.message if self._error is not None else ""
        return _connection_closed(self._close_code, self._close_reason, failure)

    def _not_open_error(self, what: str) -> WebSocketError:
        """What to raise when ``what`` found the connection not open: a
        reconnecting client that goes on is only between two connections."""
        if self._reconnects and not self._closed:
            return NotConnected(f"{what}: not connected (the client is reconnecting); nothing was sent")
        return self._closed_error()

    def _send(self, message: Data) -> None:
        """Queue ``message``; afterwards ``_backpressure`` says whether to wait for a drain."""
        kind, data = _encode(message)
        # Under the dispatch lock: the drain that clears _backpressure cannot
        # be dispatched (by another thread) before it is set.
        with _dispatch.lock:
            client = self._live_client()
            if client is not None:  # on whichever connection the client has now
                status = lib.ws_client_send(client, kind, data, len(data))
            else:
                status = lib.ws_conn_send(self._conn(), kind, data, len(data))
            if status == Status.WS_STATUS_BACKPRESSURE:
                self._backpressure = True
        if status == Status.WS_ERR_NOT_OPEN:
            raise self._not_open_error("send")
        _check(status, "send")

    def _ping(self, data: Data) -> None:
        payload = data.encode() if isinstance(data, str) else bytes(data)
        with _dispatch.lock:
            status = lib.ws_conn_ping(self._conn(), payload, len(payload))
        if status == Status.WS_ERR_NOT_OPEN:
            raise self._not_open_error("ping")
        _check(status, "ping")

    def _start_close(self, code: int, reason: str) -> None:
        """Send a close frame, unless the connection is already closing; a
        reconnecting client also stops reconnecting (``ws_client_close``)."""
        if not 0 <= code <= 0xFFFF:
            raise WebSocketError(Status.WS_ERR_INVALID_CLOSE_CODE, f"close: {code} is not a close code")
        if "\0" in reason:
            raise WebSocketError(Status.WS_ERR_INVALID_ARGUMENT, "close: the reason contains a NUL character")
        with _dispatch.lock:
            client = self._live_client()
            if client is None:
                status = lib.ws_conn_close(self._conn(), code, reason.encode())
            else:
                status = lib.ws_client_close(client, code, reason.encode())
                if status >= 0 and self._reconnecting and lib.ws_client_conn(client) == self._handle:
                    # Between a close and the next attempt's connection: no
                    # attempt will be made, and no event comes any more.
                    self._end()
        self._read_again()
        if status != Status.WS_ERR_NOT_OPEN:
            _check(status, "close")

    # --- Properties ------------------------------------------------------
    #
    # Under the dispatch lock: a reconnecting client's handle changes (in
    # ws_dispatch(), on any thread) when a new connection replaces the old.

    def _string(self, getter: str) -> str:
        with _dispatch.lock:
            raw = getattr(lib, getter)(self._conn())
        return raw.decode("utf-8", "replace") if raw else ""

    @property
    def id(self) -> int:
        """The connection's id: unique in the process, never reused; the
        ``conn_id`` of the library's log lines about it."""
        with _dispatch.lock:
            return int(lib.ws_conn_id(self._conn()))

    @property
    def close_code(self) -> int | None:
        """The peer's close code once the connection is closed (1005 when its
        close frame had none, 1006 when there was none), else ``None``; for
        a reconnecting client, that of the connection it lost last, until
        another one opens."""
        return self._close_code

    @property
    def close_reason(self) -> str | None:
        """The peer's close reason once the connection is closed, else
        ``None`` (as :attr:`close_code`)."""
        return self._close_reason if self._close_code is not None else None

    @property
    def closed(self) -> bool:
        """True once the connection is closed."""
        return self._closed

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the opening handshake settled on, or ``None``."""
        return self._string("ws_conn_subprotocol") or None

    @property
    def extensions(self) -> str:
        """The permessage-deflate parameters in use, as a
        ``Sec-WebSocket-Extensions`` value (``""`` when not compressing)."""
        return self._string("ws_conn_extensions")

    @property
    def is_secure(self) -> bool:
        """True when the connection runs over TLS."""
        with _dispatch.lock:
            return bool(lib.ws_conn_is_secure(self._conn()) == 1)

    @property
    def path(self) -> str:
        """The request path (``"/chat"``, still percent-encoded)."""
        return self._string("ws_conn_path")

    @property
    def query(self) -> str:
        """The request query without ``?`` (``""`` when none)."""
        return self._string("ws_conn_query")

    @property
    def remote_address(self) -> tuple[str, int] | None:
        """The peer's ``(host, port)``, or ``None`` before the TCP connection exists."""
        address = self._string("ws_conn_peer_address")
        if not address:
            return None
        host, _, port = address.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The peer's opening-handshake headers as ``(name, value)`` pairs, in
        order: the request's on a server connection, the response's on a client's."""
        pairs = []
        with _dispatch.lock:
            conn = self._conn()
            for index in range(max(0, lib.ws_conn_header_count(conn))):
                name, value = c_char_p(), c_char_p()
                if lib.ws_conn_header_at(conn, index, byref(name), byref(value)) == 0:
                    pairs.append(((name.value or b"").decode("latin-1"), (value.value or b"").decode("latin-1")))
        return pairs

    @property
    def buffered_amount(self) -> int:
        """Bytes sent or queued and not yet written to the socket."""
        with _dispatch.lock:
            return int(lib.ws_conn_buffered_amount(self._conn()))
