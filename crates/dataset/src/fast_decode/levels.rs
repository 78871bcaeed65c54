//! From Parquet's definition and repetition levels to Arrow's offsets and
//! validity, one pass over each read's levels.
//!
//! A list column's leaf has one level pair per element, and one for each
//! empty or null list. With the thresholds of [`ListLevels`]: a level below
//! `list_defined` is a null list, one below `element` an empty list, one at
//! or above `element` an element, which is null below `max`. A repetition
//! level of 0 starts a row.

use arrow_array::OffsetSizeTrait;
use arrow_buffer::BooleanBufferBuilder;
use parquet::errors::{ParquetError, Result};

use super::ListLevels;

/// Repetition levels checked at once for a row start: wide enough for the
/// compiler's vector loop, short next to a document of token ids.
const ROW_SCAN: usize = 64;

/// What one read's levels add to a list column.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ListRead {
    /// Rows started.
    pub rows: usize,
    /// Elements (null ones included).
    pub elements: usize,
    /// Whether some element is null.
    pub null_elements: bool,
}

/// Append the row starts of `rep`/`def` to `offsets` (counting elements on
/// from `elements`), and the index of each null row (numbering rows on from
/// `offsets.len()`) to `null_rows`.
pub(crate) fn append_list_levels<O: OffsetSizeTrait>(
    rep: &[i16],
    def: &[i16],
    levels: ListLevels,
    elements: usize,
    offsets: &mut Vec<O>,
    null_rows: &mut Vec<usize>,
) -> Result<ListRead> {
    if rep.len() != def.len() {
        return Err(ParquetError::General(format!(
            "{} repetition levels but {} definition levels",
            rep.len(),
            def.len()
        )));
    }
    if rep.first().is_some_and(|&r| r != 0) {
        return Err(ParquetError::General(
            "a read does not start at a row".into(),
        ));
    }
    let ListLevels {
        list_defined,
        element,
        max,
    } = levels;
    // An empty or null list is a single level, at its row's start; every
    // other level is an element. So the elements before a row start at
    // level `p` are `p` less the empty and null rows before it, and only row
    // starts need looking at: the scans below are wide and branch-free.
    let first_row = offsets.len();
    let mut not_elements = 0usize;
    let mut at = 0usize;
    for chunk in rep.chunks(ROW_SCAN) {
        if chunk.iter().fold(false, |any, &r| any | (r == 0)) {
            for (i, &r) in chunk.iter().enumerate() {
                if r == 0 {
                    let p = at + i;
                    offsets.push(O::usize_as(elements + p - not_elements));
                    let d = def[p];
                    if d < element {
                        not_elements += 1;
                        if d < list_defined {
                            null_rows.push(offsets.len() - 1);
                        }
                    }
                }
            }
        }
        at += chunk.len();
    }
    // A level inside a row is always an element; one that is not is corrupt
    // data (arrow-rs then reports it).
    let misplaced = rep
        .iter()
        .zip(def)
        .fold(false, |any, (&r, &d)| any | ((r != 0) & (d < element)));
    if misplaced {
        return Err(ParquetError::General(
            "an empty or null list inside a row".into(),
        ));
    }
    let null_elements = max > element
        && def
            .iter()
            .fold(false, |any, &d| any | ((d >= element) & (d < max)));
    Ok(ListRead {
        rows: offsets.len() - first_row,
        elements: rep.len() - not_elements,
        null_elements,
    })
}

