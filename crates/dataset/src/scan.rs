//! A scan: the index with a projection and a filter applied. The filter is
//! resolved here, once: row groups the statistics rule out are dropped, and
//! the filter columns of the others are read to find the matching rows, so
//! the plan counts exactly the rows that will be yielded (which keeps every
//! rank's batch count equal even with a filter).

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{Schema, SchemaRef};
use bytes::Bytes;
use hf3fs_core::fs::{RandomAccessFile, ReadRange};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::arrow::push_decoder::ParquetPushDecoderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::DecodeResult;

use crate::error::{Error, Result};
use crate::fast_decode::FastColumns;
use crate::filter::Predicate;
use crate::index::{DatasetIndex, IndexedFile};
use crate::plan::RowRange;
use crate::retry::{no_panic, with_retries, DEFAULT_IO_RETRIES};
use hf3fs_core::runtime::cpu;
use hf3fs_core::CancelToken;

/// Rows per batch when reading filter columns: large enough that kernel
/// overhead is amortised, small enough to stay in cache.
const FILTER_BATCH_ROWS: usize = 8192;

/// What a scan reads.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Top-level columns to yield, in this order (None: all).
    pub columns: Option<Vec<String>>,
    /// Rows to keep.
    pub filter: Option<Predicate>,
    /// Stops the filter pre-scan (Ctrl-C while opening).
    pub cancel: CancelToken,
    /// Decode primitive and list-of-primitive columns with the fast path
    /// (off: every column through arrow-rs's readers).
    pub fast_decode: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            columns: None,
            filter: None,
            cancel: CancelToken::default(),
            fast_decode: fast_decode_from_env(),
        }
    }
}

/// `HF3FS_FAST_DECODE=0` turns the fast decode path off (to compare the two
/// paths, or to step around a fault in it); it is on otherwise.
pub fn fast_decode_from_env() -> bool {
    switch_from_env("HF3FS_FAST_DECODE")
}

/// An on/off switch from the environment: off for 0, false, off or no; on
/// otherwise (unset included).
pub(crate) fn switch_from_env(name: &str) -> bool {
    let value = std::env::var(name).unwrap_or_default();
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "0" | "false" | "off" | "no"
    )
}

/// One row group the scan reads.
#[derive(Debug, Clone)]
pub struct GroupRef {
    /// Index of the file in the index.
    pub file: usize,
    /// Row group within the file.
    pub row_group: usize,
    /// Rows in the row group.
    pub total_rows: u64,
    /// The matching rows (ascending), when a filter removed some.
    pub matches: Option<Arc<Vec<u32>>>,
}

impl GroupRef {
    /// Rows the scan yields from this group.
    pub fn rows(&self) -> u64 {
        match &self.matches {
            Some(m) => m.len() as u64,
            None => self.total_rows,
        }
    }
}

/// The index, projected and filtered.
#[derive(Debug)]
pub struct Scan {
    /// The files.
    pub index: Arc<DatasetIndex>,
    /// The columns yielded, in order.
    pub columns: Vec<String>,
    /// The schema of yielded batches.
    pub schema: SchemaRef,
    /// The row groups with rows to yield, in dataset order.
    pub groups: Vec<GroupRef>,
    /// Root (top-level) column indices to decode, ascending.
    roots: Vec<usize>,
    /// Batch column i is decoded column `reorder[i]`.
    reorder: Vec<usize>,
    /// Per file, which of `roots` the fast decode path reads.
    fast: Vec<FastColumns>,
}

