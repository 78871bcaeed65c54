//! An in-memory file system (Arrow's `MockFileSystem`), for tests: the same
//! semantics and errors as the POSIX ones, with a clock the test controls.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;

use super::interfaces::closed_error;
use super::path::{self, join, normalize_relative};
use super::{
    BufferReader, FileInfo, FileSelector, FileSystem, FileType, InputStream, IoContext,
    KeyValueMetadata, OutputStream, RandomAccessFile,
};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// Where a [`MockFileSystem`] gets modification times from.
pub type MockClock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

#[derive(Debug, Clone)]
enum Node {
    Dir {
        mtime: SystemTime,
    },
    File {
        data: Bytes,
        mtime: SystemTime,
        metadata: KeyValueMetadata,
    },
}

impl Node {
    fn is_dir(&self) -> bool {
        matches!(self, Node::Dir { .. })
    }
}

type Tree = BTreeMap<String, Node>;

/// A file system held in memory. Paths are relative to its root (a leading
/// `/` is optional); `..` is refused.
#[derive(Clone)]
pub struct MockFileSystem {
    tree: Arc<Mutex<Tree>>,
    clock: MockClock,
    ctx: IoContext,
}

impl fmt::Debug for MockFileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockFileSystem")
            .field("entries", &self.lock().len())
            .finish()
    }
}

impl MockFileSystem {
    /// An empty file system whose files all get modification time `time`.
    pub fn new(time: SystemTime) -> MockFileSystem {
        MockFileSystem::with_clock(Arc::new(move || time))
    }

    /// An empty file system that reads modification times from `clock`.
    pub fn with_clock(clock: MockClock) -> MockFileSystem {
        MockFileSystem {
            tree: Arc::new(Mutex::new(Tree::new())),
            clock,
            ctx: IoContext::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tree> {
        // Every change is a single map operation; a poisoned tree is consistent.
        self.tree.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kind(tree: &Tree, key: &str) -> Option<bool> {
        if key.is_empty() {
            return Some(true);
        }
        tree.get(key).map(Node::is_dir)
    }

    /// The parent of `key` must be an existing directory.
    fn check_parent(tree: &Tree, op: &'static str, path: &str, key: &str) -> Result<()> {
        let parent = path::parent(key).unwrap_or("");
        match MockFileSystem::kind(tree, parent) {
            Some(true) => Ok(()),
            Some(false) => Err(Error::errno(op, path, libc::ENOTDIR)),
            None => {
                // An ancestor that is a file makes it ENOTDIR, as the kernel says.
                let mut p = parent;
                while let Some(up) = path::parent(p) {
                    if MockFileSystem::kind(tree, up) == Some(false) {
                        return Err(Error::errno(op, path, libc::ENOTDIR));
                    }
                    p = up;
                }
                Err(Error::errno(op, path, libc::ENOENT))
            }
        }
    }

    fn below<'a>(tree: &'a Tree, key: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        tree.range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k)
    }

    fn remove_below(tree: &mut Tree, key: &str) {
        let doomed: Vec<String> = MockFileSystem::below(tree, key).cloned().collect();
        for k in doomed {
            tree.remove(&k);
        }
    }

    fn file(&self, op: &'static str, path: &str) -> Result<(Bytes, KeyValueMetadata)> {
        let key = normalize_relative(path)?;
        let tree = self.lock();
        match tree.get(&key) {
            Some(Node::File { data, metadata, .. }) => Ok((data.clone(), metadata.clone())),
            Some(Node::Dir { .. }) => Err(Error::errno(op, path, libc::EISDIR)),
            None if key.is_empty() => Err(Error::errno(op, path, libc::EISDIR)),
            None => {
                // Below a file is ENOTDIR, as open(2) says; otherwise ENOENT.
                MockFileSystem::check_parent(&tree, op, path, &key)?;
                Err(Error::errno(op, path, libc::ENOENT))
            }
        }
    }

    fn output(
        &self,
        op: &'static str,
        path: &str,
        metadata: Option<&KeyValueMetadata>,
        append: bool,
    ) -> Result<Box<dyn OutputStream>> {
        let key = normalize_relative(path)?;
        let mut tree = self.lock();
        if MockFileSystem::kind(&tree, &key) == Some(true) {
            return Err(Error::errno(op, path, libc::EISDIR));
        }
        MockFileSystem::check_parent(&tree, op, path, &key)?;
        let existing = match tree.get(&key) {
            Some(Node::File { data, metadata, .. }) if append => {
                Some((data.to_vec(), metadata.clone()))
            }
            _ => None,
        };
        let (data, old_meta) = existing.unwrap_or_default();
        tree.insert(
            key.clone(),
            Node::File {
                data: Bytes::copy_from_slice(&data),
                mtime: (self.clock)(),
                metadata: metadata.cloned().unwrap_or(old_meta),
            },
        );
        Ok(Box::new(MockOutputStream {
            fs: self.clone(),
            key,
            path: path.to_string(),
            data,
            closed: false,
        }))
    }
}

impl FileSystem for MockFileSystem {
    fn type_name(&self) -> &'static str {
        "mock"
    }

