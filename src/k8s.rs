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
//! absence, so a document is never rejected for either.
//!
//! The objects are read from parsed JSON by hand (the `from_json` functions at the end)
//! rather than with serde's derive: the derived code, one copy per type for the `Value`
//! deserializer, was about 60 KB of a binary with a size budget (BENCHMARKS.md). A field of
//! another shape than its type is an error that names it (`spec.ports[0].port`).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

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
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Metadata {
    /// `name,omitempty`: left out when empty; never null.
    pub name: String,
    /// `namespace,omitempty`: left out when empty; never null.
    pub namespace: String,
    /// `labels,omitempty` (a map): left out when there are none; never null.
    pub labels: BTreeMap<String, String>,
}

/// core/v1 `Service`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Service {
    /// A struct: always written.
    pub metadata: Metadata,
    /// `spec,omitempty` on a struct: always written.
    pub spec: ServiceSpec,
}

/// core/v1 `ServiceSpec`: every field we read is `omitempty`, so none is ever null; any
/// can be left out.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ServiceSpec {
    /// `type,omitempty`: left out when empty (the server defaults it to `ClusterIP`).
    pub service_type: Option<String>,
    /// `clusterIP,omitempty`: left out when empty (ExternalName), `None` for headless.
    pub cluster_ip: Option<String>,
    /// `ports,omitempty`: left out when empty (a headless or ExternalName Service).
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
    pub cluster_ips: Vec<String>,
    /// `ipFamilies,omitempty`: `IPv4`, `IPv6`, or both (dual-stack), in the order the
    /// ClusterIPs are; left out when empty.
    pub ip_families: Vec<String>,
    /// `ipFamilyPolicy,omitempty` (a pointer): left out when nil.
    pub ip_family_policy: Option<String>,
    /// `publishNotReadyAddresses,omitempty` (a bool): left out when false. When true,
    /// not-ready endpoints are published (DNS and, for headless, addresses).
    pub publish_not_ready_addresses: bool,
    /// `internalTrafficPolicy,omitempty` (a pointer): left out when nil. `Cluster` or
    /// `Local`: with `Local`, only endpoints on the client's node are used.
    pub internal_traffic_policy: Option<String>,
}

/// core/v1 `ServicePort`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ServicePort {
    /// `name,omitempty`: left out for a single unnamed port.
    pub name: Option<String>,
    /// `port` (an int32, no omitempty): always written.
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrString {
    Int(i64),
    Str(String),
}

/// discovery/v1 `EndpointSlice`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EndpointSlice {
    /// A struct: always written.
    pub metadata: Metadata,
    /// `addressType` (a string, no omitempty): always written.
    pub address_type: Option<String>,
    /// `endpoints` (a slice, no omitempty): **null** when there are none, as in the
    /// placeholder slice of a Service that selects no ready pods.
    pub endpoints: Vec<SliceEndpoint>,
    /// `ports` (a slice, no omitempty): **null** when there are none (the same placeholder).
    pub ports: Vec<EndpointPort>,
}

/// discovery/v1 `Endpoint`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SliceEndpoint {
    /// `addresses` (a slice, no omitempty): null when nil (validation wants 1 to 100).
    pub addresses: Vec<String>,
    /// `conditions,omitempty` on a struct: always written (`{}` when all are nil).
    pub conditions: Conditions,
    /// `targetRef,omitempty` (a pointer): left out when nil.
    pub target_ref: Option<ObjectRef>,
    /// `nodeName,omitempty` (a pointer): left out when nil.
    pub node_name: Option<String>,
}

/// discovery/v1 `EndpointConditions`: three `*bool` with `omitempty`, left out when nil.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Conditions {
    /// Left out means ready (EndpointSlice API: "nil should be interpreted as true").
    pub ready: Option<bool>,
    /// Left out means not terminating.
    pub terminating: Option<bool>,
}

/// core/v1 `ObjectReference`: every field `omitempty`, so left out when empty.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ObjectRef {
    /// `kind,omitempty`.
    pub kind: Option<String>,
    /// `name,omitempty`: left out when empty; never null.
    pub name: String,
}

