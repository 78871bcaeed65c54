//! Telling a forked child from its parent without a syscall, and keeping
//! the runtime's slot locks free across `fork()`.
//!
//! Pools of threads and io_uring rings belong to the process that made them:
//! after `fork()` the child has the memory but not the threads, and must not
//! submit to the parent's rings. Asking `getpid()` on every batch costs a
//! syscall on the single-read path (glibc no longer caches the pid), so a
//! child handler registered with `pthread_atfork` counts forks instead.
//!
//! The child finds its own pools through a few process-wide slots (a mutex
//! each). A parent thread holding one at the instant of the fork would leave
//! it locked forever in the child (polars, lance and litdata shipped such
//! deadlocks), so the forking thread takes every registered slot lock just
//! before `fork()` and releases them just after, in both processes.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// A lock the forking thread holds across `fork()`.
pub trait ForkGuarded: Sync + 'static {
    /// Take the lock; the guard is dropped after the fork.
    fn hold(&'static self) -> Box<dyn Any>;
}

impl<T: Send + 'static> ForkGuarded for Mutex<T> {
    fn hold(&'static self) -> Box<dyn Any> {
        Box::new(crate::sync::lock(self))
    }
}

static GUARDED: Mutex<Vec<&'static dyn ForkGuarded>> = Mutex::new(Vec::new());

thread_local! {
    /// The guards the forking thread holds while `fork()` runs.
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

fn registry() -> MutexGuard<'static, Vec<&'static dyn ForkGuarded>> {
    crate::sync::lock(&GUARDED)
}

extern "C" fn before_fork() {
    let registry = registry();
    let mut held: Vec<Box<dyn Any>> = registry.iter().map(|lock| lock.hold()).collect();
    held.push(Box::new(registry));
    HELD.with(|h| *h.borrow_mut() = held);
}

extern "C" fn in_parent_after_fork() {
    HELD.with(|h| drop(std::mem::take(&mut *h.borrow_mut())));
}

extern "C" fn in_child_after_fork() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    // Unlock without freeing: the child of a multi-threaded parent should
    // run as little as it can before exec or its own set-up, and a few
    // leaked guard boxes per fork cost nothing.
    HELD.with(|h| {
        for guard in std::mem::take(&mut *h.borrow_mut()) {
            // SAFETY: `into_raw` hands over the box's only owner; its value
            // is dropped in place once (unlocking the mutex) and the
            // allocation is never touched again.
            unsafe { std::ptr::drop_in_place(Box::into_raw(guard)) };
        }
    });
}

fn register_handlers() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: the handlers are plain `extern "C"` functions that only
        // take and release this module's locks (in a fixed order, and no
        // code holds two of them at once) and count forks; registration
        // itself has no other effect.
        unsafe {
            libc::pthread_atfork(
                Some(before_fork),
                Some(in_parent_after_fork),
                Some(in_child_after_fork),
            )
        };
    });
}

/// How many forks lie between the first call in this process's line and
/// now: it differs from a value saved earlier exactly when the caller is a
/// child forked since. Call it when making a per-process resource, so the
/// handler is in place before any fork that could copy the resource.
pub fn generation() -> u64 {
    register_handlers();
    GENERATION.load(Ordering::Relaxed)
}

/// Hold `lock` across every later `fork()` of this process (see the module
/// docs). For the slots that find a per-process resource; such a lock must
/// never be held while another registered one is taken.
pub fn guard_across_fork(lock: &'static dyn ForkGuarded) {
    register_handlers();
    registry().push(lock);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_held_by_another_thread_at_fork_is_free_in_the_child() {
        static SLOT: Mutex<u32> = Mutex::new(0);
        guard_across_fork(&SLOT);
        let before = generation();
        // Another thread takes the lock often; the fork happens meanwhile.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let busy = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                *SLOT.lock().unwrap() += 1;
            }
        });
        for _ in 0..20 {
            // SAFETY: the child only locks the slot, reads the generation
            // and exits with `_exit`, never returning into the test harness.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                let ok = SLOT.try_lock().is_ok() && generation() == before + 1;
                // SAFETY: `_exit` ends the child without running the
                // parent's atexit handlers or unwinding.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let mut status = 0;
            // SAFETY: waiting for the child just forked.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
        stop.store(true, Ordering::Relaxed);
        busy.join().unwrap();
        assert_eq!(generation(), before, "the parent's generation is unchanged");
    }
}
