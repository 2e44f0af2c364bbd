//! The few Kubernetes objects a Service diagnosis needs, read from `kubectl get -o json`.
//!
//! Only the fields the guide's checks use are modelled, each with a default, so objects
//! from any cluster version (and with any extra fields) parse. The same types serve
//! `diagnose --objects` and reads from the API server (`kubeapi`), whose typed lists
//! (`ServiceList`, `PodList`, ...) leave out each item's `kind`.
//!
//! # What the API server really sends
//! The server writes objects with Go's `encoding/json`, from the types in k8s.io/api
//! (core/v1/types.go, discovery/v1/types.go) and k8s.io/apimachinery (meta/v1). A field's
//! json tag decides its shapes: with `omitempty`, an empty string, zero, false, nil pointer,
//! or empty slice or map is *left out*; without it, a nil slice, map or pointer is written
//! as *`null`*. Objects are stored in etcd as protobuf, where an empty list and a nil one are
//! the same thing, so a slice the controller set to `[]` comes back nil: the EndpointSlice
//! of a Service that selects no pods is `"endpoints": null, "ports": null`. Each field below
//! notes its Go tag and what the server can send; every field accepts both `null` and
//! absence (`nullable`), so a document is never rejected for either.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

/// For a field with a default: `null` means the same as absent. Go writes a nil slice, map
/// or pointer without `omitempty` as `null`; hand-written documents may do it anywhere.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

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

/// meta/v1 `ObjectMeta` (`metadata,omitempty` on a struct: always written).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Metadata {
    /// `name,omitempty`: left out when empty; never null.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// `namespace,omitempty`: left out when empty; never null.
    #[serde(deserialize_with = "nullable")]
    pub namespace: String,
    /// `labels,omitempty` (a map): left out when there are none; never null.
    #[serde(deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
}

/// core/v1 `Service`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Service {
    /// A struct: always written.
    #[serde(deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `spec,omitempty` on a struct: always written.
    #[serde(deserialize_with = "nullable")]
    pub spec: ServiceSpec,
}

/// core/v1 `ServiceSpec`: every field we read is `omitempty`, so none is ever null; any
/// can be left out.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `type,omitempty`: left out when empty (the server defaults it to `ClusterIP`).
    #[serde(rename = "type")]
    pub service_type: Option<String>,
    /// `clusterIP,omitempty`: left out when empty (ExternalName), `None` for headless.
    #[serde(rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    /// `ports,omitempty`: left out when empty (a headless or ExternalName Service).
    #[serde(deserialize_with = "nullable")]
    pub ports: Vec<ServicePort>,
    /// `selector,omitempty` (a map): left out when empty. `None` for a Service without
    /// selector (endpoints managed by hand).
    pub selector: Option<BTreeMap<String, String>>,
    /// `externalName,omitempty`.
    pub external_name: Option<String>,
    /// `sessionAffinity,omitempty`: `None` or `ClientIP`; with `ClientIP`, one client
    /// always reaches the same backend.
    pub session_affinity: Option<String>,
    /// `clusterIPs,omitempty`: left out when empty.
    #[serde(rename = "clusterIPs", deserialize_with = "nullable")]
    pub cluster_ips: Vec<String>,
    /// `ipFamilies,omitempty`: `IPv4`, `IPv6`, or both (dual-stack), in the order the
    /// ClusterIPs are; left out when empty.
    #[serde(deserialize_with = "nullable")]
    pub ip_families: Vec<String>,
    /// `ipFamilyPolicy,omitempty` (a pointer): left out when nil.
    pub ip_family_policy: Option<String>,
    /// `publishNotReadyAddresses,omitempty` (a bool): left out when false. When true,
    /// not-ready endpoints are published (DNS and, for headless, addresses).
    #[serde(deserialize_with = "nullable")]
    pub publish_not_ready_addresses: bool,
    /// `internalTrafficPolicy,omitempty` (a pointer): left out when nil. `Cluster` or
    /// `Local`: with `Local`, only endpoints on the client's node are used.
    pub internal_traffic_policy: Option<String>,
}

/// core/v1 `ServicePort`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServicePort {
    /// `name,omitempty`: left out for a single unnamed port.
    pub name: Option<String>,
    /// `port` (an int32, no omitempty): always written.
    #[serde(deserialize_with = "nullable")]
    pub port: u16,
    /// `protocol,omitempty` (the server defaults it to `TCP`).
    pub protocol: Option<String>,
    /// `targetPort,omitempty` on an `IntOrString` struct: always written, as a number or a
    /// name (the server defaults it to `port`).
    pub target_port: Option<IntOrString>,
    /// `appProtocol,omitempty` (a pointer): left out when nil.
    pub app_protocol: Option<String>,
}

