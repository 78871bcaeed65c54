//! Bounded retries of transient IO errors.

use std::time::Duration;

use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// The first retry's wait; each retry waits 5x longer (10, 50, 250 ms):
/// NFS and Lustre clients recover from a dropped RPC within ~100 ms.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// Errors worth retrying: interrupted calls, a busy resource, and `EIO`,
/// which network mounts (NFS soft mounts, FUSE daemons) return for
/// transient failures.
pub fn is_transient(err: &Error) -> bool {
    matches!(
        err.raw_errno(),
        Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EIO)
    ) && !matches!(
        err,
        // An object store's client has already retried with its own backoff.
        Error::Cancelled { .. } | Error::Interrupted { .. } | Error::Store { .. }
    )
}

/// Run `op`, retrying transient errors up to `retries` times with backoff;
/// once `cancel` fires (also during a backoff) the last error is returned.
pub fn with_retries<T>(
    retries: u32,
    cancel: &CancelToken,
    mut op: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut wait = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        match op() {
            Err(e) if attempt < retries && is_transient(&e) && !cancel.is_cancelled() => {
                attempt += 1;
                if cancel.sleep("retry", wait).is_err() {
                    return Err(e);
                }
                wait *= 5;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn transient_errors_are_retried_a_bounded_number_of_times() {
        let calls = Cell::new(0);
        let r: Result<()> = with_retries(2, &CancelToken::never(), || {
            calls.set(calls.get() + 1);
            Err(Error::errno("pread", "f", libc::EIO))
        });
        assert!(r.is_err());
        assert_eq!(calls.get(), 3);

        let calls = Cell::new(0);
        let r = with_retries(3, &CancelToken::never(), || {
            calls.set(calls.get() + 1);
            if calls.get() < 2 {
                Err(Error::errno("pread", "f", libc::EAGAIN))
            } else {
                Ok(7)
            }
        });
        assert_eq!(r.unwrap(), 7);

        let calls = Cell::new(0);
        let r: Result<()> = with_retries(3, &CancelToken::never(), || {
            calls.set(calls.get() + 1);
            Err(Error::errno("pread", "f", libc::ENOENT))
        });
        assert!(r.is_err());
        assert_eq!(calls.get(), 1, "permanent errors are not retried");

        let calls = Cell::new(0);
        let r: Result<()> = with_retries(3, &CancelToken::never(), || {
            calls.set(calls.get() + 1);
            Err(Error::Interrupted { op: "preadv" })
        });
        assert!(r.is_err());
        assert_eq!(calls.get(), 1, "an interrupt is not retried");

        let cancel = CancelToken::new();
        cancel.cancel();
        let calls = Cell::new(0);
        let r: Result<()> = with_retries(3, &cancel, || {
            calls.set(calls.get() + 1);
            Err(Error::errno("pread", "f", libc::EIO))
        });
        assert!(r.is_err());
        assert_eq!(calls.get(), 1, "a cancelled caller is not retried for");
    }
}
