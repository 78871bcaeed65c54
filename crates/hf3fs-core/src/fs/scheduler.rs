//! The process's read scheduler (in the spirit of lance-io's
//! `ScanScheduler`): callers submit read requests — a file, byte ranges, a
//! buffer to fill, a priority — and get a completion; many requests from
//! many files are in flight at once.
//!
//! - **Lanes.** A file's [`IoClass`] picks its lane. On a local file a
//!   request runs as one batched `read_many_into` (the IO engine spreads it
//!   over its threads); on remote storage every range is its own round trip.
//!   Each lane has its own limit on what runs at once
//!   ([`RuntimeSettings`](crate::runtime::RuntimeSettings): a few for local
//!   disks, 64 for stores), and the runtime's request threads run them.
//! - **Priority.** Queued work runs lowest `priority` first, ties in
//!   submission order. Readers take a [`Scheduler::ticket`] per piece as
//!   they plan it (one clock for the process, so the earliest-planned piece
//!   of any reader goes first), and a caller waiting now uses 0: prefetch far
//!   ahead never starves the piece a consumer waits for.
//! - **Bytes in flight** are bounded per submitter by a
//!   [`ByteBudget`](crate::runtime::budget::ByteBudget): the submitter
//!   reserves a request's bytes before submitting and the
//!   [`Reservation`](crate::runtime::budget::Reservation) travels with the
//!   buffer until the consumer drops it. Budgets are per submitter on
//!   purpose: one shared budget would let a reader whose consumer is busy
//!   elsewhere hold every byte while another reader's consumer waits.
//! - **Cancellation.** Work not started when the request's token fires is
//!   skipped; the completion then carries [`Error::Cancelled`].

use std::cell::UnsafeCell;
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::{to_usize, PendingResult, RandomAccessFile, ReadRange};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::runtime::retry::with_retries;
use crate::runtime::{self, ElasticPool, Executor, RuntimeSettings, Task};
use crate::sync::{lock, PerProcess};

/// Where a file's bytes come from, which decides how its reads are issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoClass {
    /// Local files and mounts: a request's ranges are one batched call.
    Local,
    /// Remote storage: each range is a round trip of its own.
    Remote,
}

impl IoClass {
    fn lane(self) -> usize {
        match self {
            IoClass::Local => 0,
            IoClass::Remote => 1,
        }
    }
}

/// One read request: fill `buffer` with `ranges` of `file`, laid out back to
/// back in range order.
pub struct ReadRequest<B> {
    pub file: Arc<dyn RandomAccessFile>,
    pub ranges: Vec<ReadRange>,
    /// At least the ranges' total length; returned in the completion.
    pub buffer: B,
    /// Lower runs first.
    pub priority: u64,
    /// Skips the work not yet started once it fires.
    pub cancel: CancelToken,
    /// Times a transient error (`EINTR`, `EAGAIN`, `EIO`) is retried.
    pub retries: u32,
}

/// A finished request: the buffer back, and each range's byte count (short
/// only at the end of the file).
#[derive(Debug)]
pub struct ReadDone<B> {
    pub buffer: B,
    pub counts: Vec<usize>,
}

/// How many requests the scheduler runs and holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Units running now (local, remote).
    pub running: [usize; 2],
    /// Units waiting for a slot.
    pub queued: usize,
    /// The most units that ran at once (local, remote).
    pub peak_running: [usize; 2],
}

type Done<B> = Box<dyn FnOnce(Result<ReadDone<B>>) + Send>;

/// A request while its units run. Units write disjoint parts of the buffer
/// through `base`; the buffer itself is touched again only by the unit that
/// finishes last, which takes it out.
struct Batch<B> {
    file: Arc<dyn RandomAccessFile>,
    ranges: Vec<ReadRange>,
    /// Where each range starts in the buffer.
    starts: Vec<usize>,
    /// The buffer's bytes, taken from it once it sits in this batch.
    base: AtomicPtr<u8>,
    buffer: UnsafeCell<Option<B>>,
    counts: Vec<AtomicUsize>,
    error: Mutex<Option<Error>>,
    remaining: AtomicUsize,
    done: Mutex<Option<Done<B>>>,
    cancel: CancelToken,
    retries: u32,
}

