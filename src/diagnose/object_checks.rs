//! The guide's "Is the Service defined correctly?" and "Does the Service have any
//! Endpoints?", answered from cluster objects (`--objects` or the API server) or
//! `--endpoints`. The definition is judged by small rules, each returning what it found.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::{check, skip, Options};
use crate::k8s::{Backend, IntOrString, Objects, Pod, Service, ServicePort};
use crate::report::{
    listed, Check, CheckId, CheckStatus, EndpointEvidence, EndpointsEvidence, Evidence, PodLabels,
    ServiceDefinitionEvidence, ServiceMissingEvidence,
};

/// What the object checks contribute to the verdict and to the connectivity checks.
pub struct ObjectResult {
    pub checks: Vec<Check>,
    /// `Some(false)`: objects were given and the Service is not among them.
    pub service_found: Option<bool>,
    /// The Service port chosen (from `--port` or the first port).
    pub port: Option<u16>,
    /// The Service's ClusterIP, when objects say (not for headless Services).
    pub cluster_ip: Option<String>,
    /// Whether the port speaks HTTP, when its name or appProtocol says.
    pub http: Option<bool>,
    /// The Service port's protocol is UDP.
    pub udp: bool,
    pub target_port_undeclared: Option<String>,
    pub ready_endpoints: Option<usize>,
    /// Endpoints to probe directly: from the objects, else from `--endpoints`.
    pub backends: Vec<Backend>,
    /// Why `backends` is empty, when it is (what `endpoints-direct` says when it skips).
    pub no_backends: String,
}

/// Where the objects came from and who is asking, for hints that can be pasted as they are.
pub struct Source<'a> {
    /// `--objects` or `the API server`; `None` without objects.
    pub objects: Option<&'a str>,
    pub namespace: &'a str,
    /// This pod's name (its hostname), for `kubectl exec`.
    pub pod: Option<&'a str>,
}

/// How to give svcprobe the objects, with the names filled in.
fn how_to_supply(options: &Options, source: &Source) -> String {
    let ns = source.namespace;
    let pod = source.pod.unwrap_or("<this pod>");
    format!(
        "let svcprobe read the API (see the api check; deploy/rbac.yaml), or pipe cluster state in: kubectl get service,endpointslices,pods -n {ns} -o json | kubectl exec -i {pod} -- svcprobe diagnose {} -n {ns} --objects -   (or give --endpoints IP:PORT,...)",
        options.service.name
    )
}

pub fn run(options: &Options, objects: Option<&Objects>, source: &Source) -> ObjectResult {
    let given: Vec<Backend> = options
        .endpoints
        .iter()
        .map(|a: &SocketAddr| Backend {
            ip: a.ip().to_string(),
            port: a.port(),
            ready: true,
            pod: None,
            node: None,
            terminating: false,
        })
        .collect();
    let (Some(objects), Some(from)) = (objects, source.objects) else {
        return without_objects(given, options, source);
    };
    let namespace = source.namespace;
    let Some(service) = objects.service(namespace, &options.service.name) else {
        let services = objects
            .services
            .iter()
            .map(|s| format!("{}/{}", s.metadata.namespace, s.metadata.name))
            .collect();
        return ObjectResult {
            checks: vec![
                check(
                    CheckId::ServiceDefinition,
                    CheckStatus::Fail,
                    format!(
                        "no Service {namespace}/{} (objects from {from})",
                        options.service.name
                    ),
                    Evidence::ServiceMissing(ServiceMissingEvidence { services }),
                    Some(format!(
                        "kubectl get services -A | grep {}: wrong name or namespace?",
                        options.service.name
                    )),
                ),
                skip(
                    CheckId::Endpoints,
                    "the Service does not exist".into(),
                    None,
                ),
            ],
            service_found: Some(false),
            port: None,
            cluster_ip: None,
            http: None,
            udp: false,
            target_port_undeclared: None,
            ready_endpoints: None,
            no_backends: or_given(&given, "the Service does not exist"),
            backends: given,
        };
    };
    let port = match options.port {
        Some(p) => service.spec.ports.iter().find(|sp| sp.port == p),
        None => service.spec.ports.first(),
    };
    let (definition, target_port_undeclared) =
        service_definition(objects, service, port, options.port);
    let (endpoints, ready, mut backends, why_none) = endpoints(objects, service, port, from);
    if backends.is_empty() {
        backends = given;
    }
    let cluster_ip = service
        .spec
        .cluster_ip
        .clone()
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
    let http = port.map(|p| {
        let hint = p
            .app_protocol
            .as_deref()
            .or(p.name.as_deref())
            .unwrap_or_default();
        hint.starts_with("http") || (hint.is_empty() && matches!(p.port, 80 | 8080))
    });
    ObjectResult {
        checks: vec![definition, endpoints],
        service_found: Some(true),
        port: port.map(|p| p.port),
        cluster_ip,
        http,
        udp: port.is_some_and(|p| p.protocol.as_deref() == Some("UDP")),
        target_port_undeclared,
        ready_endpoints: ready,
        no_backends: why_none,
        backends,
    }
}

