//! Client-side file descriptors: small integers private to one client.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// The first client fd handed out. 3FS documents client fds next to OS fds
/// (its examples read from fd 3); starting above stdio keeps a client fd from
/// being mistaken for one of the process's standard streams.
pub const FIRST_FD: i64 = 3;

/// An open file or directory of a client.
#[derive(Debug)]
pub struct OpenFile {
    /// The OS file descriptor behind the client fd.
    pub os_fd: OwnedFd,
    /// Server path the file was opened at (for messages; lookups use the fd).
    pub path: OsString,
    /// The `open(2)` flags it was opened with.
    pub flags: i32,
    /// Whether it is a directory.
    pub is_dir: bool,
}

impl OpenFile {
    /// Whether the fd was opened for reading only.
    pub fn is_read_only(&self) -> bool {
        self.flags & libc::O_ACCMODE == libc::O_RDONLY
    }
}

/// A thread-safe table mapping client fds to open files. The lowest free
/// number is reused first, as with POSIX fds.
#[derive(Debug, Default)]
pub struct FdTable {
    slots: Mutex<Vec<Option<Arc<OpenFile>>>>,
}

impl FdTable {
    fn lock(&self) -> MutexGuard<'_, Vec<Option<Arc<OpenFile>>>> {
        // A panic while holding the lock leaves the Vec consistent (every
        // mutation is a single assignment), so a poisoned lock is still usable.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register an open file and return its client fd.
    pub fn insert(&self, file: OpenFile) -> i64 {
        let mut slots = self.lock();
        let file = Some(Arc::new(file));
        let index = match slots.iter().position(Option::is_none) {
            Some(i) => {
                slots[i] = file;
                i
            }
            None => {
                slots.push(file);
                slots.len() - 1
            }
        };
        index as i64 + FIRST_FD
    }

    fn index(fd: i64) -> Option<usize> {
        fd.checked_sub(FIRST_FD)
            .and_then(|i| usize::try_from(i).ok())
    }

    /// The open file behind `fd`, or `EBADF`.
    pub fn get(&self, op: &'static str, fd: i64) -> Result<Arc<OpenFile>> {
        let slots = self.lock();
        Self::index(fd)
            .and_then(|i| slots.get(i))
            .and_then(Clone::clone)
            .ok_or(Error::BadFd { op, fd })
    }

    /// Remove `fd` from the table. The OS fd closes once no call still uses it.
    pub fn remove(&self, op: &'static str, fd: i64) -> Result<Arc<OpenFile>> {
        let mut slots = self.lock();
        Self::index(fd)
            .and_then(|i| slots.get_mut(i))
            .and_then(Option::take)
            .ok_or(Error::BadFd { op, fd })
    }

    /// Number of open fds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().iter().filter(|s| s.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> OpenFile {
        OpenFile {
            os_fd: rustix::fs::open(
                "/",
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .unwrap(),
            path: "/".into(),
            flags: libc::O_RDONLY,
            is_dir: true,
        }
    }

    #[test]
    fn lowest_free_is_reused() {
        let t = FdTable::default();
        assert_eq!(t.insert(file()), 3);
        assert_eq!(t.insert(file()), 4);
        assert_eq!(t.insert(file()), 5);
        t.remove("close", 4).unwrap();
        assert_eq!(t.insert(file()), 4);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn bad_fds() {
        let t = FdTable::default();
        for fd in [-1, 0, 2, 3, 1 << 40] {
            assert!(matches!(t.get("read", fd), Err(Error::BadFd { .. })));
        }
        let fd = t.insert(file());
        t.remove("close", fd).unwrap();
        assert!(matches!(t.remove("close", fd), Err(Error::BadFd { .. })));
    }
}
