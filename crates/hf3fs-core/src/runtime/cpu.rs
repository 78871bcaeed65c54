//! The runtime's CPU pool: one rayon `ThreadPool` per process for work on
//! data already in memory (Parquet decoding, the filter pre-scan). It is
//! sized once, from `HF3FS_CPU_THREADS` or the cores this process may use;
//! a forked child builds its own on first use and never touches the
//! parent's (whose threads are not in the child). rayon's global pool is
//! never used, so a DataLoader worker cannot hang on one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::cancel::{CancelToken, POLL_INTERVAL};
use crate::error::{Error, Result};
use crate::runtime::{available_cores, env_var, no_panic, Task};
use crate::sync::PerProcess;

// The inherited pool of a forked child is forgotten, not dropped: dropping
// would signal threads that exist only in the parent.
static POOL: PerProcess<Arc<ThreadPool>> = PerProcess::new();

// Threads asked for by the process before its pool starts (0: none): a
// DataLoader worker decodes with its share of the cores, not all of them.
static SHARE: AtomicUsize = AtomicUsize::new(0);

/// Ask for `threads` threads if this process's pool has not started yet
/// (`HF3FS_CPU_THREADS` still wins); a started pool keeps its size.
pub fn request_threads(threads: usize) {
    SHARE.store(threads, Ordering::Relaxed);
}

/// Threads of the CPU pool: the running pool's, else `HF3FS_CPU_THREADS`,
/// else what [`request_threads`] asked for, else one per core this process
/// may run on (more would only contend for the same cores).
pub fn cpu_threads() -> Result<usize> {
    match POOL.get() {
        Some(pool) => Ok(pool.current_num_threads()),
        None => configured_threads(),
    }
}

/// The size a new pool gets (see [`cpu_threads`]). The pool's slot is
/// locked while it starts, so this must not look at it.
fn configured_threads() -> Result<usize> {
    match env_var::<usize>("HF3FS_CPU_THREADS")? {
        Some(0) => Err(Error::invalid(
            "environment variable HF3FS_CPU_THREADS",
            "must be at least 1",
        )),
        Some(n) => Ok(n),
        None => match SHARE.load(Ordering::Relaxed) {
            0 => Ok(available_cores()),
            n => Ok(n.min(available_cores())),
        },
    }
}

/// This process's CPU pool, started on first use.
pub fn cpu_pool() -> Result<Arc<ThreadPool>> {
    POOL.guard_across_fork();
    POOL.get_or_try_init(
        || {
            ThreadPoolBuilder::new()
                .num_threads(configured_threads()?)
                .thread_name(|i| format!("hf3fs-cpu-{i}"))
                // A panicking task must not abort the process (rayon's
                // default); the tasks report their own panics.
                .panic_handler(|_| {})
                .build()
                .map(Arc::new)
                .map_err(|e| Error::task_failed("start the CPU pool", e.to_string()))
        },
        std::mem::forget,
    )
}

/// Threads the CPU pool runs in this process (0 before first use).
pub fn running_cpu_threads() -> usize {
    POOL.get().map_or(0, |p| p.current_num_threads())
}

/// Run `task` on the CPU pool; if the pool cannot start, on the calling
/// thread, so the task (and whoever waits for it) is never dropped and no
/// thread outside the runtime is made.
pub fn spawn(task: Task) {
    match cpu_pool() {
        Ok(pool) => pool.spawn(task),
        Err(_) => task(),
    }
}

/// `f(state, item)` for every item on the CPU pool, each thread with its
/// own `state` from `init` (rayon's `map_init`); results in item order, an
/// item whose call panicked as `Err(message)`. The calling thread does not
/// join the pool: it waits and polls `cancel`, and once that fires the
/// items not started are skipped and the call returns `Err(Cancelled)`.
pub fn map_init<T, S, R>(
    items: &[T],
    what: &'static str,
    cancel: &CancelToken,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, &T) -> R + Sync + Send,
) -> Result<Vec<std::result::Result<R, String>>>
where
    T: Sync,
    R: Send,
{
    use rayon::prelude::*;
    let pool = cpu_pool()?;
    let (done, finished) = std::sync::mpsc::channel();
    let results = pool.in_place_scope(|scope| {
        let (f, init) = (&f, &init);
        scope.spawn(move |_| {
            let out: Vec<Option<std::result::Result<R, String>>> = items
                .par_iter()
                .map_init(init, |state, item| {
                    (!cancel.is_cancelled()).then(|| no_panic(|| f(state, item)))
                })
                .collect();
            let _ = done.send(out);
        });
        loop {
            match finished.recv_timeout(POLL_INTERVAL) {
                Ok(out) => return Some(out),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    cancel.poll();
                }
            }
        }
    });
    if cancel.is_cancelled() {
        return Err(Error::Cancelled { op: what });
    }
    let results = results.ok_or_else(|| Error::task_failed(what, "a CPU task panicked"))?;
    // Every item ran unless the token fired, which returned above.
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("skipped".to_string())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_order_reuses_state_and_stops_on_cancel() {
        let items: Vec<u32> = (0..1000).collect();
        let out = map_init(
            &items,
            "t",
            &CancelToken::never(),
            || 0u32,
            |calls, &x| {
                *calls += 1;
                assert!(x != 7, "seven");
                x * 2
            },
        )
        .unwrap();
        for (i, r) in out.iter().enumerate() {
            if i == 7 {
                assert_eq!(r.as_ref().unwrap_err(), "seven");
            } else {
                assert_eq!(*r.as_ref().unwrap(), i as u32 * 2);
            }
        }
        let cancel = CancelToken::new();
        cancel.cancel();
        let err = map_init(&items, "scanning", &cancel, || (), |_, &x| x).unwrap_err();
        assert!(matches!(err, Error::Cancelled { op: "scanning" }), "{err}");
        assert_eq!(
            cpu_pool().unwrap().current_num_threads(),
            cpu_threads().unwrap()
        );
    }

    #[test]
    fn a_panicking_task_does_not_abort_the_process() {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(Box::new(|| panic!("boom")));
        spawn(Box::new(move || tx.send(7).unwrap()));
        assert_eq!(rx.recv().unwrap(), 7);
    }
}