/// The reason to give when there are no backends: `why`, unless `--endpoints` gave some.
fn or_given(given: &[Backend], why: &str) -> String {
    if given.is_empty() {
        why.to_string()
    } else {
        String::new()
    }
}

fn without_objects(given: Vec<Backend>, options: &Options, source: &Source) -> ObjectResult {
    let supply = how_to_supply(options, source);
    let definition = skip(
        CheckId::ServiceDefinition,
        "no cluster objects to check it against".into(),
        Some(supply.clone()),
    );
    let endpoints = if given.is_empty() {
        skip(
            CheckId::Endpoints,
            "no cluster objects and no --endpoints".into(),
            Some(supply),
        )
    } else {
        check(
            CheckId::Endpoints,
            CheckStatus::Pass,
            format!("{} endpoints given with --endpoints", given.len()),
            Evidence::Endpoints(endpoints_evidence(given.iter().map(|b| endpoint(b, None)))),
            None,
        )
    };
    let ready = (!given.is_empty()).then_some(given.len());
    ObjectResult {
        checks: vec![definition, endpoints],
        service_found: None,
        port: None,
        cluster_ip: None,
        http: None,
        udp: false,
        target_port_undeclared: None,
        ready_endpoints: ready,
        no_backends: or_given(
            &given,
            "no endpoint addresses known: read the API (RBAC), or give --objects or --endpoints",
        ),
        backends: given,
    }
}

/// What the definition rules look at: the Service, the port probed, and its pods.
struct Definition<'a> {
    objects: &'a Objects,
    service: &'a Service,
    port: &'a ServicePort,
    /// The pods the selector matches.
    selected: Vec<&'a Pod>,
    target: IntOrString,
    /// The targetPort's number on each selected pod (`None` where the pod lacks it).
    resolved: Vec<Option<u16>>,
}

/// How much a finding matters: a problem fails the check, a warning warns, a note only
/// explains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Problem,
    Warning,
    Note,
}

/// What one rule found.
struct Found {
    level: Level,
    text: String,
    /// The targetPort the pods do not declare, for the verdict.
    undeclared: Option<String>,
}

fn found(level: Level, text: String) -> Option<Found> {
    Some(Found {
        level,
        text,
        undeclared: None,
    })
}

/// The definition rules, in the order their findings are listed.
const DEFINITION_RULES: &[fn(&Definition) -> Option<Found>] = &[
    external_name,
    headless,
    internal_traffic_policy_local,
    selector,
    target_port,
    protocol,
    session_affinity,
    dual_stack,
    publish_not_ready,
    exposed_outside,
];

fn external_name(d: &Definition) -> Option<Found> {
    let spec = &d.service.spec;
    (spec.service_type.as_deref() == Some("ExternalName")).then(|| Found {
        level: Level::Warning,
        text: format!(
            "type ExternalName: DNS returns a CNAME to {}, there is no ClusterIP",
            spec.external_name.as_deref().unwrap_or("?")
        ),
        undeclared: None,
    })
}

fn headless(d: &Definition) -> Option<Found> {
    if d.service.spec.cluster_ip.as_deref() != Some("None") {
        return None;
    }
    found(
        Level::Warning,
        "headless (clusterIP: None): DNS returns the pod IPs, there is no Service IP to probe"
            .into(),
    )
}

