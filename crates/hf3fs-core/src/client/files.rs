//! Calls on client fds: open, creat, close, read, write, lseek, fstat, ftruncate.

use std::num::NonZeroU64;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Advice, Mode, OFlags, SeekFrom};
use rustix::io::Errno;

use super::Client;
use crate::error::{Error, Result};
use crate::fdtable::OpenFile;
use crate::stat::FileStat;

/// Flags that make an `open` modify the mount (`O_TMPFILE` is checked on its
/// own: its bits include `O_DIRECTORY`'s).
const MUTATING_FLAGS: i32 = libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND;

/// Retry a syscall interrupted by a signal, as CPython does for `os` calls (PEP 475).
pub(crate) fn retry_eintr<T>(
    mut f: impl FnMut() -> rustix::io::Result<T>,
) -> rustix::io::Result<T> {
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

impl Client {
    /// Open a file; returns a client fd. `flags` are `os.O_*` flags.
    pub fn open_file(
        &self,
        path: &Path,
        flags: i32,
        mode: u32,
        dir_fd: Option<i64>,
    ) -> Result<i64> {
        let op = "open";
        let (fd, server) = self.open_os_file(path, flags, mode, dir_fd)?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::os(op, path.as_os_str(), e))?;
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        Ok(self.files.insert(OpenFile {
            os_fd: fd,
            path: server,
            flags,
            is_dir,
        }))
    }

    /// Open a file as an OS fd that no client fd refers to (for callers that
    /// manage its lifetime themselves, like the file system layer). Returns
    /// the fd and the server path it was opened at.
    pub fn open_os_file(
        &self,
        path: &Path,
        flags: i32,
        mode: u32,
        dir_fd: Option<i64>,
    ) -> Result<(OwnedFd, std::ffi::OsString)> {
        let op = "open";
        let tmpfile = flags & libc::O_TMPFILE == libc::O_TMPFILE;
        if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & MUTATING_FLAGS != 0 || tmpfile {
            self.require_write(op, path)?;
        }
        let server = self.server_path(op, path, dir_fd)?;
        let oflags = OFlags::from_bits_retain(flags as u32 as _);
        let fd = self
            .root
            .open_path(&server, oflags, Mode::from_bits_truncate(mode as _))
            .map_err(|e| Error::os(op, path.as_os_str(), e))?;
        Ok((fd, server))
    }

    /// `creat`: create (or truncate) a file for writing; with `excl`, fail if it exists.
    pub fn creat(&self, path: &Path, mode: u32, dir_fd: Option<i64>, excl: bool) -> Result<i64> {
        let mut flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
        if excl {
            flags |= libc::O_EXCL;
        }
        self.open_file(path, flags, mode, dir_fd)
    }

    /// Close a client fd.
    pub fn close(&self, fd: i64) -> Result<()> {
        self.files.remove("close", fd).map(drop)
    }

    /// The OS file behind a client fd, for callers that do their own IO on it.
    pub fn file(&self, op: &'static str, fd: i64) -> Result<std::sync::Arc<OpenFile>> {
        self.files.get(op, fd)
    }

    /// Read at the fd's position into `buf`; returns the byte count (0 at end of file).
    /// `readahead` asks the kernel to prefetch that many bytes from the position first.
    pub fn read(&self, fd: i64, buf: &mut [u8], readahead: Option<u64>) -> Result<usize> {
        let file = self.files.get("read", fd)?;
        if let Some(len) = readahead {
            let pos = rustix::fs::seek(&file.os_fd, SeekFrom::Current(0)).unwrap_or(0);
            advise_willneed(file.os_fd.as_fd(), pos, len);
        }
        retry_eintr(|| rustix::io::read(&file.os_fd, &mut *buf))
            .map_err(|e| Error::os_nopath("read", e))
    }

    /// Write `buf` at the fd's position; returns the byte count. With `flush`
    /// the data is on stable storage when the call returns (`fdatasync`).
    pub fn write(&self, fd: i64, buf: &[u8], flush: bool) -> Result<usize> {
        let file = self.files.get("write", fd)?;
        self.require_write("write", Path::new(&file.path))?;
        let n = retry_eintr(|| rustix::io::write(&file.os_fd, buf))
            .map_err(|e| Error::os_nopath("write", e))?;
        if flush {
            retry_eintr(|| rustix::fs::fdatasync(&file.os_fd))
                .map_err(|e| Error::os_nopath("write", e))?;
        }
        Ok(n)
    }

    /// Move the fd's position (`how` is `os.SEEK_*`); returns the new position.
    pub fn lseek(&self, fd: i64, pos: i64, how: i32, readahead: Option<u64>) -> Result<u64> {
        let file = self.files.get("lseek", fd)?;
        let einval = || Error::os_nopath("lseek", Errno::INVAL);
        let from = match how {
            libc::SEEK_SET => SeekFrom::Start(u64::try_from(pos).map_err(|_| einval())?),
            libc::SEEK_CUR => SeekFrom::Current(pos),
            libc::SEEK_END => SeekFrom::End(pos),
            libc::SEEK_DATA => SeekFrom::Data(u64::try_from(pos).map_err(|_| einval())?),
            libc::SEEK_HOLE => SeekFrom::Hole(u64::try_from(pos).map_err(|_| einval())?),
            _ => return Err(einval()),
        };
        let new = rustix::fs::seek(&file.os_fd, from).map_err(|e| Error::os_nopath("lseek", e))?;
        if let Some(len) = readahead {
            advise_willneed(file.os_fd.as_fd(), new, len);
        }
        Ok(new)
    }

    /// Status of an open fd.
    pub fn fstat(&self, fd: i64) -> Result<FileStat> {
        let file = self.files.get("fstat", fd)?;
        let st = rustix::fs::fstat(&file.os_fd).map_err(|e| Error::os_nopath("fstat", e))?;
        Ok(FileStat::from(&st))
    }

    /// Truncate (or extend) an open file to `length` bytes.
    pub fn ftruncate(&self, fd: i64, length: i64) -> Result<()> {
        let file = self.files.get("ftruncate", fd)?;
        self.require_write("ftruncate", Path::new(&file.path))?;
        let length =
            u64::try_from(length).map_err(|_| Error::os_nopath("ftruncate", Errno::INVAL))?;
        retry_eintr(|| rustix::fs::ftruncate(&file.os_fd, length))
            .map_err(|e| Error::os_nopath("ftruncate", e))
    }

    /// Drop the cached pages of `[offset, offset + len)` of an open file
    /// (`len` 0 = to the end), so the next read of them goes to storage.
    pub fn drop_cache(&self, fd: i64, offset: u64, len: u64) -> Result<()> {
        let file = self.files.get("drop_cache", fd)?;
        rustix::fs::fadvise(&file.os_fd, offset, NonZeroU64::new(len), Advice::DontNeed)
            .map_err(|e| Error::os_nopath("drop_cache", e))
    }
}

/// Tell the kernel `len` bytes from `pos` will be read soon. Advisory: a file
/// system that ignores it (or a pipe) is not an error.
pub(crate) fn advise_willneed(fd: BorrowedFd<'_>, pos: u64, len: u64) {
    let _ = rustix::fs::fadvise(fd, pos, NonZeroU64::new(len), Advice::WillNeed);
}
