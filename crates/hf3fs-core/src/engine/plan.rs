//! Turning a batch into syscall-sized operations, and results back into
//! per-entry answers.
//!
//! Entries larger than [`MAX_OP_BYTES`] are split into pieces so one big read
//! runs on several threads; neighbouring pieces (next to each other in the
//! batch, same fd, contiguous in the file) are merged into one vectored
//! operation of at most [`MAX_OP_BYTES`] and [`MAX_IOVECS`] memory segments.

use std::ops::Range;
use std::os::fd::RawFd;

use super::BatchEntry;

/// Largest operation the engine issues. A 1 MiB copy takes ~100 µs, so the
/// ~1–2 µs cost of a syscall or ring round trip is noise; it is also the usual
/// NFS/Lustre RPC size and NVMe `max_sectors_kb`, so the storage sees whole
/// requests; and it is small enough that a 64 MiB entry splits across every
/// IO thread.
pub const MAX_OP_BYTES: usize = 1 << 20;

/// Most memory segments in one vectored call: the kernel's `IOV_MAX`.
pub const MAX_IOVECS: usize = 1024;

// `Iovec` is handed to the kernel as `struct iovec`.
const _: () = {
    assert!(std::mem::size_of::<Iovec>() == std::mem::size_of::<libc::iovec>());
    assert!(std::mem::align_of::<Iovec>() == std::mem::align_of::<libc::iovec>());
};

/// A part of one entry, moved by exactly one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Index of the entry in the batch.
    pub entry: usize,
    /// Bytes of the entry this piece covers.
    pub len: usize,
    /// File offset and memory address of its first byte.
    pub offset: u64,
    pub addr: usize,
}

/// One positional vectored syscall (or ring submission).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub fd: RawFd,
    pub offset: u64,
    /// Bytes in all its pieces.
    pub len: usize,
    /// Its pieces, in file order, as indices into [`Plan::pieces`].
    pub pieces: Range<usize>,
    /// Its memory segments, as indices into [`Plan::iovecs`].
    pub iovecs: Range<usize>,
}

/// Memory segment: the address and length of a `struct iovec`, kept as plain
/// integers so a plan can cross threads. Laid out exactly as `struct iovec`,
/// so a slice of them is passed to the kernel as is.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Iovec {
    pub addr: usize,
    pub len: usize,
}

/// A batch cut into operations.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub pieces: Vec<Piece>,
    pub iovecs: Vec<Iovec>,
    pub ops: Vec<Op>,
    /// Number of entries in the batch.
    pub entries: usize,
}

impl Plan {
    /// Plan `entries`, splitting and merging as described in the module docs.
    pub fn new(entries: &[BatchEntry]) -> Plan {
        Plan::with_limits(entries, MAX_OP_BYTES, MAX_IOVECS)
    }

    /// [`Plan::new`] with explicit limits (tests use small ones).
    pub fn with_limits(entries: &[BatchEntry], max_op: usize, max_iovecs: usize) -> Plan {
        let max_op = max_op.max(1);
        let max_iovecs = max_iovecs.max(1);
        let mut plan = Plan {
            entries: entries.len(),
            ..Plan::default()
        };
        for (index, e) in entries.iter().enumerate() {
            let mut done = 0usize;
            loop {
                let len = (e.len - done).min(max_op);
                let piece = Piece {
                    entry: index,
                    len,
                    offset: e.offset + done as u64,
                    addr: e.addr + done,
                };
                plan.push_piece(piece, e.fd, max_op, max_iovecs);
                done += len;
                if done >= e.len {
                    break;
                }
            }
        }
        plan
    }

    fn push_piece(&mut self, piece: Piece, fd: RawFd, max_op: usize, max_iovecs: usize) {
        let (offset, addr) = (piece.offset, piece.addr);
        let index = self.pieces.len();
        self.pieces.push(piece);
        if let Some(op) = self.ops.last_mut() {
            let last_seg = self.iovecs[op.iovecs.end - 1];
            let joins_memory = last_seg.addr + last_seg.len == addr;
            let fits =
                op.len + piece.len <= max_op && (joins_memory || op.iovecs.len() < max_iovecs);
            if op.fd == fd && op.offset + op.len as u64 == offset && fits {
                op.len += piece.len;
                op.pieces.end = index + 1;
                if joins_memory {
                    self.iovecs[op.iovecs.end - 1].len += piece.len;
                } else {
                    self.iovecs.push(Iovec {
                        addr,
                        len: piece.len,
                    });
                    op.iovecs.end += 1;
                }
                return;
            }
        }
        let seg = self.iovecs.len();
        self.iovecs.push(Iovec {
            addr,
            len: piece.len,
        });
        self.ops.push(Op {
            fd,
            offset,
            len: piece.len,
            pieces: index..index + 1,
            iovecs: seg..seg + 1,
        });
    }

