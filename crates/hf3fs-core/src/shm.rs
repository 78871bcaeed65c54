//! Shared-memory segments that carry batches from a DataLoader worker to
//! the training process without copying: a `memfd` (never a file in
//! `/dev/shm`, so a crash leaves nothing behind) whose first bytes hold a
//! count of the processes using its batch. The worker writes a batch into a
//! free segment and sends its file descriptor; the training process maps
//! the same pages and gives its count back when the batch's last view is
//! gone; the worker reuses a segment only when the count is zero, so a
//! segment's pages (already faulted in) serve batch after batch and no
//! batch ever shares memory with another still in use.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

use crate::error::{Error, Result};
use crate::sync::PerProcess;

/// Name of batch memfds: `/proc/<pid>/fd/<n>` reads `/memfd:hf3fs-batch (deleted)`.
pub const SEGMENT_NAME: &str = "hf3fs-batch";

/// Bytes before a segment's data: the use count and a magic word, padded so
/// the data starts on a cache line (and any element type's alignment).
pub const SEGMENT_HEADER: usize = 64;

/// The header's second word: marks a memfd as a batch segment (of this
/// layout), so a receiver never counts down in memory that is not one.
const SEGMENT_MAGIC: u32 = 0x6833_6662; // "h3fb"

/// Segments are sized in multiples of this, so one freed by a batch fits
/// the next batch of similar size.
const SEGMENT_GRANULE: usize = 1 << 20;

/// Free segments a process keeps for reuse: enough for the batches a
/// DataLoader keeps in flight per worker (`prefetch_factor`, 2 by default,
/// plus the one being trained on); more are unmapped.
const KEEP_FREE_SEGMENTS: usize = 4;

/// One process's mapping of a segment.
pub struct ShmSegment {
    ptr: NonNull<u8>,
    len: usize,
    /// The memfd, kept by the process that made the segment (to send it);
    /// a receiver closes its copy once mapped.
    memfd: Option<OwnedFd>,
    /// The fork generation that mapped it: a forked child that inherits the
    /// mapping must not count the parent's use down.
    generation: u64,
}

// SAFETY: the mapping is plain shared memory owned by this value and only
// unmapped in Drop; the header is only accessed atomically. Rust forms a
// mutable slice over the data only while filling a segment that no other
// process uses yet (its count is this process's alone); after that the data
// is reached through raw pointers handed to Python buffers, as any shared
// memory is.
unsafe impl Send for ShmSegment {}
// SAFETY: as above; &ShmSegment hands out addresses and the atomic count.
unsafe impl Sync for ShmSegment {}

impl std::fmt::Debug for ShmSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShmSegment")
            .field("len", &self.len)
            .field("fd", &self.memfd.as_ref().map(|f| f.as_raw_fd()))
            .field("users", &self.users().load(Ordering::Relaxed))
            .finish()
    }
}

impl ShmSegment {
    /// A new segment with room for at least `data` bytes, used by this
    /// process (count 1).
    fn create(data: usize) -> Result<ShmSegment> {
        let len = (SEGMENT_HEADER + data.max(1)).div_ceil(SEGMENT_GRANULE) * SEGMENT_GRANULE;
        let memfd = rustix::fs::memfd_create(SEGMENT_NAME, rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| Error::os_nopath("batch shared memory", e))?;
        rustix::fs::ftruncate(&memfd, len as u64)
            .map_err(|e| Error::os_nopath("batch shared memory", e))?;
        let mut segment = ShmSegment::map_fd(&memfd, len, false)?;
        segment.magic().store(SEGMENT_MAGIC, Ordering::Release);
        segment.users().store(1, Ordering::Release);
        segment.memfd = Some(memfd);
        Ok(segment)
    }

    /// Map a segment another process sent (`fd`, closed once mapped) of
    /// `len` bytes; its pages are mapped at once (they exist already), not
    /// one fault at a time. The sender counted this process in.
    pub fn open(fd: OwnedFd, len: usize) -> Result<ShmSegment> {
        let size = rustix::fs::fstat(&fd)
            .map_err(|e| Error::os_nopath("batch shared memory", e))?
            .st_size;
        if len < SEGMENT_HEADER || size < len as i64 {
            return Err(Error::invalid(
                "batch shared memory",
                format!("{len} bytes asked of a segment of {size}"),
            ));
        }
        let mut segment = ShmSegment::map_fd(&fd, len, true)?;
        if segment.magic().load(Ordering::Acquire) != SEGMENT_MAGIC {
            // Not a batch segment: never counted down (the mapping goes).
            segment.generation = u64::MAX;
            drop(segment);
            return Err(Error::invalid(
                "batch shared memory",
                "the descriptor is not an hf3fs batch segment",
            ));
        }
        Ok(segment)
    }

