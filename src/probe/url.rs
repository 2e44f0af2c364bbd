//! `http://` and `https://` URLs, read the way the probes need them: the scheme, the host (a
//! name, an IPv4 address or an `[IPv6]` literal), the port, and the request target (path and
//! query, fragment dropped). Pure, so the command line validates a URL before any I/O and the
//! HTTP client reads the same URL the same way.
//!
//! The syntax accepted is what `http::Uri` (ureq's parser) accepted, checked byte class by
//! byte class, with two refusals it let through: a port that is not a number in 1..=65535
//! (it probed the scheme's default port instead), and credentials in the authority (it sent
//! them as Basic authorization, and the report would show them).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Longest URL taken, as `http::Uri`.
const MAX_LEN: usize = u16::MAX as usize - 1;
/// Longest scheme looked for before `://`, as `http::Uri`.
const MAX_SCHEME_LEN: usize = 64;

/// A URL the HTTP client can fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub https: bool,
    /// As written, brackets included for IPv6 (`[fd00::1]`): what `Host:` carries.
    pub host: String,
    /// Given, or the scheme's default.
    pub port: u16,
    /// Path and query, `/` when the URL has no path.
    pub target: String,
}

impl HttpUrl {
    /// `http://ADDR` with this path: a backend or kube-proxy, by address.
    pub fn http(addr: SocketAddr, target: &str) -> HttpUrl {
        let host = match addr.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        HttpUrl {
            https: false,
            host,
            port: addr.port(),
            target: target.to_string(),
        }
    }

    /// The host without the brackets of an IPv6 literal: what TLS names and resolvers take.
    pub fn bare_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// The `Host:` header: the port only when it is not the scheme's default (RFC 9110, 7.2).
    pub fn authority(&self) -> String {
        if self.port == default_port(self.https) {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn default_port(https: bool) -> u16 {
    if https {
        443
    } else {
        80
    }
}

/// Why a text is not a URL the probes can fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not URL syntax at all.
    Syntax(Syntax),
    /// A scheme other than http and https.
    Scheme(String),
    /// No `scheme://` (e.g. `10.0.1.175` or `hostnames:80`).
    NoScheme,
    /// `http://:80/`.
    NoHost,
    PortZero,
    /// `http://user:password@host/`.
    Credentials,
}

/// The syntax errors, in `http::Uri`'s words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    Empty,
    TooLong,
    SchemeTooLong,
    InvalidUriChar,
    InvalidAuthority,
    InvalidFormat,
    InvalidPort,
}

impl fmt::Display for Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Syntax::Empty => "empty string",
            Syntax::TooLong => "uri too long",
            Syntax::SchemeTooLong => "scheme too long",
            Syntax::InvalidUriChar => "invalid uri character",
            Syntax::InvalidAuthority => "invalid authority",
            Syntax::InvalidFormat => "invalid format",
            Syntax::InvalidPort => "invalid port",
        })
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Syntax(s) => write!(f, "not a URL: {s}"),
            UrlError::Scheme(s) => write!(f, "`{s}` URLs are not supported (http, https)"),
            UrlError::NoScheme => f.write_str("no scheme"),
            UrlError::NoHost => f.write_str("no host"),
            UrlError::PortZero => f.write_str("port 0"),
            UrlError::Credentials => f.write_str("credentials in a URL are not supported"),
        }
    }
}

impl std::error::Error for UrlError {}

impl From<Syntax> for UrlError {
    fn from(s: Syntax) -> UrlError {
        UrlError::Syntax(s)
    }
}

/// Reads `text` as an http or https URL.
pub fn parse(text: &str) -> Result<HttpUrl, UrlError> {
    if text.is_empty() {
        return Err(Syntax::Empty.into());
    }
    if text.len() > MAX_LEN {
        return Err(Syntax::TooLong.into());
    }
    let Some((scheme, rest)) = split_scheme(text)? else {
        return Err(without_scheme(text));
    };
    // In `http::Uri`'s order: the syntax of the whole, then what svcprobe can fetch.
    if rest.is_empty() {
        return Err(Syntax::Empty.into());
    }
    let end = authority_end(rest)?;
    if end == 0 {
        return Err(Syntax::InvalidFormat.into());
    }
    let (authority, path) = rest.split_at(end);
    let target = request_target(path)?;
    let https = if scheme.eq_ignore_ascii_case("http") {
        false
    } else if scheme.eq_ignore_ascii_case("https") {
        true
    } else {
        return Err(UrlError::Scheme(scheme.to_string()));
    };
    let (host, port) = host_and_port(authority)?;
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    let port = match port {
        Some(0) => return Err(UrlError::PortZero),
        Some(p) => p,
        None => default_port(https),
    };
    Ok(HttpUrl {
        https,
        host: host.to_string(),
        port,
        target,
    })
}

