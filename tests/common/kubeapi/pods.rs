//! What the stand-in does for `kubectl svcprobe` (plugin/kubectl-svcprobe), beyond the reads of
//! svcprobe's own API client: API discovery (kubectl maps `pods`, `svc` and `deploy` through it),
//! Service lists, a Node and a Deployment for the bed's objects, and the pod life cycle the
//! plugin drives: create, get, list and watch, delete, the `ephemeralcontainers` subresource of
//! `kubectl debug`, `log` (also followed) and `attach` over WebSocket (websocket.rs).
//!
//! The stand-in cannot run a pod. It keeps what was submitted, marks the container running at
//! once, and hands the container's command to the test's [`Runner`] (which runs the real svcprobe
//! in a test-bed pod): when kubectl attaches, with the stdin kubectl sent; for a container without
//! stdin, as soon as it is created. What the runner returns goes back the way the kubelet would
//! give it: on the attach stream, in the container's log, and as the container's `terminated`
//! state and exit code in the pod's status. That is the whole seam: nothing else is simulated.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{websocket, Behaviour};

/// A container the stand-in was asked to run: what the test bed should run for it.
#[derive(Clone, Debug)]
pub struct Run {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The container's `command` (empty: the image's entrypoint, `/svcprobe`).
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// A node debug pod (host network): runs in the bed's node.
    pub host_network: bool,
    /// An ephemeral container's `targetContainerName`: runs in that pod.
    pub target: Option<String>,
    /// What kubectl sent on stdin (attach), `None` for a container without stdin.
    pub stdin: Option<Vec<u8>>,
    /// `securityContext.runAsUser`, the container's or else the pod's (`None`: the image's
    /// USER, 65534): with netadmin's capabilities, only root has them effective.
    pub run_as_user: Option<i64>,
}