    fn map_fd(memfd: &OwnedFd, len: usize, populate: bool) -> Result<ShmSegment> {
        let flags = if populate {
            MapFlags::SHARED | MapFlags::POPULATE
        } else {
            MapFlags::SHARED
        };
        // SAFETY: a fresh shared mapping of a memfd we hold, at an address the
        // kernel picks; it does not alias any Rust object.
        let addr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                flags,
                memfd,
                0,
            )
        }
        .map_err(|e| Error::os_nopath("batch shared memory", e))?;
        let ptr = NonNull::new(addr.cast::<u8>())
            .ok_or_else(|| Error::os_nopath("batch shared memory", Errno::NOMEM))?;
        Ok(ShmSegment {
            ptr,
            len,
            memfd: None,
            generation: crate::fork::generation(),
        })
    }

    fn magic(&self) -> &AtomicU32 {
        // SAFETY: as for `users`: the second word of the header.
        unsafe { &*self.ptr.as_ptr().add(4).cast::<AtomicU32>() }
    }

    /// How many processes use the segment's batch (0: free).
    pub fn users(&self) -> &AtomicU32 {
        // SAFETY: the header is inside the mapping, 64-byte aligned (mmap
        // returns page-aligned memory), and only ever accessed atomically.
        unsafe { &*self.ptr.as_ptr().cast::<AtomicU32>() }
    }

    /// Count one more process in (before sending the segment to it).
    pub fn add_user(&self) {
        self.users().fetch_add(1, Ordering::AcqRel);
    }

    /// Count one process out (its last view of the batch is gone); nothing
    /// in a forked child of the process that mapped it.
    pub fn remove_user(&self) {
        if self.generation != crate::fork::generation() {
            return;
        }
        // Saturating: a count already at zero (a peer that misbehaved) stays there.
        let _ = self
            .users()
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// The data region's address.
    pub fn data(&self) -> *mut u8 {
        // SAFETY: the mapping is at least SEGMENT_HEADER bytes long.
        unsafe { self.ptr.as_ptr().add(SEGMENT_HEADER) }
    }

    /// Bytes of data the segment holds.
    pub fn capacity(&self) -> usize {
        self.len - SEGMENT_HEADER
    }

    /// Bytes mapped (header included): what a receiver maps.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never: a segment has a header at least.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The memfd, to send to another process (None in a receiver).
    pub fn raw_fd(&self) -> Option<RawFd> {
        self.memfd.as_ref().map(|f| f.as_fd().as_raw_fd())
    }
}

