#!/usr/bin/env bash
# svcprobe test bed: a kubenet-style Kubernetes node built from Linux network namespaces.
#
# USAGE
#   scripts/testbed.sh [-p PREFIX] COMMAND [ARGS]
#
#   up                    create the bed (idempotent; keeps active switches); about 0.5 s
#   down                  remove everything it created (idempotent): namespaces, /etc/netns dirs,
#                         processes (by pidfile / by netns), the state dir
#   status                what exists, what runs, which switches are on
#   exec POD [--] CMD...  run CMD in the pod: its netns, its /etc/resolv.conf, /etc/hosts, /etc/hostname
#                         and /etc/nsswitch.conf (bind-mounted by `ip netns exec` from /etc/netns/NS/),
#                         and its hostname (own UTS namespace). CMD's exit status is passed through;
#                         125 if the test bed itself fails (pod unknown, bed not up).
#   ns POD                print the pod's netns name        ip POD     print the pod's IP
#   pods                  list pods: name namespace ip netns
#   topology              the bed's addresses, pods and Services as `KEY VALUE...` lines, from the
#                         variables below (tests check their own copies against it; no root needed)
#   querylog              print the path of BIND's query log
#   clear-querylog        truncate the query log in place (named keeps appending to it)
#   break SWITCH...       turn failures on (idempotent)     fix SWITCH...|all  turn them off (idempotent)
#   switches              list switches and whether they are on
#   rules                 print the node's iptables rules (iptables-save; nftables mode: and the
#                         kube-proxy table)
#
#   PREFIX ([a-z0-9]{1,6}, default "sp") namespaces everything, so several beds can run at once.
#   POD is a pod name (see TOPOLOGY) or an alias: dns, client, backend1, backend2, backend3, node.
#   Environment:
#     TESTBED_STATE     state base dir (default /tmp/svcprobe-testbed); the bed uses $TESTBED_STATE/PREFIX
#     TESTBED_IPTABLES  "nft" or "legacy" iptables backend inside the node (default: `iptables-restore`)
#     TESTBED_PROXY_MODE  "iptables" (default) or "nftables": kube-proxy's rules in its nftables-mode
#                       shape (table ip kube-proxy, loaded with `nft -f`) instead; read at `up`
#     SVCPROBE          path to an svcprobe binary: if `$SVCPROBE serve --help` exits 0, backends run
#                       `$SVCPROBE serve --listen 0.0.0.0:9376` instead of `busybox httpd`
#   Needs root. Packages (Debian 12): iproute2 bind9 bind9-dnsutils busybox-static (or busybox)
#   iptables conntrack util-linux coreutils.
#
# TOPOLOGY (everything inside namespaces this script creates; the root netns gets nothing)
#   netns PREFIX-node   the node. Bridge cbr0 10.244.0.1/24 (pod CIDR; cluster CIDR 10.244.0.0/16),
#                       ip_forward=1, bridge-nf-call-iptables=1 (br_netfilter), hairpin_mode=1 on every
#                       bridge port (kubelet --hairpin-mode=hairpin-veth). eth0 10.240.0.2/24 (a veth whose
#                       peer "uplink" stays down, plus a permanent neighbour entry for the gateway) with a
#                       default route via 10.240.0.1 stands for the node's uplink: anything routed there is
#                       silently dropped (like a VIP without rules in a real cluster: a timeout).
#                       kube-proxy's iptables rules (nat + filter), in kube-proxy's own shape, loaded with
#                       one iptables-restore of the whole tables (the node netns is all ours).
#   pods: netns PREFIX-<pod name>, eth0 = veth to cbr0 (node side veth<8 hex of sha256(pod)>),
#         default route via 10.244.0.1, lo up.
#     coredns-5d78c9869d-9x7kq   kube-system 10.244.0.2  BIND named (cluster DNS), port 53 udp+tcp
#     client                     default     10.244.0.3  no server (the guide's busybox pod)
#     client-b                   team-b      10.244.0.4  no server: a client pod in a second namespace
#     hostnames-632524106-bbpiw  default     10.244.0.5  serves its hostname on :9376 (serve_hostname)
#     hostnames-632524106-ly40y  default     10.244.0.6  "
#     hostnames-632524106-tlaok  default     10.244.0.7  "
#   Pod resolv.conf: nameserver 10.0.0.10 / search <ns>.svc.cluster.local svc.cluster.local
#   cluster.local / options ndots:5; /etc/hosts as kubelet writes it; nsswitch "hosts: files dns".
#
# SERVICES (service CIDR 10.0.0.0/16; kube-proxy servicePortName "ns/name:port")
#   default/hostnames      10.0.1.175  port "http" 80/TCP -> targetPort 9376 on the three backends
#                          (the guide's Service; its port is named "http" here so that the SRV record
#                          _http._tcp.hostnames.default.svc.cluster.local exists)
#   default/kubernetes     10.0.0.1    port "https" 443/TCP -> endpoint 10.240.0.2:6443 (the node's
#                          uplink address; nothing listens, so a connection is refused: only its
#                          DNS records matter here)
#   kube-system/kube-dns   10.0.0.10   ports "dns" 53/UDP and "dns-tcp" 53/TCP -> 10.244.0.2:53
#   default/self           10.0.1.200  port "http" 80/TCP -> 10.244.0.5:9376 only (hostnames-632524106-bbpiw):
#                          a Service whose only endpoint is that pod, so that from it every connection
#                          to the VIP is a hairpin (deterministic hairpin tests). Only hairpin-off,
#                          masq-mark-missing, backend-down, bridge-nf-off and kube-proxy-down affect it.
#   Chain names are kube-proxy's: KUBE-SVC-/KUBE-SEP- + base32(sha256(portName + proto [+ ip:port]))[:16]
#   (e.g. default/kubernetes:https -> KUBE-SVC-NPX46M4PTMTKRN6Y, kube-dns:dns -> KUBE-SVC-TCOU7JCQXEZGVUNU).
#
# CLUSTER DNS (BIND named -f in the coredns pod; authoritative, recursion off, minimal responses)
#   zones: cluster.local, 10.in-addr.arpa, and "." (so every other name is NXDOMAIN at once).
#   TTL 30 as CoreDNS; SOA TTL and negative TTL 5.
#   A    hostnames.default.svc.cluster.local 10.0.1.175, kubernetes.default.svc.cluster.local 10.0.0.1,
#        kube-dns.kube-system.svc.cluster.local 10.0.0.10, ns.dns.cluster.local 10.0.0.10,
#        self.default.svc.cluster.local 10.0.1.200,
#        pods: 10-244-0-5.default.pod.cluster.local 10.244.0.5 (each pod in its namespace)
#   SRV  _http._tcp.hostnames.default.svc.cluster.local 0 100 80 hostnames.default.svc.cluster.local.
#        _http._tcp.self.default.svc.cluster.local 0 100 80 self.default.svc.cluster.local.
#        _https._tcp.kubernetes.default.svc..., _dns._udp.kube-dns.kube-system.svc..., _dns-tcp._tcp...
#   PTR  Service IPs -> Service names; endpoint pod IPs -> 10-244-0-5.hostnames.default.svc.cluster.local.
#        and 10-244-0-2.kube-dns.kube-system.svc.cluster.local. (the client pod has no PTR, as in CoreDNS)
#   Query log: `scripts/testbed.sh querylog`, one line per query with time, client ip#port, name,
#   class, type, e.g. "... client @0x... 10.244.0.3#41234 (hostnames.default.svc.cluster.local):
#   query: hostnames.default.svc.cluster.local IN A +E(0) (10.244.0.2)".
#
# SWITCHES (break/fix; each idempotent and reversible; NAT changes flush conntrack in the node)
#   service-missing    Service hostnames deleted: no DNS records (NXDOMAIN), no rules (VIP times out)
#   no-endpoints       hostnames has no endpoints: no KUBE-SVC chain (as current kube-proxy), filter
#                      REJECT "default/hostnames:http has no endpoints" -> "connection refused" after ~1 s:
#                      the first ICMP port unreachable comes back while connect() still holds the socket
#                      (TcpExtLockDroppedIcmps), Linux keeps it as a soft error, the SYN retransmit at 1 s
#                      gets the fatal one. A real node's REJECT behaves the same. (UDP: refused at once.)
#   wrong-target-port  targetPort 9377 where nothing listens: DNAT to podIP:9377 -> connection refused
#   backend-down       server of hostnames-632524106-bbpiw stopped, still an endpoint: ~1/3 refused
#   dns-down           named stopped, kube-dns keeps its endpoint: queries get ICMP port unreachable
#   dns-drop           node FORWARD drops udp+tcp 53 to the DNS pod: queries time out
#   resolv-no-search   every pod's resolv.conf except the DNS pod's loses its search line
#   resolv-low-ndots   every pod's resolv.conf except the DNS pod's has ndots:1
#   netpol-drop        NetworkPolicy-like DROP (node FORWARD) of tcp to the backends' :9376: direct and
#                      via the VIP time out
#   hairpin-off        hairpin_mode 0 on every bridge port (kubelet --hairpin-mode=none): a backend reaching
#                      its own Service fails, or is slow (the SYN retransmit may pick another backend), when
#                      DNAT picks itself; deterministic for the DNS pod querying 10.0.0.10 (its only endpoint)
#   masq-mark-missing  no "-s podIP -j KUBE-MARK-MASQ" rules in any KUBE-SEP chain: same symptom as
#                      hairpin-off (a pod reaching itself via its Service's VIP fails)
#   bridge-promisc     cbr0 PROMISC (kubelet --hairpin-mode=promiscuous-bridge). Measured (kernel 6.18,
#                      br_netfilter on): with hairpin-off too, a pod still cannot reach itself through
#                      its Service; PROMISC does not make up for hairpin_mode 0
#   rules-missing      the Service hostnames stays (DNS, objects) but the node has no rule for it: its
#                      VIP times out (kube-proxy lost it)
#   endpoint-stale     hostnames' rules also send to 10.244.0.8:9376, a pod that no longer exists (a
#                      missed sync): ~1/4 of connections to the VIP fail
#   endpoint-missing   hostnames' rules lack its third endpoint (a new pod kube-proxy did not add)
#   bridge-nf-off      net.bridge.bridge-nf-call-iptables=0 in the node: pod -> VIP -> other pod on the
#                      bridge fails (bridged replies skip conntrack's un-DNAT), DNS via 10.0.0.10 included
#   kube-proxy-down    no kube-proxy rules at all: every ClusterIP (also DNS 10.0.0.10) times out
#   dns-vip-missing    no kube-proxy rules for kube-dns (both ports) while its pod runs: 10.0.0.10
#                      times out, 10.244.0.2:53 answers
#   dns-udp-drop       node FORWARD drops udp 53 to the DNS pod (tcp still answers)
#   dns-tcp-drop       node FORWARD drops tcp 53 to the DNS pod (udp still answers)
#   dns-drop-team-b    node FORWARD drops udp+tcp 53 from namespace team-b's pods (client-b) only,
#                      as an egress NetworkPolicy of that namespace would
#   dns-upstream-fail  BIND forwards every name outside its zones to a forwarder where nothing
#                      listens (127.0.0.1:5399): SERVFAIL for example.com, cluster names answer
#   dns-flaky          node FORWARD drops 20% of DNS queries (udp 53) at random (iptables statistic)
#   nodelocal          a NodeLocal DNSCache in the node: a second BIND on 169.254.20.10 (on the node's
#                      lo) forwarding to 10.0.0.10; every pod's resolv.conf but the DNS
#                      pod's names 169.254.20.10 (not a failure: the layout nodelocal-down breaks)
#   nodelocal-down     like nodelocal, with the cache stopped: 169.254.20.10 refuses (ICMP)
#
# SAFETY: links are created directly inside the namespaces (`ip link add ... netns A type veth peer
# ... netns B`); no address, route, iptables or nft rule ever goes into the root network namespace.
# Processes are stopped by PID only (pidfiles, or `ip netns pids` of this bed's namespaces). Host
# changes outside namespaces: /run/netns/PREFIX-*, /etc/netns/PREFIX-*/, the state dir (all removed by
# `down`), and, only if the br_netfilter module is not loaded yet, `modprobe br_netfilter`.
set -euo pipefail