/// `scheme` and what follows `://`, or None when the text has no scheme.
fn split_scheme(text: &str) -> Result<Option<(&str, &str)>, Syntax> {
    let bytes = text.as_bytes();
    if bytes.len() <= 3 {
        return Ok(None);
    }
    for (i, b) in bytes.iter().enumerate() {
        if *b == b':' {
            if bytes.get(i + 1..i + 3) != Some(b"//") {
                return Ok(None);
            }
            if i > MAX_SCHEME_LEN {
                return Err(Syntax::SchemeTooLong);
            }
            return Ok(text.get(..i).zip(text.get(i + 3..)));
        }
        if !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'~')) {
            return Ok(None);
        }
    }
    Ok(None)
}

/// The error for a text without `scheme://`: a syntax error where `http::Uri` found one,
/// else the missing scheme.
fn without_scheme(text: &str) -> UrlError {
    let checked = if text.starts_with('/') {
        request_target(text).map(drop).map_err(UrlError::from)
    } else if text == "*" {
        Ok(())
    } else {
        match authority_end(text) {
            Ok(end) if end != text.len() => Err(Syntax::InvalidFormat.into()),
            Ok(_) | Err(UrlError::Credentials) => Ok(()),
            Err(e) => Err(e),
        }
    };
    checked.err().unwrap_or(UrlError::NoScheme)
}

/// Where the authority ends (at `/`, `?`, `#` or the end), its bytes checked as
/// `http::Uri` checks them.
fn authority_end(s: &str) -> Result<usize, UrlError> {
    let mut colons = 0;
    let (mut open, mut close, mut percent) = (false, false, false);
    let mut at = None;
    let mut end = s.len();
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'/' | b'?' | b'#' => {
                end = i;
                break;
            }
            b'%' => percent = true,
            b':' if colons >= 8 => return Err(Syntax::InvalidAuthority.into()),
            b':' => colons += 1,
            b'[' if percent || open => return Err(Syntax::InvalidAuthority.into()),
            b'[' => open = true,
            b']' if !open || close => return Err(Syntax::InvalidAuthority.into()),
            b']' => {
                close = true;
                // The colons and a zone's `%` were the IPv6 literal's.
                (colons, percent) = (0, false);
            }
            b'@' => {
                at = Some(i);
                (colons, percent) = (0, false);
            }
            _ if is_uri_char(b) => {}
            _ => return Err(Syntax::InvalidUriChar.into()),
        }
    }
    if open != close || colons > 1 || percent || (end > 0 && at == Some(end - 1)) {
        return Err(Syntax::InvalidAuthority.into());
    }
    if at.is_some() {
        return Err(UrlError::Credentials);
    }
    Ok(end)
}

/// The characters `http::Uri` allows in an authority besides the delimiters handled above.
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'-'
                | b'.'
                | b';'
                | b'='
                | b'_'
                | b'~'
        )
}

/// Host (brackets kept) and port of a checked authority; an empty port is the default one
/// (RFC 3986, 3.2.3).
fn host_and_port(authority: &str) -> Result<(&str, Option<u16>), Syntax> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let close = v6.find(']').ok_or(Syntax::InvalidAuthority)?;
            let (inner, after) = v6.split_at(close + 1);
            let host = authority.get(..inner.len() + 1).unwrap_or(authority);
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or(Syntax::InvalidAuthority)?),
                ),
            }
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| Syntax::InvalidPort)?)
        }
        Some(_) => return Err(Syntax::InvalidPort),
    };
    Ok((host, port))
}

