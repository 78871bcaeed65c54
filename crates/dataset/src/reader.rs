//! The reader of one (rank, worker): it keeps its pieces' IO far ahead of
//! the consumer — as many pieces in flight as the byte budget
//! (`prefetch_bytes`) and [`MAX_PIECES_AHEAD`] allow, on the process's
//! scheduler — while pieces complete and decode in any order on the
//! runtime's pools (see [`crate::pipeline`]). The consumer takes pieces in
//! plan order and cuts batches of exactly `batch_size` rows; nothing about
//! the plan, the batches or resume depends on the order IO completes in.
//! A reader owns no threads: dropping it cancels its queued work.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;
use hf3fs_core::fs::{CacheOptions, PendingResult, Scheduler};
use hf3fs_core::runtime::budget::ByteBudget;
use hf3fs_core::CancelToken;

use crate::error::{Error, Result};
use crate::pipeline::{DecodeQueue, Decoded, OpenFile, PieceContext, PieceSlot, Planned};
use crate::plan::{window_permutation, RowRange};
use crate::scan::Scan;
use crate::slab::SlabPool;

pub use crate::pipeline::ReaderStats;

/// Default in-flight byte budget: a few row groups of a typical training
/// corpus (64–128 MiB each) ahead of the consumer, small next to host memory.
pub const DEFAULT_PREFETCH_BYTES: u64 = 256 << 20;

/// Most pieces a reader has in flight, whatever the budget allows. Each may
/// hold an open file; 32 pieces of a few MiB at 100 ms a request still carry
/// ~1 GB/s, and 20 readers (32 + 8 files each) stay below the usual 1,024
/// file descriptors.
pub const MAX_PIECES_AHEAD: usize = 32;

/// Open files a reader keeps between pieces: a span crosses few files at a
/// time, and a dataset of thousands of files must not exhaust the fd limit.
const OPEN_FILES: usize = 8;

/// How one worker's rows are read.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// Rows per batch.
    pub batch_size: usize,
    /// Drop a last batch shorter than `batch_size`.
    pub drop_last: bool,
    /// Bytes of read buffers and decoded pieces in flight.
    pub prefetch_bytes: u64,
    /// How the ranges of a piece are merged into requests.
    pub cache: CacheOptions,
    /// NUMA node of the read buffers (-1: none).
    pub numa: i32,
    /// Pieces this reader decodes at once (on the runtime's CPU pool).
    pub decode_threads: usize,
    /// Rows per shuffle window (0: no row shuffle).
    pub shuffle_window: u64,
    /// Seeds of the window permutations: (seed, epoch, span).
    pub window_seed: (u64, u64, u64),
    /// Index of the first window (the stream starts at a window boundary).
    pub first_window: u64,
    /// Rows to drop from the start of the stream (after the window shuffle).
    pub discard_rows: u64,
}

/// The pieces not yet handed to the consumer, and what they need.
struct Pieces {
    ctx: PieceContext,
    scheduler: Scheduler,
    budget: Arc<ByteBudget>,
    slabs: Arc<SlabPool>,
    /// Segments not planned yet, in plan order.
    pending: VecDeque<RowRange>,
    /// The next piece, planned, waiting for budget.
    planned: Option<(usize, Planned)>,
    /// Submitted pieces, in plan order.
    in_flight: VecDeque<PieceSlot>,
    /// Recently used files (open or being opened), by file index, most
    /// recent last.
    files: VecDeque<(usize, Arc<OpenFile>)>,
}

impl Pieces {
    fn file(&mut self, file_index: usize) -> Arc<OpenFile> {
        if let Some(at) = self.files.iter().position(|(i, _)| *i == file_index) {
            if let Some(entry) = self.files.remove(at) {
                let file = entry.1.clone();
                self.files.push_back(entry);
                return file;
            }
        }
        let file = OpenFile::start(&self.ctx.scan.index.files[file_index], &self.ctx.stop);
        if self.files.len() >= OPEN_FILES {
            self.files.pop_front();
        }
        self.files.push_back((file_index, file.clone()));
        file
    }

