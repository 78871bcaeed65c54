//! Result types: `stat_result`, `dirent` and the `_DIR` stream.

use std::ffi::OsString;
use std::sync::Arc;

use hf3fs_core::{DirHandle, FileStat};
use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;

/// The status of a file, with the fields of `os.stat_result`.
///
/// Indexing gives the ten classic fields like `os.stat_result`
/// (`st[stat.ST_SIZE]`); `st_ltarg` is the target when this is a symlink's own status.
#[pyclass(name = "stat_result", module = "hf3fs", frozen)]
pub struct PyStat {
    pub inner: FileStat,
}

#[pymethods]
impl PyStat {
    #[getter]
    fn st_mode(&self) -> u32 {
        self.inner.mode
    }
    #[getter]
    fn st_ino(&self) -> u64 {
        self.inner.ino
    }
    #[getter]
    fn st_dev(&self) -> u64 {
        self.inner.dev
    }
    #[getter]
    fn st_nlink(&self) -> u64 {
        self.inner.nlink
    }
    #[getter]
    fn st_uid(&self) -> u32 {
        self.inner.uid
    }
    #[getter]
    fn st_gid(&self) -> u32 {
        self.inner.gid
    }
    #[getter]
    fn st_size(&self) -> i64 {
        self.inner.size
    }
    #[getter]
    fn st_atime(&self) -> f64 {
        self.inner.atime.as_f64()
    }
    #[getter]
    fn st_mtime(&self) -> f64 {
        self.inner.mtime.as_f64()
    }
    #[getter]
    fn st_ctime(&self) -> f64 {
        self.inner.ctime.as_f64()
    }
    #[getter]
    fn st_atime_ns(&self) -> i128 {
        self.inner.atime.as_nanos()
    }
    #[getter]
    fn st_mtime_ns(&self) -> i128 {
        self.inner.mtime.as_nanos()
    }
    #[getter]
    fn st_ctime_ns(&self) -> i128 {
        self.inner.ctime.as_nanos()
    }
    #[getter]
    fn st_blocks(&self) -> i64 {
        self.inner.blocks
    }
    #[getter]
    fn st_blksize(&self) -> i64 {
        self.inner.blksize
    }
    #[getter]
    fn st_rdev(&self) -> u64 {
        self.inner.rdev
    }
    /// The symlink's target (for the status of a symlink itself), else None.
    #[getter]
    fn st_ltarg(&self) -> Option<OsString> {
        self.inner.link_target.clone()
    }
    /// Whether this is a regular file.
    fn is_file(&self) -> bool {
        self.inner.is_file()
    }
    /// Whether this is a directory.
    fn is_dir(&self) -> bool {
        self.inner.is_dir()
    }
    /// Whether this is a symbolic link.
    fn is_link(&self) -> bool {
        self.inner.is_link()
    }
    fn __len__(&self) -> usize {
        10
    }
    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Py<PyAny>> {
        let i = if index < 0 { index + 10 } else { index };
        let s = &self.inner;
        let v = match i {
            0 => s.mode.into_pyobject(py)?.into_any(),
            1 => s.ino.into_pyobject(py)?.into_any(),
            2 => s.dev.into_pyobject(py)?.into_any(),
            3 => s.nlink.into_pyobject(py)?.into_any(),
            4 => s.uid.into_pyobject(py)?.into_any(),
            5 => s.gid.into_pyobject(py)?.into_any(),
            6 => s.size.into_pyobject(py)?.into_any(),
            7 => s.atime.sec.into_pyobject(py)?.into_any(),
            8 => s.mtime.sec.into_pyobject(py)?.into_any(),
            9 => s.ctime.sec.into_pyobject(py)?.into_any(),
            _ => return Err(PyIndexError::new_err("stat_result index out of range")),
        };
        Ok(v.unbind())
    }
    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "hf3fs.stat_result(st_mode={}, st_ino={}, st_dev={}, st_nlink={}, st_uid={}, st_gid={}, st_size={}, st_atime={}, st_mtime={}, st_ctime={})",
            s.mode, s.ino, s.dev, s.nlink, s.uid, s.gid, s.size, s.atime.sec, s.mtime.sec, s.ctime.sec
        )
    }
}

/// One directory entry from `Client.readdir`.
#[pyclass(name = "dirent", module = "hf3fs", frozen)]
pub struct PyDirent {
    name: OsString,
    d_type: u8,
    ino: u64,
}

impl PyDirent {
    pub fn new(e: hf3fs_core::RawDirEntry) -> Self {
        PyDirent {
            name: e.name,
            d_type: e.d_type,
            ino: e.ino,
        }
    }
}

#[pymethods]
impl PyDirent {
    /// Entry name.
    #[getter]
    fn d_name(&self) -> OsString {
        self.name.clone()
    }
    /// `DT_*` type of the entry (`DT_UNKNOWN` = 0 when the file system does not say).
    #[getter]
    fn d_type(&self) -> u8 {
        self.d_type
    }
    /// Inode number.
    #[getter]
    fn d_ino(&self) -> u64 {
        self.ino
    }
    fn __repr__(&self) -> String {
        format!(
            "hf3fs.dirent(d_name={:?}, d_type={}, d_ino={})",
            self.name, self.d_type, self.ino
        )
    }
}

/// An open directory stream from `Client.opendir`.
#[pyclass(name = "_DIR", module = "hf3fs", frozen)]
pub struct PyDir {
    pub inner: Arc<DirHandle>,
}

#[pymethods]
impl PyDir {
    fn __repr__(&self) -> String {
        format!("<hf3fs._DIR {:?}>", self.inner.path)
    }
}
