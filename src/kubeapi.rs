//! Reads a Service, its EndpointSlices and its Pods from the Kubernetes API server, as a
//! pod does with its service account, so that `diagnose` can check the Service definition
//! and endpoints without anyone piping `kubectl get -o json` in.
//!
//! Configuration is client-go's in-cluster config (`rest.InClusterConfig`):
//! `KUBERNETES_SERVICE_HOST`/`_PORT`, and the token, `ca.crt` and `namespace` files of the
//! mounted service account; or explicit `--api-server`, `--token-file`, `--cacert` for
//! node debug pods and tests. HTTPS only, verified against that CA, never an insecure
//! fallback. The token is re-read for every request (kubelet rotates projected tokens)
//! and goes nowhere but the `Authorization` header: not into reports, errors or logs.
//!
//! Every read is bounded: a per-request timeout, a deadline for the whole read, a cap on
//! each response's size and on the number of pages of a list.

use std::fmt;
use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::dns::millis;
use crate::k8s::{self, Objects, ObjectsError};
use crate::probe::agent::{Prober, Settings, Trace};
use crate::probe::tls::Trust;
use crate::report::ApiRequest;
use crate::report::TcpOutcome;

/// Where kubelet mounts the service account of a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// One response, a list page included (500 pods with their specs is about 3 MB).
const MAX_RESPONSE_BYTES: u64 = 8 << 20;
/// A token is a JWT of a few KB; anything larger is not a token file.
const MAX_TOKEN_BYTES: u64 = 64 << 10;
/// Items asked for per page, and pages read per list at most.
const PAGE_LIMIT: usize = 500;
const MAX_PAGES: usize = 4;
/// One request, body included; the whole read has its own deadline on top.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The API server's address: an IP or a host name (resolved with our resolver) and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiServer {
    /// Without brackets, also for IPv6.
    pub host: String,
    pub port: u16,
}

impl ApiServer {
    /// `https://HOST[:PORT][/]` (port 443 by default). Pure: used by the flag parser.
    pub fn parse(url: &str) -> Result<ApiServer, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("`{url}` is not an https:// URL (the API is HTTPS only)"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("`{url}`: unclosed [ in the host"))?;
            (host, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        let port = match port {
            None => 443,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("`{url}`: bad port"))?,
        };
        let valid = !host.is_empty()
            && !host.contains(['/', '?', '#', '@', ' '])
            && (host.parse::<IpAddr>().is_ok() || !host.contains(':'));
        if !valid {
            return Err(format!(
                "`{url}`: expected https://HOST[:PORT] with no path"
            ));
        }
        Ok(ApiServer {
            host: host.to_string(),
            port,
        })
    }

    pub fn url(&self) -> String {
        if self.host.contains(':') {
            format!("https://[{}]:{}", self.host, self.port)
        } else {
            format!("https://{}:{}", self.host, self.port)
        }
    }
}

/// How to reach the API server and what to present to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    pub server: ApiServer,
    pub token_file: PathBuf,
    pub cacert: PathBuf,
    /// `in-cluster` (environment and service account) or `flags`.
    pub source: &'static str,
}

/// Whether `diagnose` reads the API, from its flags and the pod's environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Read(ApiConfig),
    /// Not reading, and that is fine (`--no-api`, `--objects`, not in a pod).
    Skip(String),
    /// `--api` was asked for but there is nothing to read it with.
    Unavailable(String),
}

/// `--api`, `--no-api`, or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Force,
    Off,
}

/// The API flags of `diagnose`, validated but not acted on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiArgs {
    pub mode: Mode,
    pub server: Option<ApiServer>,
    pub token_file: Option<PathBuf>,
    pub cacert: Option<PathBuf>,
}

impl Plan {
    /// Decides from the flags, the environment and the service account directory.
    pub fn decide(args: &ApiArgs, objects_given: bool) -> Plan {
        let dir = Path::new(SERVICE_ACCOUNT_DIR);
        let token_file = args.token_file.clone().unwrap_or_else(|| dir.join("token"));
        let cacert = args.cacert.clone().unwrap_or_else(|| dir.join("ca.crt"));
        if args.mode == Mode::Off {
            return Plan::Skip("--no-api".into());
        }
        if objects_given {
            return Plan::Skip("the objects come from --objects".into());
        }
        if let Some(server) = &args.server {
            return Plan::Read(ApiConfig {
                server: server.clone(),
                token_file,
                cacert,
                source: "flags",
            });
        }
        let env = |name| std::env::var(name).ok();
        match in_cluster(
            env("KUBERNETES_SERVICE_HOST").as_deref(),
            env("KUBERNETES_SERVICE_PORT").as_deref(),
            &token_file,
            &cacert,
        ) {
            Ok(config) => Plan::Read(config),
            Err(why) if args.mode == Mode::Force => Plan::Unavailable(why),
            Err(why) => Plan::Skip(why),
        }
    }
}

