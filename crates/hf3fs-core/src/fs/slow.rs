//! A file system that adds latency to every call (Arrow's `SlowFileSystem`),
//! and optionally a per-request bandwidth, so tests and benchmarks can model
//! a network store on top of a fast one.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::{
    FileInfo, FileSelector, FileSystem, IoClass, IoContext, KeyValueMetadata, OutputStream,
    RandomAccessFile, ReadRange,
};
use crate::cancel::CancelToken;
use crate::error::Result;
use crate::FileStat;

/// Arrow's jitter: latencies are drawn from a normal distribution whose
/// standard deviation is this fraction of the average (clamped at zero).
const JITTER_FRACTION: f64 = 0.1;

/// Seeded latencies: the same seed gives the same sequence.
#[derive(Debug)]
pub struct LatencyGenerator {
    average: Duration,
    state: Mutex<u64>,
}

impl LatencyGenerator {
    /// Latencies around `average`, jittered deterministically from `seed`.
    pub fn new(average: Duration, seed: u64) -> LatencyGenerator {
        LatencyGenerator {
            average,
            state: Mutex::new(seed),
        }
    }

    /// The average latency.
    pub fn average(&self) -> Duration {
        self.average
    }

    fn uniform(state: &mut u64) -> f64 {
        // splitmix64: tiny, seedable, and good enough for jitter.
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 53 random bits in (0, 1].
        ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// The next latency.
    pub fn next_latency(&self) -> Duration {
        if self.average.is_zero() {
            return Duration::ZERO;
        }
        let (u1, u2) = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            (Self::uniform(&mut state), Self::uniform(&mut state))
        };
        // Box-Muller: a standard normal from two uniforms.
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let avg = self.average.as_secs_f64();
        Duration::from_secs_f64((avg + normal * JITTER_FRACTION * avg).max(0.0))
    }
}

/// What a [`SlowFileSystem`] was asked to do.
#[derive(Debug, Default)]
pub struct SlowStats {
    read_requests: AtomicU64,
    bytes_read: AtomicU64,
    metadata_requests: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
}

impl SlowStats {
    /// Read requests issued (each `read_at`, and each range of `read_many`).
    pub fn read_requests(&self) -> u64 {
        self.read_requests.load(Ordering::Relaxed)
    }

    /// Bytes those requests returned.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Other calls (info, listing, open, delete, ...).
    pub fn metadata_requests(&self) -> u64 {
        self.metadata_requests.load(Ordering::Relaxed)
    }

    /// The most read requests that were waiting on the store at once: how
    /// well a reader hides the latency, measured without timing anything.
    pub fn peak_in_flight(&self) -> u64 {
        self.peak_in_flight.load(Ordering::Relaxed)
    }

    /// Start counting from zero (the peak from the requests in flight now).
    pub fn reset(&self) {
        self.read_requests.store(0, Ordering::Relaxed);
        self.bytes_read.store(0, Ordering::Relaxed);
        self.metadata_requests.store(0, Ordering::Relaxed);
        self.peak_in_flight
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// Counts one read request in flight while it lives.
struct InFlight<'a>(&'a SlowStats);

impl<'a> InFlight<'a> {
    fn start(stats: &'a SlowStats) -> InFlight<'a> {
        let now = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        stats.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(stats)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct Delays {
    latencies: LatencyGenerator,
    /// Latencies of the other calls (info, listing, open, ...).
    metadata_latencies: LatencyGenerator,
    seed: u64,
    /// Bytes per second one request transfers; `None` = unlimited.
    bandwidth: Option<f64>,
    stats: Arc<SlowStats>,
}

impl Delays {
    fn metadata_call(&self) {
        self.stats.metadata_requests.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(self.metadata_latencies.next_latency());
    }

    /// Account for one read request that returned `len` bytes, and wait.
    fn read_request(&self, len: usize) {
        self.stats.read_requests.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes_read
            .fetch_add(len as u64, Ordering::Relaxed);
        let transfer = self.bandwidth.map_or(Duration::ZERO, |bw| {
            Duration::from_secs_f64(len as f64 / bw)
        });
        std::thread::sleep(self.latencies.next_latency() + transfer);
    }
}

/// Delegates to another file system, sleeping before every call: a latency
/// per request (seeded jitter around an average) plus, optionally, the time
/// a request of that size takes at a given bandwidth. Its files are
/// [`IoClass::Remote`]: the scheduler issues each range as a request of its
/// own, many at once, as a client of a network store would.
#[derive(Clone)]
pub struct SlowFileSystem {
    inner: Arc<dyn FileSystem>,
    delays: Arc<Delays>,
}

impl fmt::Debug for SlowFileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlowFileSystem")
            .field("inner", &self.inner)
            .field("average_latency", &self.delays.latencies.average())
            .field("bandwidth", &self.delays.bandwidth)
            .finish()
    }
}

impl SlowFileSystem {
    /// `inner` with `average_latency` per call, jittered from `seed`.
    pub fn new(inner: Arc<dyn FileSystem>, average_latency: Duration, seed: u64) -> Self {
        SlowFileSystem::build(inner, average_latency, seed, None)
    }

    /// The same, with each read request limited to `bytes_per_second`.
    pub fn with_bandwidth(
        inner: Arc<dyn FileSystem>,
        average_latency: Duration,
        seed: u64,
        bytes_per_second: f64,
    ) -> Self {
        let bandwidth = (bytes_per_second > 0.0).then_some(bytes_per_second);
        SlowFileSystem::build(inner, average_latency, seed, bandwidth)
    }

