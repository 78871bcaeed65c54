//! Shared-memory IO buffers (`iovec`s), batched reads and writes into them, and
//! handles that let another process reach the same buffers and files.
//!
//! An iovec is a `memfd` mapped `MAP_SHARED`: another process of the same user
//! maps the same pages from its handle, and nothing is left behind in
//! `/dev/shm` when the processes exit, however they exit.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

use crate::cancel::CancelToken;
use crate::client::Client;
use crate::engine::BatchEntry;
use crate::error::{Error, Result};
use crate::fdtable::OpenFile;

/// Prefix of iovec handles, with a version so a future format is told apart.
const IOV_HANDLE_PREFIX: &str = "hf3fs-iov:1";

/// Name of iovec memfds; `/proc/<pid>/fd/<n>` reads `/memfd:hf3fs-iov (deleted)`.
const MEMFD_NAME: &str = "hf3fs-iov";

/// Seals every iovec memfd carries; a handle to anything without them is refused.
const IOV_SEALS: rustix::fs::SealFlags = rustix::fs::SealFlags::SHRINK
    .union(rustix::fs::SealFlags::GROW)
    .union(rustix::fs::SealFlags::SEAL);

/// A shared-memory buffer.
#[derive(Debug)]
pub struct IovMemory {
    ptr: NonNull<u8>,
    len: usize,
    memfd: OwnedFd,
    ino: u64,
    block_size: usize,
    numa: i32,
    /// Why `mlock` failed (`None`: the memory is locked in RAM).
    pin_error: Option<Errno>,
}

// SAFETY: the mapping is plain shared memory owned by this value; it is only
// unmapped in Drop. Concurrent access to the bytes is the caller's contract,
// as for any shared memory (the Python buffer protocol exposes it as such).
unsafe impl Send for IovMemory {}
// SAFETY: as above; &IovMemory only hands out the address and length.
unsafe impl Sync for IovMemory {}

impl IovMemory {
    /// Allocate `len` bytes of shared memory, split into `block_size` blocks
    /// (0 = one block), bound to NUMA node `numa` (-1 = no binding).
    pub fn alloc(len: usize, block_size: usize, numa: i32) -> Result<IovMemory> {
        if len == 0 {
            return Err(Error::invalid("iovalloc: bytes", "must be positive"));
        }
        crate::numa::check_node("iovalloc", numa)?;
        let memfd = rustix::fs::memfd_create(
            MEMFD_NAME,
            rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| Error::os_nopath("iovalloc", e))?;
        rustix::fs::ftruncate(&memfd, len as u64).map_err(|e| Error::os_nopath("iovalloc", e))?;
        // Sealed at its size: no process sharing it can shrink it under another's
        // mapping (which would turn an access into SIGBUS), and the seals mark it
        // as ours when a handle is opened.
        rustix::fs::fcntl_add_seals(&memfd, IOV_SEALS)
            .map_err(|e| Error::os_nopath("iovalloc", e))?;
        let mut mem = Self::map(memfd, len, block_size, numa)?;
        if numa >= 0 {
            // SAFETY: `mem` is our fresh mapping. Bound before it is locked,
            // so locking faults its pages in on that node.
            unsafe { crate::numa::bind_area(mem.ptr.as_ptr(), len, numa)? };
        }
        mem.pin();
        Ok(mem)
    }

    /// Lock the pages in RAM (which also faults them in), so IO into them
    /// never waits for a page fault and they are never swapped out. Over the
    /// memlock limit the memory stays usable, unpinned; [`IovMemory::pin_warning`] says why.
    fn pin(&mut self) {
        // SAFETY: locking our own mapping changes no memory contents.
        self.pin_error = unsafe { rustix::mm::mlock(self.ptr.as_ptr().cast(), self.len) }.err();
    }

    /// Whether the memory is locked in RAM.
    pub fn pinned(&self) -> bool {
        self.pin_error.is_none()
    }

    /// Why the memory could not be locked in RAM, for a warning; `None` when it is.
    pub fn pin_warning(&self) -> Option<String> {
        let errno = self.pin_error?;
        let limit = rustix::process::getrlimit(rustix::process::Resource::Memlock)
            .current
            .map_or("unlimited".to_string(), |l| format!("{l} bytes"));
        Some(format!(
            "iovec of {} bytes is not pinned in RAM: mlock failed ({}); the locked-memory \
             limit (RLIMIT_MEMLOCK) is {limit}. IO still works; raise the limit \
             (ulimit -l, or memlock in limits.conf) to pin it",
            self.len,
            crate::error::strerror(errno.raw_os_error()),
        ))
    }

