//! Text view of `hairpin`: the verdict first, then the counts, then the attempts that tell
//! the story (those that reached this pod, failed or were slow). 80 columns; nothing the
//! JSON does not have.

use super::Text;
use crate::decimal::fixed;
use crate::report::{
    HairpinAttempt, HairpinReport, HairpinStatus, Landed, LatencyStats, TcpOutcome,
};
use crate::text::wrap;

/// Attempt lines shown; the JSON has them all.
const MAX_ATTEMPT_LINES: usize = 12;

fn latency(l: &Option<LatencyStats>) -> String {
    match l {
        Some(l) => format!(
            "median {} ms, max {} ms",
            fixed(l.median_ms, 2),
            fixed(l.max_ms, 2)
        ),
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
    format!(
        "  #{:<4}{} {:<10} {:<11} {:>9} ms  {extra}",
        a.seq,
        if a.recheck { "r" } else { " " },
        a.outcome,
        landed,
        fixed(a.duration_ms, 2)
    )
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
            "  ",
            &format!("hairpin {target} from {from}: {status} [{}]", v.reason),
        );
        wrap(&mut out, "  ", &format!("  {}", v.summary));
        if let Some(p) = v
            .p_self_if_healthy
            .filter(|_| v.status != HairpinStatus::Pass)
        {
            wrap(
                &mut out,
                "    ",
                &format!(
                    "  odds a working hairpin shows up in {} attempts: {}",
                    self.summary.attempts,
                    fixed(p, 4)
                ),
            );
        }
        let ports: Vec<String> = self.listening_ports.iter().map(u16::to_string).collect();
        wrap(
            &mut out,
            "    ",
            &format!(
                "  listening: {}{}",
                if ports.is_empty() {
                    "(nothing)".into()
                } else {
                    ports.join(" ")
                },
                self.target_port
                    .map(|p| format!("  (targetPort {p})"))
                    .unwrap_or_default()
            ),
        );
        let s = &self.summary;
        if s.attempts > 0 {
            wrap(
                &mut out,
                "    ",
                &format!(
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
                ),
            );
            if let Some(r) = &self.recheck {
                let timeouts = r.outcomes.get(&TcpOutcome::Timeout).copied().unwrap_or(0);
                wrap(
                    &mut out,
                    "    ",
                    &format!(
                        "  of which {} spaced out 5 ms apart: {} timed out, {} slow",
                        r.attempts, timeouts, r.slow
                    ),
                );
            }
            wrap(
                &mut out,
                "    ",
                &format!("  to this pod:  {}", latency(&s.latency_self)),
            );
            wrap(
                &mut out,
                "    ",
                &format!("  to others:    {}", latency(&s.latency_other)),
            );
            let telling: Vec<&HairpinAttempt> = self
                .attempts
                .iter()
                .filter(|a| a.landed != Some(Landed::OtherPod) || a.slow)
                .take(MAX_ATTEMPT_LINES)
                .collect();
            for a in telling {
                wrap(&mut out, "          ", &attempt_line(a));
            }
        }
        if let Some(hint) = &v.hint {
            wrap(&mut out, "        ", &format!("  hint: {hint}"));
        }
        out
    }
}
