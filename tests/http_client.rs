//! svcprobe's own HTTP/1.1 client (src/probe/http1.rs and agent.rs) against real servers in
//! the test binary's private network namespace: Python's `http.server` sending chunked
//! bodies with extensions and trailers, an interim 103, conflicting lengths, a cut body and
//! a head trickled a byte at a time; raw replies of peers that are not HTTP; `openssl
//! s_server` for HTTPS verified against roots, unverified, under the wrong name, and with
//! its bytes trickled through a relay; a rustls server that ends a close-delimited body
//! without close_notify. Needs root, python3 and openssl (scripts/deps.sh).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{bin, netns};
use serde_json::Value;

/// The Python server: one handler per path, each writing what a real server sends (the
/// chunked framing written out by the handler, as http.server has no chunked writer).
const PYTHON_SERVER: &str = r#"
import http.server, sys, time

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            for part in (b"hello", b", ", b"world"):
                self.wfile.write(b"%x;part=%d\r\n%s\r\n" % (len(part), len(part), part))
                self.wfile.flush()
                time.sleep(0.02)
            self.wfile.write(b"0\r\nX-Checksum: 12\r\n\r\n")
        elif self.path == "/early-hints":
            self.send_response_only(103)
            self.send_header("Link", "</style.css>; rel=preload")
            self.end_headers()
            time.sleep(0.02)
            body = b"after the hints\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/conflicting-length":
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"hello!")
        elif self.path == "/cut-chunk":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"a\r\nhalf")
            self.close_connection = True
        elif self.path == "/trickle":
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 100:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A server process in the private namespace, stopped (by its PID) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python_server() -> Server {
    let mut child = netns::private()
        .command("python3")
        .args(["-c", PYTHON_SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3 (scripts/deps.sh installs it)");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let port: u16 = String::from_utf8_lossy(&line)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("python3 printed no port: {line:?}"));
    Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    }
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `openssl s_server -WWW` on `port` of every address, serving `hello.txt` from a directory of its own.
fn openssl_server(port: u16) -> Server {
    let dir = std::env::temp_dir().join(format!("svcprobe-s_server-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("s_server directory");
    std::fs::write(dir.join("hello.txt"), "hello over TLS\n").expect("hello.txt");
    let child = netns::private()
        .command("openssl")
        // Every address of the namespace's loopback: 127.0.0.2 too, which the
        // certificate does not name.
        .args(["s_server", "-quiet", "-WWW", "-accept"])
        .arg(port.to_string())
        .args(["-cert", &fixture("leaf.pem"), "-key", &fixture("leaf.key")])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while netns::private()
        .run(|| TcpStream::connect_timeout(&addr, Duration::from_millis(100)))
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "s_server did not start"
        );
        thread::sleep(Duration::from_millis(20));
    }
    Server { child, addr }
}

/// One run of svcprobe in the namespace, killed after 10 s: exit code, JSON, wall time.
fn svcprobe(args: &[&str]) -> (Option<i32>, Value, Duration) {
    let start = Instant::now();
    let mut child = netns::private()
        .command(bin::svcprobe())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start svcprobe");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break child.wait().expect("wait for the killed svcprobe");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let wall = start.elapsed();
    let mut stdout = String::new();
    let _ = child
        .stdout
        .take()
        .map(|mut s| s.read_to_string(&mut stdout));
    bin::assert_documented_exit(status, &format!("{args:?}: {stdout}"));
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (status.code(), json, wall)
}

/// The first attempt of an `http` run.
fn attempt(args: &[&str]) -> (Value, Option<i32>, Duration) {
    let (code, json, wall) = svcprobe(args);
    (json["attempts"][0].clone(), code, wall)
}

#[test]
fn chunked_bodies_interim_responses_and_bad_framing_from_python() {
    let server = python_server();
    let url = |path: &str| format!("http://{}{path}", server.addr);

    let (a, code, _) = attempt(&["http", &url("/chunked")]);
    assert_eq!(
        (&a["outcome"], code),
        (&Value::from("response"), Some(0)),
        "{a}"
    );
    assert_eq!(a["body_excerpt"], "hello, world", "{a}");
    assert_eq!(a["body_bytes"], 12, "{a}");

    let (a, code, _) = attempt(&["http", &url("/early-hints")]);
    assert_eq!((&a["status"], code), (&Value::from(200), Some(0)), "{a}");
    assert_eq!(a["body_excerpt"], "after the hints", "{a}");

    let (a, code, _) = attempt(&["http", &url("/conflicting-length")]);
    assert_eq!(
        (&a["outcome"], code),
        (&Value::from("protocol"), Some(1)),
        "{a}"
    );
    assert_eq!(a["detail"], "conflicting content-length headers", "{a}");

    let (a, code, _) = attempt(&["http", &url("/cut-chunk")]);
    assert_eq!(
        (&a["outcome"], code),
        (&Value::from("closed"), Some(1)),
        "{a}"
    );
    assert_eq!(
        (&a["status"], &a["body_bytes"]),
        (&Value::from(200), &Value::from(4)),
        "{a}"
    );

    // A head trickled at 5 bytes a second never completes: the deadline ends the attempt.
    let (a, code, wall) = attempt(&["http", &url("/trickle"), "--timeout", "1s"]);
    assert_eq!(
        (&a["outcome"], code),
        (&Value::from("timeout"), Some(1)),
        "{a}"
    );
    assert_eq!(a["timeout_phase"], "response", "{a}");
    assert!(a["timing"]["first_byte_ms"].is_f64(), "{a}");
    assert!(wall < Duration::from_millis(2500), "{wall:?}");
}

#[test]
fn https_against_openssl_s_server() {
    let server = openssl_server(18443);
    let url = format!("https://{}/hello.txt", server.addr);
    let ca = fixture("ca.pem");

    let (a, code, _) = attempt(&["http", &url, "--cacert", &ca]);
    assert_eq!((&a["status"], code), (&Value::from(200), Some(0)), "{a}");
    assert_eq!(a["body_excerpt"], "hello over TLS", "{a}");
    assert!(a["timing"]["tls_ms"].is_f64(), "{a}");

    let (a, code, _) = attempt(&["http", &url, "--insecure"]);
    assert_eq!((&a["status"], code), (&Value::from(200), Some(0)), "{a}");

    // Roots that did not sign the chain, and an address the certificate does not name.
    let (a, code, _) = attempt(&["http", &url, "--cacert", &fixture("leaf.pem")]);
    assert_eq!((&a["outcome"], code), (&Value::from("tls"), Some(1)), "{a}");
    assert_eq!(
        a["detail"], "invalid peer certificate: UnknownIssuer",
        "{a}"
    );
    let other = format!("https://127.0.0.2:{}/hello.txt", server.addr.port());
    let (a, _, _) = attempt(&["http", &other, "--cacert", &ca]);
    assert_eq!(a["outcome"], "tls", "{a}");
    assert!(
        a["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not valid for name \"127.0.0.2\"")),
        "{a}"
    );
    // ... which --insecure does not check.
    let (a, code, _) = attempt(&["http", &other, "--insecure"]);
    assert_eq!((&a["status"], code), (&Value::from(200), Some(0)), "{a}");

    // The server's bytes a few at a time: the handshake cannot finish before the deadline.
    let relay = trickle_relay(server.addr);
    let slow = format!("https://{relay}/hello.txt");
    let (a, code, wall) = attempt(&["http", &slow, "--insecure", "--timeout", "1s"]);
    assert_eq!(
        (&a["outcome"], code),
        (&Value::from("timeout"), Some(1)),
        "{a}"
    );
    assert_eq!(a["timeout_phase"], "connect", "{a}");
    assert!(wall < Duration::from_millis(2500), "{wall:?}");
}

/// A relay to `upstream` that passes the client's bytes on at once and the server's one
/// every 50 ms.
fn trickle_relay(upstream: SocketAddr) -> SocketAddr {
    let listener = netns::private().run(|| TcpListener::bind("127.0.0.1:0").expect("bind"));
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = netns::private().run(|| TcpStream::connect(upstream)) else {
                continue;
            };
            let (Ok(mut up), Ok(mut down)) = (client.try_clone(), server.try_clone()) else {
                continue;
            };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = up.read(&mut buf) {
                    if down.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
            thread::spawn(move || {
                let (mut from, mut to) = (server, client);
                let mut byte = [0u8; 1];
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(5)
                    && from.read(&mut byte).unwrap_or(0) == 1
                {
                    if to.write_all(&byte).is_err() {
                        break;
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            });
        }
    });
    addr
}

#[test]
fn a_body_read_until_close_that_ends_without_close_notify_is_closed() {
    let config = common::tls::server_config(&fixture("leaf.pem"), &fixture("leaf.key"));
    let listener = netns::private().run(|| TcpListener::bind("127.0.0.1:0").expect("bind"));
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for mut tcp in listener.incoming().flatten() {
            let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
            let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
            let mut buf = [0u8; 4096];
            if tls.read(&mut buf).is_ok() {
                // No length, no chunks: the body ends with the connection; then TCP's FIN
                // without TLS's close_notify, which could as well be an attacker's cut.
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\n\r\nmaybe the whole body");
                let _ = tls.flush();
            }
        }
    });
    let url = format!("https://{addr}/");
    let (a, code, _) = attempt(&["http", &url, "--cacert", &fixture("ca.pem")]);
    assert_eq!(
        (&a["outcome"], code),
        (&Value::from("closed"), Some(1)),
        "{a}"
    );
    assert_eq!(a["body_excerpt"], "maybe the whole body", "{a}");
    assert!(
        a["detail"]
            .as_str()
            .is_some_and(|d| d.contains("close_notify")),
        "{a}"
    );
}

