//! `kubectl svcprobe` (plugin/kubectl-svcprobe, issue 15) run as users run it: the POSIX script
//! with the machine's kubectl, against the kube-apiserver stand-in (tests/common/kubeapi.rs).
//!
//! The stand-in cannot run a pod. It records what kubectl submits and, when kubectl attaches (or,
//! for a container without stdin, when it is created), hands the container's arguments and the
//! stdin kubectl sent to the runner below, which runs the real svcprobe (tests/common/bin.rs) in a
//! test-bed pod: the bed's `client` for the plugin's own pod, the target pod for an ephemeral
//! container, the bed's node for a node debug pod (as a host, with only the netadmin profile's
//! capabilities, beside kube-proxy's stand-in). Its output and exit code go back to kubectl
//! the way `kubectl attach` and `kubectl logs` get them, and into the pod's status. That is the only
//! seam; everything else (the reads, the manifest, the deletes, the exit code) is what kubectl
//! really sends and does.
//!
//! kubectl runs in the bed's client network namespace and talks to the stand-in on that
//! namespace's loopback: nothing reaches the machine's own network.

mod common;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::bin::svcprobe;
use common::kubeapi::{FakeApiServer, Ran, Run, FIXTURES};
use common::kubeproxy::{KubeProxy, NodeHost};
use common::testbed::{self, describe, Testbed, CLIENT};
use serde_json::Value;

const TOKEN: &str = "plugin-test-token";
const PLUGIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plugin/kubectl-svcprobe");
/// How long one plugin run may take, kubectl's start-ups included (a run starts kubectl about
/// eight times): a few seconds on an idle machine, far more on a loaded one. A bound, not a
/// measure.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// What `kubectl svcprobe diagnose hostnames -o json` runs: the objects come on stdin.
const DIAGNOSE_ARGS: [&str; 8] = [
    "-o",
    "json",
    "diagnose",
    "hostnames",
    "-n",
    "default",
    "--objects",
    "-",
];

/// A bed, the stand-in in its client pod's network namespace, and a kubeconfig for it.
struct Cluster {
    server: FakeApiServer,
    home: PathBuf,
    netns: String,
    bed: Testbed,
}

impl Cluster {
    fn up() -> Cluster {
        require_kubectl();
        let bed = Testbed::up();
        let netns = bed.netns(CLIENT);
        let server = FakeApiServer::start("127.0.0.1:0", Some(&netns), TOKEN);
        let home = bed.scratch_dir().join("laptop");
        std::fs::create_dir_all(&home).expect("mkdir laptop");
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: bed\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority: {FIXTURES}/ca.pem\nusers:\n- name: dev\n  user:\n    token: {TOKEN}\ncontexts:\n- name: bed\n  context: {{cluster: bed, user: dev, namespace: default}}\ncurrent-context: bed\n",
            server.addr.port()
        );
        std::fs::write(home.join("config"), kubeconfig).expect("kubeconfig");
        let prefix = bed.prefix().to_string();
        server
            .kubelet
            .set_runner(Arc::new(move |run: &Run| run_in_bed(&prefix, run)));
        Cluster {
            server,
            home,
            netns,
            bed,
        }
    }

    /// `kubectl svcprobe ARGS` (the script, with `kubectl` from PATH), killed after RUN_TIMEOUT.
    fn plugin(&self, args: &[&str]) -> Output {
        testbed::run_with_timeout(self.command(args), RUN_TIMEOUT)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, "sh", PLUGIN])
            .args(args)
            .env("KUBECONFIG", self.home.join("config"))
            .env("HOME", &self.home)
            .env("TMPDIR", &self.home)
            .env_remove("SVCPROBE_IMAGE");
        cmd
    }
}

/// Fails the test, saying why, unless `kubectl` is 1.31 or later: the stand-in attaches over
/// WebSocket only (kubectl 1.30 and later; SPDY before) and `--from`/`--node` use `kubectl debug
/// --custom` (on by default from 1.31). Debian 12's kubernetes-client is 1.20.
fn require_kubectl() {
    let mut cmd = Command::new("kubectl");
    // No kubeconfig: nothing but the client is asked.
    cmd.args(["version", "--client", "-o", "json"])
        .env("KUBECONFIG", "/nonexistent/kubeconfig");
    let out = testbed::run_with_timeout(cmd, Duration::from_secs(30));
    let version: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let minor: u32 = version["clientVersion"]["minor"]
        .as_str()
        .map(|m| m.trim_end_matches('+'))
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        version["clientVersion"]["major"] == "1" && minor >= 31,
        "tests/plugin.rs needs kubectl 1.31 or later on PATH: {}",
        describe(&out)
    );
}

