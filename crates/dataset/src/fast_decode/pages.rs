//! A column chunk's pages, read and decoded here: page headers parsed
//! ([`super::thrift`]), pages decompressed into one reused buffer through
//! the codec crates, levels decoded as runs ([`super::hybrid`]) into list
//! offsets, and values written once into the output vectors (PLAIN as one
//! copy, dictionary indices gathered as they are unpacked).
//!
//! What this does not read (DELTA and BYTE_STREAM_SPLIT values, the old
//! BIT_PACKED levels, a row that continues across pages) is reported as
//! [`unsupported`]: the caller then decodes the chunk with the `parquet`
//! crate's column reader, so every chunk is still read. Corrupt input is an
//! error, never a panic or a read outside the page.

use std::mem::{size_of, MaybeUninit};

use arrow_buffer::ArrowNativeType;
use bytes::Bytes;
use parquet::errors::Result;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::page_index::offset_index::PageLocation;
use parquet::file::reader::ChunkReader;

use super::chunk::ChunkBuilder;
use super::codec::Codec;
use super::hybrid::{Hybrid, Run};
use super::thrift::{read_page_header, PageHeader, PageKind};
use super::{corrupt, unsupported, FastColumn, FetchedRanges, PieceRows, Shape};

/// `parquet.thrift`'s encodings this decoder reads.
mod encoding {
    pub const PLAIN: i32 = 0;
    pub const PLAIN_DICTIONARY: i32 = 2;
    pub const RLE: i32 = 3;
    pub const RLE_DICTIONARY: i32 = 8;
}

/// Bits a level of `max` takes.
fn level_width(max: i16) -> u8 {
    (16 - (max as u16).leading_zeros()) as u8
}

/// The reusable state of one column's decode: the codec and the buffer
/// pages are decompressed into, the dictionary and the level buffers.
pub(crate) struct PageDecoder<T> {
    pages: Decompressor,
    dict: Vec<T>,
    levels: LevelBuffers,
    /// Values of skipped rows, decoded and dropped.
    skipped: Vec<T>,
}

struct Decompressor {
    codec: Codec,
    /// The decompressed page (its capacity kept from page to page).
    scratch: Vec<u8>,
}

/// A data page's three parts, decompressed.
struct DataPage<'b> {
    rep: &'b [u8],
    def: &'b [u8],
    values: &'b [u8],
}

#[derive(Default)]
struct LevelBuffers {
    /// The level at which each row of the current page starts.
    row_starts: Vec<u32>,
    /// The current page's levels, when some are below the maximum.
    def: Vec<i16>,
    rep: Vec<i16>,
}

/// The rows of the piece to read, as runs of (skip, count).
struct Selection {
    runs: Vec<(bool, usize)>,
    at: usize,
    /// Rows still to take in all.
    take_left: usize,
}

impl Selection {
    fn of(piece: &PieceRows<'_>) -> Selection {
        let runs = match piece.selection {
            None => vec![(false, piece.rows)],
            Some(s) => s.iter().map(|r| (r.skip, r.row_count)).collect(),
        };
        Selection {
            runs,
            at: 0,
            take_left: piece.rows,
        }
    }

    /// The current run, with a positive count (None when done).
    fn current(&mut self) -> Option<(bool, usize)> {
        while let Some(&(skip, n)) = self.runs.get(self.at) {
            if self.take_left == 0 {
                return None;
            }
            if n > 0 {
                return Some((skip, if skip { n } else { n.min(self.take_left) }));
            }
            self.at += 1;
        }
        None
    }

    fn advance(&mut self, n: usize) {
        if let Some((skip, count)) = self.runs.get_mut(self.at) {
            *count -= n;
            if !*skip {
                self.take_left -= n;
            }
        }
    }
}

/// One data page's levels.
struct PageLevels {
    /// Levels (values and nulls) in the page.
    levels: usize,
    rows: usize,
    /// Whether every level is at the maximum (no null, no empty list): then
    /// each level is one value and only the row starts are needed.
    dense: bool,
}

impl<T: ArrowNativeType> PageDecoder<T> {
    pub fn new(chunk: &ColumnChunkMetaData) -> Result<PageDecoder<T>> {
        Ok(PageDecoder {
            pages: Decompressor {
                codec: Codec::new(chunk.compression())?,
                scratch: Vec::new(),
            },
            dict: Vec::new(),
            levels: LevelBuffers::default(),
            skipped: Vec::new(),
        })
    }

