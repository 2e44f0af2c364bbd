//! The text view of `node`: the checklist with a mark per check, then the verdict, wrapped
//! for an 80-column terminal. A skip shows its reason; a warning or failure its hint.

use super::Text;
use crate::decimal::shortest;
use crate::report::{CheckStatus, NodeReport};
use crate::text::{escape, wrap};

impl Text for NodeReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let target = match &self.service {
            Some(s) => format!(
                "{}/{}{}",
                s.namespace,
                s.name,
                s.cluster_ip
                    .as_deref()
                    .map(|ip| format!(
                        " ({ip}{})",
                        s.port.map(|p| format!(":{p}")).unwrap_or_default()
                    ))
                    .unwrap_or_default()
            ),
            None => "node-wide checks only".to_string(),
        };
        wrap(
            &mut out,
            "",
            &format!(
                "node {target} ({} ms; profile {}{})",
                shortest(self.duration_ms.round()),
                self.privileges.profile,
                if self.privileges.host_root_present {
                    format!(", host root {}", self.privileges.host_root)
                } else {
                    String::new()
                }
            ),
        );
        for check in &self.checks {
            let mark = super::mark(check.status);
            wrap(
                &mut out,
                "       ",
                &format!("{mark} {:<18} {}", check.id, escape(&check.summary)),
            );
            if let Some(hint) = check
                .hint
                .as_deref()
                .filter(|_| matches!(check.status, CheckStatus::Warn | CheckStatus::Fail))
            {
                wrap(&mut out, "         ", &format!("       -> {hint}"));
            }
        }
        out.push('\n');
        wrap(
            &mut out,
            "  ",
            &format!("verdict: {}: {}", self.verdict.cause, self.verdict.summary),
        );
        for step in &self.verdict.next_steps {
            wrap(&mut out, "    ", &format!("  - {step}"));
        }
        out
    }
}
