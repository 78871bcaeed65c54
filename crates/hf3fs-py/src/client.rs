//! `hf3fs.Client`: the reference client's methods, converting arguments and
//! results; every call runs in `blocking` (GIL released, errors mapped).

use std::path::PathBuf;
use std::sync::Arc;

use hf3fs_core::engine::{EngineKind, EngineOptions};
use hf3fs_core::iov::{IoDirection, IoRequest, IovMemory};
use hf3fs_core::{Client, ClientOptions, Timespec};
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::blocking::blocking;
use crate::error::os_error;
use crate::iovec::{IovSlot, PyIovec};
use crate::types::{PyDir, PyDirent, PyStat};

/// Convert a path argument (`str` or `os.PathLike[str]`) the way `os` does.
pub fn path_arg(op: &str, obj: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    let path: PathBuf = obj.extract().map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!(
            "{op}: path should be string or os.PathLike, not {ty}"
        ))
    })?;
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(PyValueError::new_err(format!("{op}: embedded null byte")));
    }
    Ok(path)
}

fn non_negative(op: &str, what: &str, v: Option<i64>) -> PyResult<Option<u64>> {
    v.map(|n| non_negative_value(op, what, n)).transpose()
}

/// An integer argument that must not be negative; the error names it.
pub(crate) fn non_negative_value(op: &str, what: &str, v: i64) -> PyResult<u64> {
    u64::try_from(v)
        .map_err(|_| PyValueError::new_err(format!("{op}: {what} must be non-negative, got {v}")))
}

/// A `(a, b)` tuple argument, or None; anything else is a `TypeError` with `msg`.
fn pair_arg<'py>(
    v: Option<&Bound<'py, PyAny>>,
    msg: &str,
) -> PyResult<Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let tuple = v
        .cast::<PyTuple>()
        .ok()
        .filter(|t| t.len() == 2)
        .ok_or_else(|| PyTypeError::new_err(msg.to_string()))?;
    Ok(Some((tuple.get_item(0)?, tuple.get_item(1)?)))
}

/// A buffer argument: address and length of a C-contiguous buffer.
pub(crate) fn buffer_arg(
    op: &str,
    obj: &Bound<'_, PyAny>,
    writable: bool,
) -> PyResult<(PyUntypedBuffer, usize, usize)> {
    let buf = PyUntypedBuffer::get(obj).map_err(|_| {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("{op}: a bytes-like object is required, not '{ty}'"))
    })?;
    if writable && buf.readonly() {
        return Err(PyTypeError::new_err(format!("{op}: the buffer is read-only; pass a writable buffer (bytearray, memoryview, numpy array)")));
    }
    if !buf.is_c_contiguous() {
        return Err(PyBufferError::new_err(format!(
            "{op}: the buffer is not C-contiguous"
        )));
    }
    let (addr, len) = (buf.buf_ptr() as usize, buf.len_bytes());
    Ok((buf, addr, len))
}

/// Warn (``RuntimeWarning``) when an iovec could not be locked in RAM.
fn warn_unpinned(py: Python<'_>, mem: &IovMemory) -> PyResult<()> {
    match mem.pin_warning() {
        None => Ok(()),
        Some(msg) => {
            let category = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
            let msg = std::ffi::CString::new(msg).unwrap_or_default();
            PyErr::warn(py, &category, &msg, 1)
        }
    }
}

/// A client of one mount: POSIX-like calls on server paths, client fds,
/// shared-memory iovecs and batched `preadv`/`pwritev`.
///
/// Parameters
/// ----------
/// mount_name : str
///     A configured mount (``local`` is the embedded default).
/// token : str
///     The access token; the mount's config lists the SHA-256 of the tokens it accepts.
/// as_super : bool, default False
///     Act as super (needs a token with role ``root``).
/// io_engine : {"auto", "uring", "threads"}, optional
///     How batched ``preadv``/``pwritev`` issue IO: io_uring rings on IO
///     threads, or blocking calls on IO threads; ``auto`` picks io_uring when
///     the kernel allows it. Default: ``$HF3FS_IO_ENGINE``, else the config
///     file's ``[io] engine``, else ``auto``.
/// io_threads : int, optional
///     IO threads one batch of this client may use; the threads are the
///     process's (one pool for every client, started on the first parallel
///     batch, grown to the largest count a client asks for). Default:
///     ``$HF3FS_IO_THREADS``, else ``[io] threads``, else one per CPU (2 to 16).
/// io_queue_depth : int, optional
///     Requests each IO thread keeps in flight with io_uring. Default:
///     ``$HF3FS_IO_QUEUE_DEPTH``, else ``[io] queue_depth``, else 64.
#[pyclass(name = "Client", module = "hf3fs", frozen)]
pub struct PyClient {
    pub(crate) inner: Arc<Client>,
}