/// Kubernetes' `IntOrString`: `targetPort: 9376` or `targetPort: http`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    Str(String),
}

/// discovery/v1 `EndpointSlice`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointSlice {
    /// A struct: always written.
    #[serde(deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `addressType` (a string, no omitempty): always written.
    pub address_type: Option<String>,
    /// `endpoints` (a slice, no omitempty): **null** when there are none, as in the
    /// placeholder slice of a Service that selects no ready pods.
    #[serde(deserialize_with = "nullable")]
    pub endpoints: Vec<SliceEndpoint>,
    /// `ports` (a slice, no omitempty): **null** when there are none (the same placeholder).
    #[serde(deserialize_with = "nullable")]
    pub ports: Vec<EndpointPort>,
}

/// discovery/v1 `Endpoint`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SliceEndpoint {
    /// `addresses` (a slice, no omitempty): null when nil (validation wants 1 to 100).
    #[serde(deserialize_with = "nullable")]
    pub addresses: Vec<String>,
    /// `conditions,omitempty` on a struct: always written (`{}` when all are nil).
    #[serde(deserialize_with = "nullable")]
    pub conditions: Conditions,
    /// `targetRef,omitempty` (a pointer): left out when nil.
    pub target_ref: Option<ObjectRef>,
    /// `nodeName,omitempty` (a pointer): left out when nil.
    pub node_name: Option<String>,
}

/// discovery/v1 `EndpointConditions`: three `*bool` with `omitempty`, left out when nil.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Conditions {
    /// Left out means ready (EndpointSlice API: "nil should be interpreted as true").
    pub ready: Option<bool>,
    /// Left out means not terminating.
    pub terminating: Option<bool>,
}

/// core/v1 `ObjectReference`: every field `omitempty`, so left out when empty.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ObjectRef {
    /// `kind,omitempty`.
    pub kind: Option<String>,
    /// `name,omitempty`: left out when empty; never null.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
}

/// The port of an EndpointSlice (discovery/v1 `EndpointPort`: `name`, `protocol` and `port`
/// are pointers with `omitempty`, left out when nil; a nil port means "all ports") or of an
/// Endpoints subset (core/v1 `EndpointPort`: `name,omitempty`, `protocol,omitempty`, and
/// `port` always written).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct EndpointPort {
    pub name: Option<String>,
    pub port: Option<u16>,
    pub protocol: Option<String>,
}

/// The older core/v1 `Endpoints` object, for clusters or dumps without EndpointSlices.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Endpoints {
    /// A struct: always written.
    #[serde(deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `subsets,omitempty`: left out when the Service has no endpoints at all.
    #[serde(deserialize_with = "nullable")]
    pub subsets: Vec<Subset>,
}

/// core/v1 `EndpointSubset`: three slices with `omitempty`, left out when empty.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Subset {
    #[serde(deserialize_with = "nullable")]
    pub addresses: Vec<EndpointAddress>,
    #[serde(deserialize_with = "nullable")]
    pub not_ready_addresses: Vec<EndpointAddress>,
    #[serde(deserialize_with = "nullable")]
    pub ports: Vec<EndpointPort>,
}

/// core/v1 `EndpointAddress`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointAddress {
    /// `ip` (a string, no omitempty): always written.
    #[serde(deserialize_with = "nullable")]
    pub ip: String,
    /// `targetRef,omitempty` (a pointer): left out when nil.
    pub target_ref: Option<ObjectRef>,
}

/// core/v1 `Pod`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Pod {
    /// A struct: always written.
    #[serde(deserialize_with = "nullable")]
    pub metadata: Metadata,
    /// `spec,omitempty` on a struct: always written.
    #[serde(deserialize_with = "nullable")]
    pub spec: PodSpec,
    /// `status,omitempty` on a struct: always written (`{}` before the scheduler saw it).
    #[serde(deserialize_with = "nullable")]
    pub status: PodStatus,
}

/// core/v1 `PodSpec`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    /// `containers` (a slice, no omitempty): null when nil (validation wants one or more).
    #[serde(deserialize_with = "nullable")]
    pub containers: Vec<Container>,
    /// `nodeName,omitempty`: left out until the pod is scheduled.
    pub node_name: Option<String>,
}

/// core/v1 `Container`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Container {
    /// `name` (a string, no omitempty): always written.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// `ports,omitempty`: left out when the container declares none.
    #[serde(deserialize_with = "nullable")]
    pub ports: Vec<ContainerPort>,
}

/// core/v1 `ContainerPort`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerPort {
    /// `name,omitempty`.
    pub name: Option<String>,
    /// `containerPort` (an int32, no omitempty): always written.
    #[serde(deserialize_with = "nullable")]
    pub container_port: u16,
    /// `protocol,omitempty`.
    pub protocol: Option<String>,
}

