//! Text view of `hairpin`: the verdict first, then the counts, then the attempts that tell
//! the story (those that reached this pod, failed or were slow). 80 columns; nothing the
//! JSON does not have.

use std::fmt::Write as _;

use super::Text;
use crate::report::{
    HairpinAttempt, HairpinReport, HairpinStatus, Landed, LatencyStats, TcpOutcome,
};

const WIDTH: usize = 80;
/// Attempt lines shown; the JSON has them all.
const MAX_ATTEMPT_LINES: usize = 12;

/// Wraps `text` to the terminal width, indenting continuation lines by `indent`.
fn wrap(out: &mut String, first: &str, text: &str, indent: usize) {
    let mut line = first.to_string();
    for word in text.split_whitespace() {
        if line.chars().count() + 1 + word.chars().count() > WIDTH && line.chars().count() > indent
        {
            let _ = writeln!(out, "{line}");
            line = " ".repeat(indent);
        } else if !line.ends_with(' ') && !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    let _ = writeln!(out, "{line}");
}

fn latency(l: &Option<LatencyStats>) -> String {
    match l {
        Some(l) => format!("median {:.2} ms, max {:.2} ms", l.median_ms, l.max_ms),
        None => "-".into(),
    }
}

fn attempt_line(a: &HairpinAttempt) -> String {
    let landed = match (a.landed, a.slow) {
        (Some(l), true) => format!("{l}, slow"),
        (Some(l), false) => l.to_string(),
        (None, _) => String::new(),
    };
    let extra = match (&a.seen_as, &a.icmp, &a.detail) {
        (Some(peer), _, _) => format!("seen as {peer}"),
        (None, Some(icmp), _) => format!("ICMP {} from {}", icmp.description, icmp.from),
        (None, None, Some(_)) if a.outcome == TcpOutcome::Timeout => String::new(),
        (None, None, Some(d)) => d.clone(),
        (None, None, None) => String::new(),
    };
    let line = format!(
        "  #{:<4}{} {:<10} {:<11} {:>9.2} ms  {extra}",
        a.seq,
        if a.recheck { "r" } else { " " },
        a.outcome,
        landed,
        a.duration_ms
    );
    if line.chars().count() <= WIDTH {
        return line;
    }
    let mut cut: String = line.chars().take(WIDTH - 1).collect();
    cut.push('…');
    cut
}

impl Text for HairpinReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let v = &self.verdict;
        let status = match v.status {
            HairpinStatus::Pass => "PASS",
            HairpinStatus::Fail => "FAIL",
            HairpinStatus::Inconclusive => "INCONCLUSIVE",
        };
        let target = match self.service.as_deref() {
            Some(s) if s != self.target => format!("{} ({s})", self.target),
            _ => self.target.clone(),
        };
        let from = self.pod_ip.as_deref().unwrap_or("?");
        wrap(
            &mut out,
            "",
            &format!("hairpin {target} from {from}: {status} [{}]", v.reason),
            2,
        );
        wrap(&mut out, "  ", &v.summary, 2);
        if let Some(p) = v
            .p_self_if_healthy
            .filter(|_| v.status != HairpinStatus::Pass)
        {
            let _ = writeln!(
                out,
                "  odds a working hairpin shows up in {} attempts: {p:.4}",
                self.summary.attempts
            );
        }
        let ports: Vec<String> = self.listening_ports.iter().map(u16::to_string).collect();
        let _ = writeln!(
            out,
            "  listening: {}{}",
            if ports.is_empty() {
                "(nothing)".into()
            } else {
                ports.join(" ")
            },
            self.target_port
                .map(|p| format!("  (targetPort {p})"))
                .unwrap_or_default()
        );
        let s = &self.summary;
        if s.attempts > 0 {
            let _ = writeln!(
                out,
                "  {} attempts: {} reached this pod, {} another endpoint, {} failed, {} slow{}",
                s.attempts,
                s.reached_self,
                s.reached_other,
                s.failed,
                s.slow,
                if self.deadline_exceeded {
                    " (deadline)"
                } else {
                    ""
                }
            );
            if let Some(r) = &self.recheck {
                let timeouts = r.outcomes.get(&TcpOutcome::Timeout).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "  of which {} spaced out 5 ms apart: {} timed out, {} slow",
                    r.attempts, timeouts, r.slow
                );
            }
            let _ = writeln!(out, "  to this pod:  {}", latency(&s.latency_self));
            let _ = writeln!(out, "  to others:    {}", latency(&s.latency_other));
            let telling: Vec<&HairpinAttempt> = self
                .attempts
                .iter()
                .filter(|a| a.landed != Some(Landed::OtherPod) || a.slow)
                .take(MAX_ATTEMPT_LINES)
                .collect();
            for a in telling {
                let _ = writeln!(out, "{}", attempt_line(a));
            }
        }
        if let Some(hint) = &v.hint {
            wrap(&mut out, "  hint:", hint, 8);
        }
        out
    }
}
