//! The text view of `svcprobe dns`: where this pod's DNS goes, the checklist, the verdict,
//! as `diagnose` prints them.

use super::diagnose::{checklist, verdict};
use super::Text;
use crate::decimal::shortest;
use crate::report::DnsReport;
use crate::text::wrap;

impl Text for DnsReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let head = format!(
            "dns from {} ({}), nameserver {} ({} ms)",
            self.context.hostname.as_deref().unwrap_or("unknown host"),
            self.context
                .pod_ip
                .as_deref()
                .unwrap_or("no route to the DNS server"),
            self.nameservers.join(" "),
            shortest(self.duration_ms.round())
        );
        wrap(&mut out, "", &head);
        checklist(&mut out, &self.checks);
        verdict(&mut out, &self.verdict);
        out
    }
}