// SAFETY: the buffer is touched at three moments only: `submit` takes
// `base` from it before any unit exists; units then write disjoint ranges
// of it through `base` (each range once, never through a reference to `B`);
// and the unit that finishes last (`remaining` reaching 0 with AcqRel
// ordering, so every other unit's writes happen before) takes it out. No two
// threads ever hold a reference to the buffer at once.
unsafe impl<B: Send> Send for Batch<B> {}
// SAFETY: as above; every other field is Sync.
unsafe impl<B: Send> Sync for Batch<B> {}

impl<B: AsMut<[u8]> + Send + 'static> Batch<B> {
    /// Run ranges `units` of the request.
    fn run(&self, units: std::ops::Range<usize>) {
        if lock(&self.error).is_none() {
            if let Err(e) = self.cancel.check("read") {
                self.fail(e);
            } else {
                let result = with_retries(self.retries, &self.cancel, || {
                    let mut requests: Vec<(u64, &mut [u8])> = units
                        .clone()
                        .map(|i| {
                            let len = self.ranges[i].length as usize;
                            // SAFETY: range i owns buffer bytes
                            // starts[i]..starts[i] + len (prefix sums of the
                            // lengths, checked to fit when submitted); no
                            // other unit writes them, and nothing reads them
                            // until every unit is done.
                            let slice = unsafe {
                                std::slice::from_raw_parts_mut(
                                    self.base.load(Ordering::Relaxed).add(self.starts[i]),
                                    len,
                                )
                            };
                            (self.ranges[i].offset, slice)
                        })
                        .collect();
                    self.file.read_many_into(&mut requests)
                });
                match result {
                    Ok(counts) => {
                        for (i, n) in units.clone().zip(counts) {
                            self.counts[i].store(n, Ordering::Relaxed);
                        }
                    }
                    Err(e) => self.fail(e),
                }
            }
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finish();
        }
    }

    fn fail(&self, e: Error) {
        lock(&self.error).get_or_insert(e);
    }

    fn finish(&self) {
        let Some(done) = lock(&self.done).take() else {
            return;
        };
        let result = match lock(&self.error).take() {
            Some(e) => Err(e),
            // SAFETY: every unit has finished (see the Sync impl), and
            // `done` was taken once, so this is the only access now.
            None => match unsafe { (*self.buffer.get()).take() } {
                Some(buffer) => Ok(ReadDone {
                    buffer,
                    counts: self
                        .counts
                        .iter()
                        .map(|c| c.load(Ordering::Relaxed))
                        .collect(),
                }),
                None => Err(Error::InvalidState {
                    op: "read request".to_string(),
                    reason: "finished twice".to_string(),
                }),
            },
        };
        done(result);
    }
}

struct Unit {
    priority: u64,
    seq: u64,
    run: Task,
}

impl PartialEq for Unit {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.seq) == (other.priority, other.seq)
    }
}
impl Eq for Unit {}
impl PartialOrd for Unit {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Unit {
    // BinaryHeap pops the greatest: the lowest (priority, seq) is greatest.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.priority, other.seq).cmp(&(self.priority, self.seq))
    }
}

#[derive(Default)]
struct Lane {
    queue: BinaryHeap<Unit>,
    running: usize,
    peak: usize,
}

struct State {
    generation: u64,
    settings: RuntimeSettings,
    lanes: Mutex<[Lane; 2]>,
    seq: AtomicU64,
    tickets: AtomicU64,
    /// Runs the units: one thread per unit running, so as large as both
    /// lanes' limits together.
    pool: &'static ElasticPool,
}

impl State {
    fn limit(&self, lane: usize) -> usize {
        match lane {
            0 => self.settings.local_requests,
            _ => self.settings.remote_requests,
        }
    }
}

/// The process's scheduler; see the module docs. A handle: every value
/// talks to the same queues, made on first use and again in a forked child.
#[derive(Clone)]
pub struct Scheduler {
    state: Arc<State>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("settings", &self.state.settings)
            .field("stats", &self.stats())
            .finish()
    }
}

static STATE: PerProcess<Arc<State>> = PerProcess::new();

impl Scheduler {
    /// The process's scheduler (an error only when a setting is invalid).
    pub fn get() -> Result<Scheduler> {
        STATE.guard_across_fork();
        let state = STATE.get_or_try_init(
            || -> Result<Arc<State>> { Ok(Scheduler::with_settings(runtime::settings()?).state) },
            // Inherited through fork(): the parent's queued work is not ours.
            std::mem::forget,
        )?;
        // The process's scheduler lives as long as the process: its pool's
        // slot is held across forks too (after the slot above is released).
        state.pool.guard_across_fork();
        Ok(Scheduler { state })
    }

