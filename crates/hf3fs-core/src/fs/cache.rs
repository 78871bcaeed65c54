//! Read coalescing and caching (Arrow's `ReadRangeCache`, `io/caching.h`).
//!
//! A reader that knows which byte ranges it will need (a Parquet reader with
//! its column chunks) hands them to the cache; the cache merges ranges that
//! are close together into fewer, larger requests, splits merged requests
//! that are too large into parts that run in parallel, and then serves each
//! original range as a slice of a merged buffer, without copying.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::{read_contiguous, IoContext, PendingResult, RandomAccessFile, ReadRange, Scheduler};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// Arrow's default hole: merging across gaps up to 8 KiB costs less than a
/// second request even on local disks (`kDefaultHoleSizeLimit`).
pub const DEFAULT_HOLE_SIZE_LIMIT: u64 = 8 << 10;

/// Arrow's default cap on a merged range (`kDefaultRangeSizeLimit`): 32 MiB
/// keeps one request's buffer modest while amortizing per-request cost.
pub const DEFAULT_RANGE_SIZE_LIMIT: u64 = 32 << 20;

/// Arrow's `kDefaultIdealBandwidthUtilizationFrac`.
pub const DEFAULT_IDEAL_BANDWIDTH_UTILIZATION_FRAC: f64 = 0.9;

/// Arrow's `kDefaultMaxIdealRequestSizeMib`.
pub(crate) const DEFAULT_MAX_IDEAL_REQUEST_SIZE_MIB: u64 = 64;

/// Merged ranges above this are read as parallel parts (Lance's
/// `DEFAULT_MAX_IO_SIZE`-style split): 16 MiB parts keep several requests in
/// flight for one large column chunk, each still large enough to run at full
/// bandwidth.
pub const DEFAULT_MAX_REQUEST_SIZE: u64 = 16 << 20;

/// How a [`ReadRangeCache`] merges and issues reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheOptions {
    /// Largest gap between two ranges that still merges them.
    pub hole_size_limit: u64,
    /// Largest merged range; a range that would grow past it starts a new one.
    pub range_size_limit: u64,
    /// Read nothing until a range is asked for (then its merged range).
    pub lazy: bool,
    /// Lazy caches only: merged ranges after the one just read to start reading too.
    pub prefetch_limit: u64,
    /// Merged ranges larger than this are read as parts of at most this size,
    /// in parallel, into one buffer (0: never split).
    pub max_request_size: u64,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions::defaults()
    }
}

impl CacheOptions {
    /// Arrow's `CacheOptions::Defaults()`: hole 8 KiB, range 32 MiB, eager.
    pub fn defaults() -> CacheOptions {
        CacheOptions {
            hole_size_limit: DEFAULT_HOLE_SIZE_LIMIT,
            range_size_limit: DEFAULT_RANGE_SIZE_LIMIT,
            lazy: false,
            prefetch_limit: 0,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
        }
    }

    /// For object stores (S3 and compatible): Arrow's network metrics with
    /// S3's typical 50 ms to first byte and 100 MiB/s per connection, so
    /// holes up to 5 MiB are read through rather than paying another round
    /// trip, and requests grow to the 64 MiB that keep a connection busy.
    pub fn object_store() -> CacheOptions {
        // 50 ms, 100 MiB/s, 90 % utilization, 64 MiB: every argument is in
        // range, so the constructor cannot fail; fall back to defaults anyway.
        CacheOptions::from_network_metrics(
            50,
            100,
            DEFAULT_IDEAL_BANDWIDTH_UTILIZATION_FRAC,
            DEFAULT_MAX_IDEAL_REQUEST_SIZE_MIB,
        )
        .unwrap_or_else(|_| CacheOptions::defaults())
    }

    /// Arrow's `CacheOptions::LazyDefaults()`: the defaults, lazy.
    pub fn lazy_defaults() -> CacheOptions {
        CacheOptions {
            lazy: true,
            ..CacheOptions::defaults()
        }
    }