/// The port of an EndpointSlice (discovery/v1 `EndpointPort`: `name`, `protocol` and `port`
/// are pointers with `omitempty`, left out when nil; a nil port means "all ports") or of an
/// Endpoints subset (core/v1 `EndpointPort`: `name,omitempty`, `protocol,omitempty`, and
/// `port` always written).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EndpointPort {
    pub name: Option<String>,
    pub port: Option<u16>,
    pub protocol: Option<String>,
}

/// The older core/v1 `Endpoints` object, for clusters or dumps without EndpointSlices.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Endpoints {
    /// A struct: always written.
    pub metadata: Metadata,
    /// `subsets,omitempty`: left out when the Service has no endpoints at all.
    pub subsets: Vec<Subset>,
}

/// core/v1 `EndpointSubset`: three slices with `omitempty`, left out when empty.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Subset {
    pub addresses: Vec<EndpointAddress>,
    pub not_ready_addresses: Vec<EndpointAddress>,
    pub ports: Vec<EndpointPort>,
}

/// core/v1 `EndpointAddress`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EndpointAddress {
    /// `ip` (a string, no omitempty): always written.
    pub ip: String,
    /// `targetRef,omitempty` (a pointer): left out when nil.
    pub target_ref: Option<ObjectRef>,
}

/// core/v1 `Pod`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Pod {
    /// A struct: always written.
    pub metadata: Metadata,
    /// `spec,omitempty` on a struct: always written.
    pub spec: PodSpec,
    /// `status,omitempty` on a struct: always written (`{}` before the scheduler saw it).
    pub status: PodStatus,
}

/// core/v1 `PodSpec`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PodSpec {
    /// `containers` (a slice, no omitempty): null when nil (validation wants one or more).
    pub containers: Vec<Container>,
    /// `nodeName,omitempty`: left out until the pod is scheduled.
    pub node_name: Option<String>,
}

/// core/v1 `Container`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Container {
    /// `name` (a string, no omitempty): always written.
    pub name: String,
    /// `ports,omitempty`: left out when the container declares none.
    pub ports: Vec<ContainerPort>,
}

/// core/v1 `ContainerPort`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ContainerPort {
    /// `name,omitempty`.
    pub name: Option<String>,
    /// `containerPort` (an int32, no omitempty): always written.
    pub container_port: u16,
    /// `protocol,omitempty`.
    pub protocol: Option<String>,
}

/// core/v1 `PodStatus`: every field we read is `omitempty`, so none is ever null.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PodStatus {
    /// `phase,omitempty`.
    pub phase: Option<String>,
    /// `podIP,omitempty`: left out until the pod has an address.
    pub pod_ip: Option<String>,
    /// `containerStatuses,omitempty`: left out until kubelet reports (a Pending pod).
    pub container_statuses: Vec<ContainerStatus>,
}

/// core/v1 `ContainerStatus`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ContainerStatus {
    /// `name` (a string, no omitempty): always written.
    pub name: String,
    /// `ready` (a bool, no omitempty): always written.
    pub ready: bool,
    /// `restartCount` (an int32, no omitempty): always written.
    pub restart_count: u32,
    /// `state,omitempty` on a struct: always written.
    pub state: ContainerState,
}

/// core/v1 `ContainerState`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ContainerState {
    /// `waiting,omitempty` (a pointer): left out unless the container waits.
    pub waiting: Option<Waiting>,
}

/// core/v1 `ContainerStateWaiting`.
#[derive(Debug, Default, Clone, PartialEq)]
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
        let bad = |e: Bad| ObjectsError::Malformed {
            kind: kind.clone(),
            name: name.clone(),
            reason: e.to_string(),
        };
        match kind.as_str() {
            "Service" => self.services.push(Service::from_json(&item).map_err(bad)?),
            "EndpointSlice" => self
                .slices
                .push(EndpointSlice::from_json(&item).map_err(bad)?),
            "Endpoints" => self
                .endpoints
                .push(Endpoints::from_json(&item).map_err(bad)?),
            "Pod" => self.pods.push(Pod::from_json(&item).map_err(bad)?),
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

/// A field whose value does not have the field's type: where it is, what it should be
/// and what it was.
#[derive(Debug)]
struct Bad {
    /// `spec.ports[0].port`; empty for the object itself.
    path: String,
    expected: &'static str,
    found: &'static str,
}

impl Bad {
    fn new(expected: &'static str, found: &Value) -> Bad {
        let found = match found {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "an object",
        };
        Bad {
            path: String::new(),
            expected,
            found,
        }
    }

    /// The same error seen from the object that holds it under `key` (or `[index]`).
    fn under(mut self, key: &str) -> Bad {
        self.path = match self.path.as_str() {
            "" => key.to_string(),
            path if path.starts_with('[') => format!("{key}{path}"),
            path => format!("{key}.{path}"),
        };
        self
    }
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (expected, found) = (self.expected, self.found);
        match self.path.as_str() {
            "" => write!(f, "expected {expected}, found {found}"),
            path => write!(f, "{path}: expected {expected}, found {found}"),
        }
    }
}

