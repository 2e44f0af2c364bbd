//! `svcprobe diagnose`: reads the optional cluster objects, runs the walk, wraps the report.

use std::time::Instant;

use crate::cli::diagnose::DiagnoseArgs;
use crate::diagnose::{self, Options};
use crate::error::Error;
use crate::report::{Cause, DiagnoseReport, Envelope, SCHEMA_VERSION};

pub fn run(args: &DiagnoseArgs) -> Result<Envelope<DiagnoseReport>, Error> {
    // The deadline covers reading the objects too.
    let start = Instant::now();
    let (objects, api) =
        super::objects_and_plan(args.objects.as_deref(), &args.api, start + args.deadline)?;
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
