//! `column op literal` over Arrow arrays, compared the way pyarrow's compute
//! functions compare: numbers as numbers whatever their widths (IEEE floats:
//! a NaN satisfies only `!=`), strings and bytes bytewise, dates, times and
//! timestamps against ISO 8601 literals. A literal of another kind (a string
//! against an integer column) is an error naming the column, as in pyarrow.
//!
//! These few kernels are written against arrow-array alone: arrow-cast and
//! arrow-ord, which did the job before, were a quarter of a cold build.

use std::cmp::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type,
    Decimal64Type, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{AnyDictionaryArray, Array, BooleanArray};
use arrow_buffer::{i256, BooleanBuffer, NullBuffer};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use super::{CmpOp, Scalar};
use crate::error::{Error, Result};

impl CmpOp {
    /// Whether `lhs op rhs` holds when `lhs.cmp(rhs)` is `o`.
    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o.is_eq(),
            CmpOp::Ne => o.is_ne(),
            CmpOp::Lt => o.is_lt(),
            CmpOp::Le => o.is_le(),
            CmpOp::Gt => o.is_gt(),
            CmpOp::Ge => o.is_ge(),
        }
    }

    /// As [`CmpOp::holds`] for a partial order: unordered (a NaN) is `!=`.
    fn holds_partial(self, o: Option<Ordering>) -> bool {
        o.map_or(self == CmpOp::Ne, |o| self.holds(o))
    }
}

/// `array op value`, row by row; a null row gives null.
pub(super) fn compare(
    column: &str,
    array: &dyn Array,
    op: CmpOp,
    value: &Scalar,
) -> Result<BooleanArray> {
    if let Some(dictionary) = array.as_any_dictionary_opt() {
        let on_values = compare(column, dictionary.values().as_ref(), op, value)?;
        return Ok(through_keys(dictionary, &on_values));
    }
    let matches = match value {
        Scalar::Int(v) => integers(array, |x| op.holds(x.cmp(&i128::from(*v))))
            .or_else(|| decimals(array, i256::from_i128(i128::from(*v)), op))
            .or_else(|| floats(array, |x| op.holds_partial(x.partial_cmp(&(*v as f64))))),
        Scalar::Float(v) => floats(array, |x| op.holds_partial(x.partial_cmp(v))),
        Scalar::Bool(v) => (array.data_type() == &DataType::Boolean).then(|| {
            let b = array.as_boolean();
            BooleanBuffer::collect_bool(b.len(), |i| op.holds(b.value(i).cmp(v)))
        }),
        Scalar::Str(s) => match instant(column, array.data_type(), s)? {
            Some(t) => ticks(array, |x| op.holds(x.cmp(&t))),
            None => bytes(array, |x| op.holds(x.cmp(s.as_bytes()))),
        },
        Scalar::Bytes(b) => bytes(array, |x| op.holds(x.cmp(b.as_slice()))),
    };
    let values = matches.ok_or_else(|| Error::Filter {
        column: column.to_string(),
        reason: format!(
            "cannot compare a {} column with the literal {}",
            array.data_type(),
            literal(value)
        ),
    })?;
    Ok(BooleanArray::new(values, array.logical_nulls()))
}

fn literal(value: &Scalar) -> String {
    match value {
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Str(s) => format!("{s:?}"),
        Scalar::Bytes(b) => format!("b{:?}", String::from_utf8_lossy(b)),
    }
}

/// A result computed on a dictionary's values, taken to its rows.
pub(super) fn through_keys(
    dictionary: &dyn AnyDictionaryArray,
    on_values: &BooleanArray,
) -> BooleanArray {
    let n = dictionary.len();
    if dictionary.values().is_empty() {
        // Every key is null: nothing to look up.
        return BooleanArray::new(BooleanBuffer::new_unset(n), Some(NullBuffer::new_null(n)));
    }
    let keys = dictionary.normalized_keys();
    let values = BooleanBuffer::collect_bool(n, |i| on_values.value(keys[i]));
    let valid =
        BooleanBuffer::collect_bool(n, |i| dictionary.is_valid(i) && on_values.is_valid(keys[i]));
    BooleanArray::new(values, Some(NullBuffer::new(valid)))
}

