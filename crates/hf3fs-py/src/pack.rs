//! Bindings of packing and mixing: the `Pack` options, the readers of
//! packed and mixed batches, the mixture, and packed batches in every
//! format (numpy arrays, Arrow arrays, a shared-memory layout).

use std::sync::{Arc, Mutex};

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::Field;
use dataset::mix::{MixOptions, MixedBatch, MixedReader, Mixture, Samples, Stop};
use dataset::pack::source::PackedReader;
use dataset::pack::{
    PackOptions, PackedBatch, DEFAULT_PACK_COLUMN, DEFAULT_SEQUENCES_PER_BATCH, DEFAULT_SEQ_LEN,
};
use hf3fs_core::CancelToken;
use pyo3::exceptions::{PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyTuple};

use crate::arrow_capsule::{array_capsules, schema_capsule};
use crate::blocking::{blocking, next_in};
use crate::dataset::{shared_or_numpy, ArrowBatch, PyDataset};
use crate::error::dataset_error;
use crate::numpy_batch::{Converter, NumpyBatch};
use crate::position::{PyMixPosition, PyPosition};
use crate::shared_batch::share_columns;

/// How documents are packed into fixed-length sequences.
///
/// The rows of ``column`` (a list of integers) are documents: in plan order
/// they are concatenated, ``eos_token`` appended to each when given, and
/// cut into sequences of exactly ``seq_len`` tokens, a document that does
/// not fit continuing in the next sequence. A batch holds
/// ``sequences_per_batch`` sequences. With ``drop_partial`` (the default)
/// each rank's tokens that do not fill a whole batch are left out; without
/// it the last batch is padded (with ``eos_token``, else 0).
#[pyclass(name = "Pack", module = "hf3fs.dataset", frozen, eq, hash)]
#[derive(Debug, Clone, PartialEq, Hash)]
pub struct PyPack {
    pub(crate) inner: PackOptions,
}

#[pymethods]
impl PyPack {
    #[new]
    #[pyo3(signature = (column=DEFAULT_PACK_COLUMN.to_string(), seq_len=DEFAULT_SEQ_LEN,
        sequences_per_batch=DEFAULT_SEQUENCES_PER_BATCH, *, eos_token=None, drop_partial=true))]
    fn new(
        column: String,
        seq_len: usize,
        sequences_per_batch: usize,
        eos_token: Option<i64>,
        drop_partial: bool,
    ) -> PyResult<PyPack> {
        let inner = PackOptions {
            column,
            seq_len,
            sequences_per_batch,
            eos_token,
            drop_partial,
        };
        inner.validate().map_err(dataset_error)?;
        Ok(PyPack { inner })
    }

    /// The list-of-integers column holding the documents.
    #[getter]
    fn column(&self) -> &str {
        &self.inner.column
    }

    /// Tokens per sequence.
    #[getter]
    fn seq_len(&self) -> usize {
        self.inner.seq_len
    }

    /// Sequences per batch.
    #[getter]
    fn sequences_per_batch(&self) -> usize {
        self.inner.sequences_per_batch
    }

    /// The token appended to every document (None: none).
    #[getter]
    fn eos_token(&self) -> Option<i64> {
        self.inner.eos_token
    }

    /// Whether the tokens that do not fill a batch are left out (else padded).
    #[getter]
    fn drop_partial(&self) -> bool {
        self.inner.drop_partial
    }

    /// Tokens per batch (``seq_len * sequences_per_batch``).
    #[getter]
    fn batch_tokens(&self) -> u64 {
        self.inner.batch_tokens()
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "Pack(column={:?}, seq_len={}, sequences_per_batch={}, eos_token={}, drop_partial={})",
            p.column,
            p.seq_len,
            p.sequences_per_batch,
            p.eos_token.map_or("None".to_string(), |t| t.to_string()),
            if p.drop_partial { "True" } else { "False" }
        )
    }

    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<((String, usize, usize), Bound<'py, PyDict>)> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("eos_token", self.inner.eos_token)?;
        kwargs.set_item("drop_partial", self.inner.drop_partial)?;
        Ok((
            (
                self.inner.column.clone(),
                self.inner.seq_len,
                self.inner.sequences_per_batch,
            ),
            kwargs,
        ))
    }
}

