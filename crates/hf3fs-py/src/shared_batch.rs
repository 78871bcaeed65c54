//! Batches in shared memory, for DataLoader workers: the batch's numbers
//! are laid out in one segment ([`hf3fs_core::shm`]) that the training
//! process maps by file descriptor, so no byte is copied between the two
//! (`hf3fs.dataset` registers the reduction that sends it).

use std::os::fd::BorrowedFd;
use std::os::raw::c_int;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, OffsetSizeTrait, RecordBatch};
use arrow_schema::DataType;
use hf3fs_core::shm::{receive_segment, take_segment, ShmSegment};
use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{ffi, IntoPyObjectExt};

use crate::error::to_pyerr;

/// How this process's received batch segments were mapped: ``mapped`` (new
/// mappings), ``reused`` (batches whose segment was mapped already) and
/// ``held`` (mappings kept now).
#[pyfunction]
pub fn received_segments() -> std::collections::BTreeMap<&'static str, u64> {
    let s = hf3fs_core::shm::received_stats();
    [("mapped", s.mapped), ("reused", s.reused), ("held", s.held)].into()
}

/// Unmap the kept segments of senders that have exited (every sender's with
/// ``all=True``); batches still in use keep their own mappings.
#[pyfunction]
#[pyo3(signature = (*, all = false))]
pub fn forget_received_segments(all: bool) {
    hf3fs_core::shm::forget_received(all);
}

/// Where an array's elements are in a shared segment's data.
#[pyclass(name = "SharedArray", module = "hf3fs._hf3fs", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct SharedArray {
    /// numpy's name of the element type (`"<i4"`).
    dtype: String,
    /// Byte offset in the segment's data.
    offset: usize,
    /// Elements.
    count: usize,
    /// The array's shape (1-D, or 2-D for fixed-size lists).
    shape: Vec<usize>,
}

#[pymethods]
impl SharedArray {
    #[new]
    fn new(dtype: String, offset: usize, count: usize, shape: Vec<usize>) -> SharedArray {
        SharedArray {
            dtype,
            offset,
            count,
            shape,
        }
    }

    fn __getnewargs__(&self) -> (String, usize, usize, Vec<usize>) {
        (
            self.dtype.clone(),
            self.offset,
            self.count,
            self.shape.clone(),
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "SharedArray({:?}, offset={}, shape={:?})",
            self.dtype, self.offset, self.shape
        )
    }
}

/// This process's mapping of a segment holding one batch: a writable
/// buffer over its data. The process counts itself out of the segment when
/// this object (and so every array over it) is gone.
#[pyclass(name = "SharedMemory", module = "hf3fs._hf3fs", frozen)]
pub struct PySharedMemory {
    segment: Arc<ShmSegment>,
    /// Bytes of data the batch uses.
    used: usize,
}

impl Drop for PySharedMemory {
    fn drop(&mut self) {
        self.segment.remove_user();
    }
}

#[pymethods]
impl PySharedMemory {
    /// Map the segment process `sender` sent as `fd` (duplicated here; the
    /// caller still closes its own) of `size` bytes, `used` of them the
    /// batch's: the mapping kept from an earlier batch of the same segment,
    /// else a new one, kept for the next (until the sender exits). A
    /// descriptor that is not an hf3fs batch segment is refused.
    #[staticmethod]
    fn open(fd: c_int, size: usize, used: usize, sender: i32) -> PyResult<PySharedMemory> {
        if fd < 0 {
            return Err(PyValueError::new_err(format!("fd: must be >= 0, got {fd}")));
        }
        // SAFETY: the descriptor is only duplicated, during this call, in
        // which the caller keeps it open; a closed one fails with EBADF.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .map_err(|e| to_pyerr(hf3fs_core::Error::os_nopath("batch shared memory", e)))?;
        let segment = receive_segment(fd, size, sender).map_err(to_pyerr)?;
        if used > segment.capacity() {
            segment.remove_user();
            return Err(PyValueError::new_err(format!(
                "used: {used} bytes asked of a segment holding {}",
                segment.capacity()
            )));
        }
        Ok(PySharedMemory { segment, used })
    }

