//! A Service as people type it (`hostnames`, `hostnames.default`,
//! `hostnames.default.svc.cluster.local.`, `svc/hostnames`), split into its name, namespace and
//! cluster domain, and settled against `-n` and the pod's own context.
//!
//! Pure, so that every form is table-tested: a name that is not a Service name is a usage
//! error here, before any DNS query could turn it into a wrong DNS verdict.

use std::fmt;

use crate::report::{Origin, ServiceRef};

/// Kubernetes limits Service names and namespaces to one DNS label.
const MAX_LABEL: usize = 63;
/// The longest name DNS carries (without the trailing dot).
const MAX_NAME: usize = 253;
/// kubectl's spellings of the Service kind in `KIND/NAME`.
const SERVICE_KINDS: [&str; 3] = ["service", "services", "svc"];

/// The parts of a Service the user wrote; what was left out is settled later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceName {
    /// As typed, for the report.
    pub as_given: String,
    pub name: String,
    pub namespace: Option<String>,
    pub cluster_domain: Option<String>,
}

/// Why a text is not a Service name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    /// `deployment/web`: a kind other than Service.
    NotAService {
        kind: String,
    },
    /// `svc/web.default`: kubectl takes only NAME after the kind.
    DottedAfterKind {
        text: String,
    },
    /// The first label is not an RFC 1035 label.
    InvalidName {
        name: String,
    },
    /// The second label is not an RFC 1123 label.
    InvalidNamespace {
        namespace: String,
    },
    /// `a.b.c`: the third label of a Service's DNS name is always `svc`.
    NotSvc {
        text: String,
    },
    InvalidDomain {
        domain: String,
    },
    TooLong {
        text: String,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "the Service name is empty"),
            NameError::NotAService { kind } => write!(
                f,
                "`{kind}/...` is not a Service: give NAME, service/NAME or svc/NAME"
            ),
            NameError::DottedAfterKind { text } => write!(
                f,
                "`{text}`: after service/ give the bare NAME (use -n for the namespace)"
            ),
            NameError::InvalidName { name } => write!(
                f,
                "`{name}` is not a valid Service name: at most 63 lowercase letters, \
                 digits and '-', starting with a letter, ending with a letter or digit"
            ),
            NameError::InvalidNamespace { namespace } => write!(
                f,
                "`{namespace}` is not a valid namespace: at most 63 lowercase letters, \
                 digits and '-', starting and ending with a letter or digit"
            ),
            NameError::NotSvc { text } => write!(
                f,
                "`{text}` is not a Service: use NAME, NAME.NS, NAME.NS.svc or \
                 NAME.NS.svc.DOMAIN"
            ),
            NameError::InvalidDomain { domain } => {
                write!(f, "`{domain}` is not a valid cluster domain")
            }
            NameError::TooLong { text } => {
                write!(f, "`{text}` is longer than a DNS name can be (253)")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// `web.prod -n default`: the name's namespace and `-n` disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceConflict {
    /// The Service as the user wrote it.
    pub as_given: String,
    /// The namespace in the name.
    pub named: String,
    /// The namespace `-n` gave.
    pub flag: String,
}

impl fmt::Display for NamespaceConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let NamespaceConflict {
            as_given,
            named,
            flag,
        } = self;
        write!(
            f,
            "`{as_given}` is in namespace {named} but -n says {flag}: drop one"
        )
    }
}

impl std::error::Error for NamespaceConflict {}

/// Splits `NAME`, `NAME.NS`, `NAME.NS.svc`, `NAME.NS.svc.DOMAIN` (each with or without a
/// trailing dot), `service/NAME` and `svc/NAME`.
pub fn parse(text: &str) -> Result<ServiceName, NameError> {
    let parts = match text.split_once('/') {
        Some((kind, name)) => bare_after_kind(text, kind, name)?,
        None => dotted(text)?,
    };
    Ok(ServiceName {
        as_given: text.to_string(),
        ..parts
    })
}

fn bare_after_kind(text: &str, kind: &str, name: &str) -> Result<ServiceName, NameError> {
    if !SERVICE_KINDS.contains(&kind.to_ascii_lowercase().as_str()) {
        return Err(NameError::NotAService { kind: kind.into() });
    }
    if name.strip_suffix('.').unwrap_or(name).contains('.') {
        return Err(NameError::DottedAfterKind { text: text.into() });
    }
    dotted(name)
}