/// core/v1 `PodStatus`: every field we read is `omitempty`, so none is ever null.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    /// `phase,omitempty`.
    pub phase: Option<String>,
    /// `podIP,omitempty`: left out until the pod has an address.
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    /// `containerStatuses,omitempty`: left out until kubelet reports (a Pending pod).
    #[serde(deserialize_with = "nullable")]
    pub container_statuses: Vec<ContainerStatus>,
}

/// core/v1 `ContainerStatus`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerStatus {
    /// `name` (a string, no omitempty): always written.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// `ready` (a bool, no omitempty): always written.
    #[serde(deserialize_with = "nullable")]
    pub ready: bool,
    /// `restartCount` (an int32, no omitempty): always written.
    #[serde(deserialize_with = "nullable")]
    pub restart_count: u32,
    /// `state,omitempty` on a struct: always written.
    #[serde(deserialize_with = "nullable")]
    pub state: ContainerState,
}

/// core/v1 `ContainerState`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ContainerState {
    /// `waiting,omitempty` (a pointer): left out unless the container waits.
    pub waiting: Option<Waiting>,
}

/// core/v1 `ContainerStateWaiting`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Waiting {
    /// `reason,omitempty`: `CrashLoopBackOff`, `ImagePullBackOff`, `ContainerCreating`, ...
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

/// Why a document of objects cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectsError {
    /// The text is not JSON.
    NotJson(String),
    /// A list whose `items` is neither a list nor `null`.
    NotAList { kind: String },
    /// An object of a kind we read does not have that kind's shape.
    Malformed {
        kind: String,
        name: String,
        reason: String,
    },
}

impl fmt::Display for ObjectsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectsError::NotJson(reason) => write!(f, "not JSON: {reason}"),
            ObjectsError::NotAList { kind } => {
                write!(f, "{kind}: `items` is neither a list nor null")
            }
            ObjectsError::Malformed { kind, name, reason } => write!(f, "{kind} {name}: {reason}"),
        }
    }
}

impl std::error::Error for ObjectsError {}

/// Parses `kubectl get ... -o json` output: a `List` (or any object with `items`), or a
/// single object. Kinds other than the four we use are ignored; a malformed known object
/// is an error naming it.
pub fn parse(json: &str) -> Result<Objects, ObjectsError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ObjectsError::NotJson(e.to_string()))?;
    from_value(value)
}

/// Like [`parse`], from parsed JSON. The items of a typed list (`PodList`, as the API
/// server returns) carry no `kind` of their own: they get the list's, without `List`.
/// `items` (no `omitempty` in any list type) may be `null`: an empty list.
pub fn from_value(value: serde_json::Value) -> Result<Objects, ObjectsError> {
    let list_kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    let items = match value {
        serde_json::Value::Object(mut map) if map.contains_key("items") => {
            match map.remove("items") {
                Some(serde_json::Value::Array(items)) => items,
                Some(serde_json::Value::Null) | None => Vec::new(),
                Some(_) => return Err(ObjectsError::NotAList { kind: list_kind }),
            }
        }
        other => vec![other],
    };
    from_items(items, list_kind.strip_suffix("List").unwrap_or_default())
}

/// Objects from a list's items; an item without `kind` is a `default_kind`.
pub fn from_items(
    items: Vec<serde_json::Value>,
    default_kind: &str,
) -> Result<Objects, ObjectsError> {
    let mut objects = Objects::default();
    for item in items {
        objects.push(item, default_kind)?;
    }
    Ok(objects)
}

impl Objects {
    /// Files one object by its `kind` (else `default_kind`); other kinds are ignored.
    fn push(&mut self, item: serde_json::Value, default_kind: &str) -> Result<(), ObjectsError> {
        let kind = item
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or(default_kind)
            .to_string();
        let name = item
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or("?")
            .to_string();
        let bad = |e: serde_json::Error| ObjectsError::Malformed {
            kind: kind.clone(),
            name: name.clone(),
            reason: e.to_string(),
        };
        match kind.as_str() {
            "Service" => self
                .services
                .push(serde_json::from_value(item).map_err(bad)?),
            "EndpointSlice" => self.slices.push(serde_json::from_value(item).map_err(bad)?),
            "Endpoints" => self
                .endpoints
                .push(serde_json::from_value(item).map_err(bad)?),
            "Pod" => self.pods.push(serde_json::from_value(item).map_err(bad)?),
            _ => {}
        }
        Ok(())
    }

    /// Adds what `other` holds (objects read separately, e.g. one API response each).
    pub fn extend(&mut self, other: Objects) {
        self.services.extend(other.services);
        self.slices.extend(other.slices);
        self.endpoints.extend(other.endpoints);
        self.pods.extend(other.pods);
    }

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
    const NO_ENDPOINTS: &str = include_str!("../tests/fixtures/objects/no-endpoints.json");

