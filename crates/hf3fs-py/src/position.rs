//! Where a dataset's epoch stands, as Python holds it (`_Position`), and the
//! one codec between it and the progress keys of a saved state.
//!
//! A state is a plain dict of ints and strings (it goes into checkpoints).
//! Format 2 writes `epoch`, `world_size`, `num_workers`, `rotation`,
//! `consumed` (the counts per worker index, comma-separated), and `worker`
//! and `base` (the layout left when the cut was made, as `a-b,c-d`) only
//! when they are set. Format 1 wrote `worker = -1` and `base = "*"` for
//! "not set", and could lack `rotation`; it still loads.

use dataset::mix::MixPosition;
use dataset::plan::{decode_intervals, encode_intervals};
use dataset::EpochPosition;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The state format this release writes.
pub const STATE_VERSION: u32 = 2;

/// Where a dataset's epoch stands: the cut (`world_size × num_workers`, over
/// the layout `base` left), what each worker index consumed (rows, or tokens
/// when packing), and which worker's entry is known.
#[pyclass(name = "_Position", module = "hf3fs._hf3fs", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyPosition {
    pub(crate) inner: EpochPosition,
}

impl From<EpochPosition> for PyPosition {
    fn from(inner: EpochPosition) -> Self {
        PyPosition { inner }
    }
}

/// The progress keys of a state (format 1 wrote `worker = -1` and
/// `base = "*"` for "not set", and could lack `rotation`).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct SavedProgress {
    epoch: u64,
    world_size: u64,
    num_workers: u64,
    consumed: String,
    #[pyo3(default)]
    rotation: u64,
    #[pyo3(default)]
    worker: Option<i64>,
    #[pyo3(default)]
    base: Option<String>,
}

fn state_error(reason: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("load_state_dict: {reason}"))
}

/// A cut of `world_size × num_workers` with one of `counts` (named `key`
/// in a state) per worker index, and `worker` one of them.
fn check_cut(
    world_size: u64,
    num_workers: u64,
    key: &str,
    counts: &[u64],
    worker: Option<u64>,
) -> PyResult<()> {
    if world_size == 0 || num_workers == 0 {
        return Err(state_error("world_size and num_workers must be positive"));
    }
    if counts.len() as u64 != num_workers {
        return Err(state_error(format!(
            "{key:?} has {} counts for {num_workers} workers",
            counts.len()
        )));
    }
    if let Some(w) = worker.filter(|&w| w >= num_workers) {
        return Err(state_error(format!("worker {w} of {num_workers} workers")));
    }
    Ok(())
}

/// Counts as a state writes them: `c0,c1,...`.
fn encode_counts(counts: &[u64]) -> String {
    let parts: Vec<String> = counts.iter().map(u64::to_string).collect();
    parts.join(",")
}

/// Counts written as `c0,c1,...` (empty: none).
fn decode_counts(text: &str) -> PyResult<Vec<u64>> {
    text.split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.trim()
                .parse()
                .map_err(|_| state_error(format!("'consumed' is malformed: {text:?}")))
        })
        .collect()
}

fn decode_base(text: &str) -> PyResult<Vec<dataset::plan::Interval>> {
    decode_intervals(text).ok_or_else(|| state_error(format!("'base' is malformed: {text:?}")))
}

/// A state whose progress keys are missing or of the wrong type (pyo3's
/// message names the field).
fn unreadable(err: PyErr) -> PyErr {
    state_error(format!("the state's progress does not read: {err}"))
}

impl PyPosition {
    fn checked(inner: EpochPosition) -> PyResult<PyPosition> {
        let p = &inner;
        check_cut(
            p.world_size,
            p.num_workers,
            "consumed",
            &p.consumed,
            p.worker,
        )?;
        Ok(PyPosition { inner })
    }

    /// Read the progress keys of a state of `version` (1 or 2).
    pub(crate) fn read_state(state: &Bound<'_, PyAny>, version: u32) -> PyResult<PyPosition> {
        check_version(version)?;
        let s: SavedProgress = state.extract().map_err(unreadable)?;
        PyPosition::checked(EpochPosition {
            epoch: s.epoch,
            base: read_base(s.base.as_deref(), version)?,
            world_size: s.world_size,
            num_workers: s.num_workers,
            consumed: decode_counts(&s.consumed)?,
            worker: read_worker(s.worker, version)?,
            rotation: s.rotation,
        })
    }

