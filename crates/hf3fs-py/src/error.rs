//! The one place hf3fs-core errors become Python exceptions.
//!
//! OS errors become `OSError(errno, strerror, filename, None, filename2)`;
//! CPython's `OSError.__new__` then picks the subclass `os` would raise
//! (`FileNotFoundError` for `ENOENT`, `PermissionError` for `EACCES`, ...).

use std::ffi::OsString;

use hf3fs_core::error::strerror;
use hf3fs_core::Error;
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};

/// An error a blocking call can return: how it becomes a Python exception,
/// and whether it means the call was interrupted (then the pending signal's
/// exception is raised instead).
pub trait IntoPyErr {
    /// The exception.
    fn into_pyerr(self) -> PyErr;
    /// The interrupted operation, when this is an interruption.
    fn interrupted(&self) -> Option<String>;
}

impl IntoPyErr for Error {
    fn into_pyerr(self) -> PyErr {
        to_pyerr(self)
    }
    fn interrupted(&self) -> Option<String> {
        match self {
            Error::Interrupted { op } => Some(op.to_string()),
            _ => None,
        }
    }
}

impl IntoPyErr for dataset::Error {
    fn into_pyerr(self) -> PyErr {
        dataset_error(self)
    }
    fn interrupted(&self) -> Option<String> {
        match self {
            dataset::Error::Interrupted(op) => Some(op.to_string()),
            dataset::Error::Io { source, .. } => source.interrupted(),
            _ => None,
        }
    }
}

/// Dataset errors: IO errors become the `OSError` subclass of their errno,
/// with the whole message (file and offset) and the file as `filename`;
/// a source without Parquet files is `FileNotFoundError`; damaged files,
/// schemas that differ and unsupported column types are the
/// `hf3fs.dataset` exceptions (`ValueError`s, defined in `hf3fs/_errors.py`)
/// with their fields; bad arguments and states that do not fit are
/// `ValueError`.
pub fn dataset_error(err: dataset::Error) -> PyErr {
    let message = err.to_string();
    match err {
        dataset::Error::Io { path, source, .. } => match source.raw_errno() {
            Some(errno) => os_error(errno, Some(message), Some(path.into()), None),
            None => PyValueError::new_err(message),
        },
        dataset::Error::NoFiles { source_path, .. } => {
            os_error(libc::ENOENT, Some(message), Some(source_path.into()), None)
        }
        dataset::Error::Interrupted(_) => PyKeyboardInterrupt::new_err(message),
        dataset::Error::Footer { path, offset, .. } => {
            dataset_exception(DatasetException::CorruptFile, message, |k| {
                k.set_item("path", path)?;
                k.set_item("offset", offset)
            })
        }
        dataset::Error::Decode {
            path,
            row_group,
            column,
            offset,
            ..
        } => dataset_exception(DatasetException::CorruptFile, message, |k| {
            k.set_item("path", path)?;
            k.set_item("row_group", row_group)?;
            k.set_item("column", column)?;
            k.set_item("offset", offset)
        }),
        dataset::Error::SchemaMismatch {
            path,
            first,
            column,
            ..
        } => dataset_exception(DatasetException::SchemaMismatch, message, |k| {
            k.set_item("path", path)?;
            k.set_item("first_path", first)?;
            k.set_item("column", column)
        }),
        dataset::Error::UnsupportedType {
            column, data_type, ..
        } => unsupported_type(message, &column, &data_type),
        _ => PyValueError::new_err(message),
    }
}

/// The `hf3fs.dataset` exception classes (`hf3fs/_errors.py`).
#[derive(Clone, Copy)]
enum DatasetException {
    CorruptFile,
    SchemaMismatch,
    UnsupportedType,
}

impl DatasetException {
    fn class_name(self) -> &'static str {
        match self {
            DatasetException::CorruptFile => "CorruptFileError",
            DatasetException::SchemaMismatch => "SchemaMismatchError",
            DatasetException::UnsupportedType => "UnsupportedTypeError",
        }
    }
}

