//! `kube-system/kube-dns` from the API server, read with the pod's service account: its
//! Service (the ClusterIP) and its EndpointSlices (the DNS pods). Reading kube-system
//! needs a Role there (deploy/rbac.yaml's optional one); a 403 is said with that Role.

use std::path::Path;
use std::time::Instant;

use super::service::{DnsService, NAME, NAMESPACE};
use crate::k8s::{self, Objects};
use crate::kubeapi::client::Client;
use crate::kubeapi::{ApiConfig, ApiError};
use crate::report::{ApiRequest, DnsSource};

/// What the read gave: the DNS Service, or why not.
pub struct ApiRead {
    pub service: Result<DnsService, ApiError>,
    pub requests: Vec<ApiRequest>,
}

pub fn read(config: &ApiConfig, resolv_conf: &Path, deadline: Instant) -> ApiRead {
    let mut client = match Client::new(config, resolv_conf, deadline) {
        Ok(client) => client,
        Err(error) => {
            return ApiRead {
                service: Err(error),
                requests: Vec::new(),
            }
        }
    };
    let service = read_objects(&mut client).and_then(|objects| {
        DnsService::from_objects(&objects, DnsSource::Api)
            .ok_or_else(|| ApiError::NotFound(format!("{NAMESPACE}/{NAME}")))
    });
    ApiRead {
        service,
        requests: client.requests,
    }
}

fn read_objects(client: &mut Client) -> Result<Objects, ApiError> {
    let service = client.get(&format!("/api/v1/namespaces/{NAMESPACE}/services/{NAME}"))?;
    let mut objects = k8s::from_items(vec![service], "Service").map_err(ApiError::Malformed)?;
    let slices = client.list(
        &format!("/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices"),
        Some(&format!("kubernetes.io/service-name={NAME}")),
        1,
    )?;
    objects.extend(k8s::from_items(slices.items, "EndpointSlice").map_err(ApiError::Malformed)?);
    Ok(objects)
}
