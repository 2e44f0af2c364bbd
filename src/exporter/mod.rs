//! `svcprobe exporter`'s server: blackbox_exporter's `/probe` protocol over svcprobe's
//! probes, `/metrics` with the scheduled targets' latest results and the exporter's own,
//! `/healthz`.
//!
//! Whoever reaches the port can make this pod open connections, and Prometheus (or anyone)
//! can scrape much faster than probes finish, so everything is bounded: a fixed pool of
//! worker threads accepts on the shared listener (as `serve` does: more connections wait in
//! the kernel's backlog), request heads are read with `httpd`'s caps on bytes and time, at
//! most `max_probes` probes run at once (a `/probe` past that gets 503 at once rather than
//! a queue), targets outside the allow list get 403, and every probe has a deadline. Memory
//! is the workers' stacks and the probes in flight: flat however hard it is scraped.

pub mod allow;
pub mod config;
pub mod metrics;
pub mod modules;
mod schedule;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cli::exporter::Scheduled;
use crate::decimal::parse_f64;
use crate::error::Error;
use crate::httpd::{self, Refusal, Request};
use allow::AllowList;
use metrics::Sample;
use modules::Module;

/// Request line and headers, at most; more is answered 431.
const MAX_HEADER_BYTES: usize = 8 * 1024;
/// From accept to the end of the request's headers; slower clients get 408.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Workers beside the probe slots, so that `/metrics`, `/healthz`, 403s and 503s are
/// answered while every slot is taken.
const SPARE_WORKERS: usize = 4;
/// Probes run on the worker's own stack (diagnose fans out to threads of its own).
const WORKER_STACK: usize = 2 * 1024 * 1024;
/// blackbox_exporter's `--timeout-offset`: what a probe leaves of the scrape timeout.
const TIMEOUT_OFFSET_S: f64 = 0.5;
/// blackbox_exporter's budget without the scrape timeout header.
const NO_HEADER_TIMEOUT_S: f64 = 120.0;
/// blackbox_exporter's default module.
const DEFAULT_MODULE: &str = "http_2xx";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything the exporter runs with, settled from flags, the config and the pod.
pub struct Settings {
    pub listen: SocketAddr,
    pub modules: BTreeMap<String, Module>,
    pub targets: Vec<Scheduled>,
    pub every: Duration,
    pub allow: AllowList,
    pub allow_source: &'static str,
    pub max_probes: usize,
    /// `NODE_NAME` and `POD_NAME` (downward API).
    pub node: Option<String>,
    pub pod: Option<String>,
}

/// Counters the exporter reports on `/metrics` and in its stop report.
#[derive(Default)]
pub struct Counters {
    pub probes: Mutex<BTreeMap<String, (u64, u64)>>,
    pub dropped: AtomicU64,
    pub refused: AtomicU64,
    pub requests: AtomicU64,
}

impl Counters {
    fn probe_ran(&self, module: &str, ran: bool) {
        if let Ok(mut map) = self.probes.lock() {
            let entry = map.entry(module.to_string()).or_default();
            entry.0 += 1;
            entry.1 += u64::from(!ran);
        }
    }

    /// Probes run and probes that could not run, over every module.
    pub fn totals(&self) -> (u64, u64) {
        self.probes.lock().map_or((0, 0), |map| {
            map.values().fold((0, 0), |(a, b), (r, e)| (a + r, b + e))
        })
    }
}

/// At most `max` probes at once: `/probe` takes a slot or gets 503, the schedule waits.
pub struct Slots {
    max: usize,
    taken: Mutex<usize>,
    freed: Condvar,
}

/// A taken slot, given back when dropped.
pub struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Ok(mut taken) = self.0.taken.lock() {
            *taken = taken.saturating_sub(1);
        }
        self.0.freed.notify_one();
    }
}

impl Slots {
    fn new(max: usize) -> Slots {
        Slots {
            max,
            taken: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    fn try_take(&self) -> Option<Slot<'_>> {
        let mut taken = self.taken.lock().ok()?;
        (*taken < self.max).then(|| {
            *taken += 1;
            Slot(self)
        })
    }

    /// Waits for a slot until `until`.
    fn take_until(&self, until: Instant) -> Option<Slot<'_>> {
        let mut taken = self.taken.lock().ok()?;
        while *taken >= self.max {
            let left = until.checked_duration_since(Instant::now())?;
            taken = self.freed.wait_timeout(taken, left).ok()?.0;
        }
        *taken += 1;
        Some(Slot(self))
    }

