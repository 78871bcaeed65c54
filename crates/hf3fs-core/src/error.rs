//! The one error type of hf3fs-core.
//!
//! Every variant carries the context a user needs to act on it (the mount, the
//! path as the caller spelled it, the fd). The Python binding maps variants to
//! the `OSError` subclass `os` would raise, so the errno is kept exact.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Result alias used throughout hf3fs-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by hf3fs-core. Cloneable (the OS error is shared), so one
/// failed read can be reported to every caller waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A system call failed. `path`/`path2` are the caller's paths (as `os` reports them).
    #[error("{op}{}: {source}", describe_paths(.path, .path2))]
    Os {
        op: &'static str,
        path: Option<OsString>,
        path2: Option<OsString>,
        #[source]
        source: Arc<io::Error>,
    },
    /// A client fd that is not open in this client.
    #[error("{op}: client fd {fd} is not open")]
    BadFd { op: &'static str, fd: i64 },
    /// The client's token does not allow a mutating call.
    #[error("{op} {path:?}: the token for mount '{mount}' has role '{role}', which may not modify the mount")]
    ReadOnly {
        op: &'static str,
        mount: String,
        role: &'static str,
        path: OsString,
    },
    /// A token the mount does not list.
    #[error("mount '{mount}' does not accept this token (it is not among the SHA-256 digests configured in {config})")]
    UnknownToken { mount: String, config: String },
    /// `as_super=True` with a token that is not a root token.
    #[error("as_super=True needs a token with role 'root' on mount '{mount}'; this token has role '{role}'")]
    NotSuper { mount: String, role: &'static str },
    /// An operation the client's privileges do not allow (e.g. giving a file away without super).
    #[error("{op} {path:?}: {reason}")]
    NotPermitted {
        op: &'static str,
        path: OsString,
        reason: String,
    },
    /// A mount name that is not configured.
    #[error("unknown mount '{name}'; configured mounts: {known} (from {config})")]
    UnknownMount {
        name: String,
        known: String,
        config: String,
    },
    /// A configuration file that cannot be read or parsed.
    #[error("hf3fs config {}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    /// A local path that lies under no configured mount root.
    #[error("{} is not under any configured mount (mounts: {known})", path.display())]
    NotOnMount { path: PathBuf, known: String },
    /// An argument, setting or environment variable with a value the call
    /// cannot accept; `argument` names it as the caller spelled it.
    #[error("{argument}: {reason}")]
    InvalidArgument { argument: String, reason: String },
    /// The machine's NUMA topology (hwloc) cannot be read, or memory cannot
    /// be bound to a node.
    #[error("NUMA placement (hwloc): {reason}")]
    Topology { reason: String },
    /// A task ended without a result: it panicked (the panic is in the log),
    /// or the pool it runs on could not start.
    #[error("{op}: {reason}")]
    TaskFailed { op: String, reason: String },
    /// A call the object's state does not allow (a result already taken).
    #[error("{op}: {reason}")]
    InvalidState { op: String, reason: String },
    /// A long call stopped because the caller asked it to (Ctrl-C).
    #[error("{op} interrupted")]
    Interrupted { op: &'static str },
    /// A task whose stop token fired before it ran.
    #[error("{op} cancelled: its stop token was triggered")]
    Cancelled { op: &'static str },
    /// An operation a file system does not offer.
    #[error("{op} {path:?}: not supported by the {fs} file system: {reason}")]
    Unsupported {
        op: &'static str,
        fs: &'static str,
        path: String,
        reason: String,
    },
    /// A URI that names no supported file system.
    #[error("cannot open URI {uri:?}: {reason}")]
    InvalidUri { uri: String, reason: String },
    /// A cached read outside every range given to the cache (strict mode).
    #[error("{path}: read of {len} bytes at offset {offset} is not inside any cached range")]
    CacheMiss { path: String, offset: u64, len: u64 },
    /// A request to an object store failed after the store client's own
    /// retries; names the object's URL and, for reads, the byte range.
    #[error("{op} {url}{}: {detail}", describe_range(.range))]
    Store {
        op: &'static str,
        url: String,
        range: Option<(u64, u64)>,
        errno: i32,
        detail: String,
    },
    /// A read that needs bytes past the end of the file.
    #[error("{path}: read of {len} bytes at offset {offset} goes past the end of the file ({size} bytes)")]
    ReadPastEnd {
        path: String,
        offset: u64,
        len: u64,
        size: u64,
    },
}

fn describe_paths(path: &Option<OsString>, path2: &Option<OsString>) -> String {
    match (path, path2) {
        (Some(p), Some(q)) => format!(" {:?} -> {:?}", p, q),
        (Some(p), None) => format!(" {:?}", p),
        _ => String::new(),
    }
}

fn describe_range(range: &Option<(u64, u64)>) -> String {
    match range {
        Some((start, end)) => format!(" (bytes {start}..{end})"),
        None => String::new(),
    }
}

impl Error {
    /// An invalid-argument error: `argument` as the caller spelled it, and why.
    pub fn invalid(argument: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            argument: argument.into(),
            reason: reason.into(),
        }
    }

    /// A task that ended without a result.
    pub fn task_failed(op: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::TaskFailed {
            op: op.into(),
            reason: reason.into(),
        }
    }

    /// An OS error for `op` on `path`.
    pub fn os(op: &'static str, path: impl Into<OsString>, source: impl Into<io::Error>) -> Self {
        Error::Os {
            op,
            path: Some(path.into()),
            path2: None,
            source: Arc::new(source.into()),
        }
    }

    /// An OS error for an operation with no path (an fd operation).
    pub fn os_nopath(op: &'static str, source: impl Into<io::Error>) -> Self {
        Error::Os {
            op,
            path: None,
            path2: None,
            source: Arc::new(source.into()),
        }
    }

    /// An OS error from a raw errno.
    pub fn errno(op: &'static str, path: impl Into<OsString>, errno: i32) -> Self {
        Self::os(op, path, io::Error::from_raw_os_error(errno))
    }

    /// The errno this error corresponds to, when it has one.
    pub fn raw_errno(&self) -> Option<i32> {
        match self {
            Error::Os { source, .. } => source.raw_os_error(),
            Error::BadFd { .. } => Some(libc::EBADF),
            Error::ReadOnly { .. } | Error::UnknownToken { .. } | Error::NotSuper { .. } => {
                Some(libc::EACCES)
            }
            Error::NotPermitted { .. } => Some(libc::EPERM),
            Error::Interrupted { .. } => Some(libc::EINTR),
            Error::Cancelled { .. } => Some(libc::ECANCELED),
            Error::Unsupported { .. } => Some(libc::ENOTSUP),
            Error::Store { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// The same error without file names (for calls whose `os` twin reports none).
    pub fn without_paths(self) -> Self {
        match self {
            Error::Os { op, source, .. } => Error::Os {
                op,
                path: None,
                path2: None,
                source,
            },
            other => other,
        }
    }

    /// Attach the caller's path to an OS error that was raised without one.
    pub fn with_path(self, p: impl Into<OsString>) -> Self {
        match self {
            Error::Os {
                op,
                path: None,
                path2,
                source,
            } => Error::Os {
                op,
                path: Some(p.into()),
                path2,
                source,
            },
            other => other,
        }
    }
}

/// The message `strerror(3)` gives for `errno`, the text `os` puts in `OSError.strerror`.
pub fn strerror(errno: i32) -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: `buf` is a valid, writable buffer of the length we pass; the XSI
    // strerror_r writes a NUL-terminated string into it (truncated if needed).
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return format!("Unknown error {errno}");
    }
    // SAFETY: strerror_r succeeded, so `buf` holds a NUL-terminated C string.
    let cstr = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    cstr.to_string_lossy().into_owned()
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::os_nopath("io", io::Error::from(e))
    }
}