#[pymethods]
impl PyClient {
    #[new]
    #[pyo3(signature = (mount_name, token, *, as_super=false, io_engine=None, io_threads=None, io_queue_depth=None))]
    fn new(
        py: Python<'_>,
        mount_name: String,
        token: String,
        as_super: bool,
        io_engine: Option<String>,
        io_threads: Option<i64>,
        io_queue_depth: Option<i64>,
    ) -> PyResult<Self> {
        let engine = io_engine
            .map(|e| e.parse::<EngineKind>())
            .transpose()
            .map_err(|e| PyValueError::new_err(format!("Client: io_engine: {e}")))?;
        let positive = |name: &str, v: Option<i64>| -> PyResult<Option<u32>> {
            v.map(|n| {
                u32::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                    PyValueError::new_err(format!("Client: {name} must be positive, got {n}"))
                })
            })
            .transpose()
        };
        let opts = ClientOptions {
            as_super,
            resolve_mode: None,
            io: EngineOptions {
                engine,
                threads: positive("io_threads", io_threads)?.map(|n| n as usize),
                queue_depth: positive("io_queue_depth", io_queue_depth)?,
            },
        };
        let client = blocking(py, |_| Client::open(&mount_name, &token, &opts))?;
        Ok(PyClient {
            inner: Arc::new(client),
        })
    }

    /// The IO engine batches run on: ``"uring"`` or ``"threads"``.
    #[getter]
    fn io_engine(&self) -> &'static str {
        self.inner.engine().kind().as_str()
    }

    /// IO threads of the engine.
    #[getter]
    fn io_threads(&self) -> usize {
        self.inner.engine().threads()
    }

    /// Requests each IO thread keeps in flight (io_uring).
    #[getter]
    fn io_queue_depth(&self) -> u32 {
        self.inner.engine().queue_depth()
    }

    /// The mount's name.
    #[getter]
    fn mount_name(&self) -> &str {
        self.inner.mount_name()
    }

    /// The mount root on this machine.
    #[getter]
    fn mount_root(&self) -> PathBuf {
        self.inner.mount_root().to_path_buf()
    }

    /// The token's role on the mount: ``read``, ``write`` or ``root``.
    #[getter]
    fn role(&self) -> &'static str {
        self.inner.role().as_str()
    }

    /// Whether the client acts as super.
    #[getter]
    fn as_super(&self) -> bool {
        self.inner.is_super()
    }

    /// Drop the page cache of ``[offset, offset+length)`` of a client fd (0 = to the end).
    #[pyo3(signature = (fd, offset=0, length=0))]
    fn _drop_cache(&self, py: Python<'_>, fd: i64, offset: u64, length: u64) -> PyResult<()> {
        blocking(py, |_| self.inner.drop_cache(fd, offset, length))
    }

    /// The client's current directory (a server path).
    fn getcwd(&self, py: Python<'_>) -> PyResult<std::ffi::OsString> {
        blocking(py, |_| self.inner.cwd())
    }

    fn __repr__(&self) -> String {
        format!(
            "<hf3fs.Client mount={:?} root={:?} role={}>",
            self.inner.mount_name(),
            self.inner.mount_root(),
            self.inner.role()
        )
    }

    /// Change the client's current directory.
    #[pyo3(signature = (path, /))]
    fn chdir(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let path = path_arg("chdir", path)?;
        blocking(py, |_| self.inner.chdir(&path))
    }

    /// Change permission bits of a file.
    #[pyo3(signature = (path, mode, *, dir_fd=None, follow_symlinks=true))]
    fn chmod(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        mode: u32,
        dir_fd: Option<i64>,
        follow_symlinks: bool,
    ) -> PyResult<()> {
        let path = path_arg("chmod", path)?;
        blocking(py, |_| {
            self.inner.chmod(&path, mode, dir_fd, follow_symlinks)
        })
    }

    /// Change owner and group of a file (-1 keeps the current one).
    #[pyo3(signature = (path, uid, gid, *, dir_fd=None, follow_symlinks=true))]
    fn chown(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        uid: i64,
        gid: i64,
        dir_fd: Option<i64>,
        follow_symlinks: bool,
    ) -> PyResult<()> {
        let path = path_arg("chown", path)?;
        blocking(py, |_| {
            self.inner.chown(&path, uid, gid, dir_fd, follow_symlinks)
        })
    }

    /// Close a client fd.
    #[pyo3(signature = (fd, /))]
    fn close(&self, py: Python<'_>, fd: i64) -> PyResult<()> {
        blocking(py, |_| self.inner.close(fd))
    }

    /// Create (or truncate) a file for writing and return its client fd.
    #[pyo3(signature = (path, mode=0o666, *, dir_fd=None, excl=false))]
    fn creat(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        mode: u32,
        dir_fd: Option<i64>,
        excl: bool,
    ) -> PyResult<i64> {
        let path = path_arg("creat", path)?;
        blocking(py, |_| self.inner.creat(&path, mode, dir_fd, excl))
    }

    /// Status of an open client fd.
    #[pyo3(signature = (fd, /))]
    fn fstat(&self, py: Python<'_>, fd: i64) -> PyResult<PyStat> {
        let st = blocking(py, |_| self.inner.fstat(fd))?;
        Ok(PyStat { inner: st })
    }

    /// Truncate an open file to `length` bytes.
    #[pyo3(signature = (fd, length, /))]
    fn ftruncate(&self, py: Python<'_>, fd: i64, length: i64) -> PyResult<()> {
        blocking(py, |_| self.inner.ftruncate(fd, length))
    }

    /// Allocate shared memory for batched IO.
    ///
    /// Parameters
    /// ----------
    /// bytes : int
    ///     Size in bytes (> 0).
    /// numa : int, default -1
    ///     NUMA node to bind the memory to; -1 binds none.
    /// global : bool, default False
    ///     Whether other processes may open it with a handle (``sharedIovecHandle``).
    ///     ``global`` is a Python keyword: pass ``**{"global": True}`` or ``global_=True``.
    /// block_size : int, default 0
    ///     Split the memory into blocks of this size; an IO may not cross a block.
    #[pyo3(
        signature = (bytes, *, numa=-1, block_size=0, **options),
        text_signature = "($self, /, bytes, *, numa=-1, block_size=0, **options)"
    )]
    fn iovalloc(
        &self,
        py: Python<'_>,
        bytes: i64,
        numa: i32,
        block_size: i64,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyIovec> {
        let mut global = false;
        for (key, value) in options.into_iter().flatten() {
            match key.extract::<String>()?.as_str() {
                "global" | "global_" => global = value.is_truthy()?,
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "iovalloc() got an unexpected keyword argument '{other}'"
                    )))
                }
            }
        }
        let len = usize::try_from(bytes)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                PyValueError::new_err(format!("iovalloc: bytes must be positive, got {bytes}"))
            })?;
        let block = usize::try_from(block_size).map_err(|_| {
            PyValueError::new_err(format!(
                "iovalloc: block_size must be >= 0, got {block_size}"
            ))
        })?;
        let mem = blocking(py, |_| IovMemory::alloc(len, block, numa))?;
        warn_unpinned(py, &mem)?;
        Ok(PyIovec::root(IovSlot::new(mem, global), len))
    }

    /// Free an iovec's memory (refused while memoryviews or arrays of it exist).
    #[pyo3(signature = (iov, /))]
    fn iovfree(&self, iov: &Bound<'_, PyIovec>) -> PyResult<()> {
        iov.get().free()
    }

    /// Reposition a client fd (`how` is an ``os.SEEK_*`` value); returns the new offset.
    #[pyo3(signature = (fd, pos, how, *, readahead=None))]
    fn lseek(
        &self,
        py: Python<'_>,
        fd: i64,
        pos: i64,
        how: i32,
        readahead: Option<i64>,
    ) -> PyResult<u64> {
        let readahead = non_negative("lseek", "readahead", readahead)?;
        blocking(py, |_| self.inner.lseek(fd, pos, how, readahead))
    }

    /// Create a directory; with ``recursive``, its missing parents too.
    #[pyo3(signature = (path, mode=0o777, *, dir_fd=None, recursive=false))]
    fn mkdir(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        mode: u32,
        dir_fd: Option<i64>,
        recursive: bool,
    ) -> PyResult<()> {
        let path = path_arg("mkdir", path)?;
        blocking(py, |_| self.inner.mkdir(&path, mode, dir_fd, recursive))
    }

    /// Open a file on the mount and return a client fd (not an OS fd).
    ///
    /// Paths are server paths: ``/`` is the root of the mount (see ``hf3fs.fuse.serverPath``).
    #[pyo3(signature = (path, flags, mode=0o666, *, dir_fd=None))]
    fn open(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        flags: i32,
        mode: u32,
        dir_fd: Option<i64>,
    ) -> PyResult<i64> {
        let path = path_arg("open", path)?;
        blocking(py, |_| self.inner.open_file(&path, flags, mode, dir_fd))
    }

    /// Map an iovec another process shared with ``sharedIovecHandle``.
    #[pyo3(signature = (iovh, /))]
    #[allow(non_snake_case)]
    fn openIovecHandle(&self, py: Python<'_>, iovh: String) -> PyResult<PyIovec> {
        let mem = blocking(py, |_| IovMemory::open_handle(&iovh))?;
        warn_unpinned(py, &mem)?;
        let len = mem.len();
        Ok(PyIovec::root(IovSlot::new(mem, true), len))
    }

    /// Open the files behind handles from ``sharedFileHandles``; returns client fds.
    #[pyo3(signature = (fhs, /))]
    #[allow(non_snake_case)]
    fn openWithFileHandles(&self, py: Python<'_>, fhs: Vec<u128>) -> PyResult<Vec<i64>> {
        blocking(py, |_| self.inner.open_with_file_handles(&fhs))
    }

    /// Open a directory stream for ``readdir``.
    #[pyo3(signature = (name, *, dir_fd=None))]
    fn opendir(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        dir_fd: Option<i64>,
    ) -> PyResult<PyDir> {
        let path = path_arg("opendir", name)?;
        let dir = blocking(py, |_| self.inner.opendir(&path, dir_fd))?;
        Ok(PyDir {
            inner: Arc::new(dir),
        })
    }

    /// Batched read: each entry is ``(iovec, fd, offset)``; reads ``len(iovec)``
    /// bytes of ``fd`` at ``offset`` into the iovec. Returns the byte count per
    /// entry (short only at end of file). If an entry fails, raises ``OSError``
    /// naming the first failed entry, with every entry's result (bytes or
    /// ``-errno``) in its ``results`` attribute.
    ///
    /// The batch runs in parallel on the client's IO engine (``io_engine``)
    /// with the GIL released; entries next to each other in the list that are
    /// contiguous in one file are coalesced into one vectored call, and
    /// entries above 1 MiB are split across IO threads.
    #[pyo3(signature = (iovs, /))]
    fn preadv(&self, py: Python<'_>, iovs: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
        self.batch(py, "preadv", IoDirection::Read, iovs)
    }

    /// Batched write of iovec contents, entries, results, errors and parallel
    /// execution as in ``preadv`` (the order of overlapping writes is unspecified).
    #[pyo3(signature = (iovs, /))]
    fn pwritev(&self, py: Python<'_>, iovs: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
        self.batch(py, "pwritev", IoDirection::Write, iovs)
    }

    /// Read from a client fd into a writable buffer; returns the byte count (0 at EOF).
    #[pyo3(signature = (fd, buf, *, readahead=None))]
    fn read(
        &self,
        py: Python<'_>,
        fd: i64,
        buf: &Bound<'_, PyAny>,
        readahead: Option<i64>,
    ) -> PyResult<usize> {
        let readahead = non_negative("read", "readahead", readahead)?;
        let (_view, addr, len) = buffer_arg("read", buf, true)?;
        blocking(py, |_| {
            // SAFETY: `_view` holds the buffer export for the whole call, so the
            // memory stays valid and writable; nothing else in Rust aliases it.
            let slice = unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, len) };
            self.inner.read(fd, slice, readahead)
        })
    }

    /// The next entry of a directory stream, or None at the end.
    #[pyo3(signature = (dir, /))]
    fn readdir(&self, py: Python<'_>, dir: &Bound<'_, PyDir>) -> PyResult<Option<PyDirent>> {
        let handle = dir.get().inner.clone();
        let entry = blocking(py, move |_| handle.next_entry())?;
        Ok(entry.map(PyDirent::new))
    }

    /// The canonical path of `path` on the mount (symlinks resolved); with
    /// ``absolute=True``, the path on this machine.
    #[pyo3(signature = (path, *, dir_fd=None, absolute=false))]
    fn realpath(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        dir_fd: Option<i64>,
        absolute: bool,
    ) -> PyResult<std::ffi::OsString> {
        let path = path_arg("realpath", path)?;
        blocking(py, |_| self.inner.realpath(&path, dir_fd, absolute))
    }

    /// Remove a file; with ``recursive``, also a directory and its contents.
    #[pyo3(signature = (path, *, dir_fd=None, recursive=false))]
    fn remove(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        dir_fd: Option<i64>,
        recursive: bool,
    ) -> PyResult<()> {
        let path = path_arg("remove", path)?;
        blocking(py, |cancel| {
            self.inner.remove(&path, dir_fd, recursive, cancel)
        })
    }

    /// Rename `src` to `dst`.
    #[pyo3(signature = (src, dst, *, src_dir_fd=None, dst_dir_fd=None))]
    fn rename(
        &self,
        py: Python<'_>,
        src: &Bound<'_, PyAny>,
        dst: &Bound<'_, PyAny>,
        src_dir_fd: Option<i64>,
        dst_dir_fd: Option<i64>,
    ) -> PyResult<()> {
        let src = path_arg("rename", src)?;
        let dst = path_arg("rename", dst)?;
        blocking(py, |_| {
            self.inner.rename(&src, &dst, src_dir_fd, dst_dir_fd)
        })
    }

    /// Restart a directory stream from its first entry.
    #[pyo3(signature = (dir, /))]
    fn rewinddir(&self, dir: &Bound<'_, PyDir>) {
        dir.get().inner.rewind();
    }

    /// Remove an empty directory; with ``recursive``, a directory tree.
    #[pyo3(signature = (path, *, dir_fd=None, recursive=false))]
    fn rmdir(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        dir_fd: Option<i64>,
        recursive: bool,
    ) -> PyResult<()> {
        let path = path_arg("rmdir", path)?;
        blocking(py, |cancel| {
            self.inner.rmdir(&path, dir_fd, recursive, cancel)
        })
    }

    /// Handles (ints) for client fds that another process opens with
    /// ``openWithFileHandles``; only read-only fds and directories can be shared.
    #[pyo3(signature = (fds, /))]
    #[allow(non_snake_case)]
    fn sharedFileHandles(&self, py: Python<'_>, fds: Vec<i64>) -> PyResult<Vec<u128>> {
        blocking(py, |_| self.inner.shared_file_handles(&fds))
    }

    /// A handle (str) another process of the same user opens with ``openIovecHandle``.
    #[pyo3(signature = (iov, /))]
    #[allow(non_snake_case)]
    fn sharedIovecHandle(&self, iov: &Bound<'_, PyIovec>) -> PyResult<String> {
        let iov = iov.get();
        if iov.is_sub() {
            return Err(PyValueError::new_err(
                "sharedIovecHandle takes an iovec from iovalloc, not a sub-iovec",
            ));
        }
        if !iov.slot.global {
            return Err(PyValueError::new_err(
                "sharedIovecHandle: this iovec is private; allocate it with iovalloc(..., global=True) to share it",
            ));
        }
        Ok(iov.memory()?.handle())
    }

    /// Status of a path.
    #[pyo3(signature = (path, *, dir_fd=None, follow_symlinks=true))]
    fn stat(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        dir_fd: Option<i64>,
        follow_symlinks: bool,
    ) -> PyResult<PyStat> {
        let path = path_arg("stat", path)?;
        let st = blocking(py, |_| self.inner.stat(&path, dir_fd, follow_symlinks))?;
        Ok(PyStat { inner: st })
    }

    /// Set access and modification times: ``times=(atime, mtime)`` in seconds,
    /// or ``ns=(atime_ns, mtime_ns)``; neither means now.
    #[pyo3(signature = (path, *, times=None, ns=None, dir_fd=None, follow_symlinks=true))]
    fn utime(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        times: Option<&Bound<'_, PyAny>>,
        ns: Option<&Bound<'_, PyAny>>,
        dir_fd: Option<i64>,
        follow_symlinks: bool,
    ) -> PyResult<()> {
        let path = path_arg("utime", path)?;
        let times = pair_arg(
            times,
            "utime: 'times' must be either a tuple of two ints or None",
        )?
        .map(|(a, m)| PyResult::Ok((a.extract::<f64>()?, m.extract::<f64>()?)))
        .transpose()?;
        let ns = pair_arg(ns, "utime: 'ns' must be a tuple of two ints")?
            .map(|(a, m)| PyResult::Ok((a.extract::<i128>()?, m.extract::<i128>()?)))
            .transpose()?;
        let stamps = match (times, ns) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "utime: you may specify either 'times' or 'ns' but not both",
                ))
            }
            (Some((a, m)), None) => {
                let conv = |t: f64| {
                    Timespec::from_f64(t)
                        .ok_or_else(|| PyValueError::new_err(format!("utime: invalid time {t}")))
                };
                Some((conv(a)?, conv(m)?))
            }
            (None, Some((a, m))) => {
                let conv = |t: i128| {
                    Timespec::from_nanos(t).ok_or_else(|| {
                        PyValueError::new_err(format!("utime: time {t} ns is out of range"))
                    })
                };
                Some((conv(a)?, conv(m)?))
            }
            (None, None) => None,
        };
        blocking(py, |_| {
            self.inner.utime(&path, stamps, dir_fd, follow_symlinks)
        })
    }

    /// Write a buffer at the fd's position; returns the byte count. With
    /// ``flush=True`` the data is on stable storage when the call returns.
    #[pyo3(signature = (fd, buf, *, flush=false))]
    fn write(
        &self,
        py: Python<'_>,
        fd: i64,
        buf: &Bound<'_, PyAny>,
        flush: bool,
    ) -> PyResult<usize> {
        let (_view, addr, len) = buffer_arg("write", buf, false)?;
        blocking(py, |_| {
            // SAFETY: `_view` keeps the buffer exported (valid) for the whole call.
            let slice = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
            self.inner.write(fd, slice, flush)
        })
    }
}