/// One Arrow array (a packed batch's ``input_ids``, say):
/// ``pyarrow.array(a)`` takes it without copying (Arrow PyCapsule interface).
#[pyclass(name = "ArrowArray", module = "hf3fs.dataset", frozen)]
pub struct PyArrowArray {
    array: ArrayRef,
}

impl PyArrowArray {
    fn field(&self) -> Arc<Field> {
        Arc::new(Field::new("", self.array.data_type().clone(), false))
    }
}

#[pymethods]
impl PyArrowArray {
    fn __len__(&self) -> usize {
        self.array.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "<hf3fs.dataset.ArrowArray {} x {}>",
            self.array.len(),
            self.array.data_type()
        )
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, self.field().as_ref())
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        array_capsules(py, self.field(), self.array.as_ref(), requested_schema)
    }

    /// The array as numpy (fixed-size lists 2-D); writable arrays are
    /// copies, as this object keeps its memory.
    #[pyo3(signature = (*, writable=false))]
    fn to_numpy<'py>(&self, py: Python<'py>, writable: bool) -> PyResult<Bound<'py, PyAny>> {
        Converter::new(py, writable).column("array", self.array.clone())
    }
}

/// A packed batch's arrays, by name, in batch order.
fn named_arrays(batch: &PackedBatch) -> Vec<(&'static str, &ArrayRef)> {
    let mut out = vec![
        ("input_ids", &batch.input_ids),
        ("position_ids", &batch.position_ids),
        ("cu_seqlens", &batch.cu_seqlens),
    ];
    if let Some(source) = &batch.source {
        out.push(("source", source));
    }
    out
}