fn internal_traffic_policy_local(d: &Definition) -> Option<Found> {
    if d.service.spec.internal_traffic_policy.as_deref() != Some("Local") {
        return None;
    }
    found(Level::Warning, "internalTrafficPolicy: Local: pods reach only the endpoints on their own node; from a node without one, connections to the ClusterIP are dropped".into())
}

/// A selector that matches no pod, with the pods that miss it by one label and the labels
/// the namespace's pods do carry.
fn selector(d: &Definition) -> Option<Found> {
    let Some(selector) = &d.service.spec.selector else {
        return found(
            Level::Warning,
            "no selector: the endpoints are managed by hand (or by a controller)".into(),
        );
    };
    if let Some(why) = &d.objects.pods_unavailable {
        return found(
            Level::Warning,
            format!("the pods could not be read ({why}): selector and targetPort not checked against them"),
        );
    }
    if !d.selected.is_empty() {
        return None;
    }
    let ns = &d.service.metadata.namespace;
    let mut text = format!("the selector {} matches no pod", labels_text(selector));
    // Pods missing the selector the same way are named once, grouped by how they miss it.
    let mut near: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (pod, why) in d.objects.near_misses(ns, selector) {
        near.entry(why).or_default().push(&pod.metadata.name);
    }
    for (why, pods) in &near {
        let count = match pods.len() {
            1 => "1 pod".to_string(),
            n => format!("{n} pods"),
        };
        text.push_str(&format!(
            "; near misses ({count}): {why}: {}",
            pods.join(", ")
        ));
    }
    let labels = pod_labels(d.objects, ns);
    if labels.is_empty() {
        text.push_str(&format!("; the objects hold no pod in namespace {ns}"));
    } else {
        let sets: Vec<String> = labels
            .iter()
            .map(|set| format!("{} ({} pods)", labels_text(&set.labels), set.pods.len()))
            .collect();
        text.push_str(&format!("; the pods' labels: {}", sets.join(", ")));
    }
    found(Level::Problem, text)
}

/// The distinct label sets of the namespace's pods, each with the pods that carry it.
fn pod_labels(objects: &Objects, ns: &str) -> Vec<PodLabels> {
    let mut sets: BTreeMap<&BTreeMap<String, String>, Vec<String>> = BTreeMap::new();
    for pod in &objects.pods {
        if pod.metadata.namespace.is_empty() || pod.metadata.namespace == ns {
            sets.entry(&pod.metadata.labels)
                .or_default()
                .push(pod.metadata.name.clone());
        }
    }
    sets.into_iter()
        .map(|(labels, pods)| PodLabels {
            labels: labels.clone(),
            pods,
        })
        .collect()
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "(no labels)".into();
    }
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

/// A named targetPort every selected pod must declare; a numeric one the pods should.
fn target_port(d: &Definition) -> Option<Found> {
    let declares_any_port = d
        .selected
        .iter()
        .any(|p| p.spec.containers.iter().any(|c| !c.ports.is_empty()));
    match &d.target {
        IntOrString::Str(name) if !d.selected.is_empty() && d.resolved.iter().any(Option::is_none) => Some(Found {
            level: Level::Problem,
            text: format!("targetPort `{name}` is not a named port of every selected pod: those pods get no endpoint"),
            undeclared: Some(name.clone()),
        }),
        IntOrString::Int(n) if declares_any_port && d.resolved.iter().all(Option::is_none) => Some(Found {
            level: Level::Warning,
            text: format!("targetPort {n} is not among the pods' containerPorts"),
            undeclared: Some(n.to_string()),
        }),
        _ => None,
    }
}

fn protocol(d: &Definition) -> Option<Found> {
    let protocol = d.port.protocol.as_deref().unwrap_or("TCP");
    let number = d.resolved.iter().flatten().next().copied();
    let mismatched = d
        .selected
        .iter()
        .flat_map(|p| p.spec.containers.iter())
        .flat_map(|c| c.ports.iter())
        .any(|cp| {
            Some(cp.container_port) == number && cp.protocol.as_deref().unwrap_or("TCP") != protocol
        });
    mismatched.then(|| Found {
        level: Level::Problem,
        text: format!("the Service port is {protocol} but the container port is not"),
        undeclared: None,
    })
}

