//! The guide's `ps auxw | grep kube-proxy` and `ps auxw | grep kubelet`, without `ps`: the
//! command lines of the host PID namespace's processes (`/proc/PID/cmdline`, readable
//! without privileges), with kube-proxy's and kubelet's flags read the way their flag
//! library reads them (`--flag=value` or `--flag value`).
//!
//! `/proc` is the host's in every `kubectl debug node` profile (they share the host's PID
//! namespace), so the scan sees kube-proxy whether it runs as a DaemonSet pod or a systemd
//! unit. It is bounded: at most [`MAX_PROCESSES`] processes, 64 KiB of each command line,
//! and the caller's deadline.

use std::path::Path;
use std::time::Instant;

use crate::report::{OtherProxy, ProcessEvidence, ProcessInfo};

/// A node runs a few thousand processes; this keeps a pathological one bounded.
pub const MAX_PROCESSES: usize = 100_000;
/// Bytes of one command line read (Linux caps the argument area at 2 MiB).
const MAX_CMDLINE: u64 = 64 * 1024;
/// Bytes of each argument kept in the report.
const MAX_ARG: usize = 256;
/// Arguments of each process kept in the report.
const MAX_ARGS: usize = 64;

/// Service implementations that replace kube-proxy, by program name, with what to run
/// instead of `iptables-save`.
const OTHER_PROXIES: &[(&str, &str)] = &[
    (
        "cilium-agent",
        "Cilium (with kubeProxyReplacement it programs Services in eBPF, not iptables): run \
         `cilium-dbg service list` in the cilium pod on this node",
    ),
    (
        "kube-router",
        "kube-router (--run-service-proxy programs Services with IPVS): `ipvsadm -ln` on \
         this node",
    ),
    (
        "antrea-agent",
        "Antrea (with proxyAll it replaces kube-proxy in OVS): `antctl get servicelist` in \
         the antrea-agent pod",
    ),
    (
        "calico-node",
        "Calico (in eBPF mode it replaces kube-proxy): `calico-node -bpf nat dump` in the \
         calico-node pod",
    ),
    (
        "ovnkube",
        "OVN-Kubernetes (Services are OVN load balancers): `ovn-nbctl lb-list` in the ovnkube \
         pod",
    ),
];

/// The command line of one process, split at NUL bytes as the kernel stores it.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let trimmed = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed
        .split(|&b| b == 0)
        .take(MAX_ARGS)
        .map(|arg| {
            let cut = arg.get(..MAX_ARG).unwrap_or(arg);
            String::from_utf8_lossy(cut).into_owned()
        })
        .collect()
}

/// The program's name: the last path component of `argv[0]`.
pub fn program(argv: &[String]) -> &str {
    argv.first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("")
}

/// The value of `--name` in `argv` (`--name=value` or `--name value`; Go's pflag also
/// takes a single dash). The last one given wins, as in pflag.
pub fn flag_value<'a>(argv: &'a [String], name: &str) -> Option<&'a str> {
    let mut found = None;
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let Some(bare) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|b| b.starts_with(name))
        else {
            continue;
        };
        match bare.get(name.len()..) {
            Some("") => found = args.next().map(String::as_str),
            Some(rest) if rest.starts_with('=') => found = Some(&rest[1..]),
            _ => {}
        }
    }
    found
}

/// Sorts one process into the evidence: kube-proxy, kubelet, another proxy, or nothing.
pub fn classify(pid: u32, argv: Vec<String>, evidence: &mut ProcessEvidence) {
    let name = program(&argv).to_string();
    match name.as_str() {
        "kube-proxy" => evidence.kube_proxy.push(ProcessInfo { pid, argv }),
        "kubelet" => evidence.kubelet.push(ProcessInfo { pid, argv }),
        _ => {
            if let Some((program, note)) = OTHER_PROXIES
                .iter()
                .find(|(p, _)| name == *p || (*p == "ovnkube" && name.starts_with("ovnkube")))
            {
                evidence.other_proxies.push(OtherProxy {
                    pid,
                    program: program.to_string(),
                    note,
                });
            }
        }
    }
}

/// Reads every `/proc/PID/cmdline` under `proc` until `until`.
pub fn scan(proc: &Path, until: Instant) -> std::io::Result<ProcessEvidence> {
    let mut evidence = ProcessEvidence::default();
    for entry in std::fs::read_dir(proc)? {
        if Instant::now() >= until || evidence.scanned >= MAX_PROCESSES {
            evidence.truncated = true;
            break;
        }
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may end between the listing and the read: it is then not there.
        let Ok(bytes) = super::read_capped(&entry.path().join("cmdline"), MAX_CMDLINE) else {
            continue;
        };
        evidence.scanned += 1;
        classify(pid, parse_cmdline(&bytes), &mut evidence);
    }
    evidence.kube_proxy.sort_by_key(|p| p.pid);
    evidence.kubelet.sort_by_key(|p| p.pid);
    evidence.other_proxies.sort_by_key(|p| p.pid);
    Ok(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn cmdlines_as_the_kernel_stores_them() {
        assert_eq!(
            parse_cmdline(b"/usr/local/bin/kube-proxy\0--config=/var/lib/kube-proxy/config.conf\0"),
            vec![
                "/usr/local/bin/kube-proxy",
                "--config=/var/lib/kube-proxy/config.conf"
            ]
        );
        assert_eq!(parse_cmdline(b""), Vec::<String>::new());
        // a kernel thread has an empty cmdline; a process that rewrote its own has no NUL
        assert_eq!(parse_cmdline(b"nginx: worker"), vec!["nginx: worker"]);
        let long = vec![b'a'; 1000];
        assert_eq!(parse_cmdline(&long)[0].len(), MAX_ARG);
        assert_eq!(parse_cmdline(&[0u8; 500]).len(), MAX_ARGS);
        assert_eq!(parse_cmdline(b"\xff\xfe\0x"), vec!["\u{fffd}\u{fffd}", "x"]);
    }

    #[test]
    fn flags_as_pflag_reads_them() {
        let a = argv(
            "/usr/local/bin/kubelet --v=2 --hairpin-mode promiscuous-bridge --config=/var/lib/kubelet/config.yaml",
        );
        assert_eq!(program(&a), "kubelet");
        assert_eq!(flag_value(&a, "hairpin-mode"), Some("promiscuous-bridge"));
        assert_eq!(
            flag_value(&a, "config"),
            Some("/var/lib/kubelet/config.yaml")
        );
        assert_eq!(flag_value(&a, "v"), Some("2"));
        assert_eq!(flag_value(&a, "hairpin"), None);
        let a = argv("kubelet -hairpin-mode=none --hairpin-mode=hairpin-veth");
        assert_eq!(flag_value(&a, "hairpin-mode"), Some("hairpin-veth"));
        assert_eq!(flag_value(&argv("kubelet --config"), "config"), None);
    }

    #[test]
    fn classification() {
        let mut e = ProcessEvidence::default();
        classify(7, argv("/usr/local/bin/kube-proxy --config=/x"), &mut e);
        classify(8, argv("kubelet"), &mut e);
        classify(9, argv("cilium-agent --config-dir=/tmp"), &mut e);
        classify(10, argv("ovnkube-controller --init"), &mut e);
        classify(11, argv("grep kube-proxy"), &mut e);
        classify(12, Vec::new(), &mut e);
        assert_eq!(e.kube_proxy.len(), 1);
        assert_eq!(e.kubelet.len(), 1);
        let others: Vec<&str> = e.other_proxies.iter().map(|o| o.program.as_str()).collect();
        assert_eq!(others, vec!["cilium-agent", "ovnkube"]);
    }
}
