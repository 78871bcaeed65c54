//! A file system rooted at a directory of another one (Arrow's `SubTreeFileSystem`).

use std::sync::Arc;

use bytes::Bytes;

use super::path::{is_root, join, normalize_relative};
use super::{
    named, two_paths, FileInfo, FileSelector, FileSystem, InputStream, IoContext, KeyValueMetadata,
    OutputStream, RandomAccessFile, ReadRange,
};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::FileStat;

/// Exposes `base` of another file system as a root. Paths are relative (a
/// leading `/` is optional) and cannot climb out with `..`.
#[derive(Debug, Clone)]
pub struct SubTreeFileSystem {
    base: String,
    inner: Arc<dyn FileSystem>,
}

impl SubTreeFileSystem {
    /// The subtree at `base` (a path of `inner`) of `inner`.
    pub fn new(base: &str, inner: Arc<dyn FileSystem>) -> Result<SubTreeFileSystem> {
        let base = inner.normalize_path(base)?;
        Ok(SubTreeFileSystem { base, inner })
    }

    fn prepend(&self, path: &str) -> Result<String> {
        let rel = normalize_relative(path)?;
        Ok(if rel.is_empty() {
            self.base.clone()
        } else {
            join(&self.base, &rel)
        })
    }

    fn strip<'a>(&self, inner_path: &'a str, inner_base: &str) -> &'a str {
        inner_path
            .strip_prefix(inner_base)
            .unwrap_or(inner_path)
            .trim_start_matches('/')
    }
}

impl FileSystem for SubTreeFileSystem {
    fn type_name(&self) -> &'static str {
        "subtree"
    }

    fn io_context(&self) -> &IoContext {
        self.inner.io_context()
    }

    fn normalize_path(&self, path: &str) -> Result<String> {
        normalize_relative(path)
    }

    fn get_file_info(&self, path: &str) -> Result<FileInfo> {
        let mut info = self
            .inner
            .get_file_info(&self.prepend(path)?)
            .map_err(|e| named(e, path))?;
        info.path = path.to_string();
        Ok(info)
    }

    fn stat(&self, path: &str, follow_symlinks: bool) -> Result<FileStat> {
        self.inner
            .stat(&self.prepend(path)?, follow_symlinks)
            .map_err(|e| named(e, path))
    }

    fn get_file_info_selector(&self, select: &FileSelector) -> Result<Vec<FileInfo>> {
        let inner_base = self.prepend(&select.base_dir)?;
        let inner_select = FileSelector {
            base_dir: inner_base.clone(),
            ..select.clone()
        };
        let mut infos = self
            .inner
            .get_file_info_selector(&inner_select)
            .map_err(|e| named(e, &select.base_dir))?;
        for info in &mut infos {
            info.path = join(&select.base_dir, self.strip(&info.path, &inner_base));
        }
        Ok(infos)
    }

    fn create_dir(&self, path: &str, recursive: bool) -> Result<()> {
        self.inner
            .create_dir(&self.prepend(path)?, recursive)
            .map_err(|e| named(e, path))
    }

    fn delete_dir(&self, path: &str, cancel: &CancelToken) -> Result<()> {
        if is_root(path) {
            return Err(Error::errno("delete_dir", path, libc::EBUSY));
        }
        self.inner
            .delete_dir(&self.prepend(path)?, cancel)
            .map_err(|e| named(e, path))
    }

    fn delete_dir_contents(
        &self,
        path: &str,
        missing_dir_ok: bool,
        cancel: &CancelToken,
    ) -> Result<()> {
        if is_root(path) {
            return Err(Error::invalid(
                format!("delete_dir_contents {path:?}"),
                "refusing to delete the root's contents; call delete_root_dir_contents",
            ));
        }
        self.inner
            .delete_dir_contents(&self.prepend(path)?, missing_dir_ok, cancel)
            .map_err(|e| named(e, path))
    }

    fn delete_root_dir_contents(&self, cancel: &CancelToken) -> Result<()> {
        if is_root(&self.base) {
            self.inner.delete_root_dir_contents(cancel)
        } else {
            self.inner.delete_dir_contents(&self.base, false, cancel)
        }
    }

    fn delete_file(&self, path: &str) -> Result<()> {
        self.inner
            .delete_file(&self.prepend(path)?)
            .map_err(|e| named(e, path))
    }

    fn move_path(&self, src: &str, dest: &str) -> Result<()> {
        self.inner
            .move_path(&self.prepend(src)?, &self.prepend(dest)?)
            .map_err(|e| two_paths("move", e, src, dest))
    }

    fn copy_file(&self, src: &str, dest: &str) -> Result<()> {
        self.inner
            .copy_file(&self.prepend(src)?, &self.prepend(dest)?)
            .map_err(|e| two_paths("copy_file", e, src, dest))
    }

    fn copies_server_side(&self) -> bool {
        self.inner.copies_server_side()
    }

    fn open_input_file(&self, path: &str) -> Result<Arc<dyn RandomAccessFile>> {
        let inner = self
            .inner
            .open_input_file(&self.prepend(path)?)
            .map_err(|e| named(e, path))?;
        Ok(Arc::new(SubTreeFile {
            inner,
            path: path.to_string(),
        }))
    }

    fn open_input_stream(&self, path: &str) -> Result<Box<dyn InputStream>> {
        self.inner
            .open_input_stream(&self.prepend(path)?)
            .map_err(|e| named(e, path))
    }

    fn open_output_stream(
        &self,
        path: &str,
        metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>> {
        self.inner
            .open_output_stream(&self.prepend(path)?, metadata)
            .map_err(|e| named(e, path))
    }

    fn open_append_stream(
        &self,
        path: &str,
        metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>> {
        self.inner
            .open_append_stream(&self.prepend(path)?, metadata)
            .map_err(|e| named(e, path))
    }
}

/// A file of a [`SubTreeFileSystem`]: the inner file, under the caller's path
/// (the base path underneath is not the caller's business).
#[derive(Debug)]
struct SubTreeFile {
    inner: Arc<dyn RandomAccessFile>,
    path: String,
}

impl RandomAccessFile for SubTreeFile {
    fn path(&self) -> &str {
        &self.path
    }

    fn size(&self) -> Result<u64> {
        self.inner.size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.inner.read_at(offset, buf)
    }

    fn read_bytes_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        self.inner.read_bytes_at(offset, len)
    }

    fn read_many_into(&self, requests: &mut [(u64, &mut [u8])]) -> Result<Vec<usize>> {
        self.inner.read_many_into(requests)
    }

    fn read_many(&self, ranges: &[ReadRange]) -> Result<Vec<Bytes>> {
        self.inner.read_many(ranges)
    }

    fn will_need(&self, ranges: &[ReadRange]) -> Result<()> {
        self.inner.will_need(ranges)
    }

    fn supports_zero_copy(&self) -> bool {
        self.inner.supports_zero_copy()
    }

    fn io_class(&self) -> super::IoClass {
        self.inner.io_class()
    }
}
