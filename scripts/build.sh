#!/usr/bin/env bash
# Build the svcprobe binary that ships: the one the image packages, the benchmark measures and
# scripts/test.sh runs every integration test against. Prints its path.
#
# USAGE
#   scripts/build.sh      -> target/ship/x86_64-unknown-linux-musl/release/svcprobe
#
# The settings are in ship/config.toml (each with why) and the pinned nightly in
# ship/rust-toolchain.toml; scripts/deps.sh installs that toolchain. Running cargo from ship/ is what makes
# rustup pick the pinned nightly; `--config` adds the size settings on top of .cargo/config.toml.
# Without the nightly, `cargo build --release --target x86_64-unknown-linux-musl` (stable) builds a
# working binary about 0.8 MB larger (README: "Building").
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
toolchain=$(sed -n 's/^channel = "\(.*\)"$/\1/p' "$repo/ship/rust-toolchain.toml")
if ! rustup run "$toolchain" rustc --print sysroot >/dev/null 2>&1; then
    echo "build.sh: toolchain $toolchain is not installed: run scripts/deps.sh" >&2
    exit 1
fi
command -v c++filt >/dev/null || {
    echo "build.sh: c++filt not found (Debian package binutils)" >&2
    exit 1
}
# ship/config.toml's target-dir keeps this build apart from `cargo test`; a CARGO_TARGET_DIR in the
# environment would override it.
cd "$repo/ship"
build() { env -u CARGO_TARGET_DIR cargo --config config.toml build --quiet --locked --release; }
# The order lld lays functions out in (ship/config.toml, --symbol-ordering-file): first the functions
# `svcprobe nslookup` runs (ship/hot-symbols.txt, scripts/hot-symbols.sh), so that they sit on few pages
# (nslookup's peak RSS), then every other by demangled name, leading `<` and `&` dropped so that a type's
# trait impls sit with its module (like code within gzip's window: a smaller layer). It comes from the map
# of the link just made; when it differs from the one that link used, link again with it (Cargo does not
# watch the file: touching main.rs makes it link the binary again, not recompile the library).
order=$repo/target/ship/symbol-order.txt
mkdir -p "$repo/target/ship"
[[ -f $order ]] || : >"$order"
build
# A section without a name of its own (`:(.text)`: musl's and ring's assembly, crt1's _start) goes by the
# first symbol in it, the line below it in the map.
names=$(awk '
    plain { plain = 0; if (NF == 5 && $5 ~ /^[A-Za-z_][A-Za-z0-9_]*$/) print $5 }
    /:\(\.text\)$/ { plain = 1 }
    match($0, /:\(\.(text|rodata)\.[^)]*\)$/) { name = substr($0, RSTART + 3, RLENGTH - 4); sub(/^[a-z]+\./, "", name); print name }
' "$repo/target/ship/svcprobe.map" | LC_ALL=C sort -u)
fresh=$(paste <(c++filt <<<"$names" | sed -E 's/\[[0-9a-f]{16}\]//g') <(echo "$names") |
    awk -F'\t' '
        FNR == NR { if ($0 !~ /^#/) hot[$0] = 1; next }
        { key = $1; sub(/^([<&(\[]|mut |dyn )+/, "", key); print (($1 in hot) ? 0 : 1) "\t" key "\t" $2 }
    ' "$repo/ship/hot-symbols.txt" - | LC_ALL=C sort | cut -f3)
if [[ $fresh != "$(cat "$order")" ]]; then
    echo "$fresh" >"$order"
    touch "$repo/src/main.rs"
    build
fi
echo "$repo/target/ship/x86_64-unknown-linux-musl/release/svcprobe"
