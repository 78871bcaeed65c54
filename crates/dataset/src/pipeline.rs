//! The pieces of one reader in flight: each piece (a row group, or the part
//! of one a span needs) is planned on the consumer's thread — its push
//! decoder says which byte ranges it needs, they are coalesced and reserved
//! against the reader's byte budget — then its reads go to the process's
//! scheduler, many pieces at once, into one pinned slab per piece. When a
//! piece's reads complete (in any order), it is decoded on the runtime's
//! CPU pool, and its result waits in the piece's slot until the consumer,
//! which takes slots in plan order, comes to it.

use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use arrow_array::{Array, ArrayRef, RecordBatch};
use bytes::Bytes;
use hf3fs_core::fs::{
    coalesce_ranges, split_ranges, PendingResult, Promise, RandomAccessFile, ReadDone, ReadRange,
    ReadRequest, Scheduler,
};
use hf3fs_core::runtime::budget::Reservation;
use hf3fs_core::runtime::{cpu, io_executor, Executor, Task};
use hf3fs_core::CancelToken;
use parquet::arrow::push_decoder::ParquetPushDecoder;
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::DecodeResult;

use crate::error::{Error, Result};
use crate::fast_decode::{align, decode_column, Decoder, FastColumns, FetchedRanges, PieceRows};
use crate::index::IndexedFile;
use crate::plan::RowRange;
use crate::retry::{no_panic, DEFAULT_IO_RETRIES};
use crate::scan::{decode_group_simple, decoder_builder, read_ranges, Scan};
use crate::slab::Slab;

/// Counters of what a reader did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReaderStats {
    /// Pieces read.
    pub pieces: u64,
    /// Read requests issued (after coalescing and splitting).
    pub requests: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Reads the decoder asked for outside the planned ranges.
    pub unplanned_reads: u64,
    /// Columns of pieces decoded by the fast path.
    pub fast_columns: u64,
    /// Of those, the columns of pieces its page decoder read (the others
    /// went through the `parquet` crate's column reader).
    pub page_decoder_columns: u64,
    /// Columns of pieces decoded by arrow-rs.
    pub arrow_columns: u64,
}

/// A piece's decoded batches, holding its share of the budget until the
/// consumer takes its rows.
pub(crate) struct Decoded {
    pub batches: Vec<RecordBatch>,
    pub _reservation: Reservation,
}

/// What the consumer waits for, per piece.
pub(crate) type PieceSlot = PendingResult<Result<Decoded>>;

/// A piece ready to be read: its decoder (which knows its ranges), the
/// requests that cover them, and what it will cost in memory.
pub(crate) struct Planned {
    segment: RowRange,
    decoder: ParquetPushDecoder,
    /// The coalesced ranges, pushed to the decoder.
    merged: Vec<ReadRange>,
    /// `merged` split into requests, read back to back into the slab.
    requests: Vec<ReadRange>,
    /// Slab plus decoded bytes.
    pub estimate: u64,
}

impl Planned {
    /// Bytes the slab needs.
    pub fn slab_bytes(&self) -> u64 {
        self.requests.iter().map(|r| r.length).sum()
    }
}

/// How a reader plans and decodes its pieces.
#[derive(Clone)]
pub(crate) struct PieceContext {
    pub scan: Arc<Scan>,
    pub batch_size: usize,
    pub cache: hf3fs_core::fs::CacheOptions,
    pub stats: Arc<Mutex<ReaderStats>>,
    /// Fires when the reader is dropped or finished: queued reads and
    /// decodes of its pieces are skipped.
    pub stop: CancelToken,
    pub decode: Arc<DecodeQueue>,
}

fn decode_error(file: &IndexedFile, row_group: usize, source: ParquetError) -> Error {
    crate::index::decode_error(file, row_group, None, source)
}