/// A packed batch's integers.
fn integers(batch: &PackedBatch) -> [(&'static str, i64); 2] {
    [
        ("max_seqlen", batch.max_seqlen as i64),
        ("num_tokens", batch.num_tokens as i64),
    ]
}

/// The batch as a dict: its arrays made by `convert` (consumed, so memory
/// only the batch holds can be handed over), then its integers.
fn batch_to_dict<'py>(
    py: Python<'py>,
    batch: PackedBatch,
    mut convert: impl FnMut(&'static str, ArrayRef) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let numbers = integers(&batch);
    let PackedBatch {
        input_ids,
        position_ids,
        cu_seqlens,
        source,
        ..
    } = batch;
    out.set_item("input_ids", convert("input_ids", input_ids)?)?;
    out.set_item("position_ids", convert("position_ids", position_ids)?)?;
    out.set_item("cu_seqlens", convert("cu_seqlens", cu_seqlens)?)?;
    for (name, value) in numbers {
        out.set_item(name, value)?;
    }
    if let Some(source) = source {
        out.set_item("source", convert("source", source)?)?;
    }
    Ok(out)
}

/// The two kinds of packed readers.
enum AnyPackedReader {
    Packed(Box<PackedReader>),
    Mixed(Box<MixedReader>),
}

impl AnyPackedReader {
    fn next_batch(&mut self, cancel: &CancelToken) -> dataset::Result<Option<PackedBatch>> {
        match self {
            AnyPackedReader::Packed(r) => r.next_batch(cancel),
            AnyPackedReader::Mixed(r) => match r.next_batch(cancel)? {
                None => Ok(None),
                Some(MixedBatch::Packed(b)) => Ok(Some(b)),
                Some(MixedBatch::Rows(_)) => {
                    Err(dataset::Error::invalid("mix", "a packed mixture gave rows"))
                }
            },
        }
    }
}

/// An iterator of packed batches for one (rank, worker): dicts of
/// ``input_ids``, ``position_ids``, ``cu_seqlens``, ``max_seqlen``,
/// ``num_tokens`` (and ``source`` in a mixture).
#[pyclass(name = "_PackedReader", module = "hf3fs._hf3fs", frozen)]
pub struct PyPackedReader {
    inner: Mutex<Option<AnyPackedReader>>,
}

impl PyPackedReader {
    fn next_packed(&self, py: Python<'_>) -> PyResult<PackedBatch> {
        match next_in(py, &self.inner, AnyPackedReader::next_batch)? {
            Some(batch) => Ok(batch),
            None => {
                self.close(py);
                Err(PyStopIteration::new_err(()))
            }
        }
    }
}

#[pymethods]
impl PyPackedReader {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next batch with Arrow arrays (:class:`ArrowArray`).
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let batch = self.next_packed(py)?;
        batch_to_dict(py, batch, |_, array| {
            Ok(Bound::new(py, PyArrowArray { array })?.into_any())
        })
    }

    /// The next batch as numpy arrays over its own memory (writable: handed
    /// over, as no other batch shares it).
    #[pyo3(signature = (*, writable))]
    fn next_numpy<'py>(&self, py: Python<'py>, writable: bool) -> PyResult<Bound<'py, PyDict>> {
        let batch = self.next_packed(py)?;
        let mut converter = Converter::new(py, writable);
        batch_to_dict(py, batch, |name, array| converter.column(name, array))
    }

    /// The next batch laid out in shared memory (a ``SharedLayout``), or as
    /// writable numpy arrays when no segment can be had.
    fn next_shared(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let batch = self.next_packed(py)?;
        let rows = batch.input_ids.len();
        if let Some(layout) = share_columns(py, &named_arrays(&batch), &integers(&batch), rows)? {
            return Ok(Py::new(py, layout)?.into_any());
        }
        let mut converter = Converter::new(py, true);
        Ok(
            batch_to_dict(py, batch, |name, array| converter.column(name, array))?
                .into_any()
                .unbind(),
        )
    }

    /// Stop the reader's threads and free its buffers.
    fn close(&self, py: Python<'_>) {
        let reader = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(move || drop(reader));
    }
}

impl PyDataset {
    /// A reader of one (rank, worker)'s packed batches.
    pub(crate) fn packed_reader_of(
        &self,
        py: Python<'_>,
        progress: &PyPosition,
        rank: u64,
        worker: u64,
        decode_threads: usize,
    ) -> PyResult<PyPackedReader> {
        let dataset = self.inner.clone().with_decode_threads(decode_threads);
        let reader = blocking(py, |_| dataset.packed_reader(&progress.inner, rank, worker))?;
        Ok(PyPackedReader {
            inner: Mutex::new(Some(AnyPackedReader::Packed(Box::new(reader)))),
        })
    }
}

/// Packed datasets mixed in fixed proportions (the Rust side of
/// ``hf3fs.dataset.Mix``).
#[pyclass(name = "_Mixture", module = "hf3fs._hf3fs", frozen)]
pub struct PyMixture {
    inner: Mixture,
}

#[pymethods]
impl PyMixture {
    #[new]
    #[pyo3(signature = (datasets, *, weights, stop, seed))]
    fn new(
        datasets: Vec<PyRef<'_, PyDataset>>,
        weights: Vec<f64>,
        stop: &str,
        seed: u64,
    ) -> PyResult<PyMixture> {
        let stop = Stop::parse(stop).ok_or_else(|| {
            PyValueError::new_err(format!(
                "stop: must be 'first_exhausted' or 'all_exhausted', got {stop:?}"
            ))
        })?;
        let sources = datasets.iter().map(|d| d.inner.clone()).collect();
        let inner = Mixture::new(
            sources,
            MixOptions {
                weights,
                stop,
                seed,
            },
        )
        .map_err(dataset_error)?;
        Ok(PyMixture { inner })
    }

    /// A fresh epoch's progress for a cut of `world_size × num_workers`.
    fn start(&self, epoch: u64, world_size: u64, num_workers: u64) -> PyMixPosition {
        self.inner.start(epoch, world_size, num_workers).into()
    }

