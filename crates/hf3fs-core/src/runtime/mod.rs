//! The process's one IO runtime: every thread hf3fs runs belongs to a pool
//! here, shared by every client, file system and dataset reader, sized once
//! from the settings and rebuilt in a forked child. Nothing starts threads
//! per file, per client or per dataset.
//!
//! - the IO engine's threads (batched `preadv`/`pwritev`, io_uring rings):
//!   [`crate::engine`], as many as the largest `threads` setting any client
//!   has (`HF3FS_IO_THREADS`, the config file, or the client's options);
//! - request threads, which run the [`crate::fs::Scheduler`]'s read requests
//!   (at most `HF3FS_IO_LOCAL_REQUESTS` + `HF3FS_IO_REMOTE_REQUESTS`);
//! - the file system pool ([`io_executor`]) for metadata calls and the async
//!   variants ([`crate::fs::IoContext`]), at most [`DEFAULT_IO_THREADS`];
//! - the CPU pool ([`cpu`]): a rayon pool, one thread per core
//!   (`HF3FS_CPU_THREADS`), for decoding and the filter pre-scan;
//! - the async runtime ([`net`]): [`net::NET_THREADS`] tokio workers driving
//!   object stores' requests, started on first use.
//!
//! The request threads and the file system pool are [`ElasticPool`]s:
//! threads start when work finds none idle and end after
//! [`pool::IDLE_TIMEOUT`] without work. The CPU pool's threads start with it
//! and stay (rayon's), as do the async runtime's.

pub mod budget;
pub mod cpu;
#[cfg(feature = "s3")]
pub(crate) mod net;
pub(crate) mod pool;
pub mod retry;

use std::fmt;
use std::str::FromStr;
use std::sync::{Once, OnceLock};

pub use pool::{ElasticPool, Executor, Task, IDLE_TIMEOUT};

use crate::error::{Error, Result};

/// Read requests in flight at once on local files and mounts. Each is one
/// batched `preadv` that the IO engine already spreads over its threads and
/// ring depth, so a few keep an NVMe queue or a parallel file system full;
/// more would only hold more memory in flight (lance-io uses 8 for local disks).
pub const DEFAULT_LOCAL_REQUESTS: usize = 8;

/// Read requests in flight at once on remote storage (object stores, and
/// file systems marked remote such as `FileSystem.slow`). Each request is a
/// round trip: at 20 ms first byte and 8 MiB a request, 64 in flight carry
/// ~25 GB/s, more than one host's network; lance-io uses 64 for cloud stores.
pub const DEFAULT_REMOTE_REQUESTS: usize = 64;

/// Threads of the file system pool (metadata calls, footer reads, async
/// variants). Those calls are small and latency-bound, so more in flight
/// than cores hides a network mount's round trips; Arrow's IO pool has 8,
/// and footers of many files are read 16 at a time (DuckDB's and Daft's
/// figure for metadata fan-out).
pub const DEFAULT_IO_THREADS: usize = 16;

/// Upper bound a setting may ask for, to catch typos (a request count of
/// 100000) before they exhaust the process.
const MAX_REQUESTS: usize = 4096;

/// The runtime's settings, read once per process from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// Read requests in flight on local files (`HF3FS_IO_LOCAL_REQUESTS`).
    pub local_requests: usize,
    /// Read requests in flight on remote storage (`HF3FS_IO_REMOTE_REQUESTS`).
    pub remote_requests: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            local_requests: DEFAULT_LOCAL_REQUESTS,
            remote_requests: DEFAULT_REMOTE_REQUESTS,
        }
    }
}

/// The value of environment variable `name`, parsed; `None` when unset or blank.
pub(crate) fn env_var<T: FromStr>(name: &str) -> Result<Option<T>>
where
    T::Err: fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map(Some).map_err(|e: T::Err| {
            Error::invalid(format!("environment variable {name}={v:?}"), e.to_string())
        }),
        _ => Ok(None),
    }
}

impl RuntimeSettings {
    /// Settings from `HF3FS_IO_LOCAL_REQUESTS` and `HF3FS_IO_REMOTE_REQUESTS`.
    pub fn from_env() -> Result<RuntimeSettings> {
        let count = |name: &str, default: usize| -> Result<usize> {
            let n = env_var::<usize>(name)?.unwrap_or(default);
            if !(1..=MAX_REQUESTS).contains(&n) {
                return Err(Error::invalid(
                    format!("environment variable {name}"),
                    format!("must be between 1 and {MAX_REQUESTS}, got {n}"),
                ));
            }
            Ok(n)
        };
        Ok(RuntimeSettings {
            local_requests: count("HF3FS_IO_LOCAL_REQUESTS", DEFAULT_LOCAL_REQUESTS)?,
            remote_requests: count("HF3FS_IO_REMOTE_REQUESTS", DEFAULT_REMOTE_REQUESTS)?,
        })
    }
}

/// This process's settings (read at the first call; a bad value is an error
/// on every call that needs them, naming the variable).
pub fn settings() -> Result<RuntimeSettings> {
    static SETTINGS: OnceLock<Result<RuntimeSettings>> = OnceLock::new();
    SETTINGS.get_or_init(RuntimeSettings::from_env).clone()
}

/// The file system pool: metadata calls, footer reads and the async
/// variants of [`crate::fs::FileSystemAsync`] run here.
pub fn io_executor() -> &'static ElasticPool {
    static POOL: ElasticPool = ElasticPool::new("hf3fs-fsio", DEFAULT_IO_THREADS);
    static GUARD: Once = Once::new();
    GUARD.call_once(|| POOL.guard_across_fork());
    &POOL
}

/// A panic's message (the text of `panic!`, when it has one).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Run `f`, turning a panic (arrow-rs asserts on some malformed inputs)
/// into `Err(message)`.
pub fn no_panic<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| panic_message(&*p))
}

/// Cores this process may run on (its affinity mask).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What the runtime runs now, and at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// IO engine threads running (they stay once started).
    pub engine_threads: usize,
    /// Request threads running, and at most.
    pub request_threads: usize,
    pub max_request_threads: usize,
    /// File system pool threads running, and at most.
    pub io_threads: usize,
    pub max_io_threads: usize,
    /// CPU pool threads running (decoding, the filter pre-scan), and at most.
    pub cpu_threads: usize,
    pub max_cpu_threads: usize,
    /// Async runtime workers running (object stores).
    pub net_threads: usize,
    /// The settings the limits come from.
    pub settings: RuntimeSettings,
}

/// The runtime's thread counts.
pub fn info() -> Result<RuntimeInfo> {
    let scheduler = crate::fs::Scheduler::get()?;
    Ok(RuntimeInfo {
        engine_threads: crate::engine::running_threads(),
        request_threads: scheduler.threads(),
        max_request_threads: scheduler.max_threads(),
        io_threads: io_executor().threads(),
        max_io_threads: io_executor().max_threads(),
        cpu_threads: cpu::running_cpu_threads(),
        max_cpu_threads: cpu::cpu_threads()?,
        #[cfg(feature = "s3")]
        net_threads: net::net_threads(),
        #[cfg(not(feature = "s3"))]
        net_threads: 0,
        settings: scheduler.settings(),
    })
}
