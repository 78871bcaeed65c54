//! `CacheOptions`, `ReadRangeCache` and `coalesce_ranges` for Python users
//! who plan their own reads.

use std::os::raw::c_int;

use bytes::Bytes;
use hf3fs_core::fs::{coalesce_ranges, CacheOptions, IoContext, ReadRange, ReadRangeCache};
use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;

use crate::blocking::blocking;
use crate::error::to_pyerr;
use crate::fs::{ranges_arg, PyRandomAccessFile};

/// How a :class:`ReadRangeCache` merges and issues reads (Arrow's ``CacheOptions``).
#[pyclass(name = "CacheOptions", module = "hf3fs.fs", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyCacheOptions {
    pub(crate) inner: CacheOptions,
}

#[pymethods]
impl PyCacheOptions {
    #[new]
    #[pyo3(signature = (*, hole_size_limit=None, range_size_limit=None, lazy=None, prefetch_limit=None, max_request_size=None))]
    fn new(
        hole_size_limit: Option<u64>,
        range_size_limit: Option<u64>,
        lazy: Option<bool>,
        prefetch_limit: Option<u64>,
        max_request_size: Option<u64>,
    ) -> PyResult<PyCacheOptions> {
        let d = CacheOptions::defaults();
        let inner = CacheOptions {
            hole_size_limit: hole_size_limit.unwrap_or(d.hole_size_limit),
            range_size_limit: range_size_limit.unwrap_or(d.range_size_limit),
            lazy: lazy.unwrap_or(d.lazy),
            prefetch_limit: prefetch_limit.unwrap_or(d.prefetch_limit),
            max_request_size: max_request_size.unwrap_or(d.max_request_size),
        };
        if inner.range_size_limit == 0 {
            return Err(PyValueError::new_err(
                "CacheOptions: range_size_limit must be positive",
            ));
        }
        Ok(PyCacheOptions { inner })
    }

    /// Arrow's defaults: hole 8 KiB, range 32 MiB, eager.
    #[staticmethod]
    fn defaults() -> PyCacheOptions {
        PyCacheOptions {
            inner: CacheOptions::defaults(),
        }
    }

    /// Arrow's lazy defaults: the defaults, reading on demand.
    #[staticmethod]
    fn lazy_defaults() -> PyCacheOptions {
        PyCacheOptions {
            inner: CacheOptions::lazy_defaults(),
        }
    }

    /// Options for a store with this time to first byte and bandwidth (Arrow's formulas).
    #[staticmethod]
    #[pyo3(signature = (time_to_first_byte_millis, transfer_bandwidth_mib_per_sec, ideal_bandwidth_utilization_frac=0.9, max_ideal_request_size_mib=64))]
    fn from_network_metrics(
        time_to_first_byte_millis: u64,
        transfer_bandwidth_mib_per_sec: u64,
        ideal_bandwidth_utilization_frac: f64,
        max_ideal_request_size_mib: u64,
    ) -> PyResult<PyCacheOptions> {
        let inner = CacheOptions::from_network_metrics(
            time_to_first_byte_millis,
            transfer_bandwidth_mib_per_sec,
            ideal_bandwidth_utilization_frac,
            max_ideal_request_size_mib,
        )
        .map_err(to_pyerr)?;
        Ok(PyCacheOptions { inner })
    }

    #[getter]
    fn hole_size_limit(&self) -> u64 {
        self.inner.hole_size_limit
    }
    #[getter]
    fn range_size_limit(&self) -> u64 {
        self.inner.range_size_limit
    }
    #[getter]
    fn lazy(&self) -> bool {
        self.inner.lazy
    }
    #[getter]
    fn prefetch_limit(&self) -> u64 {
        self.inner.prefetch_limit
    }
    #[getter]
    fn max_request_size(&self) -> u64 {
        self.inner.max_request_size
    }

    fn __repr__(&self) -> String {
        let o = &self.inner;
        format!(
            "CacheOptions(hole_size_limit={}, range_size_limit={}, lazy={}, prefetch_limit={}, max_request_size={})",
            o.hole_size_limit,
            o.range_size_limit,
            if o.lazy { "True" } else { "False" },
            o.prefetch_limit,
            o.max_request_size
        )
    }
}

