//! Which svcprobe the integration tests run, and which exits they accept from it.
//!
//! The tests are meant to check the bytes that ship: scripts/test.sh builds them with
//! scripts/build.sh (pinned nightly, std rebuilt, panics abort at once, its own target
//! directory) and names the result in `SVCPROBE_BIN`. A plain `cargo test` has no such variable
//! and runs the binary Cargo built for the tests, which prints a message when it panics.
//!
//! The shipped binary has no panic message: a panic is an illegal instruction (SIGILL; exit 132
//! through a shell). svcprobe documents exits 0-3 only (README: exit codes), so every other
//! status is a crash and fails the test, even where the test expected some failure.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::OnceLock;

/// The environment variable scripts/test.sh sets to the shipped binary's absolute path.
pub const SHIPPED: &str = "SVCPROBE_BIN";

/// The binary under test: `SVCPROBE_BIN` when set, else Cargo's `CARGO_BIN_EXE_svcprobe`.
/// Always an absolute path, because tests also run it inside the test bed's pods.
pub fn svcprobe() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| match std::env::var(SHIPPED) {
        Ok(path) if !path.is_empty() => {
            let file = Path::new(&path);
            assert!(
                file.is_absolute() && file.is_file(),
                "{SHIPPED}={path}: not an absolute path to a file"
            );
            path
        }
        _ => env!("CARGO_BIN_EXE_svcprobe").to_string(),
    })
}

/// Panics unless `status` is one of svcprobe's documented exit codes (0-3); `context` is
/// shown with the failure (the command's output, say).
pub fn assert_documented_exit(status: ExitStatus, context: &str) {
    match (status.code(), status.signal()) {
        (Some(0..=3), _) => {}
        (Some(132), _) | (_, Some(4)) => panic!(
            "svcprobe crashed (SIGILL: a panic in the shipped binary, which aborts without a \
             message; rerun the case under plain `cargo test` to see it): {status}\n{context}"
        ),
        _ => panic!("svcprobe exited outside 0-3 (undocumented): {status}\n{context}"),
    }
}