    fn map(memfd: OwnedFd, len: usize, block_size: usize, numa: i32) -> Result<IovMemory> {
        let ino = rustix::fs::fstat(&memfd)
            .map_err(|e| Error::os_nopath("iovalloc", e))?
            .st_ino;
        // SAFETY: a fresh shared mapping of a memfd we hold, at an address the
        // kernel picks; it does not alias any Rust object.
        let addr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &memfd,
                0,
            )
        }
        .map_err(|e| Error::os_nopath("iovalloc", e))?;
        let ptr = NonNull::new(addr.cast::<u8>())
            .ok_or_else(|| Error::os_nopath("iovalloc", Errno::NOMEM))?;
        Ok(IovMemory {
            ptr,
            len,
            memfd,
            ino,
            block_size,
            numa,
            pin_error: None,
        })
    }

    /// Map the iovec another process shared with [`IovMemory::handle`].
    pub fn open_handle(handle: &str) -> Result<IovMemory> {
        let bad = || {
            Error::invalid(
                format!("openIovecHandle: {handle:?}"),
                "not an iovec handle",
            )
        };
        let rest = handle
            .strip_prefix(IOV_HANDLE_PREFIX)
            .and_then(|r| r.strip_prefix(':'))
            .ok_or_else(bad)?;
        let parts: Vec<i64> = rest
            .split(':')
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad())?;
        let [pid, fd, ino, len, block_size, numa] = parts[..] else {
            return Err(bad());
        };
        let numa = i32::try_from(numa).map_err(|_| bad())?;
        let (Ok(len), Ok(block_size)) = (usize::try_from(len), usize::try_from(block_size)) else {
            return Err(bad());
        };
        if pid <= 0 || fd < 0 || len == 0 {
            return Err(bad());
        }
        let gone = |errno: Errno| {
            Error::os(
                "openIovecHandle",
                OsString::from(handle),
                if errno == Errno::NOENT {
                    Errno::STALE
                } else {
                    errno
                },
            )
        };
        let memfd = rustix::fs::open(
            format!("/proc/{pid}/fd/{fd}"),
            OFlags::RDWR | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(gone)?;
        let st = rustix::fs::fstat(&memfd).map_err(gone)?;
        let ours = rustix::fs::fcntl_get_seals(&memfd).is_ok_and(|seals| seals.contains(IOV_SEALS))
            && crate::resolve::proc_fd_path(memfd.as_fd()).is_ok_and(|p| {
                p.as_os_str()
                    .as_encoded_bytes()
                    .starts_with(format!("/memfd:{MEMFD_NAME}").as_bytes())
            });
        if !ours || st.st_ino as i64 != ino || st.st_size as usize != len {
            return Err(gone(Errno::STALE));
        }
        let mut mem = Self::map(memfd, len, block_size, numa)?;
        mem.pin();
        Ok(mem)
    }

    /// A string another process of the same user passes to [`IovMemory::open_handle`].
    /// Valid while this process keeps the iovec.
    pub fn handle(&self) -> String {
        format!(
            "{IOV_HANDLE_PREFIX}:{}:{}:{}:{}:{}:{}",
            std::process::id(),
            self.memfd.as_raw_fd(),
            self.ino,
            self.len,
            self.block_size,
            self.numa
        )
    }

    /// Start address.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: an iovec has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Block size (0 = the whole iovec is one block).
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// NUMA node the memory is bound to (-1 = none).
    pub fn numa(&self) -> i32 {
        self.numa
    }

    /// Check that `[off, off + len)` is inside the iovec and inside one block
    /// (3FS rejects IO that crosses a block boundary with `EINVAL`).
    pub fn check_range(&self, off: usize, len: usize) -> std::result::Result<(), Errno> {
        let end = off.checked_add(len).ok_or(Errno::INVAL)?;
        if end > self.len {
            return Err(Errno::INVAL);
        }
        if self.block_size > 0 && len > 0 && off / self.block_size != (end - 1) / self.block_size {
            return Err(Errno::INVAL);
        }
        Ok(())
    }
}