/// Read-only bytes owned by Rust, exposed through the buffer protocol
/// without copying (``memoryview(buf)``, ``numpy.frombuffer(buf)``).
#[pyclass(name = "Buffer", module = "hf3fs.fs", frozen)]
pub struct PyBuffer {
    data: Bytes,
}

#[pymethods]
impl PyBuffer {
    fn __len__(&self) -> usize {
        self.data.len()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, pyo3::types::PyBytes> {
        pyo3::types::PyBytes::new(py, &self.data)
    }

    fn __repr__(&self) -> String {
        format!("<hf3fs.fs.Buffer {} bytes>", self.data.len())
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("hf3fs.fs.Buffer is read-only"));
        }
        let data = &slf.get().data;
        // SAFETY: `view` is the Py_buffer CPython passed; FillInfo stores a new
        // reference to `slf` in view.obj, and `slf` (frozen) owns `data`,
        // whose memory never moves or changes, so the pointer stays valid
        // and unaliased by writers until the view is released.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                data.as_ptr() as *mut _,
                data.len() as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}

/// Coalesces and caches reads of one file (Arrow's ``ReadRangeCache``).
///
/// ``cache(ranges)`` merges the ranges and (unless lazy) starts reading them
/// in the background; ``read(offset, length)`` returns a zero-copy
/// :class:`Buffer` of a merged read. With ``strict=True`` a range outside
/// every cached one is a ``ValueError``; otherwise it is read directly.
#[pyclass(name = "ReadRangeCache", module = "hf3fs.fs", frozen)]
pub struct PyReadRangeCache {
    inner: ReadRangeCache,
}

#[pymethods]
impl PyReadRangeCache {
    #[new]
    #[pyo3(signature = (file, options=None, *, strict=false))]
    fn new(
        file: &Bound<'_, PyRandomAccessFile>,
        options: Option<PyCacheOptions>,
        strict: bool,
    ) -> PyReadRangeCache {
        let options = options.map_or_else(CacheOptions::defaults, |o| o.inner);
        PyReadRangeCache {
            inner: ReadRangeCache::new(
                file.get().inner.clone(),
                IoContext::default(),
                options,
                strict,
            ),
        }
    }

    /// Plan ``[(offset, length), ...]`` for reading.
    fn cache(&self, py: Python<'_>, ranges: Vec<(i64, i64)>) -> PyResult<()> {
        let ranges = ranges_arg("cache", ranges)?;
        blocking(py, |_| self.inner.cache(&ranges))
    }

    /// The bytes of one range, as a zero-copy :class:`Buffer`.
    fn read(&self, py: Python<'_>, offset: i64, length: i64) -> PyResult<PyBuffer> {
        let range = ranges_arg("read", vec![(offset, length)])?[0];
        let data = blocking(py, |cancel| self.inner.read(range, cancel))?;
        Ok(PyBuffer { data })
    }

    /// Wait for every read started so far.
    fn wait(&self, py: Python<'_>) -> PyResult<()> {
        blocking(py, |cancel| self.inner.wait(cancel))
    }

    /// Start (if lazy) and wait for the reads holding ``ranges``.
    fn wait_for(&self, py: Python<'_>, ranges: Vec<(i64, i64)>) -> PyResult<()> {
        let ranges = ranges_arg("wait_for", ranges)?;
        blocking(py, |cancel| self.inner.wait_for(&ranges, cancel))
    }

    /// The merged ``(offset, length)`` ranges, by offset.
    #[getter]
    fn cached_ranges(&self) -> Vec<(u64, u64)> {
        self.inner
            .cached_ranges()
            .into_iter()
            .map(|r| (r.offset, r.length))
            .collect()
    }

    #[getter]
    fn options(&self) -> PyCacheOptions {
        PyCacheOptions {
            inner: *self.inner.options(),
        }
    }
}

/// Arrow's ``CoalesceReadRanges`` on ``[(offset, length), ...]``.
#[pyfunction]
#[pyo3(name = "coalesce_ranges")]
pub fn py_coalesce_ranges(
    ranges: Vec<(i64, i64)>,
    hole_size_limit: u64,
    range_size_limit: u64,
) -> PyResult<Vec<(u64, u64)>> {
    let ranges: Vec<ReadRange> = ranges_arg("coalesce_ranges", ranges)?;
    Ok(coalesce_ranges(&ranges, hole_size_limit, range_size_limit)
        .into_iter()
        .map(|r| (r.offset, r.length))
        .collect())
}
