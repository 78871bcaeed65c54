//! The io_uring side of an IO thread: it keeps up to its ring's depth of a
//! batch's operations in flight and records their completions.

use io_uring::{opcode, squeue, types, IoUring};

use std::cell::RefCell;

use super::exec::as_iovecs;
use super::job::InFlightBatch;
use super::IoDirection;
use crate::cancel::CancelToken;

/// Whether this kernel (and any seccomp policy around us) allows io_uring.
pub(crate) fn available() -> std::io::Result<()> {
    IoUring::new(2).map(drop)
}

/// Operations at least this large run as blocking calls even on the uring
/// engine. Their cost is the copy (page cache) or the transfer (device),
/// which a ring does not shorten; and io_uring's buffered reads of uncached
/// data retry page by page and miss the kernel's sequential readahead, which
/// measured 3x slower than blocking `preadv` for 1 MiB sequential reads
/// (benchmarks/io.py). Small reads, where the syscall is the cost and depth
/// matters, stay on the ring.
const RING_MAX_OP_BYTES: usize = 128 << 10;

thread_local! {
    /// The submitting thread's own ring: (fork generation, depth, ring).
    static CALLER_RING: RefCell<Option<(u64, u32, IoUring)>> = const { RefCell::new(None) };
}

/// Run `f` with this thread's ring of `depth` entries, made on first use
/// and again after `fork()` (the child must not submit to the parent's ring;
/// dropping its inherited copy only unmaps and closes the child's references).
/// `None` when no ring can be made, or on re-entry.
pub(crate) fn with_caller_ring<R>(depth: u32, f: impl FnOnce(Option<&mut IoUring>) -> R) -> R {
    CALLER_RING.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return f(None);
        };
        let generation = crate::fork::generation();
        if !matches!(&*slot, Some((g, d, _)) if *g == generation && *d == depth) {
            *slot = IoUring::new(depth).ok().map(|r| (generation, depth, r));
        }
        f(slot.as_mut().map(|(_, _, r)| r))
    })
}

/// The submission for operation `i` of `job`.
fn entry(job: &InFlightBatch, i: usize) -> squeue::Entry {
    let op = &job.plan.ops[i];
    let fd = types::Fd(op.fd);
    let segments = &job.plan.iovecs[op.iovecs.clone()];
    // Ops are at most MAX_OP_BYTES and MAX_IOVECS, far below u32::MAX.
    let entry = match (job.dir, segments) {
        (IoDirection::Read, [one]) => opcode::Read::new(fd, one.addr as *mut u8, one.len as u32)
            .offset(op.offset)
            .build(),
        (IoDirection::Write, [one]) => {
            opcode::Write::new(fd, one.addr as *const u8, one.len as u32)
                .offset(op.offset)
                .build()
        }
        (IoDirection::Read, many) => {
            opcode::Readv::new(fd, as_iovecs(many).as_ptr(), many.len() as u32)
                .offset(op.offset)
                .build()
        }
        (IoDirection::Write, many) => {
            opcode::Writev::new(fd, as_iovecs(many).as_ptr(), many.len() as u32)
                .offset(op.offset)
                .build()
        }
    };
    entry.user_data(i as u64)
}

/// Claim operations of `job` and run them on `ring` until none are left and
/// none of ours are in flight.
///
/// Each claimed chunk is submitted at once without waiting: reads the page
/// cache can serve complete inside the submit call (so cached batches spread
/// over all threads like blocking calls would), while reads that must go to
/// the device stay in flight, up to the ring's depth, as the thread claims
/// more. The thread only blocks when its ring is full or the batch has no
/// unclaimed operations left.
pub(crate) fn work(ring: &mut IoUring, job: &InFlightBatch, cancel: &CancelToken) {
    let ring_entries = ring.params().sq_entries() as usize;
    let depth = job
        .ring_depth
        .map_or(ring_entries, |d| (d as usize).clamp(1, ring_entries));
    let mut in_flight = 0usize;
    let mut exhausted = false;
    let mut reaped = Vec::with_capacity(depth);
    loop {
        if !exhausted && in_flight < depth {
            match job.claim(depth - in_flight) {
                None => exhausted = true,
                Some(ops) => {
                    if !job.is_cancelled() && cancel.poll() {
                        job.cancel();
                    }
                    let mut skipped = 0;
                    for i in ops {
                        if job.is_cancelled() {
                            job.skip(i);
                            skipped += 1;
                            continue;
                        }
                        if job.plan.ops[i].len >= RING_MAX_OP_BYTES {
                            job.run_blocking(i..i + 1);
                            continue;
                        }
                        let sqe = entry(job, i);
                        // SAFETY: the buffers and the iovec array (inside
                        // `job.plan`) stay valid until this op's completion
                        // is reaped: we hold the job, and its submitter waits
                        // until every op is finished.
                        if unsafe { ring.submission().push(&sqe) }.is_err() {
                            // Unreachable: we never have more than `depth`
                            // in flight; run it the blocking way.
                            job.run_blocking(i..i + 1);
                            continue;
                        }
                        in_flight += 1;
                    }
                    job.finish(skipped);
                }
            }
        }
        if in_flight == 0 {
            if exhausted {
                return;
            }
            continue;
        }
        let wait = if exhausted || in_flight >= depth {
            1
        } else {
            0
        };
        if let Err(e) = ring.submit_and_wait(wait) {
            // EINTR, EAGAIN and EBUSY clear by themselves (EBUSY once we reap
            // below); anything else would be a bug here, so pause instead of
            // spinning and try again: the ops in flight must be reaped before
            // their memory may be released.
            if !matches!(
                e.raw_os_error(),
                Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
            ) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        reaped.clear();
        reaped.extend(
            ring.completion()
                .map(|cqe| (cqe.user_data() as usize, cqe.result())),
        );
        for &(i, res) in &reaped {
            job.complete(i, res);
        }
        in_flight -= reaped.len();
        job.finish(reaped.len());
    }
}
