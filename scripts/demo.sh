#!/usr/bin/env bash
# The one-minute tour: build svcprobe, bring up the test bed (a Kubernetes-like node in network
# namespaces), run svcprobe from the client pod against the healthy `hostnames` Service, break things
# one at a time and show what svcprobe reports, then tear everything down.
# Needs root (network namespaces). Installs what is missing via scripts/deps.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: needs root (it builds network namespaces)" >&2; exit 2; }

scripts/deps.sh
echo "== building the static binary that ships"
BIN=$(scripts/build.sh)
ls -l "$BIN"

BED=(scripts/testbed.sh -p demo)
trap '"${BED[@]}" down >/dev/null 2>&1 || true' EXIT
export SVCPROBE="$BIN"
"${BED[@]}" up

# Runs svcprobe in the client pod (the guide's busybox pod), with the pod's own resolv.conf.
probe() {
	echo
	echo "\$ svcprobe $*"
	"${BED[@]}" exec client -- "$BIN" -o text "$@" || echo "(exit code $?)"
}

# Shows what a failure switch does to one svcprobe command, then undoes it.
broken() {
	local switch=$1
	shift
	echo
	echo "==== break: $switch"
	"${BED[@]}" break "$switch"
	probe "$@"
	"${BED[@]}" fix "$switch"
}

echo
echo "==== healthy cluster: the guide's steps, one command each, then the whole walk"
probe resolvconf
probe nslookup hostnames
probe http --count 12 http://hostnames/
probe diagnose hostnames

broken service-missing diagnose hostnames
broken no-endpoints tcp hostnames:80
broken wrong-target-port diagnose hostnames
broken backend-down diagnose hostnames
broken dns-drop diagnose hostnames
broken resolv-low-ndots nslookup hostnames.default
broken netpol-drop diagnose hostnames

echo
echo "==== break: hairpin-off (from a backend pod, which reaches itself through its Service)"
"${BED[@]}" break hairpin-off
echo "\$ svcprobe hairpin hostnames   (in hostnames-632524106-ly40y)"
"${BED[@]}" exec backend2 -- "$BIN" -o text hairpin hostnames || echo "(exit code $?)"
"${BED[@]}" fix hairpin-off

echo
echo "== done; tearing the test bed down"
