//! Reading `svcprobe diagnose` reports in tests, with the contract every run must keep: the
//! output is JSON, the exit code matches the verdict, and the walk ends by its deadline.

use std::process::Output;

use serde_json::Value;

use super::testbed::describe;

/// The report in `out`, after checking the exit code and the deadline.
pub fn report(out: &Output) -> Value {
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(out)));
    let healthy = report["verdict"]["cause"] == "healthy";
    assert_eq!(
        out.status.code(),
        Some(if healthy { 0 } else { 1 }),
        "{}",
        describe(out)
    );
    let deadline = report["deadline_ms"].as_f64().unwrap_or_default();
    let took = report["duration_ms"].as_f64().unwrap_or(f64::MAX);
    let durations: Vec<String> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}: {} ms", c["id"], c["duration_ms"]))
        .collect();
    assert!(
        took < deadline + 500.0,
        "took {took} ms, deadline {deadline} ms: {durations:?}"
    );
    report
}

pub fn cause(report: &Value) -> &str {
    report["verdict"]["cause"].as_str().unwrap_or_default()
}

pub fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id}: {report:#}"))
}

/// The ids of the report's checks, in order.
pub fn check_ids(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .collect()
}