/// What the container printed and its exit code.
#[derive(Clone, Debug, Default)]
pub struct Ran {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

/// The test's side of the seam.
pub type Runner = Arc<dyn Fn(&Run) -> Ran + Send + Sync>;

/// The pods the stand-in holds, and what was done to them.
#[derive(Default)]
pub struct Kubelet {
    state: Mutex<State>,
    runner: Mutex<Option<Runner>>,
}

#[derive(Default)]
struct State {
    resource_version: u64,
    /// Created pods, and fixture pods once `kubectl debug` changed them, by (namespace, name).
    pods: BTreeMap<(String, String), Value>,
    logs: BTreeMap<(String, String, String), Vec<u8>>,
    submitted: Vec<Value>,
    patches: Vec<Value>,
    deleted: Vec<String>,
    runs: Vec<Run>,
}

/// One request, as read off the connection.
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

pub enum Outcome {
    /// Not a route of this module.
    NotMine,
    /// A JSON answer for the caller to write.
    Reply(u16, Value),
    /// The connection was answered here (a stream).
    Done,
}

impl Kubelet {
    pub fn set_runner(&self, runner: Runner) {
        *self.runner.lock().unwrap() = Some(runner);
    }
    /// Every pod POSTed, as kubectl submitted it.
    pub fn submitted(&self) -> Vec<Value> {
        self.state.lock().unwrap().submitted.clone()
    }
    /// Every `ephemeralcontainers` patch, as kubectl sent it.
    pub fn patches(&self) -> Vec<Value> {
        self.state.lock().unwrap().patches.clone()
    }
    /// `namespace/name` of every pod deleted.
    pub fn deleted(&self) -> Vec<String> {
        self.state.lock().unwrap().deleted.clone()
    }
    /// The containers run so far, with the stdin each was given.
    pub fn runs(&self) -> Vec<Run> {
        self.state.lock().unwrap().runs.clone()
    }
    /// Names of the pods the stand-in still holds.
    pub fn live_pods(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .pods
            .keys()
            .map(|(ns, n)| format!("{ns}/{n}"))
            .collect()
    }
    /// The held pods of `ns`, for lists (they replace fixture pods of the same name).
    pub fn pods_in(&self, ns: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state
            .pods
            .iter()
            .filter(|((n, _), _)| n == ns)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

fn now() -> String {
    "2026-11-30T02:00:00Z".to_string()
}

/// Routes `req` (already authenticated) when it is one of this module's.
pub fn handle(
    req: &Request,
    conn: &mut (impl Read + Write),
    b: &Behaviour,
    items: &[Value],
    kubelet: &Arc<Kubelet>,
) -> Outcome {
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let query: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), super::decode(v)))
        .collect();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method.as_str();
    match (method, segments.as_slice()) {
        ("GET", ["api"]) => Outcome::Reply(200, api_versions()),
        ("GET", ["apis"]) => Outcome::Reply(200, api_groups()),
        ("GET", ["api", "v1"]) => Outcome::Reply(200, core_resources()),
        ("GET", ["apis", group, "v1"]) => match group_resources(group) {
            Some(list) => Outcome::Reply(200, list),
            None => Outcome::NotMine,
        },
        ("GET", ["version"]) => Outcome::Reply(
            200,
            json!({"major":"1","minor":"33","gitVersion":"v1.33.0","platform":"linux/amd64"}),
        ),
        ("GET", ["api", "v1", "namespaces", ns, "services"]) => {
            if b.forbidden.contains(&"services") {
                return Outcome::Reply(
                    super::forbidden("list", "services", "", ns, None).0,
                    super::forbidden("list", "services", "", ns, None).1,
                );
            }
            let services = of_kind(items, "Service");
            let (code, body) = super::list(b, "Service", "v1", services, ns, &query);
            Outcome::Reply(code, body)
        }
        ("GET", ["api", "v1", "nodes", name]) => {
            let known = of_kind(items, "Pod")
                .iter()
                .any(|p| p["spec"]["nodeName"] == *name);
            if known {
                Outcome::Reply(200, node(name))
            } else {
                Outcome::Reply(404, not_found("nodes", name))
            }
        }
        ("GET", ["apis", "apps", "v1", "namespaces", ns, "deployments", name]) => {
            match deployment(items, ns, name) {
                Some(d) => Outcome::Reply(200, d),
                None => Outcome::Reply(404, not_found("deployments.apps", name)),
            }
        }
        ("GET", ["api", "v1", "namespaces", ns, "pods"])
            if query.get("watch").is_some_and(|w| w == "true" || w == "1") =>
        {
            watch(conn, kubelet, ns, &query);
            Outcome::Done
        }
        ("POST", ["api", "v1", "namespaces", ns, "pods"]) => create(kubelet, ns, &req.body),
        ("GET", ["api", "v1", "namespaces", ns, "pods", name]) => {
            match pod(kubelet, items, ns, name) {
                Some(p) => Outcome::Reply(200, p),
                None => Outcome::Reply(404, not_found("pods", name)),
            }
        }
        ("DELETE", ["api", "v1", "namespaces", ns, "pods", name]) => {
            if b.refuse_delete {
                let (code, body) = super::forbidden("delete", "pods", "", ns, Some(name));
                return Outcome::Reply(code, body);
            }
            let mut state = kubelet.state.lock().unwrap();
            match state.pods.remove(&(ns.to_string(), name.to_string())) {
                Some(mut p) => {
                    state.deleted.push(format!("{ns}/{name}"));
                    p["metadata"]["deletionTimestamp"] = json!(now());
                    Outcome::Reply(200, p)
                }
                None => Outcome::Reply(404, not_found("pods", name)),
            }
        }
        ("PATCH", ["api", "v1", "namespaces", ns, "pods", name, "ephemeralcontainers"]) => {
            add_ephemeral(kubelet, items, ns, name, &req.body)
        }
        ("GET", ["api", "v1", "namespaces", ns, "pods", name, "log"]) => {
            logs(conn, kubelet, ns, name, &query);
            Outcome::Done
        }
        (_, ["api", "v1", "namespaces", ns, "pods", name, "attach"]) => {
            attach(conn, kubelet, req, ns, name, &query)
        }
        _ => Outcome::NotMine,
    }
}

fn of_kind(items: &[Value], kind: &str) -> Vec<Value> {
    items
        .iter()
        .filter(|i| i["kind"] == kind)
        .cloned()
        .collect()
}

/// A pod the stand-in holds, else the fixture's.
fn pod(kubelet: &Kubelet, items: &[Value], ns: &str, name: &str) -> Option<Value> {
    let held = kubelet
        .state
        .lock()
        .unwrap()
        .pods
        .get(&(ns.to_string(), name.to_string()))
        .cloned();
    held.or_else(|| {
        of_kind(items, "Pod")
            .into_iter()
            .find(|p| p["metadata"]["name"] == name && p["metadata"]["namespace"] == ns)
            .map(defaulted)
    })
}