fn session_affinity(d: &Definition) -> Option<Found> {
    if d.service.spec.session_affinity.as_deref() != Some("ClientIP") {
        return None;
    }
    found(
        Level::Note,
        "sessionAffinity: ClientIP: this pod's connections all go to one backend".into(),
    )
}

fn dual_stack(d: &Definition) -> Option<Found> {
    let spec = &d.service.spec;
    if spec.ip_families.len() < 2 {
        return None;
    }
    found(
        Level::Note,
        format!(
            "dual-stack ({}): ClusterIPs {}",
            spec.ip_families.join(", "),
            spec.cluster_ips.join(", ")
        ),
    )
}

fn publish_not_ready(d: &Definition) -> Option<Found> {
    if !d.service.spec.publish_not_ready_addresses {
        return None;
    }
    found(
        Level::Note,
        "publishNotReadyAddresses: not-ready pods are published too (DNS, headless)".into(),
    )
}

fn exposed_outside(d: &Definition) -> Option<Found> {
    let kind @ ("NodePort" | "LoadBalancer") = d.service.spec.service_type.as_deref()? else {
        return None;
    };
    found(
        Level::Note,
        format!("type {kind}: also reachable from outside; this probe tests the ClusterIP"),
    )
}

/// `service-definition`: the port, the targetPort on the selected pods, the protocol, the
/// selector (with near misses), and the spec fields that explain symptoms.
fn service_definition(
    objects: &Objects,
    service: &Service,
    port: Option<&ServicePort>,
    wanted: Option<u16>,
) -> (Check, Option<String>) {
    let ns = &service.metadata.namespace;
    let mut evidence = spec_evidence(service);
    let hint = format!(
        "compare `kubectl get service {} -n {ns} -o yaml` (spec.selector, spec.ports[].targetPort) with `kubectl get pods -n {ns} --show-labels` and the pods' containerPorts",
        service.metadata.name
    );
    let Some(port) = port else {
        let summary = match wanted {
            Some(p) => format!(
                "the Service has no port {p} (ports: {})",
                evidence.ports.join(", ")
            ),
            None => "the Service has no ports".into(),
        };
        evidence.problems.push(summary.clone());
        let check = check(
            CheckId::ServiceDefinition,
            CheckStatus::Fail,
            summary,
            Evidence::ServiceDefinition(Box::new(evidence)),
            Some(hint),
        );
        return (check, None);
    };
    let selected = match (&service.spec.selector, &objects.pods_unavailable) {
        (Some(selector), None) => objects.selected_pods(ns, selector),
        _ => Vec::new(),
    };
    let target = port
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(i64::from(port.port)));
    let resolved = selected
        .iter()
        .map(|p| p.resolve_target_port(&target))
        .collect();
    let definition = Definition {
        objects,
        service,
        port,
        selected,
        target,
        resolved,
    };
    let mut undeclared = None;
    for found in DEFINITION_RULES.iter().filter_map(|rule| rule(&definition)) {
        undeclared = undeclared.or(found.undeclared);
        match found.level {
            Level::Problem => evidence.problems.push(found.text),
            Level::Warning => evidence.warnings.push(found.text),
            Level::Note => evidence.notes.push(found.text),
        }
    }
    evidence.selected_pods = definition
        .selected
        .iter()
        .map(|p| p.metadata.name.clone())
        .collect();
    if definition.selected.is_empty() && objects.pods_unavailable.is_none() {
        evidence.pod_labels = pod_labels(objects, ns);
    }
    let (status, summary) = if !evidence.problems.is_empty() {
        (CheckStatus::Fail, evidence.problems.join("; "))
    } else if !evidence.warnings.is_empty() {
        (CheckStatus::Warn, evidence.warnings.join("; "))
    } else {
        let mut summary = format!(
            "port {}, selector matches {} pod(s)",
            port.describe(),
            definition.selected.len()
        );
        for note in &evidence.notes {
            summary.push_str("; ");
            summary.push_str(note);
        }
        (CheckStatus::Pass, summary)
    };
    let check = check(
        CheckId::ServiceDefinition,
        status,
        summary,
        Evidence::ServiceDefinition(Box::new(evidence)),
        (status != CheckStatus::Pass).then_some(hint),
    );
    (check, undeclared)
}

