//! The IO engine: runs a batch of positional reads or writes in parallel.
//!
//! A batch is planned into operations ([`plan`]): large entries are split so
//! they run on several threads, and neighbouring entries contiguous in the
//! file become one vectored call. The submitting thread and a pool of IO
//! threads then claim operations; with io_uring each IO thread keeps up to
//! its queue depth in flight, otherwise each issues blocking
//! `preadv(2)`/`pwritev(2)`. A batch of one operation runs on the calling
//! thread alone, so single reads cost no thread hand-off.
//!
//! The IO threads are the process's, not an engine's (see [`crate::runtime`]):
//! every engine submits to one shared pool, which grows to the largest
//! thread count any engine's settings ask for and never beyond. An engine is
//! just settings: its kind, how many of the threads one batch may use, and
//! its ring depth. The pool is fork-safe: it belongs to the process that
//! started it, and the first batch in a forked child starts a new one there.

mod exec;
mod job;
mod plan;
mod pool;
mod uring;

use std::fmt;
use std::os::fd::RawFd;
use std::str::FromStr;
use std::sync::Arc;

use serde::Deserialize;

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::runtime::env_var;
use crate::sync::PerProcess;
use job::InFlightBatch;
use plan::Plan;
use pool::Pool;

/// Ring depth per IO thread. 64 outstanding requests saturate an NVMe drive
/// or a network mount from one thread (the usual fio `iodepth` for such
/// devices), and the ring costs only a few KiB.
pub const DEFAULT_QUEUE_DEPTH: u32 = 64;

/// Most IO threads the default picks, however many cores there are: page-cache
/// copies scale with cores, but past ~16 threads one client's batches mostly
/// contend for memory bandwidth, and with io_uring depth comes from the rings.
pub const MAX_DEFAULT_THREADS: usize = 16;

/// Upper bounds a configuration may ask for, to catch typos (a thread count
/// of 10000) before they exhaust the process.
pub(crate) const MAX_THREADS: usize = 1024;
const MAX_QUEUE_DEPTH: u32 = 4096;

/// Default IO thread count: one per core this process may run on (page-cache
/// copies are CPU work), at least 2 so one slow request never stalls a batch,
/// at most [`MAX_DEFAULT_THREADS`].
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, MAX_DEFAULT_THREADS)
}

/// Direction of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoDirection {
    Read,
    Write,
}

/// How IO threads issue requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// io_uring when the kernel allows it, else threads.
    Auto,
    /// io_uring rings, one per IO thread.
    Uring,
    /// Blocking `preadv(2)`/`pwritev(2)` on each IO thread.
    Threads,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Auto => "auto",
            EngineKind::Uring => "uring",
            EngineKind::Threads => "threads",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(EngineKind::Auto),
            "uring" | "io_uring" => Ok(EngineKind::Uring),
            "threads" | "thread" | "sync" => Ok(EngineKind::Threads),
            other => Err(format!(
                "unknown IO engine {other:?} (expected auto, uring or threads)"
            )),
        }
    }
}

/// Engine settings; `None` fields take the next source's value (explicit
/// options, then environment, then config file, then defaults).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineOptions {
    pub engine: Option<EngineKind>,
    pub threads: Option<usize>,
    pub queue_depth: Option<u32>,
}

impl EngineOptions {
    /// Settings from `HF3FS_IO_ENGINE`, `HF3FS_IO_THREADS` and `HF3FS_IO_QUEUE_DEPTH`.
    pub fn from_env() -> Result<EngineOptions> {
        let options = EngineOptions {
            engine: env_var("HF3FS_IO_ENGINE")?,
            threads: env_var("HF3FS_IO_THREADS")?,
            queue_depth: env_var("HF3FS_IO_QUEUE_DEPTH")?,
        };
        options.check(|field| match field {
            "threads" => "environment variable HF3FS_IO_THREADS".to_string(),
            _ => "environment variable HF3FS_IO_QUEUE_DEPTH".to_string(),
        })?;
        Ok(options)
    }

    /// Check the set fields' ranges; `source(field)` names where a bad one came from.
    pub fn check(&self, source: impl Fn(&str) -> String) -> Result<()> {
        if let Some(t) = self.threads.filter(|t| !(1..=MAX_THREADS).contains(t)) {
            return Err(Error::invalid(
                source("threads"),
                format!("IO threads must be between 1 and {MAX_THREADS}, got {t}"),
            ));
        }
        if let Some(q) = self
            .queue_depth
            .filter(|q| !(1..=MAX_QUEUE_DEPTH).contains(q))
        {
            return Err(Error::invalid(
                source("queue_depth"),
                format!("IO queue depth must be between 1 and {MAX_QUEUE_DEPTH}, got {q}"),
            ));
        }
        Ok(())
    }

