# Sourced by the sanitizer runs (run-tsan.sh, run-asan.sh): `nightly_std NAME
# SANITIZER` exits 0, saying why, unless the nightly toolchain is there with
# rust-src (added when missing), which -Zbuild-std needs to instrument std.
nightly_std() {
  if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "$1 skipped: no nightly toolchain (rustup toolchain list)"
    exit 0
  fi
  if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    if ! rustup component add rust-src --toolchain nightly >/dev/null 2>&1; then
      echo "$1 skipped: the nightly toolchain has no rust-src (needed to build std with $2)"
      exit 0
    fi
  fi
}
