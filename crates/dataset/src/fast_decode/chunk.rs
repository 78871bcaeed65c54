//! One output array of the fast path, filled read by read.

use std::sync::Arc;

use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{ArrayRef, FixedSizeListArray, LargeListArray, ListArray, PrimitiveArray};
use arrow_buffer::{
    ArrowNativeType, BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer,
};
use arrow_schema::DataType;
use parquet::errors::{ParquetError, Result};

use super::levels::{append_list_levels, spread_nulls};
use super::{FastColumn, Shape};

enum Offsets {
    None,
    I32(Vec<i32>),
    I64(Vec<i64>),
}

/// The values, validity and offsets of one array being decoded.
pub(crate) struct ChunkBuilder<'a, T> {
    column: &'a FastColumn,
    /// The values so far (null slots included once spread).
    pub values: Vec<T>,
    /// Validity of the value slots, once a null was seen.
    validity: Option<BooleanBufferBuilder>,
    offsets: Offsets,
    null_rows: Vec<usize>,
    /// Rows so far.
    pub rows: usize,
}

fn invalid(e: arrow_schema::ArrowError) -> ParquetError {
    ParquetError::General(e.to_string())
}

impl<'a, T: ArrowNativeType> ChunkBuilder<'a, T> {
    pub fn new(column: &'a FastColumn, values: usize) -> Self {
        let offsets = match column.shape {
            Shape::Primitive => Offsets::None,
            Shape::LargeList => Offsets::I64(Vec::new()),
            Shape::List | Shape::FixedSizeList(_) => Offsets::I32(Vec::new()),
        };
        ChunkBuilder {
            column,
            values: Vec::with_capacity(values),
            validity: None,
            offsets,
            null_rows: Vec::new(),
            rows: 0,
        }
    }

    /// Add the `rows` rows of one read, whose values were appended from
    /// `start`, with their levels.
    pub fn append(&mut self, start: usize, def: &[i16], rep: &[i16], rows: usize) -> Result<()> {
        let levels = self.column.levels;
        // Every slot so far holds a value (nulls were spread).
        let slots_before = start;
        let read = match &mut self.offsets {
            Offsets::None => {
                if !def.is_empty() {
                    spread_nulls(
                        &mut self.values,
                        start,
                        def,
                        0,
                        levels.max,
                        &mut self.validity,
                        slots_before,
                    )?;
                }
                self.rows += rows;
                return Ok(());
            }
            Offsets::I32(offsets) => {
                append_list_levels(rep, def, levels, start, offsets, &mut self.null_rows)?
            }
            Offsets::I64(offsets) => {
                append_list_levels(rep, def, levels, start, offsets, &mut self.null_rows)?
            }
        };
        if read.rows != rows {
            return Err(ParquetError::General(format!(
                "{} rows in the levels of {rows}",
                read.rows
            )));
        }
        let slots = if read.null_elements {
            spread_nulls(
                &mut self.values,
                start,
                def,
                levels.element,
                levels.max,
                &mut self.validity,
                slots_before,
            )?
        } else {
            if let Some(v) = &mut self.validity {
                v.append_n(read.elements, true);
            }
            read.elements
        };
        if self.values.len() != start + slots {
            return Err(ParquetError::General(format!(
                "{} values for {slots} elements",
                self.values.len() - start
            )));
        }
        self.rows += rows;
        Ok(())
    }

    /// Add `rows` rows whose levels were all at the maximum (each level one
    /// value), their values appended from `start`; for a list, `row_starts`
    /// are the levels its rows begin at, counted from level `first`.
    pub fn append_dense(&mut self, start: usize, row_starts: &[u32], first: usize, rows: usize) {
        let at = |s: u32| start + s as usize - first;
        match &mut self.offsets {
            Offsets::None => {}
            Offsets::I32(offsets) => offsets.extend(row_starts.iter().map(|&s| at(s) as i32)),
            Offsets::I64(offsets) => offsets.extend(row_starts.iter().map(|&s| at(s) as i64)),
        }
        if let Some(v) = &mut self.validity {
            v.append_n(self.values.len() - start, true);
        }
        self.rows += rows;
    }

    /// The array, as Arrow type `A` (of `T`'s width).
    pub fn finish<A: ArrowPrimitiveType>(self) -> Result<ArrayRef> {
        let len = self.values.len();
        let values = ScalarBuffer::<A::Native>::new(Buffer::from_vec(self.values), 0, len);
        let nulls = self.validity.map(|mut v| NullBuffer::new(v.finish()));
        let numbers: ArrayRef =
            Arc::new(PrimitiveArray::<A>::try_new(values, nulls).map_err(invalid)?);
        let item = match self.column.field.data_type() {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f.clone(),
            _ => return Ok(numbers),
        };
        let list_nulls = (!self.null_rows.is_empty()).then(|| {
            let mut valid = BooleanBufferBuilder::new(self.rows);
            valid.append_n(self.rows, true);
            for &row in &self.null_rows {
                valid.set_bit(row, false);
            }
            NullBuffer::new(valid.finish())
        });
        Ok(match (self.offsets, self.column.shape) {
            (Offsets::I64(mut offsets), _) => {
                offsets.push(len as i64);
                let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                Arc::new(
                    LargeListArray::try_new(item, offsets, numbers, list_nulls).map_err(invalid)?,
                )
            }
            (Offsets::I32(offsets), Shape::FixedSizeList(n)) => {
                // Rows of another length, and null rows, are left to arrow-rs.
                let mut at = 0i64;
                let even = offsets.iter().all(|&o| {
                    let ok = i64::from(o) == at;
                    at += i64::from(n);
                    ok
                }) && at == len as i64;
                if list_nulls.is_some() || !even {
                    return Err(ParquetError::General(
                        "a fixed-size list row of another length, or a null one".into(),
                    ));
                }
                Arc::new(FixedSizeListArray::try_new(item, n, numbers, None).map_err(invalid)?)
            }
            (Offsets::I32(mut offsets), _) => {
                let end = i32::try_from(len)
                    .map_err(|_| ParquetError::General("list offsets overflow".into()))?;
                offsets.push(end);
                let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                Arc::new(ListArray::try_new(item, offsets, numbers, list_nulls).map_err(invalid)?)
            }
            (Offsets::None, _) => numbers,
        })
    }
}
