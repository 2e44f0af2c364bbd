//! Where the API server is and what to present to it, decided before any request: client-go's
//! in-cluster config (`rest.InClusterConfig`: `KUBERNETES_SERVICE_HOST`/`_PORT` and the files
//! of the mounted service account) or `--api-server`, `--token-file`, `--cacert`. Pure but for
//! reading the environment and checking that the token file exists, so the flag parser and
//! the tests can use it.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::report::ApiConfigSource;

/// Where kubelet mounts the service account of a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The API server's address: an IP or a host name (resolved with our resolver) and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiServer {
    /// Without brackets, also for IPv6.
    pub host: String,
    pub port: u16,
}

/// Why `--api-server` is not a URL we can use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError {
    pub url: String,
    pub problem: UrlProblem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlProblem {
    /// The API is HTTPS only.
    NotHttps,
    UnclosedBracket,
    BadPort,
    /// A path, a user, or an empty or malformed host.
    NotHostPort,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.url;
        match self.problem {
            UrlProblem::NotHttps => {
                write!(f, "`{url}` is not an https:// URL (the API is HTTPS only)")
            }
            UrlProblem::UnclosedBracket => write!(f, "`{url}`: unclosed [ in the host"),
            UrlProblem::BadPort => write!(f, "`{url}`: bad port"),
            UrlProblem::NotHostPort => {
                write!(f, "`{url}`: expected https://HOST[:PORT] with no path")
            }
        }
    }
}

impl std::error::Error for UrlError {}

impl ApiServer {
    /// `https://HOST[:PORT][/]` (port 443 by default). Pure: used by the flag parser.
    pub fn parse(url: &str) -> Result<ApiServer, UrlError> {
        let fail = |problem| UrlError {
            url: url.to_string(),
            problem,
        };
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| fail(UrlProblem::NotHttps))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| fail(UrlProblem::UnclosedBracket))?;
            (host, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        let port = match port {
            None => 443,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| fail(UrlProblem::BadPort))?,
        };
        let valid = !host.is_empty()
            && !host.contains(['/', '?', '#', '@', ' '])
            && (host.parse::<IpAddr>().is_ok() || !host.contains(':'));
        if !valid {
            return Err(fail(UrlProblem::NotHostPort));
        }
        Ok(ApiServer {
            host: host.to_string(),
            port,
        })
    }

    pub fn url(&self) -> String {
        format!("https://{}:{}", self.url_host(), self.port)
    }

    /// The host as a URL writes it: an IPv6 address in brackets.
    pub fn url_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

/// How to reach the API server and what to present to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    pub server: ApiServer,
    pub token_file: PathBuf,
    pub cacert: PathBuf,
    pub source: ApiConfigSource,
}

/// Whether `diagnose` reads the API, from its flags and the pod's environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Read(ApiConfig),
    /// Not reading, and that is fine.
    Skip(SkipReason),
    /// `--api` was asked for but there is nothing to read it with.
    Unavailable(NotInCluster),
}

/// Why the API is not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// `--no-api`.
    Declined,
    /// `--objects` gives the objects instead.
    ObjectsGiven,
    /// Not in a pod, or the pod has no service account token.
    NotInCluster(NotInCluster),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Declined => write!(f, "--no-api"),
            SkipReason::ObjectsGiven => write!(f, "the objects come from --objects"),
            SkipReason::NotInCluster(why) => write!(f, "{why}"),
        }
    }
}

/// Why client-go's in-cluster config does not apply here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotInCluster {
    /// `KUBERNETES_SERVICE_HOST`/`_PORT` unset: not in a pod.
    NoEnvironment,
    /// `KUBERNETES_SERVICE_PORT` is not a port number.
    BadPort(String),
    /// No token file (`automountServiceAccountToken: false`).
    NoToken(PathBuf),
}

impl fmt::Display for NotInCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotInCluster::NoEnvironment => write!(
                f,
                "not in a pod: KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT unset (give \
                 --api-server URL to read the API anyway)"
            ),
            NotInCluster::BadPort(port) => {
                write!(f, "KUBERNETES_SERVICE_PORT `{port}` is not a port")
            }
            NotInCluster::NoToken(file) => write!(
                f,
                "no service account token at {} (automountServiceAccountToken: false?)",
                file.display()
            ),
        }
    }
}

/// `--api`, `--no-api`, or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Force,
    Off,
}

/// The API flags of `diagnose`, validated but not acted on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiArgs {
    pub mode: Mode,
    pub server: Option<ApiServer>,
    pub token_file: Option<PathBuf>,
    pub cacert: Option<PathBuf>,
}