/// The values of one read were appended to `values` from `start` without
/// their nulls: spread them over their slots (the levels at or above
/// `threshold`), a default value where the level is below `max`, and append
/// the slots' validity to `validity` (started, all valid for the
/// `slots_before` slots before, at the first null). Returns the slots.
pub(crate) fn spread_nulls<T: Copy + Default>(
    values: &mut Vec<T>,
    start: usize,
    def: &[i16],
    threshold: i16,
    max: i16,
    validity: &mut Option<BooleanBufferBuilder>,
    slots_before: usize,
) -> Result<usize> {
    let slots = if threshold == 0 {
        def.len()
    } else {
        def.iter().filter(|&&d| d >= threshold).count()
    };
    let dense = values.len() - start;
    if dense == slots {
        if let Some(v) = validity {
            v.append_n(slots, true);
        }
        return Ok(slots);
    }
    let valid = def.iter().filter(|&&d| d >= max).count();
    if valid != dense || dense > slots {
        return Err(ParquetError::General(format!(
            "{dense} values for {valid} valid levels"
        )));
    }
    let bits = validity.get_or_insert_with(|| {
        let mut b = BooleanBufferBuilder::new(slots_before + slots);
        b.append_n(slots_before, true);
        b
    });
    values.resize(start + slots, T::default());
    // From the back, each value moves to its slot, never over one not yet moved.
    let mut next = start + dense;
    let mut slot = start + slots;
    for &d in def.iter().rev() {
        if d < threshold {
            continue;
        }
        slot -= 1;
        if d >= max {
            next -= 1;
            values[slot] = values[next];
        } else {
            values[slot] = T::default();
        }
    }
    for &d in def {
        if d >= threshold {
            bits.append(d >= max);
        }
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONAL_LIST_OPTIONAL_ITEM: ListLevels = ListLevels {
        list_defined: 1,
        element: 2,
        max: 3,
    };

    #[test]
    fn levels_give_offsets_null_rows_and_null_elements() {
        // Rows: [1, null, 3], null, [], [4]
        let rep = [0, 1, 1, 0, 0, 0];
        let def = [3, 2, 3, 0, 1, 3];
        let (mut offsets, mut null_rows) = (Vec::<i32>::new(), Vec::new());
        let read = append_list_levels(
            &rep,
            &def,
            OPTIONAL_LIST_OPTIONAL_ITEM,
            0,
            &mut offsets,
            &mut null_rows,
        )
        .unwrap();
        assert_eq!(offsets, vec![0, 3, 3, 3]);
        assert_eq!(null_rows, vec![1]);
        assert_eq!(
            read,
            ListRead {
                rows: 4,
                elements: 4,
                null_elements: true
            }
        );
        // Values of an earlier read stay; this read's are spread.
        let mut values = vec![9, 9, 1, 3, 4];
        let mut validity = None;
        let slots = spread_nulls(&mut values, 2, &def, 2, 3, &mut validity, 2).unwrap();
        assert_eq!(slots, 4);
        assert_eq!(values, vec![9, 9, 1, 0, 3, 4]);
        let bits = validity.unwrap().finish();
        assert_eq!(
            bits.iter().collect::<Vec<_>>(),
            [true, true, true, false, true, true]
        );
    }

    #[test]
    fn without_nulls_nothing_is_built() {
        let rep = [0, 1, 0, 1, 1];
        let def = [3, 3, 3, 3, 3];
        let (mut offsets, mut null_rows) = (Vec::<i64>::new(), Vec::new());
        let read = append_list_levels(
            &rep,
            &def,
            OPTIONAL_LIST_OPTIONAL_ITEM,
            7,
            &mut offsets,
            &mut null_rows,
        )
        .unwrap();
        assert_eq!(offsets, vec![7, 9]);
        assert!(null_rows.is_empty() && !read.null_elements);
        let mut values = vec![1, 2, 3, 4, 5];
        let mut validity = None;
        assert_eq!(
            spread_nulls(&mut values, 0, &def, 2, 3, &mut validity, 0).unwrap(),
            5
        );
        assert!(validity.is_none());
        let mut none = Vec::<i32>::new();
        let levels = OPTIONAL_LIST_OPTIONAL_ITEM;
        assert!(append_list_levels(&[1], &[3], levels, 0, &mut none, &mut Vec::new()).is_err());
        assert!(append_list_levels(&[0], &[], levels, 0, &mut none, &mut Vec::new()).is_err());
        // An empty list in the middle of a row.
        let bad = append_list_levels(
            &[0, 1, 0],
            &[2, 0, 1],
            levels,
            0,
            &mut none,
            &mut Vec::new(),
        );
        assert!(bad.is_err());
        // More values than valid levels is corrupt data, not a panic.
        let mut values = vec![1, 2, 3];
        assert!(spread_nulls(&mut values, 0, &[1, 0], 0, 1, &mut None, 0).is_err());
    }
}
