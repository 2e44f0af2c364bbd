//! A stand-in for kube-apiserver, for the tests of `diagnose`'s API read.
//!
//! kube-apiserver (and the etcd behind it) cannot run on these machines, so the tests use this
//! HTTPS server instead; it is the only stand-in we allow. It serves real API objects: the test
//! bed's `hostnames` Service, EndpointSlice and Pods (tests/fixtures/objects/hostnames.json), or
//! the same Service with no endpoints (no-endpoints.json), returned the way the API server returns
//! them (a single object for a GET, typed lists whose items carry no `kind` for a list). The
//! fixtures, and what the stand-in builds itself, are in Go's encoding of the k8s.io/api types:
//! a field with `omitempty` is left out when empty, a nil slice without it is `null` (the
//! placeholder EndpointSlice of a Service without endpoints: `"endpoints": null, "ports":
//! null`), a list's `items` is `[]` when empty (the server never sends it nil). Like the real
//! server it checks the bearer token (401 otherwise), answers 403 and 404 with `Status` objects,
//! filters by `labelSelector`, pages lists (`limit`/`continue`, possibly fewer items than asked),
//! and, for the deadline tests, can be slow or never answer.
//!
//! The certificate (tests/fixtures/kubeapi/server.pem, for 10.0.0.1, 10.240.0.2, 127.0.0.1 and
//! the kubernetes.default names) is signed by tests/fixtures/kubeapi/ca.pem; other-ca.pem signed
//! nothing here. The server can listen inside a test-bed namespace: its accepting thread enters
//! that network namespace (setns is per thread), so the rest of the test process is unaffected.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod pods;
mod protobuf;
mod websocket;
#[allow(unused_imports)]
pub use pods::{Kubelet, Ran, Run, Runner};

/// The bed's healthy `hostnames` Service, its EndpointSlice and its three pods.
pub const HOSTNAMES: &str = include_str!("../fixtures/objects/hostnames.json");
/// The same Service when no pod can run: its pods Pending (unschedulable, no
/// `containerStatuses`), the placeholder EndpointSlice (`endpoints` and `ports` null), an
/// Endpoints object without `subsets`.
pub const NO_ENDPOINTS: &str = include_str!("../fixtures/objects/no-endpoints.json");
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kubeapi");
/// The subject a pod's default service account authenticates as.
const USER: &str = "system:serviceaccount:default:default";
const RESOURCE_VERSION: &str = "1052";

/// What the server does; change it between runs with [`FakeApiServer::set`].
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// The only bearer token accepted.
    pub token: String,
    /// The objects served: [`HOSTNAMES`] or [`NO_ENDPOINTS`].
    pub fixture: &'static str,
    /// Resources (`services`, `endpointslices`, `endpoints`, `pods`) answered with 403.
    pub forbidden: Vec<&'static str>,
    /// Objects served besides `fixture` (e.g. kube-system's kube-dns).
    pub also: Option<&'static str>,
    /// Namespaces in which every resource is answered with 403.
    pub forbidden_namespaces: Vec<&'static str>,
    /// The Service does not exist (404).
    pub missing_service: bool,
    /// An old cluster: discovery.k8s.io is not served (404), only v1 Endpoints.
    pub no_discovery: bool,
    /// The guide's mistake: the Service selects `run=hostnames` where the pods say
    /// `app=hostnames`, so it has no endpoints: the EndpointSlice controller keeps its
    /// placeholder slice (`endpoints` and `ports` null) and the Endpoints have no `subsets`.
    pub wrong_selector: bool,
    /// At most this many items per page, whatever `limit` asks.
    pub page_size: usize,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Accept, read the request, never answer.
    pub hang: bool,
    /// Answer lists with a body over svcprobe's 8 MiB cap.
    pub huge_lists: bool,
    /// Send bodies longer than 2,048 bytes chunked (2,048 bytes a chunk), as Go's net/http
    /// (kube-apiserver) does with a body it has not measured; else with Content-Length.
    pub go_chunking: bool,
    /// More `hostnames` pods (copies of the fixture's first), to make lists long.
    pub extra_pods: usize,
    /// After the first answer, kubelet's rotation: this token goes into this file and
    /// only it is accepted from then on.
    pub rotate_to: Option<(std::path::PathBuf, String)>,
    /// Answer a pod's DELETE with 403 (the plugin must say it could not delete its pod).
    pub refuse_delete: bool,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub authorization: Option<String>,
}

pub struct FakeApiServer {
    pub addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    /// The pods kubectl creates and changes (pods.rs), and the test's runner for them.
    pub kubelet: Arc<Kubelet>,
}

