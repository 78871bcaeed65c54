//! Row filters: simple predicates (`==, !=, <, <=, >, >=, in, not in,
//! is_null, is_not_null`) combined with AND/OR. Row groups whose statistics
//! rule a predicate out are pruned; the rows of the others are tested.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt64Array};
use arrow_buffer::BooleanBuffer;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;

use crate::error::{Error, Result};
use crate::index::IndexedFile;

mod compare;
use compare::{compare, through_keys};

/// A literal in a predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// Parse `==`, `=`, `!=`, `<`, `<=`, `>`, `>=`.
    pub fn parse(op: &str) -> Option<CmpOp> {
        Some(match op {
            "==" | "=" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }
}

/// A row filter. A row matches when the predicate is true; a comparison with
/// a null is not true (SQL semantics, as in pyarrow's filters).
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// `column op value`
    Compare {
        /// The column.
        column: String,
        /// The comparison.
        op: CmpOp,
        /// The literal.
        value: Scalar,
    },
    /// `column in values` (or `not in`).
    In {
        /// The column.
        column: String,
        /// The literals.
        values: Vec<Scalar>,
        /// `not in`.
        negated: bool,
    },
    /// `column is null` (or `is not null`).
    IsNull {
        /// The column.
        column: String,
        /// `is not null`.
        negated: bool,
    },
    /// Every child is true.
    And(Vec<Predicate>),
    /// Some child is true.
    Or(Vec<Predicate>),
}

impl Predicate {
    /// The columns the predicate reads, without repeats.
    pub fn columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.visit_columns(&mut |c| {
            if !out.iter().any(|o| o == c) {
                out.push(c.to_string());
            }
        });
        out
    }

    fn visit_columns(&self, f: &mut impl FnMut(&str)) {
        match self {
            Predicate::Compare { column, .. }
            | Predicate::In { column, .. }
            | Predicate::IsNull { column, .. } => f(column),
            Predicate::And(children) | Predicate::Or(children) => {
                children.iter().for_each(|c| c.visit_columns(f))
            }
        }
    }

    /// Which rows of `batch` match (null counts as no match).
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        Ok(BooleanArray::new(self.matches(batch)?, None))
    }

    /// The rows that match, as a definite mask: an unknown (null) result is
    /// no match at every leaf. That equals SQL's three-valued AND/OR followed
    /// by "null is no match", because nothing in the tree negates a child
    /// (`not in` negates its own definite mask, where a null row is not in
    /// the list and so matches, as in pyarrow).
    fn matches(&self, batch: &RecordBatch) -> Result<BooleanBuffer> {
        let column_of = |name: &str| -> Result<ArrayRef> {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| Error::Filter {
                    column: name.to_string(),
                    reason: "the column is not in the data".into(),
                })
        };
        let rows = batch.num_rows();
        match self {
            Predicate::Compare { column, op, value } => Ok(definite(&compare(
                column,
                column_of(column)?.as_ref(),
                *op,
                value,
            )?)),
            Predicate::In {
                column,
                values,
                negated,
            } => {
                let any_of = |array: &dyn Array| -> Result<BooleanBuffer> {
                    let mut acc = BooleanBuffer::new_unset(array.len());
                    for v in values {
                        acc = &acc | &definite(&compare(column, array, CmpOp::Eq, v)?);
                    }
                    Ok(acc)
                };
                let array = column_of(column)?;
                // A dictionary's values are tested once, then taken through its keys once.
                let acc = match array.as_any_dictionary_opt() {
                    Some(d) => {
                        let on_values = BooleanArray::new(any_of(d.values().as_ref())?, None);
                        definite(&through_keys(d, &on_values))
                    }
                    None => any_of(array.as_ref())?,
                };
                Ok(if *negated { !&acc } else { acc })
            }
            Predicate::IsNull { column, negated } => {
                let array = column_of(column)?;
                let valid = match array.logical_nulls() {
                    Some(nulls) => nulls.into_inner(),
                    None => BooleanBuffer::new_set(array.len()),
                };
                Ok(if *negated { valid } else { !&valid })
            }
            Predicate::And(children) => {
                let mut acc = BooleanBuffer::new_set(rows);
                for c in children {
                    acc = &acc & &c.matches(batch)?;
                }
                Ok(acc)
            }
            Predicate::Or(children) => {
                let mut acc = BooleanBuffer::new_unset(rows);
                for c in children {
                    acc = &acc | &c.matches(batch)?;
                }
                Ok(acc)
            }
        }
    }

    /// Per row group of `file`: false when the statistics prove no row can
    /// match (true when they do not, or are missing).
    pub fn may_match(&self, file: &IndexedFile) -> Result<Vec<bool>> {
        let groups = file.metadata().num_row_groups();
        let stats = |column: &str| -> Result<Option<GroupStats>> { group_stats(file, column) };
        let all = vec![true; groups];
        Ok(match self {
            Predicate::Compare { column, op, value } => match stats(column)? {
                None => all,
                Some(s) => s.may_compare(column, *op, value)?,
            },
            Predicate::In {
                column,
                values,
                negated: false,
            } => match stats(column)? {
                None => all,
                Some(s) => {
                    let mut acc = vec![false; groups];
                    for v in values {
                        let m = s.may_compare(column, CmpOp::Eq, v)?;
                        acc.iter_mut().zip(m).for_each(|(a, b)| *a |= b);
                    }
                    acc
                }
            },
            Predicate::In { negated: true, .. } => all,
            Predicate::IsNull { column, negated } => match stats(column)? {
                None => all,
                Some(s) => (0..groups)
                    .map(|g| {
                        let nulls = s.null_counts.is_valid(g).then(|| s.null_counts.value(g));
                        match (nulls, negated) {
                            (Some(0), false) => false,
                            (Some(n), true) => n < s.row_counts[g],
                            _ => true,
                        }
                    })
                    .collect(),
            },
            Predicate::And(children) => {
                let mut acc = all;
                for c in children {
                    acc.iter_mut()
                        .zip(c.may_match(file)?)
                        .for_each(|(a, b)| *a &= b);
                }
                acc
            }
            Predicate::Or(children) => {
                let mut acc = vec![false; groups];
                for c in children {
                    acc.iter_mut()
                        .zip(c.may_match(file)?)
                        .for_each(|(a, b)| *a |= b);
                }
                acc
            }
        })
    }
}

