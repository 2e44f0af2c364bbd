//! kube-proxy's own view of itself, read the way it writes it (kubernetes/kubernetes
//! pkg/proxy/healthcheck and pkg/proxy/metrics, cmd/kube-proxy/app/server.go):
//!
//! - `/healthz` and `/livez` on the health server (default `0.0.0.0:10256`): status 200 or
//!   503 and the body `{"lastUpdated": %q,"currentTime": %q, "nodeEligible": %v}` (livez
//!   without `nodeEligible`), the times as Go's `time.Time.String()` writes them. Healthy
//!   means no change has waited longer than the health timeout for a sync; then
//!   `lastUpdated` is set to `currentTime`, so only a 503 tells how old the rules are.
//!   `nodeEligible` false (the node is being deleted) makes `/healthz` 503 as well.
//! - `/proxyMode` on the metrics server (default `127.0.0.1:10249`): the mode, as text.
//! - `/metrics` there: Prometheus text. A hung kube-proxy shows as
//!   `kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds` well after
//!   `kubeproxy_sync_proxy_rules_last_timestamp_seconds` with no failures; a failing one
//!   counts `kubeproxy_sync_proxy_rules_iptables_restore_failures_total` (iptables, ipvs) or
//!   `kubeproxy_sync_proxy_rules_nftables_sync_failures_total` (nftables). Newer releases
//!   label these with `ip_family`.
//!
//! The parsers are pure; [`get`] is the one bounded HTTP GET.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::probe::agent::{Prober, Settings};
use crate::report::{EndpointGet, HttpOutcome, ProxyMode, SyncFamily};

/// kube-proxy's `/metrics` is a few hundred KB (histograms of 80 buckets); this bounds it.
pub const MAX_METRICS_BYTES: u64 = 8 << 20;
/// `/healthz`, `/livez` and `/proxyMode` are one short line.
pub const MAX_SMALL_BYTES: u64 = 64 << 10;

/// kube-proxy's health timeout: `2 × syncPeriod`, the default period being 30 s. A change
/// queued and not synced for longer makes `/healthz` answer 503.
pub const HEALTH_TIMEOUT_S: f64 = 60.0;

pub const LAST_SYNC: &str = "kubeproxy_sync_proxy_rules_last_timestamp_seconds";
pub const LAST_QUEUED: &str = "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds";
pub const RESTORE_FAILURES: &str = "kubeproxy_sync_proxy_rules_iptables_restore_failures_total";
pub const NFT_FAILURES: &str = "kubeproxy_sync_proxy_rules_nftables_sync_failures_total";

/// One GET of `http://ADDR/PATH`, its body kept (at most `max_body` bytes) when complete.
pub fn get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    max_body: u64,
) -> (EndpointGet, Option<Vec<u8>>) {
    let url = format!("http://{addr}{path}");
    let prober = Prober::new(&Settings::plain(addr, timeout));
    let target = crate::probe::url::HttpUrl::http(addr, path);
    let (attempt, body) = crate::probe::http::fetch(1, &prober, &target, max_body);
    let cut = attempt.body_truncated && attempt.detail.is_none();
    let get = EndpointGet {
        url,
        outcome: attempt.outcome,
        status: attempt.status,
        body_excerpt: attempt.body_excerpt,
        detail: match cut {
            true => Some(format!("body longer than {max_body} bytes: not read")),
            false => attempt.detail,
        },
        duration_ms: attempt.timing.total_ms,
    };
    (get, body)
}

/// True when something answered HTTP at all (any status).
pub fn answered(get: &EndpointGet) -> bool {
    get.outcome == HttpOutcome::Response
}

/// The body of `/healthz` or `/livez`.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub last_updated: Option<String>,
    pub current_time: Option<String>,
    pub node_eligible: Option<bool>,
}

pub fn parse_health(body: &[u8]) -> Option<Health> {
    serde_json::from_slice(body).ok()
}

/// Seconds since the Unix epoch of a time as Go's `time.Time.String()` writes it:
/// `2026-11-30 01:44:20.123456789 +0000 UTC m=+12.345678901` (the fraction's trailing zeros
/// dropped, the monotonic reading only on times from `time.Now()`). Go's zero time
/// (`0001-01-01 00:00:00 +0000 UTC`, never updated) is `None`, like anything unreadable.
pub fn parse_go_time(text: &str) -> Option<f64> {
    let mut parts = text.split(' ');
    let date = parts.next()?;
    let clock = parts.next()?;
    let offset = parts.next()?;
    let mut ymd = date.splitn(3, '-');
    let year: i64 = ymd.next()?.parse().ok()?;
    let month: i64 = ymd.next()?.parse().ok()?;
    let day: i64 = ymd.next()?.parse().ok()?;
    if year <= 1 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) => (hms, nanoseconds(f)?),
        None => (clock, 0),
    };
    let mut hms = hms.splitn(3, ':');
    let hour: i64 = hms.next()?.parse().ok()?;
    let minute: i64 = hms.next()?.parse().ok()?;
    let second: i64 = hms.next()?.parse().ok()?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = offset.get(1..)?;
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let offset_s =
        sign * (digits[..2].parse::<i64>().ok()? * 3600 + digits[2..].parse::<i64>().ok()? * 60);
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    // The quotient is the correctly rounded `0.fraction`, as parsing that text gave.
    Some(seconds as f64 + fraction as f64 / 1e9)
}