    fn build(
        inner: Arc<dyn FileSystem>,
        average_latency: Duration,
        seed: u64,
        bandwidth: Option<f64>,
    ) -> Self {
        SlowFileSystem {
            inner,
            delays: Arc::new(Delays {
                latencies: LatencyGenerator::new(average_latency, seed),
                // Its own sequence, so reads jitter alike whatever else is called.
                metadata_latencies: LatencyGenerator::new(average_latency, !seed),
                seed,
                bandwidth,
                stats: Arc::new(SlowStats::default()),
            }),
        }
    }

    /// The same file system with `average` latency on the calls that are not
    /// reads (info, listing, open, delete, ...), jittered from the same seed;
    /// zero models a store whose metadata is free, as a latency injected per
    /// read call does.
    pub fn with_metadata_latency(self, average: Duration) -> Self {
        let d = &self.delays;
        SlowFileSystem {
            inner: self.inner.clone(),
            delays: Arc::new(Delays {
                latencies: LatencyGenerator::new(d.latencies.average(), d.seed),
                metadata_latencies: LatencyGenerator::new(average, !d.seed),
                seed: d.seed,
                bandwidth: d.bandwidth,
                stats: d.stats.clone(),
            }),
        }
    }

    /// Counts of the requests made through this file system.
    pub fn stats(&self) -> Arc<SlowStats> {
        self.delays.stats.clone()
    }

    fn meta<T>(&self, f: impl FnOnce(&dyn FileSystem) -> Result<T>) -> Result<T> {
        self.delays.metadata_call();
        f(self.inner.as_ref())
    }
}

impl FileSystem for SlowFileSystem {
    fn type_name(&self) -> &'static str {
        "slow"
    }

    fn io_context(&self) -> &IoContext {
        self.inner.io_context()
    }

    fn normalize_path(&self, path: &str) -> Result<String> {
        self.inner.normalize_path(path)
    }

    fn get_file_info(&self, path: &str) -> Result<FileInfo> {
        self.meta(|fs| fs.get_file_info(path))
    }

    fn stat(&self, path: &str, follow_symlinks: bool) -> Result<FileStat> {
        self.meta(|fs| fs.stat(path, follow_symlinks))
    }

    fn get_file_info_selector(&self, select: &FileSelector) -> Result<Vec<FileInfo>> {
        self.meta(|fs| fs.get_file_info_selector(select))
    }

    fn create_dir(&self, path: &str, recursive: bool) -> Result<()> {
        self.meta(|fs| fs.create_dir(path, recursive))
    }

    fn delete_dir(&self, path: &str, cancel: &CancelToken) -> Result<()> {
        self.meta(|fs| fs.delete_dir(path, cancel))
    }

    fn delete_dir_contents(
        &self,
        path: &str,
        missing_dir_ok: bool,
        cancel: &CancelToken,
    ) -> Result<()> {
        self.meta(|fs| fs.delete_dir_contents(path, missing_dir_ok, cancel))
    }

    fn delete_root_dir_contents(&self, cancel: &CancelToken) -> Result<()> {
        self.meta(|fs| fs.delete_root_dir_contents(cancel))
    }

    fn delete_file(&self, path: &str) -> Result<()> {
        self.meta(|fs| fs.delete_file(path))
    }

    fn move_path(&self, src: &str, dest: &str) -> Result<()> {
        self.meta(|fs| fs.move_path(src, dest))
    }

    fn copy_file(&self, src: &str, dest: &str) -> Result<()> {
        self.meta(|fs| fs.copy_file(src, dest))
    }

    fn copies_server_side(&self) -> bool {
        self.inner.copies_server_side()
    }

    fn open_input_file(&self, path: &str) -> Result<Arc<dyn RandomAccessFile>> {
        let inner = self.meta(|fs| fs.open_input_file(path))?;
        Ok(Arc::new(SlowFile {
            inner,
            delays: self.delays.clone(),
        }))
    }

    fn open_output_stream(
        &self,
        path: &str,
        metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>> {
        self.meta(|fs| fs.open_output_stream(path, metadata))
    }

    fn open_append_stream(
        &self,
        path: &str,
        metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>> {
        self.meta(|fs| fs.open_append_stream(path, metadata))
    }
}

/// A file of a [`SlowFileSystem`]: every read request waits first.
#[derive(Debug)]
struct SlowFile {
    inner: Arc<dyn RandomAccessFile>,
    delays: Arc<Delays>,
}

impl RandomAccessFile for SlowFile {
    fn path(&self) -> &str {
        self.inner.path()
    }

    fn size(&self) -> Result<u64> {
        self.inner.size()
    }

    // The store's reply is modelled after the fact: a request costs its
    // latency plus the transfer of the bytes it actually returned.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let _counted = InFlight::start(&self.delays.stats);
        let n = self.inner.read_at(offset, buf)?;
        self.delays.read_request(n);
        Ok(n)
    }

    fn read_bytes_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let _counted = InFlight::start(&self.delays.stats);
        let out = self.inner.read_bytes_at(offset, len)?;
        self.delays.read_request(out.len());
        Ok(out)
    }

    fn will_need(&self, ranges: &[ReadRange]) -> Result<()> {
        self.inner.will_need(ranges)
    }

    fn supports_zero_copy(&self) -> bool {
        self.inner.supports_zero_copy()
    }

    fn io_class(&self) -> IoClass {
        IoClass::Remote
    }
}
