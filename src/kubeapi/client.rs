//! The HTTP side of the API read: one bounded, verified GET at a time, with the pod's token.
//! HTTPS only, verified against the configured CA, never an insecure fallback. The token is
//! re-read for every request (kubelet rotates projected tokens) and goes nowhere but the
//! `Authorization` header: not into reports, errors or logs. Each request has a timeout
//! inside the whole read's deadline, each response a size cap, each list a page bound.

use std::fmt;
use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::{ApiConfig, ApiServer};
use crate::dns::millis;
use crate::k8s::ObjectsError;
use crate::probe::agent::{HttpError, Prober, Settings, Trace};
use crate::probe::tls::{Trust, TrustError};
use crate::probe::url::{percent_encode, HttpUrl};
use crate::report::{ApiErrorKind, ApiRequest, TcpOutcome};

/// One response, a list page included (500 pods with their specs is about 3 MB).
const MAX_RESPONSE_BYTES: u64 = 8 << 20;
/// A token is a JWT of a few KB; anything larger is not a token file.
const MAX_TOKEN_BYTES: u64 = 64 << 10;
/// Items asked for per page.
const PAGE_LIMIT: usize = 500;
/// One request, body included; the whole read has its own deadline on top.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a request (or the whole read) did not give us the object.
#[derive(Debug)]
pub enum ApiError {
    /// 401: the token is not accepted.
    Unauthorized(String),
    /// 403: RBAC does not allow it. `user` as the server names it.
    Forbidden {
        message: String,
        user: Option<String>,
    },
    /// 404 of the object, or of the whole API group.
    NotFound(String),
    /// Any other HTTP status.
    Status {
        code: u16,
        message: String,
    },
    Timeout(String),
    /// Refused, rejected (ICMP), no route, a name that does not resolve.
    Unreachable(String),
    /// The certificate is not trusted, or the handshake failed.
    Tls(String),
    TooLarge,
    BadResponse(String),
    /// An object in the response does not have its kind's shape.
    Malformed(ObjectsError),
    /// The CA file cannot be used (the API is never read unverified).
    Ca(TrustError),
    /// The token file cannot be used.
    Token(TokenError),
}

impl ApiError {
    /// The stable vocabulary of the `api` check's evidence.
    pub fn kind(&self) -> ApiErrorKind {
        match self {
            ApiError::Unauthorized(_) => ApiErrorKind::Unauthorized,
            ApiError::Forbidden { .. } => ApiErrorKind::Forbidden,
            ApiError::NotFound(_) => ApiErrorKind::NotFound,
            ApiError::Status { .. } => ApiErrorKind::HttpStatus,
            ApiError::Timeout(_) => ApiErrorKind::Timeout,
            ApiError::Unreachable(_) => ApiErrorKind::Unreachable,
            ApiError::Tls(_) => ApiErrorKind::Tls,
            ApiError::TooLarge => ApiErrorKind::TooLarge,
            ApiError::BadResponse(_) | ApiError::Malformed(_) => ApiErrorKind::BadResponse,
            ApiError::Ca(_) | ApiError::Token(_) => ApiErrorKind::Config,
        }
    }

    /// The HTTP status the server answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized(_) => Some(401),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::NotFound(_) => Some(404),
            ApiError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unauthorized(m) => write!(f, "401 Unauthorized: the token is rejected ({m})"),
            ApiError::Forbidden { message, .. } => write!(f, "403 Forbidden: {message}"),
            ApiError::NotFound(m) => write!(f, "404 Not Found: {m}"),
            ApiError::Status { code, message } => write!(f, "HTTP {code}: {message}"),
            ApiError::Timeout(m) => write!(f, "timeout: {m}"),
            ApiError::Unreachable(m) => write!(f, "unreachable: {m}"),
            ApiError::Tls(m) => write!(f, "TLS: {m}"),
            ApiError::TooLarge => write!(f, "response larger than {MAX_RESPONSE_BYTES} bytes"),
            ApiError::BadResponse(m) => write!(f, "bad response: {m}"),
            ApiError::Malformed(e) => write!(f, "bad response: {e}"),
            ApiError::Ca(e) => write!(f, "{e}"),
            ApiError::Token(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// Why the token file cannot be used. Never shows the token.
#[derive(Debug)]
pub enum TokenError {
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    NotText(PathBuf),
    /// Empty, or with characters a header cannot carry.
    Unusable(PathBuf),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Unreadable { path, source } => {
                write!(f, "cannot read the token file {}: {source}", path.display())
            }
            TokenError::NotText(path) => write!(f, "the token file {} is not text", path.display()),
            TokenError::Unusable(path) => {
                write!(f, "the token file {} holds no usable token", path.display())
            }
        }
    }
}

