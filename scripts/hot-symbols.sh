#!/usr/bin/env bash
# List the functions `svcprobe nslookup` runs into ship/hot-symbols.txt, which scripts/build.sh lays out
# first in the shipped binary: its peak RSS is the file pages of the code that runs (64 KiB fault-around),
# so that code on few pages is what keeps nslookup at or under busybox's RSS (issue 12, BENCHMARKS.md).
#
# USAGE
#   scripts/build.sh && scripts/hot-symbols.sh      then scripts/build.sh again, and commit the list
#
# It runs the shipped binary under valgrind (callgrind, with the address of every instruction that ran) in
# the test bed's client pod (prefix "hot", taken down on exit), for the absolute name (two queries, as the
# benchmark asks), and lists each function of the link map (target/ship/svcprobe.map) that holds one of
# those instructions: functions reached by a jump (tail calls: callgrind names only the targets of calls)
# count too, or they stay spread over the whole text and each costs nslookup a page fault of its own.
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
bed exec client -- timeout 60 valgrind --tool=callgrind --dump-instr=yes --compress-pos=no \
    --callgrind-out-file="$work/callgrind" "$bin" nslookup hostnames.default.svc.cluster.local. >/dev/null 2>&1 ||
    die "svcprobe nslookup under valgrind failed"
# The map lists input sections in address order (lld: VMA LMA SIZE ALIGN FILE:(.text.NAME), hex without 0x;
# a section without a name of its own, FILE:(.text), goes by the first symbol in it, the line below it);
# callgrind writes one cost line per instruction that ran, its address first (0x...). Each address is looked
# up among the sections by bisection.
# musl's first clock_gettime looks the function up in the vDSO and compares names with strcmp there; under
# valgrind that lookup ends before any strcmp, so callgrind never sees it run: it is listed by hand.
{
    awk '
    FNR == NR {
        if (plain) { plain = 0; if (NF == 5 && $5 ~ /^[A-Za-z_][A-Za-z0-9_]*$/) name[n] = $5; else n-- }
        if (match($0, /:\(\.text(\.[^)]*)?\)$/)) {
            n++; start[n] = ("0x" $1) + 0; end[n] = start[n] + ("0x" $3); name[n] = substr($0, RSTART + 8, RLENGTH - 9)
            plain = RLENGTH == 8
        }
        next
    }
    /^0x[0-9a-f]+ / {
        a = $1 + 0; lo = 1; hi = n
        while (lo < hi) { mid = int((lo + hi + 1) / 2); if (start[mid] <= a) lo = mid; else hi = mid - 1 }
        if (n && start[lo] <= a && a < end[lo] && !(lo in seen)) { seen[lo] = 1; print name[lo] }
    }
' "$map" "$work/callgrind" | c++filt | sed -E 's/\[[0-9a-f]{16}\]//g'
    echo strcmp
} | LC_ALL=C sort -u >"$work/hot"
(($(wc -l <"$work/hot") > 1)) || die "no function mapped: is the map from this binary's link?"
{
    echo "# Functions svcprobe nslookup runs, laid out first (scripts/hot-symbols.sh wrote this; scripts/build.sh)."
    cat "$work/hot"
} >"$repo/ship/hot-symbols.txt"
echo "ship/hot-symbols.txt: $(wc -l <"$work/hot") functions"