    /// Decode `column` of `piece` into arrays of `chunk_rows` rows, each
    /// begun by `new_chunk` and ended by `finish`.
    pub fn decode<'c>(
        &mut self,
        column: &'c FastColumn,
        piece: &PieceRows<'_>,
        data: &FetchedRanges,
        chunk_rows: usize,
        new_chunk: &dyn Fn() -> ChunkBuilder<'c, T>,
        finish: &dyn Fn(ChunkBuilder<'c, T>) -> Result<arrow_array::ArrayRef>,
    ) -> Result<Vec<arrow_array::ArrayRef>> {
        let rg = piece.metadata.row_group(piece.row_group);
        let chunk = rg.column(column.leaf);
        let total_rows = usize::try_from(rg.num_rows()).unwrap_or(0);
        let locations = piece
            .metadata
            .offset_index()
            .and_then(|index| index.get(piece.row_group))
            .and_then(|columns| columns.get(column.leaf))
            .map(|o| o.page_locations().as_slice());
        let max = column.levels.max;
        let is_list = column.shape != Shape::Primitive;
        let mut selection = Selection::of(piece);
        let mut out = Vec::with_capacity(piece.rows.div_ceil(chunk_rows));
        let mut current = new_chunk();
        let mut page_rows_seen = 0usize;
        let mut levels_seen = 0u64;
        let mut walk = PageWalk::new(chunk, data, locations, total_rows);
        while selection.current().is_some() {
            let Some((header, body)) = walk.next(&mut selection, &mut page_rows_seen)? else {
                break;
            };
            match header.kind {
                Some(PageKind::Dictionary) => {
                    self.read_dictionary(&header, &body)?;
                    continue;
                }
                Some(PageKind::Data) | Some(PageKind::DataV2) => {}
                // Index pages and kinds added later carry no rows.
                _ => continue,
            }
            // A level count beyond the chunk's is corrupt (and would size
            // the level buffers from a bad header).
            levels_seen = levels_seen.saturating_add(header.num_values.max(0) as u64);
            if levels_seen > chunk.num_values().max(0) as u64 {
                return Err(corrupt(format!(
                    "the pages hold more levels than the column chunk's {}",
                    chunk.num_values()
                )));
            }
            let page = self.pages.open(column, &header, &body)?;
            let levels = self.levels.read(column, &header, &page)?;
            let mut values = Values::open(header.encoding, page.values)?;
            let dict = &self.dict[..];
            let buffers = &self.levels;
            page_rows_seen += levels.rows;
            let mut row = 0;
            while row < levels.rows {
                let Some((skip, want)) = selection.current() else {
                    break;
                };
                let room = if skip {
                    usize::MAX
                } else {
                    chunk_rows - current.rows
                };
                let k = want.min(levels.rows - row).min(room);
                let (l0, l1) = if is_list {
                    let l0 = buffers.row_starts[row] as usize;
                    let l1 = buffers
                        .row_starts
                        .get(row + k)
                        .map_or(levels.levels, |&s| s as usize);
                    (l0, l1)
                } else {
                    (row, row + k)
                };
                let valid = |l0: usize, l1: usize| {
                    if levels.dense {
                        l1 - l0
                    } else {
                        buffers.def[l0..l1].iter().filter(|&&d| d >= max).count()
                    }
                };
                if skip {
                    self.skipped.clear();
                    values.read(dict, valid(l0, l1), &mut self.skipped)?;
                } else {
                    let start = current.values.len();
                    values.read(dict, valid(l0, l1), &mut current.values)?;
                    if levels.dense {
                        let starts = if is_list {
                            &buffers.row_starts[row..row + k]
                        } else {
                            &[][..]
                        };
                        current.append_dense(start, starts, l0, k);
                    } else {
                        let rep = if is_list {
                            &buffers.rep[l0..l1]
                        } else {
                            &[][..]
                        };
                        current.append(start, &buffers.def[l0..l1], rep, k)?;
                    }
                    if current.rows == chunk_rows {
                        out.push(finish(std::mem::replace(&mut current, new_chunk()))?);
                    }
                }
                selection.advance(k);
                row += k;
            }
        }
        if selection.take_left != 0 {
            return Err(corrupt(format!(
                "the pages hold {} of the {} rows to read",
                piece.rows - selection.take_left,
                piece.rows
            )));
        }
        if current.rows > 0 {
            out.push(finish(current)?);
        }
        Ok(out)
    }

