//! Replays the kept fuzz corpora through the functions the fuzz targets call
//! (`svcprobe::fuzz`), on stable and without fuzzing: an input that once crashed a parser, or
//! once drove it somewhere new, fails the normal test run if it breaks it again. The corpora
//! are `fuzz/corpus/TARGET` (minimized by `cargo fuzz cmin`) and `fuzz/regressions/TARGET`
//! (inputs that crashed once); FUZZING.md says how they were made.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Generous for a debug build on a busy machine; the slowest kept input takes milliseconds.
const PER_INPUT: Duration = Duration::from_secs(5);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `fuzz/corpus/TARGET` and `fuzz/regressions/TARGET`, sorted.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["corpus", "regressions"]
        .iter()
        .filter_map(|kind| fs::read_dir(fuzz_dir().join(kind).join(target)).ok())
        .flatten()
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    files
}

/// Runs every input of `target` through `entry`, each on its own thread so that a hang is
/// reported (with the file) instead of stalling the suite.
fn replay(target: &str, entry: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no corpus for fuzz target {target} in {}",
        fuzz_dir().display()
    );
    for file in files {
        let bytes = fs::read(&file).expect("read corpus file");
        let (done, finished) = mpsc::channel();
        thread::spawn(move || {
            entry(&bytes);
            let _ = done.send(());
        });
        match finished.recv_timeout(PER_INPUT) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{target}: {} took over {PER_INPUT:?}", file.display())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("{target}: {} panicked (message above)", file.display())
            }
        }
    }
}

#[test]
fn every_fuzz_target_has_a_replay() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let targets: BTreeSet<&str> = manifest
        .lines()
        .filter_map(|line| line.strip_prefix("name = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .filter(|name| *name != "svcprobe-fuzz")
        .collect();
    let replayed = BTreeSet::from([
        "command_line",
        "dns_message",
        "exporter_config",
        "http_request_head",
        "http_response",
        "icmp_error",
        "ip_vs",
        "ipt_entries",
        "iptables_save",
        "k8s_objects",
        "nf_tables_dump",
        "resolv_conf",
        "sock_diag",
    ]);
    assert_eq!(
        targets, replayed,
        "fuzz/Cargo.toml's targets vs this file's"
    );
}

#[test]
fn command_line() {
    replay("command_line", svcprobe::fuzz::command_line);
}

#[test]
fn dns_message() {
    replay("dns_message", svcprobe::fuzz::dns_message);
}

#[test]
fn exporter_config() {
    replay("exporter_config", svcprobe::fuzz::exporter_config);
}

#[test]
fn http_request_head() {
    replay("http_request_head", svcprobe::fuzz::http_request_head);
}

#[test]
fn http_response() {
    replay("http_response", svcprobe::fuzz::http_response);
}

#[test]
fn icmp_error() {
    replay("icmp_error", svcprobe::fuzz::icmp_error);
}

#[test]
fn k8s_objects() {
    replay("k8s_objects", svcprobe::fuzz::k8s_objects);
}

#[test]
fn resolv_conf() {
    replay("resolv_conf", svcprobe::fuzz::resolv_conf);
}

#[test]
fn sock_diag() {
    replay("sock_diag", svcprobe::fuzz::sock_diag);
}

#[test]
fn nf_tables_dump() {
    replay("nf_tables_dump", svcprobe::fuzz::nf_tables_dump);
}

#[test]
fn ipt_entries() {
    replay("ipt_entries", svcprobe::fuzz::ipt_entries);
}

#[test]
fn iptables_save() {
    replay("iptables_save", svcprobe::fuzz::iptables_save);
}

#[test]
fn ip_vs() {
    replay("ip_vs", svcprobe::fuzz::ip_vs);
}