impl Plan {
    /// Decides from the flags, the environment and the service account directory.
    pub fn decide(args: &ApiArgs, objects_given: bool) -> Plan {
        let dir = Path::new(SERVICE_ACCOUNT_DIR);
        let token_file = args.token_file.clone().unwrap_or_else(|| dir.join("token"));
        let cacert = args.cacert.clone().unwrap_or_else(|| dir.join("ca.crt"));
        if args.mode == Mode::Off {
            return Plan::Skip(SkipReason::Declined);
        }
        if objects_given {
            return Plan::Skip(SkipReason::ObjectsGiven);
        }
        if let Some(server) = &args.server {
            return Plan::Read(ApiConfig {
                server: server.clone(),
                token_file,
                cacert,
                source: ApiConfigSource::Flags,
            });
        }
        let env = |name| std::env::var(name).ok();
        match in_cluster(
            env("KUBERNETES_SERVICE_HOST").as_deref(),
            env("KUBERNETES_SERVICE_PORT").as_deref(),
            &token_file,
            &cacert,
        ) {
            Ok(config) => Plan::Read(config),
            Err(why) if args.mode == Mode::Force => Plan::Unavailable(why),
            Err(why) => Plan::Skip(SkipReason::NotInCluster(why)),
        }
    }
}

/// client-go's in-cluster config: the Service environment kubelet sets, and a token file.
pub fn in_cluster(
    host: Option<&str>,
    port: Option<&str>,
    token_file: &Path,
    cacert: &Path,
) -> Result<ApiConfig, NotInCluster> {
    let (Some(host), Some(port)) = (host.filter(|h| !h.is_empty()), port) else {
        return Err(NotInCluster::NoEnvironment);
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| NotInCluster::BadPort(port.to_string()))?;
    if !token_file.is_file() {
        return Err(NotInCluster::NoToken(token_file.to_path_buf()));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(ApiConfig {
        server: ApiServer {
            host: host.to_string(),
            port,
        },
        token_file: token_file.to_path_buf(),
        cacert: cacert.to_path_buf(),
        source: ApiConfigSource::InCluster,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let ok = |url: &str| ApiServer::parse(url).unwrap();
        assert_eq!(ok("https://10.0.0.1").url(), "https://10.0.0.1:443");
        assert_eq!(ok("https://10.0.0.1:6443/").port, 6443);
        assert_eq!(ok("https://[fd00::1]:443").host, "fd00::1");
        assert_eq!(ok("https://[fd00::1]").url(), "https://[fd00::1]:443");
        assert_eq!(
            ok("https://kubernetes.default.svc").host,
            "kubernetes.default.svc"
        );
        use UrlProblem::*;
        for (bad, problem) in [
            ("http://10.0.0.1", NotHttps),
            ("10.0.0.1", NotHttps),
            ("https://", NotHostPort),
            ("https://10.0.0.1:0", BadPort),
            ("https://10.0.0.1:x", BadPort),
            ("https://10.0.0.1/api", NotHostPort),
            ("https://[fd00::1", UnclosedBracket),
            ("https://fd00::1", NotHostPort),
            ("https://user@host", NotHostPort),
        ] {
            assert_eq!(
                ApiServer::parse(bad).map_err(|e| e.problem),
                Err(problem),
                "{bad}"
            );
        }
    }

    #[test]
    fn in_cluster_config_like_client_go() {
        let dir = std::env::temp_dir().join(format!("svcprobe-sa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        let ca = dir.join("ca.crt");
        assert_eq!(
            in_cluster(None, Some("443"), &token, &ca),
            Err(NotInCluster::NoEnvironment)
        );
        assert_eq!(
            in_cluster(Some("10.0.0.1"), Some("443"), &token, &ca),
            Err(NotInCluster::NoToken(token.clone()))
        );
        std::fs::write(&token, "abc\n").unwrap();
        let config = in_cluster(Some("10.0.0.1"), Some("443"), &token, &ca).unwrap();
        assert_eq!(config.server.url(), "https://10.0.0.1:443");
        assert_eq!(config.source, ApiConfigSource::InCluster);
        // An IPv6 host comes bare in the environment; the URL brackets it.
        let v6 = in_cluster(Some("fd00::1"), Some("6443"), &token, &ca).unwrap();
        assert_eq!(v6.server.url(), "https://[fd00::1]:6443");
        assert_eq!(
            in_cluster(Some("10.0.0.1"), Some("https"), &token, &ca),
            Err(NotInCluster::BadPort("https".into()))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_flags_decide_before_the_environment() {
        let args = |mode| ApiArgs {
            mode,
            server: None,
            token_file: None,
            cacert: None,
        };
        assert_eq!(
            Plan::decide(&args(Mode::Off), false),
            Plan::Skip(SkipReason::Declined)
        );
        assert_eq!(
            Plan::decide(&args(Mode::Auto), true),
            Plan::Skip(SkipReason::ObjectsGiven)
        );
        let flags = ApiArgs {
            server: Some(ApiServer::parse("https://10.0.0.1").unwrap()),
            ..args(Mode::Force)
        };
        assert!(matches!(
            Plan::decide(&flags, false),
            Plan::Read(ApiConfig {
                source: ApiConfigSource::Flags,
                ..
            })
        ));
    }
}
