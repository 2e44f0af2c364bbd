#!/usr/bin/env bash
# Reading one Service's kube-proxy rules on a large node (issue 16's bound): 10,000 Services and
# 50,000 endpoints (5 each) loaded in kube-proxy's own shapes into three network namespaces made
# here: iptables mode with iptables-nft-restore, iptables mode with iptables-legacy-restore, and
# nftables mode with `nft -f`. In each it times svcprobe's `read_service` (bench/src/bin/readrules.rs,
# the code `svcprobe node` runs) for one Service, next to what a person would run on the node:
# `iptables-save | grep CLUSTER-IP` and `nft -j list table ip kube-proxy`; and the whole
# `svcprobe node SERVICE --objects FILE` command (the issue's bound: it ends within its --deadline).
# Results go in BENCHMARKS.md by hand.
#
# USAGE
#   scripts/bench-rules.sh      builds readrules and benchrun, loads the rulesets
#                               (a few minutes: the loaders are the slow part), measures, prints one table
#                               per namespace, removes the namespaces
#   Environment: SVCPROBE (the binary for the whole-command row; default: scripts/build.sh builds
#   the shipped one), BENCH_RULES_RUNS (default 10 rounds), BENCH_RULES_SERVICES (default 10000),
#   BENCH_RULES_ENDPOINTS (per Service, default 5), BENCH_RULES_PROFILE (release, the default, as
#   bench.sh builds it: static musl, fat LTO; or debug, the test build, slower code, quick to build).
#
# HOW IT MEASURES
#   benchrun (bench/, see scripts/bench.sh) runs each command as its direct child inside the namespace:
#   wall time spawn to reap, peak RSS from wait4(2) (for the shell pipeline: the largest of sh, the save
#   and grep). Rounds are interleaved. readrules also prints the time spent inside `read_service`.
#   Every step is bounded by `timeout`; the namespaces are removed on exit. Needs root, iptables,
#   nftables. Nothing goes into the root network namespace.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export PATH="$HOME/.cargo/bin:$PATH:/usr/sbin:/sbin"
runs=${BENCH_RULES_RUNS:-10}
services=${BENCH_RULES_SERVICES:-10000}
per=${BENCH_RULES_ENDPOINTS:-5}
target=x86_64-unknown-linux-musl
prefix=rb$$

die() {
    echo "bench-rules.sh: $*" >&2
    exit 1
}
[[ $(id -u) == 0 ]] || die "must run as root (network namespaces)"
for tool in iptables-nft-restore iptables-legacy-restore nft timeout; do
    command -v "$tool" >/dev/null || die "$tool missing (run scripts/deps.sh)"
done
((services > 0 && services <= 60000 && per > 0 && per <= 20)) || die "services 1-60000, endpoints 1-20"

work=$(mktemp -d "${TMPDIR:-/tmp}/svcprobe-bench-rules.XXXXXX")
namespaces=("$prefix-nft" "$prefix-legacy" "$prefix-nftables")
cleanup() {
    local ns
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

case ${BENCH_RULES_PROFILE:-release} in
release)
    cargo build --quiet --locked --release --target "$target" -p benchrun
    built=$repo/target/$target/release
    ;;
debug)
    cargo build --quiet --locked -p benchrun
    built=$repo/target/debug
    ;;
*) die "BENCH_RULES_PROFILE must be release or debug" ;;
esac
cp "$built/benchrun" "$built/readrules" "$work/"
cp "${SVCPROBE:-$(scripts/build.sh)}" "$work/svcprobe"