    #[test]
    fn a_service_without_endpoints_as_the_api_server_writes_it() {
        let objects = parse(NO_ENDPOINTS).unwrap();
        assert_eq!(
            (
                objects.services.len(),
                objects.slices.len(),
                objects.endpoints.len(),
                objects.pods.len()
            ),
            (1, 1, 1, 3)
        );
        // `"endpoints": null, "ports": null`: the placeholder slice, read as empty.
        let slice = &objects.slices[0];
        assert!(slice.endpoints.is_empty() && slice.ports.is_empty());
        assert!(objects.endpoints[0].subsets.is_empty());
        let service = objects.service("default", "hostnames").unwrap();
        let backends = objects.backends(service, &service.spec.ports[0]);
        assert_eq!(backends, Some(Vec::new()));
        // Pending pods: no containerStatuses, no podIP, no nodeName.
        for pod in &objects.pods {
            assert!(!pod.ready() && pod.restarts() == 0 && pod.waiting_reason().is_none());
            assert_eq!(pod.status.phase.as_deref(), Some("Pending"));
            assert_eq!((&pod.status.pod_ip, &pod.spec.node_name), (&None, &None));
        }
    }

    #[test]
    fn null_is_accepted_wherever_a_field_has_a_default() {
        // Each document sets one modelled field to null; absence is covered by the
        // fixtures (which leave out what Go's omitempty leaves out).
        let documents = [
            r#"{"kind":"List","items":null}"#,
            r#"{"kind":"PodList","items":null}"#,
            r#"{"kind":"Service","metadata":null,"spec":null}"#,
            r#"{"kind":"Service","metadata":{"name":null,"namespace":null,"labels":null}}"#,
            r#"{"kind":"Service","spec":{"type":null,"clusterIP":null,"ports":null,"selector":null,
               "externalName":null,"sessionAffinity":null,"clusterIPs":null,"ipFamilies":null,
               "ipFamilyPolicy":null,"publishNotReadyAddresses":null,"internalTrafficPolicy":null}}"#,
            r#"{"kind":"Service","spec":{"ports":[{"name":null,"port":null,"protocol":null,
               "targetPort":null,"appProtocol":null}]}}"#,
            r#"{"kind":"EndpointSlice","metadata":null,"addressType":null,"endpoints":null,"ports":null}"#,
            r#"{"kind":"EndpointSlice","endpoints":[{"addresses":null,"conditions":null,
               "targetRef":null,"nodeName":null}],"ports":[{"name":null,"port":null,"protocol":null}]}"#,
            r#"{"kind":"EndpointSlice","endpoints":[{"addresses":["10.0.0.9"],
               "conditions":{"ready":null,"terminating":null},"targetRef":{"kind":null,"name":null}}]}"#,
            r#"{"kind":"Endpoints","metadata":null,"subsets":null}"#,
            r#"{"kind":"Endpoints","subsets":[{"addresses":null,"notReadyAddresses":null,"ports":null}]}"#,
            r#"{"kind":"Endpoints","subsets":[{"addresses":[{"ip":null,"targetRef":null}]}]}"#,
            r#"{"kind":"Pod","metadata":null,"spec":null,"status":null}"#,
            r#"{"kind":"Pod","spec":{"containers":null,"nodeName":null}}"#,
            r#"{"kind":"Pod","spec":{"containers":[{"name":null,"ports":null}]}}"#,
            r#"{"kind":"Pod","spec":{"containers":[{"ports":[{"name":null,"containerPort":null,"protocol":null}]}]}}"#,
            r#"{"kind":"Pod","status":{"phase":null,"podIP":null,"containerStatuses":null}}"#,
            r#"{"kind":"Pod","status":{"containerStatuses":[{"name":null,"ready":null,
               "restartCount":null,"state":null}]}}"#,
            r#"{"kind":"Pod","status":{"containerStatuses":[{"state":{"waiting":null}}]}}"#,
            r#"{"kind":"Pod","status":{"containerStatuses":[{"state":{"waiting":{"reason":null}}}]}}"#,
        ];
        for document in documents {
            assert!(parse(document).is_ok(), "{document}: {:?}", parse(document));
        }
    }

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
        assert!(matches!(parse("[1,2"), Err(ObjectsError::NotJson(_))));
        assert!(matches!(
            parse(r#"{"kind":"Service","metadata":{"name":"web"},"spec":{"ports":"nope"}}"#),
            Err(ObjectsError::Malformed { kind, name, .. }) if kind == "Service" && name == "web"
        ));
        assert!(matches!(
            parse(r#"{"kind":"PodList","items":{}}"#),
            Err(ObjectsError::NotAList { .. })
        ));
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