/// The nanoseconds of a fraction of a second: 1 to 9 digits (Go drops trailing zeros).
fn nanoseconds(fraction: &str) -> Option<u32> {
    if fraction.is_empty() || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: u32 = fraction.parse().ok()?;
    Some(digits * 10u32.pow(9 - fraction.len() as u32))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `/proxyMode`'s body.
pub fn parse_mode(body: &[u8]) -> Option<ProxyMode> {
    let text = std::str::from_utf8(body).ok()?.trim();
    ProxyMode::ALL.iter().copied().find(|m| m.as_str() == text)
}

/// One sample of the Prometheus text format: its labels and value.
#[derive(Debug, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of the metrics named in `wanted`, from Prometheus' text exposition format
/// (`# HELP`/`# TYPE` comments, `name{label="value",...} value [timestamp]`). Lines that
/// are not well formed are skipped: one bad line costs only itself.
pub fn parse_metrics(text: &str, wanted: &[&str]) -> BTreeMap<String, Vec<Sample>> {
    let mut found: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .unwrap_or(line.len());
        let name = &line[..name_end];
        if !wanted.contains(&name) {
            continue;
        }
        let rest = &line[name_end..];
        let (labels, rest) = if rest.starts_with('{') {
            match parse_labels(rest) {
                Some(parsed) => parsed,
                None => continue,
            }
        } else {
            (BTreeMap::new(), rest)
        };
        let Some(value) = rest.split_whitespace().next().and_then(parse_value) else {
            continue;
        };
        found
            .entry(name.to_string())
            .or_default()
            .push(Sample { labels, value });
    }
    found
}

/// `{a="x",b="y\"z"}` and what follows it.
fn parse_labels(text: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = text.strip_prefix('{')?;
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (name, after) = rest.split_once('=')?;
        let mut chars = after.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.trim().to_string(), value);
        rest = after.get(end + 2..)?;
    }
}

/// A sample value as Go writes it: `0`, `1.764467060123e+09`, `+Inf`, `NaN`.
fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
        {
            crate::decimal::parse_f64(text)
        }
        _ => None,
    }
}

/// Sums a counter over its label sets; `None` when kube-proxy does not export it (it
/// registers each mode's counters only in that mode).
pub fn total(samples: &BTreeMap<String, Vec<Sample>>, name: &str) -> Option<f64> {
    samples
        .get(name)
        .map(|s| s.iter().map(|s| s.value).filter(|v| v.is_finite()).sum())
}

/// The last sync and last queued change of each IP family, against `now` (Unix seconds).
pub fn families(samples: &BTreeMap<String, Vec<Sample>>, now: f64) -> Vec<SyncFamily> {
    let family_of = |s: &Sample| s.labels.get("ip_family").cloned();
    let mut by_family: BTreeMap<Option<String>, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for s in samples.get(LAST_SYNC).into_iter().flatten() {
        by_family.entry(family_of(s)).or_default().0 = Some(s.value);
    }
    for s in samples.get(LAST_QUEUED).into_iter().flatten() {
        by_family.entry(family_of(s)).or_default().1 = Some(s.value);
    }
    by_family
        .into_iter()
        .map(|(ip_family, (last, queued))| {
            // A gauge never set is 0: no sync yet, not one in 1970.
            let last = last.filter(|v| *v > 0.0);
            let queued = queued.filter(|v| *v > 0.0);
            SyncFamily {
                ip_family,
                last_sync_timestamp_s: last,
                last_queued_timestamp_s: queued,
                since_last_sync_s: last.map(|l| round_ms(now - l)),
                pending: matches!((last, queued), (Some(l), Some(q)) if q > l)
                    || (last.is_none() && queued.is_some()),
            }
        })
        .collect()
}

