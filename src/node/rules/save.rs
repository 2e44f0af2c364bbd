//! The fallback: the node's own `iptables-save`, run inside the host root (`chroot`, so it
//! finds its own libraries), and its text parsed (pure, fuzzed) into the same [`Rule`]s the
//! kernel readers give. Used only where the profile gives a host root and the kernel read
//! met rules it could not decode.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::kube::Reader;
use super::model::{self, Action, AddrMatch, Rule};
use super::netlink::ReadError;
use super::spawn;
use crate::decimal::parse_f64;

/// The most output read from one `iptables-save`.
const MAX_OUTPUT: u64 = 192 << 20;

/// The rules of one `iptables-save` output: table → chain → rules.
#[derive(Debug, Default)]
pub struct Saved {
    tables: HashMap<String, HashMap<String, Vec<Rule>>>,
}

impl Saved {
    pub fn rules(&self, table: &str, chain: &str) -> Option<&Vec<Rule>> {
        self.tables.get(table)?.get(chain)
    }
}

impl Reader for Saved {
    fn rules(
        &mut self,
        table: &str,
        chain: &str,
        keep: &dyn Fn(&Rule) -> bool,
    ) -> Result<Option<Vec<Rule>>, ReadError> {
        Ok(Saved::rules(self, table, chain)
            .filter(|rules| !rules.is_empty())
            .map(|rules| rules.iter().filter(|r| keep(r)).cloned().collect()))
    }
}

/// Where `program` is under `host_root` (`/usr/sbin`, `/sbin`, `/usr/bin`, `/bin`), as a
/// path inside it.
pub fn find(host_root: &Path, program: &str) -> Option<PathBuf> {
    ["usr/sbin", "sbin", "usr/bin", "bin"]
        .iter()
        .map(|dir| Path::new("/").join(dir).join(program))
        .find(|inside| {
            host_root
                .join(inside.strip_prefix("/").unwrap_or(inside))
                .exists()
        })
}

/// Runs `program` (a path inside `host_root`) chrooted there, killed at `deadline`.
pub fn run(host_root: &Path, program: &Path, deadline: Instant) -> Result<Saved, ReadError> {
    let mut child = spawn::spawn(host_root, program).map_err(ReadError::Io)?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or(ReadError::Malformed("no stdout"))?;
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let r = (&mut stdout).take(MAX_OUTPUT + 1).read_to_end(&mut text);
        r.map(|_| text)
    });
    let status = loop {
        match child.try_wait().map_err(ReadError::Io)? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                return Err(ReadError::Deadline);
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let text = reader
        .join()
        .map_err(|_| ReadError::Malformed("reader thread"))?
        .map_err(ReadError::Io)?;
    if text.len() as u64 > MAX_OUTPUT {
        return Err(ReadError::TooLarge);
    }
    if !status.success() {
        return Err(ReadError::Io(std::io::Error::other(format!(
            "{} exited with {status}",
            program.display()
        ))));
    }
    Ok(parse(&String::from_utf8_lossy(&text)))
}

/// Parses `iptables-save` output.
pub fn parse(text: &str) -> Saved {
    let mut saved = Saved::default();
    let mut table = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('*') {
            table = name.trim().to_string();
            saved.tables.entry(table.clone()).or_default();
        } else if let Some(chain) = line.strip_prefix(':') {
            let name = chain.split_whitespace().next().unwrap_or_default();
            if let Some(t) = saved.tables.get_mut(&table) {
                t.entry(name.to_string()).or_default();
            }
        } else if line.starts_with("-A ") {
            let words = split(line);
            if let (Some(chain), Some(t)) = (words.get(1), saved.tables.get_mut(&table)) {
                // iptables-save declares every chain (`:NAME`) before the first rule
                let rule = parse_rule(words.get(2..).unwrap_or_default(), &|c| t.contains_key(c));
                t.entry(chain.clone()).or_default().push(rule);
            }
        }
    }
    saved
}

/// Splits a line into words the way iptables-save quotes them (`"..."`, `\"` inside).
fn split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => word.extend(chars.next()),
                    '"' => break,
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

