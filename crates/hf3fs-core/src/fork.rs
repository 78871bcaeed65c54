//! Telling a forked child from its parent without a syscall.
//!
//! Pools of threads and io_uring rings belong to the process that made them:
//! after `fork()` the child has the memory but not the threads, and must not
//! submit to the parent's rings. Asking `getpid()` on every batch costs a
//! syscall on the single-read path (glibc no longer caches the pid), so a
//! child handler registered with `pthread_atfork` counts forks instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn in_child_after_fork() {
    // Only an atomic add: the child of a multi-threaded parent may run
    // nothing that takes a lock.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// How many forks lie between the first call in this process's line and
/// now: it differs from a value saved earlier exactly when the caller is a
/// child forked since. Call it when making a per-process resource, so the
/// handler is in place before any fork that could copy the resource.
pub fn generation() -> u64 {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: the handler is a plain `extern "C"` function that only does
        // an atomic add, which is async-signal-safe, so it may run in the
        // child of any fork; registration itself has no other effect.
        unsafe { libc::pthread_atfork(None, None, Some(in_child_after_fork)) };
    });
    GENERATION.load(Ordering::Relaxed)
}
