//! `diagnose` reading the Service, its EndpointSlices and its Pods from the API server.
//!
//! kube-apiserver cannot run on these machines: these tests talk to the HTTPS stand-in of
//! tests/common/kubeapi.rs (real API objects, real `Status` errors, bearer tokens, paging,
//! slow and hung answers), the only stand-in we allow. diagnose runs in the test bed's client
//! pod, so every packet stays inside the bed's namespaces: the server listens either in the
//! node, behind the `kubernetes` Service (10.0.0.1:443 -> 10.240.0.2:6443, as in a cluster),
//! or on the client pod's own loopback.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::bin;
use common::diagnose::{cause, check, check_ids, report};
use common::kubeapi::{FakeApiServer, FIXTURES, NO_ENDPOINTS};
use common::testbed::{describe, Testbed, CLIENT};
use serde_json::Value;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.svcprobe-test-token-never-printed.c2ln";

/// A directory only this test uses (token files, a service account), removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(bed: &Testbed) -> Scratch {
        let dir = std::env::temp_dir().join(format!("svcprobe-test-kubeapi-{}", bed.prefix()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Scratch(dir)
    }

    /// A file holding `token`, as kubelet writes it.
    fn token_file(&self, token: &str) -> PathBuf {
        let path = self.0.join(format!("token-{}", token.len()));
        std::fs::write(&path, format!("{token}\n")).expect("token file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The stand-in on the client pod's loopback, a token file it accepts, and the CA that
/// signed its certificate.
struct LoopbackApi {
    server: FakeApiServer,
    url: String,
    token: String,
    ca: String,
    _scratch: Scratch,
}

impl LoopbackApi {
    fn start(bed: &Testbed) -> LoopbackApi {
        let server = FakeApiServer::start("127.0.0.1:0", Some(&bed.netns(CLIENT)), TOKEN);
        let scratch = Scratch::new(bed);
        LoopbackApi {
            url: format!("https://127.0.0.1:{}", server.addr.port()),
            token: scratch.token_file(TOKEN).display().to_string(),
            ca: format!("{FIXTURES}/ca.pem"),
            server,
            _scratch: scratch,
        }
    }

    /// The flags that point diagnose at it.
    fn args(&self) -> [&str; 6] {
        [
            "--api-server",
            &self.url,
            "--token-file",
            &self.token,
            "--cacert",
            &self.ca,
        ]
    }
}

/// Runs diagnose in the client pod with `args`; checks exit code, deadline and that no token
/// appears in anything it printed.
fn diagnose(bed: &Testbed, args: &[&str]) -> Value {
    let mut argv = vec![bin::svcprobe(), "diagnose", "hostnames"];
    argv.extend(args);
    let out = bed.exec_timeout(CLIENT, &argv, Duration::from_secs(15));
    for token in [TOKEN, "wrong-token-also-secret"] {
        for stream in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(stream).contains(token),
                "a token was printed: {}",
                describe(&out)
            );
        }
    }
    if args.contains(&"text") {
        return Value::String(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    report(&out)
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    check(report, id)["status"].as_str().unwrap_or_default()
}

#[test]
fn reads_the_api_through_the_kubernetes_service_and_pages_lists() {
    let bed = Testbed::up();
    // Where kube-proxy sends 10.0.0.1:443 in the bed: the node's 10.240.0.2:6443.
    let server = FakeApiServer::start("10.240.0.2:6443", Some(&bed.netns("node")), TOKEN);
    server.set(|b| b.page_size = 2);
    let scratch = Scratch::new(&bed);
    let token = scratch.token_file(TOKEN);
    let ca = format!("{FIXTURES}/ca.pem");
    let token_arg = token.display().to_string();
    let args = [
        "--api-server",
        "https://10.0.0.1",
        "--token-file",
        &token_arg,
        "--cacert",
        &ca,
    ];
    let report = diagnose(&bed, &args);
    assert_eq!(cause(&report), "healthy", "{report:#}");
    let api = check(&report, "api");
    assert_eq!(api["status"], "pass", "{api:#}");
    assert_eq!(api["evidence"]["read"]["pods"], 3, "{api:#}");
    assert_eq!(api["evidence"]["source"], "flags");
    assert_eq!(status(&report, "service-definition"), "pass", "{report:#}");
    assert_eq!(status(&report, "endpoints"), "pass", "{report:#}");
    assert_eq!(report["port_source"], "objects");
    // The guide's order: the API read sits just before the checks that need its objects.
    let ids = check_ids(&report);
    let at = |id| ids.iter().position(|i| *i == id).unwrap();
    assert_eq!(at("api") + 1, at("service-definition"), "{ids:?}");
    assert!(at("dns-fqdn") < at("api"));
    // Three pods two at a time: two pages, the continue token percent-encoded.
    let seen = server.take_seen();
    let pods: Vec<&str> = seen
        .iter()
        .map(|s| s.target.as_str())
        .filter(|t| t.starts_with("/api/v1/namespaces/default/pods"))
        .collect();
    assert_eq!(pods.len(), 2, "{seen:#?}");
    assert!(
        pods[0].contains("labelSelector=app%3Dhostnames"),
        "{pods:?}"
    );
    assert!(pods[1].contains("continue=2%2Frv%3D1052"), "{pods:?}");
    assert!(seen.iter().any(|s| s.target
        == "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?limit=500&labelSelector=kubernetes.io%2Fservice-name%3Dhostnames"));
    assert!(seen
        .iter()
        .all(|s| s.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))));
    // A host name is resolved with svcprobe's own resolver (the bed's DNS), then verified.
    let by_name = [
        "--api-server",
        "https://kubernetes.default.svc.cluster.local:443",
        "--token-file",
        &token_arg,
        "--cacert",
        &ca,
    ];
    let report = diagnose(&bed, &by_name);
    assert_eq!(status(&report, "api"), "pass", "{report:#}");
    // The token is read for every request: kubelet rotating it mid-read changes nothing.
    server.take_seen();
    server.set(|b| b.rotate_to = Some((token.clone(), format!("{TOKEN}-rotated"))));
    let report = diagnose(&bed, &args);
    assert_eq!(status(&report, "api"), "pass", "{report:#}");
    let seen = server.take_seen();
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert!(seen[1..]
        .iter()
        .all(|s| s.authorization.as_deref() == Some(&*format!("Bearer {TOKEN}-rotated"))));
    // Lists longer than the page bound (4 pages) are read in part, and the check says so.
    server.set(|b| b.extra_pods = 7);
    let report = diagnose(&bed, &args);
    let api = check(&report, "api");
    assert_eq!(api["status"], "warn", "{api:#}");
    assert!(
        api["summary"]
            .as_str()
            .unwrap()
            .contains("incomplete (page bound): pods"),
        "{api:#}"
    );
    assert_eq!(api["evidence"]["read"]["pods"], 8, "{api:#}");
    server.set(|b| b.extra_pods = 0);
    // The text view says the same, without the token either.
    let mut text_args = args.to_vec();
    text_args.extend(["-o", "text"]);
    let text = diagnose(&bed, &text_args);
    assert!(text.as_str().unwrap().contains("[ ok ] api"), "{text}");
}

#[test]
fn in_a_pod_the_service_account_is_used_by_default() {
    let bed = Testbed::up();
    let server = FakeApiServer::start("10.240.0.2:6443", Some(&bed.netns("node")), TOKEN);
    // A pod's view: the service account mounted where kubelet mounts it (a tmpfs over /run
    // in the exec's own mount namespace, so the host's /run is untouched) and the
    // `kubernetes` Service's environment.
    let scratch = Scratch::new(&bed);
    let dir = &scratch.0;
    std::fs::write(dir.join("token"), TOKEN).expect("token");
    std::fs::write(dir.join("namespace"), "default").expect("namespace");
    std::fs::copy(format!("{FIXTURES}/ca.pem"), dir.join("ca.crt")).expect("ca");
    let script = r#"set -e
        cp /etc/resolv.conf "$0/resolv.conf"
        mount -t tmpfs none /run
        sa=/var/run/secrets/kubernetes.io/serviceaccount
        mkdir -p $sa
        cp "$0/token" "$0/ca.crt" "$0/namespace" $sa/
        exec env KUBERNETES_SERVICE_HOST=10.0.0.1 KUBERNETES_SERVICE_PORT=443 \
            "$1" diagnose hostnames --resolv-conf "$0/resolv.conf""#;
    let dir_arg = dir.display().to_string();
    let out = bed.exec_timeout(
        CLIENT,
        &["sh", "-c", script, &dir_arg, bin::svcprobe()],
        Duration::from_secs(15),
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(TOKEN));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(TOKEN));
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&out)));
    assert_eq!(cause(&report), "healthy", "{report:#}");
    let api = check(&report, "api");
    assert_eq!(api["status"], "pass", "{api:#}");
    assert_eq!(api["evidence"]["source"], "in-cluster");
    assert_eq!(api["evidence"]["server"], "https://10.0.0.1:443");
    assert_eq!(report["context"]["namespace_source"], "serviceaccount");
    assert_eq!(status(&report, "service-definition"), "pass");
    assert_eq!(server.take_seen().len(), 3);
}

