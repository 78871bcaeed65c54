//! The IO threads: a shared queue of running batches, and threads that take
//! operations from the oldest batch that still has unclaimed ones.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use io_uring::IoUring;

use super::job::Job;
use super::{uring, EngineKind};
use crate::client::never_interrupt;

struct Shared {
    queue: Mutex<VecDeque<Arc<Job>>>,
    wake: Condvar,
    shutdown: AtomicBool,
    /// Each thread's ring fd (-1: none), so a forked child can close them.
    ring_fds: Box<[AtomicI32]>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Job>>> {
        // Jobs are pushed and popped whole; a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// IO threads of one process. A pool belongs to the process that started it:
/// after `fork()` the child has none of its threads, so the engine starts a
/// new pool there (see [`Pool::abandon`]).
pub(crate) struct Pool {
    /// [`crate::fork::generation`] when started.
    fork_generation: u64,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Start `threads` IO threads, each with a ring of `queue_depth` entries
    /// when `kind` is [`EngineKind::Uring`]. Threads that cannot be started
    /// are left out: the submitting thread always works on its own batch,
    /// so a pool with fewer (or no) threads is slower, never stuck.
    pub fn start(kind: EngineKind, threads: usize, queue_depth: u32) -> Pool {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
            ring_fds: (0..threads).map(|_| AtomicI32::new(-1)).collect(),
        });
        let mut workers = Vec::with_capacity(threads);
        for index in 0..threads {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hf3fs-io-{index}"))
                // IO threads only loop over syscalls; 256 KiB is plenty and
                // keeps many clients' pools small.
                .stack_size(256 << 10)
                .spawn(move || worker(&shared, index, kind, queue_depth));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(_) => break,
            }
        }
        Pool {
            fork_generation: crate::fork::generation(),
            shared,
            workers,
        }
    }

    /// Whether this pool was started by the calling process.
    pub fn is_current(&self) -> bool {
        self.fork_generation == crate::fork::generation()
    }

    /// Number of running IO threads.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Queue `job` and wake up to `wake` idle threads for it.
    pub fn submit(&self, job: Arc<Job>, wake: usize) {
        self.shared.lock().push_back(job);
        for _ in 0..wake.min(self.workers.len()) {
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

impl Drop for Pool {
    fn drop(&mut self) {
        if !self.is_current() {
            // Dropped in a forked child: the threads are not ours to join.
            for handle in self.workers.drain(..) {
                std::mem::forget(handle);
            }
            return;
        }
        self.shared.shutdown.store(true, Ordering::Relaxed);
        // Taking the lock orders the store before any worker's next check.
        drop(self.shared.lock());
        self.shared.wake.notify_all();
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn worker(shared: &Shared, index: usize, kind: EngineKind, queue_depth: u32) {
    // A thread whose ring cannot be set up (e.g. locked-memory limits on
    // older kernels) does blocking IO instead.
    let mut ring = match kind {
        EngineKind::Uring => IoUring::new(queue_depth).ok(),
        _ => None,
    };
    if let Some(r) = &ring {
        shared.ring_fds[index].store(r.as_raw_fd(), Ordering::Relaxed);
    }
    while let Some(job) = next_job(shared) {
        match ring.as_mut() {
            Some(r) => uring::work(r, &job, &never_interrupt),
            None => job.work_blocking(&never_interrupt),
        }
    }
    if let Some(r) = ring.take() {
        shared.ring_fds[index].store(-1, Ordering::Relaxed);
        drop(r);
    }
}

/// The oldest batch with unclaimed operations; `None` at shutdown.
fn next_job(shared: &Shared) -> Option<Arc<Job>> {
    let mut queue = shared.lock();
    loop {
        if shared.shutdown.load(Ordering::Relaxed) {
            return None;
        }
        while queue.front().is_some_and(|j| j.exhausted()) {
            queue.pop_front();
        }
        if let Some(job) = queue.front() {
            return Some(job.clone());
        }
        queue = shared.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
    }
}
