//! An Arrow-style file system layer.
//!
//! [`FileSystem`] has Arrow's operations (`GetFileInfo`, `CreateDir`,
//! `DeleteDirContents`, `Move`, `CopyFile`, `OpenInputFile`, ...) over
//! `/`-separated paths; [`FileSystemExt`] adds conveniences for every
//! implementation, and [`FileSystemAsync`] runs the slow calls on the file
//! system's [`IoContext`]. Files are read through [`RandomAccessFile`]
//! (positional, lock-free reads and batched `read_many`) or an
//! [`InputStream`], and written through an [`OutputStream`].
//!
//! Implementations: [`Hf3fsFileSystem`] (a mount, through a [`Client`](crate::Client)),
//! [`LocalFileSystem`], [`SubTreeFileSystem`], [`SlowFileSystem`] (latency
//! injection for tests and benchmarks), [`MockFileSystem`] (in memory) and
//! `ObjectStoreFileSystem` (S3-compatible object stores, with the `s3`
//! feature).
//! [`filesystem_from_uri`] picks one for `hf3fs://`, `s3://`, `file://`,
//! `mock://` and plain local paths. [`ReadRangeCache`] coalesces many small reads into few
//! large ones, as Arrow's does. Reads of many ranges go through the process's
//! [`Scheduler`], which keeps many requests from many files in flight.

mod cache;
mod context;
mod copy;
mod interfaces;
mod memory;
mod mock;
#[cfg(feature = "s3")]
mod objectstore;
mod path;
mod posix;
#[cfg(feature = "s3")]
mod s3;
mod scheduler;
mod slow;
mod storage_options;
mod subtree;
mod uri;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

pub use cache::{
    coalesce_ranges, split_ranges, CacheOptions, ReadRangeCache,
    DEFAULT_IDEAL_BANDWIDTH_UTILIZATION_FRAC,
};
pub use context::{IoContext, PendingResult, Promise};
pub use copy::{copy_between, CopyOptions, DEFAULT_COPY_CHUNK, DEFAULT_COPY_READS};
pub use interfaces::{InputStream, OutputStream, RandomAccessFile, RandomAccessStream, ReadRange};
pub use memory::BufferReader;
pub use mock::{MockClock, MockFileSystem};
#[cfg(feature = "s3")]
pub use objectstore::{ObjectStoreFileSystem, DEFAULT_PART_SIZE};
pub use posix::{
    Hf3fsFileSystem, LocalFileSystem, LocalPaths, MountPaths, PathStyle, PosixFileSystem,
};
#[cfg(feature = "s3")]
pub use s3::{DEFAULT_MAX_RETRIES, DEFAULT_RETRY_TIMEOUT};
pub use scheduler::{
    read_contiguous, read_ranges, read_ranges_async, IoClass, ReadDone, ReadRequest, Scheduler,
    SchedulerStats,
};
pub use slow::{LatencyGenerator, SlowFileSystem, SlowStats};
pub use storage_options::StorageOptions;
pub use subtree::SubTreeFileSystem;
pub use uri::{filesystem_from_uri, parse_uri, ParsedUri, Scheme, UriOptions};

use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::{FileStat, Timespec};

/// Key-value metadata attached to an output stream (kept by backends that can
/// store it, such as [`MockFileSystem`]; local files have nowhere to keep it).
pub type KeyValueMetadata = Vec<(String, String)>;

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// Nothing exists at the path (not an error for `get_file_info`).
    NotFound,
    /// Something that is neither a file nor a directory (a socket, a device).
    Unknown,
    /// A regular file.
    File,
    /// A directory.
    Directory,
}

impl FileType {
    /// Lower-case name, as fsspec spells types (`"file"`, `"directory"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::NotFound => "not_found",
            FileType::Unknown => "other",
            FileType::File => "file",
            FileType::Directory => "directory",
        }
    }
}

/// What [`FileSystem::get_file_info`] reports about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The path, as the caller spelled it (selector results: `base_dir/name`).
    pub path: String,
    /// What the path names.
    pub file_type: FileType,
    /// Size in bytes (files only).
    pub size: Option<u64>,
    /// Last modification time, when the backend knows it.
    pub mtime: Option<SystemTime>,
    /// What identifies this version of the file, when the backend has it
    /// (an object store's ETag): a rewrite of the same size in the same
    /// second still changes it.
    pub version: Option<String>,
}

impl FileInfo {
    /// A `NotFound` info for `path`.
    pub fn not_found(path: impl Into<String>) -> FileInfo {
        FileInfo {
            path: path.into(),
            file_type: FileType::NotFound,
            size: None,
            mtime: None,
            version: None,
        }
    }

    /// Whether the path is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type == FileType::File
    }

    /// Whether the path is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }

    /// Whether something exists at the path.
    pub fn exists(&self) -> bool {
        self.file_type != FileType::NotFound
    }

    /// The last path component.
    pub fn base_name(&self) -> &str {
        path::base_name(&self.path)
    }
}

