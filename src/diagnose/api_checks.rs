//! The `api` check: the Service, its endpoints and its pods read from the API server with
//! the pod's service account, so that the definition and endpoint checks can run without
//! `--objects`. What it could not read is a `skip` with the reason and what would fix it
//! (for a 403, the exact Role and RoleBinding); an unreachable API server is not the
//! Service's fault, so it never fails the diagnosis.

use std::path::Path;
use std::time::Instant;

use crate::dns::millis;
use crate::k8s::Objects;
use crate::kubeapi::rbac::{rbac_commands, rbac_yaml};
use crate::kubeapi::{self, ApiConfig, ApiError, Failure, Plan, ReadResult};
use crate::kubeapi::{SkipReason, SERVICE_ACCOUNT_DIR};
use crate::report::{
    ApiCounts, ApiEvidence, ApiFailure, Check, CheckId, CheckStatus, Evidence, NoEvidence,
};

pub struct ApiResult {
    pub check: Check,
    /// What was read, for the object checks (the Service missing included).
    pub objects: Option<Objects>,
}

pub fn run(
    plan: &Plan,
    namespace: &str,
    service: &str,
    resolv_conf: &Path,
    deadline: Instant,
) -> ApiResult {
    let start = Instant::now();
    let config = match plan {
        Plan::Read(config) => config,
        Plan::Skip(SkipReason::NotInCluster(why)) => {
            return not_read(CheckStatus::Skip, why, Some(NOT_IN_CLUSTER_HINT.into()));
        }
        Plan::Skip(why) => return not_read(CheckStatus::Skip, why, None),
        Plan::Unavailable(why) => {
            return not_read(CheckStatus::Fail, why, Some(NOT_IN_CLUSTER_HINT.into()));
        }
    };
    let read = kubeapi::read(config, namespace, service, resolv_conf, deadline);
    let mut check = describe(config, namespace, service, &read);
    check.duration_ms = millis(start.elapsed());
    ApiResult {
        check,
        objects: read.objects,
    }
}

/// How to read the API from where the in-cluster config does not apply.
const NOT_IN_CLUSTER_HINT: &str = "in a pod, svcprobe reads the API with its service account (see deploy/rbac.yaml); elsewhere give --api-server URL --token-file FILE --cacert FILE, or pipe objects in with --objects -";

fn not_read(status: CheckStatus, why: &dyn std::fmt::Display, hint: Option<String>) -> ApiResult {
    ApiResult {
        check: Check {
            id: CheckId::Api,
            status,
            summary: format!("not reading the API server: {why}"),
            evidence: Evidence::Nothing(NoEvidence {}),
            hint,
            duration_ms: 0.0,
        },
        objects: None,
    }
}

