//! The Arrow PyCapsule interface (`__arrow_c_schema__`, `__arrow_c_array__`,
//! `__arrow_c_stream__`) over arrow's own C data interface: the capsules
//! hold arrow-rs' `FFI_*` structs, which a consumer (pyarrow, polars,
//! DuckDB) moves out, leaving their `release` null so dropping the capsule
//! frees nothing twice.
//!
//! A `requested_schema` is honoured as the interface asks: the data is cast
//! to it when arrow can cast the types, and exported as it is otherwise.

use std::ffi::CStr;
use std::sync::Arc;

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchIterator, StructArray};
use arrow_cast::{can_cast_types, cast};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Schema};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

// The capsule names the Arrow PyCapsule interface specifies.
const SCHEMA_CAPSULE: &CStr = c"arrow_schema";
const ARRAY_CAPSULE: &CStr = c"arrow_array";
const STREAM_CAPSULE: &CStr = c"arrow_array_stream";

fn arrow_error(e: ArrowError) -> PyErr {
    PyValueError::new_err(format!("Arrow export: {e}"))
}

/// A capsule holding the schema of a field, or of a batch (as a struct).
pub fn schema_capsule<'py>(
    py: Python<'py>,
    schema: impl TryInto<FFI_ArrowSchema, Error = ArrowError>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let schema = schema.try_into().map_err(arrow_error)?;
    PyCapsule::new_with_value(py, schema, SCHEMA_CAPSULE)
}

/// The field a consumer's `requested_schema` capsule asks for, keeping
/// `field`'s name and metadata; `None` when none was requested or arrow
/// cannot cast to it.
fn requested_field(
    field: &Field,
    requested: Option<&Bound<'_, PyCapsule>>,
) -> PyResult<Option<FieldRef>> {
    let Some(capsule) = requested else {
        return Ok(None);
    };
    let pointer = capsule.pointer_checked(Some(SCHEMA_CAPSULE))?;
    // SAFETY: a capsule named "arrow_schema" holds an ArrowSchema (the
    // interface's contract, checked by name above); it is only read here,
    // and it outlives this borrow, as the capsule does.
    let schema = unsafe { pointer.cast::<FFI_ArrowSchema>().as_ref() };
    let wanted = Field::try_from(schema).map_err(arrow_error)?;
    if !can_cast_types(field.data_type(), wanted.data_type()) {
        return Ok(None);
    }
    Ok(Some(Arc::new(
        Field::new(
            field.name(),
            wanted.data_type().clone(),
            wanted.is_nullable(),
        )
        .with_metadata(field.metadata().clone()),
    )))
}

/// `(schema, array)` capsules for `array` described by `field`, cast to the
/// requested schema when there is one that arrow can cast to.
pub fn array_capsules<'py>(
    py: Python<'py>,
    field: FieldRef,
    array: &dyn Array,
    requested_schema: Option<Bound<'py, PyCapsule>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let (field, data) = match requested_field(&field, requested_schema.as_ref())? {
        Some(wanted) => {
            let cast = cast(array, wanted.data_type()).map_err(arrow_error)?;
            (wanted, cast.to_data())
        }
        None => (field, array.to_data()),
    };
    let schema = schema_capsule(py, field.as_ref())?;
    let array = PyCapsule::new_with_value(py, FFI_ArrowArray::new(&data), ARRAY_CAPSULE)?;
    PyTuple::new(py, [schema, array])
}

/// A stream capsule yielding `batch` once, cast to the requested schema
/// when there is one that arrow can cast to.
pub fn stream_capsule<'py>(
    py: Python<'py>,
    batch: RecordBatch,
    requested_schema: Option<Bound<'py, PyCapsule>>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let as_struct = Field::new("", DataType::Struct(batch.schema().fields().clone()), false);
    let batch = match requested_field(&as_struct, requested_schema.as_ref())? {
        Some(wanted) => {
            let array: ArrayRef = Arc::new(StructArray::from(batch));
            let cast = cast(&array, wanted.data_type()).map_err(arrow_error)?;
            let DataType::Struct(_) = cast.data_type() else {
                return Err(PyValueError::new_err(format!(
                    "Arrow export: a stream of batches cannot be cast to {}",
                    cast.data_type()
                )));
            };
            let struct_array = cast
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(|| PyValueError::new_err("Arrow export: cast lost its struct"))?;
            RecordBatch::from(struct_array)
        }
        None => batch,
    };
    let schema: Arc<Schema> = batch.schema();
    let reader = RecordBatchIterator::new([Ok(batch)], schema);
    let stream = FFI_ArrowArrayStream::new(Box::new(reader));
    PyCapsule::new_with_value(py, stream, STREAM_CAPSULE)
}
