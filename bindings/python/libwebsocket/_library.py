"""Finding and loading libwebsocket.so.

The places tried, in order, are listed in bindings/python/README.md
(Install); this module is the one place in the code that knows them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

#: The environment variable naming the library file to load.
ENV_VAR = "LIBWEBSOCKET_PATH"

#: The library's soname, as installed.
SONAME = "libwebsocket.so.0"

# This file is bindings/python/libwebsocket/_library.py in the source tree; once
# installed (in site-packages) this path leads nowhere and is not tried.
_BUILD_TREE = Path(__file__).resolve().parents[3] / "target" / "release" / "libwebsocket.so"


class LibraryNotFoundError(ImportError):
    """libwebsocket.so could not be loaded; the message lists what was tried."""


def load() -> ctypes.CDLL:
    """Load the C library from the first place that has it, in the order
    bindings/python/README.md gives (Install); raise
    :class:`LibraryNotFoundError` listing what was tried when none has."""
    path = os.environ.get(ENV_VAR)
    if path:
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            raise LibraryNotFoundError(
                f"libwebsocket: cannot load {ENV_VAR}={path} ({e}); "
                f"set {ENV_VAR} to the path of libwebsocket.so"
            ) from None
    tried = []
    candidates = [SONAME, ctypes.util.find_library("websocket")]
    if _BUILD_TREE.exists():  # run from the source tree
        candidates.append(str(_BUILD_TREE))
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return ctypes.CDLL(candidate)
        except OSError as e:
            tried.append(f"{candidate} ({e})")
    raise LibraryNotFoundError(
        "libwebsocket: cannot find the C library; tried "
        + "; ".join(tried)
        + f". Set {ENV_VAR} to the path of libwebsocket.so, install the library"
        f" where the system loader finds {SONAME}, or run `make` at the top of the source tree."
    )