/// What the API server's defaulting adds to every pod and kubectl relies on (SetDefaults_PodSpec:
/// an empty `securityContext`), which the fixtures, written as lists print them, leave out.
fn defaulted(mut pod: Value) -> Value {
    if pod["spec"]["securityContext"].is_null() {
        pod["spec"]["securityContext"] = json!({});
    }
    pod
}

fn not_found(resource: &str, name: &str) -> Value {
    let kind = resource.split('.').next().unwrap_or(resource);
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
           "message": format!("{resource} \"{name}\" not found"),"reason":"NotFound",
           "details":{"name":name,"kind":kind},"code":404})
}

fn status_error(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
           "message":message,"reason":reason,"code":code})
}

fn api_versions() -> Value {
    json!({"kind":"APIVersions","versions":["v1"],
           "serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"10.240.0.2:6443"}]})
}

fn api_groups() -> Value {
    let group = |name: &str| {
        json!({"name":name,"versions":[{"groupVersion":format!("{name}/v1"),"version":"v1"}],
               "preferredVersion":{"groupVersion":format!("{name}/v1"),"version":"v1"}})
    };
    json!({"kind":"APIGroupList","apiVersion":"v1","groups":[group("apps"), group("discovery.k8s.io")]})
}

fn resource(name: &str, kind: &str, namespaced: bool, verbs: &[&str], short: &[&str]) -> Value {
    let singular = if name.contains('/') {
        String::new()
    } else {
        kind.to_lowercase()
    };
    json!({"name":name,"singularName":singular,"namespaced":namespaced,"kind":kind,
           "verbs":verbs,"shortNames":short})
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn core_resources() -> Value {
    json!({"kind":"APIResourceList","groupVersion":"v1","resources":[
        resource("pods", "Pod", true, ALL_VERBS, &["po"]),
        resource("pods/attach", "PodAttachOptions", true, &["create", "get"], &[]),
        resource("pods/ephemeralcontainers", "Pod", true, &["get", "patch", "update"], &[]),
        resource("pods/log", "Pod", true, &["get"], &[]),
        resource("services", "Service", true, ALL_VERBS, &["svc"]),
        resource("endpoints", "Endpoints", true, ALL_VERBS, &["ep"]),
        resource("nodes", "Node", false, ALL_VERBS, &["no"]),
        resource("namespaces", "Namespace", false, ALL_VERBS, &["ns"]),
    ]})
}

fn group_resources(group: &str) -> Option<Value> {
    let resources = match group {
        "discovery.k8s.io" => vec![resource(
            "endpointslices",
            "EndpointSlice",
            true,
            ALL_VERBS,
            &[],
        )],
        "apps" => vec![
            resource("deployments", "Deployment", true, ALL_VERBS, &["deploy"]),
            resource("replicasets", "ReplicaSet", true, ALL_VERBS, &["rs"]),
        ],
        _ => return None,
    };
    Some(json!({"kind":"APIResourceList","apiVersion":"v1",
                "groupVersion":format!("{group}/v1"),"resources":resources}))
}

fn node(name: &str) -> Value {
    json!({"kind":"Node","apiVersion":"v1",
           "metadata":{"name":name,"labels":{"kubernetes.io/hostname":name},"resourceVersion":"1"},
           "spec":{"podCIDR":"10.244.0.0/24"},
           "status":{"addresses":[{"type":"InternalIP","address":"10.240.0.2"}],
                     "conditions":[{"type":"Ready","status":"True"}]}})
}

/// The Deployment behind the fixture's pods: named after their `app` label, selecting it.
fn deployment(items: &[Value], ns: &str, name: &str) -> Option<Value> {
    let pods = of_kind(items, "Pod");
    let first = pods
        .iter()
        .find(|p| p["metadata"]["namespace"] == ns && p["metadata"]["labels"]["app"] == name)?;
    let replicas = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["app"] == name)
        .count();
    Some(json!({"kind":"Deployment","apiVersion":"apps/v1",
        "metadata":{"name":name,"namespace":ns,"labels":{"app":name},"resourceVersion":"900"},
        "spec":{"replicas":replicas,"selector":{"matchLabels":{"app":name}},
                "template":{"metadata":{"labels":{"app":name}},"spec":first["spec"].clone()}},
        "status":{"replicas":replicas,"readyReplicas":replicas,"availableReplicas":replicas}}))
}

fn bump(state: &mut State, pod: &mut Value) {
    state.resource_version += 1;
    pod["metadata"]["resourceVersion"] = json!((2000 + state.resource_version).to_string());
}

fn running_status(name: &str, image: &Value) -> Value {
    json!({"name":name,"image":image,"imageID":"","ready":true,"started":true,"restartCount":0,
           "containerID":format!("containerd://{name}"),
           "state":{"running":{"startedAt":now()}}})
}

fn create(kubelet: &Arc<Kubelet>, ns: &str, body: &[u8]) -> Outcome {
    // kubectl's own pods come as JSON; client-go's typed clients (kubectl debug) send protobuf.
    let decoded = serde_json::from_slice::<Value>(body)
        .ok()
        .or_else(|| super::protobuf::pod(body));
    let Some(mut pod) = decoded else {
        return Outcome::Reply(
            400,
            status_error(400, "BadRequest", "not a JSON or protobuf pod"),
        );
    };
    let Some(name) = pod["metadata"]["name"].as_str().map(str::to_string) else {
        return Outcome::Reply(400, status_error(400, "Invalid", "metadata.name: Required"));
    };
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(container) = containers.first().cloned() else {
        return Outcome::Reply(
            400,
            status_error(400, "Invalid", "spec.containers: Required"),
        );
    };
    let key = (ns.to_string(), name.clone());
    let mut state = kubelet.state.lock().unwrap();
    state.submitted.push(pod.clone());
    if state.pods.contains_key(&key) {
        let message = format!("pods \"{name}\" already exists");
        return Outcome::Reply(409, status_error(409, "AlreadyExists", &message));
    }
    pod["metadata"]["namespace"] = json!(ns);
    pod["metadata"]["uid"] = json!(format!(
        "00000000-0000-0000-0000-{:012}",
        state.submitted.len()
    ));
    pod["metadata"]["creationTimestamp"] = json!(now());
    if pod["spec"]["nodeName"].is_null() {
        pod["spec"]["nodeName"] = json!("node-1");
    }
    let cname = container["name"].as_str().unwrap_or_default().to_string();
    pod["status"] = json!({"phase":"Running","hostIP":"10.240.0.2","startTime":now(),
        "containerStatuses":[running_status(&cname, &container["image"])]});
    bump(&mut state, &mut pod);
    state.pods.insert(key, pod.clone());
    drop(state);
    if container["stdin"] != true {
        start_without_stdin(kubelet, ns, &name, &cname, &container, &pod);
    }
    Outcome::Reply(201, pod)
}

/// A container nobody attaches to: runs at once, in the background, like a started container.
fn start_without_stdin(
    kubelet: &Arc<Kubelet>,
    ns: &str,
    pod: &str,
    container: &str,
    spec: &Value,
    whole: &Value,
) {
    let run = run_of(ns, pod, container, spec, whole, None);
    let kubelet = kubelet.clone();
    thread::spawn(move || {
        let ran = execute(&kubelet, run.clone());
        finish(&kubelet, &run, &ran);
    });
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn run_of(
    ns: &str,
    pod: &str,
    container: &str,
    spec: &Value,
    whole: &Value,
    stdin: Option<Vec<u8>>,
) -> Run {
    Run {
        namespace: ns.to_string(),
        pod: pod.to_string(),
        container: container.to_string(),
        command: strings(&spec["command"]),
        args: strings(&spec["args"]),
        host_network: whole["spec"]["hostNetwork"] == true,
        target: spec["targetContainerName"].as_str().map(str::to_string),
        stdin,
        run_as_user: spec["securityContext"]["runAsUser"]
            .as_i64()
            .or_else(|| whole["spec"]["securityContext"]["runAsUser"].as_i64()),
    }
}

fn execute(kubelet: &Kubelet, run: Run) -> Ran {
    kubelet.state.lock().unwrap().runs.push(run.clone());
    let runner = kubelet.runner.lock().unwrap().clone();
    match runner {
        Some(runner) => runner(&run),
        None => Ran {
            stderr: b"the test set no runner\n".to_vec(),
            exit_code: 127,
            ..Ran::default()
        },
    }
}

/// Records the container's output and its end in the pod's status, as the kubelet reports them.
fn finish(kubelet: &Kubelet, run: &Run, ran: &Ran) {
    let mut state = kubelet.state.lock().unwrap();
    let key = (
        run.namespace.clone(),
        run.pod.clone(),
        run.container.clone(),
    );
    let mut log = ran.stdout.clone();
    log.extend_from_slice(&ran.stderr);
    state.logs.insert(key, log);
    let Some(mut pod) = state
        .pods
        .get(&(run.namespace.clone(), run.pod.clone()))
        .cloned()
    else {
        return;
    };
    let field = if run.target.is_some() {
        "ephemeralContainerStatuses"
    } else {
        "containerStatuses"
    };
    let reason = if ran.exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    if let Some(statuses) = pod["status"][field].as_array_mut() {
        for s in statuses.iter_mut().filter(|s| s["name"] == run.container) {
            s["ready"] = json!(false);
            s["started"] = json!(false);
            s["state"] = json!({"terminated":{"exitCode":ran.exit_code,"reason":reason,
                "startedAt":now(),"finishedAt":now(),"containerID":format!("containerd://{}", run.container)}});
        }
    }
    if run.target.is_none() {
        pod["status"]["phase"] = json!(if ran.exit_code == 0 {
            "Succeeded"
        } else {
            "Failed"
        });
    }
    bump(&mut state, &mut pod);
    state
        .pods
        .insert((run.namespace.clone(), run.pod.clone()), pod);
}

fn add_ephemeral(
    kubelet: &Arc<Kubelet>,
    items: &[Value],
    ns: &str,
    name: &str,
    body: &[u8],
) -> Outcome {
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return Outcome::Reply(400, status_error(400, "BadRequest", "not a JSON patch"));
    };
    let Some(mut pod) = pod(kubelet, items, ns, name) else {
        return Outcome::Reply(404, not_found("pods", name));
    };
    let mut state = kubelet.state.lock().unwrap();
    state.patches.push(patch.clone());
    let mut added = Vec::new();
    for c in patch["spec"]["ephemeralContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let exists = pod["spec"]["ephemeralContainers"]
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e["name"] == c["name"]));
        if exists || c["name"].as_str().is_none() {
            continue;
        }
        let cname = c["name"].as_str().unwrap_or_default().to_string();
        push(&mut pod["spec"]["ephemeralContainers"], c.clone());
        push(
            &mut pod["status"]["ephemeralContainerStatuses"],
            running_status(&cname, &c["image"]),
        );
        added.push((cname, c));
    }
    bump(&mut state, &mut pod);
    state
        .pods
        .insert((ns.to_string(), name.to_string()), pod.clone());
    drop(state);
    for (cname, c) in added {
        if c["stdin"] != true {
            start_without_stdin(kubelet, ns, name, &cname, &c, &pod);
        }
    }
    Outcome::Reply(200, pod)
}