/// `f` of every slot of a primitive array (a null slot's value is arbitrary;
/// the caller masks it).
fn each<T: ArrowPrimitiveType>(array: &dyn Array, f: impl Fn(T::Native) -> bool) -> BooleanBuffer {
    let values = array.as_primitive::<T>().values();
    BooleanBuffer::collect_bool(values.len(), |i| f(values[i]))
}

/// Integer columns, exactly (every width fits an i128).
fn integers(array: &dyn Array, f: impl Fn(i128) -> bool) -> Option<BooleanBuffer> {
    Some(match array.data_type() {
        DataType::Int8 => each::<Int8Type>(array, |x| f(x.into())),
        DataType::Int16 => each::<Int16Type>(array, |x| f(x.into())),
        DataType::Int32 => each::<Int32Type>(array, |x| f(x.into())),
        DataType::Int64 => each::<Int64Type>(array, |x| f(x.into())),
        DataType::UInt8 => each::<UInt8Type>(array, |x| f(x.into())),
        DataType::UInt16 => each::<UInt16Type>(array, |x| f(x.into())),
        DataType::UInt32 => each::<UInt32Type>(array, |x| f(x.into())),
        DataType::UInt64 => each::<UInt64Type>(array, |x| f(x.into())),
        _ => return None,
    })
}

/// Numeric columns as f64 (integers wider than 2^53 round, as a cast would).
fn floats(array: &dyn Array, f: impl Fn(f64) -> bool) -> Option<BooleanBuffer> {
    if let Some(m) = integers(array, |x| f(x as f64)) {
        return Some(m);
    }
    Some(match array.data_type() {
        DataType::Float16 => each::<Float16Type>(array, |x| f(x.to_f64())),
        DataType::Float32 => each::<Float32Type>(array, |x| f(x.into())),
        DataType::Float64 => each::<Float64Type>(array, f),
        DataType::Decimal32(_, s) => each::<Decimal32Type>(array, |x| f(unscale(x.into(), *s))),
        DataType::Decimal64(_, s) => each::<Decimal64Type>(array, |x| f(unscale(x.into(), *s))),
        DataType::Decimal128(_, s) => each::<Decimal128Type>(array, |x| f(unscale(x, *s))),
        DataType::Decimal256(_, s) => each::<Decimal256Type>(array, |x| {
            // Beyond i128 (38 digits) only the sign matters against an f64.
            let x = x
                .to_i128()
                .map_or(if x.is_negative() { f64::MIN } else { f64::MAX }, |x| {
                    unscale(x, *s)
                });
            f(x)
        }),
        _ => return None,
    })
}

/// A decimal's value from its unscaled integer.
fn unscale(raw: i128, scale: i8) -> f64 {
    raw as f64 / 10f64.powi(scale.into())
}

/// Decimal columns against an integer, exactly: both sides as 256-bit
/// integers at the column's scale.
fn decimals(array: &dyn Array, value: i256, op: CmpOp) -> Option<BooleanBuffer> {
    let scale = match array.data_type() {
        DataType::Decimal32(_, s)
        | DataType::Decimal64(_, s)
        | DataType::Decimal128(_, s)
        | DataType::Decimal256(_, s) => *s,
        _ => return None,
    };
    let ten = |n: u8| i256::from_i128(10).checked_pow(n.into());
    // `x op value` with x unscaled at `scale`: shift whichever side is short
    // of digits. A shift that overflows 256 bits leaves a number larger than
    // any decimal (76 digits at most), so the order is its sign.
    let order = move |x: i256| -> Ordering {
        if scale >= 0 {
            match ten(scale.unsigned_abs()).and_then(|t| value.checked_mul(t)) {
                Some(v) => x.cmp(&v),
                None if value.is_negative() => Ordering::Greater,
                None => Ordering::Less,
            }
        } else {
            match ten(scale.unsigned_abs()).and_then(|t| x.checked_mul(t)) {
                Some(x) => x.cmp(&value),
                None if x.is_negative() => Ordering::Less,
                None => Ordering::Greater,
            }
        }
    };
    let f = |x: i256| op.holds(order(x));
    Some(match array.data_type() {
        DataType::Decimal32(..) => each::<Decimal32Type>(array, |x| f(i256::from_i128(x.into()))),
        DataType::Decimal64(..) => each::<Decimal64Type>(array, |x| f(i256::from_i128(x.into()))),
        DataType::Decimal128(..) => each::<Decimal128Type>(array, |x| f(i256::from_i128(x))),
        _ => each::<Decimal256Type>(array, f),
    })
}