type Parsed<T> = Result<T, Bad>;

/// The fields of one JSON object (a field that holds an object reads `null` as absent
/// before it gets here; an item of a list may not be `null`).
struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    fn of(value: &'a Value) -> Parsed<Fields<'a>> {
        value
            .as_object()
            .map(Fields)
            .ok_or_else(|| Bad::new("an object", value))
    }

    /// A field read with `read`; `None` when it is absent or `null`.
    fn opt<T>(&self, key: &str, read: impl FnOnce(&'a Value) -> Parsed<T>) -> Parsed<Option<T>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => read(value).map(Some).map_err(|e| e.under(key)),
        }
    }

    /// A field with a default: absent and `null` both read as the default.
    fn get<T: Default>(&self, key: &str, read: impl FnOnce(&'a Value) -> Parsed<T>) -> Parsed<T> {
        Ok(self.opt(key, read)?.unwrap_or_default())
    }
}

fn string(value: &Value) -> Parsed<String> {
    value
        .as_str()
        .map(String::from)
        .ok_or_else(|| Bad::new("a string", value))
}

fn boolean(value: &Value) -> Parsed<bool> {
    value
        .as_bool()
        .ok_or_else(|| Bad::new("true or false", value))
}

fn port(value: &Value) -> Parsed<u16> {
    value
        .as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| Bad::new("a port number (0 to 65535)", value))
}

fn count(value: &Value) -> Parsed<u32> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| Bad::new("a count (0 to 4294967295)", value))
}

fn list<T>(value: &Value, read: fn(&Value) -> Parsed<T>) -> Parsed<Vec<T>> {
    let items = value.as_array().ok_or_else(|| Bad::new("a list", value))?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| read(item).map_err(|e| e.under(&format!("[{index}]"))))
        .collect()
}

fn strings(value: &Value) -> Parsed<Vec<String>> {
    list(value, string)
}

/// Labels and selectors: an object of strings.
fn string_map(value: &Value) -> Parsed<BTreeMap<String, String>> {
    let map = value
        .as_object()
        .ok_or_else(|| Bad::new("an object of strings", value))?;
    map.iter()
        .map(|(key, value)| Ok((key.clone(), string(value).map_err(|e| e.under(key))?)))
        .collect()
}

impl IntOrString {
    fn from_json(value: &Value) -> Parsed<IntOrString> {
        match value {
            Value::String(name) => Ok(IntOrString::Str(name.clone())),
            Value::Number(n) => n
                .as_i64()
                .map(IntOrString::Int)
                .ok_or_else(|| Bad::new("an integer or a name", value)),
            other => Err(Bad::new("an integer or a name", other)),
        }
    }
}

impl Metadata {
    fn from_json(value: &Value) -> Parsed<Metadata> {
        let f = Fields::of(value)?;
        Ok(Metadata {
            name: f.get("name", string)?,
            namespace: f.get("namespace", string)?,
            labels: f.get("labels", string_map)?,
        })
    }
}

impl Service {
    fn from_json(value: &Value) -> Parsed<Service> {
        let f = Fields::of(value)?;
        Ok(Service {
            metadata: f.get("metadata", Metadata::from_json)?,
            spec: f.get("spec", ServiceSpec::from_json)?,
        })
    }
}

