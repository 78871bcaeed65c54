//! A parallel map over a slice on scoped threads: they end before it
//! returns, so nothing outlives the call (a forked DataLoader worker never
//! inherits a pool).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::retry::no_panic;

/// `f(state, item)` for every item on up to `threads` threads, each with its
/// own `state` from `init`; results in item order. An item whose call
/// panicked is `Err(message)`.
pub fn map<T, S, R>(
    items: &[T],
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<Result<R, String>>
where
    T: Sync,
    R: Send,
{
    let slots: Vec<Mutex<Option<Result<R, String>>>> =
        items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                let mut state = init();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let outcome = no_panic(|| f(&mut state, item));
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err("the worker thread stopped".to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_back_in_order_and_panics_become_errors() {
        let items: Vec<u32> = (0..50).collect();
        let out = super::map(
            &items,
            4,
            || 0u32,
            |calls, &x| {
                *calls += 1;
                assert!(x != 7, "seven");
                x * 2
            },
        );
        for (i, r) in out.iter().enumerate() {
            if i == 7 {
                assert_eq!(r.as_ref().unwrap_err(), "seven");
            } else {
                assert_eq!(*r.as_ref().unwrap(), i as u32 * 2);
            }
        }
    }
}
