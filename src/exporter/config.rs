//! The exporter's config file: module variants, scheduled targets, the allow list. JSON (a
//! ConfigMap holds it as is, and JSON is YAML too), every field optional, unknown fields
//! refused so that a typo is an error rather than a setting silently ignored. Pure: the
//! caller reads the file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::allow::Entry;
use super::modules::{self, Module, Prober};
use crate::cli::exporter::{parse_max_probes, Scheduled};
use crate::cli::parse_duration;

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
/// durations, targets and allow entries. Read from parsed JSON by hand (as `k8s` reads
/// objects), so that each error names its field.
pub fn parse(text: &str) -> Result<Config, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let file = object(&value, "the config")?;
    only_fields(
        file,
        "the config",
        &["modules", "targets", "allow", "every", "max_probes"],
    )?;
    let mut config = Config::default();
    if let Some(modules) = file.get("modules") {
        for (name, module) in object(modules, "modules")? {
            config
                .modules
                .insert(name.clone(), parse_module(name, module)?);
        }
    }
    config.targets = strings(file.get("targets"), "targets")?
        .into_iter()
        .map(Scheduled::parse)
        .collect::<Result<_, _>>()?;
    config.allow = strings(file.get("allow"), "allow")?
        .into_iter()
        .map(Entry::parse)
        .collect::<Result<_, _>>()?;
    config.every = optional_string(file.get("every"), "every")?
        .map(|e| parse_duration(e).map_err(|e| format!("every: {e}")))
        .transpose()?;
    config.max_probes = match file.get("max_probes") {
        None => None,
        Some(n) => Some(
            n.as_u64()
                .ok_or_else(|| "max_probes: not a number".to_string())
                .and_then(|n| parse_max_probes(&n.to_string()))
                .map_err(|e| format!("max_probes: {e}"))?,
        ),
    };
    Ok(config)
}

fn parse_module(name: &str, value: &Value) -> Result<Module, String> {
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
    let what = format!("module `{name}`");
    let fields = object(value, &what)?;
    only_fields(fields, &what, &["prober", "timeout", "args"])?;
    let prober = match optional_string(fields.get("prober"), &what)? {
        Some("service") => Prober::Service,
        Some("dns") => Prober::Dns,
        Some("tcp") => Prober::Tcp,
        Some("http") => Prober::Http,
        Some("hairpin") => Prober::Hairpin,
        Some(other) => {
            return Err(format!(
                "{what}: unknown prober `{other}` (service, dns, tcp, http, hairpin)"
            ))
        }
        None => return Err(format!("{what}: needs a prober")),
    };
    let timeout = match optional_string(fields.get("timeout"), &what)? {
        Some(t) => parse_duration(t).map_err(|e| format!("{what}: timeout {e}"))?,
        None => modules::DEFAULT_TIMEOUT,
    };
    let module = Module {
        prober,
        timeout,
        args: strings(fields.get("args"), &what)?
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    modules::validate(name, &module)?;
    Ok(module)
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{what}: not a JSON object"))
}

/// Unknown fields are refused: a typo must not be a setting silently ignored.
fn only_fields(map: &Map<String, Value>, what: &str, known: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(field) => Err(format!(
            "{what}: unknown field `{field}` (known: {})",
            known.join(", ")
        )),
        None => Ok(()),
    }
}

fn optional_string<'a>(value: Option<&'a Value>, what: &str) -> Result<Option<&'a str>, String> {
    match value {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| format!("{what}: not a string: {v}")),
    }
}

/// A list of strings; absent is empty.
fn strings<'a>(value: Option<&'a Value>, what: &str) -> Result<Vec<&'a str>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| format!("{what}: not a list"))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .ok_or_else(|| format!("{what}: not a string: {item}"))
        })
        .collect()
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
            r#"{"max_probes": "8"}"#,
            r#"{"targets": "tcp:a:1"}"#,
            r#"{"modules": {"m": {}}}"#,
            r#"{"modules": {"m": {"prober": "tcp", "args": [1]}}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