PROG=testbed.sh
PREFIX=sp

die() { echo "$PROG: $*" >&2; exit 2; }
note() { echo "$PROG: $*" >&2; }

# ---------------------------------------------------------------- topology
BRIDGE=cbr0
GW=10.244.0.1
CLUSTER_CIDR=10.244.0.0/16
NODE_IP=10.240.0.2
NODE_UPLINK_GW=10.240.0.1
NODE_UPLINK_MAC=02:00:0a:f0:00:01
DOMAIN=cluster.local
DNS_VIP=10.0.0.10
HOSTNAMES_VIP=10.0.1.175
KUBERNETES_VIP=10.0.0.1
SELF_VIP=10.0.1.200
BACKEND_PORT=9376
WRONG_PORT=9377
# a hostnames pod that no longer exists (endpoint-stale keeps it in the rules)
REMOVED_POD_IP=10.244.0.8

# name  k8s-namespace  ip  role
PODS=(
	"coredns-5d78c9869d-9x7kq kube-system 10.244.0.2 dns"
	"client default 10.244.0.3 client"
	"client-b team-b 10.244.0.4 client"
	"hostnames-632524106-bbpiw default 10.244.0.5 backend"
	"hostnames-632524106-ly40y default 10.244.0.6 backend"
	"hostnames-632524106-tlaok default 10.244.0.7 backend"
)
# the DNS pod and the backends, by role (PODS is the one list of pods)
BACKENDS=()
for p in "${PODS[@]}"; do
	read -r name _ ip role <<<"$p"
	case "$role" in
	dns) DNS_POD=$name DNS_IP=$ip ;;
	backend) BACKENDS+=("$name") ;;
	esac
done
unset p name ip role
DOWN_BACKEND=hostnames-632524106-bbpiw
# the only endpoint of default/self
SELF_BACKEND=hostnames-632524106-bbpiw

SWITCHES=(service-missing no-endpoints wrong-target-port backend-down dns-down dns-drop
	resolv-no-search resolv-low-ndots netpol-drop hairpin-off masq-mark-missing bridge-nf-off
	kube-proxy-down bridge-promisc rules-missing endpoint-stale endpoint-missing dns-vip-missing
	dns-udp-drop dns-tcp-drop dns-drop-team-b dns-upstream-fail dns-flaky nodelocal nodelocal-down)
# NodeLocal DNSCache's conventional address, and the forwarder dns-upstream-fail points at
NODELOCAL_IP=169.254.20.10
DEAD_FORWARDER_PORT=5399

# ---------------------------------------------------------------- arguments
usage() {
	sed -n '2,/^# SAFETY/p' "$0" | sed 's/^# \{0,1\}//' | sed '$d'
}

while [ $# -gt 0 ]; do
	case "$1" in
	-p) [ $# -ge 2 ] || die "-p needs a PREFIX"; PREFIX=$2; shift 2 ;;
	-p*) PREFIX=${1#-p}; shift ;;
	-h | --help | help) usage; exit 0 ;;
	*) break ;;
	esac
