//! The whole command line as a property: thousands of random argument vectors (every command
//! and every flag as declared in `cli::COMMANDS`, old spellings included; values valid and
//! hostile: invalid UTF-8, huge numbers, negative and NaN durations, repeated and dangling
//! flags) run the real binary, each in a network namespace with only `lo`. Every run must
//! end with 0, 1, 2 or 3 (never a panic or a signal), and within its own deadline.
//!
//! Half the vectors come from a fixed seed, half from this run's own seed; a failure prints
//! both and the vector, and `SVCPROBE_PROPERTY_SEED=N` replays a seed.

mod common;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::bin;
use common::testbed::run_with_timeout;
use svcprobe::cli::{self, flags::Flag};

const FIXED_SEED: u64 = 0x05ee_dc11;
/// Vectors per seed; two seeds, two workers.
const VECTORS: usize = 1500;
const WORKERS: u64 = 2;
/// Process start of a debug build on a loaded machine, on top of a command's own deadline.
const SLACK: Duration = Duration::from_millis(1500);
/// A run whose parsed arguments allow longer than this is checked by the parser only.
const LONGEST_RUN: Duration = Duration::from_secs(8);

/// splitmix64: small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Values that must be refused cleanly wherever they go.
const HOSTILE: &[&str] = &[
    "",
    "0",
    "-1",
    "-1s",
    "500",
    "1e300",
    "1e300s",
    "2e19",
    "18446744073709551616",
    "18446744073709551616s",
    "99999999999999999999999999999ms",
    "NaN",
    "NaNs",
    "inf",
    "-0.0s",
    "0.0001ms",
    "10m1s",
    "65536",
    "http",
    "--",
    "-",
    "=",
    "a b",
    "héllo",
    "\u{202e}\u{1b}[31m",
    "::",
    "[::1",
    "256.0.0.1",
    "svc/",
    "deployment/web",
    "a..b",
];