#[test]
fn rbac_tokens_missing_services_and_old_clusters() {
    let bed = Testbed::up();
    let server = FakeApiServer::start("127.0.0.1:0", Some(&bed.netns(CLIENT)), TOKEN);
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let scratch = Scratch::new(&bed);
    let token = scratch.token_file(TOKEN).display().to_string();
    let ca = format!("{FIXTURES}/ca.pem");
    let run = |token: &str, ca: &str| {
        diagnose(
            &bed,
            &["--api-server", &url, "--token-file", token, "--cacert", ca],
        )
    };

    // 403 on the Service: skip, with the Role that would allow it; the walk goes on.
    server.set(|b| b.forbidden = vec!["services"]);
    let report = run(&token, &ca);
    let api = check(&report, "api");
    assert_eq!(api["status"], "skip", "{api:#}");
    assert!(
        api["summary"].as_str().unwrap().contains("403 Forbidden"),
        "{api:#}"
    );
    let hint = api["hint"].as_str().unwrap();
    assert!(
        hint.contains("kubectl create role svcprobe-read -n default --verb=get,list"),
        "{hint}"
    );
    assert!(hint.contains("--serviceaccount=default:default"), "{hint}");
    let yaml = api["evidence"]["rbac_yaml"].as_str().unwrap();
    assert!(
        yaml.contains("kind: Role\n") && yaml.contains("kind: RoleBinding\n"),
        "{yaml}"
    );
    assert_eq!(cause(&report), "healthy", "{report:#}");
    assert_eq!(status(&report, "service-definition"), "skip");
    let text = diagnose(
        &bed,
        &[
            "--api-server",
            &url,
            "--token-file",
            &token,
            "--cacert",
            &ca,
            "-o",
            "text",
        ],
    );
    let text = text.as_str().unwrap();
    assert!(
        text.contains("[skip] api") && text.contains("kubectl create role"),
        "{text}"
    );

    // 403 on pods only: what was read is used, nothing is concluded from the missing pods.
    server.set(|b| b.forbidden = vec!["pods"]);
    let report = run(&token, &ca);
    assert_eq!(status(&report, "api"), "warn", "{report:#}");
    assert_eq!(status(&report, "service-definition"), "warn", "{report:#}");
    assert_eq!(status(&report, "endpoints"), "pass", "{report:#}");
    assert_eq!(cause(&report), "healthy", "{report:#}");
    server.set(|b| b.forbidden.clear());

    // 401: the token is rejected.
    let wrong = scratch
        .token_file("wrong-token-also-secret")
        .display()
        .to_string();
    let report = run(&wrong, &ca);
    let api = check(&report, "api");
    assert_eq!(api["status"], "skip", "{api:#}");
    assert!(
        api["summary"]
            .as_str()
            .unwrap()
            .contains("the token is rejected"),
        "{api:#}"
    );
    assert_eq!(api["evidence"]["failures"][0]["kind"], "unauthorized");

    // 404 of the Service: service-not-found, as with --objects.
    server.set(|b| b.missing_service = true);
    let report = run(&token, &ca);
    assert_eq!(cause(&report), "service-not-found", "{report:#}");
    assert_eq!(status(&report, "service-definition"), "fail");
    server.set(|b| b.missing_service = false);

    // No discovery.k8s.io (an old cluster): the v1 Endpoints object instead.
    server.set(|b| b.no_discovery = true);
    server.take_seen();
    let report = run(&token, &ca);
    assert_eq!(cause(&report), "healthy", "{report:#}");
    assert_eq!(status(&report, "endpoints"), "pass", "{report:#}");
    assert_eq!(check(&report, "api")["evidence"]["read"]["endpoints"], 1);
    assert!(server
        .take_seen()
        .iter()
        .any(|s| s.target == "/api/v1/namespaces/default/endpoints/hostnames"));
    server.set(|b| b.no_discovery = false);

    // A CA that did not sign the server's certificate: a TLS failure, and no request sent.
    server.take_seen();
    let report = run(&token, &format!("{FIXTURES}/other-ca.pem"));
    let api = check(&report, "api");
    assert_eq!(api["status"], "skip", "{api:#}");
    assert_eq!(api["evidence"]["failures"][0]["kind"], "tls", "{api:#}");
    assert!(api["hint"]
        .as_str()
        .unwrap()
        .contains("never skips verification"));
    assert!(
        server.take_seen().is_empty(),
        "a request went out over an unverified connection"
    );
    assert_eq!(cause(&report), "healthy");

    // A selector that matches no pod: the namespace's pods are listed for the near misses
    // (and the bed's kube-proxy, like the cluster's, has no endpoints for it).
    server.set(|b| b.wrong_selector = true);
    bed.break_("no-endpoints");
    server.take_seen();
    let report = run(&token, &ca);
    let definition = check(&report, "service-definition");
    assert_eq!(definition["status"], "fail", "{definition:#}");
    let summary = definition["summary"].as_str().unwrap();
    assert!(summary.contains("near misses"), "{summary}");
    assert!(
        summary.contains("no label run (selector wants run=hostnames)"),
        "{summary}"
    );
    assert_eq!(
        check(&report, "api")["evidence"]["namespace_pods_listed"],
        true
    );
    assert!(server
        .take_seen()
        .iter()
        .any(|s| s.target == "/api/v1/namespaces/default/pods?limit=500"));
    assert_eq!(cause(&report), "no-endpoints", "{report:#}");
}

