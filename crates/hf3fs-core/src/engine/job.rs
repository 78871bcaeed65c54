//! One submitted batch while it runs: the plan, which operations are claimed,
//! the per-piece results, and the completion signal the submitter waits on.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::exec;
use super::plan::Plan;
use super::IoDirection;
use crate::cancel::CancelToken;

/// How long the submitter sleeps between looks at its cancel token while
/// IO threads finish its batch.
const WAIT_SLICE: Duration = crate::cancel::POLL_INTERVAL;

/// Bytes of IO a thread claims at once. Claiming op by op makes every thread
/// bounce the shared counters' cache lines per 4 KiB read (~100 ns each, as
/// much as the read); 256 KiB amortises that while leaving a 1 MiB-op batch
/// claimed one op at a time, so threads still share it evenly.
const CLAIM_BYTES: usize = 256 << 10;

/// Most operations claimed at once, so small batches still spread over threads.
const MAX_CLAIM_OPS: usize = 32;

/// Keeps a hot atomic on its own cache line (two lines: adjacent-line prefetch).
#[repr(align(128))]
struct Padded<T>(T);

/// A batch being executed by the submitting thread and the IO threads.
///
/// Invariant: the memory every operation names stays valid, and is not
/// accessed through Rust references, until [`InFlightBatch::wait`] has returned on the
/// submitting thread; that thread does not return before.
pub(crate) struct InFlightBatch {
    pub dir: IoDirection,
    pub plan: Plan,
    /// Ring depth when the batch runs on io_uring (None: blocking calls).
    pub ring_depth: Option<u32>,
    pub results: Box<[AtomicI64]>,
    /// Operations claimed per `claim`.
    chunk: usize,
    next: Padded<AtomicUsize>,
    unfinished: Padded<AtomicUsize>,
    cancelled: AtomicBool,
    done_lock: Mutex<()>,
    done: Condvar,
}

impl InFlightBatch {
    /// # Safety
    /// The caller upholds the type's invariant: it keeps the memory of every
    /// entry valid until [`InFlightBatch::wait`] returns.
    pub unsafe fn new(dir: IoDirection, plan: Plan, ring_depth: Option<u32>) -> InFlightBatch {
        let results = (0..plan.pieces.len()).map(|_| AtomicI64::new(0)).collect();
        let ops = plan.ops.len();
        let bytes: usize = plan.ops.iter().map(|o| o.len).sum();
        let avg = (bytes / ops.max(1)).max(1);
        let chunk = (CLAIM_BYTES / avg).clamp(1, MAX_CLAIM_OPS);
        InFlightBatch {
            dir,
            plan,
            ring_depth,
            results,
            chunk,
            next: Padded(AtomicUsize::new(0)),
            unfinished: Padded(AtomicUsize::new(ops)),
            cancelled: AtomicBool::new(false),
            done_lock: Mutex::new(()),
            done: Condvar::new(),
        }
    }

    /// Take the next unclaimed operations (at most `max`).
    pub fn claim(&self, max: usize) -> Option<Range<usize>> {
        let n = self.chunk.min(max).max(1);
        let start = self.next.0.fetch_add(n, Ordering::Relaxed);
        let ops = self.plan.ops.len();
        (start < ops).then(|| start..(start + n).min(ops))
    }

    /// Whether every operation has been claimed (not necessarily finished).
    pub fn exhausted(&self) -> bool {
        self.next.0.load(Ordering::Relaxed) >= self.plan.ops.len()
    }

    /// Stop running operations not yet started (an interrupt).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Mark `n` claimed operations finished.
    pub fn finish(&self, n: usize) {
        if n > 0 && self.unfinished.0.fetch_sub(n, Ordering::AcqRel) == n {
            let _guard = self.done_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.done.notify_all();
        }
    }

    /// Record a claimed operation as not run (the batch was interrupted);
    /// the caller still counts it with [`InFlightBatch::finish`].
    pub fn skip(&self, op: usize) {
        for i in self.plan.ops[op].pieces.clone() {
            self.results[i].store(-(libc::EINTR as i64), Ordering::Relaxed);
        }
    }

    /// Run claimed operations with blocking calls (or skip them once
    /// cancelled), then mark them finished.
    pub fn run_blocking(&self, ops: Range<usize>) {
        let n = ops.len();
        for op in ops {
            if self.is_cancelled() {
                self.skip(op);
                continue;
            }
            // SAFETY: the type's invariant keeps the operation's memory valid
            // until the submitter's `wait` returns, which needs it finished.
            unsafe {
                exec::run_op(self.dir, &self.plan, &self.plan.ops[op], 0, &self.results);
            }
        }
        self.finish(n);
    }

    /// Record a ring completion (`res`: bytes or `-errno`) for a claimed
    /// operation, finishing what the ring left undone with blocking calls;
    /// the caller counts it with [`InFlightBatch::finish`].
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
    }

    /// Claim and run operations until none are left (the submitting thread's share).
    pub fn work_blocking(&self, cancel: &CancelToken) {
        while let Some(ops) = self.claim(usize::MAX) {
            if !self.is_cancelled() && cancel.poll() {
                self.cancel();
            }
            self.run_blocking(ops);
        }
    }

    /// Block until every operation has finished. An interrupt cancels the
    /// operations not yet started; the call still waits for running ones, so
    /// no IO touches the memory after it returns. Returns whether the batch
    /// was cancelled.
    pub fn wait(&self, cancel: &CancelToken) -> bool {
        loop {
            {
                let guard = self.done_lock.lock().unwrap_or_else(|e| e.into_inner());
                if self.unfinished.0.load(Ordering::Acquire) == 0 {
                    break;
                }
                let (_guard, _) = self
                    .done
                    .wait_timeout(guard, WAIT_SLICE)
                    .unwrap_or_else(|e| e.into_inner());
            }
            // Checked without the lock: the check may wait for the GIL.
            if self.unfinished.0.load(Ordering::Acquire) > 0
                && !self.is_cancelled()
                && cancel.poll()
            {
                self.cancel();
            }
        }
        self.is_cancelled()
    }

    /// Per-piece results, once [`InFlightBatch::wait`] has returned.
    pub fn piece_results(&self) -> Vec<i64> {
        self.results
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .collect()
    }
}