impl Drop for ShmSegment {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly the mapping made in `map_fd`, unmapped once here.
        unsafe {
            let _ = rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

// Segments of this process. A forked child never touches its parent's (the
// parent may reuse them), so the inherited list is forgotten, not dropped.
static SEGMENTS: PerProcess<Arc<Mutex<Vec<Arc<ShmSegment>>>>> = PerProcess::new();

/// A segment with room for `data` bytes that no process uses, counted as
/// used by this one: a free one of this process when there is one (its
/// pages already faulted in), else a new one.
pub fn take_segment(data: usize) -> Result<Arc<ShmSegment>> {
    SEGMENTS.guard_across_fork();
    let pool = SEGMENTS.get_or_init(Default::default, std::mem::forget);
    let mut segments = crate::sync::lock(&pool);
    let mut best: Option<usize> = None;
    for (i, s) in segments.iter().enumerate() {
        if s.capacity() >= data
            && s.users().load(Ordering::Acquire) == 0
            && best.is_none_or(|b| segments[b].capacity() > s.capacity())
        {
            best = Some(i);
        }
    }
    if let Some(i) = best {
        let segment = segments[i].clone();
        // Only this process takes its own segments, under this lock.
        if segment
            .users()
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Ok(segment);
        }
    }
    let segment = Arc::new(ShmSegment::create(data)?);
    segments.push(segment.clone());
    // Unmap free segments beyond the few kept.
    let mut free = 0;
    segments.retain(|s| {
        if s.users().load(Ordering::Acquire) != 0 || Arc::strong_count(s) > 1 {
            return true;
        }
        free += 1;
        free <= KEEP_FREE_SEGMENTS
    });
    Ok(segment)
}

/// Mappings a receiver keeps per sender: the sender's free segments
/// (`KEEP_FREE_SEGMENTS`) plus those its batches in flight hold (DataLoader
/// prefetches 2 per worker); beyond, the least recently received goes.
const KEEP_RECEIVED_PER_SENDER: usize = 8;

/// One sending process and the segments of its this process keeps mapped.
struct Sender {
    pid: i32,
    /// Readable once the sender has exited (None where pidfds are missing:
    /// then `kill(pid, 0)` tells, a zombie counting as alive).
    pidfd: Option<OwnedFd>,
    /// (device, inode) of each segment's memfd and its mapping, least
    /// recently received first.
    segments: Vec<((u64, u64), Arc<ShmSegment>)>,
}

/// Segments received from other processes (DataLoader workers), kept mapped
/// so that a worker's segment, reused batch after batch, is mapped once and
/// not once per batch. A forked child forgets its parent's.
static RECEIVED: PerProcess<Arc<Mutex<Vec<Sender>>>> = PerProcess::new();

/// How a receiver's mappings were served.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedStats {
    /// Segments mapped (a new sender's, or a segment not seen before).
    pub mapped: u64,
    /// Batches whose segment was already mapped.
    pub reused: u64,
    /// Mappings held now.
    pub held: u64,
}

static RECEIVED_MAPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static RECEIVED_REUSED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The mapping of the segment `fd` (closed here) of `len` bytes that process
/// `sender` sent: the one kept from an earlier batch of that segment, or a
/// new one, kept for the next. The sender counted this process in.
pub fn receive_segment(fd: OwnedFd, len: usize, sender: i32) -> Result<Arc<ShmSegment>> {
    let stat = rustix::fs::fstat(&fd).map_err(|e| Error::os_nopath("batch shared memory", e))?;
    let key = (stat.st_dev, stat.st_ino);
    RECEIVED.guard_across_fork();
    let cache = RECEIVED.get_or_init(Default::default, std::mem::forget);
    let mut senders = crate::sync::lock(&cache);
    forget_exited(&mut senders);
    let at = match senders.iter().position(|s| s.pid == sender) {
        Some(at) => at,
        None => {
            let pidfd = rustix::process::Pid::from_raw(sender).and_then(|pid| {
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
            });
            senders.push(Sender {
                pid: sender,
                pidfd,
                segments: Vec::new(),
            });
            senders.len() - 1
        }
    };
    let segments = &mut senders[at].segments;
    if let Some(i) = segments
        .iter()
        .position(|(k, s)| *k == key && s.len() == len)
    {
        let entry = segments.remove(i);
        let segment = entry.1.clone();
        segments.push(entry);
        RECEIVED_REUSED.fetch_add(1, Ordering::Relaxed);
        return Ok(segment);
    }
    let segment = Arc::new(ShmSegment::open(fd, len)?);
    RECEIVED_MAPPED.fetch_add(1, Ordering::Relaxed);
    segments.push((key, segment.clone()));
    if segments.len() > KEEP_RECEIVED_PER_SENDER {
        segments.remove(0);
    }
    Ok(segment)
}

/// Drop the mappings of senders that have exited (a batch still in use
/// keeps its own mapping until it is gone).
fn forget_exited(senders: &mut Vec<Sender>) {
    use rustix::event::{poll, PollFd, PollFlags};
    // One poll over every sender's pidfd: a readable one has exited.
    let mut fds: Vec<PollFd<'_>> = senders
        .iter()
        .filter_map(|s| s.pidfd.as_ref())
        .map(|fd| PollFd::new(fd, PollFlags::IN))
        .collect();
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let polled = !fds.is_empty() && poll(&mut fds, Some(&zero)).is_ok();
    let mut readable = fds.iter().map(|fd| polled && !fd.revents().is_empty());
    let exited: Vec<bool> = senders
        .iter()
        .map(|s| match s.pidfd {
            Some(_) => readable.next().unwrap_or(false),
            None => rustix::process::Pid::from_raw(s.pid)
                .is_none_or(|pid| rustix::process::test_kill_process(pid).is_err()),
        })
        .collect();
    drop(fds);
    let mut gone = exited.iter();
    senders.retain(|_| !gone.next().copied().unwrap_or(false));
}

