//! Text views of the connectivity reports (`tcp`, `http`, `serve`): one line per target
//! or attempt, 80 columns, nothing the JSON does not have.

use std::fmt::{Display, Write as _};

use serde::Serialize;

use super::{severity_label, Text};
use crate::report::{
    Finding, HttpAttempt, HttpOutcome, HttpReport, IcmpReport, LatencyStats, ProbeSummary,
    Resolution, ServeReport, TcpAttempt, TcpOutcome, TcpReport,
};

const WIDTH: usize = 80;
/// Attempt lines shown per address or URL; the JSON has them all.
const MAX_ATTEMPT_LINES: usize = 20;

/// Cuts a line to the terminal width, marking the cut.
fn fit(line: &str) -> String {
    if line.chars().count() <= WIDTH {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(WIDTH - 1).collect();
    cut.push('…');
    cut
}

fn push_line(out: &mut String, line: &str) {
    let _ = writeln!(out, "{}", fit(line));
}

fn latency(l: &Option<LatencyStats>) -> String {
    match l {
        Some(l) => format!(
            "min/med/p90/max {:.1}/{:.1}/{:.1}/{:.1} ms",
            l.min_ms, l.median_ms, l.p90_ms, l.max_ms
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
            "  DNS {}: {} ({:.1} ms)",
            r.status.as_str().to_uppercase(),
            r.reason,
            r.duration_ms
        )
    } else {
        format!(
            "  DNS {} -> {} ({:.1} ms)",
            r.final_name.as_deref().unwrap_or(&r.name),
            r.addresses.join(" "),
            r.duration_ms
        )
    }
}

/// Findings, word-wrapped to the width with a hanging indent.
fn findings(out: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "findings:");
    for f in findings {
        let text = format!("{:<5} {}: {}", severity_label(f), f.code, f.message);
        let mut line = String::from(" ");
        for word in text.split(' ') {
            if line.chars().count() + 1 + word.chars().count() > WIDTH && line.trim() != "" {
                push_line(out, &line);
                line = String::from("       ");
            }
            line.push(' ');
            line.push_str(word);
        }
        push_line(out, &line);
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
        "    #{:<4} {:<10} {:>9.2} ms  {}",
        a.seq, a.outcome, a.duration_ms, why
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
                        "  {}  {connected}/{} connected  {}",
                        a.address,
                        s.attempts,
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
    let ms = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
    let result = match a.status {
        Some(s) => s.to_string(),
        None => a.outcome.to_string(),
    };
    let tail = match (a.status, &a.body_excerpt) {
        (Some(_), Some(body)) => body.lines().next().unwrap_or_default().to_string(),
        _ => match (a.timeout_phase, &a.icmp, &a.detail) {
            (Some(phase), _, _) => format!("{phase} deadline passed"),
            (None, Some(_), _) => icmp_words(&a.icmp),
            (None, None, Some(d)) => d.clone(),
            _ => String::new(),
        },
    };
    format!(
        "  {:<3} {:<9} {:>7} {:>5} {:>8} {:>8.1}  {}",
        a.seq,
        result,
        ms(a.timing.connect_ms),
        ms(a.timing.tls_ms),
        ms(a.timing.first_byte_ms),
        a.timing.total_ms,
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
                "GET {}  {responses}/{} answered  {}",
                self.url,
                s.attempts,
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
            let _ = writeln!(out, "responses:");
            for r in &self.responses {
                push_line(
                    &mut out,
                    &format!(
                        "  {:>5} {:>4.0}%  {}  {}",
                        r.count,
                        r.share * 100.0,
                        r.status,
                        r.body_excerpt.lines().next().unwrap_or_default()
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
        format!(
            "served {} requests on {} connections ({} error responses) at {} as {};\n\
             stopped by {} after {:.1} s\n",
            self.requests,
            self.connections,
            self.error_responses,
            self.listen,
            self.hostname,
            self.stopped_by,
            self.duration_ms / 1000.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_to_80_columns() {
        let long = "x".repeat(200);
        assert_eq!(fit(&long).chars().count(), WIDTH);
        assert_eq!(fit("short"), "short");
    }
}
