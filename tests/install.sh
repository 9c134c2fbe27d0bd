#!/usr/bin/env bash
# `make install` as users and packagers run it, checked from the outside:
#  - into a temporary PREFIX: the stripped library under its full version with
#    the soname and development links, its debug info beside it, the headers,
#    pkg-config and CMake files;
#  - a C program built with only `pkg-config --cflags --libs websocket`, and a
#    CMake project (find_package(websocket)) building a C++ program on the shared
#    library and a C program on the static one, all run against build/echo_server;
#    the Python package loading the installed library through the system loader;
#  - `make install DESTDIR=...` stages under DESTDIR files that name the final
#    PREFIX; `make uninstall` leaves nothing behind, in both cases.
# Prints one line per check and "N passed, M failed"; exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

TMP=$(mktemp -d)
source tests/lib.sh
SERVER_PID=""
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
MAJOR=${VERSION%%.*}
PREFIX=$TMP/prefix
LIB=$PREFIX/lib
TUTORIAL_CPP=$PWD/examples-cpp/tutorial.cpp
FIRST_CLIENT=$PWD/examples-c/first_client.c

echo "== make install PREFIX=$PREFIX"
make -s install PREFIX="$PREFIX" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; echo "0 passed, 1 failed"; exit 1; }

fails() { ! "$@"; }
has_section() { readelf -S "$1" | grep -qE " $2 "; }
check "the library is libwebsocket.so.$VERSION" test -f "$LIB/libwebsocket.so.$VERSION"
check "its soname is libwebsocket.so.$MAJOR" test "$(packaging/soname.sh "$LIB/libwebsocket.so.$VERSION")" = "libwebsocket.so.$MAJOR"
check "libwebsocket.so.$MAJOR links to it" test "$(readlink "$LIB/libwebsocket.so.$MAJOR")" = "libwebsocket.so.$VERSION"
check "libwebsocket.so links to the soname" test "$(readlink "$LIB/libwebsocket.so")" = "libwebsocket.so.$MAJOR"
check "the library is stripped (no .debug_info, no .symtab)" fails has_section "$LIB/libwebsocket.so.$VERSION" '\.(debug_info|symtab)'
check "it names its debug file (.gnu_debuglink)" has_section "$LIB/libwebsocket.so.$VERSION" '\.gnu_debuglink'
check "the debug info is in .debug/libwebsocket.so.$VERSION.debug" has_section "$LIB/.debug/libwebsocket.so.$VERSION.debug" '\.debug_info'
check "libwebsocket.a is installed" test -f "$LIB/libwebsocket.a"
check "libwebsocket.a has no debug info" fails has_section "$LIB/libwebsocket.a" '\.debug_info'
check "websocket.h is installed" test -f "$PREFIX/include/websocket.h"
check "websocket.hpp is installed" test -f "$PREFIX/include/websocket.hpp"
echo "     (installed library: $(stat -c %s "$LIB/libwebsocket.so.$VERSION") bytes, built: $(stat -c %s target/release/libwebsocket.so))"

export PKG_CONFIG_PATH=$LIB/pkgconfig
check "pkg-config --modversion websocket is $VERSION" test "$(pkg-config --modversion websocket)" = "$VERSION"

check "echo_server is listening" start_server build/echo_server
URL="ws://127.0.0.1:$PORT/"

# Runs an installed-library program against echo_server and checks its output.
runs_against_server() { # runs_against_server program
  local out
  out=$(LD_LIBRARY_PATH=$LIB timeout 20 "$1" "$URL") || return 1
  grep -qx 'got: hello' <<<"$out" && grep -qx 'closed with 1000' <<<"$out"
}
# The program takes libwebsocket.so.MAJOR from the prefix, not from the tree.
loads_from_prefix() { LD_LIBRARY_PATH=$LIB ldd "$1" | grep -q "libwebsocket.so.$MAJOR => $LIB/"; }

# shellcheck disable=SC2046  # pkg-config's flags are words
check "a C program builds with pkg-config --cflags --libs websocket" \
  cc -Wall -Werror "$FIRST_CLIENT" -o "$TMP/first_client" $(pkg-config --cflags --libs websocket)
check "... loads libwebsocket.so.$MAJOR from the prefix" loads_from_prefix "$TMP/first_client"
check "... and echoes through echo_server" runs_against_server "$TMP/first_client"

check "cmake finds the package (find_package(websocket))" \
  cmake -S tests/install -B "$TMP/cmake" -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DTUTORIAL_CPP="$TUTORIAL_CPP" -DFIRST_CLIENT="$FIRST_CLIENT"
check "... and builds a C++ program on websocket::websocket and a C one on websocket::websocket_static" \
  cmake --build "$TMP/cmake"
check "the C++ program runs (its own server and client)" \
  env LD_LIBRARY_PATH="$LIB" timeout 20 "$TMP/cmake/tutorial_cpp"
check "the static C program needs no libwebsocket.so" fails grep -q libwebsocket <(ldd "$TMP/cmake/first_client_static")
check "... and echoes through echo_server" runs_against_server "$TMP/cmake/first_client_static"
# Configures the project asking for a version.
configures_with() { # configures_with VERSION
  cmake -S tests/install -B "$TMP/cmake-$1" -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DTUTORIAL_CPP="$TUTORIAL_CPP" -DFIRST_CLIENT="$FIRST_CLIENT" -DWANT_VERSION="$1"
}
check "find_package(websocket $MAJOR.0) takes $VERSION" configures_with "$MAJOR.0"
check "find_package(websocket $((MAJOR + 1)).0) refuses it" fails configures_with "$((MAJOR + 1)).0"

# The Python package, where the system loader finds libwebsocket.so.MAJOR.
python_loads_from_prefix() {
  local loaded
  loaded=$(LD_LIBRARY_PATH=$LIB PYTHONPATH=bindings/python python3 -c 'import libwebsocket
print(next(l.split()[-1] for l in open("/proc/self/maps") if "libwebsocket.so" in l))') || return 1
  [[ $loaded == "$LIB/libwebsocket.so.$VERSION" ]]
}
check "the Python package loads libwebsocket.so.$MAJOR from the prefix" python_loads_from_prefix

echo "== make uninstall PREFIX=$PREFIX"
make -s uninstall PREFIX="$PREFIX" >/dev/null 2>&1
check "make uninstall leaves no file in the prefix" test -z "$(find "$PREFIX" ! -type d)"

echo "== make install DESTDIR=$TMP/stage PREFIX=/opt/websocket"
make -s install DESTDIR="$TMP/stage" PREFIX=/opt/websocket >/dev/null 2>&1
check "files are staged under DESTDIR" test -f "$TMP/stage/opt/websocket/lib/libwebsocket.so.$VERSION"
check "websocket.pc names the final prefix" grep -qx 'prefix=/opt/websocket' "$TMP/stage/opt/websocket/lib/pkgconfig/websocket.pc"
check "the CMake file names the final library" \
  grep -q '"/opt/websocket/lib/libwebsocket.so.'"$VERSION"'"' "$TMP/stage/opt/websocket/lib/cmake/websocket/websocket-config.cmake"
make -s uninstall DESTDIR="$TMP/stage" PREFIX=/opt/websocket >/dev/null 2>&1
check "make uninstall DESTDIR=... leaves no file" test -z "$(find "$TMP/stage" ! -type d)"

summary