/// The most common Service failure, as the API server and kubectl really write it: the
/// placeholder EndpointSlice with `"endpoints": null, "ports": null`, an Endpoints object
/// without `subsets`, Pending pods without `containerStatuses`. Both ways in (the API read and
/// `--objects`) must read every object and name the cause.
#[test]
fn a_service_without_endpoints_through_the_api_and_objects() {
    let bed = Testbed::up();
    let api = LoopbackApi::start(&bed);
    api.server.set(|b| b.fixture = NO_ENDPOINTS);
    let args = api.args();
    // kube-proxy, like the cluster's, has no endpoints for the Service: it rejects.
    bed.break_("no-endpoints");
    let no_endpoints = |report: &Value, read: Value| {
        assert_eq!(cause(report), "no-endpoints", "{report:#}");
        assert_eq!(status(report, "endpoints"), "fail", "{report:#}");
        let api = check(report, "api");
        if !read.is_null() {
            assert_eq!(api["status"], "pass", "{api:#}");
            assert_eq!(api["evidence"]["read"], read, "{api:#}");
        }
    };
    let counts = |slices: u32, endpoints: u32| serde_json::json!({ "services": 1, "endpointslices": slices, "endpoints": endpoints, "pods": 3 });
    no_endpoints(&diagnose(&bed, &args), counts(1, 0));
    // An old cluster: the Endpoints object, without `subsets`.
    api.server.set(|b| b.no_discovery = true);
    no_endpoints(&diagnose(&bed, &args), counts(0, 1));
    // The same objects piped in, as `kubectl get service,endpointslices,endpoints,pods -o json`.
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/objects/no-endpoints.json"
    );
    let report = diagnose(&bed, &["--objects", file]);
    assert_eq!(status(&report, "api"), "skip", "{report:#}");
    no_endpoints(&report, Value::Null);
    // Objects that are not objects: exit 3, an `invalid-input` error, not a `read` one.
    let bad = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kubeapi/ca.pem");
    let out = bed.exec(
        CLIENT,
        &[bin::svcprobe(), "diagnose", "hostnames", "--objects", bad],
    );
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let error: Value = serde_json::from_slice(&out.stdout).expect("an error document");
    assert_eq!(error["error"]["kind"], "invalid-input", "{error:#}");
}

