//! The io_uring side of an IO thread: it keeps up to its ring's depth of a
//! batch's operations in flight and records their completions.

use io_uring::{opcode, squeue, types, IoUring};

use super::job::Job;
use super::plan::Segment;
use super::IoDirection;

// `Segment` is handed to the kernel as `struct iovec`.
const _: () = {
    assert!(std::mem::size_of::<Segment>() == std::mem::size_of::<libc::iovec>());
    assert!(std::mem::align_of::<Segment>() == std::mem::align_of::<libc::iovec>());
};

/// Whether this kernel (and any seccomp policy around us) allows io_uring.
pub(crate) fn available() -> std::io::Result<()> {
    IoUring::new(2).map(drop)
}

/// The submission for operation `i` of `job`.
fn entry(job: &Job, i: usize) -> squeue::Entry {
    let op = &job.plan.ops[i];
    let fd = types::Fd(op.fd);
    let segments = &job.plan.segments[op.iovecs.clone()];
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
            opcode::Readv::new(fd, many.as_ptr().cast::<libc::iovec>(), many.len() as u32)
                .offset(op.offset)
                .build()
        }
        (IoDirection::Write, many) => {
            opcode::Writev::new(fd, many.as_ptr().cast::<libc::iovec>(), many.len() as u32)
                .offset(op.offset)
                .build()
        }
    };
    entry.user_data(i as u64)
}

/// Claim operations of `job` and run them on `ring` until none are left and
/// none of ours are in flight.
pub(crate) fn work(ring: &mut IoUring, job: &Job) {
    let depth = ring.params().sq_entries() as usize;
    let mut in_flight = 0usize;
    let mut exhausted = false;
    loop {
        while !exhausted && in_flight < depth {
            let Some(i) = job.claim() else {
                exhausted = true;
                break;
            };
            if job.is_cancelled() {
                job.skip(i);
                continue;
            }
            let sqe = entry(job, i);
            // SAFETY: the buffers and the iovec array (inside `job.plan`) stay
            // valid until this op's completion is reaped: the job is alive
            // (we hold it) and its submitter waits until the op is finished.
            if unsafe { ring.submission().push(&sqe) }.is_err() {
                // The queue has `depth` slots and we never have more in
                // flight, so this is unreachable; run it the blocking way.
                job.run_blocking(i);
                continue;
            }
            in_flight += 1;
        }
        if in_flight == 0 {
            return;
        }
        if let Err(e) = ring.submit_and_wait(1) {
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
        let done: Vec<(u64, i32)> = ring
            .completion()
            .map(|cqe| (cqe.user_data(), cqe.result()))
            .collect();
        for (i, res) in done {
            in_flight -= 1;
            job.complete(i as usize, res);
        }
    }
}
