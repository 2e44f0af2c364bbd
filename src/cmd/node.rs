//! `svcprobe node`: reads the optional cluster objects, runs the node walk, wraps the
//! report.

use std::path::PathBuf;
use std::time::Instant;

use crate::cli::node::NodeArgs;
use crate::error::Error;
use crate::node::{self, Options};
use crate::report::{Envelope, NodeCause, NodeReport, SCHEMA_VERSION};

pub fn run(args: &NodeArgs) -> Result<Envelope<NodeReport>, Error> {
    // The deadline covers reading the objects too.
    let start = Instant::now();
    let (objects, api) =
        super::objects_and_plan(args.objects.as_deref(), &args.api, start + args.deadline)?;
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
