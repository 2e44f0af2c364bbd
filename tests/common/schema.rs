//! Mirrors of report types that several test suites decode. `deny_unknown_fields` makes
//! any drift of the JSON schema fail the tests that read it.

use serde::Deserialize;

/// `report::Resolution`: how a probe's target name resolved.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    pub name: String,
    pub status: String,
    pub final_name: Option<String>,
    pub addresses: Vec<String>,
    pub reason: String,
    pub config_source: String,
    pub queries: Vec<serde_json::Value>,
    pub duration_ms: f64,
}

/// `report::LatencyStats`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub min_ms: f64,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub max_ms: f64,
}