    fn read_dictionary(&mut self, header: &PageHeader, body: &[u8]) -> Result<()> {
        if !matches!(
            header.encoding,
            encoding::PLAIN | encoding::PLAIN_DICTIONARY
        ) {
            return Err(unsupported(format!(
                "a dictionary page in encoding {}",
                header.encoding
            )));
        }
        let n = usize::try_from(header.num_values)
            .map_err(|_| corrupt("a dictionary page with a negative size"))?;
        let size = usize::try_from(header.uncompressed_size)
            .map_err(|_| corrupt("a page with a negative size"))?;
        let bytes = self.pages.decompress(body, size)?;
        self.dict.clear();
        Values::Plain { bytes }.read(&[], n, &mut self.dict)
    }
}

impl Decompressor {
    /// Decompress `body` (a whole page, or a v2 page's values) into the
    /// scratch buffer, or borrow it when the chunk is not compressed.
    fn decompress<'b>(&'b mut self, body: &'b [u8], size: usize) -> Result<&'b [u8]> {
        if self.codec.is_none() {
            return Ok(body);
        }
        self.codec.decompress(body, size, &mut self.scratch)?;
        Ok(&self.scratch)
    }

    /// Check a data page's header, decompress it and split it into its
    /// repetition levels, definition levels and values.
    fn open<'b>(
        &'b mut self,
        column: &FastColumn,
        header: &PageHeader,
        body: &'b [u8],
    ) -> Result<DataPage<'b>> {
        let size = usize::try_from(header.uncompressed_size)
            .map_err(|_| corrupt("a page with a negative size"))?;
        if header.num_values < 0 {
            return Err(corrupt("a page with a negative count"));
        }
        let has_rep = column.shape != Shape::Primitive;
        let has_def = column.levels.max > 0;
        if header.kind == Some(PageKind::Data) {
            if (has_rep && header.rep_encoding != encoding::RLE)
                || (has_def && header.def_encoding != encoding::RLE)
            {
                return Err(unsupported("levels in the BIT_PACKED encoding"));
            }
            // v1: each level stream is prefixed with its length, all of it
            // inside the compressed data.
            let mut page = self.decompress(body, size)?;
            let mut take = |present: bool| -> Result<&'b [u8]> {
                if !present {
                    return Ok(&[]);
                }
                let prefix = page
                    .get(..4)
                    .ok_or_else(|| corrupt("a page's levels run past it"))?;
                let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
                let levels = page
                    .get(4..4 + len as usize)
                    .ok_or_else(|| corrupt("a page's levels run past it"))?;
                page = &page[4 + len as usize..];
                Ok(levels)
            };
            let rep = take(has_rep)?;
            let def = take(has_def)?;
            Ok(DataPage {
                rep,
                def,
                values: page,
            })
        } else {
            // v2: the levels are never compressed, and come first.
            let rep_len = usize::try_from(header.rep_levels_len)
                .map_err(|_| corrupt("negative level lengths"))?;
            let def_len = usize::try_from(header.def_levels_len)
                .map_err(|_| corrupt("negative level lengths"))?;
            let levels_len = rep_len + def_len;
            if levels_len > body.len() || levels_len > size {
                return Err(corrupt("a page's levels are longer than the page"));
            }
            let (rep, rest) = body.split_at(rep_len);
            let (def, values) = rest.split_at(def_len);
            let values = if header.values_compressed {
                self.decompress(values, size - levels_len)?
            } else {
                values
            };
            Ok(DataPage { rep, def, values })
        }
    }
}

impl LevelBuffers {
    /// Decode a page's levels: its row starts, and the levels themselves
    /// when some are below the maximum.
    fn read(
        &mut self,
        column: &FastColumn,
        header: &PageHeader,
        page: &DataPage<'_>,
    ) -> Result<PageLevels> {
        let n = header.num_values as usize;
        let is_list = column.shape != Shape::Primitive;
        let max = column.levels.max;
        let rows = if is_list {
            row_starts(page.rep, n, &mut self.row_starts)?;
            if self.row_starts.first() != Some(&0) && n > 0 {
                // A row continued from the previous page.
                return Err(unsupported("a row that continues across pages"));
            }
            self.row_starts.len()
        } else {
            n
        };
        if header.kind == Some(PageKind::DataV2)
            && header.num_rows >= 0
            && header.num_rows as usize != rows
        {
            return Err(corrupt(format!(
                "a page of {rows} rows whose header says {}",
                header.num_rows
            )));
        }
        let dense = max == 0 || all_at(page.def, level_width(max), max, n)?;
        if !dense {
            levels_into(page.def, level_width(max), n, &mut self.def)?;
            if self.def.iter().any(|&d| d > max) {
                return Err(corrupt("a definition level above the column's maximum"));
            }
            if is_list {
                levels_into(page.rep, 1, n, &mut self.rep)?;
            }
        }
        Ok(PageLevels {
            levels: n,
            rows,
            dense,
        })
    }
}