    fn in_use(&self) -> usize {
        self.taken.lock().map_or(0, |t| *t)
    }
}

/// What the workers and the schedule share.
pub struct Exporter {
    pub settings: Settings,
    pub counters: Counters,
    slots: Slots,
    listener: TcpListener,
    stopping: AtomicBool,
    /// Wakes the schedule's sleep when stopping.
    stop_signal: (Mutex<bool>, Condvar),
    started: SystemTime,
    /// The scheduled targets' latest results, in the order of `settings.targets`.
    latest: Mutex<Vec<Option<schedule::Latest>>>,
}

/// Listens, serves and probes until SIGTERM or SIGINT; returns what stopped it.
pub fn serve(settings: Settings) -> Result<(Exporter, String), Error> {
    let signals = httpd::block_termination_signals().map_err(|source| Error::Io {
        what: "block SIGTERM and SIGINT".into(),
        source,
    })?;
    let listener = TcpListener::bind(settings.listen).map_err(|source| Error::Io {
        what: format!("listen on {}", settings.listen),
        source,
    })?;
    let exporter = Exporter {
        slots: Slots::new(settings.max_probes),
        latest: Mutex::new(settings.targets.iter().map(|_| None).collect()),
        settings,
        counters: Counters::default(),
        listener,
        stopping: AtomicBool::new(false),
        stop_signal: (Mutex::new(false), Condvar::new()),
        started: SystemTime::now(),
    };
    eprintln!("{}", exporter.banner());
    let stopped_by = thread::scope(|scope| -> Result<String, Error> {
        let workers = exporter.settings.max_probes + SPARE_WORKERS;
        for index in 0..workers {
            let spawned = thread::Builder::new()
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, {
                    let exporter = &exporter;
                    move || {
                        httpd::name_this_thread(&format!("exporter-{index}"));
                        worker(exporter)
                    }
                });
            if let Err(source) = spawned {
                exporter.stop();
                return Err(Error::Io {
                    what: "start a worker thread".into(),
                    source,
                });
            }
        }
        if !exporter.settings.targets.is_empty() {
            let spawned = thread::Builder::new().spawn_scoped(scope, || {
                httpd::name_this_thread("exporter-sched");
                schedule::run(&exporter)
            });
            if let Err(source) = spawned {
                exporter.stop();
                return Err(Error::Io {
                    what: "start the schedule's thread".into(),
                    source,
                });
            }
        }
        let signal = httpd::wait_for_signal(&signals);
        exporter.stop();
        Ok(signal)
    })?;
    Ok((exporter, stopped_by))
}

impl Exporter {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.settings.listen)
    }

    fn banner(&self) -> String {
        let s = &self.settings;
        let allow: Vec<String> = s.allow.entries.iter().map(allow::Entry::text).collect();
        format!(
            "svcprobe exporter: listening on {}; /probe may reach {} ({}); at most {} probes at \
             once; {} scheduled target(s) every {}",
            self.local_addr(),
            allow.join(","),
            s.allow_source,
            s.max_probes,
            s.targets.len(),
            crate::cli::flags::duration_text(s.every)
        )
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        httpd::shut_listener(&self.listener);
        if let Ok(mut stopped) = self.stop_signal.0.lock() {
            *stopped = true;
        }
        self.stop_signal.1.notify_all();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Sleeps until `until` or until the exporter stops; false when it stops.
    fn sleep_until(&self, until: Instant) -> bool {
        let Ok(mut stopped) = self.stop_signal.0.lock() else {
            return false;
        };
        while !*stopped {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return true;
            };
            match self.stop_signal.1.wait_timeout(stopped, left) {
                Ok((guard, _)) => stopped = guard,
                Err(_) => return false,
            }
        }
        false
    }
}

