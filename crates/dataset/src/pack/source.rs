//! One span's documents, packed into sequences.
//!
//! A span is a run of token positions of the epoch's token stream; it
//! starts and ends anywhere inside a row group. Its row groups are read
//! whole (the packer does not know where inside a group a token lies until
//! it has the lengths), the tokens before the span's start are skipped and
//! those after its end are passed over, and every group read to its end is
//! checked against the token count the plan took from its footer.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, OffsetSizeTrait};
use arrow_buffer::{Buffer, NullBuffer};
use arrow_schema::DataType;
use hf3fs_core::CancelToken;

use super::{PackedBatch, PackedBuilder, TokenType};
use crate::error::{Error, Result};
use crate::reader::BatchReader;
use crate::scan::Scan;

/// Values in a list column's rows (None: not a list).
pub(crate) fn list_value_count(column: &ArrayRef) -> Option<u64> {
    fn span<O: OffsetSizeTrait>(list: &arrow_array::GenericListArray<O>) -> u64 {
        let o = list.value_offsets();
        (o[o.len() - 1] - o[0]).as_usize() as u64
    }
    match column.data_type() {
        DataType::List(_) => Some(span(column.as_list::<i32>())),
        DataType::LargeList(_) => Some(span(column.as_list::<i64>())),
        _ => None,
    }
}

/// One row group's part of a span: the group's rows are read whole, and
/// tokens `skip..skip + take` of its token stream are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Index into the scan's groups.
    pub group: usize,
    /// Rows the group yields.
    pub rows: u64,
    /// Tokens before the span's part.
    pub skip: u64,
    /// Tokens of the span's part.
    pub take: u64,
    /// The group's tokens, as the plan counted them.
    pub planned: u64,
}

/// The rows of one decoded batch.
struct Chunk {
    /// Token bytes, from the first row's first token.
    values: Buffer,
    /// Row `r` is tokens `offsets[r]..offsets[r + 1]`.
    offsets: Vec<usize>,
    nulls: Option<NullBuffer>,
    /// The next row.
    row: usize,
}

impl Chunk {
    fn of(column: &ArrayRef, width: usize) -> std::result::Result<Chunk, String> {
        fn list<O: OffsetSizeTrait>(
            list: &arrow_array::GenericListArray<O>,
            width: usize,
        ) -> std::result::Result<Chunk, String> {
            let o = list.value_offsets();
            let (first, last) = (o[0].as_usize(), o[o.len() - 1].as_usize());
            let values = list.values().slice(first, last - first);
            if values.null_count() > 0 {
                return Err(format!(
                    "{} of its tokens are null (a document's tokens must all be set)",
                    values.null_count()
                ));
            }
            let data = values.to_data();
            let bytes =
                data.buffers()[0].slice_with_length(data.offset() * width, data.len() * width);
            Ok(Chunk {
                values: bytes,
                offsets: o.iter().map(|x| x.as_usize() - first).collect(),
                nulls: list.nulls().cloned(),
                row: 0,
            })
        }
        match column.data_type() {
            DataType::List(_) => list(column.as_list::<i32>(), width),
            DataType::LargeList(_) => list(column.as_list::<i64>(), width),
            other => Err(format!("expected a list column, got {other}")),
        }
    }

    fn rows(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// Where the current window stands.
struct WindowState {
    window: Window,
    rows_left: u64,
    skip_left: u64,
    take_left: u64,
    /// Tokens of the group's rows passed so far.
    seen: u64,
}

/// The documents of one span, handed out a sequence at a time.
pub struct PackedSource {
    scan: Arc<Scan>,
    reader: BatchReader,
    windows: VecDeque<Window>,
    token_type: TokenType,
    eos: Option<Vec<u8>>,
    chunk: Option<Chunk>,
    current: Option<WindowState>,
    /// The current document: its first token in the chunk, its tokens
    /// (without EOS), its length with EOS, and how far it was packed.
    doc_start: usize,
    doc_data: usize,
    doc_len: usize,
    doc_pos: usize,
}

impl std::fmt::Debug for PackedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedSource")
            .field("windows_left", &self.windows.len())
            .finish()
    }
}

impl PackedSource {
    /// Pack `windows` (in order) from `reader`, which reads exactly their
    /// groups' rows, in the same order.
    pub fn new(
        scan: Arc<Scan>,
        reader: BatchReader,
        windows: Vec<Window>,
        token_type: TokenType,
        eos: Option<Vec<u8>>,
    ) -> PackedSource {
        PackedSource {
            scan,
            reader,
            windows: windows.into(),
            token_type,
            eos,
            chunk: None,
            current: None,
            doc_start: 0,
            doc_data: 0,
            doc_len: 0,
            doc_pos: 0,
        }
    }

    fn group_error(&self, group: usize, reason: String) -> Error {
        let g = &self.scan.groups[group];
        crate::index::decode_error(
            self.scan.file_of(g),
            g.row_group,
            self.scan.columns.first().cloned(),
            parquet::errors::ParquetError::General(reason),
        )
    }

    /// A window read to its end must have had the tokens the plan counted.
    fn check(&self, state: &WindowState) -> Result<()> {
        if state.rows_left == 0 && state.seen != state.window.planned {
            return Err(self.group_error(
                state.window.group,
                format!(
                    "the footer counts {} tokens, the data has {}",
                    state.window.planned, state.seen
                ),
            ));
        }
        Ok(())
    }