/// The level where each row starts (a repetition level of 0), from the
/// page's `n` repetition levels (bit width 1), run by run.
fn row_starts(bytes: &[u8], n: usize, out: &mut Vec<u32>) -> Result<()> {
    out.clear();
    let mut levels = Hybrid::new(bytes, 1)?;
    let mut at = 0usize;
    while at < n {
        at += match levels.next_run(n - at)? {
            None => return Err(corrupt("a page's repetition levels end early")),
            Some(Run::Rle { value: 0, len }) => {
                out.extend(at as u32..(at + len) as u32);
                len
            }
            Some(Run::Rle { len, .. }) => len,
            Some(Run::Packed { bytes, len }) => {
                // One byte is 8 levels: each 0 bit starts a row.
                for (i, &b) in bytes.iter().take(len / 8).enumerate() {
                    let mut zeros = u32::from(!b);
                    while zeros != 0 {
                        out.push((at + 8 * i) as u32 + zeros.trailing_zeros());
                        zeros &= zeros - 1;
                    }
                }
                len
            }
        };
    }
    Ok(())
}

/// Whether the `n` levels of `bytes` are all `max`: RLE runs of it only.
fn all_at(bytes: &[u8], width: u8, max: i16, n: usize) -> Result<bool> {
    let mut levels = Hybrid::new(bytes, width)?;
    let mut at = 0;
    while at < n {
        match levels.next_run(n - at)? {
            None => return Err(corrupt("a page's definition levels end early")),
            Some(Run::Rle { value, len }) if value == max as u32 => at += len,
            Some(_) => return Ok(false),
        }
    }
    Ok(true)
}

/// Decode `n` levels of `bytes` into `out`.
fn levels_into(bytes: &[u8], width: u8, n: usize, out: &mut Vec<i16>) -> Result<()> {
    out.clear();
    out.reserve(n);
    let mut levels = Hybrid::new(bytes, width)?;
    let mut unpacked = Vec::new();
    while out.len() < n {
        match levels.next_run(n - out.len())? {
            None => return Err(corrupt("a page's levels end early")),
            Some(Run::Rle { value, len }) => out.resize(out.len() + len, value as i16),
            Some(Run::Packed { bytes, len }) => {
                unpacked.resize(len, 0u32);
                levels.unpack_run(bytes, &mut unpacked);
                out.extend(unpacked.iter().map(|&v| v as i16));
            }
        }
    }
    Ok(())
}

/// A data page's values.
enum Values<'p> {
    Plain { bytes: &'p [u8] },
    Dict { indices: Option<Hybrid<'p>> },
}

impl<'p> Values<'p> {
    fn open(encoding: i32, bytes: &'p [u8]) -> Result<Values<'p>> {
        match encoding {
            encoding::PLAIN => Ok(Values::Plain { bytes }),
            encoding::PLAIN_DICTIONARY | encoding::RLE_DICTIONARY => {
                // A page of nulls only may hold no bit width at all.
                let indices = match bytes.split_first() {
                    None => None,
                    // Without a dictionary page, any index read is outside
                    // the (empty) dictionary: an error only if one is read.
                    Some((&width, rest)) => Some(Hybrid::new(rest, width)?),
                };
                Ok(Values::Dict { indices })
            }
            other => Err(unsupported(format!("values in encoding {other}"))),
        }
    }

    /// Append the next `n` values to `out`.
    fn read<T: ArrowNativeType>(&mut self, dict: &[T], n: usize, out: &mut Vec<T>) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        match self {
            Values::Plain { bytes } => {
                let len = n
                    .checked_mul(size_of::<T>())
                    .filter(|&len| len <= bytes.len())
                    .ok_or_else(|| corrupt("values run past the end of their page"))?;
                copy_plain(&bytes[..len], n, out);
                *bytes = &bytes[len..];
                Ok(())
            }
            Values::Dict { indices: None } => Err(corrupt("values run past the end of their page")),
            Values::Dict {
                indices: Some(indices),
            } => indices.gather(dict, n, out),
        }
    }
}

/// Append the `n` little-endian values of `bytes` (exactly `n` values'
/// bytes) to `out`: one copy, into memory never zeroed first.
fn copy_plain<T: ArrowNativeType>(bytes: &[u8], n: usize, out: &mut Vec<T>) {
    #[cfg(not(target_endian = "little"))]
    compile_error!("PLAIN values are copied as they are: little-endian targets only");
    debug_assert_eq!(bytes.len(), n * size_of::<T>());
    out.reserve(n);
    let spare: &mut [MaybeUninit<T>] = &mut out.spare_capacity_mut()[..n];
    // SAFETY: `spare` has room for `n` values, `bytes.len()` is exactly
    // their size (checked by the caller), the regions cannot overlap (one is
    // the vector's unused capacity) and every bit pattern is a valid value
    // of an Arrow native type (integers and floats).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), spare.as_mut_ptr().cast::<u8>(), bytes.len());
        out.set_len(out.len() + n);
    }
}

