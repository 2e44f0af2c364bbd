//! The guide's "Is the Service defined correctly?" and "Does the Service have any
//! Endpoints?", answered from cluster objects (`--objects`) or `--endpoints`.

use std::net::SocketAddr;

use serde_json::json;

use super::Options;
use crate::k8s::{Backend, IntOrString, Objects, Service, ServicePort};
use crate::report::{Check, CheckId, CheckStatus};

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
    pub target_port_undeclared: Option<String>,
    pub ready_endpoints: Option<usize>,
    /// Endpoints to probe directly: from the objects, else from `--endpoints`.
    pub backends: Vec<Backend>,
}

const HOW_TO_SUPPLY: &str = "let svcprobe read the API (see the api check; deploy/rbac.yaml), or pipe cluster state in: \
     kubectl get service,endpointslices,pods -n <ns> -o json | kubectl exec -i <pod> -- svcprobe diagnose <service> --objects -   \
     (or give --endpoints IP:PORT,...)";

/// `objects` came from `source` (`--objects` or the API server).
pub fn run(
    options: &Options,
    objects: Option<&Objects>,
    source: &str,
    namespace: &str,
) -> ObjectResult {
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
    let Some(objects) = objects else {
        return without_objects(given);
    };
    let Some(service) = objects.service(namespace, &options.service.name) else {
        return ObjectResult {
            checks: vec![
                check(
                    CheckId::ServiceDefinition,
                    CheckStatus::Fail,
                    format!(
                        "no Service {}/{} (objects from {source})",
                        namespace, options.service.name
                    ),
                    json!({ "services": objects.services.iter().map(|s| format!("{}/{}", s.metadata.namespace, s.metadata.name)).collect::<Vec<_>>() }),
                    Some("kubectl get services -A | grep <name>: wrong name or namespace?".into()),
                ),
                skipped_endpoints("the Service does not exist"),
            ],
            service_found: Some(false),
            port: None,
            cluster_ip: None,
            http: None,
            target_port_undeclared: None,
            ready_endpoints: None,
            backends: given,
        };
    };
    let port = match options.port {
        Some(p) => service.spec.ports.iter().find(|sp| sp.port == p),
        None => service.spec.ports.first(),
    };
    let (definition, target_port_undeclared) =
        definition_check(objects, service, port, options.port);
    let (endpoints, ready, mut backends) = endpoints_check(objects, service, port);
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
        target_port_undeclared,
        ready_endpoints: ready,
        backends,
    }
}