/// client-go's in-cluster config: the Service environment kubelet sets, and a token file.
pub fn in_cluster(
    host: Option<&str>,
    port: Option<&str>,
    token_file: &Path,
    cacert: &Path,
) -> Result<ApiConfig, String> {
    let (Some(host), Some(port)) = (host.filter(|h| !h.is_empty()), port) else {
        return Err("not in a pod: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT unset (give --api-server URL to read the API anyway)".into());
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("KUBERNETES_SERVICE_PORT `{port}` is not a port"))?;
    if !token_file.is_file() {
        return Err(format!(
            "no service account token at {} (automountServiceAccountToken: false?)",
            token_file.display()
        ));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(ApiConfig {
        server: ApiServer {
            host: host.to_string(),
            port,
        },
        token_file: token_file.to_path_buf(),
        cacert: cacert.to_path_buf(),
        source: "in-cluster",
    })
}

/// Why a request (or the whole read) did not give us the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// 401: the token is not accepted.
    Unauthorized(String),
    /// 403: RBAC does not allow it. `user` as the server names it.
    Forbidden {
        message: String,
        user: Option<String>,
    },
    /// 404 of the object, or of the whole API group.
    NotFound(String),
    /// Any other HTTP status.
    Status {
        code: u16,
        message: String,
    },
    Timeout(String),
    /// Refused, rejected (ICMP), no route, a name that does not resolve.
    Unreachable(String),
    /// The certificate is not trusted, or the handshake failed.
    Tls(String),
    TooLarge,
    BadResponse(String),
    /// An object in the response does not have its kind's shape.
    Malformed(ObjectsError),
    /// The token or CA file cannot be used.
    Config(String),
}

impl ApiError {
    /// The stable vocabulary of the `api` check's evidence.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::Status { .. } => "http-status",
            ApiError::Timeout(_) => "timeout",
            ApiError::Unreachable(_) => "unreachable",
            ApiError::Tls(_) => "tls",
            ApiError::TooLarge => "too-large",
            ApiError::BadResponse(_) | ApiError::Malformed(_) => "bad-response",
            ApiError::Config(_) => "config",
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unauthorized(m) => write!(f, "401 Unauthorized: the token is rejected ({m})"),
            ApiError::Forbidden { message, .. } => write!(f, "403 Forbidden: {message}"),
            ApiError::NotFound(m) => write!(f, "404 Not Found: {m}"),
            ApiError::Status { code, message } => write!(f, "HTTP {code}: {message}"),
            ApiError::Timeout(m) => write!(f, "timeout: {m}"),
            ApiError::Unreachable(m) => write!(f, "unreachable: {m}"),
            ApiError::Tls(m) => write!(f, "TLS: {m}"),
            ApiError::TooLarge => write!(f, "response larger than {MAX_RESPONSE_BYTES} bytes"),
            ApiError::BadResponse(m) => write!(f, "bad response: {m}"),
            ApiError::Malformed(e) => write!(f, "bad response: {e}"),
            ApiError::Config(m) => write!(f, "{m}"),
        }
    }
}

/// What one resource's read ended with, when it did not end well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `services`, `endpointslices`, `endpoints` or `pods`.
    pub resource: &'static str,
    pub error: ApiError,
}

/// Everything read, and how.
#[derive(Debug, Default)]
pub struct ReadResult {
    /// `None` when the Service itself could not be read (not even a 404).
    pub objects: Option<Objects>,
    /// `Some(false)`: the API server says the Service does not exist.
    pub service_found: Option<bool>,
    pub requests: Vec<ApiRequest>,
    pub failures: Vec<Failure>,
    /// Lists cut short at the page bound: what they hold is incomplete.
    pub truncated: Vec<&'static str>,
    /// The namespace's pods were listed too, for near misses of the selector.
    pub listed_namespace_pods: bool,
}

