//! `svcprobe resolvconf`: the guide's "read /etc/resolv.conf" step, done by a machine.

use std::time::Instant;

use crate::cli::ResolvconfArgs;
use crate::error::Error;
use crate::report::{Envelope, Libc, ResolvConfReport, Severity, SCHEMA_VERSION};
use crate::resolvconf;

pub fn run(args: &ResolvconfArgs) -> Result<Envelope<ResolvConfReport>, Error> {
    let text = crate::input::read_text(&args.file, Instant::now() + crate::input::READ_TIME)?;
    Ok(report(&args.file.display().to_string(), &text))
}

/// The report for `text`, read from `file`. Fails (`ok: false`) only on error findings.
pub fn report(file: &str, text: &str) -> Envelope<ResolvConfReport> {
    let conf = resolvconf::parse(text);
    let findings = conf.lint();
    let ok = findings.iter().all(|f| f.severity < Severity::Error);
    Envelope {
        schema_version: SCHEMA_VERSION,
        command: "resolvconf",
        ok,
        report: ResolvConfReport {
            file: file.to_string(),
            nameservers: conf.nameserver_entries(),
            search: conf.effective(Libc::Glibc).search,
            options: conf.options.clone(),
            glibc: conf.effective(Libc::Glibc).to_report(),
            musl: conf.effective(Libc::Musl).to_report(),
            kubernetes: conf.kubernetes_context(),
            findings,
        },
    }
}