    /// Count one more process in and give (fd, size, used) to send to it;
    /// the fd stays this object's (the sender duplicates it). Only the
    /// process that made the segment shares it.
    fn share(&self) -> PyResult<(c_int, usize, usize)> {
        let fd = self.segment.raw_fd().ok_or_else(|| {
            PyValueError::new_err("a received batch is not sent on (its tensors pickle as torch's)")
        })?;
        self.segment.add_user();
        Ok((fd, self.segment.len(), self.used))
    }

    fn __len__(&self) -> usize {
        self.used
    }

    // SAFETY: the buffer protocol's signature (pyo3 requires `unsafe fn`);
    // the one unsafe call inside carries its own justification.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let memory = slf.get();
        if memory.used > memory.segment.capacity() {
            return Err(PyBufferError::new_err(
                "the batch is larger than its segment",
            ));
        }
        // SAFETY: `view` is the Py_buffer CPython passed; FillInfo stores a new
        // reference to `slf` in view.obj, which keeps the mapping alive. The
        // memory is shared on purpose: it is this batch's alone (the segment
        // is reused only once every process counted itself out), so writers
        // through the buffer touch no other batch.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                memory.segment.data().cast(),
                memory.used as ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    // SAFETY: nothing to release: the view holds a reference to `self`,
    // which keeps the mapping alive until CPython drops it.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}

/// A batch laid out in shared memory: ``columns`` has the shape of the
/// numpy format, with a :class:`SharedArray` for each array.
#[pyclass(name = "SharedLayout", module = "hf3fs._hf3fs", frozen, get_all)]
pub struct SharedLayout {
    memory: Py<PySharedMemory>,
    columns: Py<PyDict>,
    num_rows: usize,
}

/// One array to copy: its bytes, and where they go.
struct Piece {
    bytes: arrow_buffer::Buffer,
    at: usize,
}

/// The layout of a batch's arrays in one segment, when every column is
/// numbers without nulls (what tensors can hold).
#[derive(Default)]
struct Plan {
    pieces: Vec<Piece>,
    size: usize,
}

/// A layout node: a leaf array, a list's (values, offsets), or a struct.
enum Node {
    Array(SharedArray),
    List(Box<Node>, SharedArray),
    Struct(Vec<(String, Node)>),
}

fn dtype(t: &DataType) -> Option<(&'static str, usize)> {
    Some(match t {
        DataType::Int8 => ("|i1", 1),
        DataType::Int16 => ("<i2", 2),
        DataType::Int32 => ("<i4", 4),
        DataType::Int64 => ("<i8", 8),
        DataType::UInt8 => ("|u1", 1),
        DataType::UInt16 => ("<u2", 2),
        DataType::UInt32 => ("<u4", 4),
        DataType::UInt64 => ("<u8", 8),
        DataType::Float16 => ("<f2", 2),
        DataType::Float32 => ("<f4", 4),
        DataType::Float64 => ("<f8", 8),
        _ => return None,
    })
}

/// Elements start on a cache line.
const ALIGN: usize = 64;

impl Plan {
    fn place(&mut self, bytes: arrow_buffer::Buffer) -> usize {
        let at = self.size.div_ceil(ALIGN) * ALIGN;
        self.size = at + bytes.len();
        self.pieces.push(Piece { bytes, at });
        at
    }

    /// Plan `array`; None when it is not numbers without nulls.
    fn node(&mut self, array: &ArrayRef, shape_tail: Option<usize>) -> Option<Node> {
        if array.logical_null_count() > 0 {
            return None;
        }
        let t = array.data_type();
        if let Some((name, width)) = dtype(t) {
            let data = array.to_data();
            let bytes =
                data.buffers()[0].slice_with_length(data.offset() * width, data.len() * width);
            let at = self.place(bytes);
            let shape = match shape_tail {
                Some(size) if size > 0 => vec![data.len() / size, size],
                _ => vec![data.len()],
            };
            return Some(Node::Array(SharedArray {
                dtype: name.to_string(),
                offset: at,
                count: data.len(),
                shape,
            }));
        }
        match t {
            DataType::List(_) => self.list(array.as_list::<i32>(), "<i4"),
            DataType::LargeList(_) => self.list(array.as_list::<i64>(), "<i8"),
            DataType::FixedSizeList(_, size) => {
                let list = array.as_fixed_size_list();
                let size = (*size).max(0) as usize;
                let child = list.values().slice(list.offset() * size, list.len() * size);
                self.node(&child, Some(size))
            }
            DataType::Struct(fields) => {
                let s = array.as_struct();
                let mut children = Vec::with_capacity(fields.len());
                for (f, c) in fields.iter().zip(s.columns()) {
                    children.push((f.name().clone(), self.node(c, None)?));
                }
                Some(Node::Struct(children))
            }
            _ => None,
        }
    }