/// Reads Service `namespace/name`, its EndpointSlices (or Endpoints) and the pods its
/// selector matches, all before `deadline`. Never fails as a whole: what could not be
/// read is in `failures`, and each response is parsed on its own, so one that cannot be
/// used costs only its own objects.
pub fn read(
    config: &ApiConfig,
    namespace: &str,
    name: &str,
    resolv_conf: &Path,
    deadline: Instant,
) -> ReadResult {
    let mut result = ReadResult::default();
    let mut client = match Client::new(config, resolv_conf, deadline) {
        Ok(client) => client,
        Err(error) => {
            result.failures.push(Failure {
                resource: "services",
                error,
            });
            return result;
        }
    };
    let ns = encode(namespace);
    let service = client
        .get(&format!(
            "/api/v1/namespaces/{ns}/services/{}",
            encode(name)
        ))
        .and_then(|value| parse(vec![value], "Service"));
    let mut objects = match service {
        Ok(objects) => objects,
        Err(ApiError::NotFound(_)) => {
            result.objects = Some(Objects::default());
            result.service_found = Some(false);
            result.requests = client.requests;
            return result;
        }
        Err(error) => {
            result.failures.push(Failure {
                resource: "services",
                error,
            });
            result.requests = client.requests;
            return result;
        }
    };
    result.service_found = Some(true);
    let selector = objects
        .services
        .first()
        .and_then(|s| s.spec.selector.as_ref())
        .filter(|s| !s.is_empty())
        .map(|s| {
            let labels: Vec<String> = s.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.join(",")
        });
    read_endpoints(&mut client, &ns, name, &mut objects, &mut result);
    if let Some(selector) = &selector {
        read_pods(&mut client, &ns, selector, &mut objects, &mut result);
    }
    result.requests = client.requests;
    result.objects = Some(objects);
    result
}

/// The Service's EndpointSlices; without the discovery API (before 1.21), or with RBAC
/// that does not allow it, its v1 Endpoints object.
fn read_endpoints(
    client: &mut Client,
    ns: &str,
    name: &str,
    objects: &mut Objects,
    result: &mut ReadResult,
) {
    let slices = client
        .list(
            &format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
            Some(&format!("kubernetes.io/service-name={name}")),
            MAX_PAGES,
        )
        .and_then(|list| Ok((parse(list.items, "EndpointSlice")?, list.truncated)));
    let slices_error = match slices {
        Ok((slices, truncated)) => {
            if truncated {
                result.truncated.push("endpointslices");
            }
            objects.extend(slices);
            return;
        }
        Err(error) => error,
    };
    let fallback = matches!(
        slices_error,
        ApiError::NotFound(_) | ApiError::Forbidden { .. }
    );
    if !matches!(slices_error, ApiError::NotFound(_)) {
        result.failures.push(Failure {
            resource: "endpointslices",
            error: slices_error,
        });
    }
    if !fallback {
        return;
    }
    let endpoints = client
        .get(&format!(
            "/api/v1/namespaces/{ns}/endpoints/{}",
            encode(name)
        ))
        .and_then(|value| parse(vec![value], "Endpoints"));
    match endpoints {
        Ok(endpoints) => objects.extend(endpoints),
        Err(ApiError::NotFound(_)) => {}
        Err(error) => result.failures.push(Failure {
            resource: "endpoints",
            error,
        }),
    }
}

/// The pods `selector` matches; when it matches none, one page of the namespace's pods,
/// for the near misses.
fn read_pods(
    client: &mut Client,
    ns: &str,
    selector: &str,
    objects: &mut Objects,
    result: &mut ReadResult,
) {
    let path = format!("/api/v1/namespaces/{ns}/pods");
    let selected = client
        .list(&path, Some(selector), MAX_PAGES)
        .and_then(|list| Ok((parse(list.items, "Pod")?, list.truncated)));
    let all = match selected {
        Ok((pods, truncated)) if !pods.pods.is_empty() => {
            if truncated {
                result.truncated.push("pods");
            }
            objects.extend(pods);
            return;
        }
        Ok(_) => client
            .list(&path, None, 1)
            .and_then(|all| parse(all.items, "Pod")),
        Err(error) => {
            objects.pods_unavailable = Some(error.to_string());
            result.failures.push(Failure {
                resource: "pods",
                error,
            });
            return;
        }
    };
    match all {
        Ok(all) => {
            result.listed_namespace_pods = true;
            objects.extend(all);
        }
        Err(error) => result.failures.push(Failure {
            resource: "pods",
            error,
        }),
    }
}