    fn io_context(&self) -> &IoContext {
        &self.ctx
    }

    fn normalize_path(&self, path: &str) -> Result<String> {
        normalize_relative(path)
    }

    fn get_file_info(&self, path: &str) -> Result<FileInfo> {
        let key = normalize_relative(path)?;
        let tree = self.lock();
        Ok(match tree.get(&key) {
            None if key.is_empty() => FileInfo {
                path: path.to_string(),
                file_type: FileType::Directory,
                size: None,
                mtime: None,
                version: None,
            },
            None => FileInfo::not_found(path),
            Some(node) => node_info(path.to_string(), node),
        })
    }

    fn get_file_info_selector(&self, select: &FileSelector) -> Result<Vec<FileInfo>> {
        let base = &select.base_dir;
        let key = normalize_relative(base)?;
        let tree = self.lock();
        match MockFileSystem::kind(&tree, &key) {
            None if select.allow_not_found => return Ok(Vec::new()),
            None => return Err(Error::errno("get_file_info", base, libc::ENOENT)),
            Some(false) => return Err(Error::errno("get_file_info", base, libc::ENOTDIR)),
            Some(true) => {}
        }
        let skip = if key.is_empty() { 0 } else { key.len() + 1 };
        let mut out = Vec::new();
        for k in MockFileSystem::below(&tree, &key) {
            let rel = &k[skip..];
            let depth = rel.matches('/').count() as u64;
            let wanted = if select.recursive {
                depth <= u64::from(select.max_recursion)
            } else {
                depth == 0
            };
            if wanted {
                out.push(node_info(join(base, rel), &tree[k]));
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn create_dir(&self, path: &str, recursive: bool) -> Result<()> {
        let op = "create_dir";
        let key = normalize_relative(path)?;
        let mut tree = self.lock();
        match MockFileSystem::kind(&tree, &key) {
            Some(true) => return Ok(()),
            Some(false) => return Err(Error::errno(op, path, libc::EEXIST)),
            None => {}
        }
        if !recursive {
            MockFileSystem::check_parent(&tree, op, path, &key)?;
        }
        let mut chain = vec![key.as_str()];
        let mut p = key.as_str();
        while let Some(up) = path::parent(p) {
            match MockFileSystem::kind(&tree, up) {
                Some(true) => break,
                Some(false) => return Err(Error::errno(op, path, libc::ENOTDIR)),
                None => chain.push(up),
            }
            p = up;
        }
        let now = (self.clock)();
        for k in chain {
            tree.insert(k.to_string(), Node::Dir { mtime: now });
        }
        Ok(())
    }

    fn delete_dir(&self, path: &str, cancel: &CancelToken) -> Result<()> {
        let op = "delete_dir";
        cancel.check(op)?;
        let key = normalize_relative(path)?;
        let mut tree = self.lock();
        if key.is_empty() {
            return Err(Error::errno(op, path, libc::EBUSY));
        }
        match MockFileSystem::kind(&tree, &key) {
            None => return Err(Error::errno(op, path, libc::ENOENT)),
            Some(false) => return Err(Error::errno(op, path, libc::ENOTDIR)),
            Some(true) => {}
        }
        MockFileSystem::remove_below(&mut tree, &key);
        tree.remove(&key);
        Ok(())
    }

    fn delete_dir_contents(
        &self,
        path: &str,
        missing_dir_ok: bool,
        cancel: &CancelToken,
    ) -> Result<()> {
        let op = "delete_dir_contents";
        cancel.check(op)?;
        if path::is_root(path) {
            return Err(Error::invalid(
                format!("delete_dir_contents {path:?}"),
                "refusing to delete the root's contents; call delete_root_dir_contents",
            ));
        }
        let key = normalize_relative(path)?;
        let mut tree = self.lock();
        match MockFileSystem::kind(&tree, &key) {
            None if missing_dir_ok => Ok(()),
            None => Err(Error::errno(op, path, libc::ENOENT)),
            Some(false) => Err(Error::errno(op, path, libc::ENOTDIR)),
            Some(true) => {
                MockFileSystem::remove_below(&mut tree, &key);
                Ok(())
            }
        }
    }

    fn delete_root_dir_contents(&self, cancel: &CancelToken) -> Result<()> {
        cancel.check("delete_root_dir_contents")?;
        self.lock().clear();
        Ok(())
    }

    fn delete_file(&self, path: &str) -> Result<()> {
        let op = "delete_file";
        let key = normalize_relative(path)?;
        let mut tree = self.lock();
        match MockFileSystem::kind(&tree, &key) {
            None => {
                // Below a file is ENOTDIR, as unlink(2) says; otherwise ENOENT.
                MockFileSystem::check_parent(&tree, op, path, &key)?;
                Err(Error::errno(op, path, libc::ENOENT))
            }
            Some(true) => Err(Error::errno(op, path, libc::EISDIR)),
            Some(false) => {
                tree.remove(&key);
                Ok(())
            }
        }
    }

    fn move_path(&self, src: &str, dest: &str) -> Result<()> {
        let (s, d) = (normalize_relative(src)?, normalize_relative(dest)?);
        let mut tree = self.lock();
        let fail = |n: i32| Error::Os {
            op: "move",
            path: Some(src.into()),
            path2: Some(dest.into()),
            source: Arc::new(std::io::Error::from_raw_os_error(n)),
        };
        let src_is_dir = match MockFileSystem::kind(&tree, &s) {
            None => return Err(fail(libc::ENOENT)),
            Some(_) if s.is_empty() || d.is_empty() => return Err(fail(libc::EBUSY)),
            Some(is_dir) => is_dir,
        };
        if s == d {
            return Ok(());
        }
        if path::is_below(&s, &d) {
            return Err(fail(libc::EINVAL));
        }
        MockFileSystem::check_parent(&tree, "move", dest, &d).map_err(|e| match e.raw_errno() {
            Some(n) => fail(n),
            None => e,
        })?;
        match (src_is_dir, MockFileSystem::kind(&tree, &d)) {
            (false, Some(true)) => return Err(fail(libc::EISDIR)),
            (true, Some(false)) => return Err(fail(libc::ENOTDIR)),
            (true, Some(true)) if MockFileSystem::below(&tree, &d).next().is_some() => {
                return Err(fail(libc::ENOTEMPTY))
            }
            _ => {}
        }
        tree.remove(&d);
        let moved: Vec<String> = MockFileSystem::below(&tree, &s).cloned().collect();
        for k in moved {
            if let Some(node) = tree.remove(&k) {
                tree.insert(format!("{d}{}", &k[s.len()..]), node);
            }
        }
        if let Some(node) = tree.remove(&s) {
            tree.insert(d, node);
        }
        Ok(())
    }

    fn copy_file(&self, src: &str, dest: &str) -> Result<()> {
        let op = "copy_file";
        let (data, metadata) = self.file(op, src)?;
        let d = normalize_relative(dest)?;
        let mut tree = self.lock();
        if MockFileSystem::kind(&tree, &d) == Some(true) {
            return Err(Error::errno(op, dest, libc::EISDIR));
        }
        MockFileSystem::check_parent(&tree, op, dest, &d)?;
        tree.insert(
            d,
            Node::File {
                data,
                mtime: (self.clock)(),
                metadata,
            },
        );
        Ok(())
    }

    fn open_input_file(&self, path: &str) -> Result<Arc<dyn RandomAccessFile>> {
        let (data, _) = self.file("open_input_file", path)?;
        Ok(Arc::new(BufferReader::named(data, path)))
    }

    fn open_input_stream(&self, path: &str) -> Result<Box<dyn InputStream>> {
        let (data, metadata) = self.file("open_input_stream", path)?;
        Ok(Box::new(MockInputStream {
            reader: BufferReader::named(data, path),
            metadata,
        }))
    }

    fn open_output_stream(
        &self,
        path: &str,
        metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>> {
        self.output("open_output_stream", path, metadata, false)
    }

    fn open_append_stream(
        &self,
        path: &str,
        metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>> {
        self.output("open_append_stream", path, metadata, true)
    }
}

fn node_info(path: String, node: &Node) -> FileInfo {
    match node {
        Node::Dir { mtime } => FileInfo {
            path,
            file_type: FileType::Directory,
            size: None,
            mtime: Some(*mtime),
            version: None,
        },
        Node::File { data, mtime, .. } => FileInfo {
            path,
            file_type: FileType::File,
            size: Some(data.len() as u64),
            mtime: Some(*mtime),
            version: None,
        },
    }
}

/// A stream over a mock file that also reports the file's metadata.
#[derive(Debug)]
struct MockInputStream {
    reader: BufferReader,
    metadata: KeyValueMetadata,
}

impl InputStream for MockInputStream {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.reader.read(buf)
    }
    fn read_bytes(&mut self, nbytes: usize) -> Result<Bytes> {
        InputStream::read_bytes(&mut self.reader, nbytes)
    }
    fn peek(&mut self, nbytes: usize) -> Result<Bytes> {
        self.reader.peek(nbytes)
    }
    fn advance(&mut self, nbytes: u64) -> Result<()> {
        self.reader.advance(nbytes)
    }
    fn tell(&self) -> Result<u64> {
        self.reader.tell()
    }
    fn close(&mut self) -> Result<()> {
        self.reader.close()
    }
    fn closed(&self) -> bool {
        self.reader.closed()
    }
    fn metadata(&mut self) -> Result<KeyValueMetadata> {
        Ok(self.metadata.clone())
    }
    fn supports_zero_copy(&self) -> bool {
        true
    }
}

/// Writes to a mock file; the file shows the bytes after each flush and at close.
#[derive(Debug)]
struct MockOutputStream {
    fs: MockFileSystem,
    key: String,
    path: String,
    data: Vec<u8>,
    closed: bool,
}

impl OutputStream for MockOutputStream {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.closed {
            return Err(closed_error("write", &self.path));
        }
        self.data.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.closed {
            return Err(closed_error("flush", &self.path));
        }
        let mut tree = self.fs.lock();
        // A file deleted or replaced by a directory meanwhile stays so, as an
        // unlinked file's fd would write nowhere visible.
        if let Some(Node::File { data, mtime, .. }) = tree.get_mut(&self.key) {
            *data = Bytes::copy_from_slice(&self.data);
            *mtime = (self.fs.clock)();
        }
        Ok(())
    }

    fn tell(&self) -> Result<u64> {
        Ok(self.data.len() as u64)
    }

    fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.flush()?;
        self.closed = true;
        Ok(())
    }

    fn closed(&self) -> bool {
        self.closed
    }
}
