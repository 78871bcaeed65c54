//! [`try_map_io`] runs latency-bound calls (listing, footer reads) on the
//! runtime's file system pool, a window at a time, and gives up as soon as
//! the caller's token fires. They stay off the CPU pool
//! ([`hf3fs_core::runtime::cpu`], where CPU work runs through rayon): a
//! footer read on a network mount blocks for a round trip, and would hold
//! one of the few threads decoding needs.

use std::collections::VecDeque;
use std::sync::Arc;

use hf3fs_core::fs::{IoContext, PendingResult};
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
        let mut pending: VecDeque<PendingResult<Result<R>>> = VecDeque::new();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

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
}