    /// Write the progress keys of a format-2 state into `state`.
    pub(crate) fn write_state(&self, state: &Bound<'_, PyDict>) -> PyResult<()> {
        let p = &self.inner;
        state.set_item("epoch", p.epoch)?;
        state.set_item("world_size", p.world_size)?;
        state.set_item("num_workers", p.num_workers)?;
        state.set_item("consumed", encode_counts(&p.consumed))?;
        state.set_item("rotation", p.rotation)?;
        if let Some(worker) = p.worker {
            state.set_item("worker", worker)?;
        }
        if let Some(base) = &p.base {
            state.set_item("base", encode_intervals(base))?;
        }
        Ok(())
    }
}

#[pymethods]
impl PyPosition {
    /// The progress a state's keys give (`version` 1 or 2).
    #[staticmethod]
    fn from_state(state: &Bound<'_, PyAny>, version: u32) -> PyResult<PyPosition> {
        PyPosition::read_state(state, version)
    }

    /// The progress keys of a format-2 state, as a new dict.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let state = PyDict::new(py);
        self.write_state(&state)?;
        Ok(state)
    }

    /// The same progress with each worker index's count `consumed`, and only
    /// `worker`'s entry known (None: all are).
    #[pyo3(signature = (consumed, worker))]
    fn with_position(&self, consumed: Vec<u64>, worker: Option<u64>) -> PyResult<PyPosition> {
        PyPosition::checked(EpochPosition {
            consumed,
            worker,
            ..self.inner.clone()
        })
    }

    /// The span DataLoader worker `worker` reads.
    fn span_of(&self, worker: u64) -> u64 {
        self.inner.span_of(worker)
    }

    #[getter]
    fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    #[getter]
    fn world_size(&self) -> u64 {
        self.inner.world_size
    }

    #[getter]
    fn num_workers(&self) -> u64 {
        self.inner.num_workers
    }

    /// Units (rows, or tokens when packing) each worker index consumed.
    #[getter]
    fn consumed(&self) -> Vec<u64> {
        self.inner.consumed.clone()
    }

    /// The worker whose entry of `consumed` is known (None: all are).
    #[getter]
    fn worker(&self) -> Option<u64> {
        self.inner.worker
    }

    #[getter]
    fn rotation(&self) -> u64 {
        self.inner.rotation
    }

    /// Pickled as its state keys (DataLoader workers receive it).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let from_state = py.get_type::<PyPosition>().getattr("from_state")?;
        let args = (self.state(py)?, STATE_VERSION).into_pyobject(py)?;
        PyTuple::new(py, [from_state, args.into_any()])
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "_Position(epoch={}, world_size={}, num_workers={}, consumed={:?}, worker={:?}, rotation={}, base={})",
            p.epoch,
            p.world_size,
            p.num_workers,
            p.consumed,
            p.worker,
            p.rotation,
            p.base.as_deref().map(encode_intervals).map_or("None".to_string(), |b| format!("{b:?}"))
        )
    }
}

/// The cut keys of one mixed source's entry in a mixture's state: its
/// `epoch`, and `base` when set (format 1: `"*"` when not).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct SavedCut {
    epoch: u64,
    #[pyo3(default)]
    base: Option<String>,
}

/// The progress keys of a mixture's state (format 1 wrote `worker = -1`
/// for "not set").
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct SavedMixProgress {
    epoch: u64,
    world_size: u64,
    num_workers: u64,
    draws: String,
    rotation: u64,
    #[pyo3(default)]
    worker: Option<i64>,
}

/// `base` as a state of `version` writes it.
fn read_base(base: Option<&str>, version: u32) -> PyResult<Option<Vec<dataset::plan::Interval>>> {
    match (base, version) {
        (None, 1) => Err(state_error("the state lacks 'base'")),
        (Some("*"), 1) | (None, _) => Ok(None),
        (Some(text), _) => Ok(Some(decode_base(text)?)),
    }
}

/// `worker` as a state of `version` writes it.
fn read_worker(worker: Option<i64>, version: u32) -> PyResult<Option<u64>> {
    match (worker, version) {
        (None, 1) => Err(state_error("the state lacks 'worker'")),
        (Some(w), 1) if w < 0 => Ok(None),
        (None, _) => Ok(None),
        (Some(w), _) => u64::try_from(w)
            .map(Some)
            .map_err(|_| state_error(format!("worker {w} is negative"))),
    }
}

fn check_version(version: u32) -> PyResult<()> {
    if version == 1 || version == STATE_VERSION {
        return Ok(());
    }
    Err(state_error(format!(
        "state version {version} is not one this release reads (1 or {STATE_VERSION})"
    )))
}