    /// A scheduler with `settings` and threads of its own: the process's,
    /// and the tests'. Its pool lives as long as the process.
    pub(crate) fn with_settings(settings: RuntimeSettings) -> Scheduler {
        Scheduler {
            state: Arc::new(State {
                generation: crate::fork::generation(),
                settings,
                lanes: Mutex::new([Lane::default(), Lane::default()]),
                seq: AtomicU64::new(0),
                tickets: AtomicU64::new(0),
                pool: Box::leak(Box::new(ElasticPool::new(
                    "hf3fs-req",
                    settings.local_requests + settings.remote_requests,
                ))),
            }),
        }
    }

    /// Request threads running now.
    pub fn threads(&self) -> usize {
        self.state.pool.threads()
    }

    /// The most request threads it runs.
    pub fn max_threads(&self) -> usize {
        self.state.pool.max_threads()
    }

    /// A priority for work a submitter plans now: tickets grow with time
    /// across the whole process, so among prefetching readers the piece
    /// planned earliest (the one its consumer will want first) goes first,
    /// whichever reader it belongs to. Priority 0 is for a caller waiting now.
    pub fn ticket(&self) -> u64 {
        self.state.tickets.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The limits in use.
    pub fn settings(&self) -> RuntimeSettings {
        self.state.settings
    }

    /// What runs and waits now.
    pub fn stats(&self) -> SchedulerStats {
        let lanes = lock(&self.state.lanes);
        SchedulerStats {
            running: [lanes[0].running, lanes[1].running],
            queued: lanes[0].queue.len() + lanes[1].queue.len(),
            peak_running: [lanes[0].peak, lanes[1].peak],
        }
    }

    /// Submit `request`; `done` gets the completion, on a request thread
    /// (or on the calling thread when the request is invalid or empty).
    pub fn submit<B>(
        &self,
        request: ReadRequest<B>,
        done: impl FnOnce(Result<ReadDone<B>>) + Send + 'static,
    ) where
        B: AsMut<[u8]> + Send + 'static,
    {
        let ReadRequest {
            file,
            ranges,
            mut buffer,
            priority,
            cancel,
            retries,
        } = request;
        let mut starts = Vec::with_capacity(ranges.len());
        let mut total = 0usize;
        for r in &ranges {
            starts.push(total);
            match to_usize(r.length, file.path()) {
                Ok(len) => total = total.saturating_add(len),
                Err(e) => return done(Err(e)),
            }
        }
        let capacity = buffer.as_mut().len();
        if total > capacity {
            return done(Err(Error::invalid(
                file.path(),
                format!("a read of {total} bytes into a buffer of {capacity}"),
            )));
        }
        let class = file.io_class();
        let units: Vec<std::ops::Range<usize>> = match class {
            _ if ranges.is_empty() => Vec::new(),
            IoClass::Local => std::iter::once(0..ranges.len()).collect(),
            IoClass::Remote => (0..ranges.len()).map(|i| i..i + 1).collect(),
        };
        let batch = Arc::new(Batch {
            counts: ranges.iter().map(|_| AtomicUsize::new(0)).collect(),
            file,
            ranges,
            starts,
            base: AtomicPtr::new(std::ptr::null_mut()),
            buffer: UnsafeCell::new(Some(buffer)),
            error: Mutex::new(None),
            remaining: AtomicUsize::new(units.len()),
            done: Mutex::new(Some(Box::new(done))),
            cancel,
            retries,
        });
        // SAFETY: no unit exists yet and the batch is not shared, so this is
        // the only access; the buffer now stays where it is, inside the Arc,
        // until the last unit takes it out.
        let base = unsafe { (*batch.buffer.get()).as_mut() }
            .map_or(std::ptr::null_mut(), |b| b.as_mut().as_mut_ptr());
        batch.base.store(base, Ordering::Relaxed);
        if units.is_empty() {
            batch.finish();
            return;
        }
        // A handle made before fork() must not queue into the parent's lanes.
        let state = if self.state.generation == crate::fork::generation() {
            self.state.clone()
        } else {
            match Scheduler::get() {
                Ok(s) => s.state,
                Err(e) => {
                    batch.fail(e);
                    batch.finish();
                    return;
                }
            }
        };
        let lane = class.lane();
        let start = {
            let mut lanes = lock(&state.lanes);
            for unit in units {
                let b = batch.clone();
                lanes[lane].queue.push(Unit {
                    priority,
                    seq: state.seq.fetch_add(1, Ordering::Relaxed),
                    run: Box::new(move || b.run(unit)),
                });
            }
            let l = &mut lanes[lane];
            let free = state.limit(lane).saturating_sub(l.running);
            let start = free.min(l.queue.len());
            l.running += start;
            l.peak = l.peak.max(l.running);
            start
        };
        for _ in 0..start {
            let s = state.clone();
            state.pool.spawn(Box::new(move || drain(&s, lane)));
        }
    }

    /// [`Scheduler::submit`] with the completion as a future (for tests).
    #[cfg(test)]
    pub fn read<B>(&self, request: ReadRequest<B>) -> PendingResult<ReadDone<B>>
    where
        B: AsMut<[u8]> + Send + 'static,
    {
        let (future, promise) = PendingResult::pending("read");
        self.submit(request, move |r| promise.complete(r));
        future
    }
}

/// A request thread's loop: run the lane's best unit until none is queued.
fn drain(state: &State, lane: usize) {
    loop {
        let unit = {
            let mut lanes = lock(&state.lanes);
            match lanes[lane].queue.pop() {
                Some(u) => u,
                None => {
                    lanes[lane].running -= 1;
                    return;
                }
            }
        };
        // A panicking read must not strand the lane's slot; the batch's
        // completion still fires from its `done` (dropped with the unit).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(unit.run));
    }
}

/// Read `ranges` of `file` into a new buffer through the process's
/// scheduler; the future holds `finish(buffer, range lengths, counts)`.
fn read_owned<T: Send + 'static>(
    op: &'static str,
    file: Arc<dyn RandomAccessFile>,
    ranges: Vec<ReadRange>,
    priority: u64,
    cancel: CancelToken,
    finish: impl FnOnce(Vec<u8>, Vec<u64>, Vec<usize>) -> T + Send + 'static,
) -> Result<PendingResult<T>> {
    let total: u64 = ranges.iter().map(|r| r.length).sum();
    let buffer = vec![0u8; to_usize(total, file.path())?];
    let lengths: Vec<u64> = ranges.iter().map(|r| r.length).collect();
    let (future, promise) = PendingResult::pending(op);
    let request = ReadRequest {
        file,
        ranges,
        buffer,
        priority,
        cancel,
        retries: 0,
    };
    Scheduler::get()?.submit(request, move |result| {
        promise.complete(result.map(|done| finish(done.buffer, lengths, done.counts)))
    });
    Ok(future)
}

