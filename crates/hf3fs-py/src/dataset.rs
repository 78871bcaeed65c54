//! Bindings of the dataset crate: the dataset, its reader, and Arrow batches
//! exported without copying (Arrow PyCapsules; numpy arrays in
//! [`crate::numpy_batch`]).

use std::sync::{Arc, Mutex};

use arrow_array::{RecordBatch, StructArray};
use arrow_schema::{DataType, Field};
use dataset::index::{IndexOptions, IndexProgress};
use dataset::reader::{BatchReader, ReaderStats};
use dataset::source::SourceOptions;
use dataset::{Dataset, DatasetOptions};
use hf3fs_core::fs::UriOptions;
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

use crate::arrow_capsule::{array_capsules, schema_capsule, stream_capsule};
use crate::blocking::{blocking, next_in};
use crate::cache::PyCacheOptions;
use crate::client::PyClient;
use crate::filter::PyFilter;
use crate::fs::{PyFileSystem, StorageOptionsArg};
use crate::numpy_batch::NumpyBatch;
use crate::position::PyPosition;
use crate::shared_batch::share_batch;

/// Footer progress for a Python callable `(done, files)`, called from the
/// index's reading threads; what it raises is printed, not propagated: a
/// progress bar must not fail the open.
fn footer_progress(callback: Py<PyAny>) -> IndexProgress {
    IndexProgress(Arc::new(move |done, files| {
        Python::attach(|py| {
            if let Err(e) = callback.call1(py, (done, files)) {
                e.print(py);
            }
        })
    }))
}

/// The options `hf3fs.dataset.ParquetDataset` takes with their defaults
/// (`DatasetOptions::default()`), for its signature.
pub(crate) fn dataset_defaults(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let d = DatasetOptions::default();
    let out = pyo3::types::PyDict::new(py);
    out.set_item("batch_size", d.batch_size)?;
    out.set_item("shuffle", d.shuffle)?;
    out.set_item("seed", d.seed)?;
    out.set_item("shuffle_window", d.shuffle_window)?;
    out.set_item("drop_remainder", d.drop_remainder)?;
    out.set_item("drop_last", d.drop_last)?;
    out.set_item("prefetch_bytes", d.prefetch_bytes)?;
    out.set_item("numa", d.numa)?;
    Ok(out)
}

/// One file of a dataset, as `info()` reports it.
#[pyclass(name = "_FileSummary", module = "hf3fs._hf3fs", frozen, get_all)]
pub struct FileSummary {
    path: String,
    row_groups: usize,
    rows: i64,
    bytes: u64,
    /// Whether the file has a page index (column and offset indexes).
    page_index: bool,
}

/// One top-level column of a dataset's files, as `info()` reports it.
#[pyclass(name = "_ColumnSummary", module = "hf3fs._hf3fs", frozen, get_all)]
pub struct ColumnSummary {
    name: String,
    compressed_bytes: i64,
    uncompressed_bytes: i64,
    /// The compression codecs of its chunks, sorted.
    codecs: Vec<String>,
    /// Whether batches hold it.
    read: bool,
    /// Whether the fast decode path decodes it in every file.
    fast_decode: bool,
}

/// The packed column's tokens in one file.
#[pyclass(name = "_FileTokens", module = "hf3fs._hf3fs", frozen, get_all)]
pub struct FileTokens {
    path: String,
    tokens: u64,
    rows: u64,
    /// How its row groups were counted: `"histogram"`, `"statistics"`, `"decoded"`.
    counted_from: Vec<&'static str>,
}

/// A Parquet dataset (the Rust side of ``hf3fs.dataset.ParquetDataset``).
#[pyclass(name = "_Dataset", module = "hf3fs._hf3fs", frozen)]
pub struct PyDataset {
    pub(crate) inner: Dataset,
}

