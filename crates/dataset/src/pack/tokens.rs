//! Tokens per row group, for a plan by tokens.
//!
//! A row group's token count is in its footer: the packed column's leaf
//! chunk holds one level per token plus one per empty or null list, and
//! the levels that are values are the definition-level histogram's top
//! entry (Parquet size statistics) or `num_values - null_count` (the
//! chunk's statistics; both writers count every level below the maximum
//! definition level as a null). A chunk without either, or a row group a
//! filter thinned out, is counted by decoding its lengths.

use std::sync::Arc;

use parquet::file::metadata::ColumnChunkMetaData;

use super::source;

use crate::error::{Error, Result};
use crate::parallel::try_map_io;
use crate::plan::RowRange;
use crate::scan::{decode_group_simple, Scan};
use hf3fs_core::CancelToken;

/// Rows decoded per batch when a group's tokens must be counted by
/// decoding (only its list lengths are looked at).
const COUNT_BATCH_ROWS: usize = 64 << 10;

/// How a row group's token count was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountSource {
    /// The definition-level histogram of the size statistics.
    Histogram,
    /// The chunk statistics' `num_values - null_count`.
    Statistics,
    /// Decoding the column (no statistics, or a filter).
    Decoded,
}

/// Values (tokens, without EOS) of `chunk` from the footer, if it says.
fn footer_values(chunk: &ColumnChunkMetaData, max_def: i16) -> Option<(u64, CountSource)> {
    if let Some(h) = chunk.definition_level_histogram() {
        if let Some(&top) = h.values().get(max_def.max(0) as usize) {
            return u64::try_from(top).ok().map(|v| (v, CountSource::Histogram));
        }
    }
    let nulls = chunk.statistics()?.null_count_opt()?;
    let values = u64::try_from(chunk.num_values()).ok()?;
    values
        .checked_sub(nulls)
        .map(|v| (v, CountSource::Statistics))
}

/// The tokens of each group of `scan` in its column `root` (the scan's one
/// column), plus one per row when `eos`; how each count was found. Groups
/// the footer cannot count are decoded, several at once on the runtime's
/// file system pool (they read as well as decode).
pub fn group_tokens(
    scan: &Arc<Scan>,
    root: usize,
    eos: bool,
    cancel: &CancelToken,
) -> Result<(Vec<u64>, Vec<CountSource>)> {
    let mut found: Vec<Option<(u64, CountSource)>> = Vec::with_capacity(scan.groups.len());
    let mut leaves: Vec<Option<(usize, i16)>> = vec![None; scan.index.files.len()];
    for group in &scan.groups {
        let file = scan.file_of(group);
        let (leaf, max_def) = match leaves[group.file] {
            Some(l) => l,
            None => {
                let descr = file.metadata().file_metadata().schema_descr();
                let leaf = (0..descr.num_columns())
                    .find(|&i| descr.get_column_root_idx(i) == root)
                    .ok_or_else(|| Error::Footer {
                        path: file.display().to_string(),
                        offset: None,
                        reason: format!("no leaf column under column {root}"),
                    })?;
                let l = (leaf, descr.column(leaf).max_def_level());
                leaves[group.file] = Some(l);
                l
            }
        };
        let chunk = file.metadata().row_group(group.row_group).column(leaf);
        found.push(match group.matches {
            None => footer_values(chunk, max_def),
            Some(_) => None,
        });
    }
    let undecided: Vec<usize> = (0..found.len()).filter(|&i| found[i].is_none()).collect();
    if !undecided.is_empty() {
        let window = hf3fs_core::runtime::cpu::cpu_threads()
            .map_err(|e| Error::io("<CPU pool>", None, e))?;
        let shared = scan.clone();
        let counts = try_map_io(
            undecided.clone(),
            window,
            "counting tokens",
            cancel,
            |_| {},
            move |index, _| decoded_values(&shared, index),
        )?;
        for (index, values) in undecided.into_iter().zip(counts) {
            found[index] = Some((values, CountSource::Decoded));
        }
    }
    let mut tokens = Vec::with_capacity(found.len());
    let mut sources = Vec::with_capacity(found.len());
    for (group, f) in scan.groups.iter().zip(found) {
        let (values, source) = f.unwrap_or((0, CountSource::Decoded));
        tokens.push(values + if eos { group.rows() } else { 0 });
        sources.push(source);
    }
    Ok((tokens, sources))
}

/// Count the tokens of a group's (selected) rows by decoding its column.
fn decoded_values(scan: &Scan, index: usize) -> Result<u64> {
    let group = &scan.groups[index];
    let file = scan.file_of(group);
    let handle = file.open()?;
    let selection = scan.selection(&RowRange {
        group: index,
        start: 0,
        end: group.rows(),
    });
    let batches = decode_group_simple(
        file,
        &handle,
        scan.projection(file),
        group.row_group,
        selection,
        COUNT_BATCH_ROWS,
    )?;
    let mut total = 0u64;
    for batch in batches {
        let column = batch.column(0);
        total += source::list_value_count(column).ok_or_else(|| {
            crate::index::decode_error(
                file,
                group.row_group,
                scan.columns.first().cloned(),
                parquet::errors::ParquetError::General(format!(
                    "expected a list column, got {}",
                    column.data_type()
                )),
            )
        })?;
    }
    Ok(total)
}
