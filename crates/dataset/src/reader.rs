//! The read pipeline of one (rank, worker): an IO thread plans each piece's
//! reads (the byte ranges the push decoder asks for, coalesced), reserves
//! them against the byte budget, reads them with one batched call into a
//! pinned slab, and hands the slab to the decoder without copying; decode
//! threads decode pieces in parallel; the consumer takes pieces in order and
//! cuts batches of exactly `batch_size` rows.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;
use bytes::Bytes;
use hf3fs_core::fs::{coalesce_ranges, split_ranges, CacheOptions, RandomAccessFile, ReadRange};
use parquet::arrow::push_decoder::{ParquetPushDecoder, ParquetPushDecoderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::DecodeResult;

use crate::error::{Error, Result};
use crate::index::IndexedFile;
use crate::plan::{window_permutation, Segment};
use crate::retry::{no_panic, with_retries, DEFAULT_IO_RETRIES};
use crate::scan::{decode_group_simple, read_ranges, Scan};
use crate::slab::{Budget, Reservation, SlabPool};

/// Default in-flight byte budget: a few row groups of a typical training
/// corpus (64–128 MiB each) ahead of the consumer, small next to host memory.
pub const DEFAULT_PREFETCH_BYTES: u64 = 256 << 20;

/// Pieces queued ahead of the consumer beyond the decode threads: enough to
/// keep every decoder busy while the IO thread reads the next piece.
const QUEUE_SLACK: usize = 2;

/// Open files the IO thread keeps: a span crosses few files at a time, and a
/// dataset of thousands of files must not exhaust the fd limit.
const OPEN_FILES: usize = 8;

/// How often a blocked consumer checks for Ctrl-C.
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

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
    /// Threads decoding pieces.
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

/// Counters of what a reader did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReaderStats {
    /// Pieces read.
    pub pieces: u64,
    /// Read requests issued (after coalescing).
    pub requests: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Reads the decoder asked for outside the planned ranges.
    pub unplanned_reads: u64,
}

struct Decoded {
    batches: Vec<RecordBatch>,
    /// Held until the consumer takes the piece's rows.
    _reservation: Reservation,
}

type PieceResult = Result<Decoded>;

struct Job {
    segment: Segment,
    decoder: ParquetPushDecoder,
    handle: Arc<dyn RandomAccessFile>,
    reservation: Reservation,
    reply: SyncSender<PieceResult>,
}

/// Batches of one worker's segments, in order.
pub struct BatchReader {
    scan: Arc<Scan>,
    options: ReaderOptions,
    order: Option<Receiver<Receiver<PieceResult>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    stats: Arc<Mutex<ReaderStats>>,
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
            .finish()
    }
}