/// The seam for a node debug pod: svcprobe in the bed's node as a host, with the netadmin
/// profile's capabilities only (NET_ADMIN, NET_RAW) and no host root, as that profile gives;
/// effective only when the pod runs it as root, else as the pod's user (the image's, 65534,
/// when the pod names none), who holds none.
fn run_on_node(host: &Mutex<Option<NodeHost>>, run: &Run) -> Ran {
    let guard = host.lock().unwrap();
    let Some(host) = guard.as_ref() else {
        return Ran {
            stderr: b"the node host is gone\n".to_vec(),
            exit_code: 125,
            ..Ran::default()
        };
    };
    if let Some(refused) = replaced_entrypoint(run) {
        return refused;
    }
    let args: Vec<&str> = run.args.iter().map(String::as_str).collect();
    let stdin = run.stdin.clone();
    match run.run_as_user.map(u32::try_from) {
        Some(Ok(0)) => ran(host.svcprobe_input(true, &args, stdin)),
        Some(Ok(uid)) => ran(host.svcprobe_as_user(uid, &args, stdin)),
        None => ran(host.svcprobe_as_user(IMAGE_USER, &args, stdin)),
        Some(Err(_)) => Ran {
            stderr: b"runAsUser out of range\n".to_vec(),
            exit_code: 125,
            ..Ran::default()
        },
    }
}

/// The image's `USER` (Containerfile).
const IMAGE_USER: u32 = 65534;

/// A container whose `command` replaces the image's entrypoint would not run svcprobe.
fn replaced_entrypoint(run: &Run) -> Option<Ran> {
    (!run.command.is_empty()).then(|| Ran {
        stderr: format!(
            "a command replaces the image's entrypoint: {:?}\n",
            run.command
        )
        .into_bytes(),
        exit_code: 127,
        ..Ran::default()
    })
}

/// What a container's run gave, as the kubelet reports it.
fn ran(out: Output) -> Ran {
    Ran {
        stdout: out.stdout,
        stderr: out.stderr,
        exit_code: out.status.code().unwrap_or(125),
    }
}

/// The seam: the container's command, run with the real svcprobe in the bed pod that stands for
/// where the container would run.
fn run_in_bed(prefix: &str, run: &Run) -> Ran {
    if let Some(refused) = replaced_entrypoint(run) {
        return refused;
    }
    let pod = match (&run.target, run.host_network) {
        (_, true) => "node",
        (Some(_), false) => run.pod.as_str(),
        (None, false) => CLIENT,
    };
    let mut args = vec![svcprobe()];
    args.extend(run.args.iter().map(String::as_str));
    ran(testbed::exec_in(
        prefix,
        pod,
        &args,
        run.stdin.clone(),
        Duration::from_secs(30),
    ))
}

/// The first JSON document on stdout (with `--node`, the node reports follow it).
fn first_json(out: &Output) -> Value {
    nth_json(out, 0)
}

