//! The dataset index: every file's footer (with the page index when the
//! file has one), read once and in parallel, and one schema they share.

use std::sync::Arc;

use arrow_schema::SchemaRef;
use bytes::Bytes;
use hf3fs_core::fs::{IoClass, RandomAccessFile};
use hf3fs_core::CancelToken;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataPushDecoder};
use parquet::DecodeResult;

use crate::error::{Error, Result};
use crate::footer_cache::FooterCache;
use crate::parallel::try_map_io;
use crate::retry::{no_panic, with_retries, DEFAULT_IO_RETRIES};
use crate::source::{resolve_sources, SourceFile, SourceOptions};

/// The speculative tail read per file: footers of files written with
/// default settings (a few hundred row groups × tens of columns) fit in
/// 64 KiB, so one read usually brings the whole footer (DuckDB and
/// arrow-rs's object-store reader use the same figure).
pub const DEFAULT_FOOTER_READ_SIZE: u64 = 64 << 10;

/// Bytes of whole small files an index keeps from their footer reads: a
/// file no larger than the tail read is in memory once its footer is, and a
/// small remote file is read whole instead of its tail ([`SMALL_REMOTE_FILE`]),
/// since reading it again costs a round trip per file (half the requests of
/// a dataset of small files on an object store). 256 MiB keeps a thousand
/// 256 KiB files, a trifle next to a training node's memory, and bounds what
/// a dataset of many more can hold.
pub const DEFAULT_SMALL_FILE_BYTES: u64 = 256 << 20;

/// Remote files up to this size are read whole by their footer read: on an
/// object store a GET of 1 MiB costs little more than one of 64 KiB (the
/// round trip dominates), and it saves the data's own GET later.
pub const SMALL_REMOTE_FILE: u64 = 1 << 20;

/// Footers read at once: footer reads are small and latency-bound, so more
/// in flight than cores hides a network mount's round trips (they run on
/// the runtime's file system pool, which has as many threads).
pub const DEFAULT_INDEX_THREADS: usize = hf3fs_core::runtime::DEFAULT_IO_THREADS;

/// Told `(footers read, files)` after each footer, in file order.
#[derive(Clone)]
pub struct IndexProgress(pub Arc<dyn Fn(usize, usize) + Send + Sync>);

impl std::fmt::Debug for IndexProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexProgress(..)")
    }
}

/// How the index is built.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Bytes read from the end of each file before the footer length is known.
    pub footer_read_size: u64,
    /// Footers read at once (at most the runtime's file system pool,
    /// [`hf3fs_core::runtime::DEFAULT_IO_THREADS`] threads).
    pub threads: usize,
    /// Reports footers read, for a progress bar over many files.
    pub progress: Option<IndexProgress>,
    /// Bytes of whole small files kept from footer reads (0: none).
    pub small_file_bytes: u64,
    /// Where remote files' footers are kept between opens (None: nowhere).
    pub footer_cache: Option<FooterCache>,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            footer_read_size: DEFAULT_FOOTER_READ_SIZE,
            threads: DEFAULT_INDEX_THREADS,
            progress: None,
            small_file_bytes: DEFAULT_SMALL_FILE_BYTES,
            footer_cache: FooterCache::from_env(),
        }
    }
}

/// One indexed Parquet file.
#[derive(Debug, Clone)]
pub struct IndexedFile {
    /// Where it is.
    pub source: SourceFile,
    /// Its metadata and Arrow schema, shared by every decoder of the file.
    pub reader_metadata: ArrowReaderMetadata,
}

impl IndexedFile {
    /// The Parquet metadata.
    pub fn metadata(&self) -> &Arc<ParquetMetaData> {
        self.reader_metadata.metadata()
    }

    /// How errors name the file.
    pub fn display(&self) -> &str {
        &self.source.display
    }

    /// Open the file for reading.
    pub fn open(&self) -> Result<Arc<dyn RandomAccessFile>> {
        self.source
            .open(&CancelToken::never())
            .map_err(|e| Error::io(self.display(), None, e))
    }
}

/// The files of a dataset and the schema they share.
#[derive(Debug, Clone)]
pub struct DatasetIndex {
    /// The files, in dataset order.
    pub files: Vec<IndexedFile>,
    /// The Arrow schema of every file.
    pub schema: SchemaRef,
}

impl DatasetIndex {
    /// Resolve `sources` and read every footer; gives up when `cancel` fires.
    pub fn open(
        sources: &[String],
        source_options: &SourceOptions,
        options: &IndexOptions,
        cancel: &CancelToken,
    ) -> Result<DatasetIndex> {
        let files = resolve_sources(sources, source_options, cancel)?;
        DatasetIndex::from_files(files, options, cancel)
    }

