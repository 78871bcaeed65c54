//! The runtime's async side: one small tokio runtime per process, for the
//! backends whose clients are async (object stores through `object_store`).
//! Blocking callers (request threads, the file system pool, Python calls)
//! wait on it with [`block_on`]; a forked child builds its own.

use std::future::Future;
use std::sync::Arc;

use futures::future::{select, Either};
use tokio::runtime::{Builder, Runtime};

use crate::cancel::{CancelToken, POLL_INTERVAL};
use crate::error::{Error, Result};
use crate::sync::PerProcess;

/// Worker threads of the async runtime. They only drive sockets, TLS and
/// request signing while the callers' own threads wait, so two keep hundreds
/// of requests moving; more would take cores from decoding.
pub const NET_THREADS: usize = 2;

// A forked child never touches the parent's runtime: its worker threads are
// not in the child, so the inherited value is forgotten, not dropped.
static RUNTIME: PerProcess<Arc<Runtime>> = PerProcess::new();

/// This process's async runtime, started on first use.
fn runtime() -> Result<Arc<Runtime>> {
    RUNTIME.guard_across_fork();
    RUNTIME.get_or_try_init(
        || {
            Builder::new_multi_thread()
                .worker_threads(NET_THREADS)
                .thread_name("hf3fs-net")
                .enable_all()
                .build()
                .map(Arc::new)
                .map_err(|e| Error::os_nopath("start the async IO runtime", e))
        },
        std::mem::forget,
    )
}

/// Threads the async runtime runs in this process (0 before first use).
pub fn net_threads() -> usize {
    if RUNTIME.get().is_some() {
        NET_THREADS
    } else {
        0
    }
}

/// Run `fut` to completion on the async runtime, waiting on this thread;
/// `Err(Cancelled)` as soon as `cancel` fires (the future is dropped, which
/// aborts its requests). Never call it from inside an async task.
pub fn block_on<F: Future>(op: &'static str, cancel: &CancelToken, fut: F) -> Result<F::Output> {
    let rt = runtime()?;
    if cancel.is_never() {
        return Ok(rt.block_on(fut));
    }
    // The watcher runs on this thread (block_on drives its future here), so
    // the token's hook (Ctrl-C) is polled by the waiting thread, as it must be.
    let watcher = async {
        while !cancel.poll() {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    };
    match rt.block_on(select(Box::pin(fut), Box::pin(watcher))) {
        Either::Left((out, _)) => Ok(out),
        Either::Right(((), _)) => Err(Error::Cancelled { op }),
    }
}

/// Run `f` inside the async runtime's context, for sync calls that spawn
/// tasks onto it (object_store's multipart writer).
pub fn enter<T>(f: impl FnOnce() -> T) -> Result<T> {
    let rt = runtime()?;
    let _guard = rt.enter();
    Ok(f())
}