    /// Submit pieces while the budget and [`MAX_PIECES_AHEAD`] allow. A piece
    /// that cannot be planned becomes an error slot after the pieces before
    /// it, so the consumer gets their rows first.
    fn top_up(&mut self) {
        while self.in_flight.len() < MAX_PIECES_AHEAD {
            let (file_index, planned) = match self.planned.take() {
                Some(p) => p,
                None => {
                    let Some(segment) = self.pending.pop_front() else {
                        return;
                    };
                    let file_index = self.ctx.scan.groups[segment.group].file;
                    match self.ctx.plan(segment) {
                        Ok(p) => (file_index, p),
                        Err(e) => return self.fail(e),
                    }
                }
            };
            let Some(reservation) = self.budget.try_reserve(planned.estimate) else {
                self.planned = Some((file_index, planned));
                return;
            };
            let slab = match self.slabs.take(planned.slab_bytes() as usize) {
                Ok(slab) => slab,
                Err(e) => return self.fail(e),
            };
            let priority = self.scheduler.ticket();
            let file = self.file(file_index);
            let slot =
                self.ctx
                    .submit(&self.scheduler, &file, planned, slab, reservation, priority);
            self.in_flight.push_back(slot);
        }
    }

    fn fail(&mut self, e: Error) {
        self.pending.clear();
        self.in_flight
            .push_back(PendingResult::ready("read piece", Ok(Err(e))));
    }

    /// Stop: queued reads and decodes are skipped, buffers freed as their
    /// running reads finish.
    fn stop(&mut self) {
        self.ctx.stop.cancel();
        self.pending.clear();
        self.planned = None;
        self.in_flight.clear();
        self.files.clear();
    }
}

/// Batches of one worker's segments, in order.
pub struct BatchReader {
    scan: Arc<Scan>,
    options: ReaderOptions,
    pieces: Pieces,
    /// Rows decoded and not yet shuffled.
    raw: RowQueue,
    /// Rows ready to be cut into batches.
    ready: RowQueue,
    /// Rows still to come from the pipeline.
    expected_rows: u64,
    window: u64,
    discard: u64,
    finished: bool,
}

impl std::fmt::Debug for BatchReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchReader")
            .field("ready_rows", &self.ready.rows)
            .field("expected_rows", &self.expected_rows)
            .field("pieces_in_flight", &self.pieces.in_flight.len())
            .finish()
    }
}

