"""Options of clients and servers, and how they become a C config.

The keyword arguments of :func:`libwebsocket.connect`,
:meth:`libwebsocket.Client.connect`, :func:`libwebsocket.serve` and
:class:`libwebsocket.Server` are the fields of :class:`ClientOptions` and
:class:`ServerOptions`. Defaults (``None``) are the library's: no
compression, 32 MiB messages, 10 s to connect and 10 s for the handshakes,
5 s for the close handshake, no keepalive, no reconnecting; and 16 received
messages held at most per connection (``max_queue``).
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Literal, Mapping, Sequence, Union

from . import _ffi
from ._ffi import lib
from .exceptions import _check

StrPath = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class ClientTLS:
    """TLS settings of a ``wss://`` client.

    ``ca_file``: a PEM file of CA certificates to trust, in addition to the
    system's store unless ``system_roots`` is False. ``cert_file`` and
    ``key_file``: a client certificate and its key (PEM), for servers that
    ask for one. ``verify=False`` accepts any server certificate: the
    connection is encrypted but not authenticated (tests only).
    """

    ca_file: StrPath | None = None
    system_roots: bool = True
    cert_file: StrPath | None = None
    key_file: StrPath | None = None
    verify: bool = True


@dataclass(frozen=True)
class ServerTLS:
    """TLS settings of a server: it then speaks ``wss://`` only.

    ``cert_file``: the PEM certificate chain (leaf first); ``key_file``: its
    private key (PEM). ``client_ca_file``: ask clients for a certificate
    issued by these CAs (mutual TLS); clients without one are refused unless
    ``client_cert_optional``.
    """

    cert_file: StrPath
    key_file: StrPath
    client_ca_file: StrPath | None = None
    client_cert_optional: bool = False


@dataclass(frozen=True)
class Reconnect:
    """How a client replaces a connection that fails or is lost (the
    ``reconnect`` option; ``reconnect=True`` takes these defaults).

    Attempt n waits a random time between half and all of
    min(``max_delay``, ``delay`` × 2^(n-1)) seconds after the close.
    ``max_tries``: most attempts in a row (``None``: no limit); the count
    starts afresh once a connection has stayed open for ``max_delay``.
    A client reconnects after a failed connect, TLS or handshake, a
    connection lost without a close frame (1006), and a server closing with
    1001, 1011, 1012, 1013 or 1014; not after closing it itself, nor after a
    server's other close codes (1000, 1008, 4000 ...).
    """

    delay: float = _ffi.RECONNECT_INITIAL_DELAY_MS / 1000
    """Seconds before the first attempt (at most; at least half of it)."""
    max_delay: float = _ffi.RECONNECT_MAX_DELAY_MS / 1000
    """Longest wait between attempts, in seconds (from ``delay`` to a day)."""
    max_tries: int | None = None
    """Most attempts in a row; ``None``: no limit."""

    def __post_init__(self) -> None:
        """Check the numbers, as the library would (it takes milliseconds)."""
        check_seconds("reconnect delay", self.delay, positive=True)
        check_seconds("reconnect max_delay", self.max_delay, positive=True)
        if _ms(self.max_delay) < _ms(self.delay) or self.max_delay > _MOST_DELAY:
            raise ValueError(
                f"reconnect max_delay must be from delay ({self.delay} s) to a day ({_MOST_DELAY} s), not {self.max_delay}"
            )
        if self.max_tries is not None:
            check_count("reconnect max_tries", self.max_tries, least=1, most=2**32 - 1)


_MOST_DELAY = 86400  # the longest reconnect delay the library takes, in seconds

Compression = Literal["deflate", None]
SlowSubscriber = Literal["skip", "close", None]


@dataclass(frozen=True)
class _CommonOptions:
    subprotocols: Sequence[str] = ()
    """Subprotocols, preferred first. A client offers them and fails when the
    server picks none; a server picks the first of its own the client offers."""
    tls: ClientTLS | ServerTLS | None = None
    """TLS settings (:class:`ClientTLS` or :class:`ServerTLS`)."""
    compression: Compression = None
    """``"deflate"`` to negotiate permessage-deflate (RFC 7692), ``None`` not to."""
    compression_threshold: int | None = None
    """With deflate: messages smaller than this many bytes go uncompressed
    (library default 10240; 0 compresses every message)."""
    max_size: int | None = None
    """Largest message accepted, in bytes; a larger one fails the connection
    with 1009 (``WS_MESSAGE_TOO_LARGE``). Library default: 32 MiB."""
    open_timeout: float | None = None
    """Seconds allowed for the opening handshake (TLS included); a client
    has as long again to make the TCP connection. Library default: 10."""
    close_timeout: float | None = None
    """Seconds the peer has to answer a close frame. Library default: 5."""
    ping_interval: float | None = None
    """Keepalive: after this many seconds without hearing from the peer, ping
    it; when it stays silent as long again, the connection fails. Default: off."""
    max_queue: int | None = 16
    """Most received messages a connection holds for the application (not
    yet taken by ``recv``, or not yet given to a sync server's
    ``on_message``). Once that many wait, the connection stops reading from
    its socket, so TCP slows the peer down; it reads again when a quarter of
    them are left (none, below 4). The messages the library had already
    read by then still arrive, so a connection may hold some more (at most
    what the library's event queue holds, 64 MiB by default). ``None``: no
    limit, so a peer sending faster than the application reads makes memory
    grow without bound."""

    def __post_init__(self) -> None:
        """Check the numbers, which ctypes would otherwise wrap silently."""
        for name in ("compression_threshold", "max_size"):
            value = getattr(self, name)
            if value is not None:
                check_count(name, value)
        if self.max_queue is not None:
            check_count("max_queue", self.max_queue, least=1)
        for name in ("open_timeout", "close_timeout", "ping_interval"):
            value = getattr(self, name)
            if value is not None:
                check_seconds(name, value, positive=True)


@dataclass(frozen=True)
class ClientOptions(_CommonOptions):
    """The options of a client (keyword arguments of ``connect``)."""

    tls: ClientTLS | None = None
    """TLS settings of a ``wss://`` URL (default: trust the system's CAs)."""
    additional_headers: Mapping[str, str] | Iterable[tuple[str, str]] = field(default_factory=tuple)
    """Extra headers of the opening request, e.g. ``{"Authorization": "Bearer x"}``."""
    origin: str | None = None
    """The ``Origin`` header to send."""
    proxy: str | None = None
    """``None``: the HTTP proxy of the environment (``https_proxy`` ...), as
    curl reads it; ``""``: none; ``"http://[user:password@]host[:port]"``: that one."""
    reconnect: Reconnect | bool | None = None
    """Replace a connection that fails or is lost by a new one, for the same
    client object (see :class:`Reconnect`); ``True``: with the default
    delays. Default: off."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reconnect is True:
            object.__setattr__(self, "reconnect", Reconnect())
        elif self.reconnect is False:
            object.__setattr__(self, "reconnect", None)
        elif self.reconnect is not None and not isinstance(self.reconnect, Reconnect):
            raise TypeError(f"reconnect is a Reconnect, True or None, not {type(self.reconnect).__name__}")


@dataclass(frozen=True)
class ServerOptions(_CommonOptions):
    """The options of a server (keyword arguments of ``serve``)."""

    tls: ServerTLS | None = None
    """TLS settings; without them the server speaks plain ``ws://``."""
    max_connections: int | None = None
    """Most open connections at once; more get HTTP 503. Library default: 10000."""
    slow_subscriber: SlowSubscriber = None
    """What :meth:`publish` does to a subscriber whose send queue cannot
    take the message: ``"skip"`` (the default) leaves it out of that
    message, ``"close"`` closes it with 1008 (policy violation)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_connections is not None:
            check_count("max_connections", self.max_connections, least=1)
        if self.slow_subscriber not in ("skip", "close", None):
            raise ValueError(f'slow_subscriber is "skip", "close" or None, not {self.slow_subscriber!r}')


_U64_MAX = 2**64 - 1  # the C config setters take uint64_t


def check_count(name: str, value: int, least: int = 0, most: int = _U64_MAX) -> None:
    """Raise unless ``value`` is an int from ``least`` to ``most`` (ctypes
    would silently wrap one outside its C type)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not least <= value <= most:
        raise ValueError(f"{name} must be from {least} to {most}, not {value}")


def check_seconds(name: str, value: float, positive: bool = False) -> None:
    """Raise unless ``value`` is a finite number of seconds, not negative
    (greater than 0 when ``positive``) and within a uint64_t of milliseconds."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        least = "greater than 0" if positive else "0 or more"
        raise ValueError(f"{name} must be a number of seconds {least}, not {value}")
    if value * 1000 > _U64_MAX:
        raise ValueError(f"{name} is too large: {value} s")


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _b(text: str | os.PathLike[str]) -> bytes:
    return os.fsencode(text)


@contextmanager
def client_config(options: ClientOptions) -> Iterator[int]:
    """A ``ws_client_config`` set from ``options`` (polled dispatch), freed on exit."""
    cfg = lib.ws_client_config_new()
    try:
        _set_common(cfg, options, "client")
        headers = options.additional_headers
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in pairs:
            _check(lib.ws_client_config_add_header(cfg, name.encode(), value.encode()), f"header {name}")
        if options.origin is not None:
            _check(lib.ws_client_config_set_origin(cfg, options.origin.encode()), "origin")
        if options.proxy is not None:
            _check(lib.ws_client_config_set_proxy(cfg, options.proxy.encode()), "proxy")
        if options.open_timeout is not None:
            ms = _ms(options.open_timeout)
            _check(lib.ws_client_config_set_connect_timeout_ms(cfg, ms), "open_timeout")
        tls = options.tls
        if tls is not None:
            if tls.ca_file is not None:
                _check(lib.ws_client_config_add_tls_ca_file(cfg, _b(tls.ca_file)), "tls ca_file")
            _check(lib.ws_client_config_set_tls_system_roots(cfg, int(tls.system_roots)), "tls system_roots")
            if tls.cert_file is not None or tls.key_file is not None:
                if tls.cert_file is None or tls.key_file is None:
                    raise ValueError("ClientTLS needs both cert_file and key_file, or neither")
                _check(
                    lib.ws_client_config_set_tls_client_cert_file(cfg, _b(tls.cert_file), _b(tls.key_file)),
                    "tls cert_file",
                )
            if not tls.verify:
                _check(lib.ws_client_config_dangerous_disable_tls_verification(cfg), "tls verify")
        reconnect = options.reconnect
        if isinstance(reconnect, Reconnect):
            _check(
                lib.ws_client_config_set_reconnect(
                    cfg, _ms(reconnect.delay), _ms(reconnect.max_delay), reconnect.max_tries or 0
                ),
                "reconnect",
            )
        yield cfg
    finally:
        lib.ws_client_config_free(cfg)


@contextmanager
def server_config(options: ServerOptions) -> Iterator[int]:
    """A ``ws_server_config`` set from ``options`` (polled dispatch), freed on exit."""
    cfg = lib.ws_server_config_new()
    try:
        _set_common(cfg, options, "server")
        if options.max_connections is not None:
            _check(lib.ws_server_config_set_max_connections(cfg, options.max_connections), "max_connections")
        if options.slow_subscriber is not None:
            policy = _ffi.SLOW_CLOSE if options.slow_subscriber == "close" else _ffi.SLOW_SKIP
            _check(lib.ws_server_config_set_slow_subscriber(cfg, policy), "slow_subscriber")
        tls = options.tls
        if tls is not None:
            _check(lib.ws_server_config_set_tls_cert_file(cfg, _b(tls.cert_file), _b(tls.key_file)), "tls cert_file")
            if tls.client_ca_file is not None:
                _check(lib.ws_server_config_add_tls_client_ca_file(cfg, _b(tls.client_ca_file)), "tls client_ca_file")
                _check(
                    lib.ws_server_config_set_tls_client_cert_optional(cfg, int(tls.client_cert_optional)),
                    "tls client_cert_optional",
                )
        yield cfg
    finally:
        lib.ws_server_config_free(cfg)


def _set_common(cfg: int, options: _CommonOptions, side: str) -> None:
    """The settings clients and servers share, through ``ws_<side>_config_*``."""

    def call(name: str, *args: object) -> None:
        _check(getattr(lib, f"ws_{side}_config_{name}")(cfg, *args), name.split("_", 1)[1])

    call("set_dispatch", _ffi.DISPATCH_POLL)
    if isinstance(options.subprotocols, str):
        raise TypeError("subprotocols is a sequence of names, not one string")
    for name in options.subprotocols:
        call("add_subprotocol", name.encode())
    if options.compression not in ("deflate", None):
        raise ValueError(f'compression is "deflate" or None, not {options.compression!r}')
    if options.compression == "deflate":
        call("set_deflate", 1)
    if options.compression_threshold is not None:
        call("set_compression_threshold", options.compression_threshold)
    if options.max_size is not None:
        call("set_max_message_size", options.max_size)
    if options.open_timeout is not None:
        call("set_handshake_timeout_ms", _ms(options.open_timeout))
    if options.close_timeout is not None:
        call("set_close_timeout_ms", _ms(options.close_timeout))
    if options.ping_interval is not None:
        call("set_keepalive_ms", _ms(options.ping_interval))