    /// Fill this value's unset fields from `other`.
    pub fn or(self, other: EngineOptions) -> EngineOptions {
        EngineOptions {
            engine: self.engine.or(other.engine),
            threads: self.threads.or(other.threads),
            queue_depth: self.queue_depth.or(other.queue_depth),
        }
    }
}

/// One entry of a batch, on an OS fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry {
    pub fd: RawFd,
    pub offset: u64,
    /// Memory address the bytes go to (read) or come from (write).
    pub addr: usize,
    pub len: usize,
}

/// A parallel batch IO engine's settings; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct IoEngine {
    kind: EngineKind,
    threads: usize,
    queue_depth: u32,
}

/// The process's IO threads (made with the first parallel batch).
static SHARED_POOL: PerProcess<Arc<Pool>> = PerProcess::new();

/// This process's pool with at least `threads` threads, started on first
/// use and again after `fork()`.
fn shared_pool(threads: usize) -> Arc<Pool> {
    SHARED_POOL.guard_across_fork();
    let pool = SHARED_POOL.get_or_init(|| Arc::new(Pool::new()), Pool::abandon);
    pool.grow(threads);
    pool
}

/// IO engine threads running in this process.
pub fn running_threads() -> usize {
    SHARED_POOL.get().map_or(0, |p| p.threads())
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .finish()
    }
}

impl IoEngine {
    /// An engine with `options` (unset fields take their defaults). `Auto`
    /// resolves here; asking for `Uring` where the kernel refuses io_uring is
    /// an error that says why. Threads start with the first parallel batch.
    pub fn new(options: EngineOptions) -> Result<IoEngine> {
        options.check(|field| format!("IO engine option {field}"))?;
        let threads = options.threads.unwrap_or_else(default_threads);
        let queue_depth = options.queue_depth.unwrap_or(DEFAULT_QUEUE_DEPTH);
        let kind = match options.engine.unwrap_or(EngineKind::Auto) {
            EngineKind::Auto if uring::available().is_ok() => EngineKind::Uring,
            EngineKind::Auto => EngineKind::Threads,
            EngineKind::Uring => {
                uring::available().map_err(|e| Error::os_nopath("io_uring_setup", e))?;
                EngineKind::Uring
            }
            EngineKind::Threads => EngineKind::Threads,
        };
        Ok(IoEngine {
            kind,
            threads,
            queue_depth,
        })
    }

    /// The engine in use: `Uring` or `Threads` (never `Auto`).
    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// IO threads one batch may use (the shared pool has at least this many
    /// once a parallel batch ran).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Ring depth per IO thread (io_uring only).
    pub fn queue_depth(&self) -> u32 {
        self.queue_depth
    }

    /// Run a batch. Each result is the byte count (short only at end of
    /// file) or `-errno`; results are in entry order.
    ///
    /// When `cancel` fires, operations not yet started are cancelled and
    /// the call returns [`Error::Interrupted`] once the running ones finish.
    ///
    /// # Safety
    /// Every entry's `fd` must stay open, and its `addr..addr + len` stay
    /// valid memory not accessed through Rust references, for the whole call.
    pub unsafe fn run(
        &self,
        dir: IoDirection,
        entries: &[BatchEntry],
        cancel: &CancelToken,
    ) -> Result<Vec<i64>> {
        let interrupted = || Error::Interrupted {
            op: match dir {
                IoDirection::Read => "preadv",
                IoDirection::Write => "pwritev",
            },
        };
        // Asked once before any IO: otherwise the pool could finish a whole
        // batch before the submitter first looks, and an interrupt that came
        // before the call would go unseen.
        if cancel.poll() {
            return Err(interrupted());
        }
        let plan = Plan::new(entries);
        let ops = plan.ops.len();
        let ring_depth = (self.kind == EngineKind::Uring).then_some(self.queue_depth);
        // SAFETY: this function does not return before `job.wait` has, and
        // the caller keeps every entry's memory valid until then.
        let job = Arc::new(unsafe { InFlightBatch::new(dir, plan, ring_depth) });
        if ops > 1 {
            let pool = shared_pool(self.threads);
            // The submitter works too, so one thread fewer is woken than ops.
            pool.submit(job.clone(), (ops - 1).min(self.threads));
        }
        match ring_depth {
            Some(depth) => uring::with_caller_ring(depth, |ring| match ring {
                Some(ring) => uring::work(ring, &job, cancel),
                None => job.work_blocking(cancel),
            }),
            None => job.work_blocking(cancel),
        }
        if job.wait(cancel) {
            return Err(interrupted());
        }
        Ok(job.plan.fold(&job.piece_results()))
    }
}

#[cfg(test)]
mod tests;
