//! Reads a Service, its EndpointSlices and its Pods from the Kubernetes API server, as a
//! pod does with its service account, so that `diagnose` can check the Service definition
//! and endpoints without anyone piping `kubectl get -o json` in.
//!
//! [`config`] decides whether and where to read (client-go's in-cluster config, or flags);
//! [`client`] makes the bounded, verified requests; this module reads the Service, then its
//! endpoints, then its pods, and keeps what each step could not read; [`rbac`] says what
//! to grant when the server forbids it.

pub mod client;
pub mod config;
pub mod rbac;

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::k8s::{self, Objects};
use crate::report::{ApiRequest, ApiResource};
use client::{encode, Client};
pub use client::{ApiError, TokenError};
pub use config::{
    ApiArgs, ApiConfig, ApiServer, Mode, NotInCluster, Plan, SkipReason, SERVICE_ACCOUNT_DIR,
};

/// Pages read per list at most.
const MAX_PAGES: usize = 4;

/// What one resource's read ended with, when it did not end well.
#[derive(Debug)]
pub struct Failure {
    pub resource: ApiResource,
    pub error: ApiError,
}

/// Everything read, and how.
#[derive(Debug, Default)]
pub struct ReadResult {
    /// `None` when the Service itself could not be read (not even a 404).
    pub objects: Option<Objects>,
    /// `Some(false)`: the API server says the Service does not exist.
    pub service_found: Option<bool>,
    pub requests: Vec<ApiRequest>,
    pub failures: Vec<Failure>,
    /// Lists cut short at the page bound: what they hold is incomplete.
    pub truncated: Vec<ApiResource>,
    /// The namespace's pods were listed too, for near misses of the selector.
    pub listed_namespace_pods: bool,
}

/// Reads Service `namespace/name`, its EndpointSlices (or Endpoints) and the pods its
/// selector matches, all before `deadline`. Never fails as a whole: what could not be
/// read is in `failures`, and each response is parsed on its own, so one that cannot be
/// used costs only its own objects.
pub fn read(
    config: &ApiConfig,
    namespace: &str,
    name: &str,
    resolv_conf: &Path,
    deadline: Instant,
) -> ReadResult {
    let mut result = ReadResult::default();
    let mut client = match Client::new(config, resolv_conf, deadline) {
        Ok(client) => client,
        Err(error) => {
            result.failures.push(Failure {
                resource: ApiResource::Services,
                error,
            });
            return result;
        }
    };
    let ns = encode(namespace);
    let service = client
        .get(&format!(
            "/api/v1/namespaces/{ns}/services/{}",
            encode(name)
        ))
        .and_then(|value| parse(vec![value], "Service"));
    let mut objects = match service {
        Ok(objects) => objects,
        Err(ApiError::NotFound(_)) => {
            result.objects = Some(Objects::default());
            result.service_found = Some(false);
            result.requests = client.requests;
            return result;
        }
        Err(error) => {
            result.failures.push(Failure {
                resource: ApiResource::Services,
                error,
            });
            result.requests = client.requests;
            return result;
        }
    };
    result.service_found = Some(true);
    let selector = objects
        .services
        .first()
        .and_then(|s| s.spec.selector.as_ref())
        .filter(|s| !s.is_empty())
        .map(|s| {
            let labels: Vec<String> = s.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.join(",")
        });
    read_endpoints(&mut client, &ns, name, &mut objects, &mut result);
    if let Some(selector) = &selector {
        read_pods(&mut client, &ns, selector, &mut objects, &mut result);
    }
    result.requests = client.requests;
    result.objects = Some(objects);
    result
}

/// The Service's EndpointSlices; without the discovery API (before 1.21), or with RBAC
/// that does not allow it, its v1 Endpoints object.
fn read_endpoints(
    client: &mut Client,
    ns: &str,
    name: &str,
    objects: &mut Objects,
    result: &mut ReadResult,
) {
    let slices = client
        .list(
            &format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
            Some(&format!("kubernetes.io/service-name={name}")),
            MAX_PAGES,
        )
        .and_then(|list| Ok((parse(list.items, "EndpointSlice")?, list.truncated)));
    let slices_error = match slices {
        Ok((slices, truncated)) => {
            if truncated {
                result.truncated.push(ApiResource::EndpointSlices);
            }
            objects.extend(slices);
            return;
        }
        Err(error) => error,
    };
    let fallback = matches!(
        slices_error,
        ApiError::NotFound(_) | ApiError::Forbidden { .. }
    );
    if !matches!(slices_error, ApiError::NotFound(_)) {
        result.failures.push(Failure {
            resource: ApiResource::EndpointSlices,
            error: slices_error,
        });
    }
    if !fallback {
        return;
    }
    let endpoints = client
        .get(&format!(
            "/api/v1/namespaces/{ns}/endpoints/{}",
            encode(name)
        ))
        .and_then(|value| parse(vec![value], "Endpoints"));
    match endpoints {
        Ok(endpoints) => objects.extend(endpoints),
        Err(ApiError::NotFound(_)) => {}
        Err(error) => result.failures.push(Failure {
            resource: ApiResource::Endpoints,
            error,
        }),
    }
}

/// The pods `selector` matches; when it matches none, one page of the namespace's pods,
/// for the near misses.
fn read_pods(
    client: &mut Client,
    ns: &str,
    selector: &str,
    objects: &mut Objects,
    result: &mut ReadResult,
) {
    let path = format!("/api/v1/namespaces/{ns}/pods");
    let selected = client
        .list(&path, Some(selector), MAX_PAGES)
        .and_then(|list| Ok((parse(list.items, "Pod")?, list.truncated)));
    let all = match selected {
        Ok((pods, truncated)) if !pods.pods.is_empty() => {
            if truncated {
                result.truncated.push(ApiResource::Pods);
            }
            objects.extend(pods);
            return;
        }
        Ok(_) => client
            .list(&path, None, 1)
            .and_then(|all| parse(all.items, "Pod")),
        Err(error) => {
            objects.pods_unavailable = Some(error.to_string());
            result.failures.push(Failure {
                resource: ApiResource::Pods,
                error,
            });
            return;
        }
    };
    match all {
        Ok(all) => {
            result.listed_namespace_pods = true;
            objects.extend(all);
        }
        Err(error) => result.failures.push(Failure {
            resource: ApiResource::Pods,
            error,
        }),
    }
}

/// The objects of one response (a single object, or a list's items), typed.
fn parse(items: Vec<Value>, kind: &str) -> Result<Objects, ApiError> {
    k8s::from_items(items, kind).map_err(ApiError::Malformed)
}