    /// Read the footers of `files`, `options.threads` at a time on the
    /// runtime's file system pool; the first failure (in file order) or
    /// `cancel` firing stops the rest.
    pub fn from_files(
        files: Vec<SourceFile>,
        options: &IndexOptions,
        cancel: &CancelToken,
    ) -> Result<DatasetIndex> {
        let total = files.len();
        let size = options.footer_read_size;
        let progress = options.progress.clone();
        let keep = Arc::new(std::sync::atomic::AtomicU64::new(options.small_file_bytes));
        let cache = options.footer_cache.clone();
        let indexed = try_map_io(
            files,
            options.threads,
            "opening the dataset",
            cancel,
            |done| {
                if let Some(IndexProgress(report)) = &progress {
                    report(done, total);
                }
            },
            move |file, stop| {
                let named = file.clone();
                no_panic(|| index_file(file, size, &keep, cache.as_ref(), stop))
                    .unwrap_or_else(|panic| Err(footer_error(&named, panic)))
            },
        )?;
        let Some(first) = indexed.first() else {
            return Err(Error::invalid("source", "no Parquet files"));
        };
        let schema = first.reader_metadata.schema().clone();
        for file in &indexed[1..] {
            if let Some((column, detail)) =
                schema_difference(&schema, file.reader_metadata.schema())
            {
                return Err(Error::SchemaMismatch {
                    path: file.display().to_string(),
                    first: first.display().to_string(),
                    column,
                    detail,
                });
            }
        }
        Ok(DatasetIndex {
            files: indexed,
            schema,
        })
    }
}

