//! The decode path for the columns training reads: primitive numbers and
//! lists of them (token ids, embeddings), straight into vectors sized from
//! the footer's counts; a validity bitmap is built only when a null is seen.
//! It replaces arrow-rs's generic array readers for these shapes, whose
//! per-batch level buffers, bitmaps and list machinery cost more than the
//! decompression itself.
//!
//! Its own page decoder ([`pages`]) reads PLAIN and dictionary pages: level
//! runs into list offsets, dictionary indices gathered as they are unpacked.
//! Pages it does not read (DELTA, BYTE_STREAM_SPLIT, a row continued across
//! pages) go to the `parquet` crate's column reader
//! (`ColumnReaderImpl::read_records`) with a level-to-offset pass
//! ([`levels`]); both fill the same [`chunk::ChunkBuilder`].
//!
//! Which columns qualify is decided once per file from its schema
//! ([`FastColumns::of`]); a column that fails here for any reason (a page
//! this path does not read, a fixed-size list whose rows differ in length,
//! corrupt data) is decoded by arrow-rs instead, so both paths always give
//! the same Arrow arrays and arrow-rs reports any real error.

mod align;
mod chunk;
mod codec;
mod hybrid;
mod levels;
mod pages;
mod thrift;

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::types::ArrowPrimitiveType;
use arrow_array::ArrayRef;
use arrow_buffer::ArrowNativeType;
use arrow_schema::{DataType, FieldRef};
use bytes::Bytes;
use parquet::arrow::arrow_reader::RowSelection;
use parquet::basic::{LogicalType, Repetition, Type as PhysicalType};
use parquet::column::reader::ColumnReaderImpl;
use parquet::data_type::DataType as ParquetType;
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::schema::types::{SchemaDescriptor, Type as SchemaType};

pub(crate) use align::align;
use chunk::ChunkBuilder;
use pages::PageDecoder;

/// Which decoder read a column of a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoder {
    /// This module's page decoder ([`pages`]).
    Pages,
    /// The `parquet` crate's column reader, for pages the page decoder
    /// does not read.
    ColumnReader,
}

/// `HF3FS_PAGE_DECODER=0` sends every fast-path column through the
/// `parquet` crate's column reader instead of the page decoder (to measure
/// one against the other, or to step around a fault in it).
fn page_decoder_from_env() -> bool {
    crate::scan::switch_from_env("HF3FS_PAGE_DECODER")
}

/// How a qualifying column is laid out in Arrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Primitive,
    List,
    LargeList,
    FixedSizeList(i32),
}

/// The definition levels that mark a list column's states (see
/// [`levels::list_layout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListLevels {
    /// A level below this is a null list (0 when the list is required).
    pub list_defined: i16,
    /// A level at or above this is an element (below: an empty list).
    pub element: i16,
    /// The leaf's maximum: an element below it is null.
    pub max: i16,
}

/// One root column this path decodes.
#[derive(Debug, Clone)]
pub(crate) struct FastColumn {
    /// Its leaf column (the only one under its root).
    leaf: usize,
    /// The Arrow field arrow-rs would produce.
    field: FieldRef,
    /// The Arrow type of the numbers.
    value_type: DataType,
    shape: Shape,
    levels: ListLevels,
}

/// For each projected root of a file, in ascending root order, how the fast
/// path decodes it (None: arrow-rs does).
#[derive(Debug, Clone, Default)]
pub(crate) struct FastColumns {
    pub columns: Vec<Option<FastColumn>>,
    /// Set for a column once the fast path failed on one of its pieces:
    /// arrow-rs decodes the rest, rather than every piece being decoded twice.
    declined: Arc<[AtomicBool]>,
}

