#!/usr/bin/env bash
# Install what svcprobe's build, tests, image and benchmark need on a fresh Debian 12 machine.
# Idempotent and fast when everything is there: apt runs only when a package is missing, rustup only when
# the musl target, a component or the shipped binary's pinned nightly is missing. Run as root. Used by
# scripts/test.sh (and so by .ci/run).
#
# Rust itself is expected to be installed with rustup (cargo and rustup on PATH or in ~/.cargo/bin); if it
# is not, rustup's installer is fetched from https://sh.rustup.rs (stable, minimal profile).
set -euo pipefail

packages=(
    build-essential musl-tools           # cc for build scripts; musl-gcc for ring's C code
    bind9 bind9-dnsutils busybox-static  # the test bed's DNS server; dig and busybox as peers
    iptables conntrack nftables iproute2 util-linux procps  # the test bed's node and pods
    wrk hyperfine time                   # benchmarks (/usr/bin/time reports peak RSS)
    buildah pigz jq                      # scripts/build-image.sh
    tcpdump                              # tests/libc_oracle.rs: what the C libraries send
    prometheus prometheus-blackbox-exporter  # tests/exporter.rs: the exporter's real peers
    curl ca-certificates git
    python3 openssl                      # tests/http_client.rs: real chunked and HTTPS servers
    shellcheck                           # tests/plugin.rs: the kubectl plugin is POSIX sh, shellcheck clean
)
# tests/plugin.rs runs the kubectl plugin with the machine's kubectl; Debian's when there is none.
if ! command -v kubectl >/dev/null; then
    packages+=(kubernetes-client)
fi

if [[ $(id -u) != 0 ]]; then
    echo "deps.sh: must run as root (it installs Debian packages; the tests create network namespaces)." >&2
    echo "deps.sh: try: sudo $0" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    # dpkg -s exits 0 for a package in state "deinstall" too; ask for its status word instead.
    if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    echo "deps.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v rustup >/dev/null; then
    echo "deps.sh: installing Rust (rustup, stable, minimal profile)" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi
installed_targets=$(rustup target list --installed)
if ! grep -qx x86_64-unknown-linux-musl <<<"$installed_targets"; then
    rustup target add x86_64-unknown-linux-musl
fi
installed_components=$(rustup component list --installed)
for c in clippy rustfmt; do
    if ! grep -q "^$c" <<<"$installed_components"; then
        rustup component add "$c"
    fi
done

# The shipped binary's toolchain (ship/rust-toolchain.toml; scripts/build.sh). Installed explicitly: rustup
# does not install a toolchain file's toolchain by itself where RUSTUP_AUTO_INSTALL=0.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
nightly=$(sed -n 's/^channel = "\(.*\)"$/\1/p' "$repo/ship/rust-toolchain.toml")
[[ -n $nightly ]] || { echo "deps.sh: no channel in ship/rust-toolchain.toml" >&2; exit 1; }
# Its musl std and rust-src (for build-std) both have to be there.
have_nightly() {
    local libdir
    libdir=$(rustup run "$nightly" rustc --print target-libdir --target x86_64-unknown-linux-musl 2>/dev/null) &&
        [[ -d $libdir ]] &&
        rustup component list --installed --toolchain "$nightly" 2>/dev/null | grep -q '^rust-src'
}
if ! have_nightly; then
    rustup toolchain install "$nightly" --profile minimal --component rust-src --target x86_64-unknown-linux-musl
fi
