//! Flags of `svcprobe node`. Tokens in, validated arguments out, no I/O.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::diagnose::OBJECTS;
use super::flags::{Default, Flag, Matches};
use super::{
    operands, parse_duration, parse_namespace, parse_port, path_or, ArgError, Spec, ValueError,
};
use crate::kubeapi::ApiArgs;
use crate::service_name::{self, Namespace, ServiceName};

/// Where `kubectl debug node --profile=sysadmin` mounts the node's root file system.
pub const DEFAULT_HOST_ROOT: &str = "/host";
/// kube-proxy's `--metrics-bind-address` default: `/metrics` and `/proxyMode`.
pub const DEFAULT_METRICS: &str = "http://127.0.0.1:10249";
/// kube-proxy's `--healthz-bind-address` default (0.0.0.0:10256): `/healthz` and `/livez`.
pub const DEFAULT_HEALTHZ: &str = "http://127.0.0.1:10256";

const NAMESPACE: Flag = super::NAMESPACE.default(Default::Text("default"));
const PORT: Flag = Flag::value("--port", "PORT", "the Service port number")
    .default(Default::Note("its first port"));
const HOST_ROOT: Flag = Flag::value(
    "--host-root",
    "DIR",
    "the node's root file system (kubectl debug --profile=sysadmin mounts it at /host)",
)
.default(Default::Text(DEFAULT_HOST_ROOT));
const METRICS: Flag = Flag::value(
    "--kube-proxy-metrics",
    "URL",
    "kube-proxy's metrics server: /metrics and /proxyMode (http://IP:PORT)",
)
.default(Default::Text(DEFAULT_METRICS));
const HEALTHZ: Flag = Flag::value(
    "--kube-proxy-healthz",
    "URL",
    "kube-proxy's health server: /healthz and /livez (http://IP:PORT)",
)
.default(Default::Text(DEFAULT_HEALTHZ));
const DEADLINE: Flag = Flag::value("--deadline", "D", "the whole command")
    .default(Default::Duration(Duration::from_secs(5)));