fn push(list: &mut Value, item: Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(l) = list.as_array_mut() {
        l.push(item);
    }
}

/// The container `name` of `pod` (regular or ephemeral), with its status.
fn container_of<'a>(pod: &'a Value, name: &str) -> Option<(&'a Value, &'a Value)> {
    for (specs, statuses) in [
        ("containers", "containerStatuses"),
        ("ephemeralContainers", "ephemeralContainerStatuses"),
    ] {
        let spec = pod["spec"][specs]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == name));
        let status = pod["status"][statuses]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == name));
        if let (Some(spec), Some(status)) = (spec, status) {
            return Some((spec, status));
        }
    }
    None
}

fn attach(
    conn: &mut (impl Read + Write),
    kubelet: &Arc<Kubelet>,
    req: &Request,
    ns: &str,
    name: &str,
    query: &BTreeMap<String, String>,
) -> Outcome {
    let Some(pod) = kubelet
        .state
        .lock()
        .unwrap()
        .pods
        .get(&(ns.to_string(), name.to_string()))
        .cloned()
    else {
        return Outcome::Reply(404, not_found("pods", name));
    };
    let cname = query.get("container").cloned().unwrap_or_default();
    let Some((spec, status)) = container_of(&pod, &cname) else {
        let message = format!("container {cname} is not valid for pod {name}");
        return Outcome::Reply(400, status_error(400, "BadRequest", &message));
    };
    if status["state"]["running"].is_null() {
        let message = format!("container {cname} in pod {name} is not running");
        return Outcome::Reply(400, status_error(400, "BadRequest", &message));
    }
    let header = |h: &str| req.headers.get(h).cloned().unwrap_or_default();
    let websocket = header("upgrade").eq_ignore_ascii_case("websocket")
        && header("sec-websocket-protocol")
            .split(',')
            .any(|p| p.trim() == websocket::PROTOCOL);
    if !websocket {
        let message = "the stand-in attaches over WebSocket v5.channel.k8s.io only (kubectl 1.30 or later), not SPDY";
        return Outcome::Reply(400, status_error(400, "BadRequest", message));
    }
    if conn
        .write_all(websocket::accept_response(&header("sec-websocket-key")).as_bytes())
        .is_err()
    {
        return Outcome::Done;
    }
    let stdin = (query.get("stdin").map(String::as_str) == Some("true"))
        .then(|| websocket::read_stdin(conn));
    let run = run_of(ns, name, &cname, spec, &pod, stdin);
    let ran = execute(kubelet, run.clone());
    finish(kubelet, &run, &ran);
    // The kubelet's attach ends with Success whatever the process's exit: the code is in the
    // pod's status, where the plugin reads it.
    let _ = websocket::send(conn, websocket::STDOUT, &ran.stdout)
        .and_then(|_| websocket::send(conn, websocket::STDERR, &ran.stderr))
        .and_then(|_| {
            websocket::send(
                conn,
                websocket::ERROR,
                br#"{"metadata":{},"status":"Success"}"#,
            )
        })
        .and_then(|_| websocket::close(conn));
    Outcome::Done
}