impl FakeApiServer {
    /// Listens on `bind` (port 0 for any), inside network namespace `netns` when given
    /// (a name under /run/netns, e.g. a test-bed pod's), accepting only `token`.
    pub fn start(bind: &str, netns: Option<&str>, token: &str) -> FakeApiServer {
        let behaviour = Arc::new(Mutex::new(Behaviour {
            token: token.to_string(),
            fixture: HOSTNAMES,
            forbidden: Vec::new(),
            also: None,
            forbidden_namespaces: Vec::new(),
            missing_service: false,
            no_discovery: false,
            wrong_selector: false,
            page_size: 500,
            delay: Duration::ZERO,
            hang: false,
            huge_lists: false,
            go_chunking: false,
            extra_pods: 0,
            rotate_to: None,
            refuse_delete: false,
        }));
        let kubelet = Arc::new(Kubelet::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let bind = bind.to_string();
        let netns = netns.map(str::to_string);
        let (b, s, st, k) = (
            behaviour.clone(),
            seen.clone(),
            stop.clone(),
            kubelet.clone(),
        );
        thread::spawn(move || {
            if let Some(ns) = &netns {
                enter_netns(ns);
            }
            let listener = TcpListener::bind(&bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
            listener.set_nonblocking(true).expect("nonblocking");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            let config = server_config();
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (config, b, s, st, k) =
                            (config.clone(), b.clone(), s.clone(), st.clone(), k.clone());
                        thread::spawn(move || serve(tcp, config, &b, &s, &st, &k));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the fake API server did not start");
        FakeApiServer {
            addr,
            behaviour,
            seen,
            stop,
            kubelet,
        }
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    /// Requests seen since the last call (and forgets them).
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn enter_netns(name: &str) {
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    use std::os::fd::AsRawFd;
    // SAFETY: a valid namespace fd; affects only this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

fn server_config() -> Arc<rustls::ServerConfig> {
    super::tls::server_config(
        &format!("{FIXTURES}/server.pem"),
        &format!("{FIXTURES}/server.key"),
    )
}

fn serve(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    behaviour: &Mutex<Behaviour>,
    seen: &Mutex<Vec<Seen>>,
    stop: &AtomicBool,
    kubelet: &Arc<Kubelet>,
) {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let Some(request) = read_request(&mut tls) else {
        return;
    };
    let target = request.target.clone();
    let authorization = request.headers.get("authorization").cloned();
    seen.lock().unwrap().push(Seen {
        method: request.method.clone(),
        target: target.clone(),
        authorization: authorization.clone(),
    });
    let now = behaviour.lock().unwrap().clone();
    if now.hang {
        let until = Instant::now() + Duration::from_secs(30);
        while !stop.load(Ordering::Relaxed) && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
        return;
    }
    thread::sleep(now.delay);
    let fixture: Value = serde_json::from_str(now.fixture).expect("fixture");
    let items = fixture["items"].as_array().cloned().unwrap_or_default();
    let authorized = authorization == Some(format!("Bearer {}", now.token));
    let (code, body) = match authorized {
        true => match pods::handle(&request, &mut tls, &now, &items, kubelet) {
            pods::Outcome::Done => {
                tls.conn.send_close_notify();
                let _ = tls.flush();
                return;
            }
            pods::Outcome::Reply(code, body) => (code, body),
            pods::Outcome::NotMine => answer(&now, &target, authorization.as_deref(), kubelet),
        },
        false => answer(&now, &target, authorization.as_deref(), kubelet),
    };
    let reason = match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        409 => "Conflict",
        _ => "Not Found",
    };
    let body = body.to_string();
    let framing = match now.go_chunking && body.len() > 2048 {
        false => format!("Content-Length: {}", body.len()),
        true => "Transfer-Encoding: chunked".to_string(),
    };
    let mut response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    if now.go_chunking && body.len() > 2048 {
        for chunk in body.as_bytes().chunks(2048) {
            response.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            response.extend_from_slice(chunk);
            response.extend_from_slice(b"\r\n");
        }
        response.extend_from_slice(b"0\r\n\r\n");
    } else {
        response.extend_from_slice(body.as_bytes());
    }
    // Rotated before the answer goes out, so the client's next request must use the new one.
    {
        let mut shared = behaviour.lock().unwrap();
        if let Some((file, token)) = shared.rotate_to.take() {
            std::fs::write(file, format!("{token}\n")).expect("rotate the token");
            shared.token = token;
        }
    }
    let _ = tls.write_all(&response);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// The request line, headers (names in lower case) and a `Content-Length` body (at most 8 MiB).
fn read_request(conn: &mut impl Read) -> Option<pods::Request> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 << 10 {
            return None;
        }
    };
    let mut body = head.split_off(end);
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut words = head.lines().next().unwrap_or_default().split(' ');
    let method = words.next().unwrap_or_default().to_string();
    let target = words.next().unwrap_or_default().to_string();
    let headers: BTreeMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    if length > 8 << 20 {
        return None;
    }
    while body.len() < length {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    Some(pods::Request {
        method,
        target,
        headers,
        body,
    })
}

/// The API server's answer to GET `target`: status code and JSON body.
fn answer(
    b: &Behaviour,
    target: &str,
    authorization: Option<&str>,
    kubelet: &Kubelet,
) -> (u16, Value) {
    if authorization != Some(&format!("Bearer {}", b.token)) {
        return (
            401,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"Unauthorized","reason":"Unauthorized","code":401}),
        );
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let fixture: Value = serde_json::from_str(b.fixture).expect("fixture");
    let mut items = fixture["items"].as_array().cloned().unwrap_or_default();
    if let Some(also) = b.also {
        let also: Value = serde_json::from_str(also).expect("fixture");
        items.extend(also["items"].as_array().cloned().unwrap_or_default());
    }
    if let Some(at) = segments
        .iter()
        .position(|s| *s == "namespaces")
        .filter(|at| {
            segments
                .get(at + 1)
                .is_some_and(|ns| b.forbidden_namespaces.contains(ns))
        })
    {
        let ns = segments.get(at + 1).copied().unwrap_or_default();
        let resource = segments.get(at + 2).copied().unwrap_or_default();
        let (resource, group) = match resource {
            "endpointslices" => ("endpointslices", "discovery.k8s.io"),
            other => (other, ""),
        };
        return forbidden("get", resource, group, ns, None);
    }
    let of_kind = |kind: &str| -> Vec<Value> {
        items
            .iter()
            .filter(|i| i["kind"] == kind)
            .cloned()
            .collect()
    };
    match segments.as_slice() {
        ["api", "v1", "namespaces", ns, "services", name] => {
            if b.forbidden.contains(&"services") {
                return forbidden("get", "services", "", ns, Some(name));
            }
            match of_kind("Service")
                .into_iter()
                .find(|s| s["metadata"]["name"] == *name && s["metadata"]["namespace"] == *ns)
            {
                Some(mut service) if !b.missing_service => {
                    if b.wrong_selector {
                        service["spec"]["selector"] = json!({ "run": "hostnames" });
                    }
                    (200, service)
                }
                _ => not_found(
                    &format!("services \"{name}\" not found"),
                    Some((name, "services")),
                ),
            }
        }
        ["apis", "discovery.k8s.io", "v1", "namespaces", ns, "endpointslices"] => {
            if b.no_discovery {
                return not_found("the server could not find the requested resource", None);
            }
            if b.forbidden.contains(&"endpointslices") {
                return forbidden("list", "endpointslices", "discovery.k8s.io", ns, None);
            }
            let mut slices = of_kind("EndpointSlice");
            if b.wrong_selector {
                slices.iter_mut().for_each(placeholder);
            }
            list(
                b,
                "EndpointSlice",
                "discovery.k8s.io/v1",
                slices,
                ns,
                &query,
            )
        }
        ["api", "v1", "namespaces", ns, "endpoints", name] => {
            if b.forbidden.contains(&"endpoints") {
                return forbidden("get", "endpoints", "", ns, Some(name));
            }
            let kept = of_kind("Endpoints")
                .into_iter()
                .find(|e| e["metadata"]["name"] == *name && e["metadata"]["namespace"] == *ns);
            let derived = of_kind("EndpointSlice")
                .into_iter()
                .find(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == *name)
                .map(|mut slice| {
                    if b.wrong_selector {
                        placeholder(&mut slice);
                    }
                    endpoints_from(&slice, name, ns)
                });
            match kept.or(derived) {
                Some(endpoints) if !b.missing_service => (200, endpoints),
                _ => not_found(
                    &format!("endpoints \"{name}\" not found"),
                    Some((name, "endpoints")),
                ),
            }
        }
        ["api", "v1", "namespaces", ns, "pods"] => {
            if b.forbidden.contains(&"pods") {
                return forbidden("list", "pods", "", ns, None);
            }
            let mut pods = of_kind("Pod");
            let first = pods.first().cloned().unwrap_or_default();
            for n in 0..b.extra_pods {
                let mut extra = first.clone();
                extra["metadata"]["name"] = json!(format!("hostnames-632524106-extra{n}"));
                pods.push(extra);
            }
            // The pods kubectl created or changed (pods.rs), in place of the fixture's.
            let held = kubelet.pods_in(ns);
            pods.retain(|p| {
                !held
                    .iter()
                    .any(|h| h["metadata"]["name"] == p["metadata"]["name"])
            });
            pods.extend(held);
            if let Some(name) = query
                .get("fieldSelector")
                .and_then(|f| f.strip_prefix("metadata.name="))
            {
                pods.retain(|p| p["metadata"]["name"] == name);
            }
            list(b, "Pod", "v1", pods, ns, &query)
        }
        _ => not_found("the server could not find the requested resource", None),
    }
}

/// A typed list page: items without `kind`/`apiVersion`, `metadata.continue` when more remain.
fn list(
    b: &Behaviour,
    kind: &str,
    api_version: &str,
    items: Vec<Value>,
    ns: &str,
    query: &BTreeMap<String, String>,
) -> (u16, Value) {
    let selector: Vec<(String, String)> = query
        .get("labelSelector")
        .map(|s| {
            s.split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let matching: Vec<Value> = items
        .into_iter()
        .filter(|i| i["metadata"]["namespace"] == ns)
        .filter(|i| {
            selector
                .iter()
                .all(|(k, v)| i["metadata"]["labels"][k.as_str()] == v.as_str())
        })
        .map(|mut i| {
            if let Value::Object(map) = &mut i {
                map.remove("kind");
                map.remove("apiVersion");
            }
            i
        })
        .collect();
    // An opaque continue token, with characters that must be percent-encoded in a query.
    let offset: usize = query
        .get("continue")
        .and_then(|c| c.strip_suffix(&format!("/rv={RESOURCE_VERSION}")))
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX)
        .min(b.page_size)
        .max(1);
    let mut page: Vec<Value> = matching.iter().skip(offset).take(limit).cloned().collect();
    if let (true, Some(first)) = (b.huge_lists, page.first_mut()) {
        first["metadata"]["annotations"] = json!({ "padding": "x".repeat(17 << 19) });
    }
    let next = offset + page.len();
    let mut metadata = json!({ "resourceVersion": RESOURCE_VERSION });
    if next < matching.len() {
        metadata["continue"] = json!(format!("{next}/rv={RESOURCE_VERSION}"));
        metadata["remainingItemCount"] = json!(matching.len() - next);
    }
    (
        200,
        json!({ "kind": format!("{kind}List"), "apiVersion": api_version, "metadata": metadata, "items": page }),
    )
}

/// The slice the EndpointSlice controller keeps for a Service that selects no pods, as
/// the server returns it: created with empty `endpoints` and `ports`, stored as protobuf
/// (where empty and nil are one thing), read back nil, written `null` (no `omitempty`).
fn placeholder(slice: &mut Value) {
    slice["endpoints"] = Value::Null;
    slice["ports"] = Value::Null;
}

/// The v1 Endpoints object the endpoints controller would keep beside `slice`, in Go's
/// encoding: `subsets`, `addresses`, `notReadyAddresses`, `nodeName` and `targetRef` are
/// all `omitempty`, so each is left out when empty.
fn endpoints_from(slice: &Value, name: &str, ns: &str) -> Value {
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    for e in slice["endpoints"].as_array().cloned().unwrap_or_default() {
        for ip in e["addresses"].as_array().cloned().unwrap_or_default() {
            let mut address = json!({ "ip": ip });
            for key in ["nodeName", "targetRef"] {
                if !e[key].is_null() {
                    address[key] = e[key].clone();
                }
            }
            if e["conditions"]["ready"] == false {
                not_ready.push(address);
            } else {
                ready.push(address);
            }
        }
    }
    let mut endpoints = json!({
        "kind": "Endpoints", "apiVersion": "v1",
        "metadata": { "name": name, "namespace": ns, "labels": { "app": "hostnames" } },
    });
    if !ready.is_empty() || !not_ready.is_empty() {
        let mut subset = json!({ "ports": slice["ports"] });
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        endpoints["subsets"] = json!([subset]);
    }
    endpoints
}

fn forbidden(
    verb: &str,
    resource: &str,
    group: &str,
    ns: &str,
    name: Option<&str>,
) -> (u16, Value) {
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let object = name
        .map(|n| format!("{qualified} \"{n}\""))
        .unwrap_or(qualified);
    (
        403,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
               "message": format!("{object} is forbidden: User \"{USER}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"{ns}\""),
               "reason":"Forbidden","details":{"name": name.unwrap_or_default(),"kind":resource},"code":403}),
    )
}

fn not_found(message: &str, details: Option<(&str, &str)>) -> (u16, Value) {
    let details = details
        .map(|(name, kind)| json!({ "name": name, "kind": kind }))
        .unwrap_or_else(|| json!({}));
    (
        404,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
               "message": message,"reason":"NotFound","details": details,"code":404}),
    )
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                let hex = std::str::from_utf8(hex).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
