//! Directory streams (`opendir`/`readdir`/`rewinddir`) and recursive removal.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::Client;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// One directory entry, as `readdir` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDirEntry {
    /// The entry's name.
    pub name: OsString,
    /// `DT_*` type (`DT_UNKNOWN` when the file system does not say).
    pub d_type: u8,
    /// Inode number.
    pub ino: u64,
}

/// An open directory stream. `.` and `..` are not listed (3FS lists neither).
#[derive(Debug)]
pub struct DirHandle {
    dir: Mutex<Dir>,
    /// Server path it was opened at.
    pub path: OsString,
}

fn d_type(ft: FileType) -> u8 {
    match ft {
        FileType::RegularFile => libc::DT_REG,
        FileType::Directory => libc::DT_DIR,
        FileType::Symlink => libc::DT_LNK,
        FileType::Fifo => libc::DT_FIFO,
        FileType::Socket => libc::DT_SOCK,
        FileType::CharacterDevice => libc::DT_CHR,
        FileType::BlockDevice => libc::DT_BLK,
        _ => libc::DT_UNKNOWN,
    }
}

impl DirHandle {
    fn lock(&self) -> std::sync::MutexGuard<'_, Dir> {
        // A poisoned stream is still a valid stream; the worst case is a
        // repeated or skipped entry after a panic, never memory unsafety.
        self.dir.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next entry, or `None` at the end.
    pub fn next_entry(&self) -> Result<Option<RawDirEntry>> {
        let mut dir = self.lock();
        loop {
            match dir.read() {
                None => return Ok(None),
                Some(Err(e)) => return Err(Error::os("readdir", self.path.clone(), e)),
                Some(Ok(entry)) => {
                    let name = entry.file_name().to_bytes();
                    if name == b"." || name == b".." {
                        continue;
                    }
                    return Ok(Some(RawDirEntry {
                        name: OsStr::from_bytes(name).to_os_string(),
                        d_type: d_type(entry.file_type()),
                        ino: entry.ino(),
                    }));
                }
            }
        }
    }

    /// Start over from the first entry.
    pub fn rewind(&self) {
        self.lock().rewind();
    }
}

impl Client {
    /// Open a directory stream.
    pub fn opendir(&self, path: &Path, dir_fd: Option<i64>) -> Result<DirHandle> {
        let op = "opendir";
        let server = self.server_path(op, path, dir_fd)?;
        let fd = self
            .root
            .open_path(&server, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
            .map_err(|e| Error::os(op, path.as_os_str(), e))?;
        let dir = Dir::new(fd).map_err(|e| Error::os(op, path.as_os_str(), e))?;
        Ok(DirHandle {
            dir: Mutex::new(dir),
            path: server,
        })
    }
}

/// Remove the directory `name` in `parent` and everything below it, without
/// following symlinks (a symlink inside is removed, never its target).
pub(super) fn remove_tree(parent: &OwnedFd, name: &OsStr, cancel: &CancelToken) -> Result<()> {
    remove_tree_at(parent.as_fd(), name, cancel)?;
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(|e| Error::os_nopath("rmdir", e))
}

fn remove_tree_at(parent: BorrowedFd<'_>, name: &OsStr, cancel: &CancelToken) -> Result<()> {
    let op = "remove";
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        // A symlink where a directory was expected: rmdir would say ENOTDIR.
        Errno::LOOP => Error::os_nopath("rmdir", Errno::NOTDIR),
        e => Error::os_nopath("rmdir", e),
    })?;
    // Collect first: deleting while a getdents stream is open may skip entries.
    let mut entries = Vec::new();
    for entry in Dir::read_from(&fd).map_err(|e| Error::os_nopath(op, e))? {
        let entry = entry.map_err(|e| Error::os_nopath(op, e))?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            entries.push((OsStr::from_bytes(n).to_os_string(), entry.file_type()));
        }
    }
    for (child, ft) in entries {
        if cancel.poll() {
            return Err(Error::Interrupted { op });
        }
        let is_dir = match ft {
            FileType::Directory => true,
            FileType::Unknown => {
                rustix::fs::statat(&fd, child.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                    .map_err(|e| Error::os_nopath(op, e))?
            }
            _ => false,
        };
        if is_dir {
            remove_tree_at(fd.as_fd(), &child, cancel)?;
            rustix::fs::unlinkat(&fd, child.as_os_str(), AtFlags::REMOVEDIR)
        } else {
            rustix::fs::unlinkat(&fd, child.as_os_str(), AtFlags::empty())
        }
        .or_else(|e| if e == Errno::NOENT { Ok(()) } else { Err(e) })
        .map_err(|e| Error::os_nopath(op, e))?;
    }
    Ok(())
}
