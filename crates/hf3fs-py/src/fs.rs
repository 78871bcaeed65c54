//! The IO layer for Python: `FileSystem`, `RandomAccessFile`, `OutputStream`.
//! Python's fsspec and pyarrow adapters (`hf3fs.fs`) are built on these.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hf3fs_core::fs::{
    copy_between, filesystem_from_uri, read_ranges, CopyOptions, FileInfo, FileSelector,
    FileSystem, FileSystemExt, Hf3fsFileSystem, KeyValueMetadata, LocalFileSystem, MockFileSystem,
    OutputStream, RandomAccessFile, ReadRange, Scheme, SlowFileSystem, SlowStats, StorageOptions,
    SubTreeFileSystem, UriOptions,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::blocking::blocking;
use crate::client::{buffer_arg, non_negative_value, PyClient};
use crate::types::PyStat;

/// `storage_options`: a dict of object_store keys to values; strings as
/// they are, booleans as `true`/`false`, numbers as written, and
/// `datetime.timedelta` as seconds (for `retry_timeout`, `timeout`).
pub struct StorageOptionsArg(pub StorageOptions);

impl<'a, 'py> FromPyObject<'a, 'py> for StorageOptionsArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let dict = obj.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "storage_options: expected a dict of str to str, got {}",
                obj.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        let mut out = StorageOptions::new();
        for (key, value) in dict.iter() {
            let key: String = key.extract().map_err(|_| {
                PyTypeError::new_err(format!("storage_options: keys must be str, got {key:?}"))
            })?;
            let text = if let Ok(b) = value.extract::<bool>() {
                b.to_string()
            } else if let Ok(s) = value.extract::<String>() {
                s
            } else if let Ok(d) = value.extract::<Duration>() {
                format!("{}s", d.as_secs_f64())
            } else if let Ok(n) = value.extract::<i64>() {
                n.to_string()
            } else if let Ok(f) = value.extract::<f64>() {
                f.to_string()
            } else {
                return Err(PyTypeError::new_err(format!(
                    "storage_options[{key:?}]: expected str, bool, number or timedelta, got {}",
                    value
                        .get_type()
                        .name()
                        .map_or_else(|_| "?".into(), |n| n.to_string())
                )));
            };
            out.insert(key, text);
        }
        Ok(StorageOptionsArg(out))
    }
}

/// `(path, type, size, mtime_ns)`: what Python sees of a `FileInfo`.
type InfoTuple = (String, &'static str, Option<u64>, Option<i128>);

fn info_tuple(info: FileInfo) -> InfoTuple {
    let mtime_ns = info.mtime.map(|t| match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    });
    (info.path, info.file_type.as_str(), info.size, mtime_ns)
}

/// `[(offset, length), ...]` → ranges; negative numbers are refused by name.
pub(crate) fn ranges_arg(op: &str, ranges: Vec<(i64, i64)>) -> PyResult<Vec<ReadRange>> {
    ranges
        .into_iter()
        .map(|(offset, length)| {
            if offset < 0 || length < 0 {
                return Err(PyValueError::new_err(format!(
                    "{op}: offsets and lengths must be non-negative, got ({offset}, {length})"
                )));
            }
            Ok(ReadRange::new(offset as u64, length as u64))
        })
        .collect()
}

/// A metadata key or value: `str`, or UTF-8 `bytes` (pyarrow's `KeyValueMetadata` holds bytes).
fn metadata_text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map_err(|_| PyValueError::new_err("metadata keys and values must be UTF-8 text"));
    }
    Ok(obj.str()?.to_string())
}

fn metadata_arg(metadata: Option<&Bound<'_, PyDict>>) -> PyResult<Option<KeyValueMetadata>> {
    metadata
        .map(|d| {
            d.iter()
                .map(|(k, v)| Ok((metadata_text(&k)?, metadata_text(&v)?)))
                .collect::<PyResult<KeyValueMetadata>>()
        })
        .transpose()
}

/// A file system of the IO layer (hf3fs mount, local, mock, subtree, slow).
///
/// Paths are ``/``-separated: relative to the root for ``hf3fs``, ``mock``
/// and ``subtree`` file systems, absolute for ``local``.
#[pyclass(name = "FileSystem", module = "hf3fs.fs", frozen)]
pub struct PyFileSystem {
    pub(crate) inner: Arc<dyn FileSystem>,
    slow_stats: Option<Arc<SlowStats>>,
}