/// Drop the mappings of every sender that has exited (DataLoader workers
/// at the end of a loader, or killed), or of all senders with `all`.
pub fn forget_received(all: bool) {
    let Some(cache) = RECEIVED.get() else { return };
    let mut senders = crate::sync::lock(&cache);
    if all {
        senders.clear();
    } else {
        forget_exited(&mut senders);
    }
}

/// How this process's received mappings were served, and how many it holds.
pub fn received_stats() -> ReceivedStats {
    let held = RECEIVED
        .get()
        .map(|c| {
            crate::sync::lock(&c)
                .iter()
                .map(|s| s.segments.len() as u64)
                .sum()
        })
        .unwrap_or(0);
    ReceivedStats {
        mapped: RECEIVED_MAPPED.load(Ordering::Relaxed),
        reused: RECEIVED_REUSED.load(Ordering::Relaxed),
        held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_reused_only_when_no_process_uses_them() {
        let a = take_segment(3 << 20).unwrap();
        assert!(a.capacity() >= 3 << 20);
        assert_eq!(a.users().load(Ordering::Acquire), 1);
        // SAFETY: the data region is ours and 3 MiB long.
        unsafe { a.data().write_bytes(7, 3 << 20) };
        // A receiver maps the same pages.
        let fd = rustix::io::dup(a.memfd.as_ref().unwrap()).unwrap();
        a.add_user();
        let b = ShmSegment::open(fd, a.len()).unwrap();
        // SAFETY: both mappings are at least 3 MiB of data long.
        assert_eq!(unsafe { *b.data().add(12345) }, 7);
        a.remove_user();
        // Still used by the receiver: a new segment is made.
        let c = take_segment(1 << 20).unwrap();
        assert_ne!(c.data(), a.data());
        b.remove_user();
        let a_data = a.data();
        drop(a);
        let d = take_segment(2 << 20).unwrap();
        assert_eq!(d.data(), a_data, "the free segment is reused");
        let fd = || rustix::io::dup(d.memfd.as_ref().unwrap()).unwrap();
        assert!(ShmSegment::open(fd(), d.len() * 2).is_err());
        // A memfd that is not a segment is refused, and its bytes left alone.
        let other = rustix::fs::memfd_create("other", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&other, 1 << 20).unwrap();
        assert!(ShmSegment::open(other, 1 << 20).is_err());
    }
}

#[cfg(test)]
mod received_tests {
    use super::*;

    #[test]
    fn a_received_segment_is_mapped_once_and_forgotten_when_its_sender_exits() {
        let a = take_segment(1 << 20).unwrap();
        let dup = || rustix::io::dup(a.memfd.as_ref().unwrap()).unwrap();
        let mut sender = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = sender.id() as i32;
        let before = received_stats();
        // SAFETY: the data region is ours and at least 1 MiB long.
        unsafe { a.data().write_bytes(5, 64) };
        let first = receive_segment(dup(), a.len(), pid).unwrap();
        // SAFETY: as above, through the receiver's mapping.
        unsafe { a.data().write_bytes(9, 64) };
        let second = receive_segment(dup(), a.len(), pid).unwrap();
        assert!(Arc::ptr_eq(&first, &second), "one mapping for both batches");
        // SAFETY: both mappings hold the segment's data.
        assert_eq!(unsafe { *second.data() }, 9, "the same pages");
        let after = received_stats();
        assert_eq!(after.mapped - before.mapped, 1);
        assert_eq!(after.reused - before.reused, 1);
        // Another sender's batch of the same memfd is another entry.
        let other = receive_segment(dup(), a.len(), std::process::id() as i32).unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        drop((first, second, other));
        let held = received_stats().held;
        forget_received(false);
        assert_eq!(received_stats().held, held, "both senders still run");
        sender.kill().unwrap();
        sender.wait().unwrap();
        forget_received(false);
        assert_eq!(
            received_stats().held,
            held - 1,
            "the exited sender's mapping is gone"
        );
        forget_received(true);
        assert_eq!(received_stats().held, 0);
    }
}