fn root_indices(index: &DatasetIndex, names: &[String]) -> Result<Vec<usize>> {
    let first = index
        .files
        .first()
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    names
        .iter()
        .map(|name| {
            index
                .schema
                .index_of(name)
                .map_err(|_| Error::MissingColumn {
                    column: name.clone(),
                    path: first.clone(),
                    available: index
                        .schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .collect()
}

impl Scan {
    /// Apply `options` to `index`; reads the filter columns when there is a filter.
    pub fn new(index: Arc<DatasetIndex>, options: &ScanOptions) -> Result<Scan> {
        let columns: Vec<String> = match &options.columns {
            Some(c) => {
                for (i, name) in c.iter().enumerate() {
                    if c[..i].contains(name) {
                        return Err(Error::invalid(
                            "columns",
                            format!("{name:?} is listed twice"),
                        ));
                    }
                }
                c.clone()
            }
            None => index
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        };
        let wanted = root_indices(&index, &columns)?;
        let mut roots = wanted.clone();
        roots.sort_unstable();
        let reorder = wanted
            .iter()
            .map(|r| roots.iter().position(|x| x == r).unwrap_or(0))
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(
            wanted
                .iter()
                .map(|&i| index.schema.field(i).clone())
                .collect::<Vec<_>>(),
            index.schema.metadata().clone(),
        ));
        let mut groups = Vec::new();
        for (f, file) in index.files.iter().enumerate() {
            for (g, rg) in file.metadata().row_groups().iter().enumerate() {
                groups.push(GroupRef {
                    file: f,
                    row_group: g,
                    total_rows: rg.num_rows().max(0) as u64,
                    matches: None,
                });
            }
        }
        if let Some(filter) = &options.filter {
            groups = apply_filter(&index, filter, groups, &options.cancel)?;
        }
        groups.retain(|g| g.rows() > 0);
        let fast = index
            .files
            .iter()
            .map(|f| {
                if options.fast_decode {
                    FastColumns::of(
                        f.metadata().file_metadata().schema_descr(),
                        f.reader_metadata.schema(),
                        &roots,
                    )
                } else {
                    FastColumns::none(roots.len())
                }
            })
            .collect();
        Ok(Scan {
            index,
            columns,
            schema,
            groups,
            roots,
            reorder,
            fast,
        })
    }

    /// Rows the scan yields.
    pub fn num_rows(&self) -> u64 {
        self.groups.iter().map(GroupRef::rows).sum()
    }

    /// Rows per group, for the plan.
    pub fn group_rows(&self) -> Vec<u64> {
        self.groups.iter().map(GroupRef::rows).collect()
    }

    /// The file a group is in.
    pub fn file_of(&self, group: &GroupRef) -> &IndexedFile {
        &self.index.files[group.file]
    }

    /// The decoder's projection for `file`.
    pub fn projection(&self, file: &IndexedFile) -> ProjectionMask {
        ProjectionMask::roots(
            file.metadata().file_metadata().schema_descr(),
            self.roots.iter().copied(),
        )
    }

    /// Root column indices decoded, ascending.
    pub(crate) fn roots(&self) -> &[usize] {
        &self.roots
    }

    /// Which of [`Self::roots`] the fast decode path reads in `file`.
    pub(crate) fn fast_columns(&self, file: usize) -> &FastColumns {
        &self.fast[file]
    }

    /// The yielded columns every file decodes with the fast path.
    pub fn fast_column_names(&self) -> Vec<String> {
        if self.fast.is_empty() {
            return Vec::new();
        }
        self.columns
            .iter()
            .zip(&self.reorder)
            .filter(|(_, &i)| self.fast.iter().all(|f| f.columns[i].is_some()))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// A batch of `rows` rows from columns in [`Self::roots`] order, in the
    /// requested order.
    pub(crate) fn assemble(
        &self,
        columns: &[ArrayRef],
        rows: usize,
    ) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
        let columns = self.reorder.iter().map(|&i| columns[i].clone()).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
    }

    /// Put a decoded batch's columns in the requested order.
    pub fn reorder(
        &self,
        batch: RecordBatch,
    ) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
        self.assemble(batch.columns(), batch.num_rows())
    }

    /// The row selection of a segment (None: the whole row group).
    pub fn selection(&self, segment: &RowRange) -> Option<RowSelection> {
        let group = &self.groups[segment.group];
        match &group.matches {
            None if segment.start == 0 && segment.end == group.total_rows => None,
            None => Some(RowSelection::from(vec![
                RowSelector::skip(segment.start as usize),
                RowSelector::select(segment.len() as usize),
                RowSelector::skip((group.total_rows - segment.end) as usize),
            ])),
            Some(matches) => {
                let rows = &matches[segment.start as usize..segment.end as usize];
                let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
                for &r in rows {
                    let r = r as usize;
                    match ranges.last_mut() {
                        Some(last) if last.end == r => last.end = r + 1,
                        _ => ranges.push(r..r + 1),
                    }
                }
                Some(RowSelection::from_consecutive_ranges(
                    ranges.into_iter(),
                    group.total_rows as usize,
                ))
            }
        }
    }

    /// A digest of what the scan yields (files' names, row counts and
    /// columns), so a saved state is not loaded into a different dataset.
    /// Files count by name only, so a dataset copied to another mount or
    /// bucket still resumes. Each item is framed by its length, so no two
    /// different lists digest alike.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        digest.update(b"hf3fs.scan/2\0");
        let mut item = |bytes: &[u8]| {
            digest.update((bytes.len() as u64).to_le_bytes());
            digest.update(bytes);
        };
        item(&(self.index.files.len() as u64).to_le_bytes());
        for f in &self.index.files {
            item(file_name(f).as_bytes());
        }
        item(&(self.groups.len() as u64).to_le_bytes());
        for g in &self.groups {
            item(&g.rows().to_le_bytes());
        }
        item(&(self.columns.len() as u64).to_le_bytes());
        for c in &self.columns {
            item(c.as_bytes());
        }
        // 128 bits: collisions are out of reach, and the state stays short.
        hex::encode(&digest.finalize()[..16])
    }

    /// The fingerprint states of format 1 carry (FNV-1a over the same items,
    /// unframed); kept so those states still load.
    pub fn fingerprint_v1(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for f in &self.index.files {
            eat(file_name(f).as_bytes());
        }
        for g in &self.groups {
            eat(&g.rows().to_le_bytes());
        }
        for c in &self.columns {
            eat(c.as_bytes());
        }
        format!("{h:016x}")
    }
}

/// A file's name (the last part of how the dataset names it).
fn file_name(file: &IndexedFile) -> &str {
    file.display().rsplit('/').next().unwrap_or_default()
}

/// Read ranges through `handle` into owned buffers, on the process's
/// scheduler (together, on remote storage), retrying transient errors.
pub fn read_ranges(
    file: &IndexedFile,
    handle: &Arc<dyn RandomAccessFile>,
    ranges: &[std::ops::Range<u64>],
) -> Result<Vec<Bytes>> {
    let requests: Vec<ReadRange> = ranges
        .iter()
        .map(|r| ReadRange {
            offset: r.start,
            length: r.end - r.start,
        })
        .collect();
    let never = CancelToken::never();
    let bytes = with_retries(DEFAULT_IO_RETRIES, &never, || {
        hf3fs_core::fs::read_ranges(handle, &requests, &never)
    })
    .map_err(|e| Error::io(file.display(), ranges.first().map(|r| r.start), e))?;
    for (r, b) in ranges.iter().zip(&bytes) {
        if (b.len() as u64) < r.end - r.start {
            return Err(Error::Footer {
                path: file.display().to_string(),
                offset: Some(r.start + b.len() as u64),
                reason: format!(
                    "the file ends before byte {} that its metadata points to (truncated?)",
                    r.end
                ),
            });
        }
    }
    Ok(bytes)
}

/// A push decoder for `mask` of one row group (and `selection` of its rows).
pub(crate) fn decoder_builder(
    file: &IndexedFile,
    mask: ProjectionMask,
    row_group: usize,
    selection: Option<RowSelection>,
    batch_size: usize,
) -> ParquetPushDecoderBuilder {
    let builder = ParquetPushDecoderBuilder::new_with_metadata(file.reader_metadata.clone())
        .with_projection(mask)
        .with_row_groups(vec![row_group])
        .with_batch_size(batch_size);
    match selection {
        Some(s) => builder.with_row_selection(s),
        None => builder,
    }
}

/// Decode `mask` of one row group with plain reads (no slabs): the filter
/// pre-scan and the search for the column that fails to decode use it.
pub fn decode_group_simple(
    file: &IndexedFile,
    handle: &Arc<dyn RandomAccessFile>,
    mask: ProjectionMask,
    row_group: usize,
    selection: Option<RowSelection>,
    batch_size: usize,
) -> Result<Vec<RecordBatch>> {
    let decode_error = |source| crate::index::decode_error(file, row_group, None, source);
    let builder = decoder_builder(file, mask, row_group, selection, batch_size);
    let outcome = no_panic(|| -> Result<Vec<RecordBatch>> {
        let mut decoder = builder.build().map_err(decode_error)?;
        let mut out = Vec::new();
        loop {
            match decoder.try_decode().map_err(decode_error)? {
                DecodeResult::NeedsData(ranges) => {
                    let data = read_ranges(file, handle, &ranges)?;
                    decoder.push_ranges(ranges, data).map_err(decode_error)?;
                }
                DecodeResult::Data(batch) => out.push(batch),
                DecodeResult::Finished => return Ok(out),
            }
        }
    });
    outcome.map_err(|panic| decode_error(parquet::errors::ParquetError::General(panic)))?
}

/// Drop the row groups the filter's statistics rule out and find the
/// matching rows of the rest.
fn apply_filter(
    index: &DatasetIndex,
    filter: &Predicate,
    groups: Vec<GroupRef>,
    cancel: &CancelToken,
) -> Result<Vec<GroupRef>> {
    let filter_columns = filter.columns();
    let mut filter_roots = root_indices(index, &filter_columns)?;
    filter_roots.sort_unstable();
    let mut may: Vec<Vec<bool>> = Vec::with_capacity(index.files.len());
    for file in &index.files {
        may.push(filter.may_match(file)?);
    }
    let candidates: Vec<GroupRef> = groups
        .into_iter()
        .filter(|g| may[g.file].get(g.row_group).copied().unwrap_or(true))
        .collect();
    // Each pool thread keeps the files it opened for the groups it scans.
    let what = "opening the dataset";
    let results = cpu::map_init(
        &candidates,
        what,
        cancel,
        || vec![None; index.files.len()],
        |handles, group| matching_rows(index, filter, &filter_roots, group, handles),
    )
    .map_err(|e| match e {
        hf3fs_core::Error::Cancelled { .. } => Error::Interrupted(what),
        other => Error::io("<CPU pool>", None, other),
    })?;
    let mut kept = Vec::with_capacity(candidates.len());
    for (mut group, result) in candidates.into_iter().zip(results) {
        let file = index.files[group.file].display().to_string();
        group.matches = result.map_err(|panic| Error::Filter {
            column: filter_columns.join(", "),
            reason: format!("{panic} ({file}, row group {})", group.row_group),
        })??;
        kept.push(group);
    }
    Ok(kept)
}

/// The rows of `group` that match (None when all do).
fn matching_rows(
    index: &DatasetIndex,
    filter: &Predicate,
    roots: &[usize],
    group: &GroupRef,
    handles: &mut [Option<Arc<dyn RandomAccessFile>>],
) -> Result<Option<Arc<Vec<u32>>>> {
    let file = &index.files[group.file];
    let handle = match &handles[group.file] {
        Some(h) => h.clone(),
        None => {
            let h = file.open()?;
            handles[group.file] = Some(h.clone());
            h
        }
    };
    let mask = ProjectionMask::roots(
        file.metadata().file_metadata().schema_descr(),
        roots.iter().copied(),
    );
    let batches = decode_group_simple(
        file,
        &handle,
        mask,
        group.row_group,
        None,
        FILTER_BATCH_ROWS,
    )?;
    let mut matches = Vec::new();
    let mut row = 0u32;
    for batch in batches {
        let mask = filter.evaluate(&batch).map_err(|e| match e {
            Error::Filter { column, reason } => Error::Filter {
                column,
                reason: format!(
                    "{reason} ({}, row group {})",
                    file.display(),
                    group.row_group
                ),
            },
            other => other,
        })?;
        for i in 0..mask.len() {
            if mask.value(i) {
                matches.push(row + i as u32);
            }
        }
        row += batch.num_rows() as u32;
    }
    if matches.len() as u64 == group.total_rows {
        return Ok(None);
    }
    Ok(Some(Arc::new(matches)))
}
