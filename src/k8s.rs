//! The few Kubernetes objects a Service diagnosis needs, read from `kubectl get -o json`.
//!
//! Only the fields the guide's checks use are modelled, each with a default, so objects
//! from any cluster version (and with any extra fields) parse. The same types serve
//! `diagnose --objects` and reads from the API server (`kubeapi`), whose typed lists
//! (`ServiceList`, `PodList`, ...) leave out each item's `kind`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// All the objects given, sorted by kind.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Objects {
    pub services: Vec<Service>,
    pub slices: Vec<EndpointSlice>,
    pub endpoints: Vec<Endpoints>,
    pub pods: Vec<Pod>,
    /// Why the pods could not be read (an API read denied them): checks that compare the
    /// Service with its pods must then not conclude anything from an empty `pods`.
    pub pods_unavailable: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Metadata {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Service {
    pub metadata: Metadata,
    pub spec: ServiceSpec,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(rename = "type")]
    pub service_type: Option<String>,
    #[serde(rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    pub ports: Vec<ServicePort>,
    /// `None` for a Service without selector (endpoints managed by hand).
    pub selector: Option<BTreeMap<String, String>>,
    pub external_name: Option<String>,
    /// `None` or `ClientIP`: with `ClientIP`, one client always reaches the same backend.
    pub session_affinity: Option<String>,
    #[serde(rename = "clusterIPs")]
    pub cluster_ips: Vec<String>,
    /// `IPv4`, `IPv6`, or both (dual-stack), in the order the ClusterIPs are.
    pub ip_families: Vec<String>,
    pub ip_family_policy: Option<String>,
    /// When true, not-ready endpoints are published (DNS and, for headless, addresses).
    pub publish_not_ready_addresses: bool,
    /// `Cluster` or `Local`: with `Local`, only endpoints on the client's node are used.
    pub internal_traffic_policy: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Option<String>,
    pub target_port: Option<IntOrString>,
    pub app_protocol: Option<String>,
}