impl BatchReader {
    /// Start reading `segments` of `scan`.
    pub fn new(
        scan: Arc<Scan>,
        segments: Vec<Segment>,
        options: ReaderOptions,
    ) -> Result<BatchReader> {
        if options.batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be at least 1"));
        }
        let expected_rows = segments.iter().map(Segment::len).sum();
        let decode_threads = options.decode_threads.max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(ReaderStats::default()));
        let (order_tx, order_rx) =
            sync_channel::<Receiver<PieceResult>>(decode_threads + QUEUE_SLACK);
        let (job_tx, job_rx) = sync_channel::<Job>(decode_threads);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut threads = Vec::new();
        for i in 0..decode_threads {
            let job_rx = job_rx.clone();
            let scan = scan.clone();
            let stats = stats.clone();
            let handle = std::thread::Builder::new()
                .name(format!("hf3fs-decode-{i}"))
                .spawn(move || decode_loop(&scan, &job_rx, &stats))
                .map_err(|e| {
                    Error::io(
                        "<decode thread>",
                        None,
                        hf3fs_core::Error::os_nopath("spawn", e),
                    )
                })?;
            threads.push(handle);
        }
        let io = {
            let scan = scan.clone();
            let stop = stop.clone();
            let stats = stats.clone();
            let options = options.clone();
            std::thread::Builder::new()
                .name("hf3fs-prefetch".into())
                .spawn(move || io_loop(&scan, segments, &options, &stop, &stats, order_tx, job_tx))
                .map_err(|e| {
                    Error::io(
                        "<prefetch thread>",
                        None,
                        hf3fs_core::Error::os_nopath("spawn", e),
                    )
                })?
        };
        threads.push(io);
        Ok(BatchReader {
            scan,
            window: options.first_window,
            discard: options.discard_rows,
            options,
            order: Some(order_rx),
            stop,
            threads,
            stats,
            raw: RowQueue::default(),
            ready: RowQueue::default(),
            expected_rows,
            finished: false,
        })
    }

    /// What the reader has done so far.
    pub fn stats(&self) -> ReaderStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next piece's batches; None at the end.
    fn next_piece(&mut self, interrupted: &dyn Fn() -> bool) -> Result<Option<Vec<RecordBatch>>> {
        let Some(order) = &self.order else {
            return Ok(None);
        };
        let Some(piece) = recv_polling(order, interrupted)? else {
            return Ok(None);
        };
        let Some(result) = recv_polling(&piece, interrupted)? else {
            return Err(Error::invalid(
                "reader",
                "a decode thread stopped unexpectedly",
            ));
        };
        result.map(|decoded| Some(decoded.batches))
    }

    /// Fill `raw` with at least `rows` rows (fewer at the end).
    fn fill(&mut self, rows: usize, interrupted: &dyn Fn() -> bool) -> Result<()> {
        while self.raw.rows < rows && self.expected_rows > 0 {
            let Some(batches) = self.next_piece(interrupted)? else {
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

    /// The next batch; None at the end. `interrupted` is polled while waiting.
    pub fn next_batch(&mut self, interrupted: &dyn Fn() -> bool) -> Result<Option<RecordBatch>> {
        if self.finished {
            return Ok(None);
        }
        let outcome = self.next_batch_inner(interrupted);
        if !matches!(outcome, Ok(Some(_))) {
            self.finished = true;
            self.shutdown();
        }
        outcome
    }

    fn next_batch_inner(&mut self, interrupted: &dyn Fn() -> bool) -> Result<Option<RecordBatch>> {
        let batch_size = self.options.batch_size;
        let window = self.options.shuffle_window as usize;
        let schema = self.scan.schema.clone();
        loop {
            let want = batch_size + self.discard as usize;
            while self.ready.rows < want && (self.raw.rows > 0 || self.expected_rows > 0) {
                if window > 0 {
                    // Shuffle whole windows of the stream, aligned to its start.
                    self.fill(window, interrupted)?;
                    let rows = self.raw.take(window, &schema)?;
                    let (seed, epoch, span) = self.options.window_seed;
                    let perm = window_permutation(rows.num_rows(), seed, epoch, span, self.window);
                    self.window += 1;
                    let indices = arrow_array::UInt32Array::from(perm);
                    let shuffled = take_record_batch(&rows, &indices)
                        .map_err(|e| Error::invalid("reader", e.to_string()))?;
                    self.ready.push(shuffled);
                } else {
                    self.fill(want - self.ready.rows, interrupted)?;
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

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the queue makes the IO thread's next send fail.
        self.order = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
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

/// Receive from `rx`, polling `interrupted`; None when the sender is gone.
fn recv_polling<T>(rx: &Receiver<T>, interrupted: &dyn Fn() -> bool) -> Result<Option<T>> {
    loop {
        match rx.recv_timeout(INTERRUPT_POLL) {
            Ok(v) => return Ok(Some(v)),
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
            Err(RecvTimeoutError::Timeout) => {
                if interrupted() {
                    return Err(Error::Interrupted("reading the dataset"));
                }
            }
        }
    }
}

/// Estimated memory a segment takes once decoded: its projected column
/// chunks' values at their Arrow width (Parquet's `uncompressed_size` is
/// still dictionary- and RLE-encoded, several times smaller for token ids),
/// plus validity bitmaps and list offsets, pro rata to the rows it reads.
fn decoded_estimate(
    scan: &Scan,
    file: &IndexedFile,
    segment: &Segment,
    mask: &ProjectionMask,
) -> u64 {
    let group = &scan.groups[segment.group];
    let rg = file.metadata().row_group(group.row_group);
    let total: u64 = rg
        .columns()
        .iter()
        .enumerate()
        .filter(|(i, _)| mask.leaf_included(*i))
        .map(|(_, c)| decoded_chunk_bytes(c, rg.num_rows().max(0) as u64))
        .sum();
    total.saturating_mul(segment.len()) / group.total_rows.max(1)
}

/// One column chunk's decoded size (see `decoded_estimate`).
fn decoded_chunk_bytes(chunk: &parquet::file::metadata::ColumnChunkMetaData, rows: u64) -> u64 {
    use parquet::basic::Type;
    let values = chunk.num_values().max(0) as u64;
    let descr = chunk.column_descr();
    let data = match descr.physical_type() {
        Type::BOOLEAN => values.div_ceil(8),
        Type::INT32 | Type::FLOAT => values * 4,
        Type::INT64 | Type::DOUBLE => values * 8,
        Type::INT96 => values * 12,
        Type::FIXED_LEN_BYTE_ARRAY => values * descr.type_length().max(0) as u64,
        // Plain-encoded bytes are the values themselves; a dictionary page
        // may be smaller than the strings it expands to, which the size
        // statistics say when the writer wrote them.
        Type::BYTE_ARRAY => {
            let unencoded = chunk.unencoded_byte_array_data_bytes().unwrap_or(0).max(0) as u64;
            unencoded.max(chunk.uncompressed_size().max(0) as u64) + values * 4
        }
    };
    // Validity bitmaps, and list offsets (4 bytes a row per nesting level).
    let validity = if descr.max_def_level() > 0 {
        values.div_ceil(8)
    } else {
        0
    };
    let offsets = rows * 4 * descr.max_rep_level().max(0) as u64;
    data.max(chunk.uncompressed_size().max(0) as u64) + validity + offsets
}

fn io_loop(
    scan: &Scan,
    segments: Vec<Segment>,
    options: &ReaderOptions,
    stop: &AtomicBool,
    stats: &Mutex<ReaderStats>,
    order: SyncSender<Receiver<PieceResult>>,
    jobs: SyncSender<Job>,
) {
    let budget = Budget::new(options.prefetch_bytes);
    let pool = SlabPool::new(options.numa, options.prefetch_bytes as usize);
    let mut handles: HashMap<usize, Arc<dyn RandomAccessFile>> = HashMap::new();
    let mut recent: VecDeque<usize> = VecDeque::new();
    for segment in segments {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let (reply, result) = sync_channel::<PieceResult>(1);
        if order.send(result).is_err() {
            return;
        }
        let group = &scan.groups[segment.group];
        let file = scan.file_of(group);
        let handle = match handles.get(&group.file) {
            Some(h) => Ok(h.clone()),
            None => file.open().inspect(|h| {
                if recent.len() >= OPEN_FILES {
                    if let Some(old) = recent.pop_front() {
                        handles.remove(&old);
                    }
                }
                handles.insert(group.file, h.clone());
                recent.push_back(group.file);
            }),
        };
        let prepared = handle.and_then(|handle| {
            prepare_piece(
                scan, file, &segment, handle, options, &budget, &pool, stop, stats,
            )
        });
        match prepared {
            Ok(Some((decoder, handle, reservation))) => {
                let job = Job {
                    segment,
                    decoder,
                    handle,
                    reservation,
                    reply,
                };
                if jobs.send(job).is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        }
    }
}

type Prepared = (ParquetPushDecoder, Arc<dyn RandomAccessFile>, Reservation);

/// Build the piece's decoder, read what it will ask for into one slab and
/// push it. None when the reader was stopped.
#[allow(clippy::too_many_arguments)]
fn prepare_piece(
    scan: &Scan,
    file: &IndexedFile,
    segment: &Segment,
    handle: Arc<dyn RandomAccessFile>,
    options: &ReaderOptions,
    budget: &Arc<Budget>,
    pool: &Arc<SlabPool>,
    stop: &AtomicBool,
    stats: &Mutex<ReaderStats>,
) -> Result<Option<Prepared>> {
    let group = &scan.groups[segment.group];
    let decode_error = |source: ParquetError| Error::Decode {
        path: file.display().to_string(),
        row_group: group.row_group,
        column: None,
        source: Box::new(source),
    };
    let mask = scan.projection(file);
    let mut builder = ParquetPushDecoderBuilder::new_with_metadata(file.reader_metadata.clone())
        .with_projection(mask.clone())
        .with_row_groups(vec![group.row_group])
        .with_batch_size(options.batch_size);
    if let Some(selection) = scan.selection(segment) {
        builder = builder.with_row_selection(selection);
    }
    let planned = no_panic(
        || -> Result<(ParquetPushDecoder, Vec<std::ops::Range<u64>>)> {
            let mut decoder = builder.build().map_err(decode_error)?;
            let wanted = match decoder.try_decode().map_err(decode_error)? {
                DecodeResult::NeedsData(ranges) => ranges,
                _ => Vec::new(),
            };
            Ok((decoder, wanted))
        },
    )
    .map_err(|panic| decode_error(ParquetError::General(panic)))??;
    let (mut decoder, wanted) = planned;
    let ranges: Vec<ReadRange> = wanted
        .iter()
        .map(|r| ReadRange {
            offset: r.start,
            length: r.end.saturating_sub(r.start),
        })
        .collect();
    let merged = coalesce_ranges(
        &ranges,
        options.cache.hole_size_limit,
        options.cache.range_size_limit,
    );
    let requests = split_ranges(&merged, options.cache.max_request_size);
    let slab_bytes: u64 = requests.iter().map(|r| r.length).sum();
    let estimate = slab_bytes + decoded_estimate(scan, file, segment, &mask);
    let Some(reservation) = budget.reserve(estimate, stop) else {
        return Ok(None);
    };
    let mut slab = pool.take(slab_bytes as usize)?;
    {
        let mut rest = slab.as_mut_slice();
        let mut reads: Vec<(u64, &mut [u8])> = Vec::with_capacity(requests.len());
        for r in &requests {
            let (head, tail) = rest.split_at_mut(r.length as usize);
            reads.push((r.offset, head));
            rest = tail;
        }
        let got = with_retries(DEFAULT_IO_RETRIES, || handle.read_many_into(&mut reads))
            .map_err(|e| Error::io(file.display(), requests.first().map(|r| r.offset), e))?;
        for (r, n) in requests.iter().zip(got) {
            if (n as u64) < r.length {
                return Err(Error::Footer {
                    path: file.display().to_string(),
                    reason: format!(
                        "the file ends at byte {} but its metadata points to byte {} (truncated?)",
                        r.offset + n as u64,
                        r.end()
                    ),
                });
            }
        }
    }
    {
        let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
        s.pieces += 1;
        s.requests += requests.len() as u64;
        s.bytes_read += slab_bytes;
    }
    // The coalesced ranges, pushed as zero-copy slices of the slab: the
    // decoder serves any request that lies inside one.
    let data = Bytes::from_owner(slab);
    let mut at = 0usize;
    let mut pushed_ranges = Vec::with_capacity(merged.len());
    let mut pushed = Vec::with_capacity(merged.len());
    for m in &merged {
        pushed_ranges.push(m.offset..m.end());
        pushed.push(data.slice(at..at + m.length as usize));
        at += m.length as usize;
    }
    decoder
        .push_ranges(pushed_ranges, pushed)
        .map_err(decode_error)?;
    Ok(Some((decoder, handle, reservation)))
}

fn decode_loop(scan: &Scan, jobs: &Mutex<Receiver<Job>>, stats: &Mutex<ReaderStats>) {
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(job) = job else { return };
        let Job {
            segment,
            decoder,
            handle,
            reservation,
            reply,
        } = job;
        let result =
            decode_piece(scan, &segment, decoder, handle.as_ref(), stats).map(|batches| Decoded {
                batches,
                _reservation: reservation,
            });
        let _ = reply.send(result);
    }
}

fn decode_piece(
    scan: &Scan,
    segment: &Segment,
    mut decoder: ParquetPushDecoder,
    handle: &dyn RandomAccessFile,
    stats: &Mutex<ReaderStats>,
) -> Result<Vec<RecordBatch>> {
    let group = &scan.groups[segment.group];
    let file = scan.file_of(group);
    let decoded = no_panic(
        || -> Result<std::result::Result<Vec<RecordBatch>, ParquetError>> {
            let mut out = Vec::new();
            loop {
                match decoder.try_decode() {
                    Err(e) => return Ok(Err(e)),
                    Ok(DecodeResult::NeedsData(ranges)) => {
                        // Not planned (the decoder asked for more than it first
                        // said): read it directly.
                        stats
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .unplanned_reads += 1;
                        let data = read_ranges(file, handle, &ranges)?;
                        if let Err(e) = decoder.push_ranges(ranges, data) {
                            return Ok(Err(e));
                        }
                    }
                    Ok(DecodeResult::Data(batch)) => out.push(batch),
                    Ok(DecodeResult::Finished) => return Ok(Ok(out)),
                }
            }
        },
    );
    let failure = match decoded {
        Ok(Ok(Ok(batches))) => {
            let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
            if rows != segment.len() {
                return Err(Error::Decode {
                    path: file.display().to_string(),
                    row_group: group.row_group,
                    column: None,
                    source: Box::new(ParquetError::General(format!(
                        "decoded {rows} rows where the metadata promises {}",
                        segment.len()
                    ))),
                });
            }
            return batches
                .into_iter()
                .map(|b| {
                    scan.reorder(b)
                        .map_err(|e| Error::invalid("reader", e.to_string()))
                })
                .collect();
        }
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Err(e))) => e,
        Err(panic) => ParquetError::General(panic),
    };
    Err(Error::Decode {
        path: file.display().to_string(),
        row_group: group.row_group,
        column: blame_column(scan, file, handle, segment),
        source: Box::new(failure),
    })
}

/// The first projected column that fails to decode on its own.
fn blame_column(
    scan: &Scan,
    file: &IndexedFile,
    handle: &dyn RandomAccessFile,
    segment: &Segment,
) -> Option<String> {
    let group = &scan.groups[segment.group];
    let descr = file.metadata().file_metadata().schema_descr();
    for name in &scan.columns {
        let root = file.reader_metadata.schema().index_of(name).ok()?;
        let mask = ProjectionMask::roots(descr, [root]);
        if decode_group_simple(
            file,
            handle,
            mask,
            group.row_group,
            scan.selection(segment),
            8192,
        )
        .is_err()
        {
            return Some(name.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Int32Builder, ListBuilder};
    use arrow_array::{ArrayRef, Int64Array};
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::ParquetMetaDataReader;

    /// Dictionary-encoded token ids are far smaller encoded than decoded; the
    /// budget must count what the decoder will hold, not the encoded size.
    #[test]
    fn decoded_size_counts_arrow_width_not_encoded_size() {
        let rows = 2_000;
        let mut tokens = ListBuilder::new(Int32Builder::new());
        for r in 0..rows {
            for t in 0..100 {
                tokens.values().append_value((r + t) % 7);
            }
            tokens.append(true);
        }
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
        let tokens: ArrayRef = Arc::new(tokens.finish());
        let batch = RecordBatch::try_from_iter([("id", ids), ("tokens", tokens)]).unwrap();
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&bytes::Bytes::from(file))
            .unwrap();
        let rg = metadata.row_group(0);
        let (id, tokens) = (rg.column(0), rg.column(1));
        let values = 100 * rows as u64;
        let token_bytes = decoded_chunk_bytes(tokens, rows as u64);
        assert!((tokens.uncompressed_size() as u64) < values * 4);
        // Values at 4 bytes, offsets at 4 bytes a row, a validity bit a value.
        assert_eq!(
            token_bytes,
            values * 4 + values.div_ceil(8) + rows as u64 * 4
        );
        // try_from_iter makes a column without nulls required: no validity.
        assert_eq!(
            decoded_chunk_bytes(id, rows as u64),
            (rows as u64 * 8).max(id.uncompressed_size() as u64)
        );
    }
}