impl FastColumns {
    /// Decide, from the file's Parquet and Arrow schemas, which of `roots`
    /// (ascending) the fast path decodes.
    pub fn of(
        schema: &SchemaDescriptor,
        arrow: &arrow_schema::Schema,
        roots: &[usize],
    ) -> FastColumns {
        // Each root's leaves, in one pass over the leaves.
        let mut leaves: Vec<Vec<usize>> = vec![Vec::new(); schema.root_schema().get_fields().len()];
        for leaf in 0..schema.num_columns() {
            if let Some(of_root) = leaves.get_mut(schema.get_column_root_idx(leaf)) {
                of_root.push(leaf);
            }
        }
        FastColumns {
            columns: roots
                .iter()
                .map(|&root| qualify(schema, arrow, root, leaves.get(root)?))
                .collect(),
            declined: roots.iter().map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// No column decoded here.
    pub fn none(roots: usize) -> FastColumns {
        FastColumns {
            columns: vec![None; roots],
            declined: (0..roots).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Column `i`, unless the fast path does not (or no longer) decode it.
    pub fn column(&self, i: usize) -> Option<&FastColumn> {
        let declined = self.declined.get(i)?.load(Ordering::Relaxed);
        self.columns.get(i)?.as_ref().filter(|_| !declined)
    }

    /// Leave column `i` to arrow-rs from now on.
    pub fn decline(&self, i: usize) {
        if let Some(flag) = self.declined.get(i) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Whether any column is decoded here.
    pub fn any(&self) -> bool {
        self.columns.iter().any(Option::is_some)
    }
}

/// The Arrow type a primitive leaf becomes, when its bits are the values'
/// (no conversion arrow-rs would do differently).
fn value_type(leaf: &SchemaType, arrow: &DataType) -> Option<DataType> {
    // `get_physical_type` panics on a group.
    if !leaf.is_primitive() {
        return None;
    }
    let physical = leaf.get_physical_type();
    let logical = leaf.get_basic_info().logical_type_ref().cloned();
    let int = |bits: u8, signed: bool| match &logical {
        None => signed,
        Some(LogicalType::Integer(int)) => int.bit_width as u8 == bits && int.is_signed == signed,
        _ => false,
    };
    let ok = match (physical, arrow) {
        (PhysicalType::INT32, DataType::Int32) => int(32, true),
        (PhysicalType::INT32, DataType::UInt32) => int(32, false),
        (PhysicalType::INT64, DataType::Int64) => int(64, true),
        (PhysicalType::INT64, DataType::UInt64) => int(64, false),
        (PhysicalType::FLOAT, DataType::Float32) | (PhysicalType::DOUBLE, DataType::Float64) => {
            logical.is_none()
        }
        _ => false,
    };
    ok.then(|| arrow.clone())
}

fn repetition(t: &SchemaType) -> Option<Repetition> {
    let info = t.get_basic_info();
    info.has_repetition().then(|| info.repetition())
}

fn qualify(
    schema: &SchemaDescriptor,
    arrow: &arrow_schema::Schema,
    root: usize,
    leaves: &[usize],
) -> Option<FastColumn> {
    let field = arrow.fields().get(root)?.clone();
    let node = schema.root_schema().get_fields().get(root)?;
    let [leaf] = leaves[..] else { return None };
    let descr = schema.column(leaf);
    let (shape, item) = match field.data_type() {
        DataType::List(item) => (Shape::List, item),
        DataType::LargeList(item) => (Shape::LargeList, item),
        DataType::FixedSizeList(item, n) if *n > 0 => (Shape::FixedSizeList(*n), item),
        other => {
            // A primitive at the root: required or optional, not repeated.
            let value_type = value_type(node, other)?;
            let max = match repetition(node)? {
                Repetition::REQUIRED => 0,
                Repetition::OPTIONAL => 1,
                Repetition::REPEATED => return None,
            };
            if !node.is_primitive() || descr.max_def_level() != max || descr.max_rep_level() != 0 {
                return None;
            }
            return Some(FastColumn {
                leaf,
                field,
                value_type,
                shape: Shape::Primitive,
                levels: ListLevels {
                    list_defined: 0,
                    element: 0,
                    max,
                },
            });
        }
    };
    // A list: `root (LIST) { repeated group { element } }`, or the two-level
    // `root { repeated element }`.
    if !node.is_group() || node.get_fields().len() != 1 {
        return None;
    }
    let list_defined = match repetition(node)? {
        Repetition::REQUIRED => 0,
        Repetition::OPTIONAL => 1,
        Repetition::REPEATED => return None,
    };
    let repeated = &node.get_fields()[0];
    if repetition(repeated)? != Repetition::REPEATED {
        return None;
    }
    let element = list_defined + 1;
    let leaf_node = if repeated.is_primitive() {
        repeated.as_ref()
    } else {
        match repeated.get_fields() {
            [only] if only.is_primitive() => only.as_ref(),
            _ => return None,
        }
    };
    let max = if std::ptr::eq(leaf_node, repeated.as_ref()) {
        element
    } else {
        match repetition(leaf_node)? {
            Repetition::REQUIRED => element,
            Repetition::OPTIONAL => element + 1,
            Repetition::REPEATED => return None,
        }
    };
    if descr.max_def_level() != max || descr.max_rep_level() != 1 {
        return None;
    }
    let value_type = value_type(leaf_node, item.data_type())?;
    Some(FastColumn {
        leaf,
        field,
        value_type,
        shape,
        levels: ListLevels {
            list_defined,
            element,
            max,
        },
    })
}

/// The byte ranges of a file that were read, as a `ChunkReader` for the
/// page reader: every page it asks for must lie inside one of them.
pub(crate) struct FetchedRanges {
    ranges: Vec<(Range<u64>, Bytes)>,
    file_len: u64,
}

impl FetchedRanges {
    pub fn new(mut ranges: Vec<(Range<u64>, Bytes)>, file_len: u64) -> FetchedRanges {
        ranges.sort_by_key(|(r, _)| r.start);
        FetchedRanges { ranges, file_len }
    }

    /// The bytes read from `start` to the end of the range holding it.
    fn tail(&self, start: u64) -> ParquetResult<Bytes> {
        let (range, data) = self.find(start, 0)?;
        Ok(data.slice((start - range.start) as usize..))
    }

    fn find(&self, start: u64, len: u64) -> ParquetResult<(&Range<u64>, &Bytes)> {
        let at = self.ranges.partition_point(|(r, _)| r.start <= start);
        at.checked_sub(1)
            .map(|i| &self.ranges[i])
            .filter(|(r, _)| start + len <= r.end)
            .map(|(r, b)| (r, b))
            .ok_or_else(|| {
                ParquetError::General(format!("bytes {start}..{} were not read", start + len))
            })
    }
}

/// An error for data this path cannot decode because it is corrupt.
fn corrupt(what: impl std::fmt::Display) -> ParquetError {
    ParquetError::General(format!("corrupt page data: {what}"))
}

/// An error for data that may be fine but that the page decoder does not
/// read: the `parquet` crate's column reader decodes the chunk instead.
fn unsupported(what: impl std::fmt::Display) -> ParquetError {
    ParquetError::NYI(format!("the page decoder does not read {what}"))
}

impl Length for FetchedRanges {
    fn len(&self) -> u64 {
        self.file_len
    }
}

impl ChunkReader for FetchedRanges {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> ParquetResult<Self::T> {
        use bytes::Buf;
        let (range, data) = self.find(start, 0)?;
        Ok(data.slice((start - range.start) as usize..).reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        let (range, data) = self.find(start, length as u64)?;
        let at = (start - range.start) as usize;
        Ok(data.slice(at..at + length))
    }
}

/// Where a piece's rows are in its row group.
pub(crate) struct PieceRows<'a> {
    pub metadata: &'a ParquetMetaData,
    pub row_group: usize,
    /// The rows to read (None: all).
    pub selection: Option<&'a RowSelection>,
    /// Rows the selection yields.
    pub rows: usize,
}

/// Levels decoded at once: the level buffers are reused for every run of
/// rows, so they stay in cache (32 Ki levels are 64 KiB each).
const LEVELS_PER_READ: usize = 32 << 10;

/// Decode one column of a piece, in arrays of `chunk_rows` rows (the last
/// one shorter): a batch's worth of memory each, which the allocator
/// reuses batch after batch. `Err` means this path did not decode it (the
/// caller hands the column to arrow-rs).
pub(crate) fn decode_column(
    column: &FastColumn,
    piece: &PieceRows<'_>,
    data: &Arc<FetchedRanges>,
    chunk_rows: usize,
) -> ParquetResult<(Vec<ArrayRef>, Decoder)> {
    use arrow_array::types as arrow;
    use parquet::data_type as pq;
    let physical = piece
        .metadata
        .row_group(piece.row_group)
        .column(column.leaf)
        .column_type();
    let chunk_rows = chunk_rows.max(1);
    match (physical, &column.value_type) {
        (PhysicalType::INT32, DataType::Int32) => {
            decode_as::<pq::Int32Type, arrow::Int32Type>(column, piece, data, chunk_rows)
        }
        (PhysicalType::INT32, DataType::UInt32) => {
            decode_as::<pq::Int32Type, arrow::UInt32Type>(column, piece, data, chunk_rows)
        }
        (PhysicalType::INT64, DataType::Int64) => {
            decode_as::<pq::Int64Type, arrow::Int64Type>(column, piece, data, chunk_rows)
        }
        (PhysicalType::INT64, DataType::UInt64) => {
            decode_as::<pq::Int64Type, arrow::UInt64Type>(column, piece, data, chunk_rows)
        }
        (PhysicalType::FLOAT, DataType::Float32) => {
            decode_as::<pq::FloatType, arrow::Float32Type>(column, piece, data, chunk_rows)
        }
        (PhysicalType::DOUBLE, DataType::Float64) => {
            decode_as::<pq::DoubleType, arrow::Float64Type>(column, piece, data, chunk_rows)
        }
        (physical, arrow) => Err(ParquetError::General(format!(
            "the fast path does not read {physical} as {arrow}"
        ))),
    }
}

/// Decode with Parquet type `P` into Arrow type `A` of the same width (the
/// values' bits are kept).
fn decode_as<'c, P, A>(
    column: &'c FastColumn,
    piece: &PieceRows<'_>,
    data: &Arc<FetchedRanges>,
    chunk_rows: usize,
) -> ParquetResult<(Vec<ArrayRef>, Decoder)>
where
    P: ParquetType,
    P::T: ArrowNativeType,
    A: ArrowPrimitiveType,
{
    if std::mem::size_of::<P::T>() != std::mem::size_of::<A::Native>() {
        return Err(ParquetError::General("value widths differ".into()));
    }
    let rg = piece.metadata.row_group(piece.row_group);
    let chunk = rg.column(column.leaf);
    let total_rows = rg.num_rows().max(0) as usize;
    // Levels a row has on average, from the footer's counts: the vectors
    // are sized once from it.
    let levels_per_row = (chunk.num_values().max(0) as f64 / total_rows.max(1) as f64).max(1.0);
    let values_per_chunk =
        (levels_per_row * chunk_rows.min(piece.rows) as f64 * 1.02) as usize + 16;
    let new_chunk = || ChunkBuilder::<P::T>::new(column, values_per_chunk);
    if page_decoder_from_env() {
        let mut pages = PageDecoder::<P::T>::new(chunk)?;
        match pages.decode(column, piece, data, chunk_rows, &new_chunk, &|c| {
            c.finish::<A>()
        }) {
            Ok(arrays) => return Ok((arrays, Decoder::Pages)),
            // Data the page decoder does not read goes to the column reader.
            Err(ParquetError::NYI(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let locations = piece
        .metadata
        .offset_index()
        .and_then(|index| index.get(piece.row_group))
        .and_then(|columns| columns.get(column.leaf))
        .map(|o| o.page_locations().clone());
    let pages = SerializedPageReader::new(data.clone(), chunk, total_rows, locations)?;
    let mut reader = ColumnReaderImpl::<P>::new(chunk.column_descr_ptr(), Box::new(pages));
    let rows_per_read = ((LEVELS_PER_READ as f64 / levels_per_row) as usize).clamp(1, chunk_rows);
    let mut levels = Levels::new(column, rows_per_read, levels_per_row);
    let mut out = Vec::with_capacity(piece.rows.div_ceil(chunk_rows));
    let mut current = new_chunk();
    let mut read_rows = |reader: &mut ColumnReaderImpl<P>,
                         mut n: usize,
                         current: &mut ChunkBuilder<'c, P::T>,
                         out: &mut Vec<ArrayRef>|
     -> ParquetResult<()> {
        while n > 0 {
            let k = n.min(rows_per_read).min(chunk_rows - current.rows);
            levels.read(reader, k, current)?;
            n -= k;
            if current.rows == chunk_rows {
                let full = std::mem::replace(current, new_chunk());
                out.push(full.finish::<A>()?);
            }
        }
        Ok(())
    };
    match piece.selection {
        None => read_rows(&mut reader, piece.rows, &mut current, &mut out)?,
        Some(selection) => {
            let mut left = piece.rows;
            for selector in selection.iter() {
                if left == 0 {
                    break;
                }
                if selector.skip {
                    if reader.skip_records(selector.row_count)? != selector.row_count {
                        return Err(ParquetError::General("the chunk ended early".into()));
                    }
                } else {
                    let n = selector.row_count.min(left);
                    read_rows(&mut reader, n, &mut current, &mut out)?;
                    left -= n;
                }
            }
            if left != 0 {
                return Err(ParquetError::General(format!(
                    "the selection has {} rows, not {}",
                    piece.rows - left,
                    piece.rows
                )));
            }
        }
    }
    if current.rows > 0 {
        out.push(current.finish::<A>()?);
    }
    Ok((out, Decoder::ColumnReader))
}

/// The level buffers of one column, reused for every read.
struct Levels {
    def: Option<Vec<i16>>,
    rep: Option<Vec<i16>>,
}

impl Levels {
    fn new(column: &FastColumn, rows_per_read: usize, levels_per_row: f64) -> Levels {
        let capacity = (rows_per_read as f64 * levels_per_row) as usize + 16;
        Levels {
            def: (column.levels.max > 0).then(|| Vec::with_capacity(capacity)),
            rep: (column.shape != Shape::Primitive).then(|| Vec::with_capacity(capacity)),
        }
    }

    /// Read `n` rows into `chunk`.
    fn read<P: ParquetType>(
        &mut self,
        reader: &mut ColumnReaderImpl<P>,
        n: usize,
        chunk: &mut ChunkBuilder<P::T>,
    ) -> ParquetResult<()>
    where
        P::T: ArrowNativeType,
    {
        if let Some(def) = &mut self.def {
            def.clear();
        }
        if let Some(rep) = &mut self.rep {
            rep.clear();
        }
        let start = chunk.values.len();
        let (got, _, _) =
            reader.read_records(n, self.def.as_mut(), self.rep.as_mut(), &mut chunk.values)?;
        if got != n {
            return Err(ParquetError::General(format!(
                "{got} rows where the metadata promises {n}"
            )));
        }
        chunk.append(
            start,
            self.def.as_deref().unwrap_or_default(),
            self.rep.as_deref().unwrap_or_default(),
            n,
        )
    }
}

#[cfg(test)]
mod tests;