fn fixture(path: &str) -> String {
    format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// A plausible value for a flag, by its placeholder; short durations and small counts so
/// that valid runs stay quick.
fn valid_value(rng: &mut Rng, placeholder: &str) -> String {
    let paths = [
        fixture("resolv/gke.conf"),
        fixture("resolv/odd.conf"),
        fixture("resolv/malformed.conf"),
        fixture("objects/hostnames.json"),
        fixture("objects/no-endpoints.json"),
        "/nonexistent".into(),
        "/dev/null".into(),
        "-".into(),
    ];
    let owned = |items: &[&str], rng: &mut Rng| rng.pick(items).to_string();
    match placeholder {
        "D" => owned(&["1ms", "5ms", "20ms", "100ms", "0.2s", "1s"], rng),
        "N" => owned(&["1", "2", "3"], rng),
        "PORT" => owned(&["1", "9", "80", "53"], rng),
        "IP" => owned(&["127.0.0.1", "::1", "10.0.0.1", "192.0.2.1"], rng),
        "IP[:PORT]" => owned(&["127.0.0.1", "127.0.0.1:9", "[::1]:53", "10.0.0.10"], rng),
        "NS" => owned(&["default", "kube-system", "prod"], rng),
        "T" => owned(&["A", "aaaa", "SRV", "PTR", "TXT"], rng),
        "URL" => owned(&["https://127.0.0.1:9", "https://[::1]:6443"], rng),
        "IP:PORT,..." => owned(&["127.0.0.1:9", "127.0.0.1:9,[::1]:9", "10.0.0.1:80"], rng),
        "IP,..." => owned(&["127.0.0.1", "127.0.0.1,::1", "10.0.0.10:53"], rng),
        "NAME" => owned(&["example.com", "example.com.", "localhost", "a..b"], rng),
        "ADDR" => owned(&["127.0.0.1:0", ":0"], rng),
        "BYTES" => owned(&["0", "10", "65536"], rng),
        "glibc|musl" => owned(&["glibc", "musl"], rng),
        "json|text" => owned(&["json", "text"], rng),
        _ => paths[rng.below(paths.len())].clone(),
    }
}

fn operand(rng: &mut Rng, command: &str) -> OsString {
    if rng.chance(5) {
        return OsString::from_vec(vec![b'x', 0xff, 0xfe, b'.', 0xc3]);
    }
    if rng.chance(6) {
        return rng.pick(HOSTILE).into();
    }
    let pool: &[&str] = match command {
        "tcp" => &[
            "127.0.0.1:9",
            "[::1]:1",
            "10.0.0.1:80",
            "localhost:80",
            "x:0",
        ],
        "http" => &[
            "http://127.0.0.1:9/",
            "https://[::1]:1/x",
            "http://hostnames/",
            "ftp://x",
        ],
        "nslookup" => &["hostnames", "127.0.0.1", "_http._tcp.x", "x."],
        "hairpin" => &[
            "hostnames",
            "127.0.0.1:9",
            "10.0.0.1:80",
            "svc/web:8080",
            "[::1]",
        ],
        "help" => &["diagnose", "tcp", "bogus"],
        _ => &[
            "hostnames",
            "hostnames.default",
            "svc/web",
            "web.",
            "x.y.svc.cluster.local.",
        ],
    };
    rng.pick(pool).into()
}

/// One argument vector: a command (now and then a wrong one), flags of that command and
/// global ones, in every spelling, with valid and hostile values, and operands.
fn vector(rng: &mut Rng) -> Vec<OsString> {
    let specs = cli::COMMANDS;
    let mut args: Vec<OsString> = Vec::new();
    let (name, flags): (&str, Vec<Flag>) = match rng.below(20) {
        0 => ("bogus", Vec::new()),
        1 => ("help", Vec::new()),
        2 => ("", Vec::new()),
        _ => {
            let spec = specs[rng.below(specs.len())];
            (spec.name, spec.flags.concat())
        }
    };
    if rng.chance(20) {
        args.push("-o".into());
        args.push(rng.pick(&["json", "text", "yaml"]).into());
    }
    if !name.is_empty() {
        args.push(name.into());
    }
    let globals = cli::GLOBAL.iter().filter(|f| f.name != "--help").copied();
    let flags: Vec<Flag> = flags.into_iter().chain(globals).collect();
    for _ in 0..rng.below(6) {
        let flag = flags[rng.below(flags.len())];
        push_flag(rng, &flag, &mut args);
        if rng.chance(5) {
            push_flag(rng, &flag, &mut args);
        }
    }
    for _ in 0..rng.below(3) {
        let at = if rng.chance(70) {
            args.len()
        } else {
            rng.below(args.len() + 1)
        };
        args.insert(at, operand(rng, name));
    }
    if rng.chance(2) {
        args.push("--bogus".into());
    }
    args
}

fn push_flag(rng: &mut Rng, flag: &Flag, args: &mut Vec<OsString>) {
    let spelled = match (flag.short, flag.aliases.first()) {
        (Some(short), _) if rng.chance(30) => short,
        (_, Some(alias)) if rng.chance(30) => alias,
        _ => flag.name,
    };
    let Some(placeholder) = flag.value else {
        args.push(spelled.into());
        return;
    };
    let value: OsString = if rng.chance(15) {
        if rng.chance(10) {
            OsString::from_vec(vec![b'1', 0x80, b's'])
        } else {
            rng.pick(HOSTILE).into()
        }
    } else {
        valid_value(rng, placeholder).into()
    };
    if rng.chance(2) {
        args.push(spelled.into()); // dangling: the value is missing
    } else if rng.chance(30) && spelled.starts_with("--") {
        let mut joined = OsString::from(format!("{spelled}="));
        joined.push(value);
        args.push(joined);
    } else {
        args.push(spelled.into());
        args.push(value);
    }
}

/// How long the parsed command may take, or None when it is not run: `serve` and `exporter`
/// run until signalled (they have no deadline), and a run the generator made long is left
/// to the parser.
fn allowed(command: &cli::Command) -> Option<Duration> {
    let bound = match command {
        cli::Command::Serve(_) | cli::Command::Exporter(_) => return None,
        cli::Command::Nslookup(a) => a.deadline,
        cli::Command::Diagnose(a) => a.deadline,
        cli::Command::Hairpin(a) => a.deadline,
        cli::Command::Tcp(a) => (a.interval + a.timeout) * a.count + a.timeout,
        cli::Command::Http(a) => a.timeout * (a.count + 1),
        _ => Duration::ZERO,
    };
    (bound <= LONGEST_RUN).then_some(bound)
}

/// Moves this thread into a network namespace of its own with only `lo`, up; panics (before
/// anything runs) if it cannot, so no vector ever runs in the machine's namespace.
fn private_network() {
    let before = std::fs::read_link("/proc/thread-self/ns/net").expect("own netns");
    // SAFETY: unshare(2) with CLONE_NEWNET touches only this thread's namespace membership.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET): {}",
        std::io::Error::last_os_error()
    );
    let after = std::fs::read_link("/proc/thread-self/ns/net").expect("new netns");
    assert_ne!(before, after, "still in the machine's network namespace");
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip link set lo up");
    assert!(up.success());
}

