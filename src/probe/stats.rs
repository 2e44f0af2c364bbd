//! What many attempts add up to: outcome counts, success ratio, latency percentiles.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::report::{LatencyStats, ProbeSummary};

/// Outcome counts, success ratio and latency stats of the attempts that ended in `success`.
pub fn summarize<O: Ord + Copy + Serialize>(
    attempts: impl Iterator<Item = (O, f64)>,
    success: O,
) -> ProbeSummary<O> {
    let mut outcomes: BTreeMap<O, u32> = BTreeMap::new();
    let mut latencies = Vec::new();
    let mut total = 0u32;
    for (outcome, ms) in attempts {
        total += 1;
        *outcomes.entry(outcome).or_default() += 1;
        if outcome == success {
            latencies.push(ms);
        }
    }
    ProbeSummary {
        attempts: total,
        outcomes,
        success_ratio: if total == 0 {
            0.0
        } else {
            f64::from(latencies.len() as u32) / f64::from(total)
        },
        latency: latency_stats(&mut latencies),
    }
}

/// Nearest-rank percentiles: every value reported is one that was measured.
pub fn latency_stats(values: &mut [f64]) -> Option<LatencyStats> {
    values.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let n = values.len();
        let index = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        values.get(index).copied()
    };
    Some(LatencyStats {
        min_ms: *values.first()?,
        median_ms: rank(0.5)?,
        p90_ms: rank(0.9)?,
        max_ms: *values.last()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::TcpOutcome;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=10).map(f64::from).collect();
        v.reverse();
        let s = latency_stats(&mut v).unwrap();
        assert_eq!(
            (s.min_ms, s.median_ms, s.p90_ms, s.max_ms),
            (1.0, 5.0, 9.0, 10.0)
        );
        let s = latency_stats(&mut [7.0]).unwrap();
        assert_eq!(
            (s.min_ms, s.median_ms, s.p90_ms, s.max_ms),
            (7.0, 7.0, 7.0, 7.0)
        );
        assert_eq!(latency_stats(&mut []), None);
    }

    #[test]
    fn summary_counts_outcomes() {
        let s = summarize(
            [
                (TcpOutcome::Connected, 1.0),
                (TcpOutcome::Refused, 0.1),
                (TcpOutcome::Connected, 3.0),
            ]
            .into_iter(),
            TcpOutcome::Connected,
        );
        assert_eq!(s.attempts, 3);
        assert_eq!(s.outcomes.get(&TcpOutcome::Refused), Some(&1));
        assert!((s.success_ratio - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.latency.unwrap().max_ms, 3.0);
    }
}