impl BatchReader {
    /// Start reading `segments` of `scan`: the first pieces' IO is issued
    /// before this returns.
    pub fn new(
        scan: Arc<Scan>,
        segments: Vec<RowRange>,
        options: ReaderOptions,
    ) -> Result<BatchReader> {
        if options.batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be at least 1"));
        }
        let scheduler = Scheduler::get().map_err(|e| Error::io("<scheduler>", None, e))?;
        let expected_rows = segments.iter().map(RowRange::len).sum();
        let mut pieces = Pieces {
            ctx: PieceContext {
                scan: scan.clone(),
                batch_size: options.batch_size,
                cache: options.cache,
                stats: Arc::new(Mutex::new(ReaderStats::default())),
                stop: CancelToken::new(),
                decode: DecodeQueue::new(options.decode_threads),
            },
            scheduler,
            budget: ByteBudget::new(options.prefetch_bytes),
            slabs: SlabPool::new(options.numa, options.prefetch_bytes as usize),
            pending: segments.into(),
            planned: None,
            in_flight: VecDeque::new(),
            files: VecDeque::new(),
        };
        pieces.top_up();
        Ok(BatchReader {
            scan,
            window: options.first_window,
            discard: options.discard_rows,
            options,
            pieces,
            raw: RowQueue::default(),
            ready: RowQueue::default(),
            expected_rows,
            finished: false,
        })
    }

    /// What the reader has done so far.
    pub fn stats(&self) -> ReaderStats {
        *self
            .pieces
            .ctx
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The next piece's batches; None at the end.
    fn next_piece(&mut self, cancel: &CancelToken) -> Result<Option<Vec<RecordBatch>>> {
        // Budget frees only when a piece is taken (below), so the pieces
        // were topped up when the reader started or the last piece was taken.
        let Some(slot) = self.pieces.in_flight.pop_front() else {
            return Ok(None);
        };
        let decoded = match slot.wait_with(cancel) {
            Ok(result) => result?,
            Err(_) if cancel.is_cancelled() => {
                return Err(Error::Interrupted("reading the dataset"))
            }
            Err(e) => return Err(Error::io("<reader>", None, e)),
        };
        // The piece's bytes leave the budget now, so the refill can use them.
        let Decoded {
            batches,
            _reservation,
        } = decoded;
        drop(_reservation);
        self.pieces.top_up();
        Ok(Some(batches))
    }

    /// Fill `raw` with at least `rows` rows (fewer at the end).
    fn fill(&mut self, rows: usize, cancel: &CancelToken) -> Result<()> {
        while self.raw.rows < rows && self.expected_rows > 0 {
            let Some(batches) = self.next_piece(cancel)? else {
                return Err(Error::invalid(
                    "reader",
                    format!("the data ended {} rows early", self.expected_rows),
                ));
            };
            for b in batches {
                let n = b.num_rows() as u64;
                if n > self.expected_rows {
                    return Err(Error::invalid(
                        "reader",
                        "the decoder returned more rows than planned",
                    ));
                }
                self.expected_rows -= n;
                self.raw.push(b);
            }
        }
        Ok(())
    }

    /// The next batch; None at the end. Waiting gives up when `cancel` fires
    /// (the reader is finished then).
    pub fn next_batch(&mut self, cancel: &CancelToken) -> Result<Option<RecordBatch>> {
        if self.finished {
            return Ok(None);
        }
        let outcome = self.next_batch_inner(cancel);
        if !matches!(outcome, Ok(Some(_))) {
            self.finished = true;
            self.shutdown();
        }
        outcome
    }

    fn next_batch_inner(&mut self, cancel: &CancelToken) -> Result<Option<RecordBatch>> {
        let batch_size = self.options.batch_size;
        let window = self.options.shuffle_window as usize;
        let schema = self.scan.schema.clone();
        loop {
            let want = batch_size + self.discard as usize;
            while self.ready.rows < want && (self.raw.rows > 0 || self.expected_rows > 0) {
                if window > 0 {
                    // Shuffle whole windows of the stream, aligned to its start.
                    self.fill(window, cancel)?;
                    let rows = self.raw.take(window, &schema)?;
                    let (seed, epoch, span) = self.options.window_seed;
                    let perm = window_permutation(rows.num_rows(), seed, epoch, span, self.window);
                    self.window += 1;
                    let indices = arrow_array::UInt32Array::from(perm);
                    let shuffled = take_record_batch(&rows, &indices)
                        .map_err(|e| Error::invalid("reader", e.to_string()))?;
                    self.ready.push(shuffled);
                } else {
                    self.fill(want - self.ready.rows, cancel)?;
                    // Moved as they are: `ready.take` joins rows only across a cut.
                    self.ready.append(&mut self.raw);
                }
            }
            if self.discard > 0 {
                let n = (self.discard as usize).min(self.ready.rows);
                if n == 0 {
                    return Ok(None);
                }
                self.ready.take(n, &schema)?;
                self.discard -= n as u64;
                continue;
            }
            if self.ready.rows == 0 || (self.ready.rows < batch_size && self.options.drop_last) {
                return Ok(None);
            }
            return self.ready.take(batch_size, &schema).map(Some);
        }
    }

    /// The next batch as the decoder made it (its rows in plan order, not
    /// cut, joined or window-shuffled), for a consumer that cuts rows
    /// itself (the sequence packer); None at the end.
    pub fn next_decoded(&mut self, cancel: &CancelToken) -> Result<Option<RecordBatch>> {
        if self.finished {
            return Ok(None);
        }
        let outcome = self.fill(1, cancel).map(|()| {
            let batch = self.raw.batches.pop_front();
            if let Some(b) = &batch {
                self.raw.rows -= b.num_rows();
            }
            batch
        });
        if !matches!(outcome, Ok(Some(_))) {
            self.finished = true;
            self.shutdown();
        }
        outcome
    }

    fn shutdown(&mut self) {
        self.pieces.stop();
    }
}

impl Drop for BatchReader {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Rows in a queue of batches.
#[derive(Debug, Default)]
struct RowQueue {
    batches: VecDeque<RecordBatch>,
    rows: usize,
}

impl RowQueue {
    fn push(&mut self, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.rows += batch.num_rows();
            self.batches.push_back(batch);
        }
    }

    /// Move every batch of `other` to the back of this queue.
    fn append(&mut self, other: &mut RowQueue) {
        self.rows += std::mem::take(&mut other.rows);
        self.batches.append(&mut other.batches);
    }

    /// The first `n` rows (or all there are) as one batch; slices, and
    /// copies only to join rows of different batches.
    fn take(&mut self, n: usize, schema: &arrow_schema::SchemaRef) -> Result<RecordBatch> {
        let mut parts = Vec::new();
        let mut need = n.min(self.rows);
        while need > 0 {
            let Some(front) = self.batches.pop_front() else {
                break;
            };
            let take = front.num_rows().min(need);
            if take < front.num_rows() {
                self.batches
                    .push_front(front.slice(take, front.num_rows() - take));
            }
            parts.push(front.slice(0, take));
            self.rows -= take;
            need -= take;
        }
        match parts.len() {
            0 => Ok(RecordBatch::new_empty(schema.clone())),
            1 => Ok(parts.remove(0)),
            _ => {
                concat_batches(schema, &parts).map_err(|e| Error::invalid("reader", e.to_string()))
            }
        }
    }
}