pub const SPEC: Spec = Spec {
    name: "node",
    operands: "[SERVICE]",
    summary: "from a node debug pod: is kube-proxy, and the node, serving the Service?",
    about: "\
The guide's kube-proxy half, from a node debug pod, as root (the image's user,
65534, would have none of netadmin's capabilities):
  kubectl debug node/NODE -it --image=IMAGE --profile=netadmin \\
    --custom=root.json -- /svcprobe node SERVICE
with root.json {\"securityContext\":{\"runAsUser\":0,\"runAsNonRoot\":false}}, as
kubectl svcprobe diagnose SERVICE --node does. It reads the kube-proxy process
and its flags, its /healthz, /livez, /proxyMode and /metrics, ip_forward,
br_netfilter, each bridge's hairpin settings, the conntrack table; with
SERVICE, the rules the node programs for its ClusterIP against the ready
endpoints of its EndpointSlices (from --objects or the API), and connections to
the ClusterIP from the node. A check that its privileges do not allow says
skip, and which --profile would allow it. No iptables, nft, conntrack or curl
binary is needed.

SERVICE is NAME, NAME.NS, NAME.NS.svc or NAME.NS.svc.DOMAIN, or service/NAME or
svc/NAME. Without SERVICE only the node-wide checks run.",
    flags: &[
        &[NAMESPACE, PORT, HOST_ROOT, OBJECTS],
        super::api::FLAGS,
        &[METRICS, HEALTHZ, DEADLINE],
    ],
    footer: "Exit 0 when the verdict is `healthy`, 1 for any other cause.",
};

#[derive(Debug, PartialEq, Eq)]
pub struct NodeArgs {
    /// None: only the node-wide checks.
    pub service: Option<ServiceName>,
    /// From the name or `-n`; `default` when neither says.
    pub namespace: Namespace,
    pub port: Option<u16>,
    pub host_root: PathBuf,
    /// `-` is standard input.
    pub objects: Option<PathBuf>,
    pub api: ApiArgs,
    /// kube-proxy's metrics server (`/metrics`, `/proxyMode`).
    pub metrics: SocketAddr,
    /// kube-proxy's health server (`/healthz`, `/livez`).
    pub healthz: SocketAddr,
    pub deadline: Duration,
}

pub fn parse_node(m: &Matches) -> Result<NodeArgs, ArgError> {
    let service = match operands(m)?.as_slice() {
        [] => None,
        [one] => Some(service_name::parse(one).map_err(ValueError::Name)?),
        [_, extra, ..] => return Err(ArgError::Unexpected(extra.to_string())),
    };
    let flag_namespace = m.get(&NAMESPACE, parse_namespace)?;
    let namespace = match &service {
        Some(s) => s.namespace_with(flag_namespace.as_deref())?,
        None => flag_namespace.map(|name| Namespace {
            name,
            origin: crate::report::Origin::Flag,
        }),
    }
    .unwrap_or(Namespace {
        name: "default".into(),
        origin: crate::report::Origin::Default,
    });
    if service.is_none() && (m.given(&PORT) || m.given(&OBJECTS)) {
        return Err(ArgError::NeedsService);
    }
    let objects = m.os(&OBJECTS).map(PathBuf::from);
    Ok(NodeArgs {
        namespace,
        port: m.get(&PORT, parse_port)?,
        host_root: path_or(m, &HOST_ROOT, DEFAULT_HOST_ROOT),
        api: super::api::parse(m, objects.is_some())?,
        objects,
        metrics: m.get_or_default(&METRICS, |t| parse_http_base(t, DEFAULT_METRICS))?,
        healthz: m.get_or_default(&HEALTHZ, |t| parse_http_base(t, DEFAULT_HEALTHZ))?,
        deadline: m.get_or_default(&DEADLINE, parse_duration)?,
        service,
    })
}

/// `http://IP:PORT` (a trailing `/` allowed): kube-proxy binds addresses, so no name to
/// resolve, and it serves plain HTTP.
/// `example` is the flag's default, for the error.
pub fn parse_http_base(url: &str, example: &'static str) -> Result<SocketAddr, ValueError> {
    let bad = || ValueError::NotHttpBase {
        url: url.to_string(),
        example,
    };
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.parse::<SocketAddr>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::scan_line;
    use crate::kubeapi::Mode;
    use crate::report::Origin;

    fn parse(line: &str) -> Result<NodeArgs, ArgError> {
        parse_node(&scan_line(&SPEC, line)?)
    }

    #[test]
    fn defaults() {
        let a = parse("").unwrap();
        assert_eq!(a.service, None);
        assert_eq!(
            (a.namespace.name.as_str(), a.namespace.origin),
            ("default", Origin::Default)
        );
        assert_eq!(a.host_root, PathBuf::from("/host"));
        assert_eq!(a.metrics, "127.0.0.1:10249".parse().unwrap());
        assert_eq!(a.healthz, "127.0.0.1:10256".parse().unwrap());
        assert_eq!(a.deadline, Duration::from_secs(5));
        assert_eq!(a.api.mode, Mode::Auto);
    }

    #[test]
    fn flags() {
        let a = parse(
            "hostnames.prod --port 8080 --host-root /mnt --objects - \
             --kube-proxy-metrics http://[::1]:9999/ --kube-proxy-healthz=http://10.0.0.2:1 \
             --deadline 2s",
        )
        .unwrap();
        assert_eq!(a.service.unwrap().name, "hostnames");
        assert_eq!(
            (a.namespace.name.as_str(), a.namespace.origin),
            ("prod", Origin::Name)
        );
        assert_eq!(a.port, Some(8080));
        assert_eq!(a.objects, Some(PathBuf::from("-")));
        assert_eq!(a.metrics, "[::1]:9999".parse().unwrap());
        assert_eq!(a.healthz, "10.0.0.2:1".parse().unwrap());
        let a = parse("-n kube-system --api-server https://10.0.0.1 x").unwrap();
        assert_eq!(a.namespace.name, "kube-system");
        assert_eq!(a.api.mode, Mode::Force);
    }

    #[test]
    fn usage_errors() {
        for line in [
            "a b",
            "--port 80",
            "--objects f",
            "x --kube-proxy-metrics https://127.0.0.1:10249",
            "x --kube-proxy-metrics http://localhost:10249",
            "x --kube-proxy-healthz 127.0.0.1:10256",
            "x.ns -n other",
            "x --objects f --api-server https://10.0.0.1",
            "BAD_NAME",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
        let error = parse("x --kube-proxy-healthz 127.0.0.1:10256").unwrap_err();
        assert_eq!(
            error.to_string(),
            "`--kube-proxy-healthz`: `127.0.0.1:10256` is not http://IP:PORT (e.g. \
             http://127.0.0.1:10256)"
        );
    }
}
