//! The exporter's config file: module variants, scheduled targets, the allow list. JSON (a
//! ConfigMap holds it as is, and JSON is YAML too), every field optional, unknown fields
//! refused so that a typo is an error rather than a setting silently ignored. Pure: the
//! caller reads the file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::allow::Entry;
use super::modules::{self, Module, Prober};
use crate::cli::exporter::{parse_max_probes, Scheduled};
use crate::cli::parse_duration;

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    modules: BTreeMap<String, ModuleFile>,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    allow: Vec<String>,
    every: Option<String>,
    max_probes: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleFile {
    prober: Prober,
    timeout: Option<String>,
    #[serde(default)]
    args: Vec<String>,
}

/// The file, checked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub modules: BTreeMap<String, Module>,
    pub targets: Vec<Scheduled>,
    /// Empty when the file gives none.
    pub allow: Vec<Entry>,
    pub every: Option<Duration>,
    pub max_probes: Option<u32>,
}

/// Parses and checks the file: module names, their flags (against their command's parser),
/// durations, targets and allow entries.
pub fn parse(text: &str) -> Result<Config, String> {
    let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut modules = BTreeMap::new();
    for (name, m) in file.modules {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(format!(
                "module name `{name}`: use letters, digits, `_` and `-` (at most 64)"
            ));
        }
        let timeout = match &m.timeout {
            Some(t) => parse_duration(t).map_err(|e| format!("module `{name}`: timeout {e}"))?,
            None => modules::DEFAULT_TIMEOUT,
        };
        let module = Module {
            prober: m.prober,
            timeout,
            args: m.args,
        };
        modules::validate(&name, &module)?;
        modules.insert(name, module);
    }
    Ok(Config {
        modules,
        targets: file
            .targets
            .iter()
            .map(|t| Scheduled::parse(t))
            .collect::<Result<_, _>>()?,
        allow: file
            .allow
            .iter()
            .map(|a| Entry::parse(a))
            .collect::<Result<_, _>>()?,
        every: file
            .every
            .as_deref()
            .map(|e| parse_duration(e).map_err(|e| format!("every: {e}")))
            .transpose()?,
        max_probes: file
            .max_probes
            .map(|n| parse_max_probes(&n.to_string()).map_err(|e| format!("max_probes: {e}")))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_file() {
        let config = parse(
            r#"{
              "modules": {
                "service_quick": { "prober": "service", "timeout": "2s",
                                   "args": ["--count", "3", "--no-api"] },
                "dns_musl": { "prober": "dns", "args": ["--libc", "musl"] }
              },
              "targets": ["service_quick:hostnames", "tcp:10.0.1.175:80"],
              "allow": ["10.0.0.0/16", "cluster.local"],
              "every": "10s",
              "max_probes": 4
            }"#,
        )
        .unwrap();
        let quick = &config.modules["service_quick"];
        assert_eq!(
            (quick.prober, quick.timeout),
            (Prober::Service, Duration::from_secs(2))
        );
        assert_eq!(config.modules["dns_musl"].timeout, modules::DEFAULT_TIMEOUT);
        assert_eq!(config.targets[1].target, "10.0.1.175:80");
        assert_eq!(config.allow.len(), 2);
        assert_eq!(
            (config.every, config.max_probes),
            (Some(Duration::from_secs(10)), Some(4))
        );
        assert_eq!(parse("{}").unwrap(), Config::default());
    }

    #[test]
    fn mistakes_are_errors() {
        for bad in [
            "",
            "[]",
            r#"{"modul": {}}"#,
            r#"{"modules": {"m": {"prober": "icmp"}}}"#,
            r#"{"modules": {"m": {"prober": "tcp", "timeout": "5"}}}"#,
            r#"{"modules": {"m": {"prober": "tcp", "args": ["--timeout", "1s"]}}}"#,
            r#"{"modules": {"m": {"prober": "tcp", "args": ["--bogus"]}}}"#,
            r#"{"modules": {"a b": {"prober": "tcp"}}}"#,
            r#"{"modules": {"m": {"prober": "tcp", "extra": 1}}}"#,
            r#"{"targets": ["hostnames"]}"#,
            r#"{"allow": ["10.0.0.0/99"]}"#,
            r#"{"every": "forever"}"#,
            r#"{"max_probes": 0}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