fn worker(exporter: &Exporter) {
    while !exporter.stopping() {
        match exporter.listener.accept() {
            Ok((stream, _)) => serve_connection(exporter, stream),
            Err(_) if exporter.stopping() => break,
            // EMFILE, ENOBUFS, ECONNABORTED: do not spin, try again shortly.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// One response: status, content type, body.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Answer {
    fn text(status: u16, body: impl Into<String>) -> Answer {
        Answer {
            status,
            content_type: "text/plain",
            body: body.into(),
        }
    }
}

fn serve_connection(exporter: &Exporter, mut stream: TcpStream) {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut buffer = [0u8; MAX_HEADER_BYTES];
    let response = match httpd::read_head(&mut stream, &mut buffer, deadline) {
        Ok(None) => return,
        Ok(Some(len)) => match buffer.get(..len).map(httpd::parse_head) {
            Some(Ok(request)) => {
                exporter.counters.requests.fetch_add(1, Ordering::Relaxed);
                let head_only = request.method == "HEAD";
                let answer = route(exporter, &request);
                httpd::response(answer.status, answer.content_type, &answer.body, head_only)
            }
            _ => httpd::refuse(Refusal::BadRequest),
        },
        Err(refusal) => httpd::refuse(refusal),
    };
    // A probe may have used most of the time; the answer still gets its own.
    let _ = stream.set_write_timeout(Some(REQUEST_DEADLINE));
    if stream.write_all(&response).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    httpd::linger(&mut stream);
}

fn route(exporter: &Exporter, request: &Request) -> Answer {
    if request.method != "GET" && request.method != "HEAD" {
        return Answer::text(405, "method not allowed\n");
    }
    match request.path {
        "/probe" => probe(exporter, request),
        "/metrics" => Answer {
            status: 200,
            content_type: PROMETHEUS_TEXT,
            body: metrics::render(&exporter_samples(exporter)),
        },
        "/healthz" | "/-/healthy" => Answer::text(200, "ok\n"),
        "/" => Answer::text(
            200,
            "svcprobe exporter: /probe?target=TARGET&module=MODULE[&debug=true], /metrics, \
             /healthz\n",
        ),
        _ => Answer::text(404, "not found\n"),
    }
}

/// `/probe`: blackbox_exporter's answers for a missing target, an unknown module and a bad
/// timeout header; then the allow list (403) and the probe slots (503).
fn probe(exporter: &Exporter, request: &Request) -> Answer {
    let Some(pairs) = httpd::query_pairs(request.query.unwrap_or_default()) else {
        return Answer::text(400, "bad query string\n");
    };
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let Some(target) = param("target") else {
        return Answer::text(400, "Target parameter is missing\n");
    };
    let module_name = param("module").unwrap_or(DEFAULT_MODULE);
    let Some(module) = exporter.settings.modules.get(module_name) else {
        return Answer::text(400, format!("Unknown module {module_name:?}\n"));
    };
    let header = request.header("X-Prometheus-Scrape-Timeout-Seconds");
    let budget = match budget(header, module.timeout) {
        Ok(budget) => budget,
        Err(e) => {
            return Answer::text(
                500,
                format!("Failed to parse timeout from Prometheus header: {e}\n"),
            )
        }
    };
    let debug = param("debug") == Some("true");
    let start = Instant::now();
    let parsed = modules::parse(module, target, budget);
    let mut outcome = match parsed {
        Err(error) => modules::could_not_run("exporter", &error, debug),
        Ok(command) => {
            if !exporter.settings.allow.allows(&modules::host(&command)) {
                exporter.counters.refused.fetch_add(1, Ordering::Relaxed);
                return Answer::text(
                    403,
                    format!(
                        "target {target:?} is not allowed: /probe reaches only {} (--allow)\n",
                        allow_text(&exporter.settings.allow)
                    ),
                );
            }
            let Some(_slot) = exporter.slots.try_take() else {
                exporter.counters.dropped.fetch_add(1, Ordering::Relaxed);
                return Answer::text(
                    503,
                    format!(
                        "{} probes are running, the most allowed at once (--max-probes)\n",
                        exporter.settings.max_probes
                    ),
                );
            };
            modules::run(command, debug)
        }
    };
    exporter.counters.probe_ran(module_name, outcome.ran);
    if debug {
        return Answer {
            status: 200,
            content_type: "application/json",
            body: outcome.json.unwrap_or_default(),
        };
    }
    Answer {
        status: 200,
        content_type: PROMETHEUS_TEXT,
        body: metrics::render(&outcome.take_samples(start.elapsed())),
    }
}

fn allow_text(list: &AllowList) -> String {
    let entries: Vec<String> = list.entries.iter().map(allow::Entry::text).collect();
    entries.join(", ")
}

/// The scrape timeout header is not a number: blackbox_exporter answers 500 too.
#[derive(Debug, PartialEq, Eq)]
struct HeaderError(String);

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not a number of seconds", self.0)
    }
}