    /// Move to the next document; false at the span's end.
    fn next_doc(&mut self, cancel: &CancelToken) -> Result<bool> {
        loop {
            match &self.current {
                Some(s) if s.rows_left > 0 => {
                    // Nothing more to pack in the last window: do not read on.
                    if s.skip_left == 0 && s.take_left == 0 && self.windows.is_empty() {
                        return Ok(false);
                    }
                }
                _ => {
                    if let Some(done) = self.current.take() {
                        self.check(&done)?;
                    }
                    let Some(window) = self.windows.pop_front() else {
                        return Ok(false);
                    };
                    self.current = Some(WindowState {
                        window,
                        rows_left: window.rows,
                        skip_left: window.skip,
                        take_left: window.take,
                        seen: 0,
                    });
                    continue;
                }
            }
            let chunk = match self.chunk.as_mut() {
                Some(c) if c.row < c.rows() => c,
                _ => {
                    self.load_chunk(cancel)?;
                    continue;
                }
            };
            let r = chunk.row;
            chunk.row += 1;
            let data = if chunk.nulls.as_ref().is_some_and(|n| n.is_null(r)) {
                0
            } else {
                chunk.offsets[r + 1] - chunk.offsets[r]
            };
            self.doc_start = chunk.offsets[r];
            self.doc_data = data;
            self.doc_len = data + usize::from(self.eos.is_some());
            self.doc_pos = 0;
            if let Some(s) = self.current.as_mut() {
                s.rows_left -= 1;
                s.seen += self.doc_len as u64;
            }
            return Ok(true);
        }
    }

    fn load_chunk(&mut self, cancel: &CancelToken) -> Result<()> {
        let group = self.current.as_ref().map_or(0, |s| s.window.group);
        let Some(batch) = self.reader.next_decoded(cancel)? else {
            let left = self.current.as_ref().map_or(0, |s| s.rows_left);
            return Err(self.group_error(group, format!("the data ended {left} rows early")));
        };
        let chunk = Chunk::of(batch.column(0), self.token_type.width)
            .map_err(|e| self.group_error(group, e))?;
        self.chunk = Some(chunk);
        Ok(())
    }

    /// Append tokens to `out` until its current sequence is full or the
    /// span ends; returns the tokens appended.
    pub fn fill_sequence(
        &mut self,
        out: &mut PackedBuilder,
        cancel: &CancelToken,
    ) -> Result<usize> {
        let width = self.token_type.width;
        let mut need = out.room();
        let mut written = 0;
        while need > 0 {
            if self.doc_pos == self.doc_len {
                out.end_piece();
                if !self.next_doc(cancel)? {
                    break;
                }
                continue;
            }
            let Some(state) = self.current.as_mut() else {
                break;
            };
            let left = self.doc_len - self.doc_pos;
            if state.skip_left > 0 {
                let n = state.skip_left.min(left as u64);
                self.doc_pos += n as usize;
                state.skip_left -= n;
                continue;
            }
            if state.take_left == 0 {
                self.doc_pos = self.doc_len;
                continue;
            }
            let n = need.min(left).min(state.take_left as usize);
            let data_end = (self.doc_pos + n).min(self.doc_data);
            if data_end > self.doc_pos {
                if let Some(chunk) = &self.chunk {
                    let bytes = &chunk.values.as_slice()[(self.doc_start + self.doc_pos) * width
                        ..(self.doc_start + data_end) * width];
                    out.append(bytes);
                }
            }
            if self.doc_pos + n > self.doc_data {
                if let Some(eos) = &self.eos {
                    out.append(eos);
                }
            }
            self.doc_pos += n;
            state.take_left -= n as u64;
            need -= n;
            written += n;
        }
        // A document that goes on continues as a new piece of the next sequence.
        out.end_piece();
        Ok(written)
    }
}

/// Packed batches of one span.
#[derive(Debug)]
pub struct PackedReader {
    source: PackedSource,
    seq_len: usize,
    sequences: usize,
    /// The padding token's bytes, when a last partial batch is padded.
    pad: Option<Vec<u8>>,
    finished: bool,
}

impl PackedReader {
    /// Batches of `sequences` sequences of `seq_len` tokens from `source`;
    /// with `pad`, a span ending inside a batch pads it, else that is an
    /// error (the plan cut whole batches).
    pub fn new(
        source: PackedSource,
        seq_len: usize,
        sequences: usize,
        pad: Option<Vec<u8>>,
    ) -> PackedReader {
        PackedReader {
            source,
            seq_len,
            sequences,
            pad,
            finished: false,
        }
    }

    /// The next batch; None at the span's end.
    pub fn next_batch(&mut self, cancel: &CancelToken) -> Result<Option<PackedBatch>> {
        if self.finished {
            return Ok(None);
        }
        let outcome = self.next_inner(cancel);
        if !matches!(outcome, Ok(Some(_))) {
            self.finished = true;
        }
        outcome
    }

    fn next_inner(&mut self, cancel: &CancelToken) -> Result<Option<PackedBatch>> {
        let token_type = self.source.token_type.clone();
        let mut out = PackedBuilder::new(&token_type, self.seq_len, self.sequences);
        for _ in 0..self.sequences {
            let need = out.room();
            let n = self.source.fill_sequence(&mut out, cancel)?;
            if n < need {
                if out.is_empty() {
                    return Ok(None);
                }
                match &self.pad {
                    Some(pad) => out.pad_sequence(pad),
                    None => {
                        return Err(Error::invalid(
                            "pack",
                            format!(
                                "the span ended {} tokens into a batch (the footers' token counts \
                                 disagree with the data)",
                                out.len()
                            ),
                        ))
                    }
                }
            }
        }
        out.finish().map(Some)
    }
}

impl PackedSource {
    /// The tokens' type.
    pub fn token_type(&self) -> &TokenType {
        &self.token_type
    }
}
