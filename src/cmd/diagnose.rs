//! `svcprobe diagnose`: reads the optional cluster objects, runs the walk, wraps the report.

use std::time::Instant;

use crate::cli::diagnose::DiagnoseArgs;
use crate::diagnose::{self, Options};
use crate::error::Error;
use crate::input;
use crate::kubeapi::Plan;
use crate::report::{Cause, DiagnoseReport, Envelope, SCHEMA_VERSION};

pub fn run(args: &DiagnoseArgs) -> Result<Envelope<DiagnoseReport>, Error> {
    // The deadline covers reading the objects too: stdin held open must not stall the walk.
    let start = Instant::now();
    let until = start + args.deadline;
    let objects = match &args.objects {
        None => None,
        Some(path) => Some(input::read_objects(path, until)?),
    };
    let api = Plan::decide(&args.api, objects.is_some());
    let report = diagnose::run(
        &Options {
            service: args.service.clone(),
            namespace: args.namespace.clone(),
            port: args.port,
            objects,
            api,
            endpoints: args.endpoints.clone(),
            dns_endpoints: args.dns_endpoints.clone(),
            samples: args.samples,
            timeout: args.timeout,
            deadline: args.deadline,
            resolv_conf: args.resolv_conf.clone(),
        },
        start,
    );
    Ok(Envelope {
        schema_version: SCHEMA_VERSION,
        command: "diagnose",
        ok: report.verdict.cause == Cause::Healthy,
        report,
    })
}
