//! Flags of `diagnose`. Tokens in, validated arguments out, no I/O: reading `--objects`
//! happens in the command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{parse_duration, DEFAULT_RESOLV_CONF};
use crate::error::Error;
use crate::kubeapi::{ApiArgs, ApiServer, Mode};

pub const DIAGNOSE_USAGE: &str = "\
Usage: svcprobe diagnose SERVICE [options]

The whole Debug Services walk from this pod, in the guide's order: the probe's context,
resolv.conf, the DNS server, kubernetes.default, the Service's short, namespaced and full
names, the Service definition and its endpoints (read from the API server with the pod's
service account, or from --objects), the ClusterIP sampled (which backends answer), each
endpoint directly, hairpin; then a verdict naming the broken layer, the evidence and the
next steps.

Options:
  -n, --namespace NS        the Service's namespace (default: this pod's)
  --port PORT               the Service port (default: its first port, else 80)
  --objects FILE|-          `kubectl get service,endpointslices,pods -o json` output
                            (instead of reading the API server)
  --api                     read the API server, or say why not (default: read it when
                            in a pod with a service account and no --objects is given)
  --no-api                  do not read the API server
  --api-server URL          https://HOST[:PORT] instead of KUBERNETES_SERVICE_HOST/_PORT
  --token-file FILE         bearer token (default: the service account's; re-read per
                            request, never printed)
  --cacert FILE             the API server's CA (default: the service account's ca.crt)
  --endpoints IP:PORT,...   endpoint addresses to probe directly, without objects
  --samples N               connections to the ClusterIP (default 20)
  --timeout D               per connection attempt (default 2s: longer than the
                            kernel's first SYN retransmit at 1s, and ICMP errors
                            the kernel rate-limits may come only with it);
                            DNS queries get at most 1s each
  --deadline D              the whole command (default 5s)
  --resolv-conf PATH        read this file instead of /etc/resolv.conf
Exit 0 when the verdict is `healthy`, 1 for any other cause.
";

#[derive(Debug, PartialEq, Eq)]
pub struct DiagnoseArgs {
    pub service: String,
    pub namespace: Option<String>,
    pub port: Option<u16>,
    /// `-` is standard input.
    pub objects: Option<PathBuf>,
    pub api: ApiArgs,
    pub endpoints: Vec<SocketAddr>,
    pub samples: usize,
    pub timeout: Duration,
    pub deadline: Duration,
    pub resolv_conf: PathBuf,
}

/// Enough samples to see every one of a handful of backends, few enough to stay fast.
const DEFAULT_SAMPLES: usize = 20;
const MAX_SAMPLES: usize = 1000;

pub fn parse_diagnose(args: &mut pico_args::Arguments) -> Result<DiagnoseArgs, Error> {
    let endpoints = args
        .opt_value_from_fn("--endpoints", parse_endpoints)?
        .unwrap_or_default();
    let samples = args
        .opt_value_from_str("--samples")?
        .unwrap_or(DEFAULT_SAMPLES);
    if !(1..=MAX_SAMPLES).contains(&samples) {
        return Err(Error::Usage(format!(
            "--samples must be 1 to {MAX_SAMPLES}"
        )));
    }
    let objects: Option<PathBuf> = args.opt_value_from_str("--objects")?;
    let api = parse_api(args, objects.is_some())?;
    let parsed = DiagnoseArgs {
        namespace: args.opt_value_from_str(["-n", "--namespace"])?,
        port: args.opt_value_from_str("--port")?,
        objects,
        api,
        endpoints,
        samples,
        timeout: args
            .opt_value_from_fn("--timeout", parse_duration)?
            .unwrap_or(Duration::from_secs(2)),
        deadline: args
            .opt_value_from_fn("--deadline", parse_duration)?
            .unwrap_or(Duration::from_secs(5)),
        resolv_conf: args
            .opt_value_from_str("--resolv-conf")?
            .unwrap_or_else(|| PathBuf::from(DEFAULT_RESOLV_CONF)),
        service: args
            .opt_free_from_str::<String>()?
            .ok_or_else(|| Error::Usage("diagnose needs a SERVICE name".into()))?,
    };
    if parsed.port == Some(0) {
        return Err(Error::Usage("--port must be 1 to 65535".into()));
    }
    Ok(parsed)
}

fn parse_api(args: &mut pico_args::Arguments, objects: bool) -> Result<ApiArgs, Error> {
    let force = args.contains("--api");
    let off = args.contains("--no-api");
    let server = args.opt_value_from_fn("--api-server", ApiServer::parse)?;
    let token_file: Option<PathBuf> = args.opt_value_from_str("--token-file")?;
    let cacert: Option<PathBuf> = args.opt_value_from_str("--cacert")?;
    let configured = server.is_some() || token_file.is_some() || cacert.is_some();
    if off && (force || configured) {
        return Err(Error::Usage(
            "--no-api excludes --api, --api-server, --token-file and --cacert".into(),
        ));
    }
    if objects && (force || configured) {
        return Err(Error::Usage(
            "--objects replaces the API read: drop --api, --api-server, --token-file, --cacert"
                .into(),
        ));
    }
    let mode = if off {
        Mode::Off
    } else if force || server.is_some() {
        Mode::Force
    } else {
        Mode::Auto
    };
    Ok(ApiArgs {
        mode,
        server,
        token_file,
        cacert,
    })
}

fn parse_endpoints(text: &str) -> Result<Vec<SocketAddr>, String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<SocketAddr>()
                .map_err(|_| format!("`{s}` is not IP:PORT"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn parse(line: &str) -> Result<DiagnoseArgs, Error> {
        let mut args =
            pico_args::Arguments::from_vec(line.split_whitespace().map(OsString::from).collect());
        parse_diagnose(&mut args)
    }

    #[test]
    fn flags() {
        let a = parse("hostnames").unwrap();
        assert_eq!(
            (a.service.as_str(), a.samples, a.port),
            ("hostnames", 20, None)
        );
        let a = parse(
            "-n prod --port 8080 --objects - --endpoints 10.0.0.1:80,[fd00::1]:81 --samples 5 web",
        )
        .unwrap();
        assert_eq!(a.namespace.as_deref(), Some("prod"));
        assert_eq!(a.objects, Some(PathBuf::from("-")));
        assert_eq!(a.endpoints.len(), 2);
        assert_eq!(a.api.mode, Mode::Auto);
        let a =
            parse("--api-server https://10.0.0.1:6443 --token-file /t --cacert /c web").unwrap();
        assert_eq!(a.api.mode, Mode::Force);
        assert_eq!(a.api.server.unwrap().port, 6443);
        assert_eq!(a.api.token_file, Some(PathBuf::from("/t")));
        assert_eq!(parse("--no-api web").unwrap().api.mode, Mode::Off);
        assert_eq!(parse("--api web").unwrap().api.mode, Mode::Force);
        for bad in [
            "--api --no-api x",
            "--no-api --cacert /c x",
            "--objects - --api x",
            "--objects - --api-server https://10.0.0.1 x",
            "--api-server http://10.0.0.1 x",
            "",
            "--samples 0 x",
            "--port 0 x",
            "--port 70000 x",
            "--endpoints 10.0.0.1 x",
            "--timeout 0 x",
        ] {
            assert!(matches!(parse(bad), Err(Error::Usage(_))), "{bad}");
        }
    }
}