/// A family is hung when a change has waited past kube-proxy's own health timeout.
pub fn hung(family: &SyncFamily) -> bool {
    family.pending
        && family
            .since_last_sync_s
            .is_none_or(|s| s > HEALTH_TIMEOUT_S)
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_times_as_kube_proxy_writes_them() {
        // fmt.Sprintf("%q", time.Now()) in kube-proxy's healthz handler
        let t = parse_go_time("2026-11-30 01:44:20.123456789 +0000 UTC m=+12.345678901").unwrap();
        assert!((t - 1_796_003_060.123_456).abs() < 1e-5, "{t}");
        assert_eq!(parse_go_time("1970-01-01 00:00:00 +0000 UTC"), Some(0.0));
        assert_eq!(parse_go_time("1970-01-01 01:00:00 +0100 CET"), Some(0.0));
        assert_eq!(
            parse_go_time("2000-03-01 00:00:00.5 -0130 X"),
            Some(951_868_800.5 + 5400.0)
        );
        // Go's zero time: never synced
        assert_eq!(parse_go_time("0001-01-01 00:00:00 +0000 UTC"), None);
        for bad in [
            "",
            "2026-11-30",
            "2026-13-01 00:00:00 +0000 UTC",
            "2026-11-30 25:00:00 +0000 UTC",
            "2026-11-30 00:00:00.x +0000 UTC",
            "2026-11-30 00:00:00 0000 UTC",
            "2026-11-30 00:00:00 +00 UTC",
        ] {
            assert_eq!(parse_go_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn fractions_read_as_std_reads_the_decimal() {
        // The nanoseconds over 1e9 round as parsing `0.digits` does (std as the oracle).
        let mut n = 1u64;
        for _ in 0..20_000 {
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let digits = format!("{:09}", (n >> 33) % 1_000_000_000);
            let digits = &digits[..1 + (n % 9) as usize];
            let text = format!("2026-11-30 01:44:20.{digits} +0000 UTC");
            let fraction: f64 = format!("0.{digits}").parse().unwrap();
            assert_eq!(
                parse_go_time(&text),
                Some(1_796_003_060.0 + fraction),
                "{text}"
            );
        }
    }

    #[test]
    fn health_bodies() {
        let h = parse_health(br#"{"lastUpdated": "2026-11-30 01:44:20.1 +0000 UTC m=+1.5","currentTime": "2026-11-30 01:45:20.1 +0000 UTC m=+61.5", "nodeEligible": true}"#).unwrap();
        assert_eq!(h.node_eligible, Some(true));
        let age = parse_go_time(h.current_time.as_deref().unwrap()).unwrap()
            - parse_go_time(h.last_updated.as_deref().unwrap()).unwrap();
        assert!((age - 60.0).abs() < 1e-6);
        let livez = parse_health(br#"{"lastUpdated": "x","currentTime": "y"}"#).unwrap();
        assert_eq!(livez.node_eligible, None);
        assert_eq!(parse_health(b"ok"), None);
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode(b"iptables"), Some(ProxyMode::Iptables));
        assert_eq!(parse_mode(b"nftables\n"), Some(ProxyMode::Nftables));
        assert_eq!(parse_mode(b"userspace"), None);
        assert_eq!(parse_mode(b"\xff"), None);
    }

    const METRICS: &str = r#"# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds [ALPHA] The last time proxy rules were successfully synced
# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7644e+09
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv6"} 1.7644e+09
# TYPE kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv4"} 1.7644001e+09
kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv6"} 1.7643999e+09
kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family="IPv4"} 2
kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family="IPv6"} 1
kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.001"} 0
kubeproxy_broken{x="unterminated} 1
kubeproxy_sync_proxy_rules_nftables_sync_failures_total{a="q\"uote\\",b="}"} 0 1700000000000
"#;

    #[test]
    fn metrics_as_prometheus_writes_them() {
        let wanted = [
            LAST_SYNC,
            LAST_QUEUED,
            RESTORE_FAILURES,
            NFT_FAILURES,
            "kubeproxy_broken",
        ];
        let m = parse_metrics(METRICS, &wanted);
        assert_eq!(total(&m, RESTORE_FAILURES), Some(3.0));
        assert_eq!(total(&m, NFT_FAILURES), Some(0.0));
        assert_eq!(m[NFT_FAILURES][0].labels["a"], "q\"uote\\");
        assert_eq!(m[NFT_FAILURES][0].labels["b"], "}");
        assert!(!m.contains_key("kubeproxy_broken"));
        let f = families(&m, 1.7644001e9 + 100.0);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].ip_family.as_deref(), Some("IPv4"));
        assert!(f[0].pending && hung(&f[0]), "{f:?}");
        assert!(!f[1].pending && !hung(&f[1]));
        // an old kube-proxy without labels, never synced but queued
        let m = parse_metrics(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds 0\n\
             kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds 1.5e+09\n",
            &wanted,
        );
        let f = families(&m, 1.5e9 + 1.0);
        assert_eq!(f[0].ip_family, None);
        assert!(f[0].pending && hung(&f[0]));
        assert_eq!(total(&m, RESTORE_FAILURES), None);
        for value in ["+Inf", "NaN", "1e+09", "0"] {
            assert!(parse_value(value).is_some(), "{value}");
        }
        assert_eq!(parse_value("0x10"), None);
    }
}