fn describe(config: &ApiConfig, namespace: &str, service: &str, read: &ReadResult) -> Check {
    let server = config.server.url();
    let forbidden_user = read.failures.iter().find_map(|f| match &f.error {
        ApiError::Forbidden { user, .. } => Some(user.clone()),
        _ => None,
    });
    let evidence = ApiEvidence {
        server: server.clone(),
        source: config.source,
        token_file: config.token_file.display().to_string(),
        ca_file: config.cacert.display().to_string(),
        read: read.objects.as_ref().map(|o| ApiCounts {
            services: o.services.len(),
            endpointslices: o.slices.len(),
            endpoints: o.endpoints.len(),
            pods: o.pods.len(),
        }),
        requests: read.requests.clone(),
        failures: read
            .failures
            .iter()
            .map(|f| ApiFailure {
                resource: f.resource,
                kind: f.error.kind(),
                message: f.error.to_string(),
            })
            .collect(),
        truncated: read.truncated.clone(),
        namespace_pods_listed: read.listed_namespace_pods,
        rbac_yaml: forbidden_user.map(|user| rbac_yaml(namespace, user.as_deref())),
    };
    let hint = read
        .failures
        .first()
        .map(|f| failure_hint(f, config, namespace));
    let (status, summary) = match (&read.objects, read.service_found) {
        (Some(_), Some(false)) => (
            CheckStatus::Pass,
            format!("{server}: no Service {namespace}/{service} (404)"),
        ),
        (Some(objects), _) => {
            let endpoints = if objects.slices.is_empty() && !objects.endpoints.is_empty() {
                format!("{} Endpoints", objects.endpoints.len())
            } else {
                format!("{} EndpointSlice(s)", objects.slices.len())
            };
            let mut summary = format!(
                "read Service {namespace}/{service}, {endpoints}, {} pod(s) from {server} in {} request(s)",
                objects.pods.len(),
                read.requests.len()
            );
            let mut status = CheckStatus::Pass;
            if !read.failures.is_empty() {
                status = CheckStatus::Warn;
                let missing: Vec<String> = read
                    .failures
                    .iter()
                    .map(|f| format!("{}: {}", f.resource, f.error.kind()))
                    .collect();
                summary.push_str(&format!("; not read: {}", missing.join(", ")));
            }
            if !read.truncated.is_empty() {
                status = CheckStatus::Warn;
                summary.push_str(&format!(
                    "; incomplete (page bound): {}",
                    read.truncated
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            (status, summary)
        }
        (None, _) => {
            let why = read
                .failures
                .first()
                .map(|f| format!("{}: {}", f.resource, f.error))
                .unwrap_or_else(|| "nothing read".into());
            (CheckStatus::Skip, format!("{server}: {why}"))
        }
    };
    Check {
        id: CheckId::Api,
        status,
        summary,
        evidence: Evidence::Api(evidence),
        hint: hint.filter(|_| status != CheckStatus::Pass),
        duration_ms: 0.0,
    }
}

fn failure_hint(failure: &Failure, config: &ApiConfig, namespace: &str) -> String {
    match &failure.error {
        ApiError::Forbidden { user, .. } => format!(
            "RBAC does not let {} read {} in {namespace}; allow it with: {} (or apply deploy/rbac.yaml; the Role and RoleBinding are in this check's evidence.rbac_yaml)",
            user.as_deref().unwrap_or("this service account"),
            failure.resource,
            rbac_commands(namespace, user.as_deref()),
        ),
        ApiError::Unauthorized(_) => format!(
            "the API server rejects the token in {}: expired, revoked, or its service account deleted; a projected token is renewed by kubelet (svcprobe re-reads it on every request)",
            config.token_file.display()
        ),
        ApiError::Tls(_) => format!(
            "the API server's certificate does not verify against {}: give the cluster's CA with --cacert (svcprobe never skips verification)",
            config.cacert.display()
        ),
        ApiError::Timeout(_) | ApiError::Unreachable(_) => "the API server is not reachable from this pod, which is not the Service's fault: check egress NetworkPolicies to the API server and that kubernetes.default has endpoints; or pipe objects in with --objects -".into(),
        ApiError::Ca(_) => format!(
            "give the cluster's CA with --cacert FILE (in a pod, the service account's {SERVICE_ACCOUNT_DIR}/ca.crt; on a node, /etc/kubernetes/pki/ca.crt); svcprobe never reads the API unverified"
        ),
        ApiError::Token(_) => format!(
            "give a service account token with --token-file FILE (in a pod, {SERVICE_ACCOUNT_DIR}/token, unless automountServiceAccountToken is false)"
        ),
        _ => "read the objects with kubectl and pass them with --objects -".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeapi::NotInCluster;

    #[test]
    fn a_plan_without_a_read_says_why_and_hints_only_where_it_helps() {
        let far = Instant::now();
        let check = |plan: Plan| run(&plan, "default", "web", Path::new("/dev/null"), far).check;
        for declined in [SkipReason::Declined, SkipReason::ObjectsGiven] {
            let c = check(Plan::Skip(declined));
            assert_eq!((c.status, c.hint), (CheckStatus::Skip, None));
        }
        let c = check(Plan::Skip(SkipReason::NotInCluster(
            NotInCluster::NoEnvironment,
        )));
        assert_eq!(c.status, CheckStatus::Skip);
        assert!(
            c.summary.contains("KUBERNETES_SERVICE_HOST"),
            "{}",
            c.summary
        );
        assert!(c.hint.is_some_and(|h| h.contains("--api-server")));
        let c = check(Plan::Unavailable(NotInCluster::BadPort("x".into())));
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(c.hint.is_some());
    }
}