#[pymethods]
impl PyDataset {
    #[new]
    // An option left None takes `DatasetOptions::default()`'s value, the one
    // place the defaults are written (Python's signatures read them from
    // `DATASET_DEFAULTS`).
    #[pyo3(signature = (sources, *, columns=None, filter=None, batch_size=None, shuffle=None,
        seed=None, shuffle_window=None, drop_remainder=None, drop_last=None, prefetch_bytes=None,
        numa=None, cache_options=None, client=None, filesystem=None, token=None,
        storage_options=None, on_footer=None, pack=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        sources: Vec<String>,
        columns: Option<Vec<String>>,
        filter: Option<PyRef<'_, PyFilter>>,
        batch_size: Option<usize>,
        shuffle: Option<bool>,
        seed: Option<u64>,
        shuffle_window: Option<u64>,
        drop_remainder: Option<bool>,
        drop_last: Option<bool>,
        prefetch_bytes: Option<u64>,
        numa: Option<i32>,
        cache_options: Option<PyCacheOptions>,
        client: Option<Bound<'_, PyClient>>,
        filesystem: Option<Bound<'_, PyFileSystem>>,
        token: Option<String>,
        storage_options: Option<StorageOptionsArg>,
        on_footer: Option<Py<PyAny>>,
        pack: Option<PyRef<'_, crate::pack::PyPack>>,
    ) -> PyResult<PyDataset> {
        let filter = filter.map(|f| f.inner.clone());
        let defaults = DatasetOptions::default();
        let options = DatasetOptions {
            columns,
            filter,
            batch_size: batch_size.unwrap_or(defaults.batch_size),
            shuffle: shuffle.unwrap_or(defaults.shuffle),
            seed: seed.unwrap_or(defaults.seed),
            shuffle_window: shuffle_window.unwrap_or(defaults.shuffle_window),
            drop_remainder: drop_remainder.unwrap_or(defaults.drop_remainder),
            drop_last: drop_last.unwrap_or(defaults.drop_last),
            prefetch_bytes: prefetch_bytes.unwrap_or(defaults.prefetch_bytes),
            numa: numa.unwrap_or(defaults.numa),
            cache: cache_options.map(|c| c.inner),
            decode_threads: 0,
            fast_decode: defaults.fast_decode,
            index: IndexOptions {
                progress: on_footer.map(footer_progress),
                ..defaults.index
            },
            pack: pack.map(|p| p.inner.clone()),
        };
        let source_options = SourceOptions {
            uri: UriOptions {
                token,
                storage_options: storage_options.map(|s| s.0).unwrap_or_default(),
                ..UriOptions::default()
            },
            client: client.map(|c| c.get().inner.clone()),
            filesystem: filesystem.map(|f| f.get().inner.clone()),
        };
        let inner = blocking(py, |cancel| {
            Dataset::open(&sources, &source_options, options, cancel)
        })?;
        Ok(PyDataset { inner })
    }

    /// Rows yielded per epoch (after the filter, before sharding).
    #[getter]
    fn num_rows(&self) -> u64 {
        self.inner.num_rows()
    }

    /// The files, as the source named them.
    #[getter]
    fn files(&self) -> Vec<String> {
        self.inner
            .scan()
            .index
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect()
    }

    /// The yielded columns.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.inner.scan().columns.clone()
    }

    /// The schema of yielded batches, as an Arrow C schema capsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, self.inner.schema().as_ref())
    }

    /// A digest of the files, row groups and columns.
    #[getter]
    fn fingerprint(&self) -> String {
        self.inner.scan().fingerprint()
    }

    /// The digest states of format 1 carry.
    #[getter]
    fn fingerprint_v1(&self) -> String {
        self.inner.scan().fingerprint_v1()
    }

    /// What `info()` reports of each file.
    fn file_info(&self) -> Vec<FileSummary> {
        self.inner
            .scan()
            .index
            .files
            .iter()
            .map(|f| {
                let m = f.metadata();
                FileSummary {
                    path: f.display().to_string(),
                    row_groups: m.num_row_groups(),
                    rows: m.file_metadata().num_rows(),
                    bytes: f.source.size,
                    page_index: m.offset_index().is_some_and(|o| !o.is_empty()),
                }
            })
            .collect()
    }

    /// Row groups read (after pruning) and their rows.
    fn group_rows(&self) -> Vec<u64> {
        self.inner.scan().group_rows()
    }

    /// What `info()` reports of each top-level column of the files.
    fn column_info(&self) -> Vec<ColumnSummary> {
        let scan = self.inner.scan();
        let fast = scan.fast_column_names();
        let mut columns: Vec<(ColumnSummary, std::collections::BTreeSet<String>)> = scan
            .index
            .schema
            .fields()
            .iter()
            .map(|f| {
                let summary = ColumnSummary {
                    name: f.name().clone(),
                    compressed_bytes: 0,
                    uncompressed_bytes: 0,
                    codecs: Vec::new(),
                    read: scan.columns.contains(f.name()),
                    fast_decode: fast.contains(f.name()),
                };
                (summary, Default::default())
            })
            .collect();
        for file in &scan.index.files {
            let descr = file.metadata().file_metadata().schema_descr();
            for rg in file.metadata().row_groups() {
                for (i, c) in rg.columns().iter().enumerate() {
                    if let Some((summary, codecs)) = columns.get_mut(descr.get_column_root_idx(i)) {
                        summary.compressed_bytes += c.compressed_size();
                        summary.uncompressed_bytes += c.uncompressed_size();
                        // "ZSTD(ZstdLevel(1))": a reader sees the codec, not the writer's level.
                        let codec = c.compression().to_string();
                        let name = codec.split('(').next().unwrap_or(&codec);
                        codecs.insert(name.to_string());
                    }
                }
            }
        }
        columns
            .into_iter()
            .map(|(mut summary, codecs)| {
                summary.codecs = codecs.into_iter().collect();
                summary
            })
            .collect()
    }

    /// A fresh epoch's progress for a cut of `world_size × num_workers`.
    fn start(&self, epoch: u64, world_size: u64, num_workers: u64) -> PyPosition {
        self.inner.start(epoch, world_size, num_workers).into()
    }

    /// Units (rows, or tokens when packing) per span of the progress's cut.
    fn span_units(&self, progress: &PyPosition) -> u64 {
        self.inner.span_units(&progress.inner)
    }

    /// Units of the progress's cut no span holds (left out).
    fn left_out(&self, progress: &PyPosition) -> u64 {
        self.inner.left_out(&progress.inner)
    }

    /// Units per epoch before sharding (rows, or tokens when packing).
    #[getter]
    fn num_units(&self) -> u64 {
        self.inner.num_units()
    }

    /// Per file: the packed column's tokens and how they were counted;
    /// empty unless packing.
    fn file_tokens(&self) -> Vec<FileTokens> {
        let scan = self.inner.scan();
        let sources = self.inner.token_count_sources();
        if sources.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<(FileTokens, std::collections::BTreeSet<&'static str>)> = scan
            .index
            .files
            .iter()
            .map(|f| {
                let tokens = FileTokens {
                    path: f.display().to_string(),
                    tokens: 0,
                    rows: 0,
                    counted_from: Vec::new(),
                };
                (tokens, Default::default())
            })
            .collect();
        for ((group, &tokens), how) in scan
            .groups
            .iter()
            .zip(self.inner.group_units())
            .zip(sources)
        {
            let (entry, counted_from) = &mut out[group.file];
            entry.tokens += tokens;
            entry.rows += group.rows();
            counted_from.insert(match how {
                dataset::pack::tokens::CountSource::Histogram => "histogram",
                dataset::pack::tokens::CountSource::Statistics => "statistics",
                dataset::pack::tokens::CountSource::Decoded => "decoded",
            });
        }
        out.into_iter()
            .map(|(mut entry, how)| {
                entry.counted_from = how.into_iter().collect();
                entry
            })
            .collect()
    }

    /// A reader of one (rank, worker)'s packed batches.
    #[pyo3(signature = (progress, rank, worker, *, decode_threads=0))]
    fn packed_reader(
        &self,
        py: Python<'_>,
        progress: &PyPosition,
        rank: u64,
        worker: u64,
        decode_threads: usize,
    ) -> PyResult<crate::pack::PyPackedReader> {
        self.packed_reader_of(py, progress, rank, worker, decode_threads)
    }

    /// Batches per worker over the whole of `progress`.
    fn batches_per_worker(&self, progress: &PyPosition) -> u64 {
        self.inner.batches_per_worker(&progress.inner)
    }

    /// The progress after a rank took `batches` more batches from a DataLoader.
    fn after_batches(&self, progress: &PyPosition, batches: u64) -> PyPosition {
        self.inner.after_batches(&progress.inner, batches).into()
    }

    /// Saved progress brought to a cut of `world_size × num_workers`.
    fn resume(
        &self,
        progress: &PyPosition,
        world_size: u64,
        num_workers: u64,
        worker: u64,
    ) -> PyResult<PyPosition> {
        let resumed = self
            .inner
            .resume(&progress.inner, world_size, num_workers, worker)
            .map_err(crate::error::dataset_error)?;
        Ok(resumed.into())
    }

    /// A reader of one (rank, worker)'s batches.
    #[pyo3(signature = (progress, rank, worker, *, decode_threads=0))]
    fn reader(
        &self,
        py: Python<'_>,
        progress: &PyPosition,
        rank: u64,
        worker: u64,
        decode_threads: usize,
    ) -> PyResult<PyBatchReader> {
        let dataset = self.inner.clone().with_decode_threads(decode_threads);
        let reader = blocking(py, |_| dataset.reader(&progress.inner, rank, worker))?;
        Ok(PyBatchReader {
            closed_stats: Mutex::new(ReaderStats::default()),
            inner: Mutex::new(Some(reader)),
        })
    }
}