    fn list<O: OffsetSizeTrait>(
        &mut self,
        list: &arrow_array::GenericListArray<O>,
        offsets_dtype: &str,
    ) -> Option<Node> {
        let offsets = list.value_offsets();
        let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
        let values = list
            .values()
            .slice(first.as_usize(), (last - first).as_usize());
        let values = self.node(&values, None)?;
        // The list's own offsets (the scalar buffer is sliced to them),
        // shifted to start at 0 when the list is a slice.
        let bytes = if first.as_usize() == 0 {
            list.offsets().inner().inner().clone()
        } else {
            arrow_buffer::Buffer::from_vec(offsets.iter().map(|&o| o - first).collect::<Vec<O>>())
        };
        let at = self.place(bytes);
        Some(Node::List(
            Box::new(values),
            SharedArray {
                dtype: offsets_dtype.to_string(),
                offset: at,
                count: offsets.len(),
                shape: vec![offsets.len()],
            },
        ))
    }

    /// Copy every piece into `segment`'s data.
    fn copy(&self, segment: &ShmSegment) {
        for p in &self.pieces {
            let src = p.bytes.as_slice();
            // SAFETY: the segment's data holds `self.size` bytes (it was taken
            // with that capacity), each piece lies inside it without overlap,
            // and no other process uses the segment until it is shared.
            let dst =
                unsafe { std::slice::from_raw_parts_mut(segment.data().add(p.at), src.len()) };
            dst.copy_from_slice(src);
        }
    }
}

fn node_to_py<'py>(py: Python<'py>, node: Node) -> PyResult<Bound<'py, PyAny>> {
    match node {
        Node::Array(a) => Bound::new(py, a).map(Bound::into_any),
        Node::List(values, offsets) => {
            (node_to_py(py, *values)?, Bound::new(py, offsets)?).into_bound_py_any(py)
        }
        Node::Struct(children) => {
            let d = PyDict::new(py);
            for (name, child) in children {
                d.set_item(name, node_to_py(py, child)?)?;
            }
            Ok(d.into_any())
        }
    }
}

/// `batch` laid out in a shared segment, or None when a column is not
/// numbers without nulls (the caller sends such a batch another way).
pub(crate) fn share_batch(py: Python<'_>, batch: &RecordBatch) -> PyResult<Option<SharedLayout>> {
    let schema = batch.schema();
    let columns: Vec<(&str, &ArrayRef)> = schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .zip(batch.columns())
        .collect();
    share_columns(py, &columns, &[], batch.num_rows())
}

/// Named arrays (of any lengths) and integers laid out in one shared
/// segment, or None when an array is not numbers without nulls.
pub(crate) fn share_columns(
    py: Python<'_>,
    arrays: &[(&str, &ArrayRef)],
    integers: &[(&str, i64)],
    num_rows: usize,
) -> PyResult<Option<SharedLayout>> {
    let mut plan = Plan::default();
    let mut nodes = Vec::with_capacity(arrays.len());
    for (name, column) in arrays {
        match plan.node(column, None) {
            Some(node) => nodes.push((name.to_string(), node)),
            None => return Ok(None),
        }
    }
    // Out of descriptors or memory: the batch goes the ordinary way.
    let Ok(segment) = take_segment(plan.size) else {
        return Ok(None);
    };
    py.detach(|| plan.copy(&segment));
    // From here the memory object counts this process out, whatever fails.
    let memory = Py::new(
        py,
        PySharedMemory {
            segment,
            used: plan.size,
        },
    )?;
    let columns = PyDict::new(py);
    for (name, node) in nodes {
        columns.set_item(name, node_to_py(py, node)?)?;
    }
    for (name, value) in integers {
        columns.set_item(name, value)?;
    }
    Ok(Some(SharedLayout {
        memory,
        columns: columns.unbind(),
        num_rows,
    }))
}