/// Read `ranges` of `file` into one new buffer through the scheduler; the
/// future holds the bytes up to the first short range (the end of the file).
pub fn read_contiguous(
    file: Arc<dyn RandomAccessFile>,
    ranges: Vec<ReadRange>,
    priority: u64,
    cancel: CancelToken,
) -> Result<PendingResult<Bytes>> {
    read_owned(
        "read",
        file,
        ranges,
        priority,
        cancel,
        |mut buffer, lengths, counts| {
            // Bytes up to the first short part are valid (short only at EOF).
            let mut valid = 0;
            for (len, n) in lengths.iter().zip(counts) {
                valid += n;
                if (n as u64) < *len {
                    break;
                }
            }
            buffer.truncate(valid);
            Bytes::from(buffer)
        },
    )
}

/// Read each of `ranges` of `file` into its own buffer, through the
/// scheduler (all in flight at once on remote storage, one batched call on
/// local files). `priority` 0 puts it ahead of any prefetch.
pub fn read_ranges_async(
    file: Arc<dyn RandomAccessFile>,
    ranges: Vec<ReadRange>,
    priority: u64,
    cancel: CancelToken,
) -> Result<PendingResult<Vec<Bytes>>> {
    read_owned(
        "read_many",
        file,
        ranges,
        priority,
        cancel,
        |buffer, lengths, counts| {
            let data = Bytes::from(buffer);
            let mut at = 0usize;
            lengths
                .iter()
                .zip(counts)
                .map(|(len, n)| {
                    let part = data.slice(at..at + n);
                    at += *len as usize;
                    part
                })
                .collect()
        },
    )
}

/// [`read_ranges_async`] for a caller that waits now; gives up when
/// `cancel` fires (the reads not yet started are skipped).
pub fn read_ranges(
    file: &Arc<dyn RandomAccessFile>,
    ranges: &[ReadRange],
    cancel: &CancelToken,
) -> Result<Vec<Bytes>> {
    read_ranges_async(file.clone(), ranges.to_vec(), 0, cancel.clone())?.wait_with(cancel)
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
