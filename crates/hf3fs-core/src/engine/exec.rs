//! Running one planned operation with blocking `preadv(2)`/`pwritev(2)`, and
//! recording its result per piece. The io_uring path falls back to this for
//! the rare cases a ring completion leaves unfinished (a short transfer in
//! the middle of a file, `EAGAIN`, a failed vectored op).

use std::sync::atomic::{AtomicI64, Ordering};

use super::plan::{Iovec, Op, Piece, Plan};
use super::IoDirection;

/// Per-piece results of a running batch: bytes, or `-errno`.
pub type PieceResults = [AtomicI64];

/// `segments` as the `struct iovec` array the kernel takes.
pub(crate) fn as_iovecs(segments: &[Iovec]) -> &[libc::iovec] {
    // SAFETY: `Iovec` is `#[repr(C)]` with the same size, alignment and
    // field order as `struct iovec` (checked at compile time in plan.rs);
    // the iovecs carry addresses as data, so no Rust aliasing is implied.
    unsafe { std::slice::from_raw_parts(segments.as_ptr().cast::<libc::iovec>(), segments.len()) }
}

/// Build `struct iovec`s for `segments`, skipping the first `skip` bytes.
pub(crate) fn iovecs_from(segments: &[Iovec], mut skip: usize) -> Vec<libc::iovec> {
    let mut out = Vec::with_capacity(segments.len());
    for s in segments {
        if skip >= s.len {
            skip -= s.len;
            continue;
        }
        out.push(libc::iovec {
            iov_base: (s.addr + skip) as *mut libc::c_void,
            iov_len: s.len - skip,
        });
        skip = 0;
    }
    out
}

/// One vectored positional call; `Err` carries the errno.
///
/// # Safety
/// Every iovec must describe memory valid for the call (writable for reads).
unsafe fn vectored(
    dir: IoDirection,
    fd: i32,
    iovecs: &[libc::iovec],
    offset: u64,
) -> Result<usize, i32> {
    let count = iovecs.len().min(super::plan::MAX_IOVECS) as libc::c_int;
    let offset = offset as libc::off_t;
    // SAFETY: the caller guarantees the memory; `count` never exceeds the slice.
    let n = unsafe {
        match dir {
            IoDirection::Read => libc::preadv(fd, iovecs.as_ptr(), count, offset),
            IoDirection::Write => libc::pwritev(fd, iovecs.as_ptr(), count, offset),
        }
    };
    if n < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(n as usize)
    }
}

/// Record that the first `bytes` bytes of `op` moved: whole pieces get their
/// length, the piece the count ends in gets the rest, later pieces get 0
/// (they lie past the end of file).
pub(crate) fn distribute(plan: &Plan, op: &Op, mut bytes: usize, results: &PieceResults) {
    for i in op.pieces.clone() {
        let n = bytes.min(plan.pieces[i].len);
        bytes -= n;
        results[i].store(n as i64, Ordering::Relaxed);
    }
}

/// Run `op` to completion starting `start` bytes in, with blocking calls.
///
/// Loops over short transfers until end of file. When a call fails, the
/// pieces finished so far keep their counts and each remaining piece is
/// retried on its own, so every entry gets the answer it would have got
/// alone (its bytes, or its own errno).
///
/// # Safety
/// The op's memory must be valid for the whole call and not be accessed
/// through Rust references meanwhile.
pub(crate) unsafe fn run_op(
    dir: IoDirection,
    plan: &Plan,
    op: &Op,
    start: usize,
    results: &PieceResults,
) {
    let segments = &plan.iovecs[op.iovecs.clone()];
    let mut done = start;
    while done < op.len {
        let skipped;
        let iov = if done == 0 {
            as_iovecs(segments)
        } else {
            skipped = iovecs_from(segments, done);
            &skipped[..]
        };
        // SAFETY: the iovecs lie inside the op's memory (caller's contract).
        match unsafe { vectored(dir, op.fd, iov, op.offset + done as u64) } {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(libc::EINTR) => continue,
            Err(errno) => {
                if op.pieces.len() == 1 {
                    let r = if done > 0 {
                        done as i64
                    } else {
                        -(errno as i64)
                    };
                    results[op.pieces.start].store(r, Ordering::Relaxed);
                } else {
                    // SAFETY: as above.
                    unsafe { run_pieces_alone(dir, plan, op, done, results) };
                }
                return;
            }
        }
    }
    distribute(plan, op, done, results);
}

/// Finish `op` piece by piece: pieces wholly inside the first `done` bytes
/// keep their counts, every other piece runs as its own transfer.
///
/// # Safety
/// As [`run_op`].
pub(crate) unsafe fn run_pieces_alone(
    dir: IoDirection,
    plan: &Plan,
    op: &Op,
    done: usize,
    results: &PieceResults,
) {
    // Bytes before the current piece; None once a piece was not wholly covered.
    let mut covered = Some(0usize);
    for i in op.pieces.clone() {
        let len = plan.pieces[i].len;
        if let Some(c) = covered.filter(|c| c + len <= done) {
            results[i].store(len as i64, Ordering::Relaxed);
            covered = Some(c + len);
            continue;
        }
        covered = None;
        let Piece { offset, addr, .. } = plan.pieces[i];
        // SAFETY: the piece's memory is inside the op's (caller's contract).
        let r = unsafe { transfer(dir, op.fd, offset, Iovec { addr, len }) };
        results[i].store(r, Ordering::Relaxed);
    }
}

/// Move one segment fully, looping over short transfers until end of file;
/// bytes moved, or `-errno` when the first call fails.
///
/// # Safety
/// As [`run_op`].
unsafe fn transfer(dir: IoDirection, fd: i32, offset: u64, seg: Iovec) -> i64 {
    let seg = [seg];
    let mut done = 0usize;
    while done < seg[0].len {
        let iov = iovecs_from(&seg, done);
        // SAFETY: inside the segment (caller's contract).
        match unsafe { vectored(dir, fd, &iov, offset + done as u64) } {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(libc::EINTR) => continue,
            Err(errno) => {
                return if done > 0 {
                    done as i64
                } else {
                    -(errno as i64)
                }
            }
        }
    }
    done as i64
}
