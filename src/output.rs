//! Printing reports: JSON (the default, for scripts) and a short text view for people.
//! The text view fits an 80-column terminal and never carries more than the JSON does.

mod diagnose;
mod dns;
mod hairpin;
mod node;
mod probes;

use std::io;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::cli::Format;
use crate::decimal::{fixed, shortest};
use crate::error::Error;
use crate::report::{
    Envelope, ErrorDetail, ErrorReport, Finding, LookupStatus, NslookupReport, ResolvConfReport,
    SCHEMA_VERSION,
};
use crate::text::{self, wrap};

/// A report that also has a human view.
/// A check's mark in the text views' checklists.
fn mark(status: crate::report::CheckStatus) -> &'static str {
    match status {
        crate::report::CheckStatus::Pass => "[ ok ]",
        crate::report::CheckStatus::Warn => "[warn]",
        crate::report::CheckStatus::Fail => "[FAIL]",
        crate::report::CheckStatus::Skip => "[skip]",
    }
}

pub trait Text {
    fn text(&self) -> String;
}

/// Prints `report` on stdout. A closed pipe (`| head`) is not an error.
pub fn emit<T: Serialize + Text>(envelope: &Envelope<T>, format: Format) -> io::Result<()> {
    match format {
        Format::Json => print_json(envelope),
        // Untrusted text that a view did not escape is escaped here, before the terminal.
        Format::Text => write_stdout(&text::escape_lines(&envelope.report.text())),
    }
}

/// Room for a whole `nslookup` report (2 to 6 KB): grown from serde_json's default 128
/// bytes it was five reallocations, each a fresh block of musl's allocator.
const JSON_CAPACITY: usize = 8 << 10;

/// Prints a document as the JSON output does: pretty, with a final newline, in one write.
/// Serialised into a `Vec` like every other JSON document of svcprobe: a writer type of its
/// own would compile serde's code for every report type a second time (28 KB).
fn print_json<T: Serialize>(value: &T) -> io::Result<()> {
    let mut out = Vec::with_capacity(JSON_CAPACITY);
    serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::other)?;
    out.push(b'\n');
    write_stdout_bytes(&out)
}

/// Prints an error: one line on stderr, and, when JSON was asked for and the command
/// line itself was fine, a JSON error report on stdout so a script has a document to parse.
pub fn emit_error(command: &'static str, error: &Error, format: Format) -> io::Result<()> {
    eprintln!("svcprobe: {}", text::escape(&error.to_string()));
    if format == Format::Text || matches!(error, Error::Usage(_)) {
        return Ok(());
    }
    print_json(&error_envelope(command, error))
}

/// The JSON `error` document of a command that could not run (also `exporter`'s debug view
/// of such a probe).
pub fn error_envelope(command: &'static str, error: &Error) -> Envelope<ErrorReport> {
    Envelope {
        schema_version: SCHEMA_VERSION,
        command,
        ok: false,
        report: ErrorReport {
            error: ErrorDetail {
                kind: error.kind(),
                message: error.to_string(),
            },
        },
    }
}

/// Prints `text` on stdout in one go. A closed pipe is not an error.
pub fn write_stdout(text: &str) -> io::Result<()> {
    write_stdout_bytes(text.as_bytes())
}

/// Standard output with write(2), not std's `stdout()`: every document is written whole
/// and at once, so its line buffer would only copy it, and that buffer's 1 KiB heap block is
/// a page that musl's allocator maps, and unmaps at exit. The lock keeps lines from threads
/// (the exporter's) whole.
fn write_stdout_bytes(bytes: &[u8]) -> io::Result<()> {
    static STDOUT: Mutex<()> = Mutex::new(());
    let _lock = STDOUT.lock().unwrap_or_else(PoisonError::into_inner);
    match write_all(bytes) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// write(2) to stdout until all of `bytes` is out, as std's `write_all` on stdout does:
/// retried when interrupted, and a closed stdout (EBADF) swallows the output without an
/// error.
fn write_all(mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: write(2) reads at most `bytes.len()` bytes of the live slice.
        let n = unsafe { libc::write(libc::STDOUT_FILENO, bytes.as_ptr().cast(), bytes.len()) };
        match usize::try_from(n) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(_) => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EBADF) => return Ok(()),
                    _ => return Err(e),
                }
            }
        }
    }
    Ok(())
}

fn findings_text(out: &mut String, findings: &[Finding]) {
    for f in findings {
        let line = f.line.map(|l| format!(" (line {l})")).unwrap_or_default();
        wrap(
            out,
            "          ",
            &format!("  {:<7} {}{line}: {}", severity_label(f), f.code, f.message),
        );
    }
}

