#!/bin/sh
# Refreshes the committed corpus of one fuzz target from its working corpus.
#
#   fuzz/refresh-corpus.sh <target>      (from the repository root, after make fuzz)
#
# Minimizes fuzz/corpus-work/<target> with `cargo fuzz cmin` (the committed
# inputs go in first, so none is lost), then replaces fuzz/corpus/<target>
# with MAX_FILES (default 50) files of at most 4 KiB of the minimized set:
# of a few candidate picks (the largest files, the smallest, random ones),
# the one reaching the most coverage features (ft). Prints the coverage of
# the minimized set and of the pick.
set -eu
t=$1
max_files=${MAX_FILES:-50}
work=fuzz/corpus-work/$t
keep=fuzz/corpus/$t
host=$(rustc -vV | sed -n 's/^host: //p')
bin=fuzz/target/$host/release/$t
mkdir -p "$work" "$keep"
cp "$keep"/* "$work"/ 2>/dev/null || true
cargo +nightly fuzz cmin -O "$t" "$work"

# The coverage line libFuzzer prints after loading the corpus in $1.
coverage() { "$bin" -runs=0 "$1" 2>&1 | grep -o 'INITED cov: [0-9]* ft: [0-9]*'; }

tmp=$(mktemp -d)
find "$work" -type f -size -4097c -printf '%s %p\n' >"$tmp/all"
best=0
for pick in largest smallest 1 2 3 4 5 6 7 8; do
  case $pick in
    largest) sort -rn "$tmp/all" ;;
    smallest) sort -n "$tmp/all" ;;
    *) awk -v seed="$pick" 'BEGIN { srand(seed) } { print rand(), $0 }' "$tmp/all" |
         sort -n | cut -d' ' -f2- ;;
  esac | head -n "$max_files" | cut -d' ' -f2 >"$tmp/list"
  rm -rf "$tmp/dir" && mkdir "$tmp/dir"
  xargs cp -t "$tmp/dir" <"$tmp/list"
  ft=$(coverage "$tmp/dir" | sed 's/.*ft: //')
  if [ "$ft" -gt "$best" ]; then
    best=$ft
    rm -rf "$tmp/best" && mv "$tmp/dir" "$tmp/best"
  fi
done
rm -rf "$keep"
mkdir -p "$keep"
cp "$tmp/best"/* "$keep"/
rm -rf "$tmp"
echo "$work: $(ls "$work" | wc -l) files, $(coverage "$work")"
echo "$keep: $(ls "$keep" | wc -l) files, $(coverage "$keep")"