/// The `n`th JSON document on stdout.
fn nth_json(out: &Output, n: usize) -> Value {
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .nth(n)
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no JSON document {n} on stdout: {}", describe(out)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `METHOD path` of each request, query left out.
fn requests(server: &FakeApiServer) -> Vec<String> {
    server
        .take_seen()
        .into_iter()
        .map(|s| {
            let path = s.target.split('?').next().unwrap_or_default().to_string();
            format!("{} {path}", s.method)
        })
        .collect()
}

fn assert_requested(seen: &[String], wanted: &str) {
    assert!(
        seen.iter().any(|s| s == wanted),
        "no `{wanted}` among the requests:\n{}",
        seen.join("\n")
    );
}

fn capabilities(container: &Value) -> (Vec<String>, Vec<String>) {
    let list = |key: &str| -> Vec<String> {
        container["securityContext"]["capabilities"][key]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    (list("add"), list("drop"))
}

/// The rules of the restricted Pod Security Standard (which includes the baseline's), as the
/// pod-security admission controller applies them (kubernetes.io/docs/concepts/security/
/// pod-security-standards): one line per rule `pod` breaks.
fn restricted_violations(pod: &Value) -> Vec<String> {
    let spec = &pod["spec"];
    let pod_sc = &spec["securityContext"];
    let mut broken = Vec::new();
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec[key] == true {
            broken.push(format!("host namespaces: {key}"));
        }
    }
    const VOLUMES: [&str; 8] = [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let kinds: Vec<&String> = v.as_object().into_iter().flat_map(|o| o.keys()).collect();
        if kinds
            .iter()
            .any(|k| *k != "name" && !VOLUMES.contains(&k.as_str()))
        {
            broken.push(format!("volume types: {v}"));
        }
    }
    for sysctl in pod_sc["sysctls"].as_array().into_iter().flatten() {
        broken.push(format!("sysctls: {sysctl}"));
    }
    for (key, value) in pod["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let profile = value.as_str().unwrap_or_default();
        if key.starts_with("container.apparmor.security.beta.kubernetes.io/")
            && profile != "runtime/default"
            && !profile.starts_with("localhost/")
        {
            broken.push(format!("AppArmor: {key}={profile}"));
        }
    }
    // AppArmor and SELinux, where the pod and each container may set them.
    let confined = |sc: &Value, who: &str, broken: &mut Vec<String>| {
        if sc["appArmorProfile"]["type"] == "Unconfined" {
            broken.push(format!("{who}: AppArmor Unconfined"));
        }
        let selinux = &sc["seLinuxOptions"];
        let types = [
            "",
            "container_t",
            "container_init_t",
            "container_kvm_t",
            "container_engine_t",
        ];
        if !types.contains(&selinux["type"].as_str().unwrap_or_default())
            || !selinux["user"].is_null()
            || !selinux["role"].is_null()
        {
            broken.push(format!("{who}: seLinuxOptions {selinux}"));
        }
    };
    confined(pod_sc, "pod", &mut broken);
    let pod_seccomp = pod_sc["seccompProfile"]["type"].as_str();
    let seccomp_ok = |t: Option<&str>| matches!(t, Some("RuntimeDefault" | "Localhost"));
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().cloned().unwrap_or_default());
    for c in containers {
        let name = c["name"].as_str().unwrap_or("?").to_string();
        let sc = &c["securityContext"];
        confined(sc, &name, &mut broken);
        if sc["privileged"] == true {
            broken.push(format!("{name}: privileged"));
        }
        if sc["windowsOptions"]["hostProcess"] == true
            || pod_sc["windowsOptions"]["hostProcess"] == true
        {
            broken.push(format!("{name}: hostProcess"));
        }
        if c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["hostPort"].as_u64().unwrap_or(0) != 0)
        {
            broken.push(format!("{name}: hostPort"));
        }
        if !sc["procMount"].is_null() && sc["procMount"] != "Default" {
            broken.push(format!("{name}: procMount"));
        }
        if sc["allowPrivilegeEscalation"] != false {
            broken.push(format!("{name}: allowPrivilegeEscalation must be false"));
        }
        if sc["runAsNonRoot"] != true
            && !(pod_sc["runAsNonRoot"] == true && sc["runAsNonRoot"].is_null())
        {
            broken.push(format!("{name}: runAsNonRoot must be true"));
        }
        if sc["runAsUser"] == 0 || pod_sc["runAsUser"] == 0 {
            broken.push(format!("{name}: runAsUser 0"));
        }
        let seccomp = sc["seccompProfile"]["type"].as_str();
        if !(seccomp_ok(seccomp) || (seccomp.is_none() && seccomp_ok(pod_seccomp))) {
            broken.push(format!(
                "{name}: seccompProfile must be RuntimeDefault or Localhost"
            ));
        }
        let (add, drop) = capabilities(&c);
        if !drop.iter().any(|d| d == "ALL") {
            broken.push(format!("{name}: capabilities must drop ALL"));
        }
        if add.iter().any(|a| a != "NET_BIND_SERVICE") {
            broken.push(format!(
                "{name}: capabilities may add only NET_BIND_SERVICE: {add:?}"
            ));
        }
    }
    broken
}

/// Everything the plugin promises about its own pod, and the restricted profile.
fn assert_probe_pod(pod: &Value, stdin: bool) {
    let violations = restricted_violations(pod);
    assert!(
        violations.is_empty(),
        "restricted profile: {violations:?}\n{pod:#}"
    );
    let spec = &pod["spec"];
    let c = &spec["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(
        pod["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kubectl-svcprobe",
        "{pod:#}"
    );
    assert!(
        pod["metadata"]["labels"]["kubectl-svcprobe/run"].is_string(),
        "{pod:#}"
    );
    assert_eq!(spec["automountServiceAccountToken"], false, "{pod:#}");
    assert_eq!(spec["restartPolicy"], "Never", "{pod:#}");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{pod:#}");
    assert_eq!(
        spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
        "{pod:#}"
    );
    assert_eq!(sc["runAsNonRoot"], true, "{pod:#}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{pod:#}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{pod:#}");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{pod:#}");
    assert_eq!(
        capabilities(c),
        (vec![], vec!["ALL".to_string()]),
        "{pod:#}"
    );
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                c["resources"][kind][resource].is_string(),
                "{kind}.{resource}: {pod:#}"
            );
        }
    }
    assert_eq!(c["image"], "ghcr.io/example/svcprobe", "{pod:#}");
    assert!(
        c["command"].is_null(),
        "the image's entrypoint runs: {pod:#}"
    );
    assert_eq!(c["stdin"], stdin, "{pod:#}");
    assert_eq!(c["stdinOnce"], stdin, "{pod:#}");
}

