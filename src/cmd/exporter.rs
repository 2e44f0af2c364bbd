//! `svcprobe exporter`: settles what the exporter runs with (flags over the config file over
//! the defaults; the default allow list from this pod's resolv.conf and address), serves
//! until SIGTERM or SIGINT, and reports what it did.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::cli::exporter::{ExporterArgs, Scheduled, DEFAULT_EVERY, DEFAULT_MAX_PROBES};
use crate::cli::DEFAULT_RESOLV_CONF;
use crate::diagnose::local_address_towards;
use crate::dns::millis;
use crate::error::{Error, Usage};
use crate::exporter::allow::{self, AllowList, PodView};
use crate::exporter::{config, modules, serve, Settings};
use crate::input;
use crate::report::{Envelope, ExporterReport, Libc, SCHEMA_VERSION};
use crate::resolvconf;

/// A config file is a few modules and targets.
const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Reading the config and resolv.conf at start-up.
const READ_DEADLINE: Duration = Duration::from_secs(5);

pub fn run(args: &ExporterArgs) -> Result<Envelope<ExporterReport>, Error> {
    let start = Instant::now();
    let settings = settle(args, start + READ_DEADLINE)?;
    let (exporter, stopped_by) = serve(settings)?;
    let s = &exporter.settings;
    let counters = &exporter.counters;
    let (probes, probe_errors) = counters.totals();
    Ok(Envelope {
        schema_version: SCHEMA_VERSION,
        command: "exporter",
        ok: true,
        report: ExporterReport {
            listen: exporter.local_addr().to_string(),
            allow: s.allow.entries.iter().map(allow::Entry::text).collect(),
            allow_source: s.allow_source,
            modules: s.modules.keys().cloned().collect(),
            targets: s
                .targets
                .iter()
                .map(|t| format!("{}:{}", t.module, t.target))
                .collect(),
            every_ms: s.every.as_millis() as u64,
            max_probes: s.max_probes as u32,
            probes,
            probe_errors,
            probes_dropped: counters.dropped.load(Ordering::Relaxed),
            targets_refused: counters.refused.load(Ordering::Relaxed),
            requests: counters.requests.load(Ordering::Relaxed),
            stopped_by,
            duration_ms: millis(start.elapsed()),
        },
    })
}

fn settle(args: &ExporterArgs, until: Instant) -> Result<Settings, Error> {
    let config = match &args.config {
        None => config::Config::default(),
        Some(path) => {
            let text = input::read_text_up_to(path, MAX_CONFIG_BYTES, until)?;
            config::parse(&text).map_err(|e| Error::Invalid {
                path: path.clone(),
                source: e.into(),
            })?
        }
    };
    let mut modules = modules::builtin();
    modules.extend(config.modules);
    let targets: Vec<Scheduled> = config
        .targets
        .into_iter()
        .chain(args.targets.clone())
        .collect();
    for t in &targets {
        let module = modules.get(&t.module).ok_or_else(|| {
            Error::Usage(Usage::UnknownModule {
                module: t.module.clone(),
                target: t.target.clone(),
                known: modules.keys().cloned().collect(),
            })
        })?;
        modules::parse(module, &t.target, module.timeout).map_err(|error| {
            Error::Usage(Usage::Target {
                module: t.module.clone(),
                target: t.target.clone(),
                error: Box::new(error),
            })
        })?;
    }
    let (allow, allow_source) = if !args.allow.is_empty() {
        (with_search(args.allow.clone(), until), "flag")
    } else if !config.allow.is_empty() {
        (with_search(config.allow, until), "config")
    } else {
        (allow::defaults(&pod_view(until)), "default")
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Ok(Settings {
        listen: args.listen,
        modules,
        targets,
        every: args.every.or(config.every).unwrap_or(DEFAULT_EVERY),
        allow,
        allow_source,
        max_probes: args
            .max_probes
            .or(config.max_probes)
            .unwrap_or(DEFAULT_MAX_PROBES) as usize,
        node: env("NODE_NAME"),
        pod: env("POD_NAME"),
    })
}

/// Entries given explicitly, with the pod's first search domain for single-label names.
fn with_search(entries: Vec<allow::Entry>, until: Instant) -> AllowList {
    AllowList {
        entries,
        first_search_domain: pod_view(until).first_search_domain,
    }
}

/// What this pod sees of its cluster (see `allow::defaults`).
fn pod_view(until: Instant) -> PodView {
    let conf = input::read_text(Path::new(DEFAULT_RESOLV_CONF), until)
        .map(|text| resolvconf::parse(&text))
        .ok();
    let glibc = conf.as_ref().map(|c| c.effective(Libc::Glibc));
    let nameserver: Option<SocketAddr> = glibc.as_ref().and_then(|g| g.servers().first().copied());
    PodView {
        nameserver: nameserver.map(|s| s.ip()),
        pod_ip: nameserver.and_then(local_address_towards),
        cluster_domain: conf
            .as_ref()
            .and_then(|c| c.kubernetes_context())
            .map_or_else(|| "cluster.local".to_string(), |k| k.cluster_domain),
        first_search_domain: glibc.and_then(|g| g.search.first().cloned()),
    }
}
