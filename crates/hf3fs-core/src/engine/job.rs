//! One submitted batch while it runs: the plan, which operations are claimed,
//! the per-piece results, and the completion signal the submitter waits on.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::exec;
use super::plan::Plan;
use super::IoDirection;
use crate::client::Interrupt;

/// How long the submitter sleeps between interrupt checks while IO threads
/// finish its batch; it matches the binding's signal-check interval.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// A batch being executed by the submitting thread and the IO threads.
///
/// Invariant: the memory every operation names stays valid, and is not
/// accessed through Rust references, until [`Job::wait`] has returned on the
/// submitting thread; that thread does not return before.
pub(crate) struct Job {
    pub dir: IoDirection,
    pub plan: Plan,
    pub results: Box<[AtomicI64]>,
    next: AtomicUsize,
    unfinished: AtomicUsize,
    cancelled: AtomicBool,
    done_lock: Mutex<()>,
    done: Condvar,
}

impl Job {
    /// # Safety
    /// The caller upholds the type's invariant: it keeps the memory of every
    /// entry valid until [`Job::wait`] returns.
    pub unsafe fn new(dir: IoDirection, plan: Plan) -> Job {
        let results = (0..plan.pieces.len()).map(|_| AtomicI64::new(0)).collect();
        let ops = plan.ops.len();
        Job {
            dir,
            plan,
            results,
            next: AtomicUsize::new(0),
            unfinished: AtomicUsize::new(ops),
            cancelled: AtomicBool::new(false),
            done_lock: Mutex::new(()),
            done: Condvar::new(),
        }
    }

    /// Take the next unclaimed operation.
    pub fn claim(&self) -> Option<usize> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.plan.ops.len()).then_some(i)
    }

    /// Whether every operation has been claimed (not necessarily finished).
    pub fn exhausted(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.plan.ops.len()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Mark a claimed operation finished.
    pub fn finish(&self) {
        if self.unfinished.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _guard = self.done_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.done.notify_all();
        }
    }

    /// Finish a claimed operation without running it (the batch was interrupted).
    pub fn skip(&self, op: usize) {
        for i in self.plan.ops[op].pieces.clone() {
            self.results[i].store(-(libc::EINTR as i64), Ordering::Relaxed);
        }
        self.finish();
    }

    /// Run a claimed operation with blocking calls, or skip it once cancelled.
    pub fn run_blocking(&self, op: usize) {
        if self.is_cancelled() {
            return self.skip(op);
        }
        // SAFETY: the type's invariant keeps the operation's memory valid
        // until the submitter's `wait` returns, which needs this op finished.
        unsafe {
            exec::run_op(self.dir, &self.plan, &self.plan.ops[op], 0, &self.results);
        }
        self.finish();
    }

    /// Record a ring completion (`res`: bytes or `-errno`) for a claimed
    /// operation, finishing what the ring left undone with blocking calls.
    pub fn complete(&self, op_index: usize, res: i32) {
        let op = &self.plan.ops[op_index];
        // SAFETY (all three calls): as in `run_blocking`.
        unsafe {
            if res >= 0 {
                let n = res as usize;
                if n == 0 || n >= op.len {
                    exec::distribute(&self.plan, op, n, &self.results);
                } else {
                    exec::run_op(self.dir, &self.plan, op, n, &self.results);
                }
            } else {
                match -res {
                    libc::EINTR | libc::EAGAIN | libc::ECANCELED => {
                        exec::run_op(self.dir, &self.plan, op, 0, &self.results)
                    }
                    _ if op.pieces.len() > 1 => {
                        exec::run_pieces_alone(self.dir, &self.plan, op, 0, &self.results)
                    }
                    _ => self.results[op.pieces.start].store(res as i64, Ordering::Relaxed),
                }
            }
        }
        self.finish();
    }

    /// Claim and run operations until none are left (the submitting thread's share).
    pub fn work_blocking(&self, interrupt: Interrupt<'_>) {
        while let Some(op) = self.claim() {
            if !self.is_cancelled() && interrupt() {
                self.cancelled.store(true, Ordering::Relaxed);
            }
            self.run_blocking(op);
        }
    }

    /// Block until every operation has finished. An interrupt cancels the
    /// operations not yet started; the call still waits for running ones, so
    /// no IO touches the memory after it returns. Returns whether the batch
    /// was cancelled.
    pub fn wait(&self, interrupt: Interrupt<'_>) -> bool {
        loop {
            {
                let guard = self.done_lock.lock().unwrap_or_else(|e| e.into_inner());
                if self.unfinished.load(Ordering::Acquire) == 0 {
                    break;
                }
                let (_guard, _) = self
                    .done
                    .wait_timeout(guard, WAIT_SLICE)
                    .unwrap_or_else(|e| e.into_inner());
            }
            // Checked without the lock: the check may wait for the GIL.
            if self.unfinished.load(Ordering::Acquire) > 0 && !self.is_cancelled() && interrupt() {
                self.cancelled.store(true, Ordering::Relaxed);
            }
        }
        self.is_cancelled()
    }

    /// Per-piece results, once [`Job::wait`] has returned.
    pub fn piece_results(&self) -> Vec<i64> {
        self.results
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .collect()
    }
}