#[test]
fn the_restricted_profile_check_sees_what_breaks_it() {
    // The check above must be able to fail: kubectl debug's netadmin node pod breaks it.
    let pod: Value = serde_json::json!({"spec":{"hostNetwork":true,"hostPID":true,"containers":[
        {"name":"debugger","securityContext":{"capabilities":{"add":["NET_ADMIN","NET_RAW"]},
         "seLinuxOptions":{"type":"spc_t"},"appArmorProfile":{"type":"Unconfined"}}}]}});
    let broken = restricted_violations(&pod);
    for rule in [
        "seLinuxOptions",
        "AppArmor",
        "hostNetwork",
        "hostPID",
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "seccompProfile",
        "drop ALL",
        "NET_BIND_SERVICE",
    ] {
        assert!(
            broken.iter().any(|b| b.contains(rule)),
            "{rule} not reported: {broken:?}"
        );
    }
}

#[test]
fn diagnose_runs_in_a_restricted_pod_with_the_users_view_and_deletes_it() {
    let cluster = Cluster::up();
    let out = cluster.plugin(&["diagnose", "hostnames", "-o", "json"]);
    let report = first_json(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(report["command"], "diagnose");
    assert_eq!(report["verdict"]["cause"], "healthy", "{}", describe(&out));
    // The objects came from the user's read, so the object checks ran.
    let status = |id: &str| {
        report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == id))
            .map(|c| c["status"].clone())
    };
    assert_eq!(
        status("service-definition"),
        Some("pass".into()),
        "{report:#}"
    );
    assert_eq!(status("endpoints"), Some("pass".into()), "{report:#}");

    let seen = requests(&cluster.server);
    for read in [
        "GET /api/v1/namespaces/default/services",
        "GET /apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        "GET /api/v1/namespaces/default/pods",
        "POST /api/v1/namespaces/default/pods",
    ] {
        assert_requested(&seen, read);
    }
    let submitted = cluster.server.kubelet.submitted();
    assert_eq!(submitted.len(), 1, "{submitted:#?}");
    let pod = &submitted[0];
    assert_probe_pod(pod, true);
    let name = pod["metadata"]["name"].as_str().expect("pod name");
    assert_eq!(pod["metadata"]["namespace"], "default");
    assert_eq!(
        pod["spec"]["containers"][0]["args"],
        serde_json::json!(DIAGNOSE_ARGS)
    );
    assert_requested(
        &seen,
        &format!("GET /api/v1/namespaces/default/pods/{name}/attach"),
    );
    assert_requested(
        &seen,
        &format!("DELETE /api/v1/namespaces/default/pods/{name}"),
    );
    // What svcprobe read on its stdin is what `kubectl get service,endpointslices,pods` printed.
    let runs = cluster.server.kubelet.runs();
    let objects: Value =
        serde_json::from_slice(runs[0].stdin.as_deref().expect("stdin")).expect("objects");
    assert_eq!(objects["kind"], "List");
    let kinds: Vec<&str> = objects["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    for kind in ["Service", "EndpointSlice", "Pod"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_nothing_left(&cluster);
}

