#!/bin/sh
# Refreshes the committed corpus of one fuzz target from its working corpus.
#
#   fuzz/refresh-corpus.sh <target>      (from the repository root, after make fuzz)
#
# Minimizes fuzz/corpus-work/<target> with `cargo fuzz cmin` (the committed
# inputs go in first, so none is lost), then replaces fuzz/corpus/<target>
# with the largest MAX_FILES (default 50) files of at most 4 KiB of the
# minimized set, and prints the coverage (cov, ft) each set reaches.
set -eu
t=$1
max_files=${MAX_FILES:-50}
work=fuzz/corpus-work/$t
keep=fuzz/corpus/$t
mkdir -p "$work" "$keep"
cp "$keep"/* "$work"/ 2>/dev/null || true
cargo +nightly fuzz cmin -O "$t" "$work"
rm -rf "$keep"
mkdir -p "$keep"
find "$work" -type f -size -4097c -printf '%s %p\n' | sort -rn | head -n "$max_files" |
  while read -r _ f; do cp "$f" "$keep"/; done
host=$(rustc -vV | sed -n 's/^host: //p')
bin=fuzz/target/$host/release/$t
for d in "$work" "$keep"; do
  printf '%s: %s files, ' "$d" "$(ls "$d" | wc -l)"
  "$bin" -runs=0 "$d" 2>&1 | grep -o 'INITED.*'
done
