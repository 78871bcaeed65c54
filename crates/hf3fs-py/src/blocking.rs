//! The one helper every blocking call goes through: it releases the GIL, lets
//! long calls notice Ctrl-C, turns a Rust panic into a Python exception and
//! maps errors.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use hf3fs_core::Interrupt;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

use crate::error::IntoPyErr;

/// How often a long call re-takes the GIL to look for pending signals. Ctrl-C
/// feels immediate at 50 ms, and a GIL round-trip costs ~1 µs, so the check is
/// noise next to the IO it interrupts.
const SIGNAL_CHECK_INTERVAL_MS: u64 = 50;

/// Run `f` without the GIL. `f` gets an interrupt check to poll in loops.
pub fn blocking<T, E, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    E: IntoPyErr + Send,
    F: for<'a> FnOnce(Interrupt<'a>) -> Result<T, E> + Send,
{
    let pending: Mutex<Option<PyErr>> = Mutex::new(None);
    let start = Instant::now();
    let last_check_ms = AtomicU64::new(0);
    let check = || -> bool {
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
    };
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(|| f(&check))));
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => match e.interrupted() {
            Some(op) => {
                let raised = pending.lock().unwrap_or_else(|p| p.into_inner()).take();
                Err(raised
                    .unwrap_or_else(|| PyKeyboardInterrupt::new_err(format!("{op} interrupted"))))
            }
            None => Err(e.into_pyerr()),
        },
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(PyRuntimeError::new_err(format!(
                "internal error in hf3fs (please report it): {msg}"
            )))
        }
    }
}