done
[[ "$PREFIX" =~ ^[a-z0-9]{1,6}$ ]] || die "bad PREFIX '$PREFIX' (want [a-z0-9]{1,6})"
[ $# -ge 1 ] || { usage >&2; exit 2; }
CMD=$1
shift

STATE_BASE=${TESTBED_STATE:-/tmp/svcprobe-testbed}
ST=$STATE_BASE/$PREFIX
NODE_NS=$PREFIX-node
QUERYLOG=$ST/named/query.log

# ---------------------------------------------------------------- helpers
need_root() {
	[ "$(id -u)" = 0 ] || die "must run as root (it creates network namespaces); try: sudo $0 -p $PREFIX $CMD"
}

need_tools() {
	local t pkg missing=()
	for t in ip:iproute2 bridge:iproute2 named:bind9 dig:bind9-dnsutils busybox:busybox-static \
		iptables-restore:iptables iptables-save:iptables conntrack:conntrack unshare:util-linux \
		setsid:util-linux flock:util-linux sha256sum:coreutils basenc:coreutils base32:coreutils; do
		pkg=${t#*:}
		t=${t%%:*}
		if ! command -v "$t" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$t" ] && [ ! -x "/sbin/$t" ]; then
			missing+=("$t (Debian package $pkg)")
		fi
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		die "missing tools: ${missing[*]}; install them, e.g. apt-get install -y iproute2 bind9 bind9-dnsutils busybox-static iptables conntrack"
	fi
}

export PATH="$PATH:/usr/sbin:/sbin"

ipt_restore() {
	case "${TESTBED_IPTABLES:-}" in
	"") echo iptables-restore ;;
	nft) echo iptables-nft-restore ;;
	legacy) echo iptables-legacy-restore ;;
	*) die "TESTBED_IPTABLES must be nft or legacy" ;;
	esac
}
ipt_save() {
	local r
	r=$(cat "$ST/iptables-restore" 2>/dev/null || ipt_restore)
	echo "${r%-restore}-save"
}

