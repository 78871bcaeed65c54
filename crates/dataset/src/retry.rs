//! Bounded retries of transient IO errors, and panics from the Parquet
//! decoder turned into errors.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// How many times a transient error is retried. Three retries with the
/// backoff below wait 0.35 s in all: long enough to ride out a network
/// mount's brief hiccup, short enough that a real failure surfaces quickly.
pub const DEFAULT_IO_RETRIES: u32 = 3;

/// The first retry's wait; each retry waits 5x longer (50, 250, ... ms)
/// (NFS and Lustre clients recover from a dropped RPC within ~100 ms).
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// Errors worth retrying: interrupted calls, a busy resource, and `EIO`,
/// which network mounts (NFS soft mounts, FUSE daemons) return for
/// transient failures.
pub fn is_transient(err: &hf3fs_core::Error) -> bool {
    matches!(
        err.raw_errno(),
        Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EIO)
    )
}

/// Run `op`, retrying transient errors up to `retries` times with backoff.
pub fn with_retries<T>(
    retries: u32,
    mut op: impl FnMut() -> hf3fs_core::Result<T>,
) -> hf3fs_core::Result<T> {
    let mut wait = FIRST_BACKOFF;
    let mut attempt = 0;
    loop {
        match op() {
            Err(e) if attempt < retries && is_transient(&e) => {
                attempt += 1;
                std::thread::sleep(wait);
                wait *= 5;
            }
            other => return other,
        }
    }
}

/// Run `f`, turning a panic (arrow-rs asserts on some malformed inputs)
/// into `Err(message)`.
pub fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "malformed data".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn transient_errors_are_retried_a_bounded_number_of_times() {
        let calls = Cell::new(0);
        let r: hf3fs_core::Result<()> = with_retries(2, || {
            calls.set(calls.get() + 1);
            Err(hf3fs_core::Error::errno("pread", "f", libc::EIO))
        });
        assert!(r.is_err());
        assert_eq!(calls.get(), 3);

        let calls = Cell::new(0);
        let r = with_retries(3, || {
            calls.set(calls.get() + 1);
            if calls.get() < 2 {
                Err(hf3fs_core::Error::errno("pread", "f", libc::EAGAIN))
            } else {
                Ok(7)
            }
        });
        assert_eq!(r.unwrap(), 7);

        let calls = Cell::new(0);
        let r: hf3fs_core::Result<()> = with_retries(3, || {
            calls.set(calls.get() + 1);
            Err(hf3fs_core::Error::errno("pread", "f", libc::ENOENT))
        });
        assert!(r.is_err());
        assert_eq!(calls.get(), 1, "permanent errors are not retried");
    }

    #[test]
    fn panics_become_errors() {
        assert_eq!(no_panic(|| 3), Ok(3));
        let r: Result<(), String> = no_panic(|| panic!("bad page"));
        assert_eq!(r.unwrap_err(), "bad page");
    }
}