/// Date, time and timestamp columns as their stored integers.
fn ticks(array: &dyn Array, f: impl Fn(i64) -> bool) -> Option<BooleanBuffer> {
    use TimeUnit::*;
    Some(match array.data_type() {
        DataType::Date32 => each::<Date32Type>(array, |x| f(x.into())),
        DataType::Date64 => each::<Date64Type>(array, f),
        DataType::Time32(Second) => each::<Time32SecondType>(array, |x| f(x.into())),
        DataType::Time32(Millisecond) => each::<Time32MillisecondType>(array, |x| f(x.into())),
        DataType::Time64(Microsecond) => each::<Time64MicrosecondType>(array, f),
        DataType::Time64(Nanosecond) => each::<Time64NanosecondType>(array, f),
        DataType::Timestamp(Second, _) => each::<TimestampSecondType>(array, f),
        DataType::Timestamp(Millisecond, _) => each::<TimestampMillisecondType>(array, f),
        DataType::Timestamp(Microsecond, _) => each::<TimestampMicrosecondType>(array, f),
        DataType::Timestamp(Nanosecond, _) => each::<TimestampNanosecondType>(array, f),
        _ => return None,
    })
}

/// A string literal as the stored integer of a date, time or timestamp
/// column (`None` for other columns).
fn instant(column: &str, t: &DataType, s: &str) -> Result<Option<i64>> {
    let bad = |what: &str| Error::Filter {
        column: column.to_string(),
        reason: format!("the literal {s:?} is not {what} (the column is {t})"),
    };
    let utc = FixedOffset::east_opt(0);
    Ok(Some(match t {
        DataType::Date32 => {
            let date =
                NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad("a date (YYYY-MM-DD)"))?;
            date.and_time(NaiveTime::MIN)
                .and_utc()
                .timestamp()
                .div_euclid(86_400)
        }
        DataType::Date64 => {
            let (local, offset) = date_time(s).ok_or_else(|| bad("a date or date-time"))?;
            at_offset(local, offset.or(utc))
                .ok_or_else(|| bad("a date or date-time"))?
                .timestamp_millis()
        }
        DataType::Time32(unit) | DataType::Time64(unit) => {
            let time = ["%H:%M:%S%.f", "%H:%M"]
                .iter()
                .find_map(|f| NaiveTime::parse_from_str(s, f).ok())
                .ok_or_else(|| bad("a time (HH:MM[:SS[.fff]])"))?;
            let per_second = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            i64::from(time.num_seconds_from_midnight()) * per_second
                + i64::from(time.nanosecond()) / (1_000_000_000 / per_second)
        }
        DataType::Timestamp(unit, tz) => {
            let (local, offset) =
                date_time(s).ok_or_else(|| bad("a date or date-time (ISO 8601)"))?;
            // A literal without an offset is read in the column's zone, and a
            // zone-less column's times as UTC (as Arrow reads them).
            let zone = match tz.as_deref() {
                None => utc,
                Some(tz) => match (fixed_offset(tz), offset) {
                    (None, None) => {
                        return Err(Error::Filter {
                            column: column.to_string(),
                            reason: format!(
                                "the column's time zone {tz:?} is not a fixed offset: give \
                                 the literal {s:?} one (2024-01-01T00:00:00+01:00)"
                            ),
                        })
                    }
                    (zone, _) => zone,
                },
            };
            let at = at_offset(local, offset.or(zone))
                .ok_or_else(|| bad("a date or date-time (ISO 8601)"))?;
            match unit {
                TimeUnit::Second => at.timestamp(),
                TimeUnit::Millisecond => at.timestamp_millis(),
                TimeUnit::Microsecond => at.timestamp_micros(),
                TimeUnit::Nanosecond => at
                    .timestamp_nanos_opt()
                    .ok_or_else(|| bad("within nanosecond timestamps' range (1677-2262)"))?,
            }
        }
        _ => return Ok(None),
    }))
}