impl Drop for IovMemory {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly the mapping made in `map`, unmapped once here.
        unsafe {
            let _ = rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// One entry of a batched read or write.
#[derive(Debug, Clone, Copy)]
pub struct IoRequest {
    /// Memory address (inside an iovec the caller keeps alive for the call).
    pub addr: usize,
    /// Bytes to move.
    pub len: usize,
    /// Client fd.
    pub fd: i64,
    /// File offset.
    pub offset: i64,
}

pub use crate::engine::IoDirection;

impl Client {
    /// Run a batch of positional reads or writes on the client's IO engine.
    /// Each result is the byte count (a read is short only at end of file)
    /// or `-errno`; an unknown fd gives `-EBADF`, a negative offset `-EINVAL`.
    ///
    /// # Safety
    /// Every request's `addr..addr + len` must be memory that stays valid, and
    /// is not accessed through Rust references, for the whole call.
    pub unsafe fn submit_batch(
        &self,
        dir: IoDirection,
        requests: &[IoRequest],
        cancel: &CancelToken,
    ) -> Result<Vec<i64>> {
        if dir == IoDirection::Write {
            self.require_write("pwritev", std::path::Path::new("/"))?;
        }
        let mut results = vec![0i64; requests.len()];
        // Holding the files keeps their OS fds open even if another thread
        // closes the client fds during the batch.
        let mut files = Vec::with_capacity(requests.len());
        let mut entries = Vec::with_capacity(requests.len());
        let mut slots = Vec::with_capacity(requests.len());
        let mut last: Option<(i64, Arc<OpenFile>)> = None;
        for (i, req) in requests.iter().enumerate() {
            // Batches usually repeat an fd: look it up once per run of it.
            let file = match &last {
                Some((fd, file)) if *fd == req.fd => file.clone(),
                _ => match self.file("preadv", req.fd) {
                    Ok(file) => {
                        last = Some((req.fd, file.clone()));
                        file
                    }
                    Err(_) => {
                        results[i] = -(libc::EBADF as i64);
                        continue;
                    }
                },
            };
            let Ok(offset) = u64::try_from(req.offset) else {
                results[i] = -(libc::EINVAL as i64);
                continue;
            };
            entries.push(BatchEntry {
                fd: file.os_fd.as_raw_fd(),
                offset,
                addr: req.addr,
                len: req.len,
            });
            slots.push(i);
            if !files.last().is_some_and(|f| Arc::ptr_eq(f, &file)) {
                files.push(file);
            }
        }
        // SAFETY: `files` keeps every fd open for the call; the memory is the
        // caller's contract, passed on.
        let done = unsafe { self.engine().run(dir, &entries, cancel) }?;
        for (slot, r) in slots.into_iter().zip(done) {
            results[slot] = r;
        }
        drop(files);
        Ok(results)
    }

    /// Handles another process passes to [`Client::open_with_file_handles`].
    /// Only fds open read-only, and directories, can be shared.
    pub fn shared_file_handles(&self, fds: &[i64]) -> Result<Vec<u128>> {
        fds.iter()
            .map(|&fd| {
                let file = self.file("sharedFileHandles", fd)?;
                if !file.is_read_only() {
                    return Err(Error::invalid(
                        format!("sharedFileHandles: fd {fd}"),
                        "open for writing; only read-only fds and directories can be shared",
                    ));
                }
                let st = rustix::fs::fstat(&file.os_fd)
                    .map_err(|e| Error::os_nopath("sharedFileHandles", e))?;
                if !is_shareable(st.st_mode) {
                    return Err(Error::invalid(
                        format!("sharedFileHandles: fd {fd}"),
                        "neither a regular file nor a directory",
                    ));
                }
                let pid = std::process::id() as u128;
                let os_fd = file.os_fd.as_raw_fd() as u32 as u128;
                Ok(pid << 96 | os_fd << 64 | st.st_ino as u128)
            })
            .collect()
    }

    /// Open the files behind handles from [`Client::shared_file_handles`] (of a
    /// client of the same mount, in a process still holding them).
    pub fn open_with_file_handles(&self, handles: &[u128]) -> Result<Vec<i64>> {
        let op = "openWithFileHandles";
        let mut opened = Vec::with_capacity(handles.len());
        for &h in handles {
            let pid = (h >> 96) as u32;
            let os_fd = (h >> 64) as u32;
            let ino = h as u64;
            let stale = || Error::os(op, OsString::from(h.to_string()), Errno::STALE);
            let proc_path = format!("/proc/{pid}/fd/{os_fd}");
            // Look before opening: opening a FIFO for reading would block.
            let result =
                rustix::fs::open(&proc_path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|_| stale())
                    .and_then(|probe| {
                        let mode = rustix::fs::fstat(&probe).map_err(|_| stale())?.st_mode;
                        if !is_shareable(mode) {
                            return Err(stale());
                        }
                        rustix::fs::open(
                            &proc_path,
                            OFlags::RDONLY | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .map_err(|_| stale())
                    })
                    .and_then(|fd| {
                        let st = rustix::fs::fstat(&fd).map_err(|_| stale())?;
                        if st.st_ino != ino {
                            return Err(stale());
                        }
                        let path = self.root.server_path_of(fd.as_fd()).map_err(|_| stale())?;
                        Ok(self.files.insert(OpenFile {
                            os_fd: fd,
                            path,
                            flags: libc::O_RDONLY,
                            is_dir: st.st_mode & libc::S_IFMT == libc::S_IFDIR,
                        }))
                    });
            match result {
                Ok(fd) => opened.push(fd),
                Err(e) => {
                    for fd in opened {
                        let _ = self.close(fd);
                    }
                    return Err(e);
                }
            }
        }
        Ok(opened)
    }
}

/// Only regular files and directories travel as handles (opening a FIFO or
/// device from a handle could block or have side effects).
fn is_shareable(mode: u32) -> bool {
    matches!(mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFDIR)
}