#[test]
fn a_slow_or_hung_api_server_ends_by_the_deadline() {
    let bed = Testbed::up();
    let api = LoopbackApi::start(&bed);
    let (server, args) = (&api.server, api.args());

    server.set(|b| b.delay = Duration::from_millis(150));
    let report = diagnose(&bed, &args);
    assert_eq!(status(&report, "api"), "pass", "{report:#}");
    assert_eq!(cause(&report), "healthy");

    // A list over the 8 MiB cap is refused, not read into memory; the Service still counts.
    // The stand-in (a debug build) writes 8.5 MiB through TLS, which a loaded machine may
    // not finish within the API's 2 s share of the default deadline: a longer deadline
    // (a 4.8 s share) keeps these two steps about the cap, not the machine's load.
    let patient: Vec<&str> = args.iter().copied().chain(["--deadline", "12s"]).collect();
    server.set(|b| {
        b.delay = Duration::ZERO;
        b.huge_lists = true;
    });
    let report = diagnose(&bed, &patient);
    let api = check(&report, "api");
    assert_eq!(api["status"], "warn", "{api:#}");
    assert_eq!(
        api["evidence"]["failures"][0]["kind"], "too-large",
        "{api:#}"
    );
    assert_eq!(api["evidence"]["failures"][0]["resource"], "endpointslices");

    // As kube-apiserver sends a list it has not measured: chunked. The objects read the
    // same, and a list over the cap is cut there as it is read.
    server.set(|b| b.go_chunking = true);
    let report = diagnose(&bed, &patient);
    assert_eq!(
        check(&report, "api")["evidence"]["failures"][0]["kind"],
        "too-large"
    );
    server.set(|b| b.huge_lists = false);
    let report = diagnose(&bed, &args);
    assert_eq!(status(&report, "api"), "pass", "{report:#}");
    assert_eq!(cause(&report), "healthy");
    server.set(|b| b.go_chunking = false);

    server.set(|b| b.hang = true);
    let report = diagnose(&bed, &args);
    let api = check(&report, "api");
    assert_eq!(api["status"], "skip", "{api:#}");
    assert_eq!(api["evidence"]["failures"][0]["kind"], "timeout", "{api:#}");
    // The API's share of the 5 s deadline is 2 s; the rest of the walk still runs.
    assert!(api["duration_ms"].as_f64().unwrap() < 2500.0, "{api:#}");
    assert_eq!(cause(&report), "healthy", "{report:#}");
}

#[test]
fn without_a_service_account_the_api_is_skipped_and_flags_conflict() {
    let bed = Testbed::up();
    let report = diagnose(&bed, &[]);
    let api = check(&report, "api");
    assert_eq!(api["status"], "skip", "{api:#}");
    assert!(
        api["summary"]
            .as_str()
            .unwrap()
            .contains("KUBERNETES_SERVICE_HOST"),
        "{api:#}"
    );
    let report = diagnose(&bed, &["--api"]);
    assert_eq!(status(&report, "api"), "fail", "{report:#}");
    assert_eq!(status(&diagnose(&bed, &["--no-api"]), "api"), "skip");
    let out = bed.exec(
        CLIENT,
        &[
            bin::svcprobe(),
            "diagnose",
            "hostnames",
            "--api",
            "--no-api",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}
