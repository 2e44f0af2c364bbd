//! The server side of HTTP, shared by the two commands that listen (`serve`, `exporter`):
//! reading a request head bounded in bytes and time, parsing its request line and the few
//! headers they need, writing a short `Connection: close` response, and the SIGTERM/SIGINT
//! handling that stops them cleanly. Each request gets one response on its own connection,
//! so nothing here keeps state between requests.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Names the calling thread (`ps -T`, `top -H`), at most 15 bytes, with `PR_SET_NAME`: what
/// `thread::Builder::name` comes to as well, through `pthread_setname_np` (src/thread_name.rs
/// in musl builds).
pub fn name_this_thread(name: &str) {
    let mut comm = [0u8; 16];
    for (to, from) in comm.iter_mut().zip(name.bytes().take(15)) {
        *to = from;
    }
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes from a buffer
    // that lives through the call; a failure leaves the thread unnamed, which is harmless.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, comm.as_ptr());
    }
}

/// After the response, how long to wait for the client to close (so that unread request
/// bytes do not turn our close into a RST that destroys the response).
const LINGER: Duration = Duration::from_millis(500);

/// What the request asked for, as far as the servers care.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// What follows `?` in the target, undecoded (see [`query_pairs`]).
    pub query: Option<&'a str>,
    pub host: Option<&'a str>,
    /// The header lines after the request line, for [`Request::header`].
    headers: &'a str,
}

impl<'a> Request<'a> {
    /// The value of the first header called `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.split('\n').find_map(|line| {
            let (key, value) = line.trim_end_matches('\r').split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Why a request could not be answered normally.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    BadRequest,
    HeadersTooLarge,
    TooSlow,
}

/// Reads until the end of the headers into `buffer` (its length is the cap on header
/// bytes); `Ok(None)` when the client closed before sending anything, `Ok(Some(n))` with
/// the length of the head (up to and without the blank line).
pub fn read_head(
    stream: &mut TcpStream,
    buffer: &mut [u8],
    deadline: Instant,
) -> Result<Option<usize>, Refusal> {
    let mut filled = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(Refusal::TooSlow);
        }
        let Some(space) = buffer.get_mut(filled..).filter(|s| !s.is_empty()) else {
            return Err(Refusal::HeadersTooLarge);
        };
        match stream.read(space) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(Refusal::BadRequest),
            Ok(n) => {
                let searched_from = filled.saturating_sub(3);
                filled += n;
                let head = buffer.get(..filled).unwrap_or_default();
                if let Some(end) = find_blank_line(head, searched_from) {
                    return Ok(Some(end));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Refusal::TooSlow)
            }
            Err(_) if filled == 0 => return Ok(None),
            Err(_) => return Err(Refusal::BadRequest),
        }
    }
}

/// Position of the first `\r\n\r\n` (or bare `\n\n`) at or after `from`.
pub fn find_blank_line(bytes: &[u8], from: usize) -> Option<usize> {
    let tail = bytes.get(from..)?;
    let crlf = tail.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = tail.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(from + a.min(b)),
        (a, b) => a.or(b).map(|p| from + p),
    }
}

/// Parses the request line and the Host header (pure, for tests).
pub fn parse_head(head: &[u8]) -> Result<Request<'_>, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| Refusal::BadRequest)?;
    let (request_line, headers) = text.split_once('\n').unwrap_or((text, ""));
    let mut parts = request_line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !method_ok || !version.starts_with("HTTP/1.") {
        return Err(Refusal::BadRequest);
    }
    let (target, authority) = split_target(target).ok_or(Refusal::BadRequest)?;
    let target = target.split('#').next().unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    let mut request = Request {
        method,
        path,
        query,
        host: authority,
        headers,
    };
    // RFC 9112 3.2.2: with an absolute-form target, the target's authority is the host and
    // any Host header is ignored.
    if request.host.is_none() {
        request.host = request.header("host");
    }
    Ok(request)
}

/// The origin-form target (`/path?query`) as it is, or an absolute-form one
/// (`http://authority/path?query`, RFC 9112 3.2.2: servers must accept it) split into its
/// path and query and its authority; `None` for anything else.
fn split_target(target: &str) -> Option<(&str, Option<&str>)> {
    if target.starts_with('/') {
        return Some((target, None));
    }
    let (scheme, rest) = target.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    (!authority.is_empty()).then_some((path, Some(authority)))
}

/// `name=value` pairs of a query string, percent-decoded (`+` is a space, as HTML forms and
/// Go's `url.ParseQuery` have it); `None` for an escape that is not two hex digits or bytes
/// that are not UTF-8 once decoded.
pub fn query_pairs(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            other => other,
        });
    }
    String::from_utf8(out).ok()
}