# Service i: ClusterIP 10.1.i/256.i%256 port 80/TCP; endpoint k: 10.245.k/256.k%256:8080.
vip() { echo "10.1.$(($1 / 256)).$(($1 % 256))"; }
awk -v n="$services" -v per="$per" '
function vip(i) { return sprintf("10.1.%d.%d", int(i / 256), i % 256) }
function ep(k) { return sprintf("10.245.%d.%d", int(k / 256) % 256, k % 256) }
BEGIN {
    print "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\nCOMMIT"
    print "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]"
    for (i = 0; i < n; i++) {
        printf ":KUBE-SVC-%016d - [0:0]\n", i
        for (j = 0; j < per; j++) printf ":KUBE-SEP-%016d - [0:0]\n", i * per + j
    }
    print "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
    print "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
    print "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"
    for (i = 0; i < n; i++) {
        spn = sprintf("ns-%d/svc-%d:http", int(i / 100), i)
        printf "-A KUBE-SERVICES -m comment --comment \"%s cluster IP\" -m tcp -p tcp -d %s --dport 80 -j KUBE-SVC-%016d\n", spn, vip(i), i
        printf "-A KUBE-SVC-%016d -m comment --comment \"%s cluster IP\" -m tcp -p tcp -d %s --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ\n", i, spn, vip(i)
        for (j = 0; j < per; j++) {
            k = i * per + j
            if (j < per - 1)
                printf "-A KUBE-SVC-%016d -m comment --comment \"%s -> %s:8080\" -m statistic --mode random --probability %.10f -j KUBE-SEP-%016d\n", i, spn, ep(k), 1 / (per - j), k
            else
                printf "-A KUBE-SVC-%016d -m comment --comment \"%s -> %s:8080\" -j KUBE-SEP-%016d\n", i, spn, ep(k), k
            printf "-A KUBE-SEP-%016d -m comment --comment %s -s %s -j KUBE-MARK-MASQ\n", k, spn, ep(k)
            printf "-A KUBE-SEP-%016d -m comment --comment %s -m tcp -p tcp -j DNAT --to-destination %s:8080\n", k, spn, ep(k)
        }
    }
    print "COMMIT"
}' >"$work/iptables.rules"

awk -v n="$services" -v per="$per" '
function vip(i) { return sprintf("10.1.%d.%d", int(i / 256), i % 256) }
function ep(k) { return sprintf("10.245.%d.%d", int(k / 256) % 256, k % 256) }
BEGIN {
    print "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }"
    print "add set ip kube-proxy cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }"
    print "add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }"
    print "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }"
    print "add chain ip kube-proxy mark-for-masquerade"
    print "add chain ip kube-proxy reject-chain"
    print "add chain ip kube-proxy services"
    print "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }"
    print "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000"
    print "add rule ip kube-proxy reject-chain reject"
    print "add rule ip kube-proxy nat-prerouting jump services"
    print "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips"
    for (i = 0; i < n; i++) {
        base = sprintf("ns-%d/svc-%d/tcp/http", int(i / 100), i)
        svc = sprintf("service-%08d-%s", i, base)
        printf "add chain ip kube-proxy %s\n", svc
        printf "add rule ip kube-proxy %s ip daddr %s tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade\n", svc, vip(i)
        vmap = ""
        for (j = 0; j < per; j++) {
            k = i * per + j
            epc = sprintf("endpoint-%08d-%s__%s/8080", k, base, ep(k))
            printf "add chain ip kube-proxy %s\n", epc
            printf "add rule ip kube-proxy %s ip saddr %s jump mark-for-masquerade\n", epc, ep(k)
            printf "add rule ip kube-proxy %s meta l4proto tcp dnat to %s:8080\n", epc, ep(k)
            vmap = vmap (j ? ", " : "") j " : goto " epc
        }
        printf "add rule ip kube-proxy %s numgen random mod %d vmap { %s }\n", svc, per, vmap
        printf "add element ip kube-proxy cluster-ips { %s }\n", vip(i)
        printf "add element ip kube-proxy service-ips { %s . tcp . 80 : goto %s }\n", vip(i), svc
    }
}' >"$work/kube-proxy.nft"

