//! The container image is part of what svcprobe ships, so it is tested like the binary: this test runs
//! `scripts/build-image.sh` on the shipped binary (scripts/build.sh), unpacks the OCI archive with
//! `tar`, and checks what a cluster would pull: one layer holding only a static `svcprobe` and its
//! kubectl plugin (plugin/kubectl-svcprobe), the non-root user, the entrypoint, and the sizes. It
//! needs root and buildah (`scripts/deps.sh`), like the other integration tests.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::bin;
use serde_json::Value;

/// The shipped binary (the pinned-nightly build of ship/config.toml) may not grow unnoticed:
/// 1,584,776 bytes at f63c32b (2026-11-30: our own HTTP client, decimal parser and printer, and
/// iptables-save spawn in place of ureq, core's dec2flt and flt2dec and std's `Command`), with
/// node, the exporter and the DNS Service checks in; this ceiling is about 10 KB above
/// (BENCHMARKS.md, "Size steps"). Issue 12's target is under 1,650,000: a change that needs more
/// says in BENCHMARKS.md what the bytes bought and raises this.
const BINARY_BYTES_UNDER: u64 = 1_595_000;
/// What a node pulls: the gzip layer (zopfli, scripts/build-image.sh). 840,448 bytes at f63c32b,
/// with the functions laid out by name, nslookup's first (scripts/build.sh); issue 12's target is
/// under 900,000. About 10 KB above, so that growth is seen.
const LAYER_BYTES_UNDER: u64 = 850_000;
/// Where scripts/build.sh puts the shipped binary (ship/config.toml's target-dir).
const SHIPPED_PATH: &str = "target/ship/x86_64-unknown-linux-musl/release/svcprobe";

/// The binary to package: the shipped one. scripts/test.sh names it in `SVCPROBE_BIN`; under a
/// plain `cargo test` it is the one scripts/build.sh left in the target directory, which must
/// then exist (Cargo's own binary for the tests is a debug build for the host: not what ships).
fn shipped_binary() -> PathBuf {
    if std::env::var_os(bin::SHIPPED).is_some_and(|v| !v.is_empty()) {
        return PathBuf::from(bin::svcprobe());
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SHIPPED_PATH);
    assert!(
        path.is_file(),
        "no shipped binary at {}: run scripts/test.sh, or scripts/build.sh first",
        path.display()
    );
    eprintln!(
        "image test: packaging {} (not rebuilt by this test)",
        path.display()
    );
    path
}

/// A scratch directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "svcprobe-image-test.{}.{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read_json(path: &Path) -> Value {
    let text = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The blob a descriptor (`{"digest": "sha256:..."}`) points to, in an unpacked OCI layout.