/// The objects of one response (a single object, or a list's items), typed.
fn parse(items: Vec<Value>, kind: &str) -> Result<Objects, ApiError> {
    k8s::from_items(items, kind).map_err(ApiError::Malformed)
}

/// One page-bounded list: its items (each with its `kind`), and whether pages were left.
struct List {
    items: Vec<Value>,
    truncated: bool,
}

struct Client {
    server: ApiServer,
    token_file: PathBuf,
    trust: Trust,
    addresses: Vec<SocketAddr>,
    deadline: Instant,
    requests: Vec<ApiRequest>,
}

impl Client {
    fn new(config: &ApiConfig, resolv_conf: &Path, deadline: Instant) -> Result<Client, ApiError> {
        let trust = Trust::load(Some(&config.cacert))
            .map_err(|e| ApiError::Config(format!("CA bundle: {e}")))?;
        let server = &config.server;
        let addresses = match server.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, server.port)],
            Err(_) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let resolved = crate::dns::resolve::resolve(&server.host, resolv_conf, left)
                    .map_err(|e| ApiError::Unreachable(format!("resolve {}: {e}", server.host)))?;
                if resolved.addresses.is_empty() {
                    return Err(ApiError::Unreachable(format!(
                        "{} does not resolve: {}",
                        server.host, resolved.report.reason
                    )));
                }
                resolved
                    .addresses
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, server.port))
                    .collect()
            }
        };
        Ok(Client {
            server: server.clone(),
            token_file: config.token_file.clone(),
            trust,
            addresses,
            deadline,
            requests: Vec::new(),
        })
    }

    /// GET `path` (with its query) and parse the JSON body of a 200.
    fn get(&mut self, path: &str) -> Result<Value, ApiError> {
        let start = Instant::now();
        let result = self.get_inner(path, start);
        self.requests.push(ApiRequest {
            path: path.to_string(),
            status: match &result {
                Ok(_) => Some(200),
                Err(ApiError::Unauthorized(_)) => Some(401),
                Err(ApiError::Forbidden { .. }) => Some(403),
                Err(ApiError::NotFound(_)) => Some(404),
                Err(ApiError::Status { code, .. }) => Some(*code),
                Err(_) => None,
            },
            items: result
                .as_ref()
                .ok()
                .and_then(|v| v.get("items"))
                .and_then(Value::as_array)
                .map(Vec::len),
            error: result.as_ref().err().map(ApiError::kind),
            duration_ms: millis(start.elapsed()),
        });
        result
    }

    fn get_inner(&self, path: &str, start: Instant) -> Result<Value, ApiError> {
        let left = self.deadline.saturating_duration_since(start);
        if left.is_zero() {
            return Err(ApiError::Timeout(format!(
                "the read's deadline passed before GET {path}"
            )));
        }
        let token = read_token(&self.token_file)?;
        let timeout = left.min(REQUEST_TIMEOUT);
        let prober = Prober::new(&Settings {
            addresses: self.addresses.clone(),
            source: None,
            connect_timeout: timeout.min(CONNECT_TIMEOUT),
            timeout,
            trust: self.trust.clone(),
        });
        let url = format!("{}{path}", self.server.url());
        let response = prober
            .get_authorized(&url, &token)
            .map_err(|e| classify(&e, &prober.trace(), timeout))?;
        let code = response.status().as_u16();
        let mut body = response.into_body();
        let limit = if code == 200 {
            MAX_RESPONSE_BYTES
        } else {
            64 << 10
        };
        let bytes = body
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => ApiError::TooLarge,
                other => classify(&other, &prober.trace(), timeout),
            })?;
        // from_str, as everywhere else: one JSON reader linked, not two.
        let text = String::from_utf8(bytes)
            .map_err(|_| ApiError::BadResponse(format!("GET {path}: not UTF-8")))?;
        if code == 200 {
            return serde_json::from_str(&text)
                .map_err(|e| ApiError::BadResponse(format!("GET {path}: not JSON: {e}")));
        }
        // The API server explains itself in a `Status` object.
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| format!("GET {path}"));
        Err(match code {
            401 => ApiError::Unauthorized(message),
            403 => ApiError::Forbidden {
                user: forbidden_user(&message),
                message,
            },
            404 => ApiError::NotFound(message),
            code => ApiError::Status { code, message },
        })
    }

    /// A list, page by page (`limit`/`continue`), at most `max_pages` pages.
    fn list(
        &mut self,
        path: &str,
        selector: Option<&str>,
        max_pages: usize,
    ) -> Result<List, ApiError> {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..max_pages {
            let mut query = format!("{path}?limit={PAGE_LIMIT}");
            if let Some(selector) = selector {
                query.push_str(&format!("&labelSelector={}", encode(selector)));
            }
            if let Some(token) = &next {
                query.push_str(&format!("&continue={}", encode(token)));
            }
            let mut page = self.get(&query)?;
            next = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(String::from);
            // `items` has no omitempty: `null` is an empty page, as `[]` is.
            match page.get_mut("items").map(Value::take) {
                Some(Value::Array(page_items)) => items.extend(page_items),
                Some(Value::Null) => {}
                _ => {
                    return Err(ApiError::BadResponse(format!(
                        "GET {query}: a list without `items`"
                    )))
                }
            }
            if next.is_none() {
                return Ok(List {
                    items,
                    truncated: false,
                });
            }
        }
        Ok(List {
            items,
            truncated: true,
        })
    }
}