    /// Batches per worker over the whole of `progress`.
    fn batches_per_worker(&self, progress: &PyMixPosition) -> PyResult<u64> {
        self.inner
            .batches_per_worker(&progress.inner)
            .map_err(dataset_error)
    }

    /// Sequences each source gives one worker over the whole of `progress`.
    fn draws_per_source(&self, progress: &PyMixPosition) -> PyResult<Vec<u64>> {
        self.inner
            .draws_per_source(&progress.inner)
            .map_err(dataset_error)
    }

    /// The progress after a rank took `batches` more batches from a DataLoader.
    fn after_batches(&self, progress: &PyMixPosition, batches: u64) -> PyMixPosition {
        self.inner.after_batches(&progress.inner, batches).into()
    }

    /// Saved progress brought to a cut of `world_size × num_workers`.
    fn resume(
        &self,
        progress: &PyMixPosition,
        world_size: u64,
        num_workers: u64,
        worker: u64,
    ) -> PyResult<PyMixPosition> {
        let resumed = self
            .inner
            .resume(&progress.inner, world_size, num_workers, worker)
            .map_err(dataset_error)?;
        Ok(resumed.into())
    }

    /// A reader of one (rank, worker)'s mixed batches: a `_PackedReader`
    /// of packed sources, a `_MixedRowReader` of rows.
    #[pyo3(signature = (progress, rank, worker, *, decode_threads=0))]
    fn reader(
        &self,
        py: Python<'_>,
        progress: &PyMixPosition,
        rank: u64,
        worker: u64,
        decode_threads: usize,
    ) -> PyResult<Py<PyAny>> {
        let progress = &progress.inner;
        let mixture = self.inner.clone().with_decode_threads(decode_threads);
        let reader = blocking(py, |_| mixture.reader(progress, rank, worker))?;
        Ok(match self.inner.samples() {
            Samples::Sequences { .. } => Py::new(
                py,
                PyPackedReader {
                    inner: Mutex::new(Some(AnyPackedReader::Mixed(Box::new(reader)))),
                },
            )?
            .into_any(),
            Samples::Rows { .. } => Py::new(
                py,
                PyMixedRowReader {
                    inner: Mutex::new(Some(reader)),
                },
            )?
            .into_any(),
        })
    }
}

/// An iterator of a row mixture's batches (as ``_BatchReader``'s, with a
/// ``source`` column).
#[pyclass(name = "_MixedRowReader", module = "hf3fs._hf3fs", frozen)]
pub struct PyMixedRowReader {
    inner: Mutex<Option<MixedReader>>,
}

impl PyMixedRowReader {
    fn next_rows(&self, py: Python<'_>) -> PyResult<RecordBatch> {
        match next_in(py, &self.inner, MixedReader::next_batch)? {
            Some(MixedBatch::Rows(batch)) => Ok(batch),
            Some(MixedBatch::Packed(_)) => Err(PyValueError::new_err(
                "mix: a row mixture gave packed sequences",
            )),
            None => {
                self.close(py);
                Err(PyStopIteration::new_err(()))
            }
        }
    }
}

#[pymethods]
impl PyMixedRowReader {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<ArrowBatch> {
        Ok(ArrowBatch {
            batch: self.next_rows(py)?,
        })
    }

    /// The next batch as numpy arrays over its own memory.
    #[pyo3(signature = (*, writable))]
    fn next_numpy(&self, py: Python<'_>, writable: bool) -> PyResult<NumpyBatch> {
        NumpyBatch::new(py, self.next_rows(py)?, writable)
    }

    /// The next batch laid out in shared memory, or as writable numpy
    /// arrays when a column is not numbers without nulls.
    fn next_shared(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        shared_or_numpy(py, self.next_rows(py)?)
    }

    /// Stop the readers' threads and free their buffers.
    fn close(&self, py: Python<'_>) {
        let reader = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(move || drop(reader));
    }
}
