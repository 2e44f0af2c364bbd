//! Scheduled mode: the exporter probes its `--target`s itself, every `--every`, and keeps
//! the latest result of each for `/metrics`, labelled with the module, the target and where
//! it runs (`node`, `pod` from the downward API), so that one DaemonSet shows which node
//! cannot reach which Service. Each change of a target's result is one JSON line on stdout.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::metrics::Sample;
use super::modules;
use super::Exporter;
use crate::probe::pool;
use crate::report::CauseChange;

/// A target's latest result.
pub struct Latest {
    samples: Vec<Sample>,
    state: &'static str,
}

/// Rounds until the exporter stops: every target once per round (as many at once as the
/// probe slots allow), then a sleep until the next round is due.
pub fn run(exporter: &Exporter) {
    let settings = &exporter.settings;
    let indices: Vec<usize> = (0..settings.targets.len()).collect();
    while !exporter.stopping() {
        let round = Instant::now();
        let due = round + settings.every;
        pool::map(&indices, settings.max_probes, Some(due), |index| {
            probe_one(exporter, *index, due);
        });
        if !exporter.sleep_until(due) {
            break;
        }
    }
}

fn probe_one(exporter: &Exporter, index: usize, due: Instant) {
    let settings = &exporter.settings;
    let Some(scheduled) = settings.targets.get(index) else {
        return;
    };
    // Checked when the exporter started: every scheduled module exists.
    let Some(module) = settings.modules.get(&scheduled.module) else {
        return;
    };
    let Some(_slot) = exporter.slots.take_until(due) else {
        return;
    };
    if exporter.stopping() {
        return;
    }
    let start = Instant::now();
    let mut outcome = match modules::parse(module, &scheduled.target, module.timeout) {
        Ok(command) => modules::run(command, false),
        Err(error) => modules::could_not_run("exporter", &error, false),
    };
    exporter.counters.probe_ran(&scheduled.module, outcome.ran);
    let mut samples = outcome.take_samples(start.elapsed());
    for sample in &mut samples {
        sample.labels.push(("module", scheduled.module.clone()));
        sample.labels.push(("target", scheduled.target.clone()));
        if let Some(node) = &settings.node {
            sample.labels.push(("node", node.clone()));
        }
        if let Some(pod) = &settings.pod {
            sample.labels.push(("pod", pod.clone()));
        }
    }
    let old = {
        let Ok(mut latest) = exporter.latest.lock() else {
            return;
        };
        let Some(slot) = latest.get_mut(index) else {
            return;
        };
        let old = slot.as_ref().map(|l| l.state);
        *slot = Some(Latest {
            samples,
            state: outcome.state,
        });
        old
    };
    if old != Some(outcome.state) {
        let change = CauseChange {
            time: rfc3339(SystemTime::now()),
            module: &scheduled.module,
            target: &scheduled.target,
            old_cause: old,
            new_cause: outcome.state,
            summary: &outcome.summary,
            node: settings.node.as_deref(),
            pod: settings.pod.as_deref(),
        };
        if let Ok(line) = serde_json::to_string(&change) {
            let _ = crate::output::write_stdout(&(line + "\n"));
        }
    }
}

/// Every scheduled target's latest samples.
pub fn samples(exporter: &Exporter) -> Vec<Sample> {
    exporter.latest.lock().map_or_else(
        |_| Vec::new(),
        |latest| {
            latest
                .iter()
                .flatten()
                .flat_map(|l| l.samples.iter().cloned())
                .collect()
        },
    )
}

/// `2026-11-30T01:45:09.291Z`: UTC, milliseconds.
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Year, month, day of a count of days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times() {
        let at = |secs: u64, ms: u64| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        // blackbox_exporter's log line of the same second: 2026-11-30T01:45:09.29Z.
        assert_eq!(at(1_796_003_109, 291), "2026-11-30T01:45:09.291Z");
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
    }
}
