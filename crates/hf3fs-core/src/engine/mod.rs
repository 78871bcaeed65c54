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
//! The engine is fork-safe: a pool belongs to the process that started it,
//! and the first batch in a forked child starts a new one there.

mod exec;
mod job;
pub mod plan;
mod pool;
mod uring;

use std::fmt;
use std::os::fd::RawFd;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::client::Interrupt;
use crate::error::{Error, Result};
use job::Job;
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
const MAX_THREADS: usize = 1024;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineOptions {
    pub engine: Option<EngineKind>,
    pub threads: Option<usize>,
    pub queue_depth: Option<u32>,
}

impl EngineOptions {
    /// Settings from `HF3FS_IO_ENGINE`, `HF3FS_IO_THREADS` and `HF3FS_IO_QUEUE_DEPTH`.
    pub fn from_env() -> Result<EngineOptions> {
        fn var<T: FromStr>(name: &str) -> Result<Option<T>>
        where
            T::Err: fmt::Display,
        {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => v.trim().parse().map(Some).map_err(|e| {
                    Error::InvalidArgument(format!("environment variable {name}={v:?}: {e}"))
                }),
                _ => Ok(None),
            }
        }
        let options = EngineOptions {
            engine: var("HF3FS_IO_ENGINE")?,
            threads: var("HF3FS_IO_THREADS")?,
            queue_depth: var("HF3FS_IO_QUEUE_DEPTH")?,
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
            return Err(Error::InvalidArgument(format!(
                "{}: IO threads must be between 1 and {MAX_THREADS}, got {t}",
                source("threads")
            )));
        }
        if let Some(q) = self
            .queue_depth
            .filter(|q| !(1..=MAX_QUEUE_DEPTH).contains(q))
        {
            return Err(Error::InvalidArgument(format!(
                "{}: IO queue depth must be between 1 and {MAX_QUEUE_DEPTH}, got {q}",
                source("queue_depth")
            )));
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

/// A parallel batch IO engine; see the module docs.
#[derive(Debug)]
pub struct IoEngine {
    kind: EngineKind,
    threads: usize,
    queue_depth: u32,
    pool: Mutex<Option<Arc<Pool>>>,
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
            pool: Mutex::new(None),
        })
    }

    /// The engine in use: `Uring` or `Threads` (never `Auto`).
    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// IO threads (started on the first parallel batch).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Ring depth per IO thread (io_uring only).
    pub fn queue_depth(&self) -> u32 {
        self.queue_depth
    }

    /// This process's pool, started on first use and restarted after `fork()`.
    fn pool(&self) -> Arc<Pool> {
        let mut slot = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = slot.as_ref().filter(|p| p.is_current()) {
            return p.clone();
        }
        if let Some(stale) = slot.take() {
            stale.abandon();
        }
        slot.insert(Arc::new(Pool::start(
            self.kind,
            self.threads,
            self.queue_depth,
        )))
        .clone()
    }

    /// Run a batch. Each result is the byte count (short only at end of
    /// file) or `-errno`; results are in entry order.
    ///
    /// When `interrupt` fires, operations not yet started are cancelled and
    /// the call returns [`Error::Interrupted`] once the running ones finish.
    ///
    /// # Safety
    /// Every entry's `fd` must stay open, and its `addr..addr + len` stay
    /// valid memory not accessed through Rust references, for the whole call.
    pub unsafe fn run(
        &self,
        dir: IoDirection,
        entries: &[BatchEntry],
        interrupt: Interrupt<'_>,
    ) -> Result<Vec<i64>> {
        let plan = Plan::new(entries);
        let ops = plan.ops.len();
        // SAFETY: this function does not return before `job.wait` has, and
        // the caller keeps every entry's memory valid until then.
        let job = Arc::new(unsafe { Job::new(dir, plan) });
        if ops > 1 {
            let pool = self.pool();
            // The submitter works too, so one thread fewer is woken than ops.
            pool.submit(job.clone(), ops - 1);
        }
        if self.kind == EngineKind::Uring {
            uring::with_caller_ring(self.queue_depth, |ring| match ring {
                Some(ring) => uring::work(ring, &job, interrupt),
                None => job.work_blocking(interrupt),
            });
        } else {
            job.work_blocking(interrupt);
        }
        if job.wait(interrupt) {
            return Err(Error::Interrupted {
                op: match dir {
                    IoDirection::Read => "preadv",
                    IoDirection::Write => "pwritev",
                },
            });
        }
        Ok(job.plan.fold(&job.piece_results()))
    }
}

#[cfg(test)]
mod tests;