/// Min/max/null statistics of one column over a file's row groups.
struct GroupStats {
    mins: ArrayRef,
    maxes: ArrayRef,
    null_counts: UInt64Array,
    row_counts: Vec<u64>,
}

fn group_stats(file: &IndexedFile, column: &str) -> Result<Option<GroupStats>> {
    let metadata = file.metadata();
    let schema = file.reader_metadata.schema();
    let Ok(converter) =
        StatisticsConverter::try_new(column, schema, metadata.file_metadata().schema_descr())
    else {
        return Ok(None);
    };
    let groups = metadata.row_groups();
    let (Ok(mins), Ok(maxes), Ok(null_counts)) = (
        converter.row_group_mins(groups.iter()),
        converter.row_group_maxes(groups.iter()),
        converter.row_group_null_counts(groups.iter()),
    ) else {
        return Ok(None);
    };
    let row_counts = groups.iter().map(|g| g.num_rows().max(0) as u64).collect();
    Ok(Some(GroupStats {
        mins,
        maxes,
        null_counts,
        row_counts,
    }))
}

impl GroupStats {
    /// Per group: whether some value in [min, max] can satisfy `op value`.
    fn may_compare(&self, column: &str, op: CmpOp, value: &Scalar) -> Result<Vec<bool>> {
        let n = self.row_counts.len();
        // A statistic that does not compare (a type filters do not read) proves nothing.
        let test = |array: &ArrayRef, op: CmpOp| -> Vec<Option<bool>> {
            match compare(column, array.as_ref(), op, value) {
                Ok(mask) => mask.iter().collect(),
                Err(_) => vec![None; n],
            }
        };
        let (min_lt, min_le, min_gt, min_eq) = (
            test(&self.mins, CmpOp::Lt),
            test(&self.mins, CmpOp::Le),
            test(&self.mins, CmpOp::Gt),
            test(&self.mins, CmpOp::Eq),
        );
        let (max_lt, max_ge, max_gt, max_eq) = (
            test(&self.maxes, CmpOp::Lt),
            test(&self.maxes, CmpOp::Ge),
            test(&self.maxes, CmpOp::Gt),
            test(&self.maxes, CmpOp::Eq),
        );
        let floats = self.mins.data_type().is_floating();
        Ok((0..n)
            .map(|g| {
                // Each arm: the rows cannot match when the statistic proves it.
                let impossible = match op {
                    CmpOp::Eq => max_lt[g] == Some(true) || min_gt[g] == Some(true),
                    // Float statistics leave NaNs out, and a NaN is `!=` everything.
                    CmpOp::Ne => !floats && min_eq[g] == Some(true) && max_eq[g] == Some(true),
                    CmpOp::Lt => min_lt[g] == Some(false),
                    CmpOp::Le => min_le[g] == Some(false),
                    CmpOp::Gt => max_gt[g] == Some(false),
                    CmpOp::Ge => max_ge[g] == Some(false),
                };
                !impossible
            })
            .collect())
    }
}