/// The spec fields `service-definition` shows, before any rule has run.
fn spec_evidence(service: &Service) -> ServiceDefinitionEvidence {
    let spec = &service.spec;
    ServiceDefinitionEvidence {
        service_type: spec.service_type.clone(),
        cluster_ip: spec.cluster_ip.clone(),
        cluster_ips: spec.cluster_ips.clone(),
        ip_families: spec.ip_families.clone(),
        ip_family_policy: spec.ip_family_policy.clone(),
        session_affinity: spec.session_affinity.clone(),
        internal_traffic_policy: spec.internal_traffic_policy.clone(),
        publish_not_ready_addresses: spec.publish_not_ready_addresses,
        external_name: spec.external_name.clone(),
        ports: spec.ports.iter().map(ServicePort::describe).collect(),
        selector: spec.selector.clone(),
        selected_pods: Vec::new(),
        pod_labels: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
    }
}

/// One endpoint with its pod's state, as `kubectl get pods` shows it.
fn endpoints_evidence(
    endpoints: impl ExactSizeIterator<Item = EndpointEvidence>,
) -> EndpointsEvidence {
    let (endpoints, not_listed) = listed(endpoints);
    EndpointsEvidence {
        endpoints,
        not_listed,
    }
}

fn endpoint(b: &Backend, pod: Option<&Pod>) -> EndpointEvidence {
    EndpointEvidence {
        address: format!("{}:{}", b.ip, b.port),
        ready: b.ready,
        pod: b.pod.clone(),
        phase: pod.and_then(|p| p.status.phase.clone()),
        pod_ready: pod.map(Pod::ready),
        restarts: pod.map(Pod::restarts),
        waiting: pod.and_then(|p| p.waiting_reason()).map(str::to_string),
        node: b.node.clone(),
    }
}

/// The guide's `kubectl get pods` columns for a not-ready endpoint: STATUS, READY, RESTARTS.
fn not_ready_text(b: &Backend, pod: Option<&Pod>) -> String {
    let name = b.pod.clone().unwrap_or_else(|| b.ip.clone());
    match pod {
        Some(p) => {
            let state = p
                .waiting_reason()
                .or(p.status.phase.as_deref())
                .unwrap_or("unknown");
            let statuses = &p.status.container_statuses;
            let ready = statuses.iter().filter(|c| c.ready).count();
            format!(
                "{name} ({state}, {ready}/{} ready, {} restarts)",
                statuses.len(),
                p.restarts()
            )
        }
        None if b.terminating => format!("{name} (terminating)"),
        None => name,
    }
}

