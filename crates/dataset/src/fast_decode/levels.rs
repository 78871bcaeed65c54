//! From Parquet's definition and repetition levels to Arrow's offsets and
//! validity, in one pass each.
//!
//! A list column's leaf has one level pair per element, and one for each
//! empty or null list. With the thresholds of [`ListLevels`]: a level below
//! `list_defined` is a null list, one below `element` an empty list, one at
//! or above `element` an element, which is null below `max`. A repetition
//! level of 0 starts a row.

use arrow_array::OffsetSizeTrait;
use arrow_buffer::{BooleanBufferBuilder, NullBuffer};
use parquet::errors::{ParquetError, Result};

use super::ListLevels;

/// A list column's offsets and row validity.
pub(crate) struct ListLayout<O> {
    /// Rows + 1 offsets into the elements.
    pub offsets: Vec<O>,
    /// Which rows are lists (None: all are).
    pub list_nulls: Option<NullBuffer>,
    /// Whether some element is null.
    pub has_null_elements: bool,
}

/// Offsets and row validity from a list column's levels.
pub(crate) fn list_layout<O: OffsetSizeTrait>(
    rep: &[i16],
    def: &[i16],
    levels: ListLevels,
) -> Result<ListLayout<O>> {
    if rep.len() != def.len() {
        return Err(ParquetError::General(format!(
            "{} repetition levels but {} definition levels",
            rep.len(),
            def.len()
        )));
    }
    if rep.first().is_some_and(|&r| r != 0) {
        return Err(ParquetError::General(
            "the first level does not start a row".into(),
        ));
    }
    let ListLevels {
        list_defined,
        element,
        max,
    } = levels;
    let mut offsets: Vec<O> = Vec::with_capacity(rep.len() / 2 + 2);
    let mut null_rows: Vec<usize> = Vec::new();
    let mut count = 0usize;
    let mut null_elements = false;
    for (&r, &d) in rep.iter().zip(def) {
        if r == 0 {
            if d < list_defined {
                null_rows.push(offsets.len());
            }
            offsets.push(O::usize_as(count));
        }
        if d >= element {
            count += 1;
            null_elements |= d < max;
        }
    }
    offsets.push(O::usize_as(count));
    let rows = offsets.len() - 1;
    let list_nulls = (!null_rows.is_empty()).then(|| {
        let mut valid = BooleanBufferBuilder::new(rows);
        valid.append_n(rows, true);
        for row in null_rows {
            valid.set_bit(row, false);
        }
        NullBuffer::new(valid.finish())
    });
    Ok(ListLayout {
        offsets,
        list_nulls,
        has_null_elements: null_elements,
    })
}

/// Spread the non-null `values` over their slots (the levels at or above
/// `threshold`), with a default value and a cleared validity bit where the
/// level is below `max`. Values already one per slot come back as they are.
pub(crate) fn spread_nulls<T: Copy + Default>(
    values: Vec<T>,
    def: &[i16],
    threshold: i16,
    max: i16,
) -> (Vec<T>, Option<NullBuffer>) {
    let slots = if threshold == 0 {
        def.len()
    } else {
        def.iter().filter(|&&d| d >= threshold).count()
    };
    if values.len() == slots {
        return (values, None);
    }
    let mut out = Vec::with_capacity(slots);
    let mut valid = BooleanBufferBuilder::new(slots);
    let mut next = values.iter();
    for &d in def {
        if d < threshold {
            continue;
        }
        let is_value = d >= max;
        valid.append(is_value);
        out.push(if is_value {
            next.next().copied().unwrap_or_default()
        } else {
            T::default()
        });
    }
    (out, Some(NullBuffer::new(valid.finish())))
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
        let layout = list_layout::<i32>(&rep, &def, OPTIONAL_LIST_OPTIONAL_ITEM).unwrap();
        assert_eq!(layout.offsets, vec![0, 3, 3, 3, 4]);
        let nulls = layout.list_nulls.unwrap();
        assert_eq!(
            (0..4).map(|i| nulls.is_valid(i)).collect::<Vec<_>>(),
            [true, false, true, true]
        );
        assert!(layout.has_null_elements);
        let (values, nulls) = spread_nulls(vec![1, 3, 4], &def, 2, 3);
        assert_eq!(values, vec![1, 0, 3, 4]);
        let nulls = nulls.unwrap();
        assert_eq!(nulls.null_count(), 1);
        assert!(nulls.is_null(1));
    }

    #[test]
    fn without_nulls_nothing_is_built() {
        let rep = [0, 1, 0, 1, 1];
        let def = [3, 3, 3, 3, 3];
        let layout = list_layout::<i64>(&rep, &def, OPTIONAL_LIST_OPTIONAL_ITEM).unwrap();
        assert_eq!(layout.offsets, vec![0, 2, 5]);
        assert!(layout.list_nulls.is_none() && !layout.has_null_elements);
        let (values, nulls) = spread_nulls(vec![1, 2, 3, 4, 5], &def, 2, 3);
        assert_eq!(values.len(), 5);
        assert!(nulls.is_none());
        assert!(list_layout::<i32>(&[1], &[3], OPTIONAL_LIST_OPTIONAL_ITEM).is_err());
        assert!(list_layout::<i32>(&[0], &[], OPTIONAL_LIST_OPTIONAL_ITEM).is_err());
    }
}
