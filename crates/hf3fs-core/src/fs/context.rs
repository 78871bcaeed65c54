//! Where file system work runs off the calling thread: an executor, an
//! external id that tags the work, and a cancel token that stops work not
//! yet started (Arrow's `IOContext`). Results come back as
//! [`PendingResult`]s, which a blocking caller waits on, with a token it
//! may cancel.
//!
//! Nothing awaits them: the pools hand results to blocking threads (the
//! async S3 client has its own runtime, `runtime::net`), and a blocking
//! wait that polls a cancel token every `POLL_INTERVAL` is what a channel
//! (`futures`' oneshot, tokio's) does not offer; so this is a mutex and a
//! condition variable.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::cancel::{CancelToken, POLL_INTERVAL};
use crate::error::{Error, Result};
use crate::runtime::{self, Executor};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent before it can
    // panic, so a poisoned lock still guards valid data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Options for async IO: where it runs, a tag, and a way to cancel it.
#[derive(Debug, Clone)]
pub struct IoContext {
    executor: Arc<dyn Executor>,
    external_id: i64,
    cancel: CancelToken,
}

/// The runtime's file system pool as a shareable executor.
#[derive(Debug)]
struct RuntimeIoPool;

impl Executor for RuntimeIoPool {
    fn spawn(&self, task: runtime::Task) {
        runtime::io_executor().spawn(task)
    }
}

impl Default for IoContext {
    /// The runtime's file system pool, no tag, never cancelled.
    fn default() -> IoContext {
        IoContext::new(Arc::new(RuntimeIoPool), -1, CancelToken::never())
    }
}

impl IoContext {
    /// A context running on `executor`, tagged `external_id` (Arrow's "no id"
    /// is -1), cancelled through `cancel`.
    pub fn new(executor: Arc<dyn Executor>, external_id: i64, cancel: CancelToken) -> IoContext {
        IoContext {
            executor,
            external_id,
            cancel,
        }
    }

    /// The runtime's pool with `cancel` (and no tag).
    pub fn with_cancel(cancel: CancelToken) -> IoContext {
        IoContext {
            cancel,
            ..IoContext::default()
        }
    }

    /// The executor async work runs on.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.executor
    }

    /// The tag given to this context's work.
    pub fn external_id(&self) -> i64 {
        self.external_id
    }

    /// The token that cancels this context's work.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Run `f` on the executor; if the token fires before it starts, the
    /// future resolves to [`Error::Cancelled`] for `op` without running it.
    pub fn submit<T, F>(&self, op: &'static str, f: F) -> PendingResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let (future, promise) = PendingResult::pending(op);
        let token = self.cancel.clone();
        self.executor.spawn(Box::new(move || {
            promise.complete(token.check(op).and_then(|()| f()));
        }));
        future
    }
}

struct Slot<T> {
    state: Mutex<SlotState<T>>,
    ready: Condvar,
}

struct SlotState<T> {
    value: Option<Result<T>>,
    done: bool,
}

/// The result of work running elsewhere; `wait` blocks for it. Clones (for
/// `T: Clone`) share one result, which [`PendingResult::wait_cloned`] reads
/// without taking.
pub struct PendingResult<T> {
    slot: Arc<Slot<T>>,
    op: &'static str,
}

impl<T> fmt::Debug for PendingResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingResult")
            .field("op", &self.op)
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl<T: Clone> Clone for PendingResult<T> {
    fn clone(&self) -> Self {
        PendingResult {
            slot: self.slot.clone(),
            op: self.op,
        }
    }
}

/// The producing side of an [`PendingResult`]. Dropped without completing (the
/// task panicked or never ran), it completes the future with an error.
pub struct Promise<T> {
    slot: Option<Arc<Slot<T>>>,
    op: &'static str,
}

impl<T> Promise<T> {
    /// Deliver the result and wake every waiter.
    pub fn complete(mut self, value: Result<T>) {
        self.fulfil(value);
    }

    fn fulfil(&mut self, value: Result<T>) {
        if let Some(slot) = self.slot.take() {
            {
                let mut state = lock(&slot.state);
                state.value = Some(value);
                state.done = true;
            }
            slot.ready.notify_all();
        }
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            let op = self.op;
            self.fulfil(Err(Error::task_failed(
                op,
                "the task ended without a result (it panicked); see the log for the panic",
            )));
        }
    }
}

impl<T> PendingResult<T> {
    /// A future already holding `value`.
    pub fn ready(op: &'static str, value: Result<T>) -> PendingResult<T> {
        let (future, promise) = PendingResult::pending(op);
        promise.complete(value);
        future
    }

    /// A future and the promise that completes it.
    pub fn pending(op: &'static str) -> (PendingResult<T>, Promise<T>) {
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                value: None,
                done: false,
            }),
            ready: Condvar::new(),
        });
        (
            PendingResult {
                slot: slot.clone(),
                op,
            },
            Promise {
                slot: Some(slot),
                op,
            },
        )
    }

    /// Whether the result has arrived.
    pub fn is_ready(&self) -> bool {
        lock(&self.slot.state).done
    }

    fn wait_done(&self) -> MutexGuard<'_, SlotState<T>> {
        let mut state = lock(&self.slot.state);
        while !state.done {
            state = self
                .slot
                .ready
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        state
    }

    /// Wait until the result arrives or `cancel` fires (polled every
    /// [`POLL_INTERVAL`]); true when the result is there.
    fn wait_done_or_cancelled(&self, cancel: &CancelToken) -> bool {
        let mut state = lock(&self.slot.state);
        loop {
            if state.done {
                return true;
            }
            let (guard, _) = self
                .slot
                .ready
                .wait_timeout(state, POLL_INTERVAL)
                .unwrap_or_else(|e| e.into_inner());
            state = guard;
            if !state.done {
                // Polled without the lock: the hook may wait for the GIL.
                drop(state);
                if cancel.poll() {
                    return false;
                }
                state = lock(&self.slot.state);
            }
        }
    }

    /// Block until the result arrives and take it; `Err(Cancelled)` as soon
    /// as `cancel` fires (the work itself goes on unless it holds the token).
    pub fn wait_with(self, cancel: &CancelToken) -> Result<T> {
        if !self.wait_done_or_cancelled(cancel) {
            return Err(Error::Cancelled { op: self.op });
        }
        self.wait()
    }

    /// [`PendingResult::wait_cloned`] that gives up when `cancel` fires.
    pub fn wait_cloned_with(&self, cancel: &CancelToken) -> Result<T>
    where
        T: Clone,
    {
        if !self.wait_done_or_cancelled(cancel) {
            return Err(Error::Cancelled { op: self.op });
        }
        self.wait_cloned()
    }

    /// Block until the result arrives and take it.
    pub fn wait(self) -> Result<T> {
        let op = self.op;
        let mut state = self.wait_done();
        state.value.take().unwrap_or_else(|| Err(taken(op)))
    }

    /// Block until the result arrives and return a copy, leaving it for
    /// other clones of this future.
    pub fn wait_cloned(&self) -> Result<T>
    where
        T: Clone,
    {
        let state = self.wait_done();
        state.value.clone().unwrap_or_else(|| Err(taken(self.op)))
    }
}

fn taken(op: &'static str) -> Error {
    Error::InvalidState {
        op: op.to_string(),
        reason: "the result was already taken by another wait()".to_string(),
    }
}