impl ServiceSpec {
    fn from_json(value: &Value) -> Parsed<ServiceSpec> {
        let f = Fields::of(value)?;
        Ok(ServiceSpec {
            service_type: f.opt("type", string)?,
            cluster_ip: f.opt("clusterIP", string)?,
            ports: f.get("ports", |v| list(v, ServicePort::from_json))?,
            selector: f.opt("selector", string_map)?,
            external_name: f.opt("externalName", string)?,
            session_affinity: f.opt("sessionAffinity", string)?,
            cluster_ips: f.get("clusterIPs", strings)?,
            ip_families: f.get("ipFamilies", strings)?,
            ip_family_policy: f.opt("ipFamilyPolicy", string)?,
            publish_not_ready_addresses: f.get("publishNotReadyAddresses", boolean)?,
            internal_traffic_policy: f.opt("internalTrafficPolicy", string)?,
        })
    }
}

impl ServicePort {
    fn from_json(value: &Value) -> Parsed<ServicePort> {
        let f = Fields::of(value)?;
        Ok(ServicePort {
            name: f.opt("name", string)?,
            port: f.get("port", port)?,
            protocol: f.opt("protocol", string)?,
            target_port: f.opt("targetPort", IntOrString::from_json)?,
            app_protocol: f.opt("appProtocol", string)?,
        })
    }
}

impl EndpointSlice {
    fn from_json(value: &Value) -> Parsed<EndpointSlice> {
        let f = Fields::of(value)?;
        Ok(EndpointSlice {
            metadata: f.get("metadata", Metadata::from_json)?,
            address_type: f.opt("addressType", string)?,
            endpoints: f.get("endpoints", |v| list(v, SliceEndpoint::from_json))?,
            ports: f.get("ports", |v| list(v, EndpointPort::from_json))?,
        })
    }
}

impl SliceEndpoint {
    fn from_json(value: &Value) -> Parsed<SliceEndpoint> {
        let f = Fields::of(value)?;
        Ok(SliceEndpoint {
            addresses: f.get("addresses", strings)?,
            conditions: f.get("conditions", Conditions::from_json)?,
            target_ref: f.opt("targetRef", ObjectRef::from_json)?,
            node_name: f.opt("nodeName", string)?,
        })
    }
}

impl Conditions {
    fn from_json(value: &Value) -> Parsed<Conditions> {
        let f = Fields::of(value)?;
        Ok(Conditions {
            ready: f.opt("ready", boolean)?,
            terminating: f.opt("terminating", boolean)?,
        })
    }
}

impl ObjectRef {
    fn from_json(value: &Value) -> Parsed<ObjectRef> {
        let f = Fields::of(value)?;
        Ok(ObjectRef {
            kind: f.opt("kind", string)?,
            name: f.get("name", string)?,
        })
    }
}

impl EndpointPort {
    fn from_json(value: &Value) -> Parsed<EndpointPort> {
        let f = Fields::of(value)?;
        Ok(EndpointPort {
            name: f.opt("name", string)?,
            port: f.opt("port", port)?,
            protocol: f.opt("protocol", string)?,
        })
    }
}

impl Endpoints {
    fn from_json(value: &Value) -> Parsed<Endpoints> {
        let f = Fields::of(value)?;
        Ok(Endpoints {
            metadata: f.get("metadata", Metadata::from_json)?,
            subsets: f.get("subsets", |v| list(v, Subset::from_json))?,
        })
    }
}

impl Subset {
    fn from_json(value: &Value) -> Parsed<Subset> {
        let f = Fields::of(value)?;
        Ok(Subset {
            addresses: f.get("addresses", |v| list(v, EndpointAddress::from_json))?,
            not_ready_addresses: f
                .get("notReadyAddresses", |v| list(v, EndpointAddress::from_json))?,
            ports: f.get("ports", |v| list(v, EndpointPort::from_json))?,
        })
    }
}

impl EndpointAddress {
    fn from_json(value: &Value) -> Parsed<EndpointAddress> {
        let f = Fields::of(value)?;
        Ok(EndpointAddress {
            ip: f.get("ip", string)?,
            target_ref: f.opt("targetRef", ObjectRef::from_json)?,
        })
    }
}

impl Pod {
    fn from_json(value: &Value) -> Parsed<Pod> {
        let f = Fields::of(value)?;
        Ok(Pod {
            metadata: f.get("metadata", Metadata::from_json)?,
            spec: f.get("spec", PodSpec::from_json)?,
            status: f.get("status", PodStatus::from_json)?,
        })
    }
}