/// `UnsupportedTypeError(message, column=, data_type=)`.
pub fn unsupported_type(message: String, column: &str, data_type: &str) -> PyErr {
    dataset_exception(DatasetException::UnsupportedType, message, |k| {
        k.set_item("column", column)?;
        k.set_item("data_type", data_type)
    })
}

/// An instance of `class` with `message` and the keyword fields `fields`
/// sets. Should the class not be importable (a broken install), the error
/// is still raised, as the `ValueError` its class derives from.
fn dataset_exception(
    class: DatasetException,
    message: String,
    fields: impl FnOnce(&Bound<'_, PyDict>) -> PyResult<()>,
) -> PyErr {
    Python::attach(|py| {
        let made = || -> PyResult<PyErr> {
            let class = py.import("hf3fs._errors")?.getattr(class.class_name())?;
            let kwargs = PyDict::new(py);
            fields(&kwargs)?;
            let exception = class.call((message.as_str(),), Some(&kwargs))?;
            Ok(PyErr::from_value(exception))
        };
        made().unwrap_or_else(|_| PyValueError::new_err(message.clone()))
    })
}
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// An `OSError` (of the matching subclass) with errno, strerror and filenames.
pub fn os_error(
    errno: i32,
    message: Option<String>,
    path: Option<OsString>,
    path2: Option<OsString>,
) -> PyErr {
    let text = message.unwrap_or_else(|| strerror(errno));
    match (path, path2) {
        (p, Some(q)) => PyOSError::new_err((errno, text, p, None::<i32>, q)),
        (Some(p), None) => PyOSError::new_err((errno, text, p)),
        (None, None) => PyOSError::new_err((errno, text)),
    }
}

/// Convert a core error into the exception `os` (or the reference client) raises.
pub fn to_pyerr(err: Error) -> PyErr {
    let errno = err.raw_errno();
    match err {
        Error::Os {
            path,
            path2,
            source,
            ..
        } => match source.raw_os_error() {
            Some(errno) => os_error(errno, None, path, path2),
            None => PyOSError::new_err(source.to_string()),
        },
        Error::BadFd { .. } => os_error(libc::EBADF, None, None, None),
        Error::ReadOnly { ref path, .. } | Error::NotPermitted { ref path, .. } => {
            let path = path.clone();
            os_error(
                errno.unwrap_or(libc::EACCES),
                Some(err.to_string()),
                Some(path),
                None,
            )
        }
        Error::UnknownToken { .. } | Error::NotSuper { .. } => os_error(
            errno.unwrap_or(libc::EACCES),
            Some(err.to_string()),
            None,
            None,
        ),
        Error::Interrupted { .. } => PyKeyboardInterrupt::new_err(err.to_string()),
        Error::Cancelled { .. } | Error::Unsupported { .. } => os_error(
            errno.unwrap_or(libc::EIO),
            Some(err.to_string()),
            None,
            None,
        ),
        Error::Store { ref url, .. } => {
            let url = url.clone();
            os_error(
                errno.unwrap_or(libc::EIO),
                Some(err.to_string()),
                Some(url.into()),
                None,
            )
        }
        // The machine's topology is the system's state, not the caller's value.
        Error::Topology { .. } => PyOSError::new_err(err.to_string()),
        // A panicked task or a result taken twice: a bug to report, not bad input.
        Error::TaskFailed { .. } | Error::InvalidState { .. } => {
            PyRuntimeError::new_err(err.to_string())
        }
        Error::UnknownMount { .. }
        | Error::Config { .. }
        | Error::NotOnMount { .. }
        | Error::InvalidArgument { .. }
        | Error::InvalidUri { .. }
        | Error::CacheMiss { .. }
        | Error::ReadPastEnd { .. } => PyValueError::new_err(err.to_string()),
    }
}