/// The origin-form target (RFC 9112, 3.2.1) of the URL's path and query: `/` for an empty
/// path, the fragment dropped. Bytes are checked as `http::Uri` checks them; those outside
/// ASCII, which it let through, are percent-encoded.
fn request_target(path: &str) -> Result<String, Syntax> {
    let path = path.split_once('#').map_or(path, |(p, _)| p);
    let (before, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let path_ok = |b: u8| matches!(b, 0x21 | 0x22 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7D | 0x7E | 0x80..);
    let query_ok = |b: u8| matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E | 0x80..);
    if !before.bytes().all(path_ok) || !query.unwrap_or("").bytes().all(query_ok) {
        return Err(Syntax::InvalidUriChar);
    }
    let slash = if before.is_empty() { "/" } else { "" };
    let target = match query {
        Some(q) => format!("{slash}{before}?{q}"),
        None => format!("{slash}{before}"),
    };
    // The target as it may go on the wire: ASCII only (RFC 9112, 3.2), each byte of a
    // non-ASCII character's UTF-8 percent-encoded (RFC 3987, 3.1), as curl sends it.
    Ok(percent_encode(&target, |b| b.is_ascii()))
}

/// `text` with every byte that `keep` refuses written as `%XX` (RFC 3986, 2.1).
pub fn percent_encode(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match keep(b) {
            true => out.push(char::from(b)),
            false => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(https: bool, host: &str, port: u16, target: &str) -> HttpUrl {
        HttpUrl {
            https,
            host: host.into(),
            port,
            target: target.into(),
        }
    }

    #[test]
    fn what_is_read() {
        let cases = [
            ("http://10.0.1.175", url(false, "10.0.1.175", 80, "/")),
            (
                "HTTPS://a.b:8443/x?y=1#frag",
                url(true, "a.b", 8443, "/x?y=1"),
            ),
            ("http://[fd00::1]:8080/", url(false, "[fd00::1]", 8080, "/")),
            ("https://[fd00::1]", url(true, "[fd00::1]", 443, "/")),
            ("http://a:/p", url(false, "a", 80, "/p")),
            ("http://a?q", url(false, "a", 80, "/?q")),
            ("http://a#f", url(false, "a", 80, "/")),
            // Bytes outside ASCII cannot go on the wire (RFC 9112, 3.2): UTF-8, percent-
            // encoded (RFC 3987, 3.1), as curl sends them.
            (
                "http://a/{\"j\"}/ü?q=é",
                url(false, "a", 80, "/{\"j\"}/%C3%BC?q=%C3%A9"),
            ),
            ("http://a/p?x/?y", url(false, "a", 80, "/p?x/?y")),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn the_host_header_and_the_bare_host() {
        let v6 = parse("https://[fd00::1]:6443/x").unwrap();
        assert_eq!(
            (v6.authority().as_str(), v6.bare_host()),
            ("[fd00::1]:6443", "fd00::1")
        );
        let v4 = parse("http://10.0.0.1:80/").unwrap();
        assert_eq!(
            (v4.authority().as_str(), v4.bare_host()),
            ("10.0.0.1", "10.0.0.1")
        );
        assert_eq!(parse("https://a:80/").unwrap().authority(), "a:80");
    }

    #[test]
    fn what_is_refused_and_why() {
        use Syntax::*;
        let cases: &[(&str, UrlError)] = &[
            ("", Empty.into()),
            ("10.0.1.175", UrlError::NoScheme),
            ("hostnames:80", UrlError::NoScheme),
            ("/x", UrlError::NoScheme),
            ("hostnames/x", InvalidFormat.into()),
            ("ftp://x/", UrlError::Scheme("ftp".into())),
            ("http://", Empty.into()),
            ("http:///x", InvalidFormat.into()),
            ("http://:80/", UrlError::NoHost),
            ("http://a:0/", UrlError::PortZero),
            ("http://a:65536/", InvalidPort.into()),
            ("http://a:8o/", InvalidPort.into()),
            ("http://a:1:2/", InvalidAuthority.into()),
            ("http://[::1/", InvalidAuthority.into()),
            ("http://[::1]x/", InvalidAuthority.into()),
            ("http://a%41/", InvalidAuthority.into()),
            ("http://a b/", InvalidUriChar.into()),
            ("http://é/", InvalidUriChar.into()),
            ("http://a/b c", InvalidUriChar.into()),
            ("http://a/?<", InvalidUriChar.into()),
            ("http://u:p@a/", UrlError::Credentials),
            ("http://a@/", InvalidAuthority.into()),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).as_ref(), Err(want), "{text}");
        }
        let long_scheme = format!("{}://a/", "x".repeat(65));
        assert_eq!(parse(&long_scheme), Err(SchemeTooLong.into()));
        let long = format!("http://a/{}", "x".repeat(MAX_LEN));
        assert_eq!(parse(&long), Err(TooLong.into()));
    }
}