/// Runs `VECTORS` vectors from `seed` in this thread's private namespace; counts the runs,
/// and those the parser accepted.
fn run_seed(seed: u64, stop: &AtomicBool) -> Result<(usize, usize), String> {
    private_network();
    let mut rng = Rng(seed);
    let (mut ran, mut accepted) = (0, 0);
    for index in 0..VECTORS {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let args = vector(&mut rng);
        let parsed = cli::parse(args.clone());
        let (expected, bound) = match &parsed {
            Err(_) => (Some(2), Duration::ZERO),
            Ok(cli) => match allowed(&cli.command) {
                Some(bound) => (None, bound),
                None => continue,
            },
        };
        let mut command = Command::new(bin::svcprobe());
        command.args(&args).env_clear();
        let start = Instant::now();
        let out = run_with_timeout(command, bound + SLACK * 2);
        let took = start.elapsed();
        ran += 1;
        accepted += usize::from(expected.is_none());
        let code = out.status.code();
        let fail = |why: &str| {
            format!(
                "seed {seed:#x} vector {index}: {why}\n  args: {args:?}\n  exit {code:?} after \
                 {took:?} (allowed {bound:?})\n  stderr: {}\n  replay: SVCPROBE_PROPERTY_SEED={seed}",
                String::from_utf8_lossy(&out.stderr)
            )
        };
        if !matches!(code, Some(0..=3)) {
            return Err(fail("not an exit code of 0, 1, 2 or 3"));
        }
        if expected.is_some_and(|e| Some(e) != code) {
            return Err(fail("the parser refused it, so the binary must exit 2"));
        }
        if took > bound + SLACK {
            return Err(fail("ran past its deadline"));
        }
    }
    Ok((ran, accepted))
}

#[test]
fn random_command_lines_end_with_a_documented_code_within_their_deadline() {
    common::testbed::require_root();
    let own = match std::env::var("SVCPROBE_PROPERTY_SEED") {
        Ok(seed) => seed.parse().expect("SVCPROBE_PROPERTY_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    };
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let results: Vec<Result<(usize, usize), String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let seed = if w == 0 { FIXED_SEED } else { own };
                let stop = &stop;
                scope.spawn(move || {
                    let result = run_seed(seed, stop);
                    if result.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("a worker panicked".into())))
            .collect()
    });
    let (mut ran, mut accepted) = (0, 0);
    for result in results {
        match result {
            Ok((n, a)) => (ran, accepted) = (ran + n, accepted + a),
            Err(failure) => {
                panic!("{failure}\n(seeds: fixed {FIXED_SEED:#x}, this run's {own:#x})")
            }
        }
    }
    eprintln!(
        "{ran} runs of svcprobe ({accepted} past the parser) in {:?} (seeds {FIXED_SEED:#x} \
         and {own:#x})",
        start.elapsed()
    );
    assert!(ran > VECTORS, "too few vectors ran: {ran}");
    assert!(
        accepted > ran / 10,
        "too few valid command lines: {accepted} of {ran}"
    );
}