/// `log`, `follow=true` waits for the container to end (at most a minute), as a followed log ends then.
fn logs(
    conn: &mut impl Write,
    kubelet: &Kubelet,
    ns: &str,
    name: &str,
    query: &BTreeMap<String, String>,
) {
    let cname = query.get("container").cloned().unwrap_or_default();
    let follow = query.get("follow").is_some_and(|f| f == "true");
    let until = Instant::now() + Duration::from_secs(60);
    let key = (ns.to_string(), name.to_string(), cname);
    let body = loop {
        let state = kubelet.state.lock().unwrap();
        match state.logs.get(&key) {
            Some(log) => break log.clone(),
            None if !follow || Instant::now() > until => break Vec::new(),
            None => {}
        }
        drop(state);
        thread::sleep(Duration::from_millis(20));
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
    let _ = conn.flush();
}

/// A watch of pods: a MODIFIED event each time a selected pod changes (DELETED when it goes),
/// until `timeoutSeconds` (at most 30 s) or the client leaves.
fn watch(conn: &mut impl Write, kubelet: &Kubelet, ns: &str, query: &BTreeMap<String, String>) {
    let name = query
        .get("fieldSelector")
        .and_then(|f| f.strip_prefix("metadata.name="))
        .map(str::to_string);
    let seconds = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(30u64)
        .min(30);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if conn
        .write_all(head.as_bytes())
        .and_then(|_| conn.flush())
        .is_err()
    {
        return;
    }
    // What the client listed already (at `resourceVersion`) is not sent again.
    let since: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut sent: BTreeMap<String, String> = kubelet
        .pods_in(ns)
        .into_iter()
        .filter_map(|p| {
            let rv = p["metadata"]["resourceVersion"].as_str()?.to_string();
            let seen = rv.parse::<u64>().ok()? <= since;
            seen.then(|| {
                (
                    p["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    rv,
                )
            })
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        let pods: Vec<Value> = kubelet
            .pods_in(ns)
            .into_iter()
            .filter(|p| name.as_deref().is_none_or(|n| p["metadata"]["name"] == n))
            .collect();
        let mut events = Vec::new();
        for p in &pods {
            let pname = p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let rv = p["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if sent.get(&pname) != Some(&rv) {
                let kind = if sent.contains_key(&pname) {
                    "MODIFIED"
                } else {
                    "ADDED"
                };
                let mut object = p.clone();
                object["kind"] = json!("Pod");
                object["apiVersion"] = json!("v1");
                events.push(json!({"type":kind,"object":object}));
                sent.insert(pname, rv);
            }
        }
        let gone: Vec<String> = sent
            .keys()
            .filter(|n| !pods.iter().any(|p| p["metadata"]["name"] == n.as_str()))
            .cloned()
            .collect();
        for n in gone {
            sent.remove(&n);
            events.push(json!({"type":"DELETED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":n,"namespace":ns}}}));
        }
        for e in events {
            let line = format!("{e}\n");
            let chunk = format!("{:x}\r\n{line}\r\n", line.len());
            if conn
                .write_all(chunk.as_bytes())
                .and_then(|_| conn.flush())
                .is_err()
            {
                return;
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = conn.write_all(b"0\r\n\r\n");
    let _ = conn.flush();
}