    /// Arrow's `CacheOptions::MakeFromNetworkMetrics`: a hole is worth
    /// reading when it costs no more than a new request's first byte
    /// (`hole = ttfb × bandwidth`), and a request should be large enough to
    /// spend `ideal_bandwidth_utilization_frac` of its time transferring
    /// (`range = min(max_ideal_request_size_mib MiB, hole × frac / (1 − frac))`).
    /// Merged ranges are split at that ideal size.
    pub fn from_network_metrics(
        time_to_first_byte_millis: u64,
        transfer_bandwidth_mib_per_sec: u64,
        ideal_bandwidth_utilization_frac: f64,
        max_ideal_request_size_mib: u64,
    ) -> Result<CacheOptions> {
        let bad = |what: &str| Err(Error::invalid("from_network_metrics", what));
        if time_to_first_byte_millis == 0 {
            return bad("time_to_first_byte_millis must be positive");
        }
        if transfer_bandwidth_mib_per_sec == 0 {
            return bad("transfer_bandwidth_mib_per_sec must be positive");
        }
        if !(ideal_bandwidth_utilization_frac > 0.0 && ideal_bandwidth_utilization_frac < 1.0) {
            return bad("ideal_bandwidth_utilization_frac must be between 0 and 1 (exclusive)");
        }
        if max_ideal_request_size_mib == 0 {
            return bad("max_ideal_request_size_mib must be positive");
        }
        let ttfb_sec = time_to_first_byte_millis as f64 / 1000.0;
        let bandwidth = transfer_bandwidth_mib_per_sec.saturating_mul(1 << 20);
        let max_ideal = max_ideal_request_size_mib.saturating_mul(1 << 20);
        let hole = (ttfb_sec * bandwidth as f64).round() as u64;
        let utilization =
            ideal_bandwidth_utilization_frac / (1.0 - ideal_bandwidth_utilization_frac);
        let range = max_ideal.min((hole as f64 * utilization).round() as u64);
        Ok(CacheOptions {
            hole_size_limit: hole,
            range_size_limit: range,
            lazy: false,
            prefetch_limit: 0,
            max_request_size: range,
        })
    }
}

/// Arrow's `CoalesceReadRanges`: drop empty ranges, sort by offset, drop
/// ranges inside the previous kept one, then merge in one pass, starting a
/// new range when the merged one would exceed `range_size_limit` or the gap
/// to the next range exceeds `hole_size_limit`. Never splits a range.
pub fn coalesce_ranges(
    ranges: &[ReadRange],
    hole_size_limit: u64,
    range_size_limit: u64,
) -> Vec<ReadRange> {
    let mut sorted: Vec<ReadRange> = ranges.iter().copied().filter(|r| r.length > 0).collect();
    // Same offset: the longer first, so the shorter is dropped as contained.
    sorted.sort_by(|a, b| a.offset.cmp(&b.offset).then(b.length.cmp(&a.length)));
    let mut kept: Vec<ReadRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match kept.last() {
            Some(last) if last.contains(&r) => {}
            _ => kept.push(r),
        }
    }
    let Some(first) = kept.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut start = first.offset;
    let mut prev_end = start;
    for r in &kept {
        let end = r.end();
        // Kept ranges have increasing ends, but may overlap: a negative
        // gap counts as no gap, as in Arrow's signed arithmetic.
        let gap = r.offset.saturating_sub(prev_end);
        if end - start > range_size_limit || gap > hole_size_limit {
            if prev_end > start {
                out.push(ReadRange::new(start, prev_end - start));
            }
            start = r.offset;
        }
        prev_end = end;
    }
    if prev_end > start {
        out.push(ReadRange::new(start, prev_end - start));
    }
    out
}

/// Split each range longer than `max_request_size` into consecutive parts of
/// at most that size (0 leaves ranges whole).
pub fn split_ranges(ranges: &[ReadRange], max_request_size: u64) -> Vec<ReadRange> {
    if max_request_size == 0 {
        return ranges.to_vec();
    }
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        let mut offset = r.offset;
        let end = r.end();
        while offset < end {
            let len = (end - offset).min(max_request_size);
            out.push(ReadRange::new(offset, len));
            offset += len;
        }
    }
    out
}

#[derive(Debug)]
struct Entry {
    range: ReadRange,
    /// `None` until a lazy cache is asked for a range inside it.
    future: Option<PendingResult<Bytes>>,
}

/// Caches the merged ranges of one file; see the module docs.
///
/// Eager caches start every merged read in [`ReadRangeCache::cache`], on the
/// process's [`Scheduler`](super::Scheduler) (cancelled by the IO context's
/// token); lazy ones read a merged range the first time a
/// range inside it is asked for (plus `prefetch_limit` following ones).
/// [`ReadRangeCache::read`] returns a slice of the merged buffer. A range
/// that is in no cached range is an error in strict mode (as in Arrow), and
/// otherwise a direct read of the file.
#[derive(Debug)]
pub struct ReadRangeCache {
    file: Arc<dyn RandomAccessFile>,
    options: CacheOptions,
    strict: bool,
    entries: Mutex<Vec<Entry>>,
    /// Cancelled with the context's token, and when the cache is dropped:
    /// reads nobody can ask for any more are skipped.
    stop: CancelToken,
}

impl Drop for ReadRangeCache {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl ReadRangeCache {
    /// A cache of `file` with `options`, its reads cancelled by `ctx`'s
    /// token (and when the cache is dropped); `strict` makes a
    /// read outside the cached ranges an error.
    pub fn new(
        file: Arc<dyn RandomAccessFile>,
        ctx: IoContext,
        options: CacheOptions,
        strict: bool,
    ) -> ReadRangeCache {
        let stop = ctx.cancel_token().child();
        ReadRangeCache {
            file,
            options,
            strict,
            entries: Mutex::new(Vec::new()),
            stop,
        }
    }