fn blob(layout: &Path, descriptor: &Value) -> PathBuf {
    let digest = descriptor["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("descriptor without digest: {descriptor}"));
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    layout.join("blobs/sha256").join(hex)
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    let b = bytes.get(at..at + 2).expect("ELF truncated");
    u16::from_le_bytes([b[0], b[1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let b: [u8; 4] = bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .expect("ELF truncated");
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let b: [u8; 8] = bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .expect("ELF truncated");
    u64::from_le_bytes(b)
}

/// What matters for a `FROM scratch` image, read from the ELF headers: the file type, whether a
/// program interpreter (dynamic loader) is requested, and the shared libraries it needs.
#[derive(Debug)]
struct ElfLinkage {
    file_type: u16,
    interpreter: bool,
    needed: usize,
}

const ET_EXEC: u16 = 2;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;

/// Parses a little-endian ELF64 file, which is all svcprobe ships.
fn elf_linkage(bytes: &[u8]) -> ElfLinkage {
    assert_eq!(bytes.get(..4), Some(&b"\x7fELF"[..]), "not an ELF file");
    assert_eq!(
        bytes.get(4..6),
        Some(&[2u8, 1][..]),
        "not ELF64 little-endian"
    );
    let file_type = u16_at(bytes, 0x10);
    let phoff = u64_at(bytes, 0x20) as usize;
    let phentsize = u16_at(bytes, 0x36) as usize;
    let phnum = u16_at(bytes, 0x38) as usize;
    let mut linkage = ElfLinkage {
        file_type,
        interpreter: false,
        needed: 0,
    };
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        match u32_at(bytes, ph) {
            PT_INTERP => linkage.interpreter = true,
            PT_DYNAMIC => {
                let offset = u64_at(bytes, ph + 8) as usize;
                let size = u64_at(bytes, ph + 32) as usize;
                for entry in (offset..offset + size).step_by(16) {
                    match u64_at(bytes, entry) {
                        DT_NULL => break,
                        DT_NEEDED => linkage.needed += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    linkage
}

#[test]
fn elf_linkage_of_a_dynamic_binary_is_seen() {
    // The check below must be able to fail: the host's own dynamic tools have an interpreter.
    let sh = fs::read("/bin/sh").expect("read /bin/sh");
    let linkage = elf_linkage(&sh);
    assert!(linkage.interpreter && linkage.needed > 0, "{linkage:?}");
}

#[test]
fn image_is_one_static_binary_run_as_nobody() {
    let binary = shipped_binary();
    let binary_bytes = fs::read(&binary).expect("read binary");

    let linkage = elf_linkage(&binary_bytes);
    assert!(
        !linkage.interpreter && linkage.needed == 0,
        "{} is not static: {linkage:?}",
        binary.display()
    );
    assert_eq!(
        linkage.file_type, ET_EXEC,
        "expected a non-PIE static executable (relocation-model=static in .cargo/config.toml)"
    );
    assert!(
        (binary_bytes.len() as u64) < BINARY_BYTES_UNDER,
        "binary is {} bytes, not under the {BINARY_BYTES_UNDER}-byte target",
        binary_bytes.len()
    );

    let tmp = TempDir::new();
    let archive = tmp.0.join("svcprobe.oci.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-image.sh");
    run(Command::new(&script).arg(&binary).arg(&archive));

    let layout = tmp.0.join("layout");
    fs::create_dir(&layout).expect("mkdir layout");
    run(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout));

    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().expect("index.manifests");
    assert_eq!(manifests.len(), 1, "index: {index}");
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.ref.name"],
        "svcprobe:latest"
    );
    let manifest = read_json(&blob(&layout, &manifests[0]));
    let layers = manifest["layers"].as_array().expect("manifest.layers");
    assert_eq!(layers.len(), 1, "expected exactly one layer: {manifest}");

    let config = read_json(&blob(&layout, &manifest["config"]));
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["config"]["User"], "65534:65534", "{config}");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/svcprobe"]),
        "{config}"
    );
    assert!(
        config["config"]["Cmd"].is_null(),
        "no default Cmd: {config}"
    );
    let diff_ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    assert_eq!(diff_ids.len(), 1, "{config}");

    let layer = blob(&layout, &layers[0]);
    let layer_bytes = fs::metadata(&layer).expect("layer blob").len();
    assert!(
        layer_bytes < LAYER_BYTES_UNDER,
        "compressed layer is {layer_bytes} bytes, not under {LAYER_BYTES_UNDER}"
    );
    assert_eq!(layers[0]["size"].as_u64(), Some(layer_bytes));

    let listing = run(Command::new("tar")
        .arg("--numeric-owner")
        .arg("-tvzf")
        .arg(&layer));
    let mut entries: Vec<Vec<&str>> = listing
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    entries.sort_by_key(|fields| fields.last().copied());
    let names: Vec<&str> = entries.iter().filter_map(|f| f.last().copied()).collect();
    assert_eq!(
        names,
        ["kubectl-svcprobe", "svcprobe"],
        "layer must hold only svcprobe and its kubectl plugin:\n{listing}"
    );
    for fields in &entries {
        assert_eq!(fields.first(), Some(&"-r-xr-xr-x"), "{listing}");
        assert_eq!(fields.get(1), Some(&"0/0"), "{listing}");
    }

    let rootfs = tmp.0.join("rootfs");
    fs::create_dir(&rootfs).expect("mkdir rootfs");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&layer)
        .arg("-C")
        .arg(&rootfs));
    let packaged = fs::read(rootfs.join("svcprobe")).expect("read packaged binary");
    assert!(
        packaged == binary_bytes,
        "the image holds a different binary"
    );
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin/kubectl-svcprobe");
    assert!(
        fs::read(rootfs.join("kubectl-svcprobe")).ok() == fs::read(plugin).ok(),
        "the image holds a different kubectl plugin"
    );

    // The image's root as a container runtime would see it: nothing but the binary, run as nobody.
    // Directories from the temp dir are 0700; nobody must be able to reach /svcprobe.
    run(Command::new("chmod").arg("0755").arg(&tmp.0).arg(&rootfs));
    let version = run(Command::new("chroot")
        .arg("--userspec=65534:65534")
        .arg(&rootfs)
        .arg("/svcprobe")
        .arg("--version")
        .env_clear()
        // What the image's config gives a container, and what finds `chroot` here.
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ));
    assert!(version.starts_with("svcprobe "), "{version:?}");
}