/// Which paths [`FileSystem::get_file_info_selector`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSelector {
    /// The directory to list (never part of the results).
    pub base_dir: String,
    /// A missing `base_dir` gives an empty listing instead of an error.
    pub allow_not_found: bool,
    /// Descend into subdirectories.
    pub recursive: bool,
    /// How many levels of subdirectories to descend into when `recursive`
    /// (0 lists only `base_dir`'s own entries).
    pub max_recursion: u32,
}

impl FileSelector {
    /// A non-recursive listing of `base_dir` that fails when it is missing.
    pub fn new(base_dir: impl Into<String>) -> FileSelector {
        FileSelector {
            base_dir: base_dir.into(),
            allow_not_found: false,
            recursive: false,
            // Arrow's default (INT32_MAX): no limit unless the caller sets one.
            max_recursion: i32::MAX as u32,
        }
    }

    /// The same selector, recursive.
    pub fn recursive(mut self) -> FileSelector {
        self.recursive = true;
        self
    }

    /// The same selector, tolerating a missing `base_dir`.
    pub fn allow_not_found(mut self) -> FileSelector {
        self.allow_not_found = true;
        self
    }
}

/// A file system with Arrow's operations. Paths are `/`-separated; each
/// implementation documents whether they are absolute ([`LocalFileSystem`])
/// or relative to its root (the others, where a leading `/` is optional).
///
/// Errors carry the errno `os` would give (`ENOENT`, `EEXIST`, `ENOTDIR`,
/// `EISDIR`, `ENOTEMPTY`) and the path, whatever the backend.
pub trait FileSystem: Send + Sync + fmt::Debug {
    /// A short name of the implementation (`"hf3fs"`, `"local"`, `"mock"`, ...).
    fn type_name(&self) -> &'static str;

    /// Where the async variants run.
    fn io_context(&self) -> &IoContext;

    /// The canonical spelling of `path` on this file system (no `//`, no
    /// trailing `/`); an error when the path cannot be valid here.
    fn normalize_path(&self, path: &str) -> Result<String>;

    /// What `path` names; a missing path is a [`FileType::NotFound`] info,
    /// not an error. Symlinks are followed.
    fn get_file_info(&self, path: &str) -> Result<FileInfo>;

    /// The `os.stat` of `path` (of a symlink itself without
    /// `follow_symlinks`). Backends without POSIX metadata describe what
    /// [`FileSystem::get_file_info`] knows ([`stat_from_info`]); a missing
    /// path is `ENOENT`.
    fn stat(&self, path: &str, follow_symlinks: bool) -> Result<FileStat> {
        let _ = follow_symlinks;
        let info = self.get_file_info(path)?;
        if !info.exists() {
            return Err(Error::errno("stat", path, libc::ENOENT));
        }
        Ok(stat_from_info(&info))
    }

    /// The entries below `select.base_dir`, sorted by path.
    fn get_file_info_selector(&self, select: &FileSelector) -> Result<Vec<FileInfo>>;

    /// Create a directory (and its parents with `recursive`); an existing
    /// directory is success.
    fn create_dir(&self, path: &str, recursive: bool) -> Result<()>;

    /// Delete a directory and everything below it.
    fn delete_dir(&self, path: &str, cancel: &CancelToken) -> Result<()>;

    /// Delete everything below a directory, keeping it. `""` and `/` are
    /// refused: use [`FileSystem::delete_root_dir_contents`].
    fn delete_dir_contents(
        &self,
        path: &str,
        missing_dir_ok: bool,
        cancel: &CancelToken,
    ) -> Result<()>;

    /// Delete everything below the root. Backends where that is too
    /// dangerous (a whole local disk) refuse.
    fn delete_root_dir_contents(&self, cancel: &CancelToken) -> Result<()>;

    /// Delete a file (not a directory).
    fn delete_file(&self, path: &str) -> Result<()>;

    /// Move or rename a file or directory. An existing `dest` is replaced
    /// when it has the same type and is not a non-empty directory.
    fn move_path(&self, src: &str, dest: &str) -> Result<()>;

    /// Copy a file; an existing file at `dest` is replaced, a directory is an error.
    fn copy_file(&self, src: &str, dest: &str) -> Result<()>;

    /// Whether [`FileSystem::copy_file`] moves no data through this process
    /// (an object store's server-side copy), so [`copy_between`] prefers it.
    fn copies_server_side(&self) -> bool {
        false
    }

    /// Open a file for positional reads.
    fn open_input_file(&self, path: &str) -> Result<Arc<dyn RandomAccessFile>>;

    /// Open the file a listing described (Arrow's `OpenInputFile(FileInfo)`):
    /// object stores skip the HEAD request and pin reads to the listed
    /// version, so a file rewritten since fails instead of mixing versions.
    fn open_input_file_info(&self, info: &FileInfo) -> Result<Arc<dyn RandomAccessFile>> {
        self.open_input_file(&info.path)
    }

