//! Bounded fan-out: every command that probes many things at once (endpoints, ClusterIP
//! samples, targets, DNS names) does it through here, with a fixed number of threads.
//!
//! A pod's pids limit (or `ulimit -u` for a non-root user) counts threads, so a thread per
//! endpoint fails on a large Service, and std's `scope.spawn` panics when it does. Here a
//! failed spawn only means fewer workers: the calling thread always works too, so the job
//! list is still worked through, and the failure is handed back for the report. Items not
//! started before the deadline are left out (`None`), so a report can say which ran.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Instant;

/// Threads working at once for one fan-out (endpoints, targets): with a 2 s connect
/// timeout, 32 silent endpoints every 2 s.
pub const MAX_WORKERS: usize = 32;

/// What a fan-out gave: one slot per item, in item order.
#[derive(Debug)]
pub struct Pooled<R> {
    /// `None` for an item not started before the deadline.
    pub results: Vec<Option<R>>,
    /// Why fewer workers than asked for ran (the system refused a thread), if it did.
    pub spawn_error: Option<SpawnError>,
}

/// A thread the system would not start: how many were wanted and how many ran.
#[derive(Debug)]
pub struct SpawnError {
    pub wanted: usize,
    pub started: usize,
    pub error: io::Error,
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "only {} of {} threads could be started ({}): fewer probes ran at once",
            self.started, self.wanted, self.error
        )
    }
}

/// Runs `f` on every item with at most `workers` threads (the caller's among them), and
/// starts no item once `deadline` has passed.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    deadline: Option<Instant>,
    f: impl Fn(&T) -> R + Sync,
) -> Pooled<R> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    let work = || loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(index) else { break };
        let result = f(item);
        // A poisoned lock means a panic elsewhere; the slots are still sound.
        let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(index) {
            *slot = Some(result);
        }
    };
    let wanted = workers.clamp(1, items.len().max(1));
    let spawn_error = thread::scope(|scope| {
        let mut spawn_error = None;
        for started in 1..wanted {
            if let Err(error) = thread::Builder::new().spawn_scoped(scope, work) {
                spawn_error = Some(SpawnError {
                    wanted,
                    started,
                    error,
                });
                break;
            }
        }
        work();
        spawn_error
    });
    Pooled {
        results: slots.into_inner().unwrap_or_else(|e| e.into_inner()),
        spawn_error,
    }
}

/// Runs `a` on a new thread and `b` on this one, at the same time; when no thread can be
/// had, one after the other (and the error says so).
pub fn join<A: Send, B>(
    a: impl Fn() -> A + Sync,
    b: impl FnOnce() -> B,
) -> (A, B, Option<SpawnError>) {
    thread::scope(
        |scope| match thread::Builder::new().spawn_scoped(scope, &a) {
            Ok(handle) => {
                let b = b();
                match handle.join() {
                    Ok(a) => (a, b, None),
                    // `a` panicked: let the panic go on, as a plain call would have.
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            Err(error) => {
                let spawn_error = SpawnError {
                    wanted: 2,
                    started: 1,
                    error,
                };
                (a(), b(), Some(spawn_error))
            }
        },
    )
}

/// Runs `f` on a thread of its own and waits for it until `deadline`: `None` when it has
/// not finished by then (it is left to run, and ends with the process). For work that
/// cannot be cut into steps, such as a large parse. Without a thread to spare (a pids
/// limit), `f` runs on this one, to the end.
pub fn before<R: Send + 'static>(
    deadline: Instant,
    f: impl FnOnce() -> R + Send + 'static,
) -> Option<R> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let work = move || {
        let _ = tx.send(f());
    };
    // The closure is only taken back when the spawn failed.
    let work = std::sync::Arc::new(Mutex::new(Some(work)));
    let spawned = {
        let work = std::sync::Arc::clone(&work);
        thread::Builder::new().spawn(move || {
            if let Some(work) = work.lock().ok().and_then(|mut w| w.take()) {
                work();
            }
        })
    };
    if spawned.is_err() {
        let work = work.lock().ok().and_then(|mut w| w.take());
        if let Some(work) = work {
            work();
        }
    }
    rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_item_once_in_order_with_few_workers() {
        let items: Vec<u32> = (0..100).collect();
        let pooled = map(&items, 4, None, |i| i * 2);
        let doubled: Vec<u32> = pooled.results.into_iter().flatten().collect();
        assert_eq!(doubled, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        assert!(pooled.spawn_error.is_none());
    }

    #[test]
    fn nothing_starts_after_the_deadline() {
        let items = [1, 2, 3];
        let past = Instant::now() - Duration::from_millis(1);
        let pooled = map(&items, 2, Some(past), |i| *i);
        assert!(pooled.results.iter().all(Option::is_none));
        let (a, b, error) = join(|| 1, || 2);
        assert_eq!((a, b), (1, 2));
        assert!(error.is_none());
    }

    #[test]
    fn before_the_deadline_or_not_at_all() {
        let soon = Instant::now() + Duration::from_secs(10);
        assert_eq!(before(soon, || 7), Some(7));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let short = Instant::now() + Duration::from_millis(20);
        assert_eq!(before(short, move || wait.recv().is_ok()), None);
        drop(release);
    }
}
