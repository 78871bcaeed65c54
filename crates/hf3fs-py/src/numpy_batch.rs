//! Batches as numpy arrays, made here with rust-numpy: numbers are arrays
//! over the Arrow buffers themselves, each array keeping its memory's owner
//! alive, so Python never rebuilds or copies them.
//!
//! Read-only arrays share the batch's Arrow memory. Writable arrays (for
//! torch tensors, which training code may write into) take the memory over
//! when the batch held the only reference to it, and copy it otherwise, so
//! writing into one never changes another batch.
//!
//! Shapes: primitive columns are 1-D arrays (`numpy.ma.MaskedArray` with
//! nulls), fixed-size lists 2-D, variable lists `(values, offsets)` with
//! offsets from 0, structs dicts, and anything numpy has no type for
//! (strings, decimals, binary) object arrays.

use std::mem::size_of;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type, DecimalType,
    Int64Type,
};
use arrow_array::{Array, ArrayRef, GenericListArray, OffsetSizeTrait, RecordBatch};
use arrow_buffer::{ArrowNativeType, Buffer, MutableBuffer};
use arrow_schema::{DataType, TimeUnit};
use arrow_select::take::take;
use numpy::ndarray::{ArrayView1, ArrayViewMut1};
use numpy::{Element, PyArray1, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

/// Arrow memory that read-only numpy arrays view.
#[pyclass(frozen, module = "hf3fs._hf3fs")]
struct ArrowMemory {
    _buffer: Buffer,
}

/// Memory handed over to one writable numpy array.
#[pyclass(frozen, module = "hf3fs._hf3fs")]
struct OwnedMemory {
    _buffer: MutableBuffer,
}

/// Converts one batch's columns.
pub(crate) struct Converter<'py> {
    py: Python<'py>,
    writable: bool,
    masked: Option<Bound<'py, PyAny>>,
}

/// A batch as numpy arrays: ``columns`` maps each column's name to its
/// array (see the module docs for the shapes).
#[pyclass(name = "NumpyBatch", module = "hf3fs.dataset", frozen, get_all)]
pub struct NumpyBatch {
    /// Rows in the batch.
    num_rows: usize,
    /// The columns, by name.
    columns: Py<PyDict>,
}

impl NumpyBatch {
    pub(crate) fn new(py: Python<'_>, batch: RecordBatch, writable: bool) -> PyResult<NumpyBatch> {
        let num_rows = batch.num_rows();
        Ok(NumpyBatch {
            num_rows,
            columns: batch_to_numpy(py, batch, writable)?.unbind(),
        })
    }
}

/// `batch`'s columns as numpy arrays, by name.
pub(crate) fn batch_to_numpy<'py>(
    py: Python<'py>,
    batch: RecordBatch,
    writable: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let (schema, columns, _) = batch.into_parts();
    let mut converter = Converter::new(py, writable);
    let out = PyDict::new(py);
    for (field, column) in schema.fields().iter().zip(columns) {
        out.set_item(field.name(), converter.column(field.name(), column)?)?;
    }
    Ok(out)
}

fn unit(u: &TimeUnit) -> &'static str {
    match u {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}