#[test]
fn a_failing_service_gives_svcprobes_exit_code_and_node_runs_on_the_failing_endpoints_node() {
    let cluster = Cluster::up();
    // The node debug pod runs in the bed's node as a host (its own PID namespace and /proc),
    // with only the netadmin profile's capabilities, beside kube-proxy's stand-in.
    let host = Arc::new(Mutex::new(Some(NodeHost::start(&cluster.bed))));
    let mut kube_proxy = {
        let mut guard = host.lock().unwrap();
        KubeProxy::start(guard.as_mut().expect("host"), &cluster.bed, "iptables")
    };
    let (prefix, node) = (cluster.bed.prefix().to_string(), host.clone());
    cluster
        .server
        .kubelet
        .set_runner(Arc::new(move |run: &Run| match run.host_network {
            true => run_on_node(&node, run),
            false => run_in_bed(&prefix, run),
        }));
    cluster.bed.break_("backend-down");
    let out = cluster.plugin(&["diagnose", "hostnames", "-o", "json", "--node"]);
    let report = first_json(&out);
    assert_eq!(
        report["verdict"]["cause"],
        "backend-down",
        "{}",
        describe(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let seen = requests(&cluster.server);
    // The failing endpoint (10.244.0.5, hostnames-632524106-bbpiw) is on node-1: kubectl debug
    // node/node-1 read the node and created its netadmin pod, and the plugin deleted it.
    assert_requested(&seen, "GET /api/v1/nodes/node-1");
    let submitted = cluster.server.kubelet.submitted();
    assert_eq!(
        submitted.len(),
        2,
        "the probe pod and one node pod: {}",
        describe(&out)
    );
    assert_probe_pod(&submitted[0], true);
    let node_pod = &submitted[1];
    let name = node_pod["metadata"]["name"].as_str().expect("name");
    assert!(name.starts_with("node-debugger-node-1-"), "{node_pod:#}");
    assert_eq!(node_pod["spec"]["nodeName"], "node-1");
    assert_eq!(
        node_pod["spec"]["hostNetwork"], true,
        "netadmin: {node_pod:#}"
    );
    for host in ["hostPID", "hostIPC"] {
        assert_eq!(node_pod["spec"][host], true, "netadmin: {node_pod:#}");
    }
    assert!(
        node_pod["spec"]["volumes"].is_null(),
        "netadmin mounts no host root: {node_pod:#}"
    );
    let c = &node_pod["spec"]["containers"][0];
    // The netadmin profile's capabilities, and the plugin's --custom merged over them: root,
    // so that they are effective (the image's user 65534 would have none); nothing else.
    assert_eq!(
        c["securityContext"],
        serde_json::json!({
            "capabilities": { "add": ["NET_ADMIN", "NET_RAW"] },
            "runAsUser": 0,
            "runAsNonRoot": false
        }),
        "{node_pod:#}"
    );
    assert_eq!(c["stdinOnce"], true, "{node_pod:#}");
    assert_eq!(
        c["args"],
        serde_json::json!([
            "-o",
            "json",
            "node",
            "hostnames",
            "-n",
            "default",
            "--objects",
            "-"
        ])
    );
    for pod in [
        submitted[0]["metadata"]["name"].as_str().expect("name"),
        name,
    ] {
        assert_requested(
            &seen,
            &format!("DELETE /api/v1/namespaces/default/pods/{pod}"),
        );
    }
    let runs = cluster.server.kubelet.runs();
    let node_run = runs.iter().find(|r| r.host_network).expect("the node run");
    assert!(
        node_run.stdin.as_ref().is_some_and(|s| !s.is_empty()),
        "the node run got the objects"
    );
    assert!(
        stderr(&out).contains("svcprobe node hostnames -n default on node/node-1"),
        "{}",
        describe(&out)
    );
    // The node's report follows the pod's, made with the netadmin profile from the objects the
    // plugin gave it: it found kube-proxy's stand-in and the Service's slices. (Its verdict is
    // its own: from the node, the stopped backend fails some ClusterIP connections or none.)
    // Its exit code is reported; the plugin's stays diagnose's.
    let node_report = nth_json(&out, 1);
    assert_eq!(node_report["command"], "node", "{}", describe(&out));
    assert_eq!(
        (
            &node_report["privileges"]["profile"],
            &node_report["privileges"]["uid"]
        ),
        (&"netadmin".into(), &0.into()),
        "{node_report:#}"
    );
    assert_eq!(
        node_report["service"]["cluster_ip"], "10.0.1.175",
        "the objects reached it: {node_report:#}"
    );
    for id in ["kube-proxy-process", "kube-proxy-health", "endpoint-slices"] {
        let check = node_report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == id));
        assert_eq!(
            check.map(|c| &c["status"]),
            Some(&"pass".into()),
            "{id}: {node_report:#}"
        );
    }
    let node_ok = node_report["ok"] == true;
    assert_eq!(
        runs_exit(&stderr(&out)),
        Some(if node_ok { 0 } else { 1 }),
        "{}",
        describe(&out)
    );
    assert_nothing_left(&cluster);

    // In text, the failing endpoint is found by its pod's name beside its failure.
    let out = cluster.plugin(&["diagnose", "hostnames", "-o", "text", "--node"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("verdict: backend-down"), "{}", describe(&out));
    let submitted = cluster.server.kubelet.submitted();
    assert_eq!(submitted.len(), 4, "{}", describe(&out));
    assert_eq!(
        submitted[3]["spec"]["nodeName"],
        "node-1",
        "{}",
        describe(&out)
    );
    assert_eq!(
        submitted[3]["spec"]["containers"][0]["args"],
        serde_json::json!([
            "-o",
            "text",
            "node",
            "hostnames",
            "-n",
            "default",
            "--objects",
            "-"
        ])
    );
    assert_nothing_left(&cluster);
    // Without the plugin's runAsUser the same pod runs as the image's user: netadmin's
    // capabilities are then in its bounding set only, and svcprobe node sees none.
    let mut host = host.lock().unwrap().take().expect("host");
    let out = host.svcprobe_as_user(IMAGE_USER, &["node", "--no-api"], None);
    let unprivileged: Value = serde_json::from_slice(&out.stdout).expect("node JSON");
    assert_eq!(
        (
            &unprivileged["privileges"]["profile"],
            &unprivileged["privileges"]["capabilities"]
        ),
        (&"general".into(), &serde_json::json!([])),
        "{}",
        describe(&out)
    );
    // The host goes now, not whenever the stand-in's last thread lets the runner go.
    kube_proxy.stop(&mut host);
}

#[test]
fn without_read_access_it_says_so_runs_without_objects_and_says_when_it_cannot_delete() {
    let cluster = Cluster::up();
    cluster.server.set(|b| {
        b.forbidden = vec!["pods"];
        b.refuse_delete = true;
    });
    let out = cluster.plugin(&["diagnose", "hostnames", "-o", "json"]);
    let err = stderr(&out);
    assert!(
        err.contains("could not read services, endpointslices and pods in default"),
        "{}",
        describe(&out)
    );
    let report = first_json(&out);
    assert_eq!(report["command"], "diagnose", "{}", describe(&out));
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 1)), "{}", describe(&out));
    assert_eq!(
        code,
        Some(if report["ok"] == true { 0 } else { 1 }),
        "{}",
        describe(&out)
    );
    let submitted = cluster.server.kubelet.submitted();
    let pod = &submitted[0];
    assert_probe_pod(pod, false);
    assert_eq!(
        pod["spec"]["containers"][0]["args"],
        serde_json::json!(["-o", "json", "diagnose", "hostnames", "-n", "default"])
    );
    let name = pod["metadata"]["name"].as_str().expect("name");
    let seen = requests(&cluster.server);
    // No stdin to give: the output comes from the followed log.
    assert_requested(
        &seen,
        &format!("GET /api/v1/namespaces/default/pods/{name}/log"),
    );
    assert_requested(
        &seen,
        &format!("DELETE /api/v1/namespaces/default/pods/{name}"),
    );
    assert!(
        err.contains(&format!("could not delete pod default/{name}")),
        "{}",
        describe(&out)
    );
    assert!(
        err.contains(&format!("kubectl delete pod -n default {name}")),
        "{}",
        describe(&out)
    );
}

