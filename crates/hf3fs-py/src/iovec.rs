//! `iovec`: shared memory for batched IO, exposed through the buffer protocol.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hf3fs_core::iov::IovMemory;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;

/// The allocation shared by an iovec and its sub-iovecs.
pub struct IovSlot {
    mem: Mutex<Option<Arc<IovMemory>>>,
    /// Live buffer exports (memoryviews, numpy arrays) of this allocation or any sub-iovec.
    exports: AtomicUsize,
    pub global: bool,
}

impl IovSlot {
    pub fn new(mem: IovMemory, global: bool) -> Arc<IovSlot> {
        Arc::new(IovSlot {
            mem: Mutex::new(Some(Arc::new(mem))),
            exports: AtomicUsize::new(0),
            global,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<IovMemory>>> {
        // The slot is replaced by single assignments; a poisoned lock still holds a valid value.
        self.mem.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Shared memory for batched reads and writes; supports the buffer protocol.
///
/// Allocate with `Client.iovalloc`. `iovec(parent, off, bytes)` or
/// `iovec(parent, buf)` make a sub-iovec over part of `parent` (which it keeps alive).
#[pyclass(name = "iovec", module = "hf3fs", frozen)]
pub struct PyIovec {
    pub slot: Arc<IovSlot>,
    /// Offset from the start of the allocation.
    pub off: usize,
    pub len: usize,
    parent: Option<Py<PyIovec>>,
}

impl PyIovec {
    pub fn root(slot: Arc<IovSlot>, len: usize) -> PyIovec {
        PyIovec {
            slot,
            off: 0,
            len,
            parent: None,
        }
    }

    /// The memory, or a clear error once it has been freed.
    pub fn memory(&self) -> PyResult<Arc<IovMemory>> {
        self.slot
            .lock()
            .clone()
            .ok_or_else(|| PyValueError::new_err("the iovec has been freed (iovfree)"))
    }

    /// Free the allocation: refused while buffers of it are exported.
    pub fn free(&self) -> PyResult<()> {
        if self.parent.is_some() {
            return Err(PyValueError::new_err(
                "iovfree takes an iovec from iovalloc/openIovecHandle, not a sub-iovec",
            ));
        }
        let mut mem = self.slot.lock();
        if self.slot.exports.load(Ordering::SeqCst) > 0 {
            return Err(PyBufferError::new_err(
                "cannot free an iovec while memoryviews or arrays of it exist; release them first",
            ));
        }
        // Dropping our reference unmaps the memory once no running IO holds it.
        mem.take();
        Ok(())
    }

    pub fn is_sub(&self) -> bool {
        self.parent.is_some()
    }
}

#[pymethods]
impl PyIovec {
    /// Make a sub-iovec of `other`: `iovec(other, off=None, bytes=None)` or `iovec(other, buf)`
    /// where `buf` is a contiguous buffer lying inside `other`.
    #[new]
    #[pyo3(signature = (other, off=None, bytes=None))]
    fn new(
        other: Bound<'_, PyIovec>,
        off: Option<Bound<'_, PyAny>>,
        bytes: Option<i64>,
    ) -> PyResult<PyIovec> {
        let parent = other.get();
        let mem = parent.memory()?;
        let (rel_off, len) = match off {
            Some(o) if o.is_instance_of::<pyo3::types::PyInt>() => {
                let o: i64 = o.extract()?;
                let o = usize::try_from(o)
                    .map_err(|_| PyValueError::new_err(format!("iovec: offset {o} is negative")))?;
                let len = match bytes {
                    None => parent.len.checked_sub(o).ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "iovec: offset {o} is past the end of the parent ({} bytes)",
                            parent.len
                        ))
                    })?,
                    Some(b) => usize::try_from(b).map_err(|_| {
                        PyValueError::new_err(format!("iovec: bytes {b} is negative"))
                    })?,
                };
                (o, len)
            }
            Some(buf) => {
                if bytes.is_some() {
                    return Err(PyTypeError::new_err(
                        "iovec(other, buf) takes no bytes argument",
                    ));
                }
                let view = PyUntypedBuffer::get(&buf)?;
                if !view.is_c_contiguous() {
                    return Err(PyValueError::new_err("iovec: buf is not contiguous"));
                }
                let start = mem.as_ptr() as usize + parent.off;
                let addr = view.buf_ptr() as usize;
                if addr < start || addr + view.len_bytes() > start + parent.len {
                    return Err(PyValueError::new_err(
                        "iovec: buf does not lie inside the parent iovec",
                    ));
                }
                (addr - start, view.len_bytes())
            }
            None => (
                0,
                bytes.map_or(Ok(parent.len), |b| {
                    usize::try_from(b)
                        .map_err(|_| PyValueError::new_err(format!("iovec: bytes {b} is negative")))
                })?,
            ),
        };
        if rel_off.checked_add(len).is_none_or(|end| end > parent.len) {
            return Err(PyValueError::new_err(format!(
                "iovec: [{rel_off}, {rel_off}+{len}) is outside the parent iovec of {} bytes",
                parent.len
            )));
        }
        Ok(PyIovec {
            slot: parent.slot.clone(),
            off: parent.off + rel_off,
            len,
            parent: Some(other.unbind()),
        })
    }

    fn __len__(&self) -> usize {
        self.len
    }

    /// Size of each block (0 = one block); IO may not cross a block boundary.
    #[getter]
    fn block_size(&self) -> PyResult<usize> {
        Ok(self.memory()?.block_size())
    }

    /// NUMA node the memory is bound to (-1 = none).
    #[getter]
    fn numa(&self) -> PyResult<i32> {
        Ok(self.memory()?.numa())
    }

    /// Whether the memory is locked in RAM (``mlock``). False when the
    /// locked-memory limit forbade it; IO works either way.
    #[getter]
    fn pinned(&self) -> PyResult<bool> {
        Ok(self.memory()?.pinned())
    }

    /// Whether the memory has been freed.
    #[getter]
    fn freed(&self) -> bool {
        self.slot.lock().is_none()
    }

    fn __repr__(&self) -> String {
        if self.freed() {
            return "<hf3fs.iovec (freed)>".to_string();
        }
        format!("<hf3fs.iovec off={} bytes={}>", self.off, self.len)
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        // Held until the export is counted, so iovfree cannot slip in between.
        let guard = this.slot.lock();
        let Some(mem) = guard.as_ref() else {
            return Err(PyValueError::new_err("the iovec has been freed (iovfree)"));
        };
        // SAFETY: `off + len` was checked against the allocation when the iovec
        // was made, so the pointer stays inside the mapping.
        let ptr = unsafe { mem.as_ptr().add(this.off) };
        // SAFETY: `view` is the Py_buffer CPython passed us; FillInfo sets
        // view.obj to `slf` (a new reference), which keeps this iovec, its slot
        // and so the mapping alive until the view is released. The export count
        // stops iovfree from unmapping it in the meantime.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                ptr.cast(),
                this.len as ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        this.slot.exports.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.slot.exports.fetch_sub(1, Ordering::SeqCst);
    }
}