fn dotted(text: &str) -> Result<ServiceName, NameError> {
    let relative = text.strip_suffix('.').unwrap_or(text);
    if relative.is_empty() {
        return Err(NameError::Empty);
    }
    if relative.len() > MAX_NAME {
        return Err(NameError::TooLong { text: text.into() });
    }
    let mut labels = relative.splitn(4, '.');
    let name = labels.next().unwrap_or_default();
    if !is_rfc1035_label(name) {
        return Err(NameError::InvalidName { name: name.into() });
    }
    let namespace = labels.next();
    if let Some(ns) = namespace.filter(|ns| !is_rfc1123_label(ns)) {
        return Err(NameError::InvalidNamespace {
            namespace: ns.into(),
        });
    }
    if labels.next().is_some_and(|svc| svc != "svc") {
        return Err(NameError::NotSvc { text: text.into() });
    }
    let cluster_domain = labels.next();
    if let Some(domain) = cluster_domain.filter(|d| !d.split('.').all(is_rfc1123_label)) {
        return Err(NameError::InvalidDomain {
            domain: domain.into(),
        });
    }
    Ok(ServiceName {
        as_given: String::new(),
        name: name.into(),
        namespace: namespace.map(String::from),
        cluster_domain: cluster_domain.map(String::from),
    })
}

/// A namespace as `-n` gives it.
pub fn check_namespace(text: &str) -> Result<(), NameError> {
    if is_rfc1123_label(text) {
        Ok(())
    } else {
        Err(NameError::InvalidNamespace {
            namespace: text.into(),
        })
    }
}

/// What Kubernetes requires of a Service name: a letter first, then lowercase letters,
/// digits and '-', not ending in '-'.
fn is_rfc1035_label(label: &str) -> bool {
    label.starts_with(|c: char| c.is_ascii_lowercase()) && is_rfc1123_label(label)
}

/// What Kubernetes requires of a namespace (and DNS of a cluster domain's labels).
fn is_rfc1123_label(label: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=MAX_LABEL).contains(&label.len())
        && label.starts_with(alnum)
        && label.ends_with(alnum)
        && label.chars().all(|c| alnum(c) || c == '-')
}

/// A namespace on the command line and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub origin: Origin,
}

impl ServiceName {
    /// The namespace the user gave, in the name or with `-n`; both at once must agree.
    pub fn namespace_with(
        &self,
        flag: Option<&str>,
    ) -> Result<Option<Namespace>, NamespaceConflict> {
        match (self.namespace.as_deref(), flag) {
            (Some(named), Some(flag)) if named != flag => Err(NamespaceConflict {
                as_given: self.as_given.clone(),
                named: named.to_string(),
                flag: flag.to_string(),
            }),
            (Some(named), _) => Ok(Some(Namespace {
                name: named.into(),
                origin: Origin::Name,
            })),
            (None, Some(flag)) => Ok(Some(Namespace {
                name: flag.into(),
                origin: Origin::Flag,
            })),
            (None, None) => Ok(None),
        }
    }