impl PodSpec {
    fn from_json(value: &Value) -> Parsed<PodSpec> {
        let f = Fields::of(value)?;
        Ok(PodSpec {
            containers: f.get("containers", |v| list(v, Container::from_json))?,
            node_name: f.opt("nodeName", string)?,
        })
    }
}

impl Container {
    fn from_json(value: &Value) -> Parsed<Container> {
        let f = Fields::of(value)?;
        Ok(Container {
            name: f.get("name", string)?,
            ports: f.get("ports", |v| list(v, ContainerPort::from_json))?,
        })
    }
}

impl ContainerPort {
    fn from_json(value: &Value) -> Parsed<ContainerPort> {
        let f = Fields::of(value)?;
        Ok(ContainerPort {
            name: f.opt("name", string)?,
            container_port: f.get("containerPort", port)?,
            protocol: f.opt("protocol", string)?,
        })
    }
}

impl PodStatus {
    fn from_json(value: &Value) -> Parsed<PodStatus> {
        let f = Fields::of(value)?;
        Ok(PodStatus {
            phase: f.opt("phase", string)?,
            pod_ip: f.opt("podIP", string)?,
            container_statuses: f
                .get("containerStatuses", |v| list(v, ContainerStatus::from_json))?,
        })
    }
}

impl ContainerStatus {
    fn from_json(value: &Value) -> Parsed<ContainerStatus> {
        let f = Fields::of(value)?;
        Ok(ContainerStatus {
            name: f.get("name", string)?,
            ready: f.get("ready", boolean)?,
            restart_count: f.get("restartCount", count)?,
            state: f.get("state", ContainerState::from_json)?,
        })
    }
}

impl ContainerState {
    fn from_json(value: &Value) -> Parsed<ContainerState> {
        let f = Fields::of(value)?;
        Ok(ContainerState {
            waiting: f.opt("waiting", Waiting::from_json)?,
        })
    }
}

impl Waiting {
    fn from_json(value: &Value) -> Parsed<Waiting> {
        let f = Fields::of(value)?;
        Ok(Waiting {
            reason: f.opt("reason", string)?,
        })
    }
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
    fn a_field_of_another_shape_is_an_error_that_names_it() {
        let cases = [
            (
                r#"{"kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":"80"}]}}"#,
                "Service a: spec.ports[0].port: expected a port number (0 to 65535), found a string",
            ),
            (
                r#"{"kind":"Service","spec":{"ports":[{"port":70000}]}}"#,
                "Service ?: spec.ports[0].port: expected a port number (0 to 65535), found a number",
            ),
            (
                r#"{"kind":"Service","spec":{"ports":[{"port":80,"targetPort":80.5}]}}"#,
                "Service ?: spec.ports[0].targetPort: expected an integer or a name, found a number",
            ),
            (
                r#"{"kind":"PodList","items":[{"metadata":{"labels":{"app":1}}}]}"#,
                "Pod ?: metadata.labels.app: expected a string, found a number",
            ),
            (
                r#"{"kind":"PodList","items":[null]}"#,
                "Pod ?: expected an object, found null",
            ),
            // Go's encoding/json has no struct-as-array form (serde's derive had).
            (
                r#"{"kind":"EndpointSlice","endpoints":[{"targetRef":[]}]}"#,
                "EndpointSlice ?: endpoints[0].targetRef: expected an object, found a list",
            ),
            (
                r#"{"kind":"Pod","status":{"containerStatuses":[{"restartCount":-1}]}}"#,
                "Pod ?: status.containerStatuses[0].restartCount: expected a count (0 to \
                 4294967295), found a number",
            ),
        ];
        for (document, error) in cases {
            assert_eq!(
                parse(document).map(|_| ()).map_err(|e| e.to_string()),
                Err(error.to_string()),
                "{document}"
            );
        }
        let target = |json: &str| {
            let document =
                format!(r#"{{"kind":"Service","spec":{{"ports":[{{"targetPort":{json}}}]}}}}"#);
            parse(&document).unwrap().services[0].spec.ports[0]
                .target_port
                .clone()
        };
        assert_eq!(target("9376"), Some(IntOrString::Int(9376)));
        assert_eq!(target(r#""http""#), Some(IntOrString::Str("http".into())));
        assert_eq!(target("null"), None);
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
