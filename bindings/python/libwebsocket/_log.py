"""The library's log lines, delivered to the :mod:`logging` logger ``libwebsocket``."""

from __future__ import annotations

import logging

from . import _dispatch
from ._ffi import DISPATCH_POLL, LOG_FN, lib
from .exceptions import _check

logger = logging.getLogger("libwebsocket")

# WS_LOG_ERROR (1) ... WS_LOG_DEBUG (4) and the logging levels they become.
_LEVELS = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG}


def _log_line(user_data: int | None, level: int, conn_id: int, message: bytes | None) -> None:
    try:
        text = (message or b"").decode("utf-8", "replace")
        logger.log(_LEVELS.get(level, logging.INFO), "%s", text, extra={"conn_id": conn_id})
    except BaseException as e:
        _dispatch.hold(e)


_LOG_CALLBACK = LOG_FN(_log_line)  # kept for the life of the program


def enable_logging(level: int | None = logging.INFO) -> None:
    """Send the library's log lines of ``level`` and more severe ones (a
    :mod:`logging` level) to the logger ``libwebsocket``, each with the
    connection's id as ``record.conn_id`` (0: none). The lines are delivered
    when events are dispatched, on the dispatching Python thread, never on
    the library's I/O threads. ``enable_logging(None)`` turns them off."""
    _check(lib.ws_set_log_dispatch(DISPATCH_POLL), "enable_logging")
    if level is None:
        _check(lib.ws_set_log_callback(LOG_FN(), None, 0), "enable_logging")
        return
    min_level = max((c for c, lv in _LEVELS.items() if lv >= level), default=1)
    _check(lib.ws_set_log_callback(_LOG_CALLBACK, None, min_level), "enable_logging")