impl std::error::Error for HeaderError {}

/// blackbox_exporter's `getTimeout`: the scrape timeout (120 s without the header) minus
/// 0.5 s, unless the module's is shorter or that comes out negative.
fn budget(header: Option<&str>, module: Duration) -> Result<Duration, HeaderError> {
    let scrape = match header {
        Some(text) => parse_f64(text.trim()).ok_or_else(|| HeaderError(text.to_string()))?,
        None => 0.0,
    };
    let scrape = if scrape == 0.0 {
        NO_HEADER_TIMEOUT_S
    } else {
        scrape
    };
    let max = scrape - TIMEOUT_OFFSET_S;
    let module_s = module.as_secs_f64();
    let seconds = if !max.is_finite() || max < 0.0 || module_s < max {
        module_s
    } else {
        max
    };
    Ok(Duration::from_secs_f64(seconds).max(Duration::from_millis(1)))
}

/// `/metrics`: the process, the exporter's counters, the scheduled targets' latest results.
fn exporter_samples(exporter: &Exporter) -> Vec<Sample> {
    let mut samples = process_samples(exporter.started);
    let counters = &exporter.counters;
    if let Ok(map) = counters.probes.lock() {
        for (module, (ran, errors)) in map.iter() {
            samples.push(Sample::new(&metrics::PROBES, *ran as f64).label("module", module));
            samples
                .push(Sample::new(&metrics::PROBE_ERRORS, *errors as f64).label("module", module));
        }
    }
    samples.push(Sample::new(
        &metrics::PROBES_DROPPED,
        counters.dropped.load(Ordering::Relaxed) as f64,
    ));
    samples.push(Sample::new(
        &metrics::TARGETS_REFUSED,
        counters.refused.load(Ordering::Relaxed) as f64,
    ));
    samples.push(Sample::new(
        &metrics::PROBES_IN_FLIGHT,
        exporter.slots.in_use() as f64,
    ));
    samples.extend(schedule::samples(exporter));
    samples
}

/// Resident memory and CPU time from /proc, and when the exporter started.
fn process_samples(started: SystemTime) -> Vec<Sample> {
    let mut samples = vec![Sample::new(
        &metrics::START_TIME,
        started
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    )];
    // SAFETY: sysconf has no preconditions.
    let (page, ticks) = unsafe {
        (
            libc::sysconf(libc::_SC_PAGESIZE),
            libc::sysconf(libc::_SC_CLK_TCK),
        )
    };
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    if let Some(pages) = statm.split_whitespace().nth(1).and_then(parse_f64) {
        samples.push(Sample::new(
            &metrics::RESIDENT_MEMORY,
            pages * page.max(1) as f64,
        ));
    }
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is the first, utime
    // and stime the 12th and 13th.
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let cpu = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).copied().and_then(parse_f64))
        .sum::<f64>();
    samples.push(Sample::new(
        &metrics::CPU_SECONDS,
        cpu / ticks.max(1) as f64,
    ));
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_as_blackbox_exporter_takes_them() {
        let five = Duration::from_secs(5);
        let ms = |h: Option<&str>| budget(h, five).map(|d| d.as_millis());
        assert_eq!(ms(None), Ok(5000), "120 s - 0.5 s: the module's is shorter");
        assert_eq!(ms(Some("3")), Ok(2500));
        assert_eq!(ms(Some("10")), Ok(5000));
        assert_eq!(ms(Some("0.2")), Ok(5000), "negative: the module's");
        assert_eq!(ms(Some("0.5")), Ok(1), "nothing left: the shortest");
        assert_eq!(ms(Some("0")), Ok(5000));
        assert_eq!(ms(Some("inf")), Ok(5000));
        assert!(ms(Some("abc")).is_err());
    }

    #[test]
    fn slots() {
        let slots = Slots::new(1);
        let first = slots.try_take();
        assert!(first.is_some() && slots.try_take().is_none());
        assert!(slots
            .take_until(Instant::now() + Duration::from_millis(20))
            .is_none());
        drop(first);
        assert!(slots.try_take().is_some());
        assert_eq!(slots.in_use(), 0);
    }
}