/// The first column in which `other` differs from `schema` (names and
/// types; nullability and metadata may differ between writers) and how, or
/// None.
fn schema_difference(schema: &SchemaRef, other: &SchemaRef) -> Option<(String, String)> {
    let names = |s: &SchemaRef| {
        s.fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    let (ours, theirs) = (names(schema), names(other));
    if ours != theirs {
        // The first position where the lists part (a column missing at the end counts too).
        let column = ours
            .iter()
            .zip(&theirs)
            .find(|(a, b)| a != b)
            .map(|(a, _)| a)
            .or_else(|| ours.get(theirs.len()))
            .or_else(|| theirs.get(ours.len()))
            .cloned()
            .unwrap_or_default();
        return Some((
            column,
            format!(
                "columns [{}] instead of [{}]",
                theirs.join(", "),
                ours.join(", ")
            ),
        ));
    }
    for (a, b) in schema.fields().iter().zip(other.fields()) {
        if !a.data_type().equals_datatype(b.data_type()) {
            return Some((
                a.name().clone(),
                format!(
                    "column {:?} has type {} instead of {}",
                    a.name(),
                    b.data_type(),
                    a.data_type()
                ),
            ));
        }
    }
    None
}

/// A footer error: the footer is the file's last 8 bytes (its length and magic).
fn footer_error(file: &SourceFile, reason: impl std::fmt::Display) -> Error {
    Error::Footer {
        path: file.display.clone(),
        offset: Some(file.size.saturating_sub(8)),
        reason: reason.to_string(),
    }
}

/// A decode error in `row_group` of `file`, at the chunk of `column` (the
/// row group's start when no column is known).
pub(crate) fn decode_error(
    file: &IndexedFile,
    row_group: usize,
    column: Option<String>,
    source: ParquetError,
) -> Error {
    let metadata = file.metadata();
    let offset = (row_group < metadata.num_row_groups()).then(|| {
        let rg = metadata.row_group(row_group);
        let root = column
            .as_ref()
            .and_then(|c| file.reader_metadata.schema().index_of(c).ok());
        let descr = metadata.file_metadata().schema_descr();
        let leaf = root
            .and_then(|r| (0..descr.num_columns()).find(|&i| descr.get_column_root_idx(i) == r))
            .unwrap_or(0);
        rg.columns().get(leaf).map(|c| c.byte_range().0)
    });
    Error::Decode {
        path: file.display().to_string(),
        row_group,
        column,
        offset: offset.flatten(),
        source: Box::new(source),
    }
}

/// `Err(Interrupted)` once `cancel` fired.
fn check(cancel: &CancelToken) -> Result<()> {
    if cancel.is_cancelled() {
        return Err(Error::Interrupted("opening the dataset"));
    }
    Ok(())
}

/// Read one file's footer: one tail read, more only when the footer (or the
/// page index) does not fit in it. Stops between calls once `cancel` fires.
fn index_file(
    mut source: SourceFile,
    footer_read_size: u64,
    keep: &std::sync::atomic::AtomicU64,
    cache: Option<&FooterCache>,
    cancel: &CancelToken,
) -> Result<IndexedFile> {
    check(cancel)?;
    let handle = source
        .open(cancel)
        .map_err(|e| Error::io(&source.display, None, e))?;
    let size = handle
        .size()
        .map_err(|e| Error::io(&source.display, None, e))?;
    if size < 12 {
        return Err(footer_error(
            &source,
            format!("{size} bytes is too small for a Parquet file (at least 12)"),
        ));
    }
    let read = |range: &std::ops::Range<u64>| -> Result<Bytes> {
        check(cancel)?;
        let len = range.end.saturating_sub(range.start);
        let bytes = with_retries(DEFAULT_IO_RETRIES, cancel, || {
            handle.read_bytes_at(range.start, len as usize)
        })
        .map_err(|e| Error::io(&source.display, Some(range.start), e))?;
        if (bytes.len() as u64) < len {
            return Err(footer_error(
                &source,
                "the file is shorter than its footer says",
            ));
        }
        Ok(bytes)
    };
    let remote = handle.io_class() == IoClass::Remote;
    let cache = cache.filter(|_| remote);
    // A footer kept from an earlier open costs no read; one that does not
    // decode (damaged, or from another writer) is read again.
    let cached = cache
        .and_then(|c| c.load(&source))
        .and_then(|(start, bytes)| decode_footer(&source, size, start, bytes, &read).ok());
    let decoded = match cached {
        Some((metadata, _)) => metadata,
        None => {
            // A small remote file is read whole, its bytes kept for the reader.
            let whole = remote
                && size > footer_read_size
                && size <= SMALL_REMOTE_FILE
                && take_budget(keep, size);
            let tail_start = if whole {
                0
            } else {
                size.saturating_sub(footer_read_size)
            };
            let tail = read(&(tail_start..size))?;
            let (metadata, more) = decode_footer(&source, size, tail_start, tail.clone(), &read)?;
            if let (Some(cache), false) = (cache, more) {
                // The footer's window of the tail, not a small file's data.
                let keep_from = size.saturating_sub(footer_read_size).max(tail_start);
                let skip = (keep_from - tail_start) as usize;
                cache.store(&source, keep_from, &tail[skip..]);
            }
            if whole || (tail_start == 0 && take_budget(keep, size)) {
                source.contents = Some(tail);
            }
            metadata
        }
    };
    let metadata = Arc::new(decoded);
    validate_layout(&source, &metadata, size)?;
    let reader_metadata =
        no_panic(|| ArrowReaderMetadata::try_new(metadata, ArrowReaderOptions::new()))
            .map_err(|panic| footer_error(&source, panic))?
            .map_err(|e| footer_error(&source, e))?;
    Ok(IndexedFile {
        source,
        reader_metadata,
    })
}

/// Decode a footer from the bytes `start..size` of the file, reading more
/// with `read` when the decoder asks; returns the metadata and whether it
/// needed more than those bytes.
fn decode_footer(
    source: &SourceFile,
    size: u64,
    start: u64,
    bytes: Bytes,
    read: &dyn Fn(&std::ops::Range<u64>) -> Result<Bytes>,
) -> Result<(ParquetMetaData, bool)> {
    no_panic(|| -> Result<(ParquetMetaData, bool)> {
        let mut decoder = ParquetMetaDataPushDecoder::try_new(size)
            .map_err(|e| footer_error(source, e))?
            .with_page_index_policy(PageIndexPolicy::Optional);
        decoder
            .push_range(start..size, bytes)
            .map_err(|e| footer_error(source, e))?;
        let mut more = false;
        // Each round asks for more bytes or finishes; a footer needs at most
        // two more (the rest of the metadata, then the page index).
        for _ in 0..8 {
            match decoder.try_decode().map_err(|e| footer_error(source, e))? {
                DecodeResult::Data(metadata) => return Ok((metadata, more)),
                DecodeResult::NeedsData(ranges) => {
                    more = true;
                    for range in ranges {
                        if range.end > size || range.start > range.end {
                            return Err(footer_error(
                                source,
                                format!("the footer points outside the file ({range:?})"),
                            ));
                        }
                        let bytes = read(&range)?;
                        decoder
                            .push_range(range, bytes)
                            .map_err(|e| footer_error(source, e))?;
                    }
                }
                DecodeResult::Finished => break,
            }
        }
        Err(footer_error(source, "the footer did not decode"))
    })
    .map_err(|panic| footer_error(source, panic))?
}

/// Take `n` bytes of the small-file budget, if that many are left.
fn take_budget(budget: &std::sync::atomic::AtomicU64, n: u64) -> bool {
    use std::sync::atomic::Ordering;
    budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(n)
        })
        .is_ok()
}

/// Reject metadata whose column chunks lie outside the file or whose row
/// counts are negative, so later reads never ask for impossible ranges.
fn validate_layout(source: &SourceFile, metadata: &ParquetMetaData, size: u64) -> Result<()> {
    for (i, rg) in metadata.row_groups().iter().enumerate() {
        if rg.num_rows() < 0 {
            return Err(footer_error(
                source,
                format!("row group {i} has {} rows", rg.num_rows()),
            ));
        }
        for column in rg.columns() {
            let (start, len) = column.byte_range();
            if start.checked_add(len).is_none_or(|end| end > size) {
                return Err(footer_error(
                    source,
                    format!(
                        "row group {i} column {:?} lies outside the file (bytes {start}..{})",
                        column.column_path().string(),
                        start.saturating_add(len)
                    ),
                ));
            }
        }
    }
    Ok(())
}