/// `endpoints`: the ready and not-ready endpoints of the Service's port, with their pods'
/// state. Also returns the ready count, the backends, and why there are none.
fn endpoints(
    objects: &Objects,
    service: &Service,
    port: Option<&ServicePort>,
    from: &str,
) -> (Check, Option<usize>, Vec<Backend>, String) {
    let Some(port) = port else {
        let why = "no Service port to match endpoints to";
        return (
            skip(CheckId::Endpoints, why.into(), None),
            None,
            Vec::new(),
            why.into(),
        );
    };
    let ns = &service.metadata.namespace;
    let name = &service.metadata.name;
    let Some(backends) = objects.backends(service, port) else {
        let why = format!(
            "the objects (from {from}) hold no EndpointSlices or Endpoints for the Service"
        );
        let hint = format!("add them: kubectl get endpointslices -n {ns} -l kubernetes.io/service-name={name} -o json (or give --endpoints IP:PORT,...)");
        return (
            skip(CheckId::Endpoints, why.clone(), Some(hint)),
            None,
            Vec::new(),
            why,
        );
    };
    let pod_of = |b: &Backend| b.pod.as_deref().and_then(|n| objects.pod(ns, n));
    let ready = backends.iter().filter(|b| b.ready).count();
    let not_ready: Vec<String> = backends
        .iter()
        .filter(|b| !b.ready)
        .map(|b| not_ready_text(b, pod_of(b)))
        .collect();
    let selector = service
        .spec
        .selector
        .as_ref()
        .map(|s| format!(" -l {}", labels_text(s)))
        .unwrap_or_default();
    let (status, summary, hint) = if ready == 0 {
        let summary = if not_ready.is_empty() {
            "no ready endpoints (none at all)".to_string()
        } else {
            format!("no ready endpoints; not ready: {}", not_ready.join(", "))
        };
        (CheckStatus::Fail, summary, Some(format!("kubectl get pods -n {ns}{selector} -o wide: are they Running and Ready? Check readiness probes and RESTARTS")))
    } else if !not_ready.is_empty() {
        let published = if service.spec.publish_not_ready_addresses {
            " (publishNotReadyAddresses: DNS still returns them)"
        } else {
            ""
        };
        (
            CheckStatus::Warn,
            format!("{ready} ready, not ready: {}{published}", not_ready.join(", ")),
            Some(format!("kubectl describe pod -n {ns} on the not-ready ones: readiness probe failures, restarts (kubectl logs --previous)")),
        )
    } else {
        (
            CheckStatus::Pass,
            format!("{ready} ready endpoint(s)"),
            None,
        )
    };
    let evidence = Evidence::Endpoints(endpoints_evidence(
        backends.iter().map(|b| endpoint(b, pod_of(b))),
    ));
    let why_none = "the objects list no endpoint for the Service".to_string();
    (
        check(CheckId::Endpoints, status, summary, evidence, hint),
        Some(ready),
        backends,
        why_none,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const HEALTHY: &str = include_str!("../../tests/fixtures/objects/hostnames.json");

    fn options() -> Options {
        Options {
            service: crate::service_name::parse("hostnames").unwrap(),
            namespace: None,
            port: None,
            objects: None,
            api: crate::kubeapi::Plan::Skip(crate::kubeapi::SkipReason::Declined),
            endpoints: Vec::new(),
            dns_endpoints: Vec::new(),
            samples: 1,
            timeout: Duration::from_secs(1),
            deadline: Duration::from_secs(1),
            resolv_conf: "/nonexistent".into(),
        }
    }

    fn run_with(change: impl Fn(&mut Objects)) -> ObjectResult {
        let mut objects = crate::k8s::parse(HEALTHY).unwrap();
        change(&mut objects);
        run(
            &options(),
            Some(&objects),
            &Source {
                objects: Some("the API server"),
                namespace: "default",
                pod: Some("client"),
            },
        )
    }

    fn status(result: &ObjectResult, id: CheckId) -> (CheckStatus, String) {
        let check = result.checks.iter().find(|c| c.id == id).unwrap();
        (check.status, check.summary.clone())
    }

    #[test]
    fn the_spec_fields_that_explain_symptoms() {
        let (s, summary) = status(&run_with(|_| {}), CheckId::ServiceDefinition);
        assert_eq!(
            (s, summary.contains("matches 3 pod(s)")),
            (CheckStatus::Pass, true)
        );
        let local = run_with(|o| o.services[0].spec.internal_traffic_policy = Some("Local".into()));
        let (s, summary) = status(&local, CheckId::ServiceDefinition);
        assert_eq!(s, CheckStatus::Warn);
        assert!(
            summary.contains("internalTrafficPolicy: Local"),
            "{summary}"
        );
        let sticky = run_with(|o| {
            let spec = &mut o.services[0].spec;
            spec.session_affinity = Some("ClientIP".into());
            spec.ip_families = vec!["IPv4".into(), "IPv6".into()];
            spec.cluster_ips = vec!["10.0.1.175".into(), "fd00::175".into()];
        });
        let (s, summary) = status(&sticky, CheckId::ServiceDefinition);
        assert_eq!(s, CheckStatus::Pass);
        assert!(summary.contains("sessionAffinity: ClientIP"), "{summary}");
        assert!(summary.contains("dual-stack (IPv4, IPv6)"), "{summary}");
    }

    #[test]
    fn unreadable_pods_are_not_a_selector_that_matches_nothing() {
        let result = run_with(|o| {
            o.pods.clear();
            o.pods_unavailable = Some("403 Forbidden".into());
        });
        let (s, summary) = status(&result, CheckId::ServiceDefinition);
        assert_eq!(s, CheckStatus::Warn);
        assert!(summary.contains("could not be read"), "{summary}");
        assert_eq!(result.target_port_undeclared, None);
        assert_eq!(status(&result, CheckId::Endpoints).0, CheckStatus::Pass);
    }

    #[test]
    fn not_ready_endpoints_show_the_pods_state() {
        let result = run_with(|o| {
            o.slices[0].endpoints[1].conditions.ready = Some(false);
            let pod = &mut o.pods[1];
            pod.status.container_statuses[0].ready = false;
            pod.status.container_statuses[0].restart_count = 7;
            pod.status.container_statuses[0].state.waiting = Some(crate::k8s::Waiting {
                reason: Some("CrashLoopBackOff".into()),
            });
        });
        let (s, summary) = status(&result, CheckId::Endpoints);
        assert_eq!(s, CheckStatus::Warn);
        assert!(
            summary.contains("hostnames-632524106-ly40y (CrashLoopBackOff, 0/1 ready, 7 restarts)"),
            "{summary}"
        );
        assert_eq!(result.ready_endpoints, Some(2));
        let none_ready = run_with(|o| {
            for e in &mut o.slices[0].endpoints {
                e.conditions.ready = Some(false);
            }
        });
        let (s, summary) = status(&none_ready, CheckId::Endpoints);
        assert_eq!(s, CheckStatus::Fail);
        assert!(
            summary
                .contains("not ready: hostnames-632524106-bbpiw (Running, 1/1 ready, 0 restarts)"),
            "{summary}"
        );
    }

    /// Issue 9: a selector that matches no pod named the same near miss once per pod and
    /// never showed the labels the pods do carry; its hints said `<namespace>`.
    #[test]
    fn a_selector_that_matches_nothing_shows_the_pods_labels_once() {
        let result = run_with(|o| {
            o.services[0].spec.selector =
                Some(BTreeMap::from([("run".into(), "hostnames".into())]));
        });
        let (s, summary) = status(&result, CheckId::ServiceDefinition);
        assert_eq!(s, CheckStatus::Fail);
        assert_eq!(summary.matches("no label run").count(), 1, "{summary}");
        assert!(summary.contains("near misses (3 pods)"), "{summary}");
        assert!(
            summary
                .contains("the pods' labels: app=hostnames,pod-template-hash=632524106 (3 pods)"),
            "{summary}"
        );
        let check = result
            .checks
            .iter()
            .find(|c| c.id == CheckId::ServiceDefinition)
            .unwrap();
        let hint = check.hint.as_deref().unwrap_or_default();
        assert!(
            hint.contains("kubectl get service hostnames -n default -o yaml"),
            "{hint}"
        );
        assert!(!hint.contains('<'), "{hint}");
        let json = serde_json::to_value(&check.evidence).unwrap();
        assert_eq!(
            json["pod_labels"][0]["pods"].as_array().map(Vec::len),
            Some(3)
        );
    }

    #[test]
    fn without_endpoints_in_the_objects_no_one_is_told_to_give_objects() {
        let result = run_with(|o| o.slices.clear());
        assert!(result.backends.is_empty());
        assert!(
            !result.no_backends.contains("--objects"),
            "{}",
            result.no_backends
        );
        let endpoints = result
            .checks
            .iter()
            .find(|c| c.id == CheckId::Endpoints)
            .unwrap();
        assert_eq!(endpoints.status, CheckStatus::Skip);
        let hint = endpoints.hint.as_deref().unwrap_or_default();
        assert!(
            hint.contains("-n default -l kubernetes.io/service-name=hostnames"),
            "{hint}"
        );
        let bare = run(
            &options(),
            None,
            &Source {
                objects: None,
                namespace: "default",
                pod: Some("client"),
            },
        );
        let hint = bare.checks[0].hint.as_deref().unwrap_or_default();
        assert!(
            hint.contains("-n default -o json | kubectl exec -i client -- svcprobe diagnose hostnames -n default --objects -"),
            "{hint}"
        );
    }
}