impl PieceContext {
    /// Build the piece's decoder and the reads it will ask for.
    pub fn plan(&self, segment: RowRange) -> Result<Planned> {
        let scan = &self.scan;
        let group = &scan.groups[segment.group];
        let file = scan.file_of(group);
        let mask = scan.projection(file);
        let builder = decoder_builder(
            file,
            mask.clone(),
            group.row_group,
            scan.selection(&segment),
            self.batch_size,
        );
        let to_error = |e| decode_error(file, group.row_group, e);
        let (decoder, wanted) = no_panic(
            || -> Result<(ParquetPushDecoder, Vec<std::ops::Range<u64>>)> {
                let mut decoder = builder.build().map_err(to_error)?;
                let wanted = match decoder.try_decode().map_err(to_error)? {
                    DecodeResult::NeedsData(ranges) => ranges,
                    _ => Vec::new(),
                };
                Ok((decoder, wanted))
            },
        )
        .map_err(|panic| to_error(ParquetError::General(panic)))??;
        let ranges: Vec<ReadRange> = wanted
            .iter()
            .map(|r| ReadRange::new(r.start, r.end.saturating_sub(r.start)))
            .collect();
        let merged = coalesce_ranges(
            &ranges,
            self.cache.hole_size_limit,
            self.cache.range_size_limit,
        );
        let requests = split_ranges(&merged, self.cache.max_request_size);
        let slab: u64 = requests.iter().map(|r| r.length).sum();
        let estimate = slab + decoded_estimate(scan, file, &segment, &mask);
        Ok(Planned {
            segment,
            decoder,
            merged,
            requests,
            estimate,
        })
    }

    /// Submit the piece's reads once `file` is open; its slot completes
    /// once it is decoded.
    pub fn submit(
        &self,
        scheduler: &Scheduler,
        file: &Arc<OpenFile>,
        planned: Planned,
        slab: Slab,
        reservation: Reservation,
        priority: u64,
    ) -> PieceSlot {
        let (slot, promise) = PendingResult::pending("read piece");
        let ctx = self.clone();
        let scheduler = scheduler.clone();
        file.with_handle(Box::new(move |handle| {
            let handle = match handle {
                Ok(h) => h,
                Err(e) => {
                    let display = file_display(&ctx.scan, &planned.segment);
                    return promise.complete(Ok(Err(Error::io(&display, None, e))));
                }
            };
            let request = ReadRequest {
                file: handle.clone(),
                ranges: planned.requests.clone(),
                buffer: slab,
                priority,
                cancel: ctx.stop.clone(),
                retries: DEFAULT_IO_RETRIES,
            };
            scheduler.submit(request, move |read| {
                ctx.on_read(planned, handle, reservation, priority, read, promise)
            });
        }));
        slot
    }

    /// A piece's reads finished (on a request thread): check them and queue
    /// its decode.
    fn on_read(
        self,
        planned: Planned,
        handle: Arc<dyn RandomAccessFile>,
        reservation: Reservation,
        priority: u64,
        read: hf3fs_core::Result<ReadDone<Slab>>,
        promise: Promise<Result<Decoded>>,
    ) {
        let group = &self.scan.groups[planned.segment.group];
        let file = self.scan.file_of(group);
        let done = match read {
            Ok(done) => done,
            Err(e) => {
                let offset = planned.requests.first().map(|r| r.offset);
                return promise.complete(Ok(Err(Error::io(file.display(), offset, e))));
            }
        };
        for (r, n) in planned.requests.iter().zip(&done.counts) {
            if (*n as u64) < r.length {
                return promise.complete(Ok(Err(Error::Footer {
                    path: file.display().to_string(),
                    offset: Some(r.offset + *n as u64),
                    reason: format!(
                        "the file ends at byte {} but its metadata points to byte {} (truncated?)",
                        r.offset + *n as u64,
                        r.end()
                    ),
                })));
            }
        }
        {
            let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            s.pieces += 1;
            s.requests += planned.requests.len() as u64;
            s.bytes_read += planned.slab_bytes();
        }
        let decode = self.decode.clone();
        decode.spawn(
            priority,
            Box::new(move || {
                let result = self
                    .stop
                    .check("decode")
                    .map_err(|e| Error::io(&file_display(&self.scan, &planned.segment), None, e));
                let result = result.and_then(|()| self.decode(planned, &handle, done.buffer));
                promise.complete(Ok(result.map(|batches| Decoded {
                    batches,
                    _reservation: reservation,
                })))
            }),
        );
    }

    /// Push the slab to the piece's decoder and decode it.
    fn decode(
        &self,
        planned: Planned,
        handle: &Arc<dyn RandomAccessFile>,
        slab: Slab,
    ) -> Result<Vec<RecordBatch>> {
        let Planned {
            segment,
            mut decoder,
            merged,
            ..
        } = planned;
        let group = &self.scan.groups[segment.group];
        let file = self.scan.file_of(group);
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
        let fast = self.scan.fast_columns(group.file);
        if !fast.any() {
            no_panic(|| decoder.push_ranges(pushed_ranges, pushed))
                .map_err(|panic| decode_error(file, group.row_group, ParquetError::General(panic)))?
                .map_err(|e| decode_error(file, group.row_group, e))?;
            let batches = decode_piece(&self.scan, &segment, decoder, handle, &self.stats)?;
            self.count_columns(0, 0, self.scan.roots().len());
            return reorder(&self.scan, batches);
        }
        drop(decoder);
        self.decode_fast(segment, fast, pushed_ranges, pushed, handle)
    }

