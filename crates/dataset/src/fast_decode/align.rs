//! A piece's batches from the fast path's arrays and arrow-rs's batches.

use arrow_array::{Array, ArrayRef, RecordBatch};

use crate::error::{Error, Result};
use crate::scan::Scan;

/// Batches of the piece's `rows` rows from the fast path's column chunks
/// and arrow-rs's batches of the other columns (in root order): cut where
/// either side's arrays end, so every column is a slice, never a copy.
pub(crate) fn align(
    scan: &Scan,
    fast: Vec<Option<Vec<ArrayRef>>>,
    slow: Vec<RecordBatch>,
    rows: usize,
) -> Result<Vec<RecordBatch>> {
    let invalid = |e: arrow_schema::ArrowError| Error::invalid("reader", e.to_string());
    // Where each array of each column ends, in rows of the piece.
    let mut cuts: Vec<usize> = Vec::new();
    let mut ends = |lens: &mut dyn Iterator<Item = usize>| {
        let mut at = 0;
        for n in lens {
            at += n;
            cuts.push(at);
        }
    };
    for chunks in fast.iter().flatten() {
        ends(&mut chunks.iter().map(|a| a.len()));
    }
    ends(&mut slow.iter().map(|b| b.num_rows()));
    cuts.push(rows);
    cuts.sort_unstable();
    cuts.dedup();
    // A cursor per column over its arrays.
    struct Cursor<'a> {
        arrays: Vec<&'a ArrayRef>,
        index: usize,
        offset: usize,
    }
    let mut slow_column = 0;
    let mut cursors: Vec<Cursor<'_>> = fast
        .iter()
        .map(|chunks| match chunks {
            Some(chunks) => Cursor {
                arrays: chunks.iter().collect(),
                index: 0,
                offset: 0,
            },
            None => {
                let column = slow_column;
                slow_column += 1;
                Cursor {
                    arrays: slow.iter().map(|b| b.column(column)).collect(),
                    index: 0,
                    offset: 0,
                }
            }
        })
        .collect();
    let mut out = Vec::with_capacity(cuts.len());
    let mut at = 0;
    for cut in cuts {
        let n = cut - at;
        if n == 0 {
            continue;
        }
        let mut columns = Vec::with_capacity(cursors.len());
        for c in &mut cursors {
            let array = c
                .arrays
                .get(c.index)
                .ok_or_else(|| Error::invalid("reader", "a column ended early"))?;
            if c.offset + n > array.len() {
                return Err(Error::invalid("reader", "columns of different lengths"));
            }
            columns.push(array.slice(c.offset, n));
            c.offset += n;
            if c.offset == array.len() {
                c.index += 1;
                c.offset = 0;
            }
        }
        out.push(scan.assemble(&columns, n).map_err(invalid)?);
        at = cut;
    }
    Ok(out)
}
