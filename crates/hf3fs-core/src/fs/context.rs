//! Where async file system work runs: an executor, an external id that tags
//! the work, and a stop token that cancels work not yet started (Arrow's
//! `IOContext`). Results come back as [`IoFuture`]s, which a caller can
//! `.wait()` on or `.await` from any async runtime.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};

/// Arrow's default IO thread pool capacity: enough requests in flight to
/// hide a remote store's latency, few enough not to thrash a local disk.
pub const DEFAULT_IO_THREADS: usize = 8;

/// A task for an [`Executor`].
pub type Task = Box<dyn FnOnce() + Send + 'static>;

/// Runs tasks on other threads.
pub trait Executor: Send + Sync + fmt::Debug {
    /// Run `task` some time soon on one of the executor's threads.
    fn spawn(&self, task: Task);
    /// How many tasks may run at once (approximate).
    fn capacity(&self) -> usize;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent before it can
    // panic, so a poisoned lock still guards valid data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct PoolShared {
    /// [`crate::fork::generation`] when started.
    fork_generation: u64,
    queue: Mutex<VecDeque<Task>>,
    wake: Condvar,
}

/// A fixed pool of threads that run tasks in submission order. Threads start
/// with the first task; after `fork()` the child starts its own.
pub struct ThreadPoolExecutor {
    threads: usize,
    name: &'static str,
    shared: Mutex<Option<Arc<PoolShared>>>,
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("threads", &self.threads)
            .field("name", &self.name)
            .finish()
    }
}

impl ThreadPoolExecutor {
    /// A pool of `threads` threads (at least one) named `name-N`.
    pub fn new(threads: usize, name: &'static str) -> ThreadPoolExecutor {
        ThreadPoolExecutor {
            threads: threads.max(1),
            name,
            shared: Mutex::new(None),
        }
    }

