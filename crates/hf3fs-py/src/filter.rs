//! Row filters as Python builds them (`_Filter`): `hf3fs/_filters.py`
//! checks pyarrow's DNF and builds the tree with these constructors.

use dataset::filter::{CmpOp, Predicate, Scalar};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat};

/// A row filter (one node of the tree `hf3fs.dataset.ParquetDataset(filter=)` becomes).
#[pyclass(name = "_Filter", module = "hf3fs._hf3fs", frozen, eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyFilter {
    pub(crate) inner: Predicate,
}

/// A literal of a comparison: bool, int, float, str or bytes, checked in
/// that order (a bool is not taken as an int; an int-like object with
/// `__index__` is an int; only Python floats are floats).
fn scalar_arg(column: &str, v: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Scalar::Bool(b.is_true()));
    }
    if let Ok(i) = v.extract::<i64>() {
        return Ok(Scalar::Int(i));
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(Scalar::Float(f.value()));
    }
    if let Ok(s) = v.extract::<String>() {
        return Ok(Scalar::Str(s));
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(Scalar::Bytes(b.as_bytes().to_vec()));
    }
    Err(PyValueError::new_err(format!(
        "filter on column {column:?}: unsupported literal {} (use bool, int, float, str or bytes)",
        v.repr().map(|r| r.to_string()).unwrap_or_default()
    )))
}

fn node(inner: Predicate) -> PyFilter {
    PyFilter { inner }
}

#[pymethods]
impl PyFilter {
    /// `column op value`, op one of `==`, `=`, `!=`, `<`, `<=`, `>`, `>=`.
    #[staticmethod]
    fn compare(column: String, op: &str, value: &Bound<'_, PyAny>) -> PyResult<PyFilter> {
        let op = CmpOp::parse(op).ok_or_else(|| {
            PyValueError::new_err(format!(
                "filter on column {column:?}: unknown operator {op:?}"
            ))
        })?;
        let value = scalar_arg(&column, value)?;
        Ok(node(Predicate::Compare { column, op, value }))
    }

    /// `column in values` (`not in` when `negated`).
    #[staticmethod]
    fn isin(column: String, values: Vec<Bound<'_, PyAny>>, negated: bool) -> PyResult<PyFilter> {
        let values = values
            .iter()
            .map(|v| scalar_arg(&column, v))
            .collect::<PyResult<_>>()?;
        Ok(node(Predicate::In {
            column,
            values,
            negated,
        }))
    }

    /// `column is null` (`is not null` when `negated`).
    #[staticmethod]
    fn isnull(column: String, negated: bool) -> PyFilter {
        node(Predicate::IsNull { column, negated })
    }

    /// True when every one of `children` is.
    #[staticmethod]
    fn all(children: Vec<PyFilter>) -> PyFilter {
        node(Predicate::And(
            children.into_iter().map(|c| c.inner).collect(),
        ))
    }

    /// True when one of `children` is.
    #[staticmethod]
    fn any(children: Vec<PyFilter>) -> PyFilter {
        node(Predicate::Or(
            children.into_iter().map(|c| c.inner).collect(),
        ))
    }

    /// The columns the filter reads.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.inner.columns()
    }

    fn __repr__(&self) -> String {
        format!("_Filter({:?})", self.inner)
    }
}