    /// The options in use.
    pub fn options(&self) -> &CacheOptions {
        &self.options
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        // Entries change by whole-vector replacement or single assignments.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The merged ranges cached so far, by offset.
    pub fn cached_ranges(&self) -> Vec<ReadRange> {
        self.lock().iter().map(|e| e.range).collect()
    }

    /// Plan `ranges` for reading: merge them, and (unless lazy) start the reads.
    pub fn cache(&self, ranges: &[ReadRange]) -> Result<()> {
        let merged = coalesce_ranges(
            ranges,
            self.options.hole_size_limit,
            self.options.range_size_limit,
        );
        let new: Vec<Entry> = merged
            .iter()
            .map(|&range| {
                Ok(Entry {
                    range,
                    future: if self.options.lazy {
                        None
                    } else {
                        Some(self.start(range)?)
                    },
                })
            })
            .collect::<Result<_>>()?;
        {
            let mut entries = self.lock();
            entries.extend(new);
            entries.sort_by_key(|e| e.range.offset);
        }
        self.file.will_need(&merged)
    }

    /// Start reading a merged range: its parts (split at
    /// `max_request_size`) go to the scheduler together, so they run in
    /// parallel, in the order the ranges were cached.
    fn start(&self, range: ReadRange) -> Result<PendingResult<Bytes>> {
        let parts = split_ranges(&[range], self.options.max_request_size);
        let priority = Scheduler::get()?.ticket();
        read_contiguous(self.file.clone(), parts, priority, self.stop.clone())
    }

    /// The entry holding `range`, started if lazy, with prefetching.
    ///
    /// Entries are sorted by offset, and ranges cached by separate calls may
    /// overlap, so the search walks back from the last entry starting at or
    /// before `range` (Arrow's search by end can miss an overlapped entry).
    fn lookup(&self, range: ReadRange) -> Result<Option<(ReadRange, PendingResult<Bytes>)>> {
        let mut entries = self.lock();
        let starts_before = entries.partition_point(|e| e.range.offset <= range.offset);
        let Some(index) = (0..starts_before)
            .rev()
            .find(|&i| entries[i].range.contains(&range))
        else {
            return Ok(None);
        };
        let prefetch = if self.options.lazy {
            self.options.prefetch_limit as usize
        } else {
            0
        };
        for e in entries.iter_mut().skip(index).take(1 + prefetch) {
            if e.future.is_none() {
                e.future = Some(self.start(e.range)?);
            }
        }
        let entry = &entries[index];
        Ok(entry.future.clone().map(|f| (entry.range, f)))
    }

    /// The bytes of `range`: a slice of its merged buffer when cached.
    /// Waiting for it gives up when `cancel` fires.
    pub fn read(&self, range: ReadRange, cancel: &CancelToken) -> Result<Bytes> {
        if range.length == 0 {
            return Ok(Bytes::new());
        }
        let Some((entry, future)) = self.lookup(range)? else {
            if self.strict {
                return Err(Error::CacheMiss {
                    path: self.file.path().to_string(),
                    offset: range.offset,
                    len: range.length,
                });
            }
            let len = super::to_usize(range.length, self.file.path())?;
            let out = self.file.read_bytes_at(range.offset, len)?;
            return self.exact(range, out);
        };
        let buf = future.wait_cloned_with(cancel)?;
        let start = (range.offset - entry.offset) as usize;
        let end = start + range.length as usize;
        if end > buf.len() {
            return self.exact(range, buf.slice(start.min(buf.len())..));
        }
        Ok(buf.slice(start..end))
    }

    /// `out` if it is all of `range`, else the error for reading past the end.
    fn exact(&self, range: ReadRange, out: Bytes) -> Result<Bytes> {
        if out.len() as u64 == range.length {
            return Ok(out);
        }
        Err(Error::ReadPastEnd {
            path: self.file.path().to_string(),
            offset: range.offset,
            len: range.length,
            size: self.file.size().unwrap_or(range.offset + out.len() as u64),
        })
    }

    /// Wait for every started read; the first failure is returned, and
    /// `Err(Cancelled)` as soon as `cancel` fires.
    pub fn wait(&self, cancel: &CancelToken) -> Result<()> {
        let futures: Vec<PendingResult<Bytes>> = self
            .lock()
            .iter()
            .filter_map(|e| e.future.clone())
            .collect();
        for f in futures {
            f.wait_cloned_with(cancel)?;
        }
        Ok(())
    }

    /// Start (if lazy) and wait for the reads holding `ranges`.
    pub fn wait_for(&self, ranges: &[ReadRange], cancel: &CancelToken) -> Result<()> {
        for &r in ranges.iter().filter(|r| r.length > 0) {
            match self.lookup(r)? {
                Some((_, f)) => {
                    f.wait_cloned_with(cancel)?;
                }
                None if self.strict => {
                    return Err(Error::CacheMiss {
                        path: self.file.path().to_string(),
                        offset: r.offset,
                        len: r.length,
                    })
                }
                None => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