impl PyFileSystem {
    fn wrap(inner: Arc<dyn FileSystem>) -> PyFileSystem {
        PyFileSystem {
            inner,
            slow_stats: None,
        }
    }

    fn open_writer(
        &self,
        py: Python<'_>,
        path: &str,
        metadata: Option<&Bound<'_, PyDict>>,
        append: bool,
    ) -> PyResult<PyOutputStream> {
        let metadata = metadata_arg(metadata)?;
        let out = blocking(py, |_| match append {
            true => self.inner.open_append_stream(path, metadata.as_ref()),
            false => self.inner.open_output_stream(path, metadata.as_ref()),
        })?;
        Ok(PyOutputStream::new(out, path))
    }
}

#[pymethods]
impl PyFileSystem {
    /// The file system a URI names and the path inside it.
    #[staticmethod]
    #[pyo3(signature = (uri, *, token=None, storage_options=None))]
    fn from_uri(
        py: Python<'_>,
        uri: &str,
        token: Option<String>,
        storage_options: Option<StorageOptionsArg>,
    ) -> PyResult<(PyFileSystem, String)> {
        let options = UriOptions {
            token,
            storage_options: storage_options.map(|s| s.0).unwrap_or_default(),
            ..UriOptions::default()
        };
        let (fs, path) = blocking(py, |_| filesystem_from_uri(uri, &options))?;
        Ok((PyFileSystem::wrap(fs), path))
    }

    /// The mount of an existing client.
    #[staticmethod]
    fn for_client(client: &Bound<'_, PyClient>) -> PyFileSystem {
        let client = client.get().inner.clone();
        PyFileSystem::wrap(Arc::new(Hf3fsFileSystem::new(client)))
    }

    /// The local file system (absolute paths).
    #[staticmethod]
    fn local() -> PyResult<PyFileSystem> {
        let fs = LocalFileSystem::new().map_err(crate::error::to_pyerr)?;
        Ok(PyFileSystem::wrap(Arc::new(fs)))
    }

    /// A new, empty in-memory file system.
    #[staticmethod]
    fn mock() -> PyFileSystem {
        PyFileSystem::wrap(Arc::new(MockFileSystem::new(SystemTime::now())))
    }

    /// ``base`` of ``fs`` as a file system of its own.
    #[staticmethod]
    fn subtree(base: &str, fs: &Bound<'_, PyFileSystem>) -> PyResult<PyFileSystem> {
        let sub =
            SubTreeFileSystem::new(base, fs.get().inner.clone()).map_err(crate::error::to_pyerr)?;
        Ok(PyFileSystem::wrap(Arc::new(sub)))
    }

    /// ``fs`` with ``latency`` seconds added to every request (seeded jitter)
    /// and, with ``bandwidth`` (bytes/s), the transfer time of each read.
    /// ``metadata_latency`` sets another latency for the calls that are not
    /// reads (info, listing, open, ...); ``0`` injects latency per read call only.
    #[staticmethod]
    #[pyo3(signature = (fs, *, latency, seed=0, bandwidth=None, metadata_latency=None))]
    fn slow(
        fs: &Bound<'_, PyFileSystem>,
        latency: f64,
        seed: u64,
        bandwidth: Option<f64>,
        metadata_latency: Option<f64>,
    ) -> PyResult<PyFileSystem> {
        let seconds = |name: &str, value: f64| {
            Duration::try_from_secs_f64(value).map_err(|_| {
                PyValueError::new_err(format!(
                    "slow: {name} must be a non-negative number of seconds, got {value}"
                ))
            })
        };
        let latency = seconds("latency", latency)?;
        let metadata_latency = metadata_latency
            .map(|m| seconds("metadata_latency", m))
            .transpose()?;
        let inner = fs.get().inner.clone();
        let slow = match bandwidth {
            Some(bw) if !(bw > 0.0 && bw.is_finite()) => {
                return Err(PyValueError::new_err(format!(
                    "slow: bandwidth must be a positive number of bytes/s, got {bw}"
                )))
            }
            Some(bw) => SlowFileSystem::with_bandwidth(inner, latency, seed, bw),
            None => SlowFileSystem::new(inner, latency, seed),
        };
        let slow = match metadata_latency {
            Some(m) => slow.with_metadata_latency(m),
            None => slow,
        };
        Ok(PyFileSystem {
            slow_stats: Some(slow.stats()),
            inner: Arc::new(slow),
        })
    }

