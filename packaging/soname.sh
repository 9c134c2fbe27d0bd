#!/usr/bin/env bash
# Prints the soname of a shared library (`packaging/soname.sh FILE`), or says
# why it cannot and fails: the Makefile, tests/run-tsan.sh and tests/install.sh
# take it from the library itself (build.rs sets it) instead of spelling it.
set -euo pipefail
command -v readelf >/dev/null || { echo "soname.sh: readelf is missing (binutils)" >&2; exit 1; }
name=$(readelf -d "$1" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[[ -n $name ]] || { echo "soname.sh: $1 has no soname" >&2; exit 1; }
echo "$name"