impl PyClient {
    fn batch(
        &self,
        py: Python<'_>,
        op: &'static str,
        dir: IoDirection,
        iovs: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<i64>> {
        let list = iovs.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{op}: expected a list of (iovec, fd, offset) tuples"
            ))
        })?;
        // Keep every iovec's memory mapped for the whole batch, even if freed meanwhile.
        let mut keep: Vec<(Arc<IovSlot>, Arc<IovMemory>)> = Vec::new();
        let mut requests = Vec::with_capacity(list.len());
        let mut preset: Vec<Option<i64>> = Vec::with_capacity(list.len());
        let mut entries = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let bad = || {
                PyTypeError::new_err(format!(
                    "{op}: entry {i} must be a tuple (iovec, fd, offset)"
                ))
            };
            let tuple = item.cast::<PyTuple>().map_err(|_| bad())?;
            if tuple.len() != 3 {
                return Err(bad());
            }
            let iov = tuple.get_item(0)?;
            let iov = iov.cast::<PyIovec>().map_err(|_| bad())?.get();
            let fd: i64 = tuple.get_item(1)?.extract().map_err(|_| bad())?;
            let offset: i64 = tuple.get_item(2)?.extract().map_err(|_| bad())?;
            // Entries usually come from sub-iovecs of one allocation: look
            // its memory up (a lock and a refcount) once per run of them.
            if !keep
                .last()
                .is_some_and(|(slot, _)| Arc::ptr_eq(slot, &iov.slot))
            {
                keep.push((iov.slot.clone(), iov.memory()?));
            }
            let mem = keep.last().map(|(_, mem)| mem).ok_or_else(bad)?;
            entries.push((fd, offset));
            match mem.check_range(iov.off, iov.len) {
                Err(e) => preset.push(Some(-(e.raw_os_error() as i64))),
                Ok(()) => {
                    preset.push(None);
                    requests.push(IoRequest {
                        addr: mem.as_ptr() as usize + iov.off,
                        len: iov.len,
                        fd,
                        offset,
                    });
                }
            }
        }
        let client = &self.inner;
        let done = blocking(py, move |cancel| {
            // SAFETY: every request lies inside an iovec whose mapping `keep`
            // holds until the batch returns; Rust holds no references to it.
            let r = unsafe { client.submit_batch(dir, &requests, cancel) };
            drop(keep);
            r
        })?;
        let mut done = done.into_iter();
        let results: Vec<i64> = preset
            .into_iter()
            .map(|p| p.unwrap_or_else(|| done.next().unwrap_or(-(libc::EIO as i64))))
            .collect();
        if let Some(i) = results.iter().position(|&r| r < 0) {
            let errno = (-results[i]) as i32;
            let (fd, offset) = entries[i];
            let msg = format!(
                "{op} entry {i} (fd {fd}, offset {offset}): {}",
                hf3fs_core::error::strerror(errno)
            );
            let err = os_error(errno, Some(msg), None, None);
            err.value(py).setattr("results", results)?;
            return Err(err);
        }
        Ok(results)
    }
}
