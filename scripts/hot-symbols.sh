#!/usr/bin/env bash
# List the functions `svcprobe nslookup` runs into ship/hot-symbols.txt, which scripts/build.sh lays out
# first in the shipped binary: its peak RSS is the file pages of the code that runs (64 KiB fault-around),
# so that code on few pages is what keeps nslookup at or under busybox's RSS (issue 12, BENCHMARKS.md).
#
# USAGE
#   scripts/build.sh && scripts/hot-symbols.sh      then scripts/build.sh again, and commit the list
#
# It runs the shipped binary under valgrind (callgrind) in the test bed's client pod (prefix "hot",
# taken down on exit), for the absolute name (two queries, as the benchmark asks), and maps the entry
# address of each function that ran to its name with the map of the link (target/ship/svcprobe.map).
# Names are written demangled and without crate hashes, so that the list outlives a toolchain or
# dependency update; a name that no longer exists is skipped. Needs root and valgrind.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$repo/target/ship/x86_64-unknown-linux-musl/release/svcprobe
map=$repo/target/ship/svcprobe.map
die() {
    echo "hot-symbols.sh: $*" >&2
    exit 1
}
[[ -f $bin && -f $map ]] || die "no shipped binary or map: run scripts/build.sh first"
command -v valgrind >/dev/null || die "valgrind not found (apt-get install valgrind)"
bed() { "$repo/scripts/testbed.sh" -p hot "$@"; }
work=$(mktemp -d)
trap 'bed down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
bed up >/dev/null
bed exec client -- timeout 60 valgrind --tool=callgrind --callgrind-out-file="$work/callgrind" \
    "$bin" nslookup hostnames.default.svc.cluster.local. >/dev/null 2>&1 ||
    die "svcprobe nslookup under valgrind failed"
# Entry addresses that ran (callgrind names each function once, as fn=(N) 0x0000000000282b0f or, first
# seen as a callee, cfn=(N) 0x...) against input sections of the map
# (lld: VMA LMA SIZE ALIGN FILE:(.text.NAME)), both as hex without leading zeros.
awk '
    FNR == NR {
        if ($0 ~ /^c?fn=\([0-9]+\) 0x/) { a = $2; sub(/^0x0*/, "", a); ran[a] = 1 }
        next
    }
    match($0, /:\(\.text\.[^)]*\)$/) && ($1 in ran) { print substr($0, RSTART + 8, RLENGTH - 9) }
' "$work/callgrind" "$map" | c++filt | sed -E 's/\[[0-9a-f]{16}\]//g' | LC_ALL=C sort -u >"$work/hot"
[[ -s $work/hot ]] || die "no function mapped: is the map from this binary's link?"
{
    echo "# Functions svcprobe nslookup runs, laid out first (scripts/hot-symbols.sh wrote this; scripts/build.sh)."
    cat "$work/hot"
} >"$repo/ship/hot-symbols.txt"
echo "ship/hot-symbols.txt: $(wc -l <"$work/hot") functions"
