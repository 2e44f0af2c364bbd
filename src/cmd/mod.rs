//! One module per subcommand. Each `run` takes its parsed arguments and returns its
//! report (or the error that kept it from running); printing is `output`'s job. Each is a
//! leaf: what commands share lives in `probe`, `input`, `dns` and the other library modules.

pub mod diagnose;
pub mod dns;
pub mod exporter;
pub mod hairpin;
pub mod http;
pub mod node;
pub mod nslookup;
pub mod resolvconf;
pub mod serve;
pub mod tcp;

use std::path::Path;
use std::time::Instant;

use crate::error::Error;
use crate::k8s::Objects;
use crate::kubeapi::{ApiArgs, Plan};

/// `--objects` read and parsed before `until` (stdin held open must not stall the walk),
/// and whether the API is read instead: what `diagnose`, `dns` and `node` start with.
fn objects_and_plan(
    objects: Option<&Path>,
    api: &ApiArgs,
    until: Instant,
) -> Result<(Option<Objects>, Plan), Error> {
    let objects = match objects {
        None => None,
        Some(path) => Some(crate::input::read_objects(path, until)?),
    };
    let plan = Plan::decide(api, objects.is_some());
    Ok((objects, plan))
}
