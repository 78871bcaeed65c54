//! The one helper every blocking call goes through: it releases the GIL,
//! hands the call a [`CancelToken`] that Ctrl-C cancels, turns a Rust panic
//! into a Python exception and maps errors.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hf3fs_core::CancelToken;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

use crate::error::IntoPyErr;

/// How often a waiting call re-takes the GIL to look for pending signals.
/// Ctrl-C feels immediate at 50 ms, and a GIL round-trip costs ~1 µs, so
/// the check is noise next to the IO it interrupts.
const SIGNAL_CHECK_INTERVAL_MS: u64 = 50;

/// A token for one call from the current thread: polling it (which the
/// call's waits do) looks for pending signals at most every
/// [`SIGNAL_CHECK_INTERVAL_MS`], on this thread only (CPython runs signal
/// handlers on the main thread; a check from elsewhere would only contend
/// for the GIL). A raised signal is kept in `pending` and cancels the token,
/// which every thread working for the call sees.
fn signal_token(pending: Arc<Mutex<Option<PyErr>>>) -> CancelToken {
    let caller = std::thread::current().id();
    let start = Instant::now();
    let last_check_ms = AtomicU64::new(0);
    CancelToken::with_hook(move || {
        if std::thread::current().id() != caller {
            return false;
        }
        let now = start.elapsed().as_millis() as u64;
        if now.saturating_sub(last_check_ms.load(Ordering::Relaxed)) < SIGNAL_CHECK_INTERVAL_MS {
            return false;
        }
        last_check_ms.store(now, Ordering::Relaxed);
        Python::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(e) => {
                *pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                true
            }
        })
    })
}

/// Run `f` without the GIL. `f` gets the call's cancel token: Ctrl-C
/// cancels it, and the exception the signal handler raised (usually
/// `KeyboardInterrupt`) is what the call raises, whatever error the
/// cancelled work returned.
pub fn blocking<T, E, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    E: IntoPyErr + Send,
    F: FnOnce(&CancelToken) -> Result<T, E> + Send,
{
    let pending: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
    let token = signal_token(pending.clone());
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(|| f(&token))));
    // The call is over: work still holding the token stops.
    token.cancel();
    let raised = pending.lock().unwrap_or_else(|p| p.into_inner()).take();
    match outcome {
        // A signal the token caught was taken from Python's queue: raise it
        // even when the call finished anyway, or that Ctrl-C would be lost.
        Ok(Ok(v)) => match raised {
            Some(signal) => Err(signal),
            None => Ok(v),
        },
        Ok(Err(e)) => match (raised, e.interrupted()) {
            (Some(signal), _) => Err(signal),
            (None, Some(op)) => Err(PyKeyboardInterrupt::new_err(format!("{op} interrupted"))),
            (None, None) => Err(e.into_pyerr()),
        },
        Err(panic) => {
            let msg = hf3fs_core::runtime::panic_message(&*panic);
            Err(PyRuntimeError::new_err(format!(
                "internal error in hf3fs (please report it): {msg}"
            )))
        }
    }
}

/// The next item of the reader in `slot` (None when the reader is closed or
/// at its end), waited for without the GIL: the readers' `__next__`.
pub fn next_in<R, T, E, F>(py: Python<'_>, slot: &Mutex<Option<R>>, next: F) -> PyResult<Option<T>>
where
    R: Send,
    T: Send,
    E: IntoPyErr + Send,
    F: FnOnce(&mut R, &CancelToken) -> Result<Option<T>, E> + Send,
{
    blocking(py, |cancel| {
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            None => Ok(None),
            Some(reader) => next(reader, cancel),
        }
    })
}
