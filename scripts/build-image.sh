#!/usr/bin/env bash
# Build svcprobe's container image from the locally built static binary, without a Docker engine or a
# registry: buildah (vfs storage, chroot isolation) runs the Containerfile's final stage with
# BINARY_FROM=prebuilt on a build context that holds only the binary, and writes an OCI archive.
#
# USAGE
#   scripts/build-image.sh [--build] [BINARY [ARCHIVE]]
#     BINARY   default target/ship/x86_64-unknown-linux-musl/release/svcprobe, the shipped build
#              (scripts/build.sh); a stable build works too: target/x86_64-unknown-linux-musl/release/svcprobe
#     ARCHIVE  default out/svcprobe.oci.tar (image name svcprobe:latest inside it)
#     --build  run scripts/build.sh first
#   Load it elsewhere with e.g. `podman load -i out/svcprobe.oci.tar` or `skopeo copy oci-archive:... docker://...`.
#
# buildah uses a private storage root under a temporary directory that is removed on exit, so no
# containers or images are left behind in the machine's buildah/podman storage, and several builds can run
# at once. Needs root (or a user namespace) and the package buildah.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=0
if [[ ${1:-} == --build ]]; then
    build=1
    shift
fi
binary=${1:-$repo/target/ship/x86_64-unknown-linux-musl/release/svcprobe}
archive=${2:-$repo/out/svcprobe.oci.tar}

die() {
    echo "build-image.sh: $*" >&2
    exit 1
}

command -v buildah >/dev/null || die "buildah not found (run scripts/deps.sh)"
if ((build)); then
    "$repo/scripts/build.sh" >/dev/null
fi
[[ -f $binary ]] || die "no binary at $binary; build it with scripts/build.sh (or pass --build)"

work=$(mktemp -d "${TMPDIR:-/tmp}/svcprobe-image.XXXXXX")
cleanup() {
    # vfs storage holds plain directories; anything buildah left there goes with it.
    buildah --root "$work/root" --runroot "$work/run" --storage-driver vfs rm --all >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/context"
cp "$binary" "$work/context/svcprobe"
cp "$repo/plugin/kubectl-svcprobe" "$work/context/kubectl-svcprobe"
buildah_() { buildah --root "$work/root" --runroot "$work/run" --storage-driver vfs "$@"; }

# --timestamp 0: fixed creation time and file mtimes, so the same binary gives the same image digest.
id=$(buildah_ bud --quiet --isolation chroot --layers=false --timestamp 0 \
    -f "$repo/Containerfile" --build-arg BINARY_FROM=prebuilt --target image \
    "$work/context")
mkdir -p "$(dirname "$archive")"
rm -f "$archive"
# gzip at level 9 rather than buildah's default: about 24 KB less for a node to pull, at no cost to it.
buildah_ push --quiet --compression-format gzip --compression-level 9 "$id" "oci-archive:$archive:svcprobe:latest"
echo "$archive"
