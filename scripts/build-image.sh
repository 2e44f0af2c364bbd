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
# at once. The layer is then compressed again with zopfli's deflate (`pigz -11`): still gzip, which every
# runtime reads, and about 38 KB (4 %) smaller than buildah's level 9 for a node to pull (BENCHMARKS.md).
# Needs root (or a user namespace) and the packages buildah, pigz and jq.
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

for tool in buildah pigz jq; do
    command -v "$tool" >/dev/null || die "$tool not found (run scripts/deps.sh)"
done
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
# Level 1: the layer is compressed again below.
buildah_ push --quiet --compression-format gzip --compression-level 1 "$id" "oci-archive:$archive:svcprobe:latest"

# The layer with zopfli (3 iterations: 0.2 % larger than pigz's default 15, in a third of the time). The
# uncompressed tar, and so the config's diff_id, is unchanged; the manifest names the new blob, the index the
# new manifest.
oci=$work/oci
mkdir "$oci"
tar -xf "$archive" -C "$oci"
blob() { echo "$oci/blobs/sha256/${1#sha256:}"; }
# replace OLD_DIGEST FILE: FILE becomes a blob; prints its digest and size as jq arguments.
replace() {
    local digest
    digest=sha256:$(sha256sum "$2" | cut -d' ' -f1)
    rm "$(blob "$1")"
    mv "$2" "$(blob "$digest")"
    echo "--arg digest $digest --argjson size $(stat -c %s "$(blob "$digest")")"
}
manifest=$(jq -r '.manifests[0].digest' "$oci/index.json")
layer=$(jq -r '.layers[0].digest' "$(blob "$manifest")")
gzip -dc "$(blob "$layer")" | pigz -11 -I 3 -n >"$oci/layer"
# shellcheck disable=SC2046 # replace prints jq's arguments, split on purpose
jq -c $(replace "$layer" "$oci/layer") '.layers[0].digest = $digest | .layers[0].size = $size' \
    "$(blob "$manifest")" >"$oci/manifest"
# shellcheck disable=SC2046
jq -c $(replace "$manifest" "$oci/manifest") '.manifests[0].digest = $digest | .manifests[0].size = $size' \
    "$oci/index.json" >"$oci/index"
mv "$oci/index" "$oci/index.json"
tar -cf "$archive" -C "$oci" --sort=name --owner=0 --group=0 --numeric-owner oci-layout index.json blobs
echo "$archive"
