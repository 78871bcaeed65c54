//! The one cancellation token every blocking path takes.
//!
//! A [`CancelToken`] is a shared flag: whoever holds a clone may cancel it,
//! and long calls (batched IO, scheduler waits, footer reads, directory
//! walks, recursive deletes) look at it between steps and stop with
//! [`Error::Cancelled`]. A token may also carry a *poll hook*, which only
//! the thread that waits calls: the Python bindings use it to look for
//! Ctrl-C (signals can only be checked on the thread that called in), and a
//! hook that fires cancels the token for every thread holding it.
//!
//! This module depends on nothing else in the crate but the error type, so
//! every layer (engine, client, file systems, runtime, dataset) can take it.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// How long a waiting thread sleeps between looks at its token: Ctrl-C feels
/// immediate at 50 ms, and a look costs ~1 µs (a GIL round trip when the
/// token has a Python hook), so waking this often is noise next to the IO.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

type Hook = Box<dyn Fn() -> bool + Send + Sync>;

struct Inner {
    cancelled: AtomicBool,
    hook: Option<Hook>,
    /// A child is cancelled with its parent (not the other way round).
    parent: Option<CancelToken>,
}

/// A cancellation flag shared by the caller and the work it started; the
/// default token is never cancelled. Clones share one flag.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Option<Arc<Inner>>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .field(
                "hook",
                &self.inner.as_ref().is_some_and(|i| i.hook.is_some()),
            )
            .finish()
    }
}

impl CancelToken {
    /// A token that can be cancelled.
    pub fn new() -> CancelToken {
        CancelToken {
            inner: Some(Arc::new(Inner {
                cancelled: AtomicBool::new(false),
                hook: None,
                parent: None,
            })),
        }
    }

    /// A token cancelled when this one is, or on its own: work that must
    /// stop with its caller and also when its owner goes away.
    pub fn child(&self) -> CancelToken {
        CancelToken {
            inner: Some(Arc::new(Inner {
                cancelled: AtomicBool::new(false),
                hook: None,
                parent: self.inner.is_some().then(|| self.clone()),
            })),
        }
    }

    /// A token that is never cancelled.
    pub fn never() -> CancelToken {
        CancelToken::default()
    }

    /// Whether this is [`CancelToken::never`]'s token (nothing can fire it).
    pub fn is_never(&self) -> bool {
        self.inner.is_none()
    }

    /// A token whose [`CancelToken::poll`] also asks `hook` (which returns
    /// whether to cancel). The hook runs on whichever thread polls; callers
    /// whose hook only works on one thread make it return `false` elsewhere.
    pub fn with_hook(hook: impl Fn() -> bool + Send + Sync + 'static) -> CancelToken {
        CancelToken {
            inner: Some(Arc::new(Inner {
                cancelled: AtomicBool::new(false),
                hook: Some(Box::new(hook)),
                parent: None,
            })),
        }
    }

    /// Cancel: every holder sees it from its next look on.
    pub fn cancel(&self) {
        if let Some(inner) = &self.inner {
            inner.cancelled.store(true, Ordering::SeqCst);
        }
    }

    /// Whether the token (or a parent) was cancelled: flags only, cheap on
    /// any thread.
    pub fn is_cancelled(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| {
            i.cancelled.load(Ordering::Relaxed)
                || i.parent.as_ref().is_some_and(CancelToken::is_cancelled)
        })
    }

    /// Whether the token is cancelled, asking its hook first (for the
    /// waiting thread); a hook that fires cancels the token.
    pub fn poll(&self) -> bool {
        let Some(inner) = &self.inner else {
            return false;
        };
        if inner.cancelled.load(Ordering::Relaxed) {
            return true;
        }
        if inner.parent.as_ref().is_some_and(CancelToken::poll)
            || inner.hook.as_ref().is_some_and(|hook| hook())
        {
            inner.cancelled.store(true, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// `Err(Cancelled { op })` once cancelled (the flag only).
    pub fn check(&self, op: &'static str) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled { op })
        } else {
            Ok(())
        }
    }

    /// [`CancelToken::check`] after polling the hook (for the waiting thread).
    pub fn poll_check(&self, op: &'static str) -> Result<()> {
        if self.poll() {
            Err(Error::Cancelled { op })
        } else {
            Ok(())
        }
    }

    /// Sleep up to `d`, in slices of [`POLL_INTERVAL`], polling the token;
    /// `Err(Cancelled)` as soon as it fires.
    pub fn sleep(&self, op: &'static str, d: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + d;
        loop {
            self.poll_check(op)?;
            let now = std::time::Instant::now();
            if now >= deadline {
                return Ok(());
            }
            std::thread::sleep((deadline - now).min(POLL_INTERVAL));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn clones_share_one_flag_and_the_default_never_fires() {
        let t = CancelToken::new();
        let c = t.clone();
        assert!(!c.is_cancelled() && c.check("x").is_ok());
        t.cancel();
        assert!(c.is_cancelled());
        assert!(matches!(c.check("x"), Err(Error::Cancelled { op: "x" })));
        let never = CancelToken::never();
        never.cancel();
        assert!(!never.poll() && !never.is_cancelled());
    }

    #[test]
    fn a_child_stops_with_its_parent_but_not_the_other_way_round() {
        let parent = CancelToken::new();
        let a = parent.child();
        let b = parent.child();
        a.cancel();
        assert!(a.is_cancelled() && !b.is_cancelled() && !parent.is_cancelled());
        parent.cancel();
        assert!(b.is_cancelled() && b.poll());
        assert!(!CancelToken::never().child().is_cancelled());
    }

    #[test]
    fn a_hook_that_fires_cancels_every_clone() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let t = CancelToken::with_hook(move || seen.fetch_add(1, Ordering::SeqCst) >= 2);
        let other = t.clone();
        assert!(!t.poll() && !t.poll());
        assert!(!other.is_cancelled(), "is_cancelled never runs the hook");
        assert!(t.poll());
        assert!(other.is_cancelled());
        assert!(t.poll());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "a fired token stops asking"
        );
        let e = t.sleep("wait", Duration::from_secs(60)).unwrap_err();
        assert!(matches!(e, Error::Cancelled { op: "wait" }));
    }
}
