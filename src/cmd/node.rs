//! `svcprobe node`: reads the optional cluster objects, runs the node walk, wraps the
//! report.

use std::path::PathBuf;
use std::time::Instant;

use crate::cli::node::NodeArgs;
use crate::error::Error;
use crate::input;
use crate::kubeapi::Plan;
use crate::node::{self, Options};
use crate::report::{Envelope, NodeCause, NodeReport, SCHEMA_VERSION};

pub fn run(args: &NodeArgs) -> Result<Envelope<NodeReport>, Error> {
    // The deadline covers reading the objects too.
    let start = Instant::now();
    let until = start + args.deadline;
    let objects = match &args.objects {
        None => None,
        Some(path) => Some(input::read_objects(path, until)?),
    };
    let api = Plan::decide(&args.api, objects.is_some());
    let report = node::run(
        &Options {
            service: args.service.clone(),
            namespace: args.namespace.clone(),
            port: args.port,
            host_root: args.host_root.clone(),
            objects,
            api,
            metrics: args.metrics,
            healthz: args.healthz,
            deadline: args.deadline,
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
        },
        start,
    );
    Ok(Envelope {
        schema_version: SCHEMA_VERSION,
        command: "node",
        ok: report.verdict.cause == NodeCause::Healthy,
        report,
    })
}