/// A comparison's result with unknown (null) read as no match.
fn definite(mask: &BooleanArray) -> BooleanBuffer {
    match mask.nulls() {
        Some(valid) => mask.values() & valid.inner(),
        None => mask.values().clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{DictionaryArray, Int32Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let x: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), Some(2), None, Some(4)]));
        let s: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c", "b"]));
        let d: ArrayRef = Arc::new(
            vec!["u", "v", "u", "w"]
                .into_iter()
                .collect::<DictionaryArray<arrow_array::types::Int32Type>>(),
        );
        let schema = Schema::new(vec![
            Field::new("x", DataType::Int32, true),
            Field::new("s", DataType::Utf8, false),
            Field::new("d", d.data_type().clone(), false),
        ]);
        RecordBatch::try_new(Arc::new(schema), vec![x, s, d]).unwrap()
    }

    fn rows(p: Predicate) -> Vec<bool> {
        p.evaluate(&batch())
            .unwrap()
            .iter()
            .map(|v| v.unwrap())
            .collect()
    }

    fn cmp_(c: &str, op: CmpOp, v: Scalar) -> Predicate {
        Predicate::Compare {
            column: c.into(),
            op,
            value: v,
        }
    }

    #[test]
    fn comparisons_follow_sql_null_semantics() {
        assert_eq!(
            rows(cmp_("x", CmpOp::Gt, Scalar::Int(1))),
            [false, true, false, true]
        );
        assert_eq!(
            rows(cmp_("x", CmpOp::Ne, Scalar::Int(1))),
            [false, true, false, true]
        );
        assert_eq!(
            rows(cmp_("x", CmpOp::Lt, Scalar::Float(2.5))),
            [true, true, false, false]
        );
        assert_eq!(
            rows(cmp_("s", CmpOp::Eq, Scalar::Str("b".into()))),
            [false, true, false, true]
        );
        assert_eq!(
            rows(cmp_("d", CmpOp::Eq, Scalar::Str("u".into()))),
            [true, false, true, false]
        );
        let isnull = Predicate::IsNull {
            column: "x".into(),
            negated: false,
        };
        assert_eq!(rows(isnull), [false, false, true, false]);
        let notnull = Predicate::IsNull {
            column: "x".into(),
            negated: true,
        };
        assert_eq!(rows(notnull), [true, true, false, true]);
        let no_nulls = Predicate::IsNull {
            column: "s".into(),
            negated: false,
        };
        assert_eq!(rows(no_nulls), [false; 4]);
        let within = Predicate::In {
            column: "x".into(),
            values: vec![Scalar::Int(1), Scalar::Int(4)],
            negated: true,
        };
        // As in pyarrow: a null is not in the list, so `not in` keeps it.
        assert_eq!(rows(within), [false, true, true, false]);
        let or = Predicate::Or(vec![
            cmp_("x", CmpOp::Eq, Scalar::Int(1)),
            cmp_("s", CmpOp::Eq, Scalar::Str("c".into())),
        ]);
        assert_eq!(rows(or), [true, false, true, false]);
        let and = Predicate::And(vec![
            cmp_("x", CmpOp::Ge, Scalar::Int(2)),
            cmp_("s", CmpOp::Eq, Scalar::Str("b".into())),
        ]);
        assert_eq!(rows(and), [false, true, false, true]);
    }

    #[test]
    fn bad_literals_and_columns_are_errors_naming_the_column() {
        let e = cmp_("x", CmpOp::Eq, Scalar::Str("nope".into()))
            .evaluate(&batch())
            .unwrap_err();
        assert!(e.to_string().contains("\"x\""), "{e}");
        let e = cmp_("zz", CmpOp::Eq, Scalar::Int(1))
            .evaluate(&batch())
            .unwrap_err();
        assert!(e.to_string().contains("zz"), "{e}");
    }

    #[test]
    fn columns_are_listed_once() {
        let p = Predicate::And(vec![
            cmp_("a", CmpOp::Eq, Scalar::Int(1)),
            Predicate::Or(vec![
                cmp_("b", CmpOp::Eq, Scalar::Int(1)),
                cmp_("a", CmpOp::Lt, Scalar::Int(9)),
            ]),
        ]);
        assert_eq!(p.columns(), vec!["a".to_string(), "b".to_string()]);
    }
}
