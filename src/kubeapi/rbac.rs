//! What to grant when the API server answers 403: the read-only Role and RoleBinding that
//! `deploy/rbac.yaml` ships, filled in for the namespace and the subject the server named.

/// The Role and RoleBinding that let `subject` (a service account, by default the
/// namespace's `default`) read what `diagnose` reads: `deploy/rbac.yaml`, filled in.
pub fn rbac_yaml(namespace: &str, user: Option<&str>) -> String {
    SERVICE.yaml(namespace, namespace, user)
}

/// The same as two kubectl commands, for a hint line.
pub fn rbac_commands(namespace: &str, user: Option<&str>) -> String {
    SERVICE.commands(namespace, namespace, user)
}

/// The optional Role in kube-system that lets `subject` read the DNS Service
/// (`kube-system/kube-dns` and its EndpointSlices), and its RoleBinding: deploy/rbac.yaml's
/// first two documents, filled in. `namespace` is the probing pod's.
pub fn dns_rbac_yaml(namespace: &str, user: Option<&str>) -> String {
    DNS.yaml("kube-system", namespace, user)
}

/// The same as kubectl commands, for a hint line.
pub fn dns_rbac_commands(namespace: &str, user: Option<&str>) -> String {
    DNS.commands("kube-system", namespace, user)
}

/// A read-only Role: its name and the core resources it reads (EndpointSlices always).
struct Grant {
    role: &'static str,
    core: &'static [&'static str],
}

/// What `diagnose` reads in the Service's namespace.
const SERVICE: Grant = Grant {
    role: "svcprobe-read",
    core: &["services", "endpoints", "pods"],
};

/// What the DNS checks read in kube-system.
const DNS: Grant = Grant {
    role: "svcprobe-dns-read",
    core: &["services"],
};

impl Grant {
    /// The Role in `namespace` and its RoleBinding to the subject (`user`, else the
    /// `default` service account of `sa_namespace`).
    fn yaml(&self, namespace: &str, sa_namespace: &str, user: Option<&str>) -> String {
        let (sa_namespace, sa_name) = service_account(sa_namespace, user);
        let role = self.role;
        let core: Vec<String> = self.core.iter().map(|r| format!("\"{r}\"")).collect();
        let core = core.join(", ");
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {role}
  namespace: {namespace}
rules:
- apiGroups: [\"\"]
  resources: [{core}]
  verbs: [\"get\", \"list\"]
- apiGroups: [\"discovery.k8s.io\"]
  resources: [\"endpointslices\"]
  verbs: [\"get\", \"list\"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {role}
  namespace: {namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {role}
subjects:
- kind: ServiceAccount
  name: {sa_name}
  namespace: {sa_namespace}
"
        )
    }

    /// The same as two kubectl commands.
    fn commands(&self, namespace: &str, sa_namespace: &str, user: Option<&str>) -> String {
        let subject = match user {
            Some(u) if !u.starts_with("system:serviceaccount:") => format!("--user={u}"),
            _ => {
                let (sa_namespace, sa_name) = service_account(sa_namespace, user);
                format!("--serviceaccount={sa_namespace}:{sa_name}")
            }
        };
        let role = self.role;
        let core = self.core.join(",");
        format!(
            "kubectl create role {role} -n {namespace} --verb=get,list \
             --resource={core},endpointslices.discovery.k8s.io && kubectl create rolebinding \
             {role} -n {namespace} --role={role} {subject}"
        )
    }
}

fn service_account(namespace: &str, user: Option<&str>) -> (String, String) {
    user.and_then(|u| u.strip_prefix("system:serviceaccount:"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(ns, name)| (ns.to_string(), name.to_string()))
        .unwrap_or_else(|| (namespace.to_string(), "default".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_names_the_subject_the_server_named() {
        let message = "services \"x\" is forbidden: User \"system:serviceaccount:probe:svcprobe\" cannot get resource \"services\" in API group \"\" in the namespace \"default\"";
        let user = message
            .split_once("User \"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(user, _)| user);
        assert_eq!(user, Some("system:serviceaccount:probe:svcprobe"));
        let yaml = rbac_yaml("default", user);
        assert!(
            yaml.contains("  name: svcprobe\n  namespace: probe\n"),
            "{yaml}"
        );
        assert!(rbac_commands("default", user).ends_with("--serviceaccount=probe:svcprobe"));
        assert!(rbac_commands("default", Some("jane")).ends_with("--user=jane"));
        assert_eq!(
            dns_rbac_commands("web", None),
            "kubectl create role svcprobe-dns-read -n kube-system --verb=get,list \
             --resource=services,endpointslices.discovery.k8s.io && kubectl create rolebinding \
             svcprobe-dns-read -n kube-system --role=svcprobe-dns-read \
             --serviceaccount=web:default"
        );
        assert_eq!(
            rbac_commands("web", Some("jane")),
            "kubectl create role svcprobe-read -n web --verb=get,list \
             --resource=services,endpoints,pods,endpointslices.discovery.k8s.io && kubectl \
             create rolebinding svcprobe-read -n web --role=svcprobe-read --user=jane"
        );
        assert!(rbac_yaml("web", None).contains("  name: default\n  namespace: web\n"));
    }

    #[test]
    fn the_shipped_rbac_is_the_one_printed() {
        let shipped = include_str!("../../deploy/rbac.yaml");
        assert!(
            shipped.ends_with(&rbac_yaml("default", None)),
            "deploy/rbac.yaml drifted"
        );
        assert!(
            shipped.contains(&format!("{}---\n", dns_rbac_yaml("default", None))),
            "deploy/rbac.yaml's kube-system Role drifted"
        );
    }
}