fn severity_label(f: &Finding) -> &'static str {
    match f.severity {
        crate::report::Severity::Error => "ERROR",
        crate::report::Severity::Warning => "WARN",
        crate::report::Severity::Info => "info",
    }
}

impl Text for ResolvConfReport {
    fn text(&self) -> String {
        let mut out = String::new();
        wrap(&mut out, "  ", &self.file);
        let servers: Vec<String> = self
            .nameservers
            .iter()
            .map(|n| {
                if n.used_by_glibc {
                    n.address.clone()
                } else {
                    format!("{} (ignored)", n.address)
                }
            })
            .collect();
        wrap(
            &mut out,
            "               ",
            &format!("  nameservers: {}", or_none(&servers.join(" "))),
        );
        wrap(
            &mut out,
            "               ",
            &format!("  search:      {}", or_none(&self.search.join(" "))),
        );
        wrap(
            &mut out,
            "               ",
            &format!(
                "  glibc:       ndots:{} timeout:{}s attempts:{} {}",
                self.glibc.ndots,
                self.glibc.timeout_s,
                self.glibc.attempts,
                self.glibc.flags.join(" ")
            ),
        );
        wrap(
            &mut out,
            "               ",
            &format!(
                "  musl:        ndots:{} timeout:{}s attempts:{} search: {}",
                self.musl.ndots,
                self.musl.timeout_s,
                self.musl.attempts,
                or_none(&self.musl.search.join(" "))
            ),
        );
        if let Some(k) = &self.kubernetes {
            let ns = k.namespace.as_deref().unwrap_or("?");
            wrap(
                &mut out,
                "               ",
                &format!(
                    "  kubernetes:  namespace {ns}, cluster domain {}",
                    k.cluster_domain
                ),
            );
        }
        if self.findings.is_empty() {
            wrap(&mut out, "  ", "no findings");
        } else {
            wrap(&mut out, "  ", "findings:");
            findings_text(&mut out, &self.findings);
        }
        out
    }
}

impl Text for NslookupReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let a = &self.answer;
        let data: Vec<&str> = a.records.iter().map(|r| r.data.as_str()).collect();
        let headline = match a.status {
            LookupStatus::Resolved => format!("{} -> {}", self.name, data.join(" ")),
            status => format!("{} -> {}", self.name, status.as_str().to_uppercase()),
        };
        wrap(
            &mut out,
            "  ",
            &format!("{headline}   ({}: {})", a.libc.name(), a.reason),
        );
        let waits = [&self.answer, &self.other_libc];
        if waits.iter().any(|w| w.app_wait_ms > 0) {
            let each: Vec<String> = waits
                .iter()
                .map(|w| {
                    let seconds = fixed(w.app_wait_ms as f64 / 1000.0, 1);
                    format!("{} {seconds} s", w.libc.name())
                })
                .collect();
            wrap(
                &mut out,
                "  ",
                &format!(
                    "timeouts an application sits out: {}; svcprobe took {} ms",
                    each.join(", "),
                    shortest(self.duration_ms.round())
                ),
            );
        }
        wrap(
            &mut out,
            "  ",
            &format!("queries ({} ms):", shortest(self.duration_ms.round())),
        );
        for q in &self.queries {
            let answers: Vec<String> = q
                .answers
                .iter()
                .map(|r| format!("{} ttl={}", r.data, r.ttl))
                .collect();
            wrap(
                &mut out,
                "      ",
                &format!(
                    "  {:<42} {:<5} {:<9} {:>7} ms  {}{}",
                    q.name,
                    q.record_type,
                    q.rcode,
                    fixed(q.duration_ms, 1),
                    if q.transport == "tcp" { "tcp " } else { "" },
                    answers.join(", ")
                ),
            );
        }
        wrap(
            &mut out,
            "  ",
            &format!("server(s): {}", self.nameservers.join(" ")),
        );
        match &self.libc_disagreement {
            Some(why) => {
                wrap(&mut out, "  ", &format!("glibc and musl DISAGREE: {why}"));
            }
            None => {
                wrap(
                    &mut out,
                    "  ",
                    &format!("{} agrees.", self.other_libc.libc.name()),
                );
            }
        }
        if !self.findings.is_empty() {
            wrap(&mut out, "  ", "findings:");
            findings_text(&mut out, &self.findings);
        }
        out
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "(none)"
    } else {
        s
    }
}
