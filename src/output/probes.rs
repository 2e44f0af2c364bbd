//! Text views of the connectivity reports (`tcp`, `http`, `serve`): one line per target
//! or attempt, 80 columns, nothing the JSON does not have.

use std::fmt::Display;

use serde::Serialize;

use super::{severity_label, Text};
use crate::decimal::fixed;
use crate::report::{
    ExporterReport, Finding, HttpAttempt, HttpOutcome, HttpReport, IcmpReport, LatencyStats,
    ProbeSummary, Resolution, ServeReport, TcpAttempt, TcpOutcome, TcpReport,
};
use crate::text::{clip, count, of, wrap};

/// Attempt lines shown per address or URL; the JSON has them all.
const MAX_ATTEMPT_LINES: usize = 20;
/// Characters of a body's first line shown as a sample in an attempt or response row.
const BODY_SAMPLE: usize = 40;

/// One line of a view; what does not fit 80 columns goes on indented continuation lines.
fn push_line(out: &mut String, line: &str) {
    wrap(out, "          ", line);
}

fn latency(l: &Option<LatencyStats>) -> String {
    match l {
        Some(l) => format!(
            "min/med/p90/max {}/{}/{}/{} ms",
            fixed(l.min_ms, 1),
            fixed(l.median_ms, 1),
            fixed(l.p90_ms, 1),
            fixed(l.max_ms, 1)
        ),
        None => String::new(),
    }
}

fn outcome_counts<O: Ord + Serialize + Display>(s: &ProbeSummary<O>) -> String {
    s.outcomes
        .iter()
        .map(|(o, n)| format!("{n} {o}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn icmp_words(icmp: &Option<IcmpReport>) -> String {
    icmp.as_ref()
        .map(|i| format!("{} from {}", i.description, i.from))
        .unwrap_or_default()
}

fn resolution_line(r: &Resolution) -> String {
    if r.addresses.is_empty() {
        format!(
            "  DNS {}: {} ({} ms)",
            r.status.as_str().to_uppercase(),
            r.reason,
            fixed(r.duration_ms, 1)
        )
    } else {
        format!(
            "  DNS {} -> {} ({} ms)",
            r.final_name.as_deref().unwrap_or(&r.name),
            r.addresses.join(" "),
            fixed(r.duration_ms, 1)
        )
    }
}

/// Findings, word-wrapped to the width with a hanging indent.
fn findings(out: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    push_line(out, "findings:");
    for f in findings {
        let line = format!("  {:<5} {}: {}", severity_label(f), f.code, f.message);
        wrap(out, "        ", &line);
    }
}

/// The attempts worth a line: all when few, else the failures first.
fn shown<T>(attempts: &[T], failed: impl Fn(&T) -> bool) -> Vec<&T> {
    if attempts.len() <= MAX_ATTEMPT_LINES {
        return attempts.iter().collect();
    }
    attempts
        .iter()
        .filter(|a| failed(a))
        .take(MAX_ATTEMPT_LINES)
        .collect()
}

fn tcp_attempt_line(a: &TcpAttempt) -> String {
    let why = match (&a.icmp, &a.detail) {
        (Some(_), _) => icmp_words(&a.icmp),
        (None, Some(d)) => d.clone(),
        (None, None) => String::new(),
    };
    format!(
        "    #{:<4} {:<10} {:>9} ms  {}",
        a.seq,
        a.outcome,
        fixed(a.duration_ms, 2),
        why
    )
}

impl Text for TcpReport {
    fn text(&self) -> String {
        let mut out = String::new();
        for t in &self.targets {
            push_line(&mut out, &t.target);
            if let Some(r) = &t.resolution {
                push_line(&mut out, &resolution_line(r));
            }
            for a in &t.addresses {
                let s = &a.summary;
                let connected = s.outcomes.get(&TcpOutcome::Connected).copied().unwrap_or(0);
                push_line(
                    &mut out,
                    &format!(
                        "  {}  {} connected  {}",
                        a.address,
                        of(connected as usize, s.attempts as usize),
                        if connected == s.attempts {
                            latency(&s.latency)
                        } else {
                            outcome_counts(s)
                        }
                    ),
                );
                let lines = shown(&a.attempts, |x| x.outcome != TcpOutcome::Connected);
                let all_ok = lines.iter().all(|x| x.outcome == TcpOutcome::Connected);
                if !(all_ok && a.attempts.len() > 1) {
                    for attempt in lines {
                        push_line(&mut out, &tcp_attempt_line(attempt));
                    }
                }
            }
        }
        findings(&mut out, &self.findings);
        out
    }
}

const HTTP_ATTEMPT_HEADER: &str = "  #   result    connect   tls 1st byte total ms  body or error";

fn http_attempt_line(a: &HttpAttempt) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| fixed(v, 1));
    // A status with a body cut short is no response: the row says how it failed.
    let answered = a.outcome == HttpOutcome::Response;
    let result = match a.status {
        Some(s) if answered => s.to_string(),
        _ => a.outcome.to_string(),
    };
    let tail = match (a.status, &a.body_excerpt) {
        (Some(_), Some(body)) if answered => {
            clip(body.lines().next().unwrap_or_default(), BODY_SAMPLE)
        }
        _ => match (a.timeout_phase, &a.icmp, &a.detail) {
            (Some(phase), _, _) => format!("{phase} deadline passed"),
            (None, Some(_), _) => icmp_words(&a.icmp),
            (None, None, Some(d)) => d.clone(),
            _ => String::new(),
        },
    };
    format!(
        "  {:<3} {:<9} {:>7} {:>5} {:>8} {:>8}  {}",
        a.seq,
        result,
        ms(a.timing.connect_ms),
        ms(a.timing.tls_ms),
        ms(a.timing.first_byte_ms),
        fixed(a.timing.total_ms, 1),
        tail
    )
}

