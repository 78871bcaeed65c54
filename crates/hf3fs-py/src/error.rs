//! The one place hf3fs-core errors become Python exceptions.
//!
//! OS errors become `OSError(errno, strerror, filename, None, filename2)`;
//! CPython's `OSError.__new__` then picks the subclass `os` would raise
//! (`FileNotFoundError` for `ENOENT`, `PermissionError` for `EACCES`, ...).

use std::ffi::OsString;

use hf3fs_core::error::strerror;
use hf3fs_core::Error;
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyValueError};

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
/// a source without Parquet files is `FileNotFoundError`; bad data, bad
/// arguments and states that do not fit are `ValueError`.
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
        _ => PyValueError::new_err(message),
    }
}
use pyo3::prelude::*;

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
        Error::UnknownMount { .. }
        | Error::Config { .. }
        | Error::NotOnMount { .. }
        | Error::InvalidArgument(_)
        | Error::InvalidUri { .. }
        | Error::CacheMiss { .. }
        | Error::ReadPastEnd { .. } => PyValueError::new_err(err.to_string()),
    }
}