/// `batch` laid out in shared memory (a :class:`SharedLayout`), or as
/// writable numpy arrays (a :class:`NumpyBatch`) when a column is not
/// numbers without nulls.
pub(crate) fn shared_or_numpy(py: Python<'_>, batch: RecordBatch) -> PyResult<Py<PyAny>> {
    match share_batch(py, &batch)? {
        Some(layout) => Ok(Py::new(py, layout)?.into_any()),
        None => Ok(Py::new(py, NumpyBatch::new(py, batch, true)?)?.into_any()),
    }
}

/// An iterator of :class:`ArrowBatch` for one (rank, worker).
#[pyclass(name = "_BatchReader", module = "hf3fs._hf3fs", frozen)]
pub struct PyBatchReader {
    inner: Mutex<Option<BatchReader>>,
    /// The stats when the reader was closed.
    closed_stats: Mutex<ReaderStats>,
}

impl PyBatchReader {
    /// The next batch; StopIteration (and the reader closed) at the end.
    fn next_record_batch(&self, py: Python<'_>) -> PyResult<RecordBatch> {
        match next_in(py, &self.inner, BatchReader::next_batch)? {
            Some(batch) => Ok(batch),
            None => {
                self.close(py);
                Err(PyStopIteration::new_err(()))
            }
        }
    }
}

