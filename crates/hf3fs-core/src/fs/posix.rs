//! File systems over a POSIX directory tree: [`Hf3fsFileSystem`] (a mount,
//! through its [`Client`]) and [`LocalFileSystem`] (the whole machine). Both
//! are one implementation over a client, which confines path resolution to
//! its root, checks the token's role, and owns the batched IO engine that
//! `read_many` uses.

use std::fmt;
use std::fs::File;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::interfaces::closed_error;
use super::path::{self, join};
use super::{named, two_paths};
use super::{
    FileInfo, FileSelector, FileSystem, FileType, IoContext, KeyValueMetadata, OutputStream,
    RandomAccessFile, ReadRange,
};
use crate::cancel::CancelToken;
use crate::client::files::{advise_willneed, retry_eintr};
use crate::config::Role;
use crate::engine::{BatchEntry, EngineOptions, IoDirection};
use crate::error::{Error, Result};
use crate::stat::FileStat;
use crate::{Client, ClientOptions};

/// How a POSIX file system spells paths.
pub trait PathStyle: Send + Sync + fmt::Debug + 'static {
    /// [`FileSystem::type_name`].
    const TYPE_NAME: &'static str;
    /// Whether [`FileSystem::delete_root_dir_contents`] may run.
    const DELETE_ROOT_ALLOWED: bool;
    /// The canonical spelling of a caller's path.
    fn normalize(path: &str) -> Result<String>;
    /// The path the client resolves (absolute, `/` = the client's root).
    fn server_path(path: &str) -> Result<String>;
}

/// Paths of a mount: relative to its root, a leading `/` optional.
#[derive(Debug)]
pub struct MountPaths;

impl PathStyle for MountPaths {
    const TYPE_NAME: &'static str = "hf3fs";
    // The mount is the user's own data area; a subtree or the CLI may clear it.
    const DELETE_ROOT_ALLOWED: bool = true;

    fn normalize(path: &str) -> Result<String> {
        path::normalize_relative(path)
    }

    fn server_path(path: &str) -> Result<String> {
        Ok(format!("/{}", path::normalize_relative(path)?))
    }
}

/// Paths of the local machine: absolute.
#[derive(Debug)]
pub struct LocalPaths;

impl PathStyle for LocalPaths {
    const TYPE_NAME: &'static str = "local";
    // Clearing `/` of a whole machine is never what a caller meant.
    const DELETE_ROOT_ALLOWED: bool = false;

    fn normalize(path: &str) -> Result<String> {
        if !path.starts_with('/') {
            return Err(Error::invalid(
                format!("path {path:?}"),
                "LocalFileSystem needs absolute paths",
            ));
        }
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        Ok(format!("/{}", parts.join("/")))
    }

    fn server_path(path: &str) -> Result<String> {
        LocalPaths::normalize(path)
    }
}

/// A file system over a client's root directory; see [`Hf3fsFileSystem`] and
/// [`LocalFileSystem`].
pub struct PosixFileSystem<S: PathStyle> {
    client: Arc<Client>,
    ctx: IoContext,
    style: PhantomData<S>,
}

/// A 3FS (or any configured) mount, through a [`Client`]: paths are relative
/// to the mount root, and the token's role decides what may change.
pub type Hf3fsFileSystem = PosixFileSystem<MountPaths>;

/// The local machine's file system; paths are absolute.
pub type LocalFileSystem = PosixFileSystem<LocalPaths>;

impl<S: PathStyle> fmt::Debug for PosixFileSystem<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PosixFileSystem")
            .field("type", &S::TYPE_NAME)
            .field("mount", &self.client.mount_name())
            .field("root", &self.client.mount_root())
            .finish()
    }
}

impl Hf3fsFileSystem {
    /// The mount `client` is connected to.
    pub fn new(client: Arc<Client>) -> Hf3fsFileSystem {
        Hf3fsFileSystem::with_context(client, IoContext::default())
    }

    /// The same, running async calls on `ctx`.
    pub fn with_context(client: Arc<Client>, ctx: IoContext) -> Hf3fsFileSystem {
        PosixFileSystem {
            client,
            ctx,
            style: PhantomData,
        }
    }
}

impl LocalFileSystem {
    /// The local file system, with the IO engine settings from `HF3FS_IO_*`.
    pub fn new() -> Result<LocalFileSystem> {
        LocalFileSystem::with_options(EngineOptions::default(), IoContext::default())
    }

