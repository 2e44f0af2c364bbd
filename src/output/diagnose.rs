//! The text view of `diagnose`: the checklist with a mark per check, then the verdict,
//! wrapped for an 80-column terminal.

use std::fmt::Write as _;

use super::Text;
use crate::report::{CheckId, CheckStatus, DiagnoseReport};

const WIDTH: usize = 80;

impl Text for DiagnoseReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let r = &self.service_ref;
        let head = format!(
            "diagnose {} port {} ({} ms; namespace from {}, domain from {})",
            r.fqdn,
            self.port,
            self.duration_ms.round(),
            r.namespace_source.name(),
            r.cluster_domain_source.name()
        );
        wrap(&mut out, "", &head);
        for check in &self.checks {
            let mark = match check.status {
                CheckStatus::Pass => "[ ok ]",
                CheckStatus::Warn => "[warn]",
                CheckStatus::Fail => "[FAIL]",
                CheckStatus::Skip => "[skip]",
            };
            wrap(
                &mut out,
                "       ",
                &format!("{mark} {:<22} {}", check.id, check.summary),
            );
            // A refused API read is a skip, but its hint (the RBAC to grant) is the way on.
            let shown = matches!(check.status, CheckStatus::Warn | CheckStatus::Fail)
                || (check.id == CheckId::Api && check.status == CheckStatus::Skip);
            if let (Some(hint), true) = (&check.hint, shown) {
                wrap(&mut out, "         ", &format!("       -> {hint}"));
            }
        }
        let _ = writeln!(out);
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

/// Writes `text` in lines of at most 80 columns, continuation lines indented by `indent`.
fn wrap(out: &mut String, indent: &str, text: &str) {
    let body = text.trim_start();
    // Leading spaces are the first line's indentation, not words.
    let mut line = text[..text.len() - body.len()].to_string();
    let lead = line.len();
    for word in body.split(' ') {
        let width = line.chars().count();
        if width > lead && width + 1 + word.chars().count() > WIDTH {
            let _ = writeln!(out, "{}", line.trim_end());
            line = indent.to_string();
        } else if width > lead {
            line.push(' ');
        }
        if word.chars().count() > WIDTH - indent.len() {
            let cut: String = word.chars().take(WIDTH - indent.len() - 1).collect();
            line.push_str(&cut);
            line.push('…');
        } else {
            line.push_str(word);
        }
    }
    let _ = writeln!(out, "{}", line.trim_end());
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_80_columns() {
        let mut out = String::new();
        let long = "word ".repeat(50) + &"x".repeat(120);
        wrap(&mut out, "    ", &long);
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        assert!(out.lines().count() > 3);
    }
}