impl<'py> Converter<'py> {
    /// A converter to read-only or writable arrays.
    pub(crate) fn new(py: Python<'py>, writable: bool) -> Converter<'py> {
        Converter {
            py,
            writable,
            masked: None,
        }
    }

    /// One column (consumed, so memory only it holds can be handed over).
    pub(crate) fn column(&mut self, name: &str, array: ArrayRef) -> PyResult<Bound<'py, PyAny>> {
        let invalid =
            |e: arrow_schema::ArrowError| PyValueError::new_err(format!("column {name:?}: {e}"));
        let nulls = array.logical_nulls().filter(|n| n.null_count() > 0);
        let values = match array.data_type().clone() {
            DataType::Int8 => self.numbers::<i8>(array)?,
            DataType::Int16 => self.numbers::<i16>(array)?,
            DataType::Int32 | DataType::Time32(_) => self.numbers::<i32>(array)?,
            DataType::Int64 | DataType::Time64(_) => self.numbers::<i64>(array)?,
            DataType::UInt8 => self.numbers::<u8>(array)?,
            DataType::UInt16 => self.numbers::<u16>(array)?,
            DataType::UInt32 => self.numbers::<u32>(array)?,
            DataType::UInt64 => self.numbers::<u64>(array)?,
            DataType::Float32 => self.numbers::<f32>(array)?,
            DataType::Float64 => self.numbers::<f64>(array)?,
            DataType::Float16 => self.numbers::<u16>(array)?.call_method1("view", ("<f2",))?,
            DataType::Timestamp(u, _) => self
                .numbers::<i64>(array)?
                .call_method1("view", (format!("<M8[{}]", unit(&u)),))?,
            DataType::Duration(u) => self
                .numbers::<i64>(array)?
                .call_method1("view", (format!("<m8[{}]", unit(&u)),))?,
            DataType::Date64 => self
                .numbers::<i64>(array)?
                .call_method1("view", ("<M8[ms]",))?,
            DataType::Date32 => {
                // numpy's datetime64[D] counts days in 64 bits; Date32 in 32.
                let days = array
                    .as_primitive::<Date32Type>()
                    .unary::<_, Int64Type>(i64::from);
                drop(array);
                self.numbers::<i64>(Arc::new(days))?
                    .call_method1("view", ("<M8[D]",))?
            }
            DataType::Boolean => {
                let values: Vec<bool> = array.as_boolean().values().iter().collect();
                PyArray1::from_vec(self.py, values).into_any()
            }
            DataType::Dictionary(..) => {
                let Some(d) = array.as_any_dictionary_opt() else {
                    return Err(PyValueError::new_err(format!(
                        "column {name:?}: dictionary keys that are not integers"
                    )));
                };
                let decoded = take(d.values().as_ref(), d.keys(), None).map_err(invalid)?;
                drop(array);
                return self.column(name, decoded);
            }
            DataType::List(_) => {
                let list = array.as_list::<i32>().clone();
                drop(array);
                return self.list(name, list);
            }
            DataType::LargeList(_) => {
                let list = array.as_list::<i64>().clone();
                drop(array);
                return self.list(name, list);
            }
            DataType::FixedSizeList(_, size) => {
                let list = array.as_fixed_size_list();
                let size = size.max(0) as usize;
                let child = list.values().slice(list.offset() * size, list.len() * size);
                drop(array);
                let child = self.column(name, child)?;
                return child.call_method1("reshape", ((-1i64, size as i64),));
            }
            DataType::Struct(fields) => {
                let out = PyDict::new(self.py);
                let children: Vec<ArrayRef> = array.as_struct().columns().to_vec();
                drop(array);
                for (f, c) in fields.iter().zip(children) {
                    out.set_item(f.name(), self.column(name, c)?)?;
                }
                return Ok(out.into_any());
            }
            _ => self.objects(name, &array)?,
        };
        match nulls {
            None => Ok(values),
            Some(nulls) => {
                let mask: Vec<bool> = nulls.iter().map(|valid| !valid).collect();
                let mask = PyArray1::from_vec(self.py, mask);
                let masked = match &self.masked {
                    Some(m) => m.clone(),
                    None => {
                        let m = self.py.import("numpy.ma")?.getattr("MaskedArray")?;
                        self.masked = Some(m.clone());
                        m
                    }
                };
                let kwargs = PyDict::new(self.py);
                kwargs.set_item("mask", mask)?;
                masked.call((values,), Some(&kwargs))
            }
        }
    }

    /// `(values, offsets)`, the offsets shifted to start at 0. The list is
    /// taken apart, so memory only it holds can be handed over.
    fn list<O: OffsetSizeTrait + Element>(
        &mut self,
        name: &str,
        list: GenericListArray<O>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (_, offsets, values, _) = list.into_parts();
        let (first, last) = (offsets[0].as_usize(), offsets[offsets.len() - 1].as_usize());
        let count = offsets.len();
        let offsets = if first == 0 {
            // The scalar buffer is sliced to this list's offsets.
            self.buffer::<O>(offsets.into_inner().into_inner(), 0, count)?
        } else {
            let start = offsets[0];
            let shifted: Vec<O> = offsets.iter().map(|&o| o - start).collect();
            PyArray1::from_vec(self.py, shifted).into_any()
        };
        let values = if first == 0 && last == values.len() {
            values
        } else {
            values.slice(first, last - first)
        };
        let values = self.column(name, values)?;
        Ok((values, offsets).into_pyobject(self.py)?.into_any())
    }

    /// A primitive array's values.
    fn numbers<T: ArrowNativeType + Element>(
        &mut self,
        array: ArrayRef,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = array.to_data();
        drop(array);
        let (offset, len) = (data.offset(), data.len());
        let buffer = data.buffers()[0].clone();
        drop(data);
        self.buffer::<T>(buffer, offset, len)
    }