/// The token, read now: kubelet replaces projected tokens before they expire.
fn read_token(path: &Path) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TOKEN_BYTES).read_to_end(&mut bytes))
        .map_err(|e| {
            ApiError::Config(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
    let token = String::from_utf8(bytes)
        .map_err(|_| ApiError::Config(format!("the token file {} is not text", path.display())))?;
    let token = token.trim();
    // A header value cannot carry control characters; say so without showing the token.
    if token.is_empty() || token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(ApiError::Config(format!(
            "the token file {} holds no usable token",
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// How a request failed below HTTP: the same vocabulary as the `tcp` and `http` probes.
fn classify(error: &ureq::Error, trace: &Trace, timeout: Duration) -> ApiError {
    if let Some(failure) = &trace.connect_failure {
        let peer = trace.peer.map(|p| p.to_string()).unwrap_or_default();
        let icmp = failure
            .icmp
            .as_ref()
            .map(|i| format!(", ICMP from {}", i.from))
            .unwrap_or_default();
        let what = format!(
            "connect to {peer}: {}{icmp} ({})",
            failure.outcome.as_str(),
            failure.detail
        );
        return if failure.outcome == TcpOutcome::Timeout {
            ApiError::Timeout(what)
        } else {
            ApiError::Unreachable(what)
        };
    }
    let handshaking = trace.connected_at.is_some() && trace.tls_done_at.is_none();
    match error {
        ureq::Error::Timeout(_) => ApiError::Timeout(format!(
            "no complete answer within {} ms{}",
            timeout.as_millis() as u64,
            if handshaking { " (TLS handshake)" } else { "" }
        )),
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::Timeout(format!(
                "no complete answer within {} ms",
                timeout.as_millis() as u64
            ))
        }
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => ApiError::Tls(error.to_string()),
        _ if handshaking => ApiError::Tls(error.to_string()),
        other => ApiError::BadResponse(other.to_string()),
    }
}

/// `User "system:serviceaccount:default:default"` from a Forbidden message.
fn forbidden_user(message: &str) -> Option<String> {
    let after = message.split_once("User \"")?.1;
    Some(after.split_once('"')?.0.to_string())
}

/// Percent-encoding of a path segment or query value (RFC 3986 unreserved kept).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The Role and RoleBinding that let `subject` (a service account, by default the
/// namespace's `default`) read what `diagnose` reads: `deploy/rbac.yaml`, filled in.
pub fn rbac_yaml(namespace: &str, user: Option<&str>) -> String {
    let (sa_namespace, sa_name) = service_account(namespace, user);
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: svcprobe-read
  namespace: {namespace}
rules:
- apiGroups: [\"\"]
  resources: [\"services\", \"endpoints\", \"pods\"]
  verbs: [\"get\", \"list\"]
- apiGroups: [\"discovery.k8s.io\"]
  resources: [\"endpointslices\"]
  verbs: [\"get\", \"list\"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: svcprobe-read
  namespace: {namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: svcprobe-read
subjects:
- kind: ServiceAccount
  name: {sa_name}
  namespace: {sa_namespace}
"
    )
}

/// The same as two kubectl commands, for a hint line.
pub fn rbac_commands(namespace: &str, user: Option<&str>) -> String {
    let subject = match user {
        Some(u) if !u.starts_with("system:serviceaccount:") => format!("--user={u}"),
        _ => {
            let (sa_namespace, sa_name) = service_account(namespace, user);
            format!("--serviceaccount={sa_namespace}:{sa_name}")
        }
    };
    format!(
        "kubectl create role svcprobe-read -n {namespace} --verb=get,list --resource=services,endpoints,pods,endpointslices.discovery.k8s.io && kubectl create rolebinding svcprobe-read -n {namespace} --role=svcprobe-read {subject}"
    )
}

fn service_account(namespace: &str, user: Option<&str>) -> (String, String) {
    user.and_then(|u| u.strip_prefix("system:serviceaccount:"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(ns, name)| (ns.to_string(), name.to_string()))
        .unwrap_or_else(|| (namespace.to_string(), "default".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let ok = |url: &str| ApiServer::parse(url).unwrap();
        assert_eq!(ok("https://10.0.0.1").url(), "https://10.0.0.1:443");
        assert_eq!(ok("https://10.0.0.1:6443/").port, 6443);
        assert_eq!(ok("https://[fd00::1]:443").host, "fd00::1");
        assert_eq!(ok("https://[fd00::1]").url(), "https://[fd00::1]:443");
        assert_eq!(
            ok("https://kubernetes.default.svc").host,
            "kubernetes.default.svc"
        );
        for bad in [
            "http://10.0.0.1",
            "10.0.0.1",
            "https://",
            "https://10.0.0.1:0",
            "https://10.0.0.1:x",
            "https://10.0.0.1/api",
            "https://[fd00::1",
            "https://fd00::1",
            "https://user@host",
        ] {
            assert!(ApiServer::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn in_cluster_config_like_client_go() {
        let dir = std::env::temp_dir().join(format!("svcprobe-sa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        let ca = dir.join("ca.crt");
        assert!(in_cluster(None, Some("443"), &token, &ca)
            .unwrap_err()
            .contains("not in a pod"));
        assert!(in_cluster(Some("10.0.0.1"), Some("443"), &token, &ca)
            .unwrap_err()
            .contains("no service account token"));
        std::fs::write(&token, "abc\n").unwrap();
        let config = in_cluster(Some("10.0.0.1"), Some("443"), &token, &ca).unwrap();
        assert_eq!(config.server.url(), "https://10.0.0.1:443");
        assert_eq!(config.source, "in-cluster");
        // An IPv6 host comes bare in the environment; the URL brackets it.
        let v6 = in_cluster(Some("fd00::1"), Some("6443"), &token, &ca).unwrap();
        assert_eq!(v6.server.url(), "https://[fd00::1]:6443");
        assert!(in_cluster(Some("10.0.0.1"), Some("https"), &token, &ca).is_err());
        // Re-read on every request, trimmed; bad contents are named without being shown.
        assert_eq!(read_token(&token).unwrap(), "abc");
        std::fs::write(&token, "secret value\n").unwrap();
        let error = read_token(&token).unwrap_err().to_string();
        assert!(!error.contains("secret"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rbac_names_the_subject_the_server_named() {
        let message = "services \"x\" is forbidden: User \"system:serviceaccount:probe:svcprobe\" cannot get resource \"services\" in API group \"\" in the namespace \"default\"";
        let user = forbidden_user(message);
        assert_eq!(
            user.as_deref(),
            Some("system:serviceaccount:probe:svcprobe")
        );
        let yaml = rbac_yaml("default", user.as_deref());
        assert!(
            yaml.contains("  name: svcprobe\n  namespace: probe\n"),
            "{yaml}"
        );
        assert!(
            rbac_commands("default", user.as_deref()).ends_with("--serviceaccount=probe:svcprobe")
        );
        assert!(rbac_commands("default", Some("jane")).ends_with("--user=jane"));
        assert!(rbac_yaml("web", None).contains("  name: default\n  namespace: web\n"));
    }

    #[test]
    fn the_shipped_rbac_is_the_one_printed() {
        let shipped = include_str!("../deploy/rbac.yaml");
        assert!(
            shipped.ends_with(&rbac_yaml("default", None)),
            "deploy/rbac.yaml drifted"
        );
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(
            encode("kubernetes.io/service-name=web"),
            "kubernetes.io%2Fservice-name%3Dweb"
        );
    }
}