    /// Decode a piece with the fast path, and the columns it declines with
    /// arrow-rs (sliced to match, so no column is copied).
    fn decode_fast(
        &self,
        segment: RowRange,
        fast: &FastColumns,
        pushed_ranges: Vec<std::ops::Range<u64>>,
        pushed: Vec<Bytes>,
        handle: &Arc<dyn RandomAccessFile>,
    ) -> Result<Vec<RecordBatch>> {
        let scan = &self.scan;
        let group = &scan.groups[segment.group];
        let file = scan.file_of(group);
        let rows = segment.len() as usize;
        let selection = scan.selection(&segment);
        let piece = PieceRows {
            metadata: file.metadata(),
            row_group: group.row_group,
            selection: selection.as_ref(),
            rows,
        };
        let fetched = Arc::new(FetchedRanges::new(
            pushed_ranges
                .iter()
                .cloned()
                .zip(pushed.iter().cloned())
                .collect(),
            file.source.size,
        ));
        // A column the fast path fails on (for any reason, a panic included)
        // goes to arrow-rs, which decodes it or reports the error.
        let mut by_pages = 0;
        let chunks: Vec<Option<Vec<ArrayRef>>> = (0..fast.columns.len())
            .map(|i| {
                let column = fast.column(i)?;
                let decoded = no_panic(|| decode_column(column, &piece, &fetched, self.batch_size))
                    .ok()
                    .and_then(Result::ok)
                    .filter(|(c, _)| c.iter().map(|a| a.len()).sum::<usize>() == rows);
                match decoded {
                    None => {
                        fast.decline(i);
                        None
                    }
                    Some((arrays, decoder)) => {
                        by_pages += usize::from(decoder == Decoder::Pages);
                        Some(arrays)
                    }
                }
            })
            .collect();
        let declined: Vec<usize> = scan
            .roots()
            .iter()
            .zip(&chunks)
            .filter(|(_, c)| c.is_none())
            .map(|(&root, _)| root)
            .collect();
        self.count_columns(chunks.len() - declined.len(), by_pages, declined.len());
        let slow = if declined.is_empty() {
            Vec::new()
        } else {
            let mask =
                ProjectionMask::roots(file.metadata().file_metadata().schema_descr(), declined);
            let builder = decoder_builder(file, mask, group.row_group, selection, self.batch_size);
            let to_error = |e| decode_error(file, group.row_group, e);
            let decoder = no_panic(|| -> Result<ParquetPushDecoder> {
                let mut decoder = builder.build().map_err(to_error)?;
                decoder
                    .push_ranges(pushed_ranges, pushed)
                    .map_err(to_error)?;
                Ok(decoder)
            })
            .map_err(|panic| to_error(ParquetError::General(panic)))??;
            decode_piece(scan, &segment, decoder, handle, &self.stats)?
        };
        align(scan, chunks, slow, rows)
    }

    /// Count a piece's columns: `fast` by the fast path (`by_pages` of
    /// them by its page decoder), `arrow` by arrow-rs.
    fn count_columns(&self, fast: usize, by_pages: usize, arrow: usize) {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        s.fast_columns += fast as u64;
        s.page_decoder_columns += by_pages as u64;
        s.arrow_columns += arrow as u64;
    }
}

fn reorder(scan: &Scan, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    batches
        .into_iter()
        .map(|b| {
            scan.reorder(b)
                .map_err(|e| Error::invalid("reader", e.to_string()))
        })
        .collect()
}

type HandleWaiter = Box<dyn FnOnce(hf3fs_core::Result<Arc<dyn RandomAccessFile>>) + Send>;

enum OpenState {
    Opening(Vec<HandleWaiter>),
    Open(Arc<dyn RandomAccessFile>),
    Failed(hf3fs_core::Error),
}

/// A file of the dataset being opened on the runtime's file system pool:
/// opening is a round trip on remote storage, so it runs off the consumer's
/// thread, and the pieces planned meanwhile wait for it, not the consumer.
pub(crate) struct OpenFile {
    state: Mutex<OpenState>,
}