impl std::error::Error for TokenError {}

/// One page-bounded list: its items, and whether pages were left.
pub struct List {
    pub items: Vec<Value>,
    pub truncated: bool,
}

/// One read's connection settings, and the requests made so far (for the evidence).
pub struct Client {
    server: ApiServer,
    token_file: PathBuf,
    trust: Trust,
    addresses: Vec<SocketAddr>,
    deadline: Instant,
    pub requests: Vec<ApiRequest>,
}

impl Client {
    pub fn new(
        config: &ApiConfig,
        resolv_conf: &Path,
        deadline: Instant,
    ) -> Result<Client, ApiError> {
        let trust = Trust::load(Some(&config.cacert)).map_err(ApiError::Ca)?;
        let server = &config.server;
        let addresses = match server.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, server.port)],
            Err(_) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let resolved = crate::dns::resolve::resolve(&server.host, resolv_conf, left)
                    .map_err(|e| ApiError::Unreachable(format!("resolve {}: {e}", server.host)))?;
                if resolved.addresses.is_empty() {
                    return Err(ApiError::Unreachable(format!(
                        "{} does not resolve: {}",
                        server.host, resolved.report.reason
                    )));
                }
                resolved
                    .addresses
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, server.port))
                    .collect()
            }
        };
        Ok(Client {
            server: server.clone(),
            token_file: config.token_file.clone(),
            trust,
            addresses,
            deadline,
            requests: Vec::new(),
        })
    }

    /// GET `path` (with its query) and parse the JSON body of a 200.
    pub fn get(&mut self, path: &str) -> Result<Value, ApiError> {
        let start = Instant::now();
        let result = self.get_inner(path, start);
        self.requests.push(ApiRequest {
            path: path.to_string(),
            status: match &result {
                Ok(_) => Some(200),
                Err(error) => error.status(),
            },
            items: result
                .as_ref()
                .ok()
                .and_then(|v| v.get("items"))
                .and_then(Value::as_array)
                .map(Vec::len),
            error: result.as_ref().err().map(ApiError::kind),
            duration_ms: millis(start.elapsed()),
        });
        result
    }

    fn get_inner(&self, path: &str, start: Instant) -> Result<Value, ApiError> {
        let left = self.deadline.saturating_duration_since(start);
        if left.is_zero() {
            return Err(ApiError::Timeout(format!(
                "the read's deadline passed before GET {path}"
            )));
        }
        let token = read_token(&self.token_file).map_err(ApiError::Token)?;
        let timeout = left.min(REQUEST_TIMEOUT);
        let prober = Prober::new(&Settings {
            addresses: self.addresses.clone(),
            source: None,
            connect_timeout: timeout.min(CONNECT_TIMEOUT),
            timeout,
            trust: self.trust.clone(),
        });
        let url = HttpUrl {
            https: true,
            host: self.server.url_host(),
            port: self.server.port,
            target: path.to_string(),
        };
        let mut response = prober
            .get_authorized(&url, &token)
            .map_err(|e| classify(&e, &prober.trace(), timeout))?;
        let code = response.status;
        let limit = if code == 200 {
            MAX_RESPONSE_BYTES
        } else {
            64 << 10
        };
        // A declared length over the cap is refused before a byte of it is read: reading
        // megabytes only to drop them could spend the whole deadline on a slow link.
        if response.declared_length().is_some_and(|n| n > limit) {
            return Err(ApiError::TooLarge);
        }
        // One byte past the limit tells a body over it from one that fills it.
        let (bytes, error) = response.read_capped(limit + 1);
        if let Some(e) = error {
            return Err(classify(&e, &prober.trace(), timeout));
        }
        if bytes.len() as u64 > limit {
            return Err(ApiError::TooLarge);
        }
        // from_str, as everywhere else: one JSON reader linked, not two.
        let text = String::from_utf8(bytes)
            .map_err(|_| ApiError::BadResponse(format!("GET {path}: not UTF-8")))?;
        if code == 200 {
            return serde_json::from_str(&text)
                .map_err(|e| ApiError::BadResponse(format!("GET {path}: not JSON: {e}")));
        }
        // The API server explains itself in a meta/v1 `Status` object, whose `message` is
        // `omitempty` (left out when empty, never null): without one, the request stands in.
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| format!("GET {path}"));
        Err(match code {
            401 => ApiError::Unauthorized(message),
            403 => ApiError::Forbidden {
                user: forbidden_user(&message),
                message,
            },
            404 => ApiError::NotFound(message),
            code => ApiError::Status { code, message },
        })
    }

    /// A list, page by page (`limit`/`continue`), at most `max_pages` pages.
    pub fn list(
        &mut self,
        path: &str,
        selector: Option<&str>,
        max_pages: usize,
    ) -> Result<List, ApiError> {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..max_pages {
            let mut query = format!("{path}?limit={PAGE_LIMIT}");
            if let Some(selector) = selector {
                query.push_str(&format!("&labelSelector={}", encode(selector)));
            }
            if let Some(token) = &next {
                query.push_str(&format!("&continue={}", encode(token)));
            }
            let mut page = self.get(&query)?;
            next = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(String::from);
            // ListMeta's `continue` is `omitempty`: left out (or empty) on the last page. A
            // list's `items` has no omitempty: `null` is an empty page, as `[]` is (the server
            // itself always sends `[]`).
            match page.get_mut("items").map(Value::take) {
                Some(Value::Array(page_items)) => items.extend(page_items),
                Some(Value::Null) => {}
                _ => {
                    return Err(ApiError::BadResponse(format!(
                        "GET {query}: a list without `items`"
                    )))
                }
            }
            if next.is_none() {
                return Ok(List {
                    items,
                    truncated: false,
                });
            }
        }
        Ok(List {
            items,
            truncated: true,
        })
    }
}