    /// The local file system with engine settings `io` (unset fields from
    /// `HF3FS_IO_*`, then defaults) and async calls on `ctx`.
    pub fn with_options(io: EngineOptions, ctx: IoContext) -> Result<LocalFileSystem> {
        let io = io.or(EngineOptions::from_env()?);
        // Root role: the operating system's permissions are the only limit,
        // as for any local program.
        let client = Client::at_root(
            "file",
            Path::new("/"),
            false,
            Role::Root,
            &ClientOptions::default(),
            io,
        )?;
        Ok(PosixFileSystem {
            client: Arc::new(client),
            ctx,
            style: PhantomData,
        })
    }
}

impl<S: PathStyle> PosixFileSystem<S> {
    fn server(path: &str) -> Result<String> {
        S::server_path(path)
    }

    fn stat(&self, path: &str) -> Result<Option<FileStat>> {
        let server = Self::server(path)?;
        match self.client.stat(Path::new(&server), None, true) {
            Ok(st) => Ok(Some(st)),
            Err(e) if matches!(e.raw_errno(), Some(libc::ENOENT | libc::ENOTDIR)) => Ok(None),
            Err(e) => Err(named(e, path)),
        }
    }

    fn open(&self, path: &str, flags: i32) -> Result<File> {
        let server = Self::server(path)?;
        let (fd, _) = self
            .client
            .open_os_file(Path::new(&server), flags | libc::O_CLOEXEC, 0o666, None)
            .map_err(|e| named(e, path))?;
        Ok(File::from(fd))
    }

    /// Whether the entry at `server` is a symlink itself.
    fn is_link(&self, server: &str) -> Result<bool> {
        match self.client.stat(Path::new(server), None, false) {
            Ok(st) => Ok(st.is_link()),
            Err(e) if e.raw_errno() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn names(&self, path: &str, server: &str) -> Result<Vec<String>> {
        let dir = self
            .client
            .opendir(Path::new(server), None)
            .map_err(|e| named(e, path))?;
        let mut names = Vec::new();
        while let Some(entry) = dir.next_entry().map_err(|e| named(e, path))? {
            names.push(entry.name.to_string_lossy().into_owned());
        }
        Ok(names)
    }

    /// Remove everything inside a directory, never following symlinks.
    fn clear(&self, path: &str, server: &str, cancel: &CancelToken) -> Result<()> {
        for name in self.names(path, server)? {
            cancel.poll_check("delete_dir_contents")?;
            let child = join(server, &name);
            self.client
                .remove(Path::new(&child), None, true, cancel)
                .map_err(|e| named(e, &join(path, &name)))?;
        }
        Ok(())
    }

    fn output(&self, path: &str, flags: i32) -> Result<Box<dyn OutputStream>> {
        let file = self.open(path, libc::O_WRONLY | libc::O_CREAT | flags)?;
        let pos = if flags & libc::O_APPEND != 0 {
            file.metadata()
                .map_err(|e| Error::os("open_append_stream", path, e))?
                .len()
        } else {
            0
        };
        Ok(Box::new(OsOutputStream {
            file: Some(file),
            path: path.to_string(),
            pos,
        }))
    }
}

fn info_from_stat(path: String, st: &FileStat) -> FileInfo {
    let file_type = if st.is_file() {
        FileType::File
    } else if st.is_dir() {
        FileType::Directory
    } else {
        FileType::Unknown
    };
    let mtime = if st.mtime.sec >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::new(st.mtime.sec as u64, st.mtime.nsec as u32))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(st.mtime.sec.unsigned_abs()))
    };
    FileInfo {
        path,
        file_type,
        size: (file_type == FileType::File).then_some(st.size.max(0) as u64),
        mtime,
        version: None,
    }
}