impl OpenFile {
    /// Start opening `file` (skipped once `stop` fires).
    pub fn start(file: &IndexedFile, stop: &CancelToken) -> Arc<OpenFile> {
        let slot = Arc::new(OpenFile {
            state: Mutex::new(OpenState::Opening(Vec::new())),
        });
        let (opening, source, stop) = (slot.clone(), file.source.clone(), stop.clone());
        io_executor().spawn(Box::new(move || {
            // A panic inside the backend must still answer the waiters.
            let opened = no_panic(|| stop.check("open").and_then(|()| source.open(&stop)))
                .unwrap_or_else(|panic| {
                    Err(hf3fs_core::Error::task_failed(
                        format!("open {}", source.display),
                        panic,
                    ))
                });
            let waiters = {
                let mut state = opening.state.lock().unwrap_or_else(|p| p.into_inner());
                let next = match &opened {
                    Ok(h) => OpenState::Open(h.clone()),
                    Err(e) => OpenState::Failed(e.clone()),
                };
                match std::mem::replace(&mut *state, next) {
                    OpenState::Opening(waiters) => waiters,
                    _ => Vec::new(),
                }
            };
            for waiter in waiters {
                waiter(opened.clone());
            }
        }));
        slot
    }

    /// Run `f` with the handle: now when the file is open, else once it is.
    fn with_handle(&self, f: HandleWaiter) {
        let ready = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            match &mut *state {
                OpenState::Opening(waiters) => {
                    waiters.push(f);
                    return;
                }
                OpenState::Open(h) => Ok(h.clone()),
                OpenState::Failed(e) => Err(e.clone()),
            }
        };
        f(ready);
    }
}

fn file_display(scan: &Scan, segment: &RowRange) -> String {
    scan.file_of(&scan.groups[segment.group])
        .display()
        .to_string()
}

/// Runs one reader's decodes on the runtime's CPU pool, at most `limit`
/// at a time (DataLoader workers share the cores, so each reader decodes
/// with its share), the piece the consumer needs first first: reads
/// complete in any order, and a piece far ahead must not hold up the next.
pub(crate) struct DecodeQueue {
    limit: usize,
    state: Mutex<DecodeState>,
}

struct DecodeState {
    running: usize,
    queued: BinaryHeap<Queued>,
}

struct Queued {
    priority: u64,
    task: Task,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    // BinaryHeap pops the greatest: the lowest priority is greatest.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.priority.cmp(&self.priority)
    }
}

impl DecodeQueue {
    pub fn new(limit: usize) -> Arc<DecodeQueue> {
        Arc::new(DecodeQueue {
            limit: limit.max(1),
            state: Mutex::new(DecodeState {
                running: 0,
                queued: BinaryHeap::new(),
            }),
        })
    }

    fn spawn(self: &Arc<Self>, priority: u64, task: Task) {
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.running >= self.limit {
                state.queued.push(Queued { priority, task });
                return;
            }
            state.running += 1;
        }
        self.run(task);
    }

    fn run(self: &Arc<Self>, task: Task) {
        let queue = self.clone();
        cpu::spawn(Box::new(move || {
            let mut task = task;
            loop {
                // A panicking decode must not strand the queue: the piece's
                // promise, dropped with the task, reports the failure.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
                let mut state = queue.state.lock().unwrap_or_else(|p| p.into_inner());
                match state.queued.pop() {
                    Some(next) => task = next.task,
                    None => {
                        state.running -= 1;
                        return;
                    }
                }
            }
        }));
    }
}

/// Decode a piece whose data was pushed; its columns come in the
/// decoder's (ascending root) order.
fn decode_piece(
    scan: &Scan,
    segment: &RowRange,
    mut decoder: ParquetPushDecoder,
    handle: &Arc<dyn RandomAccessFile>,
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
                return Err(decode_error(
                    file,
                    group.row_group,
                    ParquetError::General(format!(
                        "decoded {rows} rows where the metadata promises {}",
                        segment.len()
                    )),
                ));
            }
            return Ok(batches);
        }
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Err(e))) => e,
        Err(panic) => ParquetError::General(panic),
    };
    Err(crate::index::decode_error(
        file,
        group.row_group,
        blame_column(scan, file, handle, segment),
        failure,
    ))
}

/// The first projected column that fails to decode on its own.
fn blame_column(
    scan: &Scan,
    file: &IndexedFile,
    handle: &Arc<dyn RandomAccessFile>,
    segment: &RowRange,
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

/// Estimated memory a segment takes once decoded: its projected column
/// chunks' values at their Arrow width (Parquet's `uncompressed_size` is
/// still dictionary- and RLE-encoded, several times smaller for token ids),
/// plus validity bitmaps and list offsets, pro rata to the rows it reads.
fn decoded_estimate(
    scan: &Scan,
    file: &IndexedFile,
    segment: &RowRange,
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