/// The token, read now: kubelet replaces projected tokens before they expire.
fn read_token(path: &Path) -> Result<String, TokenError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TOKEN_BYTES).read_to_end(&mut bytes))
        .map_err(|source| TokenError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
    let token = String::from_utf8(bytes).map_err(|_| TokenError::NotText(path.to_path_buf()))?;
    let token = token.trim();
    // A header value cannot carry control characters; say so without showing the token.
    if token.is_empty() || token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(TokenError::Unusable(path.to_path_buf()));
    }
    Ok(token.to_string())
}

/// How a request failed below HTTP: the same vocabulary as the `tcp` and `http` probes.
fn classify(error: &HttpError, trace: &Trace, timeout: Duration) -> ApiError {
    if let Some(failure) = &trace.connect_failure {
        let peer = trace.peer.map(|p| p.to_string()).unwrap_or_default();
        let icmp = failure
            .icmp
            .as_ref()
            .map(|i| format!(", ICMP from {}", i.from))
            .unwrap_or_default();
        let what = format!(
            "connect to {peer}: {}{icmp} ({})",
            failure.outcome.as_str(),
            failure.detail
        );
        return if failure.outcome == TcpOutcome::Timeout {
            ApiError::Timeout(what)
        } else {
            ApiError::Unreachable(what)
        };
    }
    let handshaking = trace.connected_at.is_some() && trace.tls_done_at.is_none();
    match error {
        HttpError::Timeout(_) => ApiError::Timeout(format!(
            "no complete answer within {} ms{}",
            timeout.as_millis() as u64,
            if handshaking { " (TLS handshake)" } else { "" }
        )),
        HttpError::Tls(e) => ApiError::Tls(e.to_string()),
        other => ApiError::BadResponse(other.to_string()),
    }
}

/// `User "system:serviceaccount:default:default"` from a Forbidden message.
fn forbidden_user(message: &str) -> Option<String> {
    let after = message.split_once("User \"")?.1;
    Some(after.split_once('"')?.0.to_string())
}

/// Percent-encoding of a path segment or query value (RFC 3986 unreserved kept).
pub fn encode(text: &str) -> String {
    percent_encode(text, |b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_now_and_never_shown() {
        let dir = std::env::temp_dir().join(format!("svcprobe-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        std::fs::write(&token, "abc\n").unwrap();
        // Re-read on every request, trimmed; bad contents are named without being shown.
        assert_eq!(read_token(&token).unwrap(), "abc");
        std::fs::write(&token, "secret value\n").unwrap();
        let error = read_token(&token).unwrap_err();
        assert!(matches!(error, TokenError::Unusable(_)), "{error:?}");
        assert!(!error.to_string().contains("secret"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            read_token(&token),
            Err(TokenError::Unreadable { .. })
        ));
    }

    #[test]
    fn the_forbidden_user_is_the_one_the_server_named() {
        let message = "services \"x\" is forbidden: User \"system:serviceaccount:probe:svcprobe\" cannot get resource \"services\" in API group \"\" in the namespace \"default\"";
        assert_eq!(
            forbidden_user(message).as_deref(),
            Some("system:serviceaccount:probe:svcprobe")
        );
        assert_eq!(forbidden_user("Forbidden"), None);
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(
            encode("kubernetes.io/service-name=web"),
            "kubernetes.io%2Fservice-name%3Dweb"
        );
    }
}
