//! Flags of `svcprobe exporter`. Like the rest of `cli`: tokens in, validated arguments out,
//! no I/O (the config file is read when the exporter starts).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::flags::{Default, Flag, Matches};
use super::probes::parse_listen;
use super::{no_operands, parse_count, parse_duration, ArgError, Spec, ValueError};
use crate::exporter::allow::Entry;

/// blackbox_exporter's port, so that scrape configs written for it need no change.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9115";
pub const DEFAULT_EVERY: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_PROBES: u32 = 8;
const MAX_MAX_PROBES: u32 = 256;
const MAX_TARGETS: usize = 256;

const LISTEN: Flag = Flag::value("--listen", "ADDR", "IP:PORT or :PORT to listen on")
    .default(Default::Text(DEFAULT_LISTEN));
const CONFIG: Flag = Flag::value(
    "--config",
    "FILE",
    "modules, targets and allow list (JSON, README: exporter)",
);
const TARGET: Flag = Flag::value(
    "--target",
    "MODULE:TARGET",
    "probe TARGET with MODULE every --every (repeatable)",
)
.repeatable();
const EVERY: Flag = Flag::value("--every", "D", "how often scheduled targets are probed")
    .default(Default::Duration(DEFAULT_EVERY));
const ALLOW: Flag = Flag::value(
    "--allow",
    "CIDR,NAME,...",
    "what /probe may connect to (repeatable)",
)
.repeatable()
.default(Default::Note(
    "the /16 around the DNS Service and the pod IP, the cluster domain",
));
const MAX_PROBES: Flag = Flag::value(
    "--max-probes",
    "N",
    "probes at once, 1 to 256; more /probe requests get 503",
)
.default(Default::Number(DEFAULT_MAX_PROBES as u64));

pub const SPEC: Spec = Spec {
    name: "exporter",
    operands: "",
    summary: "serve probes to Prometheus, as blackbox_exporter does, and probe on a schedule",
    about: "\
Answers GET /probe?target=T&module=M with one probe's metrics in the Prometheus
text format, as blackbox_exporter does (timeout from the
X-Prometheus-Scrape-Timeout-Seconds header minus 0.5 s, at most the module's;
&debug=true: the probe's JSON report). Modules: service (diagnose T), dns
(T is a name, resolved through this pod's search list by glibc's and musl's
rules), tcp, http, hairpin, and the config's. With --target it also probes on
its own every --every and serves the latest results on /metrics, with module
and target labels (and node and pod from NODE_NAME and POD_NAME); each change
of a target's result is one JSON line on stdout. /healthz answers ok.",
    flags: &[&[LISTEN, CONFIG, TARGET, EVERY, ALLOW, MAX_PROBES]],
    footer: "Stops on SIGTERM or SIGINT, then prints a report and exits 0.",
};

/// A scheduled probe as written: `MODULE:TARGET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    pub module: String,
    pub target: String,
}

impl Scheduled {
    pub fn parse(text: &str) -> Result<Scheduled, ValueError> {
        match text.split_once(':') {
            Some((module, target)) if !module.is_empty() && !target.is_empty() => Ok(Scheduled {
                module: module.to_string(),
                target: target.to_string(),
            }),
            _ => Err(ValueError::NotScheduled(text.to_string())),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct ExporterArgs {
    pub listen: SocketAddr,
    pub config: Option<PathBuf>,
    pub targets: Vec<Scheduled>,
    /// None: the config's, else the default.
    pub every: Option<Duration>,
    /// Empty: the config's, else the default.
    pub allow: Vec<Entry>,
    pub max_probes: Option<u32>,
}

/// `10.0.0.0/16,cluster.local`.
pub fn parse_allow(text: &str) -> Result<Vec<Entry>, ValueError> {
    text.split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| Entry::parse(t).map_err(ValueError::Allow))
        .collect()
}

pub fn parse_max_probes(text: &str) -> Result<u32, ValueError> {
    parse_count(text, MAX_MAX_PROBES)
}

pub fn parse_exporter(m: &Matches) -> Result<ExporterArgs, ArgError> {
    no_operands(m)?;
    let targets = m.all(&TARGET, Scheduled::parse)?;
    if targets.len() > MAX_TARGETS {
        return Err(ArgError::TooManyTargets(MAX_TARGETS));
    }
    Ok(ExporterArgs {
        listen: m.get_or_default(&LISTEN, parse_listen)?,
        config: m.os(&CONFIG).map(PathBuf::from),
        targets,
        every: m.get(&EVERY, parse_duration)?,
        allow: m.all(&ALLOW, parse_allow)?.into_iter().flatten().collect(),
        max_probes: m.get(&MAX_PROBES, parse_max_probes)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::scan_line;

    fn parse(line: &str) -> Result<ExporterArgs, ArgError> {
        parse_exporter(&scan_line(&SPEC, line)?)
    }

    #[test]
    fn flags() {
        let a = parse("").unwrap();
        assert_eq!(a.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!((a.every, a.max_probes, a.allow.len()), (None, None, 0));
        let a = parse(
            "--listen :9200 --target service:hostnames --target tcp:10.0.1.175:80 \
             --every 10s --allow 10.0.0.0/16,cluster.local --allow fd00::/64 --max-probes 2",
        )
        .unwrap();
        assert_eq!(
            a.targets[1],
            Scheduled {
                module: "tcp".into(),
                target: "10.0.1.175:80".into()
            }
        );
        assert_eq!(a.every, Some(Duration::from_secs(10)));
        assert_eq!((a.allow.len(), a.max_probes), (3, Some(2)));
        for bad in [
            "x",
            "--target hostnames",
            "--target :x",
            "--allow 10.0.0.0/40",
            "--max-probes 0",
            "--max-probes 257",
            "--every 0s",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