impl<S: PathStyle> FileSystem for PosixFileSystem<S> {
    fn type_name(&self) -> &'static str {
        S::TYPE_NAME
    }

    fn io_context(&self) -> &IoContext {
        &self.ctx
    }

    fn normalize_path(&self, path: &str) -> Result<String> {
        S::normalize(path)
    }

    fn get_file_info(&self, path: &str) -> Result<FileInfo> {
        Ok(match self.stat(path)? {
            Some(st) => info_from_stat(path.to_string(), &st),
            None => FileInfo::not_found(path),
        })
    }

    fn stat(&self, path: &str, follow_symlinks: bool) -> Result<FileStat> {
        let server = Self::server(path)?;
        self.client
            .stat(Path::new(&server), None, follow_symlinks)
            .map_err(|e| named(e, path))
    }

    fn get_file_info_selector(&self, select: &FileSelector) -> Result<Vec<FileInfo>> {
        let base = &select.base_dir;
        match self.stat(base)? {
            None if select.allow_not_found => return Ok(Vec::new()),
            None => return Err(Error::errno("get_file_info", base, libc::ENOENT)),
            Some(st) if !st.is_dir() => {
                return Err(Error::errno("get_file_info", base, libc::ENOTDIR))
            }
            Some(_) => {}
        }
        let mut out = Vec::new();
        let mut stack = vec![(Self::server(base)?, base.clone(), 0u32)];
        while let Some((server, caller, depth)) = stack.pop() {
            for name in self.names(&caller, &server)? {
                let child_server = join(&server, &name);
                let child = join(&caller, &name);
                let (info, linked) = match self.client.stat(Path::new(&child_server), None, true) {
                    Ok(st) => (
                        info_from_stat(child.clone(), &st),
                        st.is_dir() && self.is_link(&child_server).map_err(|e| named(e, &child))?,
                    ),
                    // Gone since the listing, or a dangling symlink: it exists
                    // as an entry but names nothing we can describe.
                    Err(e) if e.raw_errno() == Some(libc::ENOENT) => (
                        FileInfo {
                            file_type: FileType::Unknown,
                            ..FileInfo::not_found(child.clone())
                        },
                        false,
                    ),
                    Err(e) => return Err(named(e, &child)),
                };
                // A linked directory is listed, not entered: a link to an
                // ancestor would otherwise make the listing endless, and one
                // out of the tree would take a recursive delete or copy there.
                if info.is_dir() && !linked && select.recursive && depth < select.max_recursion {
                    stack.push((child_server, child, depth + 1));
                }
                out.push(info);
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn create_dir(&self, path: &str, recursive: bool) -> Result<()> {
        match self.stat(path)? {
            Some(st) if st.is_dir() => return Ok(()),
            Some(_) => return Err(Error::errno("create_dir", path, libc::EEXIST)),
            None => {}
        }
        let server = Self::server(path)?;
        match self
            .client
            .mkdir(Path::new(&server), 0o777, None, recursive)
        {
            Ok(()) => Ok(()),
            // Created by someone else meanwhile: still success if it is a directory.
            Err(e) if e.raw_errno() == Some(libc::EEXIST) => match self.stat(path)? {
                Some(st) if st.is_dir() => Ok(()),
                _ => Err(named(e, path)),
            },
            Err(e) => Err(named(e, path)),
        }
    }

    fn delete_dir(&self, path: &str, cancel: &CancelToken) -> Result<()> {
        match self.stat(path)? {
            None => return Err(Error::errno("delete_dir", path, libc::ENOENT)),
            Some(st) if !st.is_dir() => {
                return Err(Error::errno("delete_dir", path, libc::ENOTDIR))
            }
            Some(_) => {}
        }
        let server = Self::server(path)?;
        self.client
            .rmdir(Path::new(&server), None, true, cancel)
            .map_err(|e| named(e, path))
    }

    fn delete_dir_contents(
        &self,
        path: &str,
        missing_dir_ok: bool,
        cancel: &CancelToken,
    ) -> Result<()> {
        if path::is_root(path) {
            return Err(Error::invalid(
                format!("delete_dir_contents {path:?}"),
                "refusing to delete the root's contents; call delete_root_dir_contents",
            ));
        }
        match self.stat(path)? {
            None if missing_dir_ok => return Ok(()),
            None => return Err(Error::errno("delete_dir_contents", path, libc::ENOENT)),
            Some(st) if !st.is_dir() => {
                return Err(Error::errno("delete_dir_contents", path, libc::ENOTDIR))
            }
            Some(_) => {}
        }
        self.clear(path, &Self::server(path)?, cancel)
    }

    fn delete_root_dir_contents(&self, cancel: &CancelToken) -> Result<()> {
        if !S::DELETE_ROOT_ALLOWED {
            return Err(Error::Unsupported {
                op: "delete_root_dir_contents",
                fs: S::TYPE_NAME,
                path: "/".into(),
                reason: "refusing to delete the whole local file system".into(),
            });
        }
        self.clear("", "/", cancel)
    }

    fn delete_file(&self, path: &str) -> Result<()> {
        let server = Self::server(path)?;
        self.client
            .remove(Path::new(&server), None, false, &CancelToken::never())
            .map_err(|e| named(e, path))
    }

    fn move_path(&self, src: &str, dest: &str) -> Result<()> {
        let (s, d) = (Self::server(src)?, Self::server(dest)?);
        self.client
            .rename(Path::new(&s), Path::new(&d), None, None)
            .map_err(|e| two_paths("move", e, src, dest))
    }

    fn copy_file(&self, src: &str, dest: &str) -> Result<()> {
        let mut from = self.open(src, libc::O_RDONLY)?;
        let st = from
            .metadata()
            .map_err(|e| Error::os("copy_file", src, e))?;
        if st.is_dir() {
            return Err(Error::errno("copy_file", src, libc::EISDIR));
        }
        let mut to = self.open(dest, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC)?;
        std::io::copy(&mut from, &mut to).map_err(|e| Error::os("copy_file", dest, e))?;
        Ok(())
    }

    fn open_input_file(&self, path: &str) -> Result<Arc<dyn RandomAccessFile>> {
        let file = self.open(path, libc::O_RDONLY)?;
        let st = file
            .metadata()
            .map_err(|e| Error::os("open_input_file", path, e))?;
        if st.is_dir() {
            return Err(Error::errno("open_input_file", path, libc::EISDIR));
        }
        Ok(Arc::new(OsFile {
            file,
            path: path.to_string(),
            client: self.client.clone(),
        }))
    }

    fn open_output_stream(
        &self,
        path: &str,
        _metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>> {
        self.output(path, libc::O_TRUNC)
    }

    fn open_append_stream(
        &self,
        path: &str,
        _metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>> {
        self.output(path, libc::O_APPEND)
    }
}

/// A file opened for positional reads; `read_many` runs on the client's engine.
#[derive(Debug)]
pub struct OsFile {
    file: File,
    path: String,
    client: Arc<Client>,
}

impl RandomAccessFile for OsFile {
    fn path(&self) -> &str {
        &self.path
    }

    fn size(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| Error::os("fstat", self.path.as_str(), e))?
            .len())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            let pos = offset + filled as u64;
            let n = retry_eintr(|| rustix::io::pread(&self.file, &mut buf[filled..], pos))
                .map_err(|e| Error::os("pread", self.path.as_str(), e))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok(filled)
    }

    fn read_many_into(&self, requests: &mut [(u64, &mut [u8])]) -> Result<Vec<usize>> {
        let fd = self.file.as_raw_fd();
        let entries: Vec<BatchEntry> = requests
            .iter_mut()
            .map(|(offset, buf)| BatchEntry {
                fd,
                offset: *offset,
                addr: buf.as_mut_ptr() as usize,
                len: buf.len(),
            })
            .collect();
        // SAFETY: `self.file` stays open for the call, and every entry's
        // memory is a `&mut [u8]` borrowed from `requests` for the whole call,
        // so nothing else reads or writes it while the engine fills it.
        let results = unsafe {
            self.client
                .engine()
                .run(IoDirection::Read, &entries, &CancelToken::never())?
        };
        results
            .into_iter()
            .zip(requests.iter())
            .map(|(r, (offset, buf))| {
                if r < 0 {
                    let e = std::io::Error::from_raw_os_error(-r as i32);
                    Err(Error::os(
                        "read_many",
                        format!("{} @ {offset}+{}", self.path, buf.len()),
                        e,
                    ))
                } else {
                    Ok(r as usize)
                }
            })
            .collect()
    }

    fn will_need(&self, ranges: &[ReadRange]) -> Result<()> {
        for r in ranges {
            advise_willneed(self.file.as_fd(), r.offset, r.length);
        }
        Ok(())
    }
}

/// A file opened for writing (truncated or appending).
#[derive(Debug)]
struct OsOutputStream {
    file: Option<File>,
    path: String,
    pos: u64,
}

impl OsOutputStream {
    fn file(&self, op: &'static str) -> Result<&File> {
        self.file
            .as_ref()
            .ok_or_else(|| closed_error(op, &self.path))
    }
}

impl OutputStream for OsOutputStream {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        let mut file = self.file("write")?;
        std::io::Write::write_all(&mut file, data)
            .map_err(|e| Error::os("write", self.path.as_str(), e))?;
        self.pos += data.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.file("flush")?;
        Ok(())
    }

    fn tell(&self) -> Result<u64> {
        self.file("tell")?;
        Ok(self.pos)
    }

    fn close(&mut self) -> Result<()> {
        // Dropping the File closes it; close(2) errors are not reported by
        // std, and on Linux the fd is released even when close fails.
        self.file = None;
        Ok(())
    }

    fn closed(&self) -> bool {
        self.file.is_none()
    }
}