/// A listener in the namespace whose every connection gets `reply` once the request's
/// head is in, then is held open for `hold` (or closed at once).
fn raw_server(reply: &'static [u8], hold: Duration) -> SocketAddr {
    let listener = netns::private().run(|| TcpListener::bind("127.0.0.1:0").expect("bind"));
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for mut tcp in listener.incoming().flatten() {
            thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf) {
                        Ok(n @ 1..) => request.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                let _ = tcp.write_all(reply);
                thread::sleep(hold);
            });
        }
    });
    addr
}

/// A port that speaks another protocol is `protocol` from its first bytes: an SSH server
/// writes its banner and waits for ours (no blank line ever comes, so a reader waiting for
/// one would report a timeout), an HTTP/2-only server answers with a GOAWAY and closes.
#[test]
fn a_peer_that_is_not_http_is_protocol_at_once() {
    let ssh = raw_server(
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
        Duration::from_secs(6),
    );
    let (a, code, wall) = attempt(&["http", &format!("http://{ssh}/"), "--timeout", "5s"]);
    assert_eq!(
        (&a["outcome"], code),
        (&Value::from("protocol"), Some(1)),
        "{a}"
    );
    assert_eq!(a["detail"], "malformed status line", "{a}");
    assert!(wall < Duration::from_secs(4), "{wall:?}");

    let h2 = raw_server(
        b"\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",
        Duration::ZERO,
    );
    let (a, _, _) = attempt(&["http", &format!("http://{h2}/")]);
    assert_eq!(a["outcome"], "protocol", "{a}");
}