/// A refusal as its response.
pub fn refuse(refusal: Refusal) -> Vec<u8> {
    match refusal {
        Refusal::BadRequest => response(400, "text/plain", "bad request\n", false),
        Refusal::HeadersTooLarge => response(431, "text/plain", "headers too large\n", false),
        Refusal::TooSlow => response(408, "text/plain", "request timeout\n", false),
    }
}

/// A whole response with its length; the connection is closed after it.
pub fn response(status: u16, content_type: &str, body: &str, head_only: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    // A content type that names its own parameters (Prometheus's `version=0.0.4`) has its
    // charset already.
    let charset = if content_type.contains(';') {
        ""
    } else {
        "; charset=utf-8"
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}{charset}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Reads (and drops) what the client still sends until it closes, briefly and boundedly.
pub fn linger(stream: &mut TcpStream) {
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 1024];
    for _ in 0..64 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Blocks SIGTERM and SIGINT in this thread and the threads it spawns afterwards, so that
/// [`wait_for_signal`] alone takes them. Call it before any thread exists.
pub fn block_termination_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the mask call only
    // changes this thread's mask (inherited by the threads it spawns).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(set)
    }
}

/// Blocks until SIGTERM or SIGINT is pending, and names it.
pub fn wait_for_signal(set: &libc::sigset_t) -> String {
    loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: a valid, initialised set and an out-parameter.
        if unsafe { libc::sigwait(set, &mut signal) } == 0 {
            return match signal {
                libc::SIGTERM => "SIGTERM".into(),
                libc::SIGINT => "SIGINT".into(),
                other => format!("signal {other}"),
            };
        }
    }
}

/// Wakes every thread blocked in `accept` on `listener` (shutdown of a listening socket
/// makes it fail).
pub fn shut_listener(listener: &std::net::TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: shutdown on a socket we own; errors only mean it is already shut.
    unsafe {
        libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = parse_head(b"GET /echo?x=1 HTTP/1.1\r\nHost: 10.0.1.175\r\nA: b").unwrap();
        assert_eq!(
            (r.method, r.path, r.query, r.host),
            ("GET", "/echo", Some("x=1"), Some("10.0.1.175"))
        );
        assert_eq!(r.header("a"), Some("b"));
        assert_eq!(r.header("missing"), None);
        assert_eq!(parse_head(b"GET / HTTP/1.0").unwrap().host, None);
        let absolute =
            parse_head(b"GET http://10.0.1.175:80/echo?x HTTP/1.1\r\nHost: other").unwrap();
        assert_eq!(
            (absolute.path, absolute.query, absolute.host),
            ("/echo", Some("x"), Some("10.0.1.175:80"))
        );
        let bare = parse_head(b"GET HTTP://hostnames HTTP/1.1").unwrap();
        assert_eq!((bare.path, bare.host), ("/", Some("hostnames")));
        let fragment = parse_head(b"GET /probe#x?y HTTP/1.1").unwrap();
        assert_eq!((fragment.path, fragment.query), ("/probe", None));
        for bad in [
            &b""[..],
            b"GET /",
            b"get / HTTP/1.1",
            b"GET x HTTP/1.1",
            b"GET ftp://host/ HTTP/1.1",
            b"GET http:///path HTTP/1.1",
            b"GET / SPDY/3",
            b"GET  / HTTP/1.1",
            b"\xff\xfe / HTTP/1.1",
        ] {
            assert_eq!(parse_head(bad), Err(Refusal::BadRequest), "{bad:?}");
        }
    }

    #[test]
    fn queries() {
        let pairs = query_pairs("target=http%3A%2F%2Fhostnames%2F&module=http+x&debug").unwrap();
        assert_eq!(
            pairs,
            [
                ("target".into(), "http://hostnames/".into()),
                ("module".into(), "http x".into()),
                ("debug".into(), String::new())
            ]
        );
        assert_eq!(query_pairs("&&").unwrap(), []);
        for bad in ["a=%", "a=%4", "a=%zz", "a=%ff"] {
            assert_eq!(query_pairs(bad), None, "{bad}");
        }
    }

    #[test]
    fn blank_line() {
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\n\r\n", 0), Some(14));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\n\nxx", 0), Some(14));
        assert_eq!(find_blank_line(b"GET / HTTP/1.1\r\n", 0), None);
    }

    #[test]
    fn responses_have_length_and_close() {
        let r = String::from_utf8(response(200, "text/plain", "pod-a\n", false)).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Type: text/plain; charset=utf-8\r\n"));
        assert!(r.contains("Content-Length: 6\r\n") && r.contains("Connection: close\r\n"));
        assert!(r.ends_with("\r\n\r\npod-a\n"));
        let head = String::from_utf8(response(200, "text/plain", "pod-a\n", true)).unwrap();
        assert!(head.ends_with("\r\n\r\n"));
        let metrics = String::from_utf8(response(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            "",
            false,
        ))
        .unwrap();
        assert!(metrics.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    }
}