fn without_objects(given: Vec<Backend>) -> ObjectResult {
    let definition = check(
        CheckId::ServiceDefinition,
        CheckStatus::Skip,
        "no cluster objects to check the Service definition against".into(),
        json!({}),
        Some(HOW_TO_SUPPLY.into()),
    );
    let endpoints = if given.is_empty() {
        skipped_endpoints("no cluster objects and no --endpoints")
    } else {
        check(
            CheckId::Endpoints,
            CheckStatus::Pass,
            format!("{} endpoints given with --endpoints", given.len()),
            json!({ "endpoints": given.iter().map(|b| format!("{}:{}", b.ip, b.port)).collect::<Vec<_>>() }),
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
        target_port_undeclared: None,
        ready_endpoints: ready,
        backends: given,
    }
}

fn skipped_endpoints(why: &str) -> Check {
    check(
        CheckId::Endpoints,
        CheckStatus::Skip,
        why.to_string(),
        json!({}),
        Some(HOW_TO_SUPPLY.into()),
    )
}

/// Port listed, targetPort (numeric or named) present on the selected pods, protocol,
/// and a selector that matches pods (with the near misses when it does not).
fn definition_check(
    objects: &Objects,
    service: &Service,
    port: Option<&ServicePort>,
    wanted: Option<u16>,
) -> (Check, Option<String>) {
    let ns = &service.metadata.namespace;
    let ports: Vec<String> = service
        .spec
        .ports
        .iter()
        .map(ServicePort::describe)
        .collect();
    let mut problems: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut undeclared = None;
    let Some(port) = port else {
        let summary = match wanted {
            Some(p) => format!("the Service has no port {p} (ports: {})", ports.join(", ")),
            None => "the Service has no ports".into(),
        };
        return (
            check(
                CheckId::ServiceDefinition,
                CheckStatus::Fail,
                summary,
                json!({ "ports": ports }),
                Some("kubectl get service -o yaml: check spec.ports".into()),
            ),
            None,
        );
    };
    if service.spec.service_type.as_deref() == Some("ExternalName") {
        warnings.push(format!(
            "type ExternalName: DNS returns a CNAME to {}, there is no ClusterIP",
            service.spec.external_name.as_deref().unwrap_or("?")
        ));
    }
    if service.spec.cluster_ip.as_deref() == Some("None") {
        warnings.push(
            "headless (clusterIP: None): DNS returns the pod IPs, there is no Service IP to probe"
                .into(),
        );
    }
    let spec = &service.spec;
    let mut notes: Vec<String> = Vec::new();
    if spec.internal_traffic_policy.as_deref() == Some("Local") {
        warnings.push("internalTrafficPolicy: Local: pods reach only the endpoints on their own node; from a node without one, connections to the ClusterIP are dropped".into());
    }
    if spec.session_affinity.as_deref() == Some("ClientIP") {
        notes
            .push("sessionAffinity: ClientIP: this pod's connections all go to one backend".into());
    }
    if spec.ip_families.len() > 1 {
        notes.push(format!(
            "dual-stack ({}): ClusterIPs {}",
            spec.ip_families.join(", "),
            spec.cluster_ips.join(", ")
        ));
    }
    if spec.publish_not_ready_addresses {
        notes.push(
            "publishNotReadyAddresses: not-ready pods are published too (DNS, headless)".into(),
        );
    }
    if let Some(kind @ ("NodePort" | "LoadBalancer")) = spec.service_type.as_deref() {
        notes.push(format!(
            "type {kind}: also reachable from outside; this probe tests the ClusterIP"
        ));
    }
    let selected = match &service.spec.selector {
        Some(_) if objects.pods_unavailable.is_some() => {
            warnings.push(format!(
                "the pods could not be read ({}): selector and targetPort not checked against them",
                objects.pods_unavailable.as_deref().unwrap_or_default()
            ));
            Vec::new()
        }
        None => {
            warnings
                .push("no selector: the endpoints are managed by hand (or by a controller)".into());
            Vec::new()
        }
        Some(selector) => {
            let pods = objects.selected_pods(ns, selector);
            if pods.is_empty() {
                let near: Vec<String> = objects
                    .near_misses(ns, selector)
                    .iter()
                    .map(|(p, why)| format!("{}: {why}", p.metadata.name))
                    .collect();
                let labels: Vec<String> =
                    selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
                problems.push(if near.is_empty() {
                    format!("the selector {} matches no pod", labels.join(","))
                } else {
                    format!(
                        "the selector {} matches no pod; near misses: {}",
                        labels.join(","),
                        near.join("; ")
                    )
                });
            }
            pods
        }
    };
    let target = port
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(i64::from(port.port)));
    let declares_any_port = selected
        .iter()
        .any(|p| p.spec.containers.iter().any(|c| !c.ports.is_empty()));
    let resolved: Vec<Option<u16>> = selected
        .iter()
        .map(|p| p.resolve_target_port(&target))
        .collect();
    match &target {
        IntOrString::Str(name) if !selected.is_empty() && resolved.iter().any(Option::is_none) => {
            problems.push(format!("targetPort `{name}` is not a named port of every selected pod: those pods get no endpoint"));
            undeclared = Some(name.clone());
        }
        IntOrString::Int(n) if declares_any_port && resolved.iter().all(Option::is_none) => {
            warnings.push(format!(
                "targetPort {n} is not among the pods' containerPorts"
            ));
            undeclared = Some(n.to_string());
        }
        _ => {}
    }
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    let mismatched_protocol = selected
        .iter()
        .flat_map(|p| p.spec.containers.iter())
        .flat_map(|c| c.ports.iter())
        .any(|cp| {
            Some(cp.container_port) == resolved.iter().flatten().next().copied()
                && cp.protocol.as_deref().unwrap_or("TCP") != protocol
        });
    if mismatched_protocol {
        problems.push(format!(
            "the Service port is {protocol} but the container port is not"
        ));
    }
    let (status, summary) = if !problems.is_empty() {
        (CheckStatus::Fail, problems.join("; "))
    } else if !warnings.is_empty() {
        (CheckStatus::Warn, warnings.join("; "))
    } else {
        let mut summary = format!(
            "port {}, selector matches {} pod(s)",
            port.describe(),
            selected.len()
        );
        for note in &notes {
            summary.push_str("; ");
            summary.push_str(note);
        }
        (CheckStatus::Pass, summary)
    };
    let evidence = json!({
        "type": spec.service_type,
        "cluster_ip": spec.cluster_ip,
        "cluster_ips": spec.cluster_ips,
        "ip_families": spec.ip_families,
        "ip_family_policy": spec.ip_family_policy,
        "session_affinity": spec.session_affinity,
        "internal_traffic_policy": spec.internal_traffic_policy,
        "publish_not_ready_addresses": spec.publish_not_ready_addresses,
        "external_name": spec.external_name,
        "ports": ports,
        "selector": service.spec.selector,
        "selected_pods": selected.iter().map(|p| &p.metadata.name).collect::<Vec<_>>(),
        "problems": problems,
        "warnings": warnings,
        "notes": notes,
    });
    let hint = (status != CheckStatus::Pass).then(|| "compare `kubectl get service -o yaml` (spec.selector, spec.ports[].targetPort) with the pods' labels and containerPorts".to_string());
    (
        check(CheckId::ServiceDefinition, status, summary, evidence, hint),
        undeclared,
    )
}