    /// Per-entry results from per-piece results (bytes, or `-errno`).
    ///
    /// An entry's pieces count in order: a short piece ends it (end of file),
    /// and a failed piece ends it with the bytes before it, or with the error
    /// when there were none, as one sequential read or write would.
    pub fn fold(&self, piece_results: &[i64]) -> Vec<i64> {
        let mut out = vec![0i64; self.entries];
        let mut finished = vec![false; self.entries];
        for (piece, &r) in self.pieces.iter().zip(piece_results) {
            let e = piece.entry;
            if finished[e] {
                continue;
            }
            if r < 0 {
                if out[e] == 0 {
                    out[e] = r;
                }
                finished[e] = true;
            } else {
                out[e] += r;
                finished[e] = (r as usize) < piece.len;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(fd: RawFd, offset: u64, addr: usize, len: usize) -> BatchEntry {
        BatchEntry {
            fd,
            offset,
            addr,
            len,
        }
    }

    #[test]
    fn empty_batch_has_no_ops() {
        let p = Plan::new(&[]);
        assert!(p.ops.is_empty());
        assert!(p.fold(&[]).is_empty());
    }

    #[test]
    fn contiguous_in_file_and_memory_become_one_segment() {
        let p = Plan::new(&[e(3, 0, 1000, 10), e(3, 10, 1010, 20), e(3, 30, 1030, 5)]);
        assert_eq!(p.ops.len(), 1);
        assert_eq!(p.ops[0].len, 35);
        assert_eq!(
            p.iovecs,
            vec![Iovec {
                addr: 1000,
                len: 35
            }]
        );
    }

    #[test]
    fn contiguous_in_file_only_becomes_a_vectored_op() {
        let p = Plan::new(&[e(3, 0, 5000, 10), e(3, 10, 1000, 10)]);
        assert_eq!(p.ops.len(), 1);
        assert_eq!(p.ops[0].iovecs.len(), 2);
    }

    #[test]
    fn other_fd_gap_overlap_or_reorder_starts_a_new_op() {
        let p = Plan::new(&[
            e(3, 0, 0, 10),
            e(4, 10, 10, 10),  // other fd
            e(4, 21, 20, 10),  // gap in the file
            e(4, 25, 30, 10),  // overlaps the previous one
            e(4, 100, 40, 10), // ahead
            e(4, 90, 50, 10),  // behind: not merged backwards
        ]);
        assert_eq!(p.ops.len(), 6);
    }

    #[test]
    fn large_entries_split_and_small_ones_merge_up_to_the_limit() {
        let p = Plan::with_limits(&[e(3, 0, 0, 25)], 10, 1024);
        let lens: Vec<usize> = p.ops.iter().map(|o| o.len).collect();
        assert_eq!(lens, vec![10, 10, 5]);
        assert_eq!(p.ops[1].offset, 10);
        assert_eq!(p.iovecs[2].addr, 20);
        // Split pieces of one entry never merge again, but a following
        // contiguous entry fills the last piece's op.
        let p = Plan::with_limits(&[e(3, 0, 0, 25), e(3, 25, 25, 3)], 10, 1024);
        let lens: Vec<usize> = p.ops.iter().map(|o| o.len).collect();
        assert_eq!(lens, vec![10, 10, 8]);
    }

    #[test]
    fn iovec_limit_starts_a_new_op() {
        // Contiguous in the file, scattered in memory: 3 segments per op at most.
        let entries: Vec<_> = (0..7).map(|i| e(3, i * 4, 1000 * i as usize, 4)).collect();
        let p = Plan::with_limits(&entries, 1 << 20, 3);
        let segs: Vec<usize> = p.ops.iter().map(|o| o.iovecs.len()).collect();
        assert_eq!(segs, vec![3, 3, 1]);
    }

    #[test]
    fn zero_length_entries_get_a_piece() {
        let p = Plan::new(&[e(3, 0, 0, 0)]);
        assert_eq!(p.ops.len(), 1);
        assert_eq!(p.fold(&[0]), vec![0]);
    }

    #[test]
    fn fold_stops_at_short_or_failed_pieces() {
        let p = Plan::with_limits(&[e(3, 0, 0, 30), e(4, 0, 100, 30), e(5, 0, 200, 30)], 10, 8);
        // entry 0: full; entry 1: short in its second piece (EOF), third
        // piece read nothing; entry 2: first piece fails.
        let r = p.fold(&[10, 10, 10, 10, 4, 0, -9, 10, 10]);
        assert_eq!(r, vec![30, 14, -9]);
        // An error after bytes reports the bytes, like a short read.
        let r = p.fold(&[10, 10, 10, 10, -5, 10, 10, 10, 10]);
        assert_eq!(r, vec![30, 10, 30]);
    }
}
