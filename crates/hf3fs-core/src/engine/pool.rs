//! The process's IO threads: a shared queue of running batches, and threads
//! that take operations from the oldest batch that still has unclaimed ones.
//! Each thread makes an io_uring ring the first time it works on a batch
//! that wants one, so the same threads serve engines of either kind.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use io_uring::IoUring;

use super::job::InFlightBatch;
use super::{uring, MAX_THREADS};
use crate::cancel::CancelToken;

struct Shared {
    queue: Mutex<VecDeque<Arc<InFlightBatch>>>,
    wake: Condvar,
    /// Each thread's ring fd (-1: none), so a forked child can close them
    /// without taking a lock a parent thread may have held.
    ring_fds: Box<[AtomicI32]>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<InFlightBatch>>> {
        // Jobs are pushed and popped whole; a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// IO threads of one process. A pool belongs to the process that started it:
/// after `fork()` the child has none of its threads, so the engine starts a
/// new pool there (see [`Pool::abandon`]). Threads run for the life of the
/// process; their number only grows, up to the largest any engine asked for.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    /// Threads started; growth is serialised by `grow_lock`.
    threads: AtomicUsize,
    grow_lock: Mutex<()>,
}

impl Pool {
    /// A pool with no threads yet.
    pub fn new() -> Pool {
        Pool {
            shared: Arc::new(Shared {
                queue: Mutex::new(VecDeque::new()),
                wake: Condvar::new(),
                ring_fds: (0..MAX_THREADS).map(|_| AtomicI32::new(-1)).collect(),
            }),
            threads: AtomicUsize::new(0),
            grow_lock: Mutex::new(()),
        }
    }

    /// Start threads until there are `threads` (at most [`MAX_THREADS`]).
    /// Threads that cannot be started are left out: the submitting thread
    /// always works on its own batch, so a pool with fewer (or no) threads
    /// is slower, never stuck.
    pub fn grow(&self, threads: usize) {
        let want = threads.min(MAX_THREADS);
        if self.threads.load(Ordering::Acquire) >= want {
            return;
        }
        let _guard = self.grow_lock.lock().unwrap_or_else(|e| e.into_inner());
        while self.threads.load(Ordering::Acquire) < want {
            let index = self.threads.load(Ordering::Acquire);
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hf3fs-io-{index}"))
                // IO threads only loop over syscalls; 256 KiB is plenty.
                .stack_size(256 << 10)
                .spawn(move || worker(&shared, index));
            if spawned.is_err() {
                break;
            }
            self.threads.store(index + 1, Ordering::Release);
        }
    }

    /// Number of running IO threads.
    pub fn threads(&self) -> usize {
        self.threads.load(Ordering::Acquire)
    }

    /// Queue `job` and wake up to `wake` idle threads for it.
    pub fn submit(&self, job: Arc<InFlightBatch>, wake: usize) {
        self.shared.lock().push_back(job);
        for _ in 0..wake.min(self.threads()) {
            self.shared.wake.notify_one();
        }
    }

    /// In a forked child: give up the parent's pool without touching its
    /// threads (they do not exist here) or its locks (a parent thread may
    /// have held them at the fork); only the inherited ring fds are closed.
    pub fn abandon(self: Arc<Self>) {
        for fd in self.shared.ring_fds.iter() {
            let fd = fd.swap(-1, Ordering::Relaxed);
            if fd >= 0 {
                // SAFETY: a ring fd this process inherited and nothing here
                // uses (its owner thread is not in this process); the swap
                // makes sure it is closed once.
                unsafe { libc::close(fd) };
            }
        }
        std::mem::forget(self);
    }
}

fn worker(shared: &Shared, index: usize) {
    // Made on the first batch that wants a ring; a thread whose ring cannot
    // be set up (locked-memory limits on older kernels) does blocking IO.
    let mut ring: Option<IoUring> = None;
    let mut ring_failed = false;
    let never = CancelToken::never();
    loop {
        let job = next_job(shared);
        match job.ring_depth {
            Some(depth) if !ring_failed => {
                if ring.is_none() {
                    ring = IoUring::new(depth).ok();
                    ring_failed = ring.is_none();
                    if let Some(r) = &ring {
                        shared.ring_fds[index].store(r.as_raw_fd(), Ordering::Relaxed);
                    }
                }
                match ring.as_mut() {
                    Some(r) => uring::work(r, &job, &never),
                    None => job.work_blocking(&never),
                }
            }
            _ => job.work_blocking(&never),
        }
    }
}

/// The oldest batch with unclaimed operations.
fn next_job(shared: &Shared) -> Arc<InFlightBatch> {
    let mut queue = shared.lock();
    loop {
        while queue.front().is_some_and(|j| j.exhausted()) {
            queue.pop_front();
        }
        if let Some(job) = queue.front() {
            return job.clone();
        }
        queue = shared.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
    }
}
