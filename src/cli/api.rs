//! The API read's flags, one table that `diagnose`, `dns` and `node` all take, and what
//! they ask for. Tokens in, validated arguments out, no I/O.

use std::path::PathBuf;

use super::flags::{Default, Flag, Matches};
use super::{ArgError, ValueError};
use crate::kubeapi::{ApiArgs, ApiServer, Mode};

const API: Flag = Flag::switch(
    "--api",
    "read the API server, or say why not (default: read it when in a pod with a \
     service account and no --objects is given)",
);
const NO_API: Flag = Flag::switch("--no-api", "do not read the API server");
const API_SERVER: Flag = Flag::value(
    "--api-server",
    "URL",
    "https://HOST[:PORT] instead of KUBERNETES_SERVICE_HOST/_PORT",
);
const TOKEN_FILE: Flag = Flag::value(
    "--token-file",
    "FILE",
    "bearer token, re-read per request, never printed",
)
.default(Default::Note("the service account's"));
const CACERT: Flag = Flag::value("--cacert", "FILE", "the API server's CA")
    .default(Default::Note("the service account's ca.crt"));
/// Every flag of the API read, in the order `--help` shows them.
pub const FLAGS: &[Flag] = &[API, NO_API, API_SERVER, TOKEN_FILE, CACERT];

/// The API read `m` asks for.
pub fn parse(m: &Matches, objects: bool) -> Result<ApiArgs, ArgError> {
    let force = m.given(&API);
    let off = m.given(&NO_API);
    let server = m.get(&API_SERVER, |url| {
        ApiServer::parse(url).map_err(ValueError::ApiServer)
    })?;
    let token_file = m.os(&TOKEN_FILE).map(PathBuf::from);
    let cacert = m.os(&CACERT).map(PathBuf::from);
    let configured = server.is_some() || token_file.is_some() || cacert.is_some();
    if off && (force || configured) {
        return Err(ArgError::NoApiExcludes);
    }
    if objects && (force || configured) {
        return Err(ArgError::ObjectsReplaceApi);
    }
    let mode = if off {
        Mode::Off
    } else if force || server.is_some() {
        Mode::Force
    } else {
        Mode::Auto
    };
    Ok(ApiArgs {
        mode,
        server,
        token_file,
        cacert,
    })
}