/// The pages of a column chunk, in order: walked header by header over the
/// whole chunk, or, with an offset index, by its page locations, so that
/// pages a row selection skips entirely are never touched (they may not
/// have been read).
struct PageWalk<'a> {
    data: &'a FetchedRanges,
    /// Where the chunk starts (its dictionary page, if it has one) and its length.
    chunk_range: (u64, u64),
    locations: Option<&'a [PageLocation]>,
    total_rows: usize,
    /// Sequential walk: the next page's offset in the file.
    next_offset: u64,
    /// Located walk: the next location.
    next_location: usize,
    dictionary_done: bool,
}

impl<'a> PageWalk<'a> {
    fn new(
        chunk: &ColumnChunkMetaData,
        data: &'a FetchedRanges,
        locations: Option<&'a [PageLocation]>,
        total_rows: usize,
    ) -> PageWalk<'a> {
        let chunk_range = chunk.byte_range();
        PageWalk {
            data,
            chunk_range,
            locations: locations.filter(|l| !l.is_empty()),
            total_rows,
            next_offset: chunk_range.0,
            next_location: 0,
            dictionary_done: false,
        }
    }

    /// Header, body and length (header included) of the page at `offset`,
    /// which lies in the `len` bytes from there. The header is parsed from
    /// whatever was read from `offset` on; the body may lie in another
    /// fetched range.
    fn page_at(&self, offset: u64, len: u64) -> Result<(PageHeader, Bytes, usize)> {
        let tail = self.data.tail(offset)?;
        let limit = usize::try_from(len).unwrap_or(usize::MAX).min(tail.len());
        let (header, header_len) = read_page_header(&tail[..limit])?;
        let body_len = usize::try_from(header.compressed_size)
            .map_err(|_| corrupt("a page with a negative size"))?;
        let end = header_len
            .checked_add(body_len)
            .filter(|&end| end as u64 <= len)
            .ok_or_else(|| corrupt("a page runs past its column chunk"))?;
        let body = if end <= tail.len() {
            tail.slice(header_len..end)
        } else {
            self.data.get_bytes(offset + header_len as u64, body_len)?
        };
        Ok((header, body, end))
    }

    /// The next page to decode; pages whose rows the selection skips whole
    /// are passed over (their rows counted into the selection and `seen`).
    fn next(
        &mut self,
        selection: &mut Selection,
        seen: &mut usize,
    ) -> Result<Option<(PageHeader, Bytes)>> {
        let (start, len) = self.chunk_range;
        let end = start.saturating_add(len);
        let Some(locations) = self.locations else {
            if self.next_offset >= end {
                return Ok(None);
            }
            let (header, body, size) = self.page_at(self.next_offset, end - self.next_offset)?;
            self.next_offset += size as u64;
            return Ok(Some((header, body)));
        };
        if !self.dictionary_done {
            self.dictionary_done = true;
            // Bytes before the first data page are the dictionary page.
            let first = u64::try_from(locations[0].offset).unwrap_or(0);
            if start < first {
                let (header, body, _) = self.page_at(start, first - start)?;
                return Ok(Some((header, body)));
            }
        }
        while let Some(location) = locations.get(self.next_location) {
            self.next_location += 1;
            let first = usize::try_from(location.first_row_index).unwrap_or(0);
            let next = locations
                .get(self.next_location)
                .map_or(self.total_rows, |l| {
                    usize::try_from(l.first_row_index).unwrap_or(0)
                });
            if first != *seen || next < first {
                return Err(corrupt("the offset index's pages do not follow each other"));
            }
            let rows = next - first;
            // A page whose rows the selection skips whole is never read.
            let (skip, skip_rows) = selection.current().unwrap_or((false, 0));
            if skip && skip_rows >= rows {
                selection.advance(rows);
                *seen += rows;
                continue;
            }
            let offset = u64::try_from(location.offset).map_err(|_| corrupt("a page offset"))?;
            let size =
                u64::try_from(location.compressed_page_size).map_err(|_| corrupt("a page size"))?;
            let (header, body, _) = self.page_at(offset, size)?;
            return Ok(Some((header, body)));
        }
        Ok(None)
    }
}