/// `body_truncated` is exact at `--max-body`: a body of exactly that many bytes is whole
/// only when its end follows (Content-Length met, or the close), and one byte more, a
/// declared length the server then cuts, or an end that does not come before the deadline
/// all mean more was due than was kept.
#[test]
fn the_truncation_flag_is_exact_at_max_body() {
    let cases: [(&'static [u8], Duration, bool); 5] = [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfour",
            Duration::ZERO,
            false,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfive!",
            Duration::ZERO,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nfour",
            Duration::ZERO,
            true,
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nfour", Duration::ZERO, false),
        (b"HTTP/1.1 200 OK\r\n\r\nfour", Duration::from_secs(3), true),
    ];
    for (reply, hold, truncated) in cases {
        let server = raw_server(reply, hold);
        let url = format!("http://{server}/");
        let args = ["http", &url, "--max-body", "4", "--timeout", "1s"];
        let (a, _, _) = attempt(&args);
        assert_eq!(
            (&a["outcome"], &a["body_bytes"], &a["body_truncated"]),
            (
                &Value::from("response"),
                &Value::from(4),
                &Value::from(truncated)
            ),
            "{}: {a}",
            String::from_utf8_lossy(reply)
        );
    }
}

/// node reads kube-proxy's bodies only when whole: a `/metrics` longer than its cap, cut
/// there, could end mid-number (`..._last_timestamp_seconds 1.7` for 1.764e9, a sync that
/// looks ages old), so a truncated body is not handed on.
#[test]
fn node_gets_a_kube_proxy_body_only_when_whole() {
    let reply: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 62\r\n\r\n\
        kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.764464e+09";
    let server = raw_server(reply, Duration::ZERO);
    let get = |max_body| {
        netns::private().run(|| {
            svcprobe::node::kubeproxy::get(server, "/metrics", Duration::from_secs(2), max_body)
        })
    };
    let (whole, body) = get(62);
    assert_eq!(whole.outcome, svcprobe::report::HttpOutcome::Response);
    assert_eq!(body.as_deref(), reply.get(reply.len() - 62..));
    let (cut, body) = get(55);
    assert_eq!(cut.status, Some(200));
    assert_eq!(body.map(String::from_utf8), None);
    assert_eq!(
        cut.detail.as_deref(),
        Some("body longer than 55 bytes: not read")
    );
}
