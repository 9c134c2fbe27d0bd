#!/usr/bin/env bash
# Installs or uninstalls the built library (run by `make install` and
# `make uninstall`, after `make`).
#
#   packaging/install.sh install|uninstall
#
# Environment (the Makefile passes its variables):
#   PREFIX      default /usr/local
#   LIBDIR      default $PREFIX/lib         (e.g. /usr/lib/x86_64-linux-gnu)
#   INCLUDEDIR  default $PREFIX/include
#   DESTDIR     a staging root put in front of every path written (packagers);
#               the installed files still name the paths without it
#
# Installs, in LIBDIR: libwebsocket.so.VERSION, stripped, with its soname link
# libwebsocket.so.MAJOR and the development link libwebsocket.so;
# libwebsocket.a without debug info; the debug info in
# .debug/libwebsocket.so.VERSION.debug (the library names it in a
# .gnu_debuglink section, where gdb looks); pkgconfig/websocket.pc; and
# cmake/websocket/ (find_package(websocket) gives websocket::websocket and
# websocket::websocket_static). In INCLUDEDIR: websocket.h and websocket.hpp.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
DESTDIR=${DESTDIR:-}
BUILT=target/release

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
MAJOR=${VERSION%%.*}
REAL=libwebsocket.so.$VERSION
SONAME=libwebsocket.so.$MAJOR
# What a program linking libwebsocket.a needs besides it (rustc's
# --print native-static-libs for this target, less libc).
STATIC_LIBS="-lgcc_s -lutil -lrt -lpthread -lm -ldl"
HEADERS=(include/websocket.h)
[[ -f include/websocket.hpp ]] && HEADERS+=(include/websocket.hpp)

lib=$DESTDIR$LIBDIR
inc=$DESTDIR$INCLUDEDIR

# Every file this script installs, relative to DESTDIR, one a line.
installed_files() {
  printf '%s\n' "$LIBDIR/$REAL" "$LIBDIR/$SONAME" "$LIBDIR/libwebsocket.so" \
    "$LIBDIR/libwebsocket.a" "$LIBDIR/.debug/$REAL.debug" "$LIBDIR/pkgconfig/websocket.pc" \
    "$LIBDIR/cmake/websocket/websocket-config.cmake" \
    "$LIBDIR/cmake/websocket/websocket-config-version.cmake" \
    "$INCLUDEDIR/websocket.h" "$INCLUDEDIR/websocket.hpp"
}

# Copies a template to $2, putting in the install's paths and version.
fill() {
  local text
  text=$(<"$1")
  text=${text//@PREFIX@/$PREFIX}
  text=${text//@LIBDIR@/$LIBDIR}
  text=${text//@INCLUDEDIR@/$INCLUDEDIR}
  text=${text//@VERSION@/$VERSION}
  text=${text//@MAJOR@/$MAJOR}
  text=${text//@STATIC_LIBS@/$STATIC_LIBS}
  local cmake_libs=${STATIC_LIBS//-l/}
  text=${text//@STATIC_LIBS_CMAKE@/${cmake_libs// /;}}
  text=${text//@POINTER_SIZE@/$(($(getconf LONG_BIT) / 8))}
  printf '%s\n' "$text" >"$2"
  chmod 644 "$2"
}

install_all() {
  for f in "$BUILT/libwebsocket.so" "$BUILT/libwebsocket.a"; do
    [[ -f $f ]] || { echo "install: $f is missing: run make first" >&2; exit 1; }
  done
  install -d "$lib/.debug" "$lib/pkgconfig" "$lib/cmake/websocket" "$inc"

  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  objcopy --only-keep-debug "$BUILT/libwebsocket.so" "$work/$REAL.debug"
  strip --strip-unneeded -o "$work/$REAL" "$BUILT/libwebsocket.so"
  (cd "$work" && objcopy --add-gnu-debuglink="$REAL.debug" "$REAL")
  install -m 755 "$work/$REAL" "$lib/$REAL"
  install -m 644 "$work/$REAL.debug" "$lib/.debug/$REAL.debug"
  ln -sfn "$REAL" "$lib/$SONAME"
  ln -sfn "$SONAME" "$lib/libwebsocket.so"
  strip --strip-debug -o "$work/libwebsocket.a" "$BUILT/libwebsocket.a"
  install -m 644 "$work/libwebsocket.a" "$lib/libwebsocket.a"

  install -m 644 "${HEADERS[@]}" "$inc/"
  fill packaging/websocket.pc.in "$lib/pkgconfig/websocket.pc"
  fill packaging/websocket-config.cmake.in "$lib/cmake/websocket/websocket-config.cmake"
  fill packaging/websocket-config-version.cmake.in "$lib/cmake/websocket/websocket-config-version.cmake"
  echo "installed libwebsocket $VERSION in ${DESTDIR}$PREFIX (library in $lib)"
  if [[ -z $DESTDIR && $(id -u) == 0 ]] && command -v ldconfig >/dev/null; then ldconfig; fi
}

uninstall_all() {
  local f
  installed_files | while IFS= read -r f; do rm -f "$DESTDIR$f"; done
  # The folders this script made, when nothing else is in them.
  rmdir "$lib/cmake/websocket" "$lib/.debug" 2>/dev/null || true
  echo "uninstalled libwebsocket $VERSION from ${DESTDIR}$PREFIX"
  if [[ -z $DESTDIR && $(id -u) == 0 ]] && command -v ldconfig >/dev/null; then ldconfig; fi
}

case "${1:-}" in
  install) install_all ;;
  uninstall) uninstall_all ;;
  *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