echo "rulesets: iptables $(wc -l <"$work/iptables.rules") lines, nft $(wc -l <"$work/kube-proxy.nft") lines" >&2
for ns in "${namespaces[@]}"; do ip netns add "$ns"; done
load() { # NS LOADER FILE
    local t0=$SECONDS
    timeout 1200 ip netns exec "$1" "$2" <"$3" >/dev/null || die "$2 failed in $1"
    echo "loaded $3 with $2 in $1: $((SECONDS - t0)) s" >&2
}
load "$prefix-nft" iptables-nft-restore "$work/iptables.rules"
load "$prefix-legacy" iptables-legacy-restore "$work/iptables.rules"
t0=$SECONDS
timeout 1200 ip netns exec "$prefix-nftables" nft -f "$work/kube-proxy.nft" || die "nft -f failed"
echo "loaded kube-proxy.nft with nft -f: $((SECONDS - t0)) s" >&2

# The Service in the middle of the ruleset; the guide greps the save for its name.
mid=$((services / 2))
svc=$(vip $mid)
name="ns-$((mid / 100))/svc-$mid:"
# The cluster's view of that Service for `svcprobe node --objects`: the Service and one
# EndpointSlice with its ready endpoints, as `kubectl get service,endpointslices -o json` lists them.
awk -v i="$mid" -v per="$per" -v vip="$svc" '
function ep(k) { return sprintf("10.245.%d.%d", int(k / 256) % 256, k % 256) }
BEGIN {
    ns = sprintf("ns-%d", int(i / 100)); svc = sprintf("svc-%d", i)
    printf "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":["
    printf "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},", svc, ns
    printf "\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"%s\",\"clusterIPs\":[\"%s\"],", vip, vip
    printf "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080}]}},"
    printf "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"%s-abcde\",\"namespace\":\"%s\",", svc, ns
    printf "\"labels\":{\"kubernetes.io/service-name\":\"%s\"}},\"addressType\":\"IPv4\",\"endpoints\":[", svc
    for (j = 0; j < per; j++)
        printf "%s{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":true},\"nodeName\":\"node-1\"}", (j ? "," : ""), ep(i * per + j)
    printf "],\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":8080}]}]}\n"
}' >"$work/objects.json"
# shellcheck disable=SC2016 # $1 is the script's argument
printf '"$1" | grep -F -- %q\n' "$name" >"$work/save-grep.sh"
# The whole command as a node debug pod runs it (default --deadline 5s); the bed has no kube-proxy
# and no host root, so those checks skip and the exit is 1: the row is for its time and memory.
node="$work/svcprobe node svc-$mid -n ns-$((mid / 100)) --objects $work/objects.json --host-root $work -o text"
measure() { # NS LABEL-PREFIX SPEC...
    local ns=$1
    shift
    mkdir -p "$work/out-$ns"
    BENCHRUN_OUT=$work/out-$ns timeout 1200 ip netns exec "$ns" "$work/benchrun" "$runs" 1 "$@" >"$work/$ns.tsv"
    echo "== $ns (Service $svc:80, $runs rounds)"
    printf 'label\texits\twall median ms\tmin\tp90\tRSS median KiB\tmax\tspawn ms\n'
    cat "$work/$ns.tsv"
    echo "readrules (last run): ms inside read_service, source, service rule, endpoints, skip"
    cat "$work/out-$ns/0.out"
    echo "svcprobe node (last run): its heading, the rules it read and the verdict"
    grep -E -A1 '^(node |\[.{4}\] service-rules|verdict:)' "$work/out-$ns/1.out" || true
}
measure "$prefix-nft" \
    "read_service (iptables-nft)|$work/readrules $svc 80 tcp" \
    "svcprobe node (whole command)|$node" \
    "iptables-nft-save, grep NAME|sh $work/save-grep.sh iptables-nft-save"
measure "$prefix-legacy" \
    "read_service (iptables-legacy)|$work/readrules $svc 80 tcp" \
    "svcprobe node (whole command)|$node" \
    "iptables-legacy-save, grep NAME|sh $work/save-grep.sh iptables-legacy-save"
measure "$prefix-nftables" \
    "read_service (nftables)|$work/readrules $svc 80 tcp" \
    "svcprobe node (whole command)|$node" \
    "nft -j list table ip kube-proxy|nft -j list table ip kube-proxy"
