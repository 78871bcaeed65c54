//! Parallel maps: [`try_map_io`] runs latency-bound calls (listing, footer
//! reads) on the runtime's file system pool, a window at a time, and gives
//! up as soon as the caller's token fires; [`map`] spreads CPU work (the
//! filter pre-scan) over scoped threads that end before it returns, while
//! the caller watches the token.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hf3fs_core::fs::{IoContext, IoFuture};
use hf3fs_core::CancelToken;

use crate::error::{Error, Result};
use crate::retry::no_panic;

/// `f(item, token)` for every item on the runtime's file system pool, at
/// most `window` at once; results in item order, `on_done(count)` after
/// each. The first error in item order, or `cancel` firing
/// (`Err(Interrupted(what))`), returns at once; the calls still queued are
/// skipped and those running see their token cancelled.
pub fn try_map_io<T, R, F>(
    items: Vec<T>,
    window: usize,
    what: &'static str,
    cancel: &CancelToken,
    mut on_done: impl FnMut(usize),
    f: F,
) -> Result<Vec<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T, &CancelToken) -> Result<R> + Send + Sync + 'static,
{
    let stop = cancel.child();
    let ctx = IoContext::with_cancel(stop.clone());
    let f = Arc::new(f);
    let run = || -> Result<Vec<R>> {
        let mut out = Vec::with_capacity(items.len());
        let mut pending: VecDeque<IoFuture<Result<R>>> = VecDeque::new();
        let mut next = items.into_iter();
        loop {
            while pending.len() < window.max(1) {
                let Some(item) = next.next() else { break };
                let (f, stop) = (f.clone(), stop.clone());
                pending.push_back(ctx.submit(what, move || {
                    Ok(no_panic(|| f(item, &stop))
                        .unwrap_or_else(|panic| Err(Error::invalid(what, panic))))
                }));
            }
            let Some(oldest) = pending.pop_front() else {
                return Ok(out);
            };
            match oldest.wait_with(cancel) {
                Ok(result) => out.push(result?),
                Err(_) if cancel.is_cancelled() => return Err(Error::Interrupted(what)),
                Err(e) => return Err(Error::io(what, None, e)),
            }
            on_done(out.len());
        }
    };
    let result = run();
    stop.cancel();
    result
}

/// `f(state, item)` for every item on up to `threads` threads, each with its
/// own `state` from `init`; results in item order. An item whose call
/// panicked is `Err(message)`. The calling thread polls `cancel` meanwhile;
/// once it fires, items not started are skipped and the call returns
/// `Err(Interrupted(what))`.
pub fn map<T, S, R>(
    items: &[T],
    threads: usize,
    what: &'static str,
    cancel: &CancelToken,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Result<Vec<Result<R, String>>>
where
    T: Sync,
    R: Send,
{
    let slots: Vec<Mutex<Option<Result<R, String>>>> =
        items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = threads.clamp(1, items.len().max(1));
    std::thread::scope(|scope| {
        let (exited, exits) = std::sync::mpsc::channel::<()>();
        for _ in 0..workers {
            let exited = exited.clone();
            scope.spawn(|| {
                let exited = exited;
                let mut state = init();
                while !cancel.is_cancelled() {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let outcome = no_panic(|| f(&mut state, item));
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
                }
                let _ = exited.send(());
            });
        }
        drop(exited);
        // Only this thread can see Ctrl-C: poll while the workers run.
        let mut running = workers;
        while running > 0 {
            match exits.recv_timeout(hf3fs_core::cancel::POLL_INTERVAL) {
                Ok(()) => running -= 1,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    cancel.poll();
                }
            }
        }
    });
    if cancel.is_cancelled() {
        return Err(Error::Interrupted(what));
    }
    Ok(slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err("the worker thread stopped".to_string()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_map_keeps_order_stops_at_the_first_error_and_on_cancel() {
        let out = try_map_io(
            (0..40u32).collect(),
            4,
            "t",
            &CancelToken::never(),
            |_| {},
            |x, _| Ok(x * 3),
        )
        .unwrap();
        assert_eq!(out, (0..40u32).map(|x| x * 3).collect::<Vec<_>>());
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = ran.clone();
        let err = try_map_io(
            (0..100u32).collect(),
            2,
            "t",
            &CancelToken::never(),
            |_| {},
            move |x, _| {
                seen.fetch_add(1, Ordering::SeqCst);
                if x == 3 {
                    return Err(Error::invalid("item", "three"));
                }
                Ok(x)
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("three"), "{err}");
        assert!(ran.load(Ordering::SeqCst) < 100, "the rest was skipped");
        let cancel = CancelToken::new();
        cancel.cancel();
        let err = try_map_io(vec![1u32], 1, "opening", &cancel, |_| {}, |x, _| Ok(x)).unwrap_err();
        assert!(matches!(err, Error::Interrupted("opening")), "{err}");
    }

    #[test]
    fn results_come_back_in_order_and_panics_become_errors() {
        let items: Vec<u32> = (0..50).collect();
        let out = map(
            &items,
            4,
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
        let cancel = CancelToken::new();
        cancel.cancel();
        let err = map(&items, 2, "scanning", &cancel, || (), |_, &x| x).unwrap_err();
        assert!(matches!(err, Error::Interrupted("scanning")), "{err}");
        for (i, r) in out.iter().enumerate() {
            if i == 7 {
                assert_eq!(r.as_ref().unwrap_err(), "seven");
            } else {
                assert_eq!(*r.as_ref().unwrap(), i as u32 * 2);
            }
        }
    }
}