    /// How reads of many ranges should be merged on this file system: Arrow's
    /// defaults for disks and mounts, network metrics for object stores.
    fn read_coalescing(&self) -> CacheOptions {
        CacheOptions::defaults()
    }

    /// Open a file for sequential reads.
    fn open_input_stream(&self, path: &str) -> Result<Box<dyn InputStream>> {
        let file = self.open_input_file(path)?;
        Ok(Box::new(RandomAccessStream::new(file)))
    }

    /// Open a file for writing from the start, truncating it (created if missing;
    /// its parent directory must exist).
    fn open_output_stream(
        &self,
        path: &str,
        metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>>;

    /// Open a file for appending (created if missing).
    fn open_append_stream(
        &self,
        path: &str,
        metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>>;
}

/// What [`FileSystem::stat`] reports where a backend keeps no POSIX
/// metadata (objects): the kind as a mode (`rw-r--r--` files, `rwxr-xr-x`
/// directories), the size, the modification time for all three times, one
/// link, and no owner or inode (0: callers comparing files by inode must
/// compare paths here).
pub fn stat_from_info(info: &FileInfo) -> FileStat {
    let mode = match info.file_type {
        FileType::Directory => libc::S_IFDIR | 0o755,
        _ => libc::S_IFREG | 0o644,
    };
    let nanos = match info.mtime.map(|t| t.duration_since(SystemTime::UNIX_EPOCH)) {
        Some(Ok(d)) => d.as_nanos() as i128,
        Some(Err(e)) => -(e.duration().as_nanos() as i128),
        None => 0,
    };
    let mtime = Timespec::from_nanos(nanos).unwrap_or(Timespec { sec: 0, nsec: 0 });
    let size = info.size.unwrap_or(0);
    FileStat {
        mode,
        ino: 0,
        dev: 0,
        nlink: 1,
        uid: 0,
        gid: 0,
        size: i64::try_from(size).unwrap_or(i64::MAX),
        atime: mtime,
        mtime,
        ctime: mtime,
        // 512-byte blocks, as st_blocks counts them.
        blocks: i64::try_from(size.div_ceil(512)).unwrap_or(i64::MAX),
        // What `os.stat` reports on most Linux file systems; callers only size buffers by it.
        blksize: 4096,
        rdev: 0,
        link_target: None,
    }
}

/// Conveniences every [`FileSystem`] gets.
pub trait FileSystemExt: FileSystem {
    /// [`FileSystem::get_file_info`] for many paths, in order.
    fn get_file_infos<S: AsRef<str>>(&self, paths: &[S]) -> Result<Vec<FileInfo>> {
        paths
            .iter()
            .map(|p| self.get_file_info(p.as_ref()))
            .collect()
    }

    /// Delete many files; stops at the first failure.
    fn delete_files<S: AsRef<str>>(&self, paths: &[S]) -> Result<()> {
        paths.iter().try_for_each(|p| self.delete_file(p.as_ref()))
    }

    /// Whether something exists at `path`.
    fn exists(&self, path: &str) -> Result<bool> {
        Ok(self.get_file_info(path)?.exists())
    }

    /// The whole file as one buffer.
    fn read_all(&self, path: &str) -> Result<Bytes> {
        let file = self.open_input_file(path)?;
        let size = file.size()?;
        file.read_bytes_at(0, to_usize(size, path)?)
    }

    /// Create or replace a file with `data`.
    fn write_all(&self, path: &str, data: &[u8]) -> Result<()> {
        let mut out = self.open_output_stream(path, None)?;
        out.write(data)?;
        out.close()
    }
}

impl<T: FileSystem + ?Sized> FileSystemExt for T {}

/// An OS error with the caller's spelling of the path (backends and wrappers
/// resolve paths to other spellings; users should see their own).
pub(crate) fn named(e: Error, path: &str) -> Error {
    match e {
        Error::Os { path2: None, .. } => e.without_paths().with_path(path),
        other => other,
    }
}

/// An error of a two-path call (`move`, `copy_file`), naming both of the caller's paths.
pub(crate) fn two_paths(op: &'static str, e: Error, src: &str, dest: &str) -> Error {
    match e.raw_errno() {
        Some(n) => Error::Os {
            op,
            path: Some(src.into()),
            path2: Some(dest.into()),
            source: Arc::new(std::io::Error::from_raw_os_error(n)),
        },
        None => e,
    }
}

/// A size or length that must fit in memory on this machine.
pub(crate) fn to_usize(n: u64, path: &str) -> Result<usize> {
    usize::try_from(n).map_err(|_| {
        Error::invalid(
            path,
            format!("{n} bytes do not fit in this machine's memory"),
        )
    })
}

#[cfg(test)]
mod tests;
