//! The test bed's topology is written once, in `scripts/testbed.sh`; the Rust constants the
//! tests use (tests/common/testbed.rs) and the cluster objects that describe the bed
//! (tests/fixtures/objects/hostnames.json) are checked against it here, so that neither can
//! drift from the bed the tests run against. Needs no root: `testbed.sh topology` only prints.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::testbed::{self, *};
use serde_json::Value;

/// `testbed.sh topology`: the first word of each line is the key, the rest its values.
struct Topology {
    lines: Vec<(String, Vec<String>)>,
}

impl Topology {
    fn read() -> Topology {
        let mut command = Command::new("bash");
        command.arg(testbed::script()).arg("topology");
        let out = run_with_timeout(command, EXEC_TIMEOUT);
        assert!(
            out.status.success(),
            "testbed.sh topology: {}",
            describe(&out)
        );
        let lines = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace().map(String::from);
                Some((words.next()?, words.collect()))
            })
            .collect();
        Topology { lines }
    }

    /// Every line's values under `key`.
    fn all(&self, key: &str) -> Vec<&[String]> {
        self.lines
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The values of the one line under `key`.
    fn one(&self, key: &str) -> &[String] {
        match self.all(key).as_slice() {
            [values] => values,
            other => panic!("testbed.sh topology has {} `{key}` lines", other.len()),
        }
    }

    fn value(&self, key: &str) -> &str {
        match self.one(key) {
            [value] => value,
            other => panic!("`{key}` has {} values", other.len()),
        }
    }

    /// Pods by name: (Kubernetes namespace, IP, role).
    fn pods(&self) -> BTreeMap<&str, (&str, &str, &str)> {
        self.all("pod")
            .into_iter()
            .map(|p| match p {
                [name, ns, ip, role] => (name.as_str(), (ns.as_str(), ip.as_str(), role.as_str())),
                other => panic!("pod line {other:?}"),
            })
            .collect()
    }

    fn pod_ip(&self, name: &str) -> &str {
        self.pods()
            .get(name)
            .unwrap_or_else(|| panic!("no pod {name}"))
            .1
    }

    /// The ClusterIP of `ns/name`.
    fn vip(&self, service: &str) -> &str {
        self.all("service")
            .into_iter()
            .find_map(|s| match s {
                [name, vip] if name == service => Some(vip.as_str()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no service {service}"))
    }
}

#[test]
fn the_harness_constants_are_the_scripts() {
    let t = Topology::read();
    let domain = t.value("domain");
    assert_eq!(t.pods().get(CLIENT).map(|p| p.2), Some("client"));
    assert_eq!(t.pod_ip(CLIENT), CLIENT_IP);
    assert_eq!(
        t.pods().get(CLIENT_B).map(|p| (p.0, p.1)),
        Some(("team-b", CLIENT_B_IP))
    );
    assert_eq!(t.value("nodelocal-ip"), NODELOCAL_IP);
    assert_eq!(t.value("dns-pod"), DNS_POD);
    assert_eq!(t.pod_ip(DNS_POD), DNS_POD_IP);
    assert_eq!(t.one("backends"), BACKENDS);
    let backend_ips: Vec<&str> = BACKENDS.iter().map(|b| t.pod_ip(b)).collect();
    assert_eq!(backend_ips, BACKEND_IPS);
    assert_eq!(t.value("down-backend"), DOWN_BACKEND);
    assert_eq!(t.value("self-backend"), SELF_BACKEND);
    assert_eq!(t.value("backend-port"), BACKEND_PORT.to_string());
    assert_eq!(t.value("bridge-ip"), NODE_BRIDGE_IP);
    assert_eq!(t.vip("default/hostnames"), HOSTNAMES_VIP);
    assert_eq!(t.vip("default/kubernetes"), KUBERNETES_VIP);
    assert_eq!(t.vip("kube-system/kube-dns"), DNS_VIP);
    assert_eq!(t.vip("default/self"), SELF_VIP);
    assert_eq!(HOSTNAMES_FQDN, format!("hostnames.default.svc.{domain}"));
    assert_eq!(SELF_FQDN, format!("self.default.svc.{domain}"));
    assert_eq!(t.one("switches"), SWITCHES);
}

/// The objects fixture describes the bed's `default/hostnames`: its ClusterIP and target
/// port, one endpoint per backend with that pod's IP, and the backends' pods. Fields may be
/// absent or `null` (Go's nil), as from a real API server.
#[test]
fn the_objects_fixture_is_the_scripts() {
    let t = Topology::read();
    let fixture: Value = serde_json::from_str(include_str!("fixtures/objects/hostnames.json"))
        .expect("objects fixture");
    let items = fixture["items"].as_array().expect("items");
    let of_kind = |kind: &'static str| items.iter().filter(move |i| i["kind"] == kind);
    let backend_port = t.value("backend-port");
    let pods = t.pods();

    let services: Vec<&Value> = of_kind("Service").collect();
    assert_eq!(services.len(), 1, "one Service");
    let service = services[0];
    assert_eq!(service["metadata"]["name"], "hostnames");
    assert_eq!(service["metadata"]["namespace"], "default");
    assert_eq!(service["spec"]["clusterIP"], t.vip("default/hostnames"));
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"].to_string(),
        backend_port
    );

    let mut endpoints = Vec::new();
    for slice in of_kind("EndpointSlice") {
        assert_eq!(
            slice["metadata"]["labels"]["kubernetes.io/service-name"],
            "hostnames"
        );
        for port in slice["ports"].as_array().into_iter().flatten() {
            assert_eq!(port["port"].to_string(), backend_port);
        }
        for endpoint in slice["endpoints"].as_array().into_iter().flatten() {
            let pod = endpoint["targetRef"]["name"].as_str().expect("targetRef");
            let addresses: Vec<&str> = endpoint["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(addresses, [t.pod_ip(pod)], "endpoint of {pod}");
            endpoints.push(pod);
        }
    }
    assert_eq!(
        endpoints,
        t.one("backends"),
        "the endpoints are the backends"
    );

    let mut fixture_pods = Vec::new();
    for pod in of_kind("Pod") {
        let name = pod["metadata"]["name"].as_str().expect("pod name");
        let (namespace, ip, _) = pods.get(name).unwrap_or_else(|| panic!("no pod {name}"));
        assert_eq!(pod["metadata"]["namespace"], *namespace, "{name}");
        assert_eq!(pod["status"]["podIP"], *ip, "{name}");
        fixture_pods.push(name);
    }
    assert_eq!(
        fixture_pods,
        t.one("backends"),
        "the fixture's pods are the backends"
    );
}
