//! Reading a mixture: each draw takes one sample (a packed sequence, or a
//! row) from its source's reader.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use hf3fs_core::CancelToken;

use super::{MixCursor, MixPosition, Mixture, Samples, SOURCE_COLUMN};
use crate::error::{Error, Result};
use crate::pack::source::PackedSource;
use crate::pack::{PackedBatch, PackedBuilder};
use crate::reader::BatchReader;

/// A source's rows, one at a time.
pub struct RowSource {
    reader: BatchReader,
    current: Option<RecordBatch>,
    row: usize,
}

impl RowSource {
    /// Rows of `reader`'s batches, in order.
    pub fn new(reader: BatchReader) -> RowSource {
        RowSource {
            reader,
            current: None,
            row: 0,
        }
    }

    /// The next row: whether it is in a batch the last call did not give,
    /// and its index in [`Self::batch`]; None at the end.
    fn next_row(&mut self, cancel: &CancelToken) -> Result<Option<(bool, usize)>> {
        let mut changed = false;
        loop {
            if let Some(b) = &self.current {
                if self.row < b.num_rows() {
                    self.row += 1;
                    return Ok(Some((changed, self.row - 1)));
                }
            }
            match self.reader.next_batch(cancel)? {
                None => return Ok(None),
                Some(b) => {
                    self.current = Some(b);
                    self.row = 0;
                    changed = true;
                }
            }
        }
    }

    /// The batch the last row came from.
    fn batch(&self) -> Option<&RecordBatch> {
        self.current.as_ref()
    }
}

/// One source's reader.
pub enum SourceReader {
    /// Packed sequences.
    Packed(Box<PackedSource>),
    /// Rows.
    Rows(Box<RowSource>),
}

/// A mixed batch.
#[derive(Debug, Clone)]
pub enum MixedBatch {
    /// Packed sequences, with each one's source index.
    Packed(PackedBatch),
    /// Rows, with a `source` column.
    Rows(RecordBatch),
}

/// Mixed batches of one (rank, worker).
pub struct MixedReader {
    mixture: Mixture,
    epoch: u64,
    cut: (u64, u64),
    rank: u64,
    index: u64,
    cursor: MixCursor,
    sources: Vec<SourceReader>,
    finished: bool,
}

impl std::fmt::Debug for MixedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixedReader")
            .field("rank", &self.rank)
            .field("index", &self.index)
            .field("counts", &self.cursor.counts())
            .finish()
    }
}

impl MixedReader {
    pub(super) fn new(
        mixture: Mixture,
        progress: &MixPosition,
        rank: u64,
        index: u64,
        cursor: MixCursor,
        sources: Vec<SourceReader>,
    ) -> MixedReader {
        MixedReader {
            mixture,
            epoch: progress.epoch,
            cut: (progress.world_size, progress.num_workers),
            rank,
            index,
            cursor,
            sources,
            finished: false,
        }
    }

    /// The next batch (with each sample's source index); None when the
    /// mixture stops.
    pub fn next_batch(&mut self, cancel: &CancelToken) -> Result<Option<MixedBatch>> {
        if self.finished {
            return Ok(None);
        }
        let outcome = match &self.mixture.samples {
            Samples::Sequences { .. } => {
                self.next_packed(cancel).map(|b| b.map(MixedBatch::Packed))
            }
            Samples::Rows { .. } => self.next_rows(cancel).map(|b| b.map(MixedBatch::Rows)),
        };
        if !matches!(outcome, Ok(Some(_))) {
            self.finished = true;
        }
        outcome
    }

    /// The next draw's source, its reader restarted with its next epoch
    /// when it had finished; None when the mixture stops.
    fn draw(&mut self) -> Result<Option<usize>> {
        let Some(draw) = self.cursor.draw() else {
            return Ok(None);
        };
        if draw.restarted {
            // The finished source goes on with its next epoch's shuffle.
            let epoch = self.epoch + self.cursor.restarts()[draw.source];
            self.sources[draw.source] = self.mixture.restarted_reader(
                draw.source,
                epoch,
                self.cut,
                self.rank,
                self.index,
            )?;
        }
        Ok(Some(draw.source))
    }

    fn short(source: usize, what: &str) -> Error {
        Error::invalid(
            "mix",
            format!("source {source} ended {what} (its footers' counts disagree with the data)"),
        )
    }

    fn next_packed(&mut self, cancel: &CancelToken) -> Result<Option<PackedBatch>> {
        let Samples::Sequences {
            seq_len,
            token_type,
        } = &self.mixture.samples
        else {
            return Ok(None);
        };
        let (seq_len, per_batch) = (*seq_len, self.mixture.per_batch);
        let mut out = PackedBuilder::new(token_type, seq_len, per_batch);
        for _ in 0..per_batch {
            let Some(source) = self.draw()? else {
                return Ok(None);
            };
            let SourceReader::Packed(reader) = &mut self.sources[source] else {
                return Err(Self::short(
                    source,
                    "with rows where sequences were planned",
                ));
            };
            let n = reader.fill_sequence(&mut out, cancel)?;
            if n < seq_len {
                return Err(Self::short(
                    source,
                    &format!("{n} tokens into a planned sequence"),
                ));
            }
            out.push_source(source);
        }
        out.finish().map(Some)
    }

    fn next_rows(&mut self, cancel: &CancelToken) -> Result<Option<RecordBatch>> {
        let per_batch = self.mixture.per_batch;
        let n = self.sources.len();
        let mut pool: Vec<RecordBatch> = Vec::new();
        let mut in_pool: Vec<Option<usize>> = vec![None; n];
        let mut indices = Vec::with_capacity(per_batch);
        let mut origin = Vec::with_capacity(per_batch);
        for _ in 0..per_batch {
            let Some(source) = self.draw()? else {
                return Ok(None);
            };
            let SourceReader::Rows(reader) = &mut self.sources[source] else {
                return Err(Self::short(
                    source,
                    "with sequences where rows were planned",
                ));
            };
            let Some((changed, row)) = reader.next_row(cancel)? else {
                return Err(Self::short(source, "a row early"));
            };
            let slot = match in_pool[source] {
                Some(slot) if !changed => slot,
                _ => {
                    let Some(batch) = reader.batch() else {
                        return Err(Self::short(source, "a row early"));
                    };
                    pool.push(batch.clone());
                    in_pool[source] = Some(pool.len() - 1);
                    pool.len() - 1
                }
            };
            indices.push((slot, row));
            origin.push(source as i32);
        }
        let batches: Vec<&RecordBatch> = pool.iter().collect();
        let rows = arrow_select::interleave::interleave_record_batch(&batches, &indices)
            .map_err(|e| Error::invalid("mix", e.to_string()))?;
        let mut fields: Vec<Arc<Field>> = rows.schema().fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(SOURCE_COLUMN, DataType::Int32, false)));
        let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
        columns.push(Arc::new(Int32Array::from(origin)));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map(Some)
            .map_err(|e| Error::invalid("mix", e.to_string()))
    }
}
