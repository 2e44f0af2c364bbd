#!/usr/bin/env bash
# Package the kubectl plugin (plugin/kubectl-svcprobe) for krew, as the archive that
# deploy/krew/svcprobe.yaml names: byte-for-byte reproducible (one file, fixed mtime, owner and
# mode, ustar; gzip without a name or time stamp), so that the manifest's sha256 can be checked
# against a fresh build (tests/plugin.rs does) and a release can upload exactly this file.
#
# USAGE
#   scripts/krew-package.sh [--update-manifest] [ARCHIVE]
#     ARCHIVE            default out/kubectl-svcprobe.tar.gz
#     --update-manifest  write the archive's sha256 into deploy/krew/svcprobe.yaml
#   Prints the archive's path and its sha256. Needs GNU tar, gzip and sha256sum (coreutils).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
update=0
if [[ ${1:-} == --update-manifest ]]; then
    update=1
    shift
fi
archive=${1:-$repo/out/kubectl-svcprobe.tar.gz}
manifest=$repo/deploy/krew/svcprobe.yaml

work=$(mktemp -d "${TMPDIR:-/tmp}/svcprobe-krew.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$repo/plugin/kubectl-svcprobe" "$work/kubectl-svcprobe"
mkdir -p "$(dirname "$archive")"
tar --format=ustar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --mode=0755 -C "$work" -cf - kubectl-svcprobe | gzip -9 -n >"$work/archive.tar.gz"
mv "$work/archive.tar.gz" "$archive"
sha=$(sha256sum "$archive" | cut -d' ' -f1)
if ((update)); then
    sed -i "s/^\(\s*sha256: \).*/\1$sha/" "$manifest"
fi
echo "$archive $sha"