#[test]
fn nslookup_and_a_usage_error_pass_svcprobes_exit_code_through() {
    let cluster = Cluster::up();
    let out = cluster.plugin(&["nslookup", "hostnames"]);
    let report = first_json(&out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(report["command"], "nslookup");
    assert_eq!(report["answer"]["status"], "resolved", "{}", describe(&out));
    let out = cluster.plugin(&["tcp", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    // Without stdin the output comes from the pod's log, where stdout and stderr are one stream.
    assert!(
        describe(&out).contains("unknown option `--no-such-flag`"),
        "{}",
        describe(&out)
    );
    let submitted = cluster.server.kubelet.submitted();
    assert_eq!(submitted.len(), 2);
    assert_eq!(
        submitted[1]["spec"]["containers"][0]["args"],
        serde_json::json!(["tcp", "--no-such-flag"])
    );
    assert_eq!(
        cluster.server.kubelet.deleted().len(),
        2,
        "{:?}",
        cluster.server.kubelet.deleted()
    );
}

/// N of the plugin's `svcprobe node on node/NODE exited N` line.
fn runs_exit(stderr: &str) -> Option<i32> {
    stderr.lines().find_map(|l| {
        l.split_once("svcprobe node on node/")?
            .1
            .split_once(" exited ")?
            .1
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn ctrl_c_while_svcprobe_runs_deletes_the_pod() {
    let cluster = Cluster::up();
    // This test's runner holds the container "running" until the test lets it go.
    let (started, started_rx) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    cluster.server.kubelet.set_runner(Arc::new(move |_: &Run| {
        let _ = started.send(());
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(60));
        Ran::default()
    }));
    let out = cluster.home.join("ctrl-c.out");
    let err = cluster.home.join("ctrl-c.err");
    let mut cmd = cluster.command(&["diagnose", "hostnames"]);
    // Its own process group, as a shell gives a foreground job: Ctrl-C signals the whole group.
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("out"))
        .stderr(File::create(&err).expect("err"));
    let mut child = cmd.spawn().expect("start the plugin");
    let attached = started_rx.recv_timeout(RUN_TIMEOUT);
    let pgid = child.id() as i32;
    // SAFETY: signals the process group of the child this test started.
    unsafe { libc::kill(-pgid, libc::SIGINT) };
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        match child.try_wait().expect("wait") {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let _ = release.send(());
    let output = format!(
        "stdout:\n{}\nstderr:\n{}",
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    assert!(attached.is_ok(), "svcprobe never started: {output}");
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{output}");
    let submitted = cluster.server.kubelet.submitted();
    let name = submitted[0]["metadata"]["name"].as_str().expect("name");
    assert_eq!(
        cluster.server.kubelet.deleted(),
        [format!("default/{name}")],
        "{output}"
    );
    assert!(!output.contains("could not delete"), "{output}");
}

#[test]
fn from_a_pod_or_a_deployment_svcprobe_runs_as_an_ephemeral_container_there() {
    let cluster = Cluster::up();
    let pod = testbed::BACKENDS[1];
    let from =
        |vantage: &str| cluster.plugin(&["diagnose", "hostnames", "-o", "json", "--from", vantage]);
    let out = from(&format!("pod/{pod}"));
    let report = first_json(&out);
    assert_eq!(
        report["context"]["hostname"],
        pod,
        "it ran in that pod: {}",
        describe(&out)
    );
    assert_eq!(
        out.status.code(),
        Some(if report["ok"] == true { 0 } else { 1 }),
        "{}",
        describe(&out)
    );
    let patches = cluster.server.kubelet.patches();
    assert_eq!(patches.len(), 1, "{patches:#?}");
    let c = &patches[0]["spec"]["ephemeralContainers"][0];
    assert_eq!(c["targetContainerName"], "hostnames", "{c:#}");
    assert_eq!(c["image"], "ghcr.io/example/svcprobe", "{c:#}");
    assert_eq!(c["stdin"], true, "{c:#}");
    assert_eq!(
        c["stdinOnce"], true,
        "without it the container's stdin never ends: {c:#}"
    );
    assert!(c["command"].is_null(), "{c:#}");
    assert_eq!(c["args"], serde_json::json!(DIAGNOSE_ARGS));
    // An ephemeral container has no resources: every other promise holds, and the restricted profile.
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true, "{c:#}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{c:#}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{c:#}");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{c:#}");
    assert_eq!(capabilities(c), (vec![], vec!["ALL".to_string()]), "{c:#}");
    let as_pod = serde_json::json!({"spec":{"ephemeralContainers":[c]}});
    assert_eq!(restricted_violations(&as_pod), Vec::<String>::new());
    assert!(
        cluster.server.kubelet.submitted().is_empty(),
        "no pod of its own"
    );
    assert!(
        cluster.server.kubelet.deleted().is_empty(),
        "nothing of its own to delete"
    );

    let out = from("deploy/hostnames");
    let report = first_json(&out);
    let chosen = testbed::BACKENDS[0];
    assert_eq!(report["context"]["hostname"], chosen, "{}", describe(&out));
    assert!(
        stderr(&out).contains(&format!(
            "probing from pod default/{chosen} (deployment hostnames)"
        )),
        "{}",
        describe(&out)
    );
    let seen = requests(&cluster.server);
    assert_requested(
        &seen,
        "GET /apis/apps/v1/namespaces/default/deployments/hostnames",
    );
    assert_requested(
        &seen,
        &format!("PATCH /api/v1/namespaces/default/pods/{chosen}/ephemeralcontainers"),
    );
}

/// Every pod the run created is gone from the stand-in.
fn assert_nothing_left(cluster: &Cluster) {
    let live = cluster.server.kubelet.live_pods();
    assert!(live.is_empty(), "pods left behind: {live:?}");
}

#[test]
fn the_plugin_is_shellcheck_clean_posix_sh() {
    let out = testbed::run_with_timeout(
        {
            let mut cmd = Command::new("shellcheck");
            cmd.args(["--shell=sh", "--severity=style", PLUGIN]);
            cmd
        },
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "shellcheck (Debian's shellcheck; scripts/deps.sh installs it): {}",
        describe(&out)
    );
}

#[test]
fn help_version_and_usage_errors_need_no_cluster() {
    let sh = |args: &[&str]| {
        let mut cmd = Command::new("sh");
        cmd.arg(PLUGIN).args(args).env_remove("SVCPROBE_IMAGE");
        testbed::run_with_timeout(cmd, Duration::from_secs(30))
    };
    let help = sh(&["--help"]);
    assert_eq!(help.status.code(), Some(0), "{}", describe(&help));
    assert!(String::from_utf8_lossy(&help.stdout).contains("kubectl svcprobe diagnose SERVICE"));
    let version = sh(&["version"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!(
            "kubectl-svcprobe {} (image ghcr.io/example/svcprobe)",
            env!("CARGO_PKG_VERSION")
        ),
        "the plugin's version is the crate's"
    );
    for (args, says) in [
        (&["diagnose"][..], "diagnose needs a SERVICE"),
        (
            &["diagnose", "x", "-o", "yaml"][..],
            "-o takes text or json",
        ),
        (
            &["diagnose", "x", "--image", "a b"][..],
            "not an image reference",
        ),
        (&["nslookup", "x", "--node"][..], "--node is for diagnose"),
        (&["frobnicate"][..], "unknown command"),
    ] {
        let out = sh(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", describe(&out));
    }
}

/// A scratch directory removed when dropped, for a test without a bed.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The value of the first `key: value` line of the krew manifest.
fn manifest_value<'a>(manifest: &'a str, key: &str) -> &'a str {
    manifest
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no `{key}:` in deploy/krew/svcprobe.yaml"))
        .trim()
}

#[test]
fn the_krew_manifest_names_the_archive_the_packaging_script_builds() {
    let root = env!("CARGO_MANIFEST_DIR");
    let manifest =
        std::fs::read_to_string(format!("{root}/deploy/krew/svcprobe.yaml")).expect("manifest");
    let scratch =
        Scratch(std::env::temp_dir().join(format!("svcprobe-test-krew-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).expect("scratch");
    let archive = scratch.0.join("kubectl-svcprobe.tar.gz");
    let mut cmd = Command::new("bash");
    cmd.arg(format!("{root}/scripts/krew-package.sh"))
        .arg(&archive)
        .env("TMPDIR", &scratch.0);
    let out = testbed::run_with_timeout(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", describe(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    let sha = printed
        .split_whitespace()
        .nth(1)
        .expect("the sha256 printed");
    let mut sum = Command::new("sha256sum");
    sum.arg(&archive);
    let summed = testbed::run_with_timeout(sum, Duration::from_secs(30));
    assert!(
        String::from_utf8_lossy(&summed.stdout).starts_with(sha),
        "{}",
        describe(&summed)
    );
    assert_eq!(
        manifest_value(&manifest, "sha256"),
        sha,
        "deploy/krew/svcprobe.yaml names another archive: run scripts/krew-package.sh --update-manifest"
    );

    // The archive is the plugin, executable, owned by root, and nothing else.
    let mut list = Command::new("tar");
    list.arg("--numeric-owner").arg("-tvzf").arg(&archive);
    let listing = testbed::run_with_timeout(list, Duration::from_secs(30));
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let fields: Vec<&str> = listing.split_whitespace().collect();
    assert_eq!(listing.lines().count(), 1, "{listing}");
    assert_eq!(fields.first(), Some(&"-rwxr-xr-x"), "{listing}");
    assert_eq!(fields.get(1), Some(&"0/0"), "{listing}");
    assert_eq!(fields.last(), Some(&"kubectl-svcprobe"), "{listing}");
    let mut extract = Command::new("tar");
    extract.arg("-xzf").arg(&archive).arg("-C").arg(&scratch.0);
    assert!(testbed::run_with_timeout(extract, Duration::from_secs(30))
        .status
        .success());
    assert!(
        std::fs::read(scratch.0.join("kubectl-svcprobe")).ok() == std::fs::read(PLUGIN).ok(),
        "the archive holds another plugin"
    );

    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest_value(&manifest, "name"), "svcprobe");
    assert_eq!(manifest_value(&manifest, "version"), version);
    assert_eq!(manifest_value(&manifest, "bin"), "kubectl-svcprobe");
    assert!(
        manifest_value(&manifest, "uri").ends_with(&format!("/{version}/kubectl-svcprobe.tar.gz")),
        "{manifest}"
    );
    for key in [
        "homepage",
        "shortDescription",
        "description",
        "caveats",
        "platforms",
        "selector",
    ] {
        assert!(
            manifest.contains(&format!("{key}:")),
            "no {key} in the manifest"
        );
    }
}
