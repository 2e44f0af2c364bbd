#!/usr/bin/env bash
# svcprobe's one test command (README's, and all .ci/run runs): installs what is missing, checks
# formatting and lints, builds the shipped static binary, and runs every test against that very binary.
#
#   1. scripts/deps.sh                                Debian packages, musl target, clippy, rustfmt, pinned nightly
#   2. cargo fmt --all -- --check
#   3. cargo clippy --workspace --all-targets -- -D warnings
#   4. scripts/build.sh                               the binary that ships (pinned nightly, std rebuilt for
#                                                     size, target/ship/): ship/config.toml
#   5. SVCPROBE_BIN=<that binary> cargo test          unit tests (built by Cargo in the dev profile, so they
#      unwind and report each failure), and integration tests that run the binary from step 4
#      (tests/common/bin.rs): whole-command tests, end-to-end tests in network-namespace test beds, and the
#      container image test
#   6. scripts/build-image.sh BINARY                  out/svcprobe.oci.tar from that binary
#
# Needs root (network namespaces, mounts, chroot, apt). Extra arguments go to `cargo test`, e.g.
# `scripts/test.sh --test image` or `scripts/test.sh -- --nocapture`. Exits non-zero at the first failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
start=$SECONDS

step() {
    printf '\n==> [%ss] %s\n' "$((SECONDS - start))" "$*" >&2
    "$@"
}

step scripts/deps.sh
step cargo fmt --all -- --check
step cargo clippy --locked --workspace --all-targets -- -D warnings
binary=$(step scripts/build.sh)
export SVCPROBE_BIN=$binary
step cargo test --locked "$@"
step scripts/build-image.sh "$binary"
printf '\n==> [%ss] all passed; binary %s (%s bytes), image out/svcprobe.oci.tar\n' \
    "$((SECONDS - start))" "${binary#"$PWD"/}" "$(stat -c %s "$binary")" >&2