    /// The process-wide pool that [`IoContext::default`] uses.
    pub fn global() -> Arc<ThreadPoolExecutor> {
        static GLOBAL: OnceLock<Arc<ThreadPoolExecutor>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| Arc::new(ThreadPoolExecutor::new(DEFAULT_IO_THREADS, "hf3fs-fsio")))
            .clone()
    }

    /// This process's pool, started on first use; `None` when not even one
    /// thread could be started (the caller then runs tasks inline).
    fn shared(&self) -> Option<Arc<PoolShared>> {
        let mut slot = lock(&self.shared);
        let generation = crate::fork::generation();
        if let Some(s) = slot.as_ref().filter(|s| s.fork_generation == generation) {
            return Some(s.clone());
        }
        // A pool inherited through fork() has no threads here: forget it
        // (never touching its queue, which a parent thread may have held).
        if let Some(stale) = slot.take() {
            std::mem::forget(stale);
        }
        let shared = Arc::new(PoolShared {
            fork_generation: generation,
            queue: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
        });
        for index in 0..self.threads {
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{index}", self.name))
                .spawn(move || loop {
                    let task = {
                        let mut queue = lock(&s.queue);
                        loop {
                            if let Some(t) = queue.pop_front() {
                                break t;
                            }
                            queue = s.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    // A panicking task must not take the thread with it; its
                    // promise reports the failure to whoever waits.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
                });
            if spawned.is_err() && index == 0 {
                return None;
            }
        }
        Some(slot.insert(shared).clone())
    }
}

impl Executor for ThreadPoolExecutor {
    fn spawn(&self, task: Task) {
        match self.shared() {
            Some(shared) => {
                lock(&shared.queue).push_back(task);
                shared.wake.notify_one();
            }
            None => task(),
        }
    }

    fn capacity(&self) -> usize {
        self.threads
    }
}

/// Asks tasks to stop; hand its [`StopToken`]s to the work to cancel.
#[derive(Debug, Clone, Default)]
pub struct StopSource {
    flag: Arc<AtomicBool>,
}

impl StopSource {
    /// A source that has not asked anything to stop.
    pub fn new() -> StopSource {
        StopSource::default()
    }

    /// A token that sees this source's requests.
    pub fn token(&self) -> StopToken {
        StopToken {
            flag: Some(self.flag.clone()),
        }
    }

    /// Ask every task holding a token to stop; tasks not yet started fail
    /// with [`Error::Cancelled`].
    pub fn request_stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Allow work again (for reusing the source after a cancelled batch).
    pub fn reset(&self) {
        self.flag.store(false, Ordering::SeqCst);
    }
}

/// Whether the work holding it should stop. The default token never fires.
#[derive(Debug, Clone, Default)]
pub struct StopToken {
    flag: Option<Arc<AtomicBool>>,
}

impl StopToken {
    /// A token that never fires.
    pub fn unstoppable() -> StopToken {
        StopToken::default()
    }

    /// Whether a stop was requested.
    pub fn is_stop_requested(&self) -> bool {
        self.flag.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// `Err(Cancelled)` when a stop was requested.
    pub fn check(&self, op: &'static str) -> Result<()> {
        if self.is_stop_requested() {
            Err(Error::Cancelled { op })
        } else {
            Ok(())
        }
    }
}

/// Options for async IO: where it runs, a tag, and a way to cancel it.
#[derive(Debug, Clone)]
pub struct IoContext {
    executor: Arc<dyn Executor>,
    external_id: i64,
    stop_token: StopToken,
}

impl Default for IoContext {
    /// The process-wide IO pool, no tag, never cancelled.
    fn default() -> IoContext {
        IoContext::new(ThreadPoolExecutor::global(), -1, StopToken::unstoppable())
    }
}

impl IoContext {
    /// A context running on `executor`, tagged `external_id` (Arrow's "no id"
    /// is -1), cancelled through `stop_token`.
    pub fn new(executor: Arc<dyn Executor>, external_id: i64, stop_token: StopToken) -> IoContext {
        IoContext {
            executor,
            external_id,
            stop_token,
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
    pub fn stop_token(&self) -> &StopToken {
        &self.stop_token
    }

    /// Run `f` on the executor; if the stop token fires before it starts, the
    /// future resolves to [`Error::Cancelled`] for `op` without running it.
    pub fn submit<T, F>(&self, op: &'static str, f: F) -> IoFuture<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let (future, promise) = IoFuture::pending(op);
        let token = self.stop_token.clone();
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
    wakers: Vec<Waker>,
}

/// The result of work running elsewhere. `wait` blocks for it; as a
/// [`Future`] it works with any async runtime. Clones (for `T: Clone`) share
/// one result, which [`IoFuture::wait_cloned`] reads without taking.
pub struct IoFuture<T> {
    slot: Arc<Slot<T>>,
    op: &'static str,
}

impl<T> fmt::Debug for IoFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoFuture")
            .field("op", &self.op)
            .field("ready", &self.is_ready())
            .finish()
    }
}

impl<T: Clone> Clone for IoFuture<T> {
    fn clone(&self) -> Self {
        IoFuture {
            slot: self.slot.clone(),
            op: self.op,
        }
    }
}

/// The producing side of an [`IoFuture`]. Dropped without completing (the
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
            let wakers = {
                let mut state = lock(&slot.state);
                state.value = Some(value);
                state.done = true;
                std::mem::take(&mut state.wakers)
            };
            slot.ready.notify_all();
            wakers.into_iter().for_each(Waker::wake);
        }
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        if self.slot.is_some() {
            let op = self.op;
            self.fulfil(Err(Error::InvalidArgument(format!(
                "{op}: the task ended without a result (it panicked); see the log for the panic"
            ))));
        }
    }
}

impl<T> IoFuture<T> {
    /// A future already holding `value`.
    pub fn ready(op: &'static str, value: Result<T>) -> IoFuture<T> {
        let (future, promise) = IoFuture::pending(op);
        promise.complete(value);
        future
    }

    /// A future and the promise that completes it.
    pub fn pending(op: &'static str) -> (IoFuture<T>, Promise<T>) {
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                value: None,
                done: false,
                wakers: Vec::new(),
            }),
            ready: Condvar::new(),
        });
        (
            IoFuture {
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
    Error::InvalidArgument(format!(
        "{op}: the result was already taken by another wait()"
    ))
}

impl<T> Future for IoFuture<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut state = lock(&self.slot.state);
        if state.done {
            return Poll::Ready(state.value.take().unwrap_or_else(|| Err(taken(self.op))));
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