    /// Requests made through a ``slow`` file system: a dict with
    /// ``read_requests``, ``bytes_read``, ``metadata_requests`` and
    /// ``peak_in_flight`` (the most read requests waiting on the store at once).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.slow_stats.as_ref().ok_or_else(|| {
            PyTypeError::new_err("stats() is only kept by FileSystem.slow(...) file systems")
        })?;
        let d = PyDict::new(py);
        d.set_item("read_requests", stats.read_requests())?;
        d.set_item("bytes_read", stats.bytes_read())?;
        d.set_item("metadata_requests", stats.metadata_requests())?;
        d.set_item("peak_in_flight", stats.peak_in_flight())?;
        Ok(d)
    }

    /// Start counting a ``slow`` file system's requests from zero.
    fn reset_stats(&self) {
        if let Some(s) = &self.slow_stats {
            s.reset();
        }
    }

    /// ``"hf3fs"``, ``"local"``, ``"mock"``, ``"subtree"`` or ``"slow"``.
    #[getter]
    fn type_name(&self) -> &'static str {
        self.inner.type_name()
    }

    fn normalize_path(&self, path: &str) -> PyResult<String> {
        self.inner
            .normalize_path(path)
            .map_err(crate::error::to_pyerr)
    }

    /// ``[(path, type, size, mtime_ns)]`` for each path; a missing path has
    /// type ``"not_found"``.
    fn get_file_info(&self, py: Python<'_>, paths: Vec<String>) -> PyResult<Vec<InfoTuple>> {
        let infos = blocking(py, |_| self.inner.get_file_infos(&paths))?;
        Ok(infos.into_iter().map(info_tuple).collect())
    }

    /// The ``os.stat`` of ``path`` (of a symlink itself without
    /// ``follow_symlinks``). Object stores keep no modes, owners or
    /// inodes: their files are ``rw-r--r--``, their directories
    /// ``rwxr-xr-x``, with inode 0.
    #[pyo3(signature = (path, *, follow_symlinks=true))]
    fn stat(&self, py: Python<'_>, path: &str, follow_symlinks: bool) -> PyResult<PyStat> {
        let inner = blocking(py, |_| self.inner.stat(path, follow_symlinks))?;
        Ok(PyStat { inner })
    }

    /// The entries below ``base_dir``, sorted by path.
    #[pyo3(signature = (base_dir, *, recursive=false, allow_not_found=false, max_recursion=None))]
    fn get_file_info_selector(
        &self,
        py: Python<'_>,
        base_dir: String,
        recursive: bool,
        allow_not_found: bool,
        max_recursion: Option<u32>,
    ) -> PyResult<Vec<InfoTuple>> {
        let select = FileSelector {
            base_dir,
            allow_not_found,
            recursive,
            max_recursion: max_recursion.unwrap_or(i32::MAX as u32),
        };
        let infos = blocking(py, |_| self.inner.get_file_info_selector(&select))?;
        Ok(infos.into_iter().map(info_tuple).collect())
    }

    #[pyo3(signature = (path, *, recursive=true))]
    fn create_dir(&self, py: Python<'_>, path: &str, recursive: bool) -> PyResult<()> {
        blocking(py, |_| self.inner.create_dir(path, recursive))
    }

    fn delete_dir(&self, py: Python<'_>, path: &str) -> PyResult<()> {
        blocking(py, |cancel| self.inner.delete_dir(path, cancel))
    }

    #[pyo3(signature = (path, *, missing_dir_ok=false))]
    fn delete_dir_contents(
        &self,
        py: Python<'_>,
        path: &str,
        missing_dir_ok: bool,
    ) -> PyResult<()> {
        blocking(py, |cancel| {
            self.inner.delete_dir_contents(path, missing_dir_ok, cancel)
        })
    }

    fn delete_root_dir_contents(&self, py: Python<'_>) -> PyResult<()> {
        blocking(py, |cancel| self.inner.delete_root_dir_contents(cancel))
    }

    fn delete_file(&self, py: Python<'_>, path: &str) -> PyResult<()> {
        blocking(py, |_| self.inner.delete_file(path))
    }

    fn delete_files(&self, py: Python<'_>, paths: Vec<String>) -> PyResult<()> {
        blocking(py, |_| self.inner.delete_files(&paths))
    }

    #[pyo3(name = "move")]
    fn move_path(&self, py: Python<'_>, src: &str, dest: &str) -> PyResult<()> {
        blocking(py, |_| self.inner.move_path(src, dest))
    }

    fn copy_file(&self, py: Python<'_>, src: &str, dest: &str) -> PyResult<()> {
        blocking(py, |_| self.inner.copy_file(src, dest))
    }

    /// Copy ``src`` on this file system to ``dest`` on ``dest_fs`` (any
    /// backend; a file there is replaced, its parent must exist); returns
    /// the bytes copied.
    ///
    /// Reads run in parallel (through the IO engine for mounts and local
    /// files, as concurrent ranged GETs for objects) and the writes are
    /// large and in order; within one object store the copy is server-side.
    /// ``progress(nbytes)`` is called as pieces land (what it raises is
    /// printed: a progress bar must not fail a copy). Ctrl-C stops the copy
    /// between pieces; an object being uploaded is then not created.
    #[pyo3(signature = (src, dest_fs, dest, *, progress=None))]
    fn copy_file_to(
        &self,
        py: Python<'_>,
        src: &str,
        dest_fs: &PyFileSystem,
        dest: &str,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<u64> {
        let mut report = |n: u64| {
            if let Some(callback) = &progress {
                Python::attach(|py| {
                    if let Err(e) = callback.call1(py, (n,)) {
                        e.print(py);
                    }
                })
            }
        };
        blocking(py, |cancel| {
            copy_between(
                self.inner.as_ref(),
                src,
                dest_fs.inner.as_ref(),
                dest,
                &CopyOptions::default(),
                &mut report,
                cancel,
            )
        })
    }

    fn open_input_file(&self, py: Python<'_>, path: &str) -> PyResult<PyRandomAccessFile> {
        let file = blocking(py, |_| self.inner.open_input_file(path))?;
        Ok(PyRandomAccessFile { inner: file })
    }

    #[pyo3(signature = (path, *, metadata=None))]
    fn open_output_stream(
        &self,
        py: Python<'_>,
        path: &str,
        metadata: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyOutputStream> {
        self.open_writer(py, path, metadata, false)
    }

    #[pyo3(signature = (path, *, metadata=None))]
    fn open_append_stream(
        &self,
        py: Python<'_>,
        path: &str,
        metadata: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyOutputStream> {
        self.open_writer(py, path, metadata, true)
    }

    /// Key-value metadata stored with a file (only some file systems keep it).
    fn read_metadata(&self, py: Python<'_>, path: &str) -> PyResult<Vec<(String, String)>> {
        blocking(py, |_| self.inner.open_input_stream(path)?.metadata())
    }

    fn __repr__(&self) -> String {
        format!("<hf3fs.fs.FileSystem {:?}>", self.inner)
    }
}

/// A file open for positional reads; safe to share between threads.
#[pyclass(name = "RandomAccessFile", module = "hf3fs.fs", frozen)]
pub struct PyRandomAccessFile {
    pub(crate) inner: Arc<dyn RandomAccessFile>,
}

#[pymethods]
impl PyRandomAccessFile {
    /// The path it was opened at.
    #[getter]
    fn path(&self) -> String {
        self.inner.path().to_string()
    }

    /// Size in bytes.
    fn size(&self, py: Python<'_>) -> PyResult<u64> {
        blocking(py, |_| self.inner.size())
    }

    /// ``length`` bytes from ``offset`` (fewer at the end of the file).
    fn read_at<'py>(
        &self,
        py: Python<'py>,
        offset: i64,
        length: i64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let offset = non_negative_value("read_at", "offset", offset)?;
        let length = non_negative_value("read_at", "length", length)?;
        let len = usize::try_from(length)
            .map_err(|_| PyValueError::new_err(format!("read_at: length {length} is too large")))?;
        let data = blocking(py, |_| self.inner.read_bytes_at(offset, len))?;
        Ok(PyBytes::new(py, &data))
    }

    /// Fill a writable buffer from ``offset``; returns the byte count.
    fn read_into(&self, py: Python<'_>, offset: i64, buf: &Bound<'_, PyAny>) -> PyResult<usize> {
        let offset = non_negative_value("read_into", "offset", offset)?;
        let (_view, addr, len) = buffer_arg("read_into", buf, true)?;
        blocking(py, |_| {
            // SAFETY: `_view` keeps the caller's buffer exported, valid and
            // writable for the whole call; nothing in Rust aliases it.
            let slice = unsafe { std::slice::from_raw_parts_mut(addr as *mut u8, len) };
            self.inner.read_at(offset, slice)
        })
    }

    /// Many ``(offset, length)`` ranges at once, through the process's read
    /// scheduler: one batched call on local and hf3fs files, concurrent
    /// requests on remote storage. Ctrl-C interrupts the wait.
    fn read_many<'py>(
        &self,
        py: Python<'py>,
        ranges: Vec<(i64, i64)>,
    ) -> PyResult<Bound<'py, PyList>> {
        let ranges = ranges_arg("read_many", ranges)?;
        let data = blocking(py, |cancel| read_ranges(&self.inner, &ranges, cancel))?;
        PyList::new(py, data.iter().map(|b| PyBytes::new(py, b)))
    }

    /// Hint that ``ranges`` will be read soon.
    fn will_need(&self, py: Python<'_>, ranges: Vec<(i64, i64)>) -> PyResult<()> {
        let ranges = ranges_arg("will_need", ranges)?;
        blocking(py, |_| self.inner.will_need(&ranges))
    }

    fn __repr__(&self) -> String {
        format!("<hf3fs.fs.RandomAccessFile {:?}>", self.inner.path())
    }
}