    /// The Service the command probes: what the user gave wins over the pod's context
    /// (its namespace and the cluster domain its search list implies).
    pub fn settle(
        &self,
        given: Option<&Namespace>,
        pod_namespace: (&str, Origin),
        cluster_domain: (&str, Origin),
    ) -> ServiceRef {
        let (namespace, namespace_source) = match given {
            Some(ns) => (ns.name.clone(), ns.origin),
            None => (pod_namespace.0.to_string(), pod_namespace.1),
        };
        let (cluster_domain, cluster_domain_source) = match &self.cluster_domain {
            Some(domain) => (domain.clone(), Origin::Name),
            None => (cluster_domain.0.to_string(), cluster_domain.1),
        };
        ServiceRef {
            as_given: self.as_given.clone(),
            fqdn: format!("{}.{namespace}.svc.{cluster_domain}.", self.name),
            service: self.name.clone(),
            namespace,
            namespace_source,
            cluster_domain,
            cluster_domain_source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> Result<(String, Option<String>, Option<String>), NameError> {
        parse(text).map(|s| (s.name, s.namespace, s.cluster_domain))
    }

    #[test]
    fn every_form_people_type() {
        let some = |s: &str| Some(s.to_string());
        let table = [
            ("hostnames", None, None),
            ("hostnames.", None, None),
            ("hostnames.default", some("default"), None),
            ("hostnames.default.", some("default"), None),
            ("kube-dns.kube-system", some("kube-system"), None),
            ("hostnames.default.svc", some("default"), None),
            ("hostnames.default.svc.", some("default"), None),
            (
                "hostnames.default.svc.cluster.local",
                some("default"),
                some("cluster.local"),
            ),
            (
                "hostnames.default.svc.cluster.local.",
                some("default"),
                some("cluster.local"),
            ),
            ("hostnames.default.svc.corp", some("default"), some("corp")),
            ("service/hostnames", None, None),
            ("services/hostnames", None, None),
            ("svc/hostnames", None, None),
            ("svc/hostnames.", None, None),
            ("a", None, None),
            ("web", None, None),
            ("web.", None, None),
            ("web.0ns", some("0ns"), None),
        ];
        for (text, ns, domain) in table {
            let name = if text.contains("kube-dns") {
                "kube-dns"
            } else if text.contains("hostnames") {
                "hostnames"
            } else if text.starts_with('a') {
                "a"
            } else {
                "web"
            };
            assert_eq!(parts(text), Ok((name.into(), ns, domain)), "{text}");
        }
        assert_eq!(parse("svc/web").unwrap().as_given, "svc/web");
        let longest = "a".repeat(63);
        assert!(parse(&longest).is_ok());
    }

    #[test]
    fn what_is_not_a_service_name() {
        use NameError::*;
        let name = || InvalidName {
            name: String::new(),
        };
        let namespace = || InvalidNamespace {
            namespace: String::new(),
        };
        let table = [
            ("", Empty),
            (".", Empty),
            ("svc/", Empty),
            ("a b", name()),
            (".hostnames", name()),
            ("Hostnames", name()),
            ("1web", name()),
            ("web-", name()),
            ("my_svc", name()),
            ("héllo", name()),
            ("hostnames..", namespace()),
            ("web.Prod", namespace()),
            ("web.default.pod", NotSvc { text: "".into() }),
            ("web.default.svc..", InvalidDomain { domain: "".into() }),
            ("deployment/web", NotAService { kind: "".into() }),
            ("svc/web.default", DottedAfterKind { text: "".into() }),
        ];
        for (text, expected) in table {
            let error = parse(text).expect_err(text);
            let same = std::mem::discriminant(&error) == std::mem::discriminant(&expected);
            assert!(same, "{text}: {error:?}");
            assert!(!error.to_string().is_empty());
        }
        assert!(matches!(
            parse(&"a".repeat(64)),
            Err(NameError::InvalidName { .. })
        ));
        let long = format!("a.b.svc.{}", ["c"; 130].join("."));
        assert!(matches!(parse(&long), Err(NameError::TooLong { .. })));
    }

    #[test]
    fn a_namespace_in_the_name_and_in_the_flag_must_agree() {
        let name = parse("hostnames.default").unwrap();
        let ns = |name: &str, origin| Namespace {
            name: name.into(),
            origin,
        };
        assert_eq!(
            name.namespace_with(None),
            Ok(Some(ns("default", Origin::Name)))
        );
        assert_eq!(
            name.namespace_with(Some("default")),
            Ok(Some(ns("default", Origin::Name)))
        );
        let error = name.namespace_with(Some("prod")).unwrap_err().to_string();
        assert!(
            error.contains("default") && error.contains("prod"),
            "{error}"
        );
        let bare = parse("hostnames").unwrap();
        assert_eq!(
            bare.namespace_with(Some("prod")),
            Ok(Some(ns("prod", Origin::Flag)))
        );
        assert_eq!(bare.namespace_with(None), Ok(None));
    }

    #[test]
    fn settles_what_the_name_leaves_out_from_the_context() {
        let pod = ("team", Origin::ServiceAccount);
        let domain = ("cluster.local", Origin::SearchList);
        let bare = parse("hostnames").unwrap();
        let r = bare.settle(None, pod, domain);
        assert_eq!(r.fqdn, "hostnames.team.svc.cluster.local.");
        assert_eq!(
            (r.namespace_source, r.cluster_domain_source),
            (Origin::ServiceAccount, Origin::SearchList)
        );
        let full = parse("kube-dns.kube-system.svc.corp.example.").unwrap();
        let given = full.namespace_with(None).unwrap();
        let r = full.settle(given.as_ref(), pod, domain);
        assert_eq!(r.fqdn, "kube-dns.kube-system.svc.corp.example.");
        assert_eq!(
            (r.namespace_source, r.cluster_domain_source),
            (Origin::Name, Origin::Name)
        );
        assert_eq!(r.as_given, "kube-dns.kube-system.svc.corp.example.");
    }
}