/// A time zone Arrow may name that is a fixed offset.
fn fixed_offset(tz: &str) -> Option<FixedOffset> {
    match tz {
        "UTC" | "Z" | "Etc/UTC" | "GMT" | "Etc/GMT" => FixedOffset::east_opt(0),
        _ => tz.parse().ok(),
    }
}

/// An ISO 8601 date or date-time (`T` or a space between), as its local
/// time and the offset it names, if any.
fn date_time(s: &str) -> Option<(NaiveDateTime, Option<FixedOffset>)> {
    let s = match s.as_bytes().get(10) {
        Some(b' ') => format!("{}T{}", &s[..10], &s[11..]),
        _ => s.to_string(),
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(&s) {
        return Some((at.naive_local(), Some(*at.offset())));
    }
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&s, f).ok())
        .or_else(|| {
            Some(
                NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .ok()?
                    .and_time(NaiveTime::MIN),
            )
        })?;
    Some((local, None))
}

fn at_offset(local: NaiveDateTime, offset: Option<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    local.and_local_timezone(offset?).single()
}

/// String and binary columns as bytes.
fn bytes(array: &dyn Array, f: impl Fn(&[u8]) -> bool) -> Option<BooleanBuffer> {
    let n = array.len();
    Some(match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            BooleanBuffer::collect_bool(n, |i| f(a.value(i).as_bytes()))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            BooleanBuffer::collect_bool(n, |i| f(a.value(i).as_bytes()))
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            BooleanBuffer::collect_bool(n, |i| f(a.value(i).as_bytes()))
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            BooleanBuffer::collect_bool(n, |i| f(a.value(i)))
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            BooleanBuffer::collect_bool(n, |i| f(a.value(i)))
        }
        DataType::BinaryView => {
            let a = array.as_binary_view();
            BooleanBuffer::collect_bool(n, |i| f(a.value(i)))
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            BooleanBuffer::collect_bool(n, |i| f(a.value(i)))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::Int8Type;
    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, DictionaryArray,
        FixedSizeBinaryArray, Float32Array, Float64Array, Int8Array, LargeStringArray,
        StringViewArray, Time32SecondArray, TimestampMicrosecondArray, TimestampSecondArray,
        UInt64Array,
    };

    use super::*;

    /// `array op value` as Option<bool> per row.
    fn rows(array: ArrayRef, op: CmpOp, value: Scalar) -> Vec<Option<bool>> {
        compare("c", array.as_ref(), op, &value)
            .unwrap()
            .iter()
            .collect()
    }

    fn err(array: ArrayRef, value: Scalar) -> String {
        compare("c", array.as_ref(), CmpOp::Eq, &value)
            .unwrap_err()
            .to_string()
    }

    const T: Option<bool> = Some(true);
    const F: Option<bool> = Some(false);

    #[test]
    fn integers_compare_exactly_across_widths_and_signs() {
        let big = Arc::new(UInt64Array::from(vec![u64::MAX, 0, 1 << 63]));
        assert_eq!(
            rows(big.clone(), CmpOp::Gt, Scalar::Int(i64::MAX)),
            [T, F, T]
        );
        assert_eq!(rows(big, CmpOp::Ge, Scalar::Int(-1)), [T, T, T]);
        let small = Arc::new(Int8Array::from(vec![Some(-128), None, Some(5)]));
        assert_eq!(
            rows(small.clone(), CmpOp::Lt, Scalar::Int(-127)),
            [T, None, F]
        );
        assert_eq!(rows(small, CmpOp::Ne, Scalar::Int(1000)), [T, None, T]);
    }

    #[test]
    fn floats_follow_ieee_a_nan_matches_only_not_equal() {
        let f: ArrayRef = Arc::new(Float64Array::from(vec![f64::NAN, 0.5, -0.0, 2.0]));
        assert_eq!(
            rows(f.clone(), CmpOp::Gt, Scalar::Float(0.25)),
            [F, T, F, T]
        );
        assert_eq!(rows(f.clone(), CmpOp::Eq, Scalar::Float(0.0)), [F, F, T, F]);
        assert_eq!(
            rows(f.clone(), CmpOp::Ne, Scalar::Float(f64::NAN)),
            [T, T, T, T]
        );
        assert_eq!(rows(f, CmpOp::Eq, Scalar::Float(f64::NAN)), [F, F, F, F]);
        // A float32 column against an integer literal compares as numbers.
        let f32s: ArrayRef = Arc::new(Float32Array::from(vec![1.5, 2.0, 3.0]));
        assert_eq!(rows(f32s.clone(), CmpOp::Ge, Scalar::Int(2)), [F, T, T]);
        // An integer column against a float literal: x < 2.5 keeps 2.
        let ints: ArrayRef = Arc::new(Int8Array::from(vec![2, 3]));
        assert_eq!(rows(ints, CmpOp::Lt, Scalar::Float(2.5)), [T, F]);
    }

    #[test]
    fn decimals_compare_exactly_with_integers_and_as_numbers_with_floats() {
        // 1.00, 1.01, -2.50 at scale 2.
        let d: ArrayRef = Arc::new(
            Decimal128Array::from(vec![100, 101, -250])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        assert_eq!(rows(d.clone(), CmpOp::Eq, Scalar::Int(1)), [T, F, F]);
        assert_eq!(rows(d.clone(), CmpOp::Gt, Scalar::Int(1)), [F, T, F]);
        assert_eq!(rows(d.clone(), CmpOp::Lt, Scalar::Float(-2.25)), [F, F, T]);
        // An integer no decimal of this precision reaches still orders.
        assert_eq!(rows(d.clone(), CmpOp::Lt, Scalar::Int(i64::MAX)), [T, T, T]);
        // Negative scale: 12300 stored as 123 at scale -2.
        let coarse: ArrayRef = Arc::new(
            Decimal128Array::from(vec![123])
                .with_precision_and_scale(5, -2)
                .unwrap(),
        );
        assert_eq!(rows(coarse.clone(), CmpOp::Eq, Scalar::Int(12300)), [T]);
        assert_eq!(rows(coarse, CmpOp::Gt, Scalar::Int(12299)), [T]);
    }

    #[test]
    fn strings_and_bytes_compare_bytewise_in_every_layout() {
        let want = [F, T, T];
        let value = || Scalar::Str("b".into());
        let large: ArrayRef = Arc::new(LargeStringArray::from(vec!["a", "b", "c"]));
        assert_eq!(rows(large, CmpOp::Ge, value()), want);
        let view: ArrayRef = Arc::new(StringViewArray::from(vec![
            "a",
            "b",
            "a long string, not inlined",
        ]));
        assert_eq!(rows(view, CmpOp::Ge, Scalar::Str("a l".into())), [F, T, T]);
        let binary: ArrayRef = Arc::new(BinaryArray::from(vec![&b"a"[..], b"b", b"c"]));
        assert_eq!(rows(binary.clone(), CmpOp::Ge, value()), want);
        assert_eq!(
            rows(binary, CmpOp::Eq, Scalar::Bytes(b"c".to_vec())),
            [F, F, T]
        );
        let fixed: ArrayRef =
            Arc::new(FixedSizeBinaryArray::try_from_iter(vec![b"ab", b"ba"].into_iter()).unwrap());
        assert_eq!(rows(fixed, CmpOp::Lt, Scalar::Bytes(b"b".to_vec())), [T, F]);
    }

    #[test]
    fn dictionaries_compare_their_values_with_null_keys_and_values() {
        let values: ArrayRef = Arc::new(arrow_array::StringArray::from(vec![
            Some("u"),
            None,
            Some("w"),
        ]));
        let keys = Int8Array::from(vec![Some(0), Some(1), None, Some(2), Some(0)]);
        let d: ArrayRef = Arc::new(DictionaryArray::<Int8Type>::try_new(keys, values).unwrap());
        assert_eq!(
            rows(d.clone(), CmpOp::Eq, Scalar::Str("u".into())),
            [T, None, None, F, T]
        );
        assert_eq!(
            rows(d, CmpOp::Gt, Scalar::Str("v".into())),
            [F, None, None, T, F]
        );
        let empty: ArrayRef = Arc::new(
            DictionaryArray::<Int8Type>::try_new(
                Int8Array::from(vec![None, None]),
                Arc::new(arrow_array::StringArray::from(Vec::<&str>::new())),
            )
            .unwrap(),
        );
        assert_eq!(
            rows(empty, CmpOp::Eq, Scalar::Str("u".into())),
            [None, None]
        );
    }

    #[test]
    fn dates_times_and_timestamps_take_iso_8601_literals() {
        let days: ArrayRef = Arc::new(Date32Array::from(vec![19723, 19724])); // 2024-01-01, -02
        assert_eq!(
            rows(days.clone(), CmpOp::Ge, Scalar::Str("2024-01-02".into())),
            [F, T]
        );
        assert!(err(days, Scalar::Str("Jan 2".into())).contains("is not a date"));

        let noon = 12 * 3600;
        let times: ArrayRef = Arc::new(Time32SecondArray::from(vec![noon - 1, noon]));
        assert_eq!(rows(times, CmpOp::Eq, Scalar::Str("12:00".into())), [F, T]);

        // 2024-01-01T00:00:00Z and one second later, in microseconds.
        let t0 = 1_704_067_200_000_000i64;
        let naive: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![t0, t0 + 1_000_000]));
        let at = |s: &str| Scalar::Str(s.into());
        assert_eq!(
            rows(naive.clone(), CmpOp::Eq, at("2024-01-01 00:00:01")),
            [F, T]
        );
        assert_eq!(rows(naive.clone(), CmpOp::Le, at("2024-01-01")), [T, F]);
        assert_eq!(
            rows(naive, CmpOp::Eq, at("2024-01-01T01:00:00+01:00")),
            [T, F]
        );

        let utc: ArrayRef =
            Arc::new(TimestampSecondArray::from(vec![t0 / 1_000_000]).with_timezone("UTC"));
        assert_eq!(rows(utc, CmpOp::Eq, at("2024-01-01T00:00:00")), [T]);
        let plus_one: ArrayRef =
            Arc::new(TimestampSecondArray::from(vec![t0 / 1_000_000]).with_timezone("+01:00"));
        assert_eq!(rows(plus_one, CmpOp::Eq, at("2024-01-01T01:00:00")), [T]);
        let paris: ArrayRef = Arc::new(
            TimestampSecondArray::from(vec![t0 / 1_000_000]).with_timezone("Europe/Paris"),
        );
        assert_eq!(
            rows(paris.clone(), CmpOp::Eq, at("2024-01-01T01:00:00+01:00")),
            [T]
        );
        assert!(err(paris, at("2024-01-01T01:00:00")).contains("not a fixed offset"));
    }

    #[test]
    fn a_literal_of_another_kind_is_an_error_naming_the_column() {
        let ints: ArrayRef = Arc::new(Int8Array::from(vec![1]));
        let e = err(ints.clone(), Scalar::Str("1".into()));
        assert!(
            e.contains("\"c\"") && e.contains("Int8") && e.contains("\"1\""),
            "{e}"
        );
        assert!(err(ints, Scalar::Bool(true)).contains("cannot compare"));
        let strings: ArrayRef = Arc::new(LargeStringArray::from(vec!["1"]));
        assert!(err(strings, Scalar::Int(1)).contains("cannot compare"));
        let bools: ArrayRef = Arc::new(BooleanArray::from(vec![true, false]));
        assert_eq!(rows(bools.clone(), CmpOp::Gt, Scalar::Bool(false)), [T, F]);
        assert!(err(bools, Scalar::Int(1)).contains("cannot compare"));
        let days: ArrayRef = Arc::new(Date32Array::from(vec![0]));
        assert!(err(days, Scalar::Int(0)).contains("cannot compare"));
    }
}