/// Where a mixture's epoch stands: each source's cut (its progress, with
/// nothing consumed: a source's position is replayed from the draws), and
/// the draws each worker index made.
#[pyclass(name = "_MixPosition", module = "hf3fs._hf3fs", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyMixPosition {
    pub(crate) inner: MixPosition,
}

impl From<MixPosition> for PyMixPosition {
    fn from(inner: MixPosition) -> Self {
        PyMixPosition { inner }
    }
}

impl PyMixPosition {
    fn checked(inner: MixPosition) -> PyResult<PyMixPosition> {
        let p = &inner;
        check_cut(p.world_size, p.num_workers, "draws", &p.draws, p.worker)?;
        Ok(PyMixPosition { inner })
    }
}

#[pymethods]
impl PyMixPosition {
    /// The progress a mixture state's keys give (`version` 1 or 2), with
    /// `sources` the sources' entries in mixture order.
    #[staticmethod]
    fn from_state(
        state: &Bound<'_, PyAny>,
        version: u32,
        sources: Vec<Bound<'_, PyAny>>,
    ) -> PyResult<PyMixPosition> {
        check_version(version)?;
        let s: SavedMixProgress = state.extract().map_err(unreadable)?;
        let sources = sources
            .iter()
            .map(|entry| -> PyResult<EpochPosition> {
                let cut: SavedCut = entry.extract().map_err(unreadable)?;
                Ok(EpochPosition {
                    epoch: cut.epoch,
                    base: read_base(cut.base.as_deref(), version)?,
                    world_size: s.world_size,
                    num_workers: s.num_workers,
                    consumed: vec![0; s.num_workers as usize],
                    worker: None,
                    rotation: 0,
                })
            })
            .collect::<PyResult<_>>()?;
        PyMixPosition::checked(MixPosition {
            epoch: s.epoch,
            sources,
            world_size: s.world_size,
            num_workers: s.num_workers,
            draws: decode_counts(&s.draws)?,
            worker: read_worker(s.worker, version)?,
            rotation: s.rotation,
        })
    }

    /// The mixture's progress keys of a format-2 state, as a new dict.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = &self.inner;
        let state = PyDict::new(py);
        state.set_item("epoch", p.epoch)?;
        state.set_item("world_size", p.world_size)?;
        state.set_item("num_workers", p.num_workers)?;
        state.set_item("draws", encode_counts(&p.draws))?;
        state.set_item("rotation", p.rotation)?;
        if let Some(worker) = p.worker {
            state.set_item("worker", worker)?;
        }
        Ok(state)
    }

    /// Each source's cut keys of a format-2 state (`epoch`, and `base` when
    /// set), as new dicts in mixture order.
    fn source_states<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .sources
            .iter()
            .map(|s| {
                let entry = PyDict::new(py);
                entry.set_item("epoch", s.epoch)?;
                if let Some(base) = &s.base {
                    entry.set_item("base", encode_intervals(base))?;
                }
                Ok(entry)
            })
            .collect()
    }

    /// The same progress with each worker index's `draws`, and only
    /// `worker`'s entry known (None: all are).
    #[pyo3(signature = (draws, worker))]
    fn with_position(&self, draws: Vec<u64>, worker: Option<u64>) -> PyResult<PyMixPosition> {
        PyMixPosition::checked(MixPosition {
            draws,
            worker,
            ..self.inner.clone()
        })
    }

    /// The worker index DataLoader worker `worker` draws as.
    fn span_of(&self, worker: u64) -> u64 {
        self.inner.span_of(worker)
    }

    #[getter]
    fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    #[getter]
    fn world_size(&self) -> u64 {
        self.inner.world_size
    }

    #[getter]
    fn num_workers(&self) -> u64 {
        self.inner.num_workers
    }

    /// Samples drawn by each worker index.
    #[getter]
    fn draws(&self) -> Vec<u64> {
        self.inner.draws.clone()
    }

    /// The worker whose entry of `draws` is known (None: all are).
    #[getter]
    fn worker(&self) -> Option<u64> {
        self.inner.worker
    }

    #[getter]
    fn rotation(&self) -> u64 {
        self.inner.rotation
    }

    /// Each source's progress.
    #[getter]
    fn sources(&self) -> Vec<PyPosition> {
        self.inner
            .sources
            .iter()
            .cloned()
            .map(PyPosition::from)
            .collect()
    }

    /// Pickled as its state keys (DataLoader workers receive it).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let from_state = py.get_type::<PyMixPosition>().getattr("from_state")?;
        let args = (self.state(py)?, STATE_VERSION, self.source_states(py)?).into_pyobject(py)?;
        PyTuple::new(py, [from_state, args.into_any()])
    }
}
