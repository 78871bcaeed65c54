//! The Arrow PyCapsule interface (`__arrow_c_schema__`, `__arrow_c_array__`,
//! `__arrow_c_stream__`) over arrow's own C data interface: the capsules
//! hold arrow-rs' `FFI_*` structs, which a consumer (pyarrow, polars,
//! DuckDB) moves out, leaving their `release` null so dropping the capsule
//! frees nothing twice.
//!
//! A `requested_schema` is honoured as the interface asks, best effort: the
//! data is cast to it by pyarrow when pyarrow is installed and can cast the
//! types, and exported as it is otherwise.

use std::ffi::CStr;
use std::sync::Arc;

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{Array, RecordBatch, RecordBatchIterator};
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

/// Whether a consumer's `requested_schema` capsule asks for another type
/// than `field`'s.
fn asks_for_another_type(field: &Field, requested: &Bound<'_, PyCapsule>) -> PyResult<bool> {
    let pointer = requested.pointer_checked(Some(SCHEMA_CAPSULE))?;
    // SAFETY: a capsule named "arrow_schema" holds an ArrowSchema (the
    // interface's contract, checked by name above); it is only read here,
    // and it outlives this borrow, as the capsule does.
    let schema = unsafe { pointer.cast::<FFI_ArrowSchema>().as_ref() };
    let wanted = Field::try_from(schema).map_err(arrow_error)?;
    Ok(wanted.data_type() != field.data_type())
}

/// What a capsule export holds.
#[derive(Clone, Copy)]
enum Export {
    /// `(schema, array)` capsules.
    Array,
    /// A stream capsule.
    Stream,
}

/// The exported capsules, cast by pyarrow to the requested type when
/// pyarrow is installed and can cast it; as they are otherwise.
///
/// pyarrow's cast is the one a consumer would apply itself (and the one its
/// `pa.array(x, type=t)` needs from the producer); doing it here keeps
/// arrow-cast, a large part of a cold build, out of the extension.
fn cast_by_pyarrow<'py>(
    py: Python<'py>,
    kind: Export,
    exported: Bound<'py, PyAny>,
    requested: &Bound<'py, PyCapsule>,
) -> PyResult<Bound<'py, PyAny>> {
    let Ok(pa) = py.import("pyarrow") else {
        return Ok(exported);
    };
    let import = |class: &str, capsules: &Bound<'py, PyAny>| -> PyResult<Bound<'py, PyAny>> {
        let importer = pa.getattr(class)?.getattr("_import_from_c_capsule")?;
        match capsules.cast::<PyTuple>() {
            Ok(pair) => importer.call1(pair.clone()),
            Err(_) => importer.call1((capsules,)),
        }
    };
    // Best effort, as the interface asks: what pyarrow cannot do goes out as
    // it is (an interrupt still propagates).
    let tolerated = |e: &PyErr| e.is_instance_of::<pyo3::exceptions::PyException>(py);
    let (target, export) = match kind {
        Export::Array => (import("DataType", requested.as_any()), "__arrow_c_array__"),
        Export::Stream => (import("Schema", requested.as_any()), "__arrow_c_stream__"),
    };
    let target = match target {
        Ok(target) => target,
        Err(e) if tolerated(&e) => return Ok(exported),
        Err(e) => return Err(e),
    };
    // Importing moves the data out of our capsules: from here on it is
    // exported again from pyarrow's objects, cast or not.
    let data = match kind {
        Export::Array => import("Array", &exported)?,
        Export::Stream => import("RecordBatchReader", &exported)?.call_method0("read_all")?,
    };
    let data = match data.call_method1("cast", (target,)) {
        Ok(cast) => cast,
        Err(e) if tolerated(&e) => data,
        Err(e) => return Err(e),
    };
    data.call_method0(export)
}

/// `(schema, array)` capsules for `array` described by `field`, cast to the
/// requested schema when there is one that pyarrow can cast to.
pub fn array_capsules<'py>(
    py: Python<'py>,
    field: FieldRef,
    array: &dyn Array,
    requested_schema: Option<Bound<'py, PyCapsule>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let schema = schema_capsule(py, field.as_ref())?;
    let data = PyCapsule::new_with_value(py, FFI_ArrowArray::new(&array.to_data()), ARRAY_CAPSULE)?;
    let exported = PyTuple::new(py, [schema, data])?;
    match requested_schema {
        Some(requested) if asks_for_another_type(&field, &requested)? => {
            let cast = cast_by_pyarrow(py, Export::Array, exported.into_any(), &requested)?;
            Ok(cast.cast_into::<PyTuple>()?)
        }
        _ => Ok(exported),
    }
}

/// A stream capsule yielding `batch` once, cast to the requested schema
/// when there is one that pyarrow can cast to.
pub fn stream_capsule<'py>(
    py: Python<'py>,
    batch: RecordBatch,
    requested_schema: Option<Bound<'py, PyCapsule>>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let as_struct = Field::new("", DataType::Struct(batch.schema().fields().clone()), false);
    let schema: Arc<Schema> = batch.schema();
    let reader = RecordBatchIterator::new([Ok(batch)], schema);
    let stream = FFI_ArrowArrayStream::new(Box::new(reader));
    let exported = PyCapsule::new_with_value(py, stream, STREAM_CAPSULE)?;
    match requested_schema {
        Some(requested) if asks_for_another_type(&as_struct, &requested)? => {
            let cast = cast_by_pyarrow(py, Export::Stream, exported.into_any(), &requested)?;
            Ok(cast.cast_into::<PyCapsule>()?)
        }
        _ => Ok(exported),
    }
}
