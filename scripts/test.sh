#!/usr/bin/env bash
# svcprobe's one test command (README's, and all .ci/run runs): installs what is missing, checks
# formatting and lints, builds the shipped static binary, and runs every test against that very binary.
#
#   1. scripts/deps.sh                                     Debian packages, musl target, clippy, rustfmt
#   2. cargo fmt --all -- --check
#   3. cargo clippy --all-targets -- -D warnings
#   4. cargo build --release --target x86_64-unknown-linux-musl    the binary that ships
#   5. cargo test --release --target x86_64-unknown-linux-musl     unit tests, and integration tests whose
#      CARGO_BIN_EXE_svcprobe is the binary from step 4 (same profile and target, so Cargo reuses it):
#      whole-command tests, end-to-end tests in network-namespace test beds, the container image test
#   6. scripts/build-image.sh                              out/svcprobe.oci.tar from that binary
#
# Needs root (network namespaces, mounts, chroot, apt). Extra arguments go to `cargo test`, e.g.
# `scripts/test.sh image` or `scripts/test.sh -- --nocapture`. Exits non-zero at the first failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
target=x86_64-unknown-linux-musl
start=$SECONDS

step() {
    printf '\n==> [%ss] %s\n' "$((SECONDS - start))" "$*" >&2
    "$@"
}

step scripts/deps.sh
step cargo fmt --all -- --check
step cargo clippy --locked --all-targets -- -D warnings
step cargo build --locked --release --target "$target"
step cargo test --locked --release --target "$target" "$@"
step scripts/build-image.sh
printf '\n==> [%ss] all passed; binary target/%s/release/svcprobe (%s bytes), image out/svcprobe.oci.tar\n' \
    "$((SECONDS - start))" "$target" "$(stat -c %s "target/$target/release/svcprobe")" >&2