pod_line() { # NAME|ALIAS -> "name ns ip role"
	local want=$1 p
	case "$want" in
	dns | coredns) want=$DNS_POD ;;
	backend1) want=${BACKENDS[0]} ;;
	backend2) want=${BACKENDS[1]} ;;
	backend3) want=${BACKENDS[2]} ;;
	esac
	for p in "${PODS[@]}"; do
		if [ "${p%% *}" = "$want" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
pod_name() { local l; l=$(pod_line "$1") || return 1; set -- $l; echo "$1"; }
pod_kns() { local l; l=$(pod_line "$1") || return 1; set -- $l; echo "$2"; }
pod_ip() { local l; l=$(pod_line "$1") || return 1; set -- $l; echo "$3"; }
pod_ns() { echo "$PREFIX-$1"; }
veth_of() { printf 'veth%s' "$(printf '%s' "$1" | sha256sum | cut -c1-8)"; }
dashed() { echo "${1//./-}"; }

# mkdir -p that survives a parallel `down` of another bed removing the (then empty) parent
mkdir_p() {
	local i
	for i in 1 2 3 4 5; do
		mkdir -p "$@" 2>/dev/null && return 0
		sleep 0.01
	done
	mkdir -p "$@"
}

ns_exists() { [ -e "/run/netns/$1" ]; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

flag() { [ -e "$ST/switches/$1" ]; }

# kube-proxy's chain-name hash: base32(sha256(s))[:16]
declare -A KP_HASH_CACHE=()
kp_hash_compute() {
	printf '%s' "$1" | sha256sum | cut -c1-64 | tr 'a-f' 'A-F' | basenc --base16 -d | base32 -w0 | cut -c1-16
}
# sets REPLY (no subshell, so the cache persists); cached in $ST/kp-hashes across invocations
kp_hash() {
	local k v
	if [ "${#KP_HASH_CACHE[@]}" -eq 0 ] && [ -f "$ST/kp-hashes" ]; then
		while read -r k v; do KP_HASH_CACHE[$k]=$v; done <"$ST/kp-hashes"
	fi
	if [ -z "${KP_HASH_CACHE[$1]:-}" ]; then
		v=$(kp_hash_compute "$1")
		KP_HASH_CACHE[$1]=$v
		echo "$1 $v" >>"$ST/kp-hashes"
	fi
	REPLY=${KP_HASH_CACHE[$1]}
}

# is PID alive and inside netns NS (guards against PID reuse)
pid_in_ns() {
	local pid=$1 ns=$2
	[ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
	[ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$(readlink "/proc/self/ns/net" 2>/dev/null)" ] && return 1
	[ "$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" = "$(stat -L -c %i "/run/netns/$ns" 2>/dev/null)" ]
}

pidfile_alive() { # NAME NS -> pid alive?
	local pf=$ST/pids/$1.pid pid
	[ -f "$pf" ] || return 1
	pid=$(cat "$pf" 2>/dev/null || true)
	pid_in_ns "$pid" "$2"
}

# kill PIDs: TERM, wait up to 2 s, then KILL (bounded)
kill_pids() {
	local pids=("$@") i p alive
	[ "${#pids[@]}" -gt 0 ] || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for i in $(seq 1 40); do
		alive=()
		for p in "${pids[@]}"; do [ -d "/proc/$p" ] && alive+=("$p"); done
		[ "${#alive[@]}" -eq 0 ] && return 0
		# a zombie child of ours would stay in /proc: check state
		local still=()
		for p in "${alive[@]}"; do
			[ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] || still+=("$p")
		done
		[ "${#still[@]}" -eq 0 ] && return 0
		pids=("${still[@]}")
		sleep 0.05
	done
	kill -KILL "${pids[@]}" 2>/dev/null || true
	sleep 0.05
}

stop_daemon() { # NAME NS
	local pf=$ST/pids/$1.pid pid
	[ -f "$pf" ] || return 0
	pid=$(cat "$pf" 2>/dev/null || true)
	if pid_in_ns "$pid" "$2"; then kill_pids "$pid"; fi
	rm -f "$pf"
}

# start a daemon inside a pod: own UTS namespace with the pod's hostname, detached, logs to file
start_daemon() { # NAME POD -- CMD...
	local name=$1 pod=$2 ns pf log i
	shift 3
	ns=$(pod_ns "$pod")
	pf=$ST/pids/$name.pid
	log=$ST/logs/$name.log
	rm -f "$pf"
	setsid ip netns exec "$ns" unshare --uts sh -c \
		'busybox hostname "$1" && echo $$ >"$2.tmp" && mv "$2.tmp" "$2" && shift 2 && exec "$@"' \
		sh "$pod" "$pf" "$@" </dev/null >>"$log" 2>&1 &
	for i in $(seq 1 100); do
		[ -s "$pf" ] && return 0
		sleep 0.01
	done
	die "could not start $name in $ns (see $log)"
}

# ---------------------------------------------------------------- pod files
render_resolv() { # k8s-namespace
	local kns=$1 ndots=5 ns=$DNS_VIP
	flag resolv-low-ndots && ndots=1
	uses_nodelocal && ns=$NODELOCAL_IP
	echo "nameserver $ns"
	flag resolv-no-search || echo "search $kns.svc.$DOMAIN svc.$DOMAIN $DOMAIN"
	echo "options ndots:$ndots"
}

write_pod_etc() { # pod
	local pod=$1 kns ip dir
	kns=$(pod_kns "$pod")
	ip=$(pod_ip "$pod")
	dir=/etc/netns/$(pod_ns "$pod")
	mkdir_p "$dir"
	if [ "$pod" = "$DNS_POD" ]; then
		# the DNS pod is not affected by the resolv.conf switches
		printf 'nameserver %s\nsearch %s.svc.%s svc.%s %s\noptions ndots:5\n' \
			"$DNS_VIP" "$kns" "$DOMAIN" "$DOMAIN" "$DOMAIN" >"$dir/resolv.conf.new"
	else
		render_resolv "$kns" >"$dir/resolv.conf.new"
	fi
	# rewrite in place (same inode) so running processes see the change too
	if ! cmp -s "$dir/resolv.conf.new" "$dir/resolv.conf" 2>/dev/null; then
		cat "$dir/resolv.conf.new" >"$dir/resolv.conf"
	fi
	rm -f "$dir/resolv.conf.new"
	cat >"$dir/hosts" <<EOF
# Kubernetes-managed hosts file.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
fe00::0	ip6-mcastprefix
fe00::1	ip6-allnodes
fe00::2	ip6-allrouters
$ip	$pod
EOF
	echo "$pod" >"$dir/hostname"
	# like a container image: no mdns, no systemd-resolved, no nscd in the pod
	cat >"$dir/nsswitch.conf" <<EOF
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
ethers:         files
rpc:            files
EOF
}

# ---------------------------------------------------------------- DNS (BIND)
render_zones() {
	local d=$ST/named serial p name kns ip role
	serial=$(($(cat "$d/serial" 2>/dev/null || echo 0) + 1))
	{
		echo '$TTL 30'
		echo "@ 5 IN SOA ns.dns.$DOMAIN. hostmaster.$DOMAIN. $serial 7200 1800 86400 5"
		echo "@ IN NS ns.dns.$DOMAIN."
		echo "ns.dns IN A $DNS_VIP"
		echo "kubernetes.default.svc IN A $KUBERNETES_VIP"
		echo "_https._tcp.kubernetes.default.svc IN SRV 0 100 443 kubernetes.default.svc.$DOMAIN."
		echo "kube-dns.kube-system.svc IN A $DNS_VIP"
		echo "_dns._udp.kube-dns.kube-system.svc IN SRV 0 100 53 kube-dns.kube-system.svc.$DOMAIN."
		echo "_dns-tcp._tcp.kube-dns.kube-system.svc IN SRV 0 100 53 kube-dns.kube-system.svc.$DOMAIN."
		echo "self.default.svc IN A $SELF_VIP"
		echo "_http._tcp.self.default.svc IN SRV 0 100 80 self.default.svc.$DOMAIN."
		if ! flag service-missing; then
			echo "hostnames.default.svc IN A $HOSTNAMES_VIP"
			echo "_http._tcp.hostnames.default.svc IN SRV 0 100 80 hostnames.default.svc.$DOMAIN."
		fi
		for p in "${PODS[@]}"; do
			set -- $p
			echo "$(dashed "$3").$2.pod IN A $3"
		done
	} >"$d/cluster.local.zone.new"
	{
		echo '$TTL 30'
		echo "@ 5 IN SOA ns.dns.$DOMAIN. hostmaster.$DOMAIN. $serial 7200 1800 86400 5"
		echo "@ IN NS ns.dns.$DOMAIN."
		rev() { local IFS=.; set -- $1; echo "$4.$3.$2"; }
		echo "$(rev $KUBERNETES_VIP) IN PTR kubernetes.default.svc.$DOMAIN."
		echo "$(rev $DNS_VIP) IN PTR kube-dns.kube-system.svc.$DOMAIN."
		echo "$(rev $SELF_VIP) IN PTR self.default.svc.$DOMAIN."
		echo "$(rev $DNS_IP) IN PTR $(dashed $DNS_IP).kube-dns.kube-system.svc.$DOMAIN."
		if ! flag service-missing; then
			echo "$(rev $HOSTNAMES_VIP) IN PTR hostnames.default.svc.$DOMAIN."
			for name in "${BACKENDS[@]}"; do
				ip=$(pod_ip "$name")
				echo "$(rev "$ip") IN PTR $(dashed "$ip").hostnames.default.svc.$DOMAIN."
			done
		fi
	} >"$d/10.rev.new"
	{
		echo '$TTL 30'
		echo ". 5 IN SOA a.root-servers.net. hostmaster.$DOMAIN. 1 1800 900 604800 5"
		echo ". IN NS a.root-servers.net."
		echo "a.root-servers.net. IN A $DNS_VIP"
	} >"$d/root.zone.new"
	local changed=1 f
	if cmp -s <(grep -v SOA "$d/cluster.local.zone.new") <(grep -v SOA "$d/cluster.local.zone" 2>/dev/null) &&
		cmp -s <(grep -v SOA "$d/10.rev.new") <(grep -v SOA "$d/10.rev" 2>/dev/null) &&
		[ -f "$d/root.zone" ]; then
		changed=0
	fi
	if [ "$changed" = 1 ]; then
		for f in cluster.local.zone 10.rev root.zone; do mv "$d/$f.new" "$d/$f"; done
		echo "$serial" >"$d/serial"
	else
		rm -f "$d"/*.new
	fi
	return 0
}

render_named_conf() {
	local d=$ST/named
	cat >"$d/named.conf.new" <<EOF
// svcprobe test bed: cluster DNS standing in for CoreDNS (generated by scripts/testbed.sh)
options {
	directory "$d";
	pid-file none;
	session-keyfile none;
	managed-keys-directory "$d";
	dump-file "$d/named_dump.db";
	statistics-file "$d/named.stats";
	memstatistics-file "$d/named.memstats";
	listen-on port 53 { $DNS_IP; 127.0.0.1; };
	listen-on-v6 { none; };
	$(named_resolution)
	allow-query { any; };
	dnssec-validation no;
	notify no;
	minimal-responses yes;
	empty-zones-enable no;
	querylog yes;
};
controls { };
logging {
	channel testbed_queries { file "$QUERYLOG"; print-time yes; severity info; };
	channel testbed_general { file "$ST/logs/named.log"; print-time yes; print-severity yes; print-category yes; severity info; };
	category queries { testbed_queries; };
	category default { testbed_general; };
	category lame-servers { null; };
};
$(flag dns-upstream-fail || echo 'zone "." { type primary; file "root.zone"; };')
zone "$DOMAIN" { type primary; file "cluster.local.zone"; };
zone "10.in-addr.arpa" { type primary; file "10.rev"; };
EOF
	mv "$d/named.conf.new" "$d/named.conf"
}

# dns-upstream-fail: names outside the cluster's zones go to a forwarder where nothing listens
named_resolution() {
	if flag dns-upstream-fail; then
		echo "recursion yes; allow-recursion { any; }; forward only; forwarders { 127.0.0.1 port $DEAD_FORWARDER_PORT; };"
	else
		echo "recursion no;"
	fi
}

# a changed named.conf (dns-upstream-fail) takes a restart
restart_named() {
	render_named_conf
	stop_daemon named "$(pod_ns "$DNS_POD")"
	flag dns-down || start_named
}

uses_nodelocal() { flag nodelocal || flag nodelocal-down; }

# the NodeLocal DNSCache stand-in: a caching forwarder in the node on its own dummy link
render_nodelocal_conf() {
	mkdir_p "$ST/nodelocal"
	cat >"$ST/nodelocal/named.conf" <<EOF
// svcprobe test bed: NodeLocal DNSCache stand-in (generated by scripts/testbed.sh)
options {
	directory "$ST/nodelocal";
	pid-file none;
	session-keyfile none;
	managed-keys-directory "$ST/nodelocal";
	listen-on port 53 { $NODELOCAL_IP; };
	listen-on-v6 { none; };
	recursion yes;
	allow-recursion { any; };
	allow-query { any; };
	forward only;
	forwarders { $DNS_VIP; };
	// BIND drops identical queries past 10 while one is being forwarded; CoreDNS does not
	clients-per-query 0;
	max-clients-per-query 0;
	dnssec-validation no;
	notify no;
	empty-zones-enable no;
};
controls { };
logging { category default { null; }; category lame-servers { null; }; };
EOF
}

# the cache runs under nodelocal and is stopped under nodelocal-down; its address stays
apply_nodelocal() {
	local i p
	if uses_nodelocal; then
		# the real cache puts it on a dummy link; this kernel may lack the module: lo does the same
		ip -n "$NODE_NS" addr replace "$NODELOCAL_IP/32" dev lo
	fi
	if flag nodelocal && ! flag nodelocal-down; then
		if ! pidfile_alive nodelocal "$NODE_NS"; then
			render_nodelocal_conf
			start_daemon nodelocal node -- "$(named_bin)" -f -n 1 -c "$ST/nodelocal/named.conf"
			for i in $(seq 1 150); do
				# answered by the cache itself, whatever the DNS Service behind it does
				[ -n "$(nsx "$NODE_NS" dig +short +time=1 +tries=1 "@$NODELOCAL_IP" version.bind CH TXT 2>/dev/null)" ] && break
				pidfile_alive nodelocal "$NODE_NS" || die "the nodelocal named exited; see $ST/logs/nodelocal.log"
				[ "$i" = 150 ] && die "the nodelocal named does not answer; see $ST/logs/nodelocal.log"
				sleep 0.02
			done
		fi
	else
		stop_daemon nodelocal "$NODE_NS"
	fi
	for p in "${PODS[@]}"; do write_pod_etc "${p%% *}"; done
}

named_bin() {
	# A Debian AppArmor profile confines /usr/sbin/named to /etc/bind, /var/cache/bind...; when it is
	# enforced, run a copy from the state dir (unconfined) so it can read/write our state dir.
	local b
	b=$(command -v named)
	if grep -qs '^named (enforce)' /sys/kernel/security/apparmor/profiles 2>/dev/null ||
		grep -qs '^/usr/sbin/named (enforce)' /sys/kernel/security/apparmor/profiles 2>/dev/null; then
		cp -f "$b" "$ST/named/named.bin"
		b=$ST/named/named.bin
	fi
	echo "$b"
}

# dig the DNS pod directly from the node (not through the VIP, so dns-drop etc. do not matter)
dns_direct() { # NAME TYPE
	nsx "$NODE_NS" dig +short +time=1 +tries=1 "@$DNS_IP" "$1" "$2" 2>/dev/null || true
}

start_named() {
	local i
	if pidfile_alive named "$(pod_ns "$DNS_POD")"; then return 0; fi
	: >>"$QUERYLOG"
	start_daemon named "$DNS_POD" -- "$(named_bin)" -f -n 1 -c "$ST/named/named.conf"
	for i in $(seq 1 100); do
		[ "$(dns_direct "kube-dns.kube-system.svc.$DOMAIN" A)" = "$DNS_VIP" ] && return 0
		pidfile_alive named "$(pod_ns "$DNS_POD")" || die "named exited; see $ST/logs/named.log"
		sleep 0.02
	done
	die "named did not answer within a few seconds; see $ST/logs/named.log"
}

# make named load changed zones, and wait until the answer shows it
# (named serves the serial render_zones last wrote once it has loaded every change)
zones_current() {
	local soa
	soa=$(dns_direct "$DOMAIN" SOA)
	set -- $soa
	[ "${3:-}" = "$(cat "$ST/named/serial" 2>/dev/null)" ]
}

reload_named() {
	local i pid
	pidfile_alive named "$(pod_ns "$DNS_POD")" || return 0
	zones_current && return 0
	pid=$(cat "$ST/pids/named.pid")
	kill -HUP "$pid"
	for i in $(seq 1 150); do
		zones_current && return 0
		sleep 0.02
	done
	die "named did not pick up the zone change; see $ST/logs/named.log"
}

# ---------------------------------------------------------------- backends
start_backend() { # pod
	local pod=$1 ns i port_hex=24A0
	ns=$(pod_ns "$pod")
	pidfile_alive "serve-$pod" "$ns" && return 0
	mkdir -p "$ST/www/$pod"
	echo "$pod" >"$ST/www/$pod/index.html"
	if [ -n "${SVCPROBE:-}" ] && [ -x "$SVCPROBE" ] && "$SVCPROBE" serve --help >/dev/null 2>&1; then
		start_daemon "serve-$pod" "$pod" -- "$SVCPROBE" serve --listen "0.0.0.0:$BACKEND_PORT"
	else
		start_daemon "serve-$pod" "$pod" -- busybox httpd -f -p "0.0.0.0:$BACKEND_PORT" -h "$ST/www/$pod"
	fi
	# wait until it listens: /proc/PID/net/tcp shows the sockets of the pod's netns
	local pid
	pid=$(cat "$ST/pids/serve-$pod.pid")
	for i in $(seq 1 200); do
		grep -q ":$port_hex 00000000:0000 0A" "/proc/$pid/net/tcp" 2>/dev/null && return 0
		[ -d "/proc/$pid" ] || die "server in $pod exited; see $ST/logs/serve-$pod.log"
		sleep 0.01
	done
	die "server in $pod does not listen on :$BACKEND_PORT; see $ST/logs/serve-$pod.log"
}

# ---------------------------------------------------------------- kube-proxy rules
# kube-proxy's fmt.Sprintf("%0.10f", 1.0/float64(k)), in integer arithmetic
probability() {
	local v=$(((100000000000 / $1 + 5) / 10))
	printf '%d.%010d' $((v / 10000000000)) $((v % 10000000000))
}

# globals filled by svc_rules
NAT_CHAINS=()
NAT_RULES=()
FILTER_RULES=()

# kube-proxy's rules for one service port. ENDPOINTS are ip:port (may be empty).
svc_rules() { # PORTNAME(ns/name:port) PROTO VIP PORT [ENDPOINT...]
	local spn=$1 proto=$2 vip=$3 port=$4 svc n i ep sep prob
	shift 4
	n=$#
	if [ "$n" -eq 0 ]; then
		FILTER_RULES+=("-A KUBE-SERVICES -m comment --comment \"$spn has no endpoints\" -m $proto -p $proto -d $vip --dport $port -j REJECT --reject-with icmp-port-unreachable")
		return 0
	fi
	kp_hash "$spn$proto"
	svc=KUBE-SVC-$REPLY
	NAT_CHAINS+=("$svc")
	NAT_RULES+=("-A KUBE-SERVICES -m comment --comment \"$spn cluster IP\" -m $proto -p $proto -d $vip --dport $port -j $svc")
	NAT_RULES+=("-A $svc -m comment --comment \"$spn cluster IP\" -m $proto -p $proto -d $vip --dport $port ! -s $CLUSTER_CIDR -j KUBE-MARK-MASQ")
	i=0
	for ep in "$@"; do
		kp_hash "$spn$proto$ep"
		sep=KUBE-SEP-$REPLY
		if [ "$i" -lt $((n - 1)) ]; then
			prob=$(probability $((n - i)))
			NAT_RULES+=("-A $svc -m comment --comment \"$spn -> $ep\" -m statistic --mode random --probability $prob -j $sep")
		else
			NAT_RULES+=("-A $svc -m comment --comment \"$spn -> $ep\" -j $sep")
		fi
		NAT_CHAINS+=("$sep")
		flag masq-mark-missing || NAT_RULES+=("-A $sep -m comment --comment $spn -s ${ep%:*} -j KUBE-MARK-MASQ")
		NAT_RULES+=("-A $sep -m comment --comment $spn -m $proto -p $proto -j DNAT --to-destination $ep")
		i=$((i + 1))
	done
}

# calls FN PORTNAME PROTO VIP PORT ENDPOINT... for each Service port, switches applied
kube_services() { # FN
	local fn=$1 b port eps=()
	"$fn" default/kubernetes:https tcp "$KUBERNETES_VIP" 443 "$NODE_IP:6443"
	if ! flag dns-vip-missing; then
		"$fn" kube-system/kube-dns:dns udp "$DNS_VIP" 53 "$DNS_IP:53"
		"$fn" kube-system/kube-dns:dns-tcp tcp "$DNS_VIP" 53 "$DNS_IP:53"
	fi
	"$fn" default/self:http tcp "$SELF_VIP" 80 "$(pod_ip "$SELF_BACKEND"):$BACKEND_PORT"
	if ! flag service-missing; then
		port=$BACKEND_PORT
		flag wrong-target-port && port=$WRONG_PORT
		if ! flag no-endpoints; then
			for b in "${BACKENDS[@]}"; do eps+=("$(pod_ip "$b"):$port"); done
			# a sync kube-proxy missed: a new pod not added, or a removed one still there
			flag endpoint-missing && unset 'eps[-1]'
			flag endpoint-stale && eps+=("$REMOVED_POD_IP:$port")
		fi
		flag rules-missing || "$fn" default/hostnames:http tcp "$HOSTNAMES_VIP" 80 "${eps[@]}"
	fi
}

proxy_mode() { cat "$ST/proxy-mode" 2>/dev/null || echo iptables; }

# kube-proxy's nftables-mode rules for one service port (pkg/proxy/nftables: chain names
# HASH-ns/name/proto/port[__ip/port], HASH = base32(sha256(name))[:8]), appended to NFT_LINES
NFT_LINES=()
svc_nft() { # PORTNAME(ns/name:port) PROTO VIP PORT [ENDPOINT...]
	local spn=$1 proto=$2 vip=$3 port=$4 base svc ep epc i=0 vmap=""
	shift 4
	base="${spn%%:*}/$proto/${spn##*:}"
	NFT_LINES+=("add element ip kube-proxy cluster-ips { $vip }")
	if [ "$#" -eq 0 ]; then
		NFT_LINES+=("add element ip kube-proxy no-endpoint-services { $vip . $proto . $port comment \"$spn\" : goto reject-chain }")
		return 0
	fi
	kp_hash "$base"
	svc="service-${REPLY:0:8}-$base"
	NFT_LINES+=("add chain ip kube-proxy $svc")
	NFT_LINES+=("add rule ip kube-proxy $svc ip daddr $vip $proto dport $port ip saddr != $CLUSTER_CIDR jump mark-for-masquerade")
	for ep in "$@"; do
		kp_hash "${base}__${ep%:*}/${ep##*:}"
		epc="endpoint-${REPLY:0:8}-${base}__${ep%:*}/${ep##*:}"
		NFT_LINES+=("add chain ip kube-proxy $epc")
		flag masq-mark-missing || NFT_LINES+=("add rule ip kube-proxy $epc ip saddr ${ep%:*} jump mark-for-masquerade")
		NFT_LINES+=("add rule ip kube-proxy $epc meta l4proto $proto dnat to $ep")
		vmap+="${vmap:+, }$i : goto $epc"
		i=$((i + 1))
	done
	NFT_LINES+=("add rule ip kube-proxy $svc numgen random mod $# vmap { $vmap }")
	NFT_LINES+=("add element ip kube-proxy service-ips { $vip . $proto . $port : goto $svc }")
}

# the whole kube-proxy table, replaced in one transaction (an empty one: kube-proxy-down)
render_nft() {
	echo "# generated by scripts/testbed.sh (kube-proxy nftables mode, shape of pkg/proxy/nftables)"
	echo "add table ip kube-proxy"
	echo "delete table ip kube-proxy"
	flag kube-proxy-down && return 0
	cat <<EOF_NFT
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
EOF_NFT
	NFT_LINES=()
	kube_services svc_nft
	local l
	for l in "${NFT_LINES[@]}"; do echo "$l"; done
}

render_rules() {
	local c r p
	NAT_CHAINS=()
	NAT_RULES=()
	FILTER_RULES=()
	local kp=1
	flag kube-proxy-down && kp=0
	# nftables mode: kube-proxy's rules are in render_nft; iptables keeps the test faults
	[ "$(proxy_mode)" = nftables ] && kp=0
	[ "$kp" = 1 ] && kube_services svc_rules
	local faults=()
	if flag dns-drop; then
		faults+=("-A TESTBED-FAULTS -d $DNS_IP/32 -p udp -m udp --dport 53 -m comment --comment \"testbed dns-drop\" -j DROP")
		faults+=("-A TESTBED-FAULTS -d $DNS_IP/32 -p tcp -m tcp --dport 53 -m comment --comment \"testbed dns-drop\" -j DROP")
	fi
	local proto
	for proto in udp tcp; do
		if flag "dns-$proto-drop"; then
			faults+=("-A TESTBED-FAULTS -d $DNS_IP/32 -p $proto -m $proto --dport 53 -m comment --comment \"testbed dns-$proto-drop\" -j DROP")
		fi
		if flag dns-drop-team-b; then
			for p in "${PODS[@]}"; do
				set -- $p
				[ "$2" = team-b ] && faults+=("-A TESTBED-FAULTS -s $3/32 -p $proto -m $proto --dport 53 -m comment --comment \"testbed dns-drop-team-b: team-b egress to port 53 denied\" -j DROP")
			done
		fi
	done
	if flag dns-flaky; then
		faults+=("-A TESTBED-FAULTS -d $DNS_IP/32 -p udp -m udp --dport 53 -m statistic --mode random --probability 0.2 -m comment --comment \"testbed dns-flaky\" -j DROP")
	fi
	if flag netpol-drop; then
		for b in "${BACKENDS[@]}"; do
			faults+=("-A TESTBED-FAULTS -d $(pod_ip "$b")/32 -p tcp -m tcp --dport $BACKEND_PORT -m comment --comment \"testbed netpol-drop: default/hostnames ingress denied\" -j DROP")
		done
	fi

	echo "# generated by scripts/testbed.sh (kube-proxy iptables mode, shape of pkg/proxy/iptables)"
	echo "*filter"
	echo ":INPUT ACCEPT [0:0]"
	echo ":FORWARD ACCEPT [0:0]"
	echo ":OUTPUT ACCEPT [0:0]"
	[ "${#faults[@]}" -gt 0 ] && echo ":TESTBED-FAULTS - [0:0]"
	if [ "$kp" = 1 ]; then
		for c in KUBE-EXTERNAL-SERVICES KUBE-FORWARD KUBE-NODEPORTS KUBE-PROXY-FIREWALL KUBE-SERVICES; do
			echo ":$c - [0:0]"
		done
	fi
	[ "${#faults[@]}" -gt 0 ] && echo "-A FORWARD -m comment --comment \"testbed failure switches\" -j TESTBED-FAULTS"
	if [ "$kp" = 1 ]; then
		cat <<'EOF'
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
EOF
		for r in "${FILTER_RULES[@]}"; do echo "$r"; done
	fi
	for r in "${faults[@]}"; do echo "$r"; done
	echo "COMMIT"
	echo "*nat"
	echo ":PREROUTING ACCEPT [0:0]"
	echo ":INPUT ACCEPT [0:0]"
	echo ":OUTPUT ACCEPT [0:0]"
	echo ":POSTROUTING ACCEPT [0:0]"
	if [ "$kp" = 1 ]; then
		for c in KUBE-MARK-MASQ KUBE-NODEPORTS KUBE-POSTROUTING KUBE-SERVICES "${NAT_CHAINS[@]}"; do
			echo ":$c - [0:0]"
		done
		cat <<'EOF'
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
EOF
		for r in "${NAT_RULES[@]}"; do echo "$r"; done
		echo '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'
	fi
	echo "COMMIT"
}

apply_rules() {
	local restore
	restore=$(cat "$ST/iptables-restore")
	render_rules >"$ST/iptables.rules.new"
	if [ "$(proxy_mode)" = nftables ]; then render_nft; fi >>"$ST/iptables.rules.new"
	if cmp -s "$ST/iptables.rules.new" "$ST/iptables.rules" && [ -e "$ST/iptables.applied" ]; then
		rm -f "$ST/iptables.rules.new"
		return 0
	fi
	mv "$ST/iptables.rules.new" "$ST/iptables.rules"
	rm -f "$ST/iptables.applied"
	render_rules | nsx "$NODE_NS" "$restore" -w 5 ||
		die "$restore failed in $NODE_NS (rules in $ST/iptables.rules)"
	if [ "$(proxy_mode)" = nftables ]; then
		render_nft >"$ST/kube-proxy.nft"
		nsx "$NODE_NS" nft -f "$ST/kube-proxy.nft" ||
			die "nft -f failed in $NODE_NS (rules in $ST/kube-proxy.nft)"
	fi
	: >"$ST/iptables.applied"
	# entries conntrack already rewrote would survive the rule change
	nsx "$NODE_NS" conntrack -F >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- node and pods
set_node_sysctls() {
	local bnf=1
	flag bridge-nf-off && bnf=0
	nsx "$NODE_NS" sh -c "echo 1 >/proc/sys/net/ipv4/ip_forward && echo $bnf >/proc/sys/net/bridge/bridge-nf-call-iptables"
}

set_hairpin() {
	local p v mode
	for p in "${PODS[@]}"; do
		set -- $p
		mode=on
		flag hairpin-off && mode=off
		v=$(veth_of "$1")
		ip -n "$NODE_NS" link set dev "$v" type bridge_slave hairpin "$mode"
	done
}

set_promisc() {
	local mode=off
	flag bridge-promisc && mode=on
	ip -n "$NODE_NS" link set dev "$BRIDGE" promisc "$mode"
}

create_node() {
	if ! ns_exists "$NODE_NS"; then
		ip netns add "$NODE_NS"
	fi
	ip -n "$NODE_NS" link set lo up
	if ! ip -n "$NODE_NS" link show "$BRIDGE" >/dev/null 2>&1; then
		ip -n "$NODE_NS" link add "$BRIDGE" type bridge
	fi
	ip -n "$NODE_NS" addr replace "$GW/24" dev "$BRIDGE"
	ip -n "$NODE_NS" link set "$BRIDGE" up
	# the node's uplink: a veth whose peer ("uplink", inside the node too) stays down, with a
	# permanent neighbour entry for the gateway, so whatever is routed out is dropped silently
	if ! ip -n "$NODE_NS" link show eth0 >/dev/null 2>&1; then
		ip -n "$NODE_NS" link add eth0 type veth peer name uplink
	fi
	ip -n "$NODE_NS" addr replace "$NODE_IP/24" dev eth0
	ip -n "$NODE_NS" link set eth0 up
	ip -n "$NODE_NS" neigh replace "$NODE_UPLINK_GW" lladdr "$NODE_UPLINK_MAC" dev eth0 nud permanent
	ip -n "$NODE_NS" route replace default via "$NODE_UPLINK_GW" dev eth0 onlink
	# br_netfilter: per-netns sysctl; present once the (built-in or loaded) module exists
	if ! nsx "$NODE_NS" test -e /proc/sys/net/bridge/bridge-nf-call-iptables; then
		note "loading br_netfilter (needed for bridge-nf-call-iptables)"
		modprobe br_netfilter 2>/dev/null || true
		nsx "$NODE_NS" test -e /proc/sys/net/bridge/bridge-nf-call-iptables ||
			die "net.bridge.bridge-nf-call-iptables does not exist in $NODE_NS (br_netfilter unavailable)"
	fi
}

create_pod() { # name
	local pod=$1 ns ip v
	ns=$(pod_ns "$pod")
	ip=$(pod_ip "$pod")
	v=$(veth_of "$pod")
	ns_exists "$ns" || ip netns add "$ns"
	ip -n "$ns" link set lo up
	if ! ip -n "$NODE_NS" link show "$v" >/dev/null 2>&1 || ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
		ip -n "$NODE_NS" link del "$v" 2>/dev/null || true
		ip -n "$ns" link del eth0 2>/dev/null || true
		# created directly in the two namespaces: the root netns never holds the link
		ip link add "$v" netns "$NODE_NS" type veth peer name eth0 netns "$ns"
	fi
	ip -n "$NODE_NS" link set "$v" master "$BRIDGE"
	ip -n "$NODE_NS" link set "$v" up
	ip -n "$ns" addr replace "$ip/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route replace default via "$GW" dev eth0
	write_pod_etc "$pod"
}

cmd_up() {
	need_root
	need_tools
	mkdir_p "$ST/pids" "$ST/switches" "$ST/www" "$ST/named" "$ST/logs"
	[ -f "$ST/iptables-restore" ] || ipt_restore >"$ST/iptables-restore"
	if [ ! -f "$ST/proxy-mode" ]; then
		case "${TESTBED_PROXY_MODE:-iptables}" in
		iptables | nftables) echo "${TESTBED_PROXY_MODE:-iptables}" >"$ST/proxy-mode" ;;
		*) die "TESTBED_PROXY_MODE must be iptables or nftables" ;;
		esac
	fi
	command -v "$(cat "$ST/iptables-restore")" >/dev/null ||
		die "$(cat "$ST/iptables-restore") not found (Debian package iptables)"
	# `ip netns add` sets /run/netns up as a shared mount the first time; serialize that step
	# between beds brought up in parallel
	exec 9<"$STATE_BASE"
	flock -w 10 9 || die "could not lock $STATE_BASE"
	create_node
	local p
	for p in "${PODS[@]}"; do ns_exists "$(pod_ns "${p%% *}")" || ip netns add "$(pod_ns "${p%% *}")"; done
	flock -u 9
	exec 9<&-
	for p in "${PODS[@]}"; do create_pod "${p%% *}"; done
	set_node_sysctls
	set_hairpin
	set_promisc
	apply_rules
	render_named_conf
	render_zones
	if flag dns-down; then
		stop_daemon named "$(pod_ns "$DNS_POD")"
	else
		start_named
		reload_named
	fi
	uses_nodelocal && apply_nodelocal
	for p in "${BACKENDS[@]}"; do
		if [ "$p" = "$DOWN_BACKEND" ] && flag backend-down; then
			stop_daemon "serve-$p" "$(pod_ns "$p")"
		else
			start_backend "$p"
		fi
	done
}

cmd_down() {
	need_root
	local p ns pids
	# 1. daemons we started, by pidfile
	if [ -d "$ST/pids" ]; then
		for p in "${PODS[@]}"; do
			p=${p%% *}
			ns=$(pod_ns "$p")
			stop_daemon named "$ns"
			stop_daemon "serve-$p" "$ns"
		done
		stop_daemon nodelocal "$NODE_NS"
	fi
	# 2. anything else still running inside this bed's namespaces (e.g. `exec` commands left behind)
	for ns in "$NODE_NS" $(for p in "${PODS[@]}"; do pod_ns "${p%% *}"; done); do
		ns_exists "$ns" || continue
		pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
		if [ -n "${pids// /}" ]; then
			# shellcheck disable=SC2086
			kill_pids $pids
		fi
	done
	# 3. namespaces (deleting the node netns also deletes the bridge and all veth pairs)
	for p in "${PODS[@]}"; do
		ns=$(pod_ns "${p%% *}")
		ns_exists "$ns" && ip netns del "$ns"
		rm -rf "/etc/netns/$ns"
	done
	ns_exists "$NODE_NS" && ip netns del "$NODE_NS"
	rm -rf "/etc/netns/$NODE_NS"
	rmdir /etc/netns 2>/dev/null || true
	# 4. state
	rm -rf "$ST"
	rmdir "$STATE_BASE" 2>/dev/null || true
	return 0
}

cmd_status() {
	need_root
	local p ns up=1 name
	echo "prefix $PREFIX, state $ST"
	if ns_exists "$NODE_NS"; then echo "node    $NODE_NS"; else echo "node    $NODE_NS MISSING"; up=0; fi
	for p in "${PODS[@]}"; do
		set -- $p
		ns=$(pod_ns "$1")
		local s="ok"
		ns_exists "$ns" || { s="MISSING"; up=0; }
		case "$4" in
		dns) pidfile_alive named "$ns" && s="$s, named running" || s="$s, named not running" ;;
		backend) pidfile_alive "serve-$1" "$ns" && s="$s, server running" || s="$s, server not running" ;;
		esac
		printf '%-26s %-12s %-11s %s: %s\n' "$1" "$2" "$3" "$ns" "$s"
	done
	local on=()
	for name in "${SWITCHES[@]}"; do flag "$name" && on+=("$name"); done
	echo "broken: ${on[*]:-none}"
	echo "query log: $QUERYLOG"
	[ "$up" = 1 ]
}

cmd_exec() {
	need_root
	[ $# -ge 1 ] || die "usage: exec POD [--] CMD..."
	local pod ns
	if [ "$1" = node ]; then
		pod=node
		ns=$NODE_NS
	else
		pod=$(pod_name "$1") || { echo "$PROG: unknown pod '$1'" >&2; exit 125; }
		ns=$(pod_ns "$pod")
	fi
	shift
	[ "${1:-}" = -- ] && shift
	[ $# -ge 1 ] || { echo "$PROG: exec: no command" >&2; exit 125; }
	ns_exists "$ns" || { echo "$PROG: $ns does not exist (run: $0 -p $PREFIX up)" >&2; exit 125; }
	exec ip netns exec "$ns" unshare --uts sh -c \
		'busybox hostname "$0" || exit 125; if [ -S /run/nscd/socket ]; then mount -t tmpfs none /run/nscd; fi; exec "$@"' \
		"$pod" "$@"
}

valid_switch() {
	local s
	for s in "${SWITCHES[@]}"; do [ "$s" = "$1" ] && return 0; done
	die "unknown switch '$1' (see: $0 switches)"
}

# apply whatever the switch flags now say
apply_switch() {
	case "$1" in
	service-missing)
		apply_rules
		render_zones
		reload_named
		;;
	no-endpoints | wrong-target-port | masq-mark-missing | kube-proxy-down | dns-drop | netpol-drop | \
		rules-missing | endpoint-stale | endpoint-missing | dns-vip-missing | dns-udp-drop | dns-tcp-drop | \
		dns-drop-team-b | dns-flaky)
		apply_rules
		;;
	dns-upstream-fail) restart_named ;;
	nodelocal | nodelocal-down) apply_nodelocal ;;
	backend-down)
		if flag backend-down; then stop_daemon "serve-$DOWN_BACKEND" "$(pod_ns "$DOWN_BACKEND")"; else start_backend "$DOWN_BACKEND"; fi
		;;
	dns-down)
		if flag dns-down; then stop_daemon named "$(pod_ns "$DNS_POD")"; else start_named; fi
		;;
	resolv-no-search | resolv-low-ndots)
		local p
		for p in "${PODS[@]}"; do write_pod_etc "${p%% *}"; done
		;;
	hairpin-off) set_hairpin ;;
	bridge-promisc) set_promisc ;;
	bridge-nf-off)
		set_node_sysctls
		nsx "$NODE_NS" conntrack -F >/dev/null 2>&1 || true
		;;
	esac
}

require_up() {
	ns_exists "$NODE_NS" && [ -d "$ST/switches" ] || die "test bed '$PREFIX' is not up (run: $0 -p $PREFIX up)"
}

cmd_break() {
	need_root
	[ $# -ge 1 ] || die "usage: break SWITCH..."
	local s
	for s in "$@"; do valid_switch "$s"; done
	require_up
	for s in "$@"; do
		: >"$ST/switches/$s"
		apply_switch "$s"
	done
}

cmd_fix() {
	need_root
	[ $# -ge 1 ] || die "usage: fix SWITCH...|all"
	local s list=("$@")
	[ "$1" = all ] && list=("${SWITCHES[@]}")
	for s in "${list[@]}"; do valid_switch "$s"; done
	require_up
	for s in "${list[@]}"; do
		if flag "$s" || [ "$1" != all ]; then
			rm -f "$ST/switches/$s"
			apply_switch "$s"
		fi
	done
}

cmd_switches() {
	local s st
	for s in "${SWITCHES[@]}"; do
		st=off
		[ -e "$ST/switches/$s" ] && st=on
		printf '%-18s %s\n' "$s" "$st"
	done
}

# one fact per line, so that a test reads them without knowing bash
cmd_topology() {
	local p
	echo "domain $DOMAIN"
	echo "bridge-ip $GW"
	echo "node-ip $NODE_IP"
	echo "backend-port $BACKEND_PORT"
	echo "service kube-system/kube-dns $DNS_VIP"
	echo "service default/hostnames $HOSTNAMES_VIP"
	echo "service default/kubernetes $KUBERNETES_VIP"
	echo "service default/self $SELF_VIP"
	for p in "${PODS[@]}"; do echo "pod $p"; done
	echo "dns-pod $DNS_POD"
	echo "nodelocal-ip $NODELOCAL_IP"
	echo "backends ${BACKENDS[*]}"
	echo "down-backend $DOWN_BACKEND"
	echo "self-backend $SELF_BACKEND"
	echo "switches ${SWITCHES[*]}"
}

case "$CMD" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
exec) cmd_exec "$@" ;;
ns)
	[ $# -eq 1 ] || die "usage: ns POD"
	if [ "$1" = node ]; then echo "$NODE_NS"; else p=$(pod_name "$1") || die "unknown pod '$1'"; pod_ns "$p"; fi
	;;
ip)
	[ $# -eq 1 ] || die "usage: ip POD"
	if [ "$1" = node ]; then echo "$GW"; else pod_ip "$1" || die "unknown pod '$1'"; fi
	;;
pods)
	for p in "${PODS[@]}"; do set -- $p; echo "$1 $2 $3 $(pod_ns "$1")"; done
	;;
topology) cmd_topology ;;
querylog) echo "$QUERYLOG" ;;
clear-querylog)
	need_root
	[ -f "$QUERYLOG" ] || die "no query log at $QUERYLOG (is the bed up?)"
	: >"$QUERYLOG"
	;;
break) cmd_break "$@" ;;
fix) cmd_fix "$@" ;;
switches) cmd_switches ;;
rules)
	need_root
	require_up
	nsx "$NODE_NS" "$(ipt_save)"
	[ "$(proxy_mode)" = iptables ] || nsx "$NODE_NS" nft list table ip kube-proxy
	;;
*) die "unknown command '$CMD' (see: $0 --help)" ;;
esac