/// Kubernetes' `IntOrString`: `targetPort: 9376` or `targetPort: http`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    Str(String),
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointSlice {
    pub metadata: Metadata,
    pub address_type: Option<String>,
    pub endpoints: Vec<SliceEndpoint>,
    pub ports: Option<Vec<EndpointPort>>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SliceEndpoint {
    pub addresses: Vec<String>,
    pub conditions: Conditions,
    pub target_ref: Option<ObjectRef>,
    pub node_name: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Conditions {
    /// Absent means ready (EndpointSlice API: "nil should be interpreted as true").
    pub ready: Option<bool>,
    pub terminating: Option<bool>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ObjectRef {
    pub kind: Option<String>,
    pub name: String,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct EndpointPort {
    pub name: Option<String>,
    pub port: Option<u16>,
    pub protocol: Option<String>,
}

/// The older `v1 Endpoints` object, for clusters or dumps without EndpointSlices.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Endpoints {
    pub metadata: Metadata,
    pub subsets: Vec<Subset>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Subset {
    pub addresses: Vec<EndpointAddress>,
    pub not_ready_addresses: Vec<EndpointAddress>,
    pub ports: Vec<EndpointPort>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointAddress {
    pub ip: String,
    pub target_ref: Option<ObjectRef>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Pod {
    pub metadata: Metadata,
    pub spec: PodSpec,
    pub status: PodStatus,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Vec<Container>,
    pub node_name: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Container {
    pub name: String,
    pub ports: Vec<ContainerPort>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerPort {
    pub name: Option<String>,
    pub container_port: u16,
    pub protocol: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: Option<String>,
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    pub container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    pub ready: bool,
    pub restart_count: u32,
    pub state: ContainerState,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ContainerState {
    pub waiting: Option<Waiting>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Waiting {
    /// `CrashLoopBackOff`, `ImagePullBackOff`, `ContainerCreating`, ...
    pub reason: Option<String>,
}

/// An endpoint address of one Service port, as kube-proxy would program it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub ip: String,
    pub port: u16,
    pub ready: bool,
    /// The pod behind it, when the object says.
    pub pod: Option<String>,
    /// The node it runs on, when the EndpointSlice says.
    pub node: Option<String>,
    pub terminating: bool,
}

/// Parses `kubectl get ... -o json` output: a `List` (or any object with `items`), or a
/// single object. Kinds other than the four we use are ignored; a malformed known object
/// is an error naming it.
pub fn parse(json: &str) -> Result<Objects, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    from_value(value)
}

/// Like [`parse`], from parsed JSON. The items of a typed list (`PodList`, as the API
/// server returns) carry no `kind` of their own: they get the list's, without `List`.
pub fn from_value(value: serde_json::Value) -> Result<Objects, String> {
    let list_kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .and_then(|k| k.strip_suffix("List"))
        .unwrap_or_default()
        .to_string();
    let items = match value {
        serde_json::Value::Object(mut map) if map.get("items").is_some_and(|i| i.is_array()) => {
            match map.remove("items") {
                Some(serde_json::Value::Array(items)) => items,
                _ => Vec::new(),
            }
        }
        other => vec![other],
    };
    let mut objects = Objects::default();
    for item in items {
        let kind = item
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or(&list_kind)
            .to_string();
        let name = item
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or("?")
            .to_string();
        let bad = |e: serde_json::Error| format!("{kind} {name}: {e}");
        match kind.as_str() {
            "Service" => objects
                .services
                .push(serde_json::from_value(item).map_err(bad)?),
            "EndpointSlice" => objects
                .slices
                .push(serde_json::from_value(item).map_err(bad)?),
            "Endpoints" => objects
                .endpoints
                .push(serde_json::from_value(item).map_err(bad)?),
            "Pod" => objects
                .pods
                .push(serde_json::from_value(item).map_err(bad)?),
            _ => {}
        }
    }
    Ok(objects)
}

impl Objects {
    pub fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.metadata.name == name && in_namespace(&s.metadata, namespace))
    }

    /// Pods in `namespace` whose labels include every pair of `selector`.
    pub fn selected_pods(&self, namespace: &str, selector: &BTreeMap<String, String>) -> Vec<&Pod> {
        self.pods
            .iter()
            .filter(|p| {
                in_namespace(&p.metadata, namespace) && matches(selector, &p.metadata.labels)
            })
            .collect()
    }

    /// Pods that miss the selector by exactly one key or value: the `app=` vs `run=`
    /// mistake the guide warns about.
    pub fn near_misses(
        &self,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> Vec<(&Pod, String)> {
        self.pods
            .iter()
            .filter(|p| in_namespace(&p.metadata, namespace))
            .filter_map(|p| {
                let missing: Vec<String> = selector
                    .iter()
                    .filter(|(k, v)| p.metadata.labels.get(*k) != Some(*v))
                    .map(|(k, v)| match p.metadata.labels.get(k) {
                        Some(actual) => format!("{k}={actual} (selector wants {k}={v})"),
                        None => format!("no label {k} (selector wants {k}={v})"),
                    })
                    .collect();
                (missing.len() == 1).then(|| (p, missing.concat()))
            })
            .collect()
    }

    /// The backends of `service`'s port `port`: from its EndpointSlices, else from its
    /// Endpoints object. `None` when the objects hold neither (nothing known).
    pub fn backends(&self, service: &Service, port: &ServicePort) -> Option<Vec<Backend>> {
        let namespace = &service.metadata.namespace;
        let name = &service.metadata.name;
        let slices: Vec<&EndpointSlice> = self
            .slices
            .iter()
            .filter(|s| {
                in_namespace(&s.metadata, namespace)
                    && s.metadata.labels.get("kubernetes.io/service-name") == Some(name)
            })
            .collect();
        if !slices.is_empty() {
            return Some(
                slices
                    .iter()
                    .flat_map(|s| slice_backends(s, port))
                    .collect(),
            );
        }
        let endpoints = self
            .endpoints
            .iter()
            .find(|e| e.metadata.name == *name && in_namespace(&e.metadata, namespace))?;
        Some(
            endpoints
                .subsets
                .iter()
                .flat_map(|s| subset_backends(s, port))
                .collect(),
        )
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|p| p.metadata.name == name && in_namespace(&p.metadata, namespace))
    }
}

impl Pod {
    /// Ready by its containers' readiness (what the Endpoints controller looks at, roughly).
    pub fn ready(&self) -> bool {
        !self.status.container_statuses.is_empty()
            && self.status.container_statuses.iter().all(|c| c.ready)
    }

    /// Why a container waits (`CrashLoopBackOff`, ...), the first one found.
    pub fn waiting_reason(&self) -> Option<&str> {
        self.status
            .container_statuses
            .iter()
            .find_map(|c| c.state.waiting.as_ref()?.reason.as_deref())
    }

    pub fn restarts(&self) -> u32 {
        self.status
            .container_statuses
            .iter()
            .map(|c| c.restart_count)
            .sum()
    }

    /// The container port a Service's targetPort refers to, if any container declares it.
    pub fn resolve_target_port(&self, target: &IntOrString) -> Option<u16> {
        let ports = self.spec.containers.iter().flat_map(|c| c.ports.iter());
        match target {
            IntOrString::Int(n) => u16::try_from(*n)
                .ok()
                .filter(|n| ports.clone().any(|p| p.container_port == *n)),
            IntOrString::Str(name) => ports
                .clone()
                .find(|p| p.name.as_deref() == Some(name))
                .map(|p| p.container_port),
        }
    }
}

impl ServicePort {
    /// `http (80/TCP -> 9376)`.
    pub fn describe(&self) -> String {
        let target = match &self.target_port {
            Some(IntOrString::Int(n)) => n.to_string(),
            Some(IntOrString::Str(s)) => s.clone(),
            None => self.port.to_string(),
        };
        let name = self
            .name
            .as_deref()
            .map(|n| format!("{n} "))
            .unwrap_or_default();
        format!(
            "{name}{}/{} -> {target}",
            self.port,
            self.protocol.as_deref().unwrap_or("TCP")
        )
    }
}

fn in_namespace(metadata: &Metadata, namespace: &str) -> bool {
    metadata.namespace.is_empty() || metadata.namespace == namespace
}

fn matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// EndpointSlice ports are matched to the Service port by name (both empty for a single
/// unnamed port), as kube-proxy does.
fn port_matches(endpoint_port: &EndpointPort, service_port: &ServicePort) -> bool {
    endpoint_port.name.as_deref().unwrap_or_default()
        == service_port.name.as_deref().unwrap_or_default()
}

fn slice_backends(slice: &EndpointSlice, port: &ServicePort) -> Vec<Backend> {
    let Some(number) = slice
        .ports
        .iter()
        .flatten()
        .find(|p| port_matches(p, port))
        .and_then(|p| p.port)
    else {
        return Vec::new();
    };
    slice
        .endpoints
        .iter()
        .flat_map(|e| {
            e.addresses.iter().map(move |ip| Backend {
                ip: ip.clone(),
                port: number,
                ready: e.conditions.ready.unwrap_or(true),
                pod: e.target_ref.as_ref().map(|r| r.name.clone()),
                node: e.node_name.clone(),
                terminating: e.conditions.terminating.unwrap_or(false),
            })
        })
        .collect()
}

fn subset_backends(subset: &Subset, port: &ServicePort) -> Vec<Backend> {
    let Some(number) = subset
        .ports
        .iter()
        .find(|p| port_matches(p, port))
        .and_then(|p| p.port)
    else {
        return Vec::new();
    };
    let to_backend = |ready: bool| {
        move |a: &EndpointAddress| Backend {
            ip: a.ip.clone(),
            port: number,
            ready,
            pod: a.target_ref.as_ref().map(|r| r.name.clone()),
            node: None,
            terminating: false,
        }
    };
    subset
        .addresses
        .iter()
        .map(to_backend(true))
        .chain(subset.not_ready_addresses.iter().map(to_backend(false)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTHY: &str = include_str!("../tests/fixtures/objects/hostnames.json");

    #[test]
    fn parses_a_kubectl_list() {
        let objects = parse(HEALTHY).unwrap();
        assert_eq!(
            (
                objects.services.len(),
                objects.slices.len(),
                objects.pods.len()
            ),
            (1, 1, 3)
        );
        let service = objects.service("default", "hostnames").unwrap();
        assert_eq!(service.spec.cluster_ip.as_deref(), Some("10.0.1.175"));
        let port = &service.spec.ports[0];
        assert_eq!(port.describe(), "http 80/TCP -> 9376");
        let backends = objects.backends(service, port).unwrap();
        assert_eq!(backends.len(), 3);
        assert!(backends.iter().all(|b| b.ready && b.port == 9376));
        let selector = service.spec.selector.clone().unwrap();
        assert_eq!(objects.selected_pods("default", &selector).len(), 3);
        let pod = objects.pod("default", "hostnames-632524106-bbpiw").unwrap();
        assert_eq!(pod.resolve_target_port(&IntOrString::Int(9376)), Some(9376));
        assert_eq!(
            pod.resolve_target_port(&IntOrString::Str("http".into())),
            None
        );
        assert!(pod.ready());
    }

    #[test]
    fn near_misses_name_the_one_label_that_differs() {
        let objects = parse(HEALTHY).unwrap();
        let selector = BTreeMap::from([("run".to_string(), "hostnames".to_string())]);
        assert!(objects.selected_pods("default", &selector).is_empty());
        let misses = objects.near_misses("default", &selector);
        assert_eq!(misses.len(), 3);
        assert!(misses[0].1.contains("no label run"), "{}", misses[0].1);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(parse("").is_err());
        assert!(parse("[1,2").is_err());
        assert!(parse(r#"{"kind":"Service","spec":{"ports":"nope"}}"#).is_err());
        assert_eq!(
            parse(r#"{"kind":"ConfigMap"}"#).unwrap(),
            Objects::default()
        );
        assert_eq!(parse(r#"{"items":[]}"#).unwrap(), Objects::default());
    }

    #[test]
    fn typed_list_items_take_the_list_kind() {
        let json = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},
          "items":[{"metadata":{"name":"a","labels":{"app":"x"}},"spec":{"nodeName":"node-1"},
                    "status":{"phase":"Running","containerStatuses":[{"name":"c","ready":false,
                    "restartCount":4,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}]}"#;
        let objects = parse(json).unwrap();
        assert_eq!(objects.pods.len(), 1);
        let pod = &objects.pods[0];
        assert_eq!(pod.waiting_reason(), Some("CrashLoopBackOff"));
        assert_eq!((pod.restarts(), pod.ready()), (4, false));
        assert_eq!(pod.spec.node_name.as_deref(), Some("node-1"));
        // A kind on the item wins; a plain `List` gives none.
        let mixed = r#"{"kind":"List","items":[{"metadata":{"name":"b"}},{"kind":"Service","metadata":{"name":"s"}}]}"#;
        let objects = parse(mixed).unwrap();
        assert_eq!((objects.pods.len(), objects.services.len()), (0, 1));
    }

    #[test]
    fn service_spec_fields_of_the_guide() {
        let objects = parse(HEALTHY).unwrap();
        let spec = &objects.services[0].spec;
        assert_eq!(spec.session_affinity.as_deref(), Some("None"));
        assert_eq!(spec.ip_families, ["IPv4"]);
        assert_eq!(spec.internal_traffic_policy.as_deref(), Some("Cluster"));
        assert!(!spec.publish_not_ready_addresses);
    }

    #[test]
    fn v1_endpoints_are_the_fallback() {
        let json = r#"{"kind":"List","items":[
          {"kind":"Service","metadata":{"name":"web","namespace":"prod"},
           "spec":{"clusterIP":"10.0.0.50","ports":[{"port":80,"targetPort":8080}],"selector":{"app":"web"}}},
          {"kind":"Endpoints","metadata":{"name":"web","namespace":"prod"},
           "subsets":[{"addresses":[{"ip":"10.244.1.2"}],"notReadyAddresses":[{"ip":"10.244.1.3"}],
                       "ports":[{"port":8080,"protocol":"TCP"}]}]}]}"#;
        let objects = parse(json).unwrap();
        let service = objects.service("prod", "web").unwrap();
        let backends = objects.backends(service, &service.spec.ports[0]).unwrap();
        assert_eq!(
            backends
                .iter()
                .map(|b| (b.ip.as_str(), b.ready))
                .collect::<Vec<_>>(),
            vec![("10.244.1.2", true), ("10.244.1.3", false)]
        );
        assert!(objects
            .backends(&Service::default(), &ServicePort::default())
            .is_none());
    }
}