impl Text for HttpReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let s = &self.summary;
        let responses = s.outcomes.get(&HttpOutcome::Response).copied().unwrap_or(0);
        push_line(
            &mut out,
            &format!(
                "GET {}  {} answered  {}",
                self.url,
                of(responses as usize, s.attempts as usize),
                latency(&s.latency)
            ),
        );
        if let Some(r) = &self.resolution {
            push_line(&mut out, &resolution_line(r));
        }
        if let Some(tls) = &self.tls {
            let line = match (&tls.ca_file, tls.verify) {
                (Some(file), true) => format!(
                    "  TLS verified against {file} ({} certificates)",
                    tls.ca_certificates
                ),
                _ => "  TLS NOT VERIFIED (--insecure)".to_string(),
            };
            push_line(&mut out, &line);
        }
        if let Some(peer) = self.attempts.iter().find_map(|a| a.peer.as_deref()) {
            push_line(&mut out, &format!("  peer {peer}"));
        }
        let lines = shown(&self.attempts, |a| a.outcome != HttpOutcome::Response);
        if !lines.is_empty() {
            push_line(&mut out, HTTP_ATTEMPT_HEADER);
        }
        for a in lines {
            push_line(&mut out, &http_attempt_line(a));
        }
        if !self.responses.is_empty() {
            push_line(&mut out, "responses:");
            for r in &self.responses {
                push_line(
                    &mut out,
                    &format!(
                        "  {:>5} {:>4}%  {}  {}",
                        r.count,
                        fixed(r.share * 100.0, 0),
                        r.status,
                        clip(
                            r.body_excerpt.lines().next().unwrap_or_default(),
                            BODY_SAMPLE
                        )
                    ),
                );
            }
        }
        findings(&mut out, &self.findings);
        out
    }
}

impl Text for ServeReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let line = format!(
            "served {} on {} ({}) at {} as {}; stopped by {} after {} s",
            count(self.requests as usize, "request", "requests"),
            count(self.connections as usize, "connection", "connections"),
            count(
                self.error_responses as usize,
                "error response",
                "error responses"
            ),
            self.listen,
            self.hostname,
            self.stopped_by,
            fixed(self.duration_ms / 1000.0, 1)
        );
        wrap(&mut out, "  ", &line);
        out
    }
}

impl Text for ExporterReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let line = format!(
            "exporter on {}: {} ({} could not run), {} dropped (503), {} refused (403), {}; \
             stopped by {} after {} s",
            self.listen,
            count(self.probes as usize, "probe", "probes"),
            self.probe_errors,
            self.probes_dropped,
            self.targets_refused,
            count(self.requests as usize, "request", "requests"),
            self.stopped_by,
            fixed(self.duration_ms / 1000.0, 1)
        );
        push_line(&mut out, &line);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{TcpAddressProbe, TcpTarget};

    /// A rejected attempt to a long IPv6 address, by a long IPv6 address, with `detail`.
    fn report(detail: &str) -> TcpReport {
        TcpReport {
            count: 1,
            interval_ms: 0,
            timeout_ms: 2000,
            source: None,
            targets: vec![TcpTarget {
                target: "[fd00:10:244:1234:5678:9abc:def0:1]:8080".into(),
                host: "fd00:10:244:1234:5678:9abc:def0:1".into(),
                port: 8080,
                resolution: None,
                addresses: vec![TcpAddressProbe {
                    address: "[fd00:10:244:1234:5678:9abc:def0:1]:8080".into(),
                    attempts: vec![TcpAttempt {
                        seq: 1,
                        outcome: TcpOutcome::Rejected,
                        duration_ms: 0.1,
                        local: None,
                        icmp: Some(IcmpReport {
                            from: "fd00:10:244:1234:5678:9abc:def0:fffe".into(),
                            icmp_type: 1,
                            code: 4,
                            description: "port-unreachable",
                        }),
                        detail: Some(detail.into()),
                    }],
                    summary: crate::probe::stats::summarize(
                        [(TcpOutcome::Rejected, 0.1)].into_iter(),
                        TcpOutcome::Connected,
                    ),
                }],
            }],
            duration_ms: 1.0,
            findings: Vec::new(),
        }
    }

    #[test]
    fn who_rejected_is_never_cut_and_lines_fit_80_columns() {
        let text = report("Connection refused (os error 111)").text();
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(
            text.contains("fd00:10:244:1234:5678:9abc:def0:fffe"),
            "{text}"
        );
        assert!(
            text.contains("none of 1 connected") || text.contains("not the one"),
            "{text}"
        );
    }
}