/// A file open for sequential writing. Use it as a context manager, or call
/// ``close()``: the data is complete only then.
#[pyclass(name = "OutputStream", module = "hf3fs.fs", frozen)]
pub struct PyOutputStream {
    inner: Mutex<Box<dyn OutputStream>>,
    path: String,
}

impl PyOutputStream {
    fn new(inner: Box<dyn OutputStream>, path: &str) -> PyOutputStream {
        PyOutputStream {
            inner: Mutex::new(inner),
            path: path.to_string(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Box<dyn OutputStream>> {
        // A write that panicked is reported; the stream itself stays usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PyOutputStream {
    /// Write a bytes-like object; returns its length.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let (_view, addr, len) = buffer_arg("write", data, false)?;
        blocking(py, |_| {
            // SAFETY: `_view` keeps the buffer exported (valid) for the whole call.
            let slice = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
            self.lock().write(slice)?;
            Ok::<_, hf3fs_core::Error>(len)
        })
    }

    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        blocking(py, |_| self.lock().flush())
    }

    /// Bytes written so far.
    fn tell(&self) -> PyResult<u64> {
        self.lock().tell().map_err(crate::error::to_pyerr)
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        blocking(py, |_| self.lock().close())
    }

    #[getter]
    fn closed(&self) -> bool {
        self.lock().closed()
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Give up on the stream: an object store writes nothing (the old
    /// object, if any, stays); a file is closed as it is.
    fn abort(&self, py: Python<'_>) -> PyResult<()> {
        blocking(py, |_| self.lock().abort())
    }

    /// Close the stream, or abort it when the block raised: a failed write
    /// never publishes a partial object.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        if exc_type.is_none() {
            self.close(py)?;
        } else {
            self.abort(py)?;
        }
        Ok(false)
    }
}

/// A URI split once (`hf3fs_core::fs::parse_uri`): the CLI names its
/// paths' file systems from it, as `FileSystem.from_uri` does.
#[pyclass(name = "_ParsedUri", module = "hf3fs._hf3fs", frozen, get_all)]
pub struct PyParsedUri {
    /// `"hf3fs"`, `"file"`, `"s3"` or `"mock"`.
    scheme: &'static str,
    /// The mount or bucket; empty for `file` and `mock`.
    authority: String,
    /// The path inside the file system, %-decoded.
    path: String,
}

/// `uri` split into scheme, authority and %-decoded path; None for a plain
/// (local) path.
#[pyfunction]
pub fn _parse_uri(uri: &str) -> PyResult<Option<PyParsedUri>> {
    let parsed = hf3fs_core::fs::parse_uri(uri).map_err(crate::error::to_pyerr)?;
    Ok(parsed.map(|p| PyParsedUri {
        scheme: match p.scheme {
            Scheme::Hf3fs => "hf3fs",
            Scheme::File => "file",
            Scheme::S3 => "s3",
            Scheme::Mock => "mock",
        },
        authority: p.authority,
        path: p.path,
    }))
}