fn endpoints_check(
    objects: &Objects,
    service: &Service,
    port: Option<&ServicePort>,
) -> (Check, Option<usize>, Vec<Backend>) {
    let Some(port) = port else {
        return (
            skipped_endpoints("no Service port to match endpoints to"),
            None,
            Vec::new(),
        );
    };
    let Some(backends) = objects.backends(service, port) else {
        return (
            skipped_endpoints("the objects hold no EndpointSlices or Endpoints for the Service"),
            None,
            Vec::new(),
        );
    };
    let ns = &service.metadata.namespace;
    let ready = backends.iter().filter(|b| b.ready).count();
    let describe = |b: &Backend| {
        let pod = b.pod.as_deref().and_then(|name| objects.pod(ns, name));
        json!({
            "address": format!("{}:{}", b.ip, b.port),
            "ready": b.ready,
            "pod": b.pod,
            "phase": pod.and_then(|p| p.status.phase.clone()),
            "pod_ready": pod.map(|p| p.ready()),
            "restarts": pod.map(|p| p.restarts()),
            "waiting": pod.and_then(|p| p.waiting_reason()),
            "node": b.node,
        })
    };
    // The guide's `kubectl get pods` columns for each not-ready endpoint: STATUS, READY, RESTARTS.
    let not_ready: Vec<String> = backends
        .iter()
        .filter(|b| !b.ready)
        .map(|b| {
            let name = b.pod.clone().unwrap_or_else(|| b.ip.clone());
            let pod = b.pod.as_deref().and_then(|n| objects.pod(ns, n));
            match pod {
                Some(p) => {
                    let state = p
                        .waiting_reason()
                        .or(p.status.phase.as_deref())
                        .unwrap_or("unknown");
                    let ready = p
                        .status
                        .container_statuses
                        .iter()
                        .filter(|c| c.ready)
                        .count();
                    format!(
                        "{name} ({state}, {ready}/{} ready, {} restarts)",
                        p.status.container_statuses.len(),
                        p.restarts()
                    )
                }
                None if b.terminating => format!("{name} (terminating)"),
                None => name,
            }
        })
        .collect();
    let (status, summary, hint) = if ready == 0 {
        let summary = if not_ready.is_empty() {
            "no ready endpoints (none at all)".to_string()
        } else {
            format!("no ready endpoints; not ready: {}", not_ready.join(", "))
        };
        (CheckStatus::Fail, summary, Some("kubectl get pods -l <selector> -o wide: are they Running and Ready? Check readiness probes and RESTARTS".to_string()))
    } else if !not_ready.is_empty() {
        let published = if service.spec.publish_not_ready_addresses {
            " (publishNotReadyAddresses: DNS still returns them)"
        } else {
            ""
        };
        (
            CheckStatus::Warn,
            format!("{ready} ready, not ready: {}{published}", not_ready.join(", ")),
            Some("kubectl describe pod on the not-ready ones: readiness probe failures, restarts (kubectl logs --previous)".to_string()),
        )
    } else {
        (
            CheckStatus::Pass,
            format!("{ready} ready endpoint(s)"),
            None,
        )
    };
    let evidence = json!({ "endpoints": backends.iter().map(describe).collect::<Vec<_>>() });
    (
        check(CheckId::Endpoints, status, summary, evidence, hint),
        Some(ready),
        backends,
    )
}

fn check(
    id: CheckId,
    status: CheckStatus,
    summary: String,
    evidence: serde_json::Value,
    hint: Option<String>,
) -> Check {
    Check {
        id,
        status,
        summary,
        evidence,
        hint,
        duration_ms: 0.0,
    }
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
            samples: 1,
            timeout: Duration::from_secs(1),
            deadline: Duration::from_secs(1),
            resolv_conf: "/nonexistent".into(),
        }
    }

    fn run_with(change: impl Fn(&mut Objects)) -> ObjectResult {
        let mut objects = crate::k8s::parse(HEALTHY).unwrap();
        change(&mut objects);
        run(&options(), Some(&objects), "the API server", "default")
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
}