    /// Elements `offset..offset + len` of `buffer`.
    fn buffer<T: ArrowNativeType + Element>(
        &mut self,
        buffer: Buffer,
        offset: usize,
        len: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let bytes = buffer.slice_with_length(offset * size_of::<T>(), len * size_of::<T>());
        drop(buffer);
        if self.writable {
            return match bytes.into_mutable() {
                Ok(mut owned) => {
                    let data = owned.typed_data_mut::<T>();
                    let view = ArrayViewMut1::from(data);
                    let ptr = view.as_ptr();
                    let memory = Bound::new(py, OwnedMemory { _buffer: owned })?;
                    // SAFETY: the array's data lives in `memory`'s buffer,
                    // which is its base object (kept alive as long as the
                    // array) and is never touched or resized from Rust again,
                    // so numpy is the only writer; the buffer's allocation
                    // did not move when it was put into `memory`.
                    let array = unsafe {
                        let view = ArrayView1::from_shape_ptr(len, ptr);
                        PyArray1::<T>::borrow_from_array(&view, memory.into_any())
                    };
                    Ok(array.into_any())
                }
                // Shared with another batch (or sliced): a copy of its own.
                Err(shared) => Ok(PyArray1::from_slice(py, shared.typed_data::<T>()).into_any()),
            };
        }
        let view = ArrayView1::from(bytes.typed_data::<T>());
        let ptr = view.as_ptr();
        let memory = Bound::new(py, ArrowMemory { _buffer: bytes })?;
        // SAFETY: the view points into `memory`'s buffer (the Arc moved, the
        // allocation did not), which is the array's base object and lives as
        // long as it; the array is made read-only before anyone sees it, as
        // the Arrow memory may be shared with other batches.
        let array = unsafe {
            let view = ArrayView1::from_shape_ptr(len, ptr);
            PyArray1::<T>::borrow_from_array(&view, memory.into_any())
        };
        let array = array.readwrite().make_nonwriteable();
        Ok(array.as_any().clone())
    }

    /// Python objects for arrays numpy has no native type for.
    fn objects(&mut self, column: &str, array: &ArrayRef) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let list = PyList::empty(py);
        match array.data_type() {
            DataType::Utf8 => append_all(&list, array.as_string::<i32>().iter())?,
            DataType::LargeUtf8 => append_all(&list, array.as_string::<i64>().iter())?,
            DataType::Utf8View => append_all(&list, array.as_string_view().iter())?,
            DataType::Binary => append_bytes(&list, array.as_binary::<i32>().iter())?,
            DataType::LargeBinary => append_bytes(&list, array.as_binary::<i64>().iter())?,
            DataType::BinaryView => append_bytes(&list, array.as_binary_view().iter())?,
            DataType::FixedSizeBinary(_) => {
                append_bytes(&list, array.as_fixed_size_binary().iter())?
            }
            DataType::Decimal32(p, s) => decimals::<Decimal32Type>(&list, array, *p, *s)?,
            DataType::Decimal64(p, s) => decimals::<Decimal64Type>(&list, array, *p, *s)?,
            DataType::Decimal128(p, s) => decimals::<Decimal128Type>(&list, array, *p, *s)?,
            DataType::Decimal256(p, s) => decimals::<Decimal256Type>(&list, array, *p, *s)?,
            DataType::Null => {
                for _ in 0..array.len() {
                    list.append(py.None())?;
                }
            }
            other => {
                return Err(crate::error::unsupported_type(
                    format!(
                        "column {column:?}: type {other} has no numpy form; use format=\"arrow\""
                    ),
                    column,
                    &other.to_string(),
                ))
            }
        }
        let objects: Vec<Py<PyAny>> = list.iter().map(Bound::unbind).collect();
        Ok(PyArray1::from_vec(py, objects).into_any())
    }
}

/// Append each item to `list` (`None` as Python's None).
fn append_all<'py, T: IntoPyObject<'py>>(
    list: &Bound<'py, PyList>,
    mut items: impl Iterator<Item = T>,
) -> PyResult<()> {
    items.try_for_each(|v| list.append(v))
}

/// Append each binary value to `list` as Python `bytes` (`None` as None).
fn append_bytes<'a>(
    list: &Bound<'_, PyList>,
    values: impl Iterator<Item = Option<&'a [u8]>>,
) -> PyResult<()> {
    append_all(list, values.map(|v| v.map(|b| PyBytes::new(list.py(), b))))
}

/// Decimal values as Python `decimal.Decimal`s, from Arrow's own formatting.
fn decimals<T: DecimalType>(
    list: &Bound<'_, PyList>,
    array: &ArrayRef,
    precision: u8,
    scale: i8,
) -> PyResult<()> {
    let decimal = list.py().import("decimal")?.getattr("Decimal")?;
    for v in array.as_primitive::<T>().iter() {
        match v {
            Some(v) => list.append(decimal.call1((T::format_decimal(v, precision, scale),))?)?,
            None => list.append(list.py().None())?,
        }
    }
    Ok(())
}
