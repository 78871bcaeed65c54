//! Python bindings of hf3fs (the `hf3fs._hf3fs` extension module).
//!
//! Only conversions live here; the logic is in hf3fs-core and the dataset crate.

mod arrow_capsule;
mod blocking;
mod cache;
mod client;
mod dataset;
mod error;
mod filter;
mod fs;
mod iovec;
mod numpy_batch;
mod pack;
mod position;
mod shared_batch;
mod types;

use pyo3::prelude::*;

use crate::blocking::blocking;

// Rust allocations only (Python keeps its own allocator): the reader allocates and frees
// multi-MiB decode buffers for every batch, and glibc returns those to the kernel, so each
// batch paid page faults and zeroing again; mimalloc reuses them (about 15% less CPU on the
// token benchmark, most of it system time). Its retained heaps cost RSS: see the dataset notes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Map a local path under a configured mount root to `(mount_name, server_path)`.
#[pyfunction]
fn _locate(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
    let path = client::path_arg("serverPath", path)?;
    blocking(py, |_| hf3fs_core::Config::load()?.locate_local_path(&path))
}

/// The configured mounts as `{name: root}`.
#[pyfunction]
fn _mounts(py: Python<'_>) -> PyResult<Vec<(String, std::path::PathBuf)>> {
    blocking(py, |_| {
        let config = hf3fs_core::Config::load()?;
        Ok::<_, hf3fs_core::Error>(
            config
                .mounts
                .into_iter()
                .map(|(name, m)| (name, m.root))
                .collect(),
        )
    })
}

/// Ask for `threads` CPU pool threads, if this process's pool has not
/// started (a DataLoader worker decodes with its share of the cores).
#[pyfunction]
fn _request_cpu_threads(threads: usize) {
    hf3fs_core::runtime::cpu::request_threads(threads);
}

/// The process's IO runtime: threads running now and at most, and the
/// settings the limits come from.
#[pyfunction]
fn _runtime_info(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let info = blocking(py, |_| hf3fs_core::runtime::info())?;
    let d = pyo3::types::PyDict::new(py);
    d.set_item("engine_threads", info.engine_threads)?;
    d.set_item("request_threads", info.request_threads)?;
    d.set_item("max_request_threads", info.max_request_threads)?;
    d.set_item("io_threads", info.io_threads)?;
    d.set_item("max_io_threads", info.max_io_threads)?;
    d.set_item("cpu_threads", info.cpu_threads)?;
    d.set_item("max_cpu_threads", info.max_cpu_threads)?;
    d.set_item("net_threads", info.net_threads)?;
    d.set_item("local_requests", info.settings.local_requests)?;
    d.set_item("remote_requests", info.settings.remote_requests)?;
    Ok(d)
}

#[pymodule]
fn _hf3fs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::PyClient>()?;
    m.add_class::<iovec::PyIovec>()?;
    m.add_class::<types::PyStat>()?;
    m.add_class::<types::PyDirent>()?;
    m.add_class::<types::PyDir>()?;
    m.add_class::<fs::PyFileSystem>()?;
    m.add_class::<fs::PyRandomAccessFile>()?;
    m.add_class::<fs::PyOutputStream>()?;
    m.add_class::<cache::PyCacheOptions>()?;
    m.add_class::<cache::PyReadRangeCache>()?;
    m.add_class::<cache::PyBuffer>()?;
    m.add_function(wrap_pyfunction!(_request_cpu_threads, m)?)?;
    m.add_class::<filter::PyFilter>()?;
    m.add_class::<dataset::PyDataset>()?;
    m.add_class::<dataset::FileSummary>()?;
    m.add_class::<dataset::ColumnSummary>()?;
    m.add_class::<dataset::FileTokens>()?;
    m.add_class::<dataset::PyBatchReader>()?;
    m.add_class::<dataset::ArrowBatch>()?;
    m.add_class::<numpy_batch::NumpyBatch>()?;
    m.add_class::<pack::PyPack>()?;
    m.add_class::<pack::PyArrowArray>()?;
    m.add_class::<pack::PyPackedReader>()?;
    m.add_class::<position::PyMixPosition>()?;
    m.add_class::<position::PyPosition>()?;
    m.add_class::<pack::PyMixture>()?;
    m.add_class::<pack::PyMixedRowReader>()?;
    m.add_class::<shared_batch::SharedArray>()?;
    m.add_class::<shared_batch::PySharedMemory>()?;
    m.add_class::<shared_batch::SharedLayout>()?;
    m.add_function(wrap_pyfunction!(shared_batch::received_segments, m)?)?;
    m.add_function(wrap_pyfunction!(shared_batch::forget_received_segments, m)?)?;
    m.add_function(wrap_pyfunction!(cache::py_coalesce_ranges, m)?)?;
    m.add_class::<fs::PyParsedUri>()?;
    m.add_function(wrap_pyfunction!(fs::_parse_uri, m)?)?;
    m.add_function(wrap_pyfunction!(_locate, m)?)?;
    m.add_function(wrap_pyfunction!(_mounts, m)?)?;
    m.add_function(wrap_pyfunction!(_runtime_info, m)?)?;
    m.add("DATASET_DEFAULTS", dataset::dataset_defaults(m.py())?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
