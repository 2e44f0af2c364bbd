//! The text view of `diagnose`: the checklist with a mark per check, then the verdict,
//! wrapped for an 80-column terminal. It is read after the run, from its last screen, so
//! it is kept short where the JSON is long: a hint is shown once however many checks give
//! it, DNS names that fail the same way are one entry, and a skip says only why (its
//! remedy is in the JSON, and in the verdict's next steps when the verdict needs it).

use std::collections::BTreeSet;

use super::Text;
use crate::decimal::shortest;
use crate::report::{
    Check, CheckId, CheckStatus, DiagnoseReport, Evidence, LookupStatus, Rcode, Verdict,
};
use crate::text::wrap;

/// One entry of the checklist: a check, or DNS name checks that failed the same way.
struct Entry<'a> {
    status: CheckStatus,
    ids: Vec<CheckId>,
    summary: String,
    hint: Option<&'a str>,
}

impl Text for DiagnoseReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let r = &self.service_ref;
        let head = format!(
            "diagnose {} port {} ({} ms; namespace from {}, domain from {})",
            r.fqdn,
            self.port,
            shortest(self.duration_ms.round()),
            r.namespace_source.name(),
            r.cluster_domain_source.name()
        );
        wrap(&mut out, "", &head);
        checklist(&mut out, &self.checks);
        verdict(&mut out, &self.verdict);
        out
    }
}

/// One line per entry (a mark, the ids, the summary), each hint once.
pub(super) fn checklist(out: &mut String, checks: &[Check]) {
    let mut hints_shown: BTreeSet<&str> = BTreeSet::new();
    for entry in entries(checks) {
        let mark = super::mark(entry.status);
        let line = match entry.ids.as_slice() {
            [id] => format!("{mark} {id:<22} {}", entry.summary),
            ids => {
                let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
                format!("{mark} {}: {}", ids.join(", "), entry.summary)
            }
        };
        wrap(out, "       ", &line);
        if let Some(hint) = entry.hint.filter(|h| hints_shown.insert(h)) {
            wrap(out, "         ", &format!("       -> {hint}"));
        }
    }
}

/// The verdict after a blank line, and its next steps.
pub(super) fn verdict(out: &mut String, verdict: &Verdict) {
    out.push('\n');
    wrap(
        out,
        "  ",
        &format!("verdict: {}: {}", verdict.cause, verdict.summary),
    );
    for step in &verdict.next_steps {
        wrap(out, "    ", &format!("  - {step}"));
    }
}

/// The checklist's entries: consecutive DNS name checks that fail with the same glibc
/// status are one entry (their ids say which names; the status is how they failed), with
/// the first one's hint; `dns-server` joins them when its queries failed the same way.
fn entries(checks: &[Check]) -> Vec<Entry<'_>> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut group: Option<LookupStatus> = None;
    for check in checks {
        let failed_lookup = match (&check.evidence, check.status) {
            (Evidence::DnsName(e), CheckStatus::Fail) => Some(e.glibc.status),
            (Evidence::DnsServer(e), CheckStatus::Fail) => match e.queries.first().map(|q| q.rcode)
            {
                Some(Rcode::Timeout) => Some(LookupStatus::Timeout),
                Some(Rcode::Unreachable) => Some(LookupStatus::Unreachable),
                _ => None,
            },
            _ => None,
        };
        if let (Some(status), Some(last)) = (failed_lookup, entries.last_mut()) {
            if group == Some(status) {
                last.ids.push(check.id);
                last.summary = status.to_string();
                continue;
            }
        }
        group = failed_lookup;
        entries.push(entry(check));
    }
    entries
}

fn entry(check: &Check) -> Entry<'_> {
    // A skipped API read says why in full; when the read was tried and refused, its hint
    // (the RBAC to grant) is the way on.
    let api_skip = check.id == CheckId::Api && check.status == CheckStatus::Skip;
    let api_refused = api_skip && matches!(check.evidence, Evidence::Api(_));
    let summary = if check.status == CheckStatus::Skip && !api_skip {
        check.skip_reason().to_string()
    } else {
        check.summary.clone()
    };
    let hint_shown = matches!(check.status, CheckStatus::Warn | CheckStatus::Fail) || api_refused;
    Entry {
        status: check.status,
        ids: vec![check.id],
        summary,
        hint: check.hint.as_deref().filter(|_| hint_shown),
    }
}