/// One rule's words after `-A CHAIN`; `is_chain` tells a user chain from a target.
fn parse_rule(words: &[String], is_chain: &dyn Fn(&str) -> bool) -> Rule {
    let mut rule = Rule::default();
    let mut negate = false;
    let mut i = 0;
    let next = |i: &mut usize| -> Option<&str> {
        *i += 1;
        words.get(*i).map(String::as_str)
    };
    while let Some(word) = words.get(i) {
        match word.as_str() {
            "!" => {
                negate = true;
                i += 1;
                continue;
            }
            "-s" | "--source" => rule.saddr = next(&mut i).and_then(|a| addr(a, negate)),
            "-d" | "--destination" => rule.daddr = next(&mut i).and_then(|a| addr(a, negate)),
            "-p" | "--protocol" => match (next(&mut i), negate) {
                (Some(p), false) => rule.l4proto = protocol(p),
                _ => rule.other.push("! -p".into()),
            },
            "-m" | "--match" => match next(&mut i) {
                Some("comment" | "statistic" | "tcp" | "udp" | "sctp") | None => {}
                Some(other) => rule.other.push(other.to_string()),
            },
            "--dport" | "--destination-port" => match (next(&mut i), negate) {
                (Some(p), false) => match p.parse() {
                    Ok(port) => rule.dport = Some(port),
                    Err(_) => rule.other.push(format!("--dport {p}")),
                },
                (p, _) => rule
                    .other
                    .push(format!("! --dport {}", p.unwrap_or_default())),
            },
            "--comment" => rule.comment = next(&mut i).map(str::to_string),
            "--mode" => match next(&mut i) {
                Some("random") => {}
                _ => rule.other.push("statistic (not random)".into()),
            },
            "--probability" => {
                let p = next(&mut i).and_then(parse_f64);
                if negate || p.is_none() {
                    rule.other.push("statistic (not random)".into());
                } else {
                    rule.probability = p;
                }
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                let goto = word.starts_with("-g") || word == "--goto";
                let target = next(&mut i).unwrap_or_default().to_string();
                rule.action = match target.as_str() {
                    "DNAT" => Action::Other("DNAT (no address)".into()),
                    "ACCEPT" | "DROP" | "RETURN" | "REJECT" => {
                        model::target_action(&target, 0, &[], false)
                    }
                    t if goto && is_chain(t) => Action::Goto(target),
                    t if is_chain(t) => Action::Jump(target),
                    _ => Action::Other(target),
                };
            }
            "--to-destination" => {
                if let Some((addr, port)) = next(&mut i).and_then(destination) {
                    rule.action = Action::Dnat { addr, port };
                }
            }
            _ => {}
        }
        negate = false;
        i += 1;
    }
    rule
}

fn addr(text: &str, negated: bool) -> Option<AddrMatch> {
    let (a, prefix) = text.split_once('/').unwrap_or((text, ""));
    let addr: std::net::IpAddr = a.parse().ok()?;
    let full = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = if prefix.is_empty() {
        full
    } else {
        prefix.parse().ok().filter(|p| *p <= full)?
    };
    Some(AddrMatch {
        addr,
        prefix,
        negated,
    })
}

fn protocol(name: &str) -> Option<u8> {
    match name {
        "tcp" => Some(6),
        "udp" => Some(17),
        "sctp" => Some(132),
        n => n.parse().ok(),
    }
}

/// `10.244.0.5:9376`, `[fd00::5]:80`, or an address alone.
fn destination(text: &str) -> Option<(std::net::IpAddr, Option<u16>)> {
    if let Ok(sa) = text.parse::<std::net::SocketAddr>() {
        return Some((sa.ip(), Some(sa.port())));
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse().ok().map(|a| (a, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = r#"# Generated by iptables-save v1.8.9
*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-X - [0:0]
:KUBE-SEP-A - [0:0]
-A KUBE-SERVICES -d 10.0.1.175/32 -p tcp -m comment --comment "default/hostnames:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-X
-A KUBE-SVC-X ! -s 10.244.0.0/16 -d 10.0.1.175/32 -p tcp -m comment --comment "x \"y\"" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-X -m comment --comment "default/hostnames:http -> 10.244.0.5:9376" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-A
-A KUBE-SVC-X -m recent --name KUBE-SEP-A --rcheck --seconds 10800 --reap -j KUBE-SEP-A
-A KUBE-SEP-A -s 10.244.0.5/32 -m comment --comment default/hostnames:http -j KUBE-MARK-MASQ
-A KUBE-SEP-A -p tcp -m comment --comment default/hostnames:http -m tcp -j DNAT --to-destination 10.244.0.5:9376
COMMIT
*filter
-A KUBE-SERVICES -d 10.0.1.176/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
"#;

    #[test]
    fn parses_kube_proxy_rules() {
        let s = parse(SAVED);
        let services = s.rules("nat", "KUBE-SERVICES").unwrap();
        assert!(services[0].matches_service("10.0.1.175".parse().unwrap(), 6, 80));
        assert_eq!(services[0].action, Action::Jump("KUBE-SVC-X".into()));
        assert_eq!(
            services[0].comment.as_deref(),
            Some("default/hostnames:http cluster IP")
        );
        let svc = s.rules("nat", "KUBE-SVC-X").unwrap();
        assert!(svc[0].saddr.unwrap().negated);
        assert_eq!(svc[0].comment.as_deref(), Some("x \"y\""));
        assert!((svc[1].probability.unwrap() - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(svc[2].other, ["recent"]);
        let sep = s.rules("nat", "KUBE-SEP-A").unwrap();
        assert!(sep[0].saddr.unwrap().is_host("10.244.0.5".parse().unwrap()));
        assert_eq!(
            sep[1].action,
            Action::Dnat {
                addr: "10.244.0.5".parse().unwrap(),
                port: Some(9376)
            }
        );
        assert!(s.rules("nat", "KUBE-SEP-B").is_none());
        let filter = s.rules("filter", "KUBE-SERVICES").unwrap();
        assert_eq!(filter[0].action, Action::Reject);
    }

    #[test]
    fn odd_lines_never_panic() {
        for line in [
            "-A",
            "-A C -s",
            "-A C ! ! -d x/99",
            "-A C -j DNAT --to-destination [::1",
            "-A C \"unterminated",
            "*",
            ":",
        ] {
            let _ = parse(&format!("*nat\n{line}\n"));
        }
        assert_eq!(
            destination("[fd00::5]:80"),
            Some(("fd00::5".parse().unwrap(), Some(80)))
        );
        assert_eq!(addr("10.0.0.0/33", false), None);
    }
}