#[pymethods]
impl PyBatchReader {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<ArrowBatch> {
        let batch = self.next_record_batch(py)?;
        Ok(ArrowBatch { batch })
    }

    /// The next batch laid out in shared memory (a :class:`SharedLayout`),
    /// or as writable numpy arrays (a :class:`NumpyBatch`) when a column is
    /// not numbers without nulls.
    fn next_shared(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let batch = self.next_record_batch(py)?;
        shared_or_numpy(py, batch)
    }

    /// The next batch as numpy arrays, made from the batch's own memory
    /// (writable: handed over where no other batch shares it, else copied).
    #[pyo3(signature = (*, writable))]
    fn next_numpy(&self, py: Python<'_>, writable: bool) -> PyResult<NumpyBatch> {
        let batch = self.next_record_batch(py)?;
        NumpyBatch::new(py, batch, writable)
    }

    /// Stop the reader's threads and free its buffers.
    pub(crate) fn close(&self, py: Python<'_>) {
        let reader = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(r) = &reader {
            *self.closed_stats.lock().unwrap_or_else(|p| p.into_inner()) = r.stats();
        }
        py.detach(move || drop(reader));
    }

    /// What the reader did so far: pieces, read requests, bytes read,
    /// unplanned reads, and columns of pieces decoded by the fast path (and
    /// of those, by its page decoder) and by arrow-rs.
    fn stats(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let s = match guard.as_ref() {
            Some(r) => r.stats(),
            None => *self.closed_stats.lock().unwrap_or_else(|p| p.into_inner()),
        };
        [
            ("pieces", s.pieces),
            ("requests", s.requests),
            ("bytes_read", s.bytes_read),
            ("unplanned_reads", s.unplanned_reads),
            ("fast_columns", s.fast_columns),
            ("page_decoder_columns", s.page_decoder_columns),
            ("arrow_columns", s.arrow_columns),
        ]
        .into()
    }
}

/// One batch of rows as Arrow data. ``pyarrow.record_batch(b)``,
/// ``polars.from_arrow(b)`` and DuckDB take it without copying (Arrow
/// PyCapsule interface).
#[pyclass(name = "ArrowBatch", module = "hf3fs.dataset", frozen)]
pub struct ArrowBatch {
    pub(crate) batch: RecordBatch,
}

impl ArrowBatch {
    fn struct_field(&self) -> Arc<Field> {
        let schema = self.batch.schema();
        Arc::new(
            Field::new("", DataType::Struct(schema.fields().clone()), false)
                .with_metadata(schema.metadata().clone()),
        )
    }
}

#[pymethods]
impl ArrowBatch {
    /// Rows in the batch.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    /// The column names.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<hf3fs.dataset.ArrowBatch {} rows: {}>",
            self.batch.num_rows(),
            self.batch
                .schema()
                .fields()
                .iter()
                .map(|f| format!("{}: {}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, self.batch.schema().as_ref())
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let array = StructArray::from(self.batch.clone());
        array_capsules(py, self.struct_field(), &array, requested_schema)
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        stream_capsule(py, self.batch.clone(), requested_schema)
    }

    /// The batch as numpy arrays (see :class:`NumpyBatch`); writable arrays
    /// are copies, as this batch keeps its memory.
    #[pyo3(signature = (*, writable=false))]
    fn to_numpy(&self, py: Python<'_>, writable: bool) -> PyResult<NumpyBatch> {
        NumpyBatch::new(py, self.batch.clone(), writable)
    }
}
