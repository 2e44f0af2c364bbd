//! The exporter's config file: module variants, scheduled targets, the allow list. JSON (a
//! ConfigMap holds it as is, and JSON is YAML too), every field optional, unknown fields
//! refused so that a typo is an error rather than a setting silently ignored. Pure: the
//! caller reads the file.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use super::allow::{Entry, EntryError};
use super::modules::{self, Module, ModuleError, Prober};
use crate::cli::exporter::{parse_max_probes, Scheduled};
use crate::cli::{parse_duration, ValueError};

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

/// Where in the file a value sits, as errors name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// The file itself.
    File,
    /// A top-level field: `modules`, `targets`, `allow`, `every`.
    Top(&'static str),
    /// One module, by name.
    Module(String),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::File => write!(f, "the config"),
            Field::Top(name) => write!(f, "{name}"),
            Field::Module(name) => write!(f, "module `{name}`"),
        }
    }
}

/// Why the config file cannot be used; each names the field at fault.
#[derive(Debug)]
pub enum ConfigError {
    NotJson(serde_json::Error),
    NotAnObject(Field),
    /// A typo must not be a setting silently ignored.
    UnknownField {
        at: Field,
        field: String,
        known: &'static [&'static str],
    },
    /// `value` is the JSON found instead.
    NotAString {
        at: Field,
        value: String,
    },
    NotAList(Field),
    ModuleName(String),
    UnknownProber {
        module: String,
        prober: String,
    },
    NoProber(String),
    Timeout {
        module: String,
        source: ValueError,
    },
    Every(ValueError),
    MaxProbesNotANumber,
    MaxProbes(ValueError),
    Target(ValueError),
    Allow(EntryError),
    Module(ModuleError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotJson(e) => write!(f, "{e}"),
            ConfigError::NotAnObject(at) => write!(f, "{at}: not a JSON object"),
            ConfigError::UnknownField { at, field, known } => write!(
                f,
                "{at}: unknown field `{field}` (known: {})",
                known.join(", ")
            ),
            ConfigError::NotAString { at, value } => write!(f, "{at}: not a string: {value}"),
            ConfigError::NotAList(at) => write!(f, "{at}: not a list"),
            ConfigError::ModuleName(name) => write!(
                f,
                "module name `{name}`: use letters, digits, `_` and `-` (at most 64)"
            ),
            ConfigError::UnknownProber { module, prober } => write!(
                f,
                "module `{module}`: unknown prober `{prober}` (service, dns, tcp, http, hairpin)"
            ),
            ConfigError::NoProber(module) => write!(f, "module `{module}`: needs a prober"),
            ConfigError::Timeout { module, source } => {
                write!(f, "module `{module}`: timeout {source}")
            }
            ConfigError::Every(e) => write!(f, "every: {e}"),
            ConfigError::MaxProbesNotANumber => write!(f, "max_probes: not a number"),
            ConfigError::MaxProbes(e) => write!(f, "max_probes: {e}"),
            ConfigError::Target(e) => write!(f, "{e}"),
            ConfigError::Allow(e) => write!(f, "{e}"),
            ConfigError::Module(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::NotJson(e) => Some(e),
            ConfigError::Timeout { source: e, .. }
            | ConfigError::Every(e)
            | ConfigError::MaxProbes(e)
            | ConfigError::Target(e) => Some(e),
            ConfigError::Allow(e) => Some(e),
            ConfigError::Module(e) => Some(e),
            _ => None,
        }
    }
}

/// Parses and checks the file: module names, their flags (against their command's parser),
/// durations, targets and allow entries. Read from parsed JSON by hand (as `k8s` reads
/// objects), so that each error names its field.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let value: Value = serde_json::from_str(text).map_err(ConfigError::NotJson)?;
    let file = object(&value, Field::File)?;
    only_fields(
        file,
        Field::File,
        &["modules", "targets", "allow", "every", "max_probes"],
    )?;
    let mut config = Config::default();
    if let Some(modules) = file.get("modules") {
        for (name, module) in object(modules, Field::Top("modules"))? {
            config
                .modules
                .insert(name.clone(), parse_module(name, module)?);
        }
    }
    config.targets = strings(file.get("targets"), Field::Top("targets"))?
        .into_iter()
        .map(|t| Scheduled::parse(t).map_err(ConfigError::Target))
        .collect::<Result<_, _>>()?;
    config.allow = strings(file.get("allow"), Field::Top("allow"))?
        .into_iter()
        .map(|a| Entry::parse(a).map_err(ConfigError::Allow))
        .collect::<Result<_, _>>()?;
    config.every = optional_string(file.get("every"), Field::Top("every"))?
        .map(|e| parse_duration(e).map_err(ConfigError::Every))
        .transpose()?;
    config.max_probes = match file.get("max_probes") {
        None => None,
        Some(n) => {
            let n = n.as_u64().ok_or(ConfigError::MaxProbesNotANumber)?;
            Some(parse_max_probes(&n.to_string()).map_err(ConfigError::MaxProbes)?)
        }
    };
    Ok(config)
}

fn parse_module(name: &str, value: &Value) -> Result<Module, ConfigError> {
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid_name {
        return Err(ConfigError::ModuleName(name.to_string()));
    }
    let at = || Field::Module(name.to_string());
    let fields = object(value, at())?;
    only_fields(fields, at(), &["prober", "timeout", "args"])?;
    let prober = match optional_string(fields.get("prober"), at())? {
        Some("service") => Prober::Service,
        Some("dns") => Prober::Dns,
        Some("tcp") => Prober::Tcp,
        Some("http") => Prober::Http,
        Some("hairpin") => Prober::Hairpin,
        Some(other) => {
            return Err(ConfigError::UnknownProber {
                module: name.to_string(),
                prober: other.to_string(),
            })
        }
        None => return Err(ConfigError::NoProber(name.to_string())),
    };
    let timeout = match optional_string(fields.get("timeout"), at())? {
        Some(t) => parse_duration(t).map_err(|source| ConfigError::Timeout {
            module: name.to_string(),
            source,
        })?,
        None => modules::DEFAULT_TIMEOUT,
    };
    let module = Module {
        prober,
        timeout,
        args: strings(fields.get("args"), at())?
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    modules::validate(name, &module).map_err(ConfigError::Module)?;
    Ok(module)
}

fn object(value: &Value, at: Field) -> Result<&Map<String, Value>, ConfigError> {
    value.as_object().ok_or(ConfigError::NotAnObject(at))
}

/// Unknown fields are refused: a typo must not be a setting silently ignored.
fn only_fields(
    map: &Map<String, Value>,
    at: Field,
    known: &'static [&'static str],
) -> Result<(), ConfigError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(field) => Err(ConfigError::UnknownField {
            at,
            field: field.clone(),
            known,
        }),
        None => Ok(()),
    }
}

fn optional_string(value: Option<&Value>, at: Field) -> Result<Option<&str>, ConfigError> {
    match value {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| ConfigError::NotAString {
            at,
            value: v.to_string(),
        }),
    }
}

/// A list of strings; absent is empty.
fn strings(value: Option<&Value>, at: Field) -> Result<Vec<&str>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| ConfigError::NotAList(at.clone()))?;
    items
        .iter()
        .map(|item| {
            item.as_str().ok_or_else(|| ConfigError::NotAString {
                at: at.clone(),
                value: item.to_string(),
            })
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
