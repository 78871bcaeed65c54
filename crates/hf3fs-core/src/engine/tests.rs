use std::io::Write;
use std::os::fd::AsRawFd;

use super::*;
use crate::cancel::CancelToken;

fn engines() -> Vec<IoEngine> {
    let mut out = vec![IoEngine::new(EngineOptions {
        engine: Some(EngineKind::Threads),
        threads: Some(3),
        queue_depth: None,
    })
    .unwrap()];
    if uring::available().is_ok() {
        out.push(
            IoEngine::new(EngineOptions {
                engine: Some(EngineKind::Uring),
                threads: Some(2),
                queue_depth: Some(8),
            })
            .unwrap(),
        );
    }
    out
}

/// A temp file of `len` pseudo-random bytes, and the bytes.
fn data_file(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(&data).unwrap();
    f.flush().unwrap();
    (f, data)
}

fn read(engine: &IoEngine, entries: &[BatchEntry]) -> Vec<i64> {
    // SAFETY: the tests' entries point into buffers alive for the call.
    unsafe { engine.run(IoDirection::Read, entries, &CancelToken::never()) }.unwrap()
}

#[test]
fn random_batch_matches_the_file() {
    let (file, data) = data_file(3 << 20);
    let fd = file.as_file().as_raw_fd();
    for engine in engines() {
        let mut buf = vec![0u8; 2000 * 4096];
        let mut entries = Vec::new();
        let mut x = 7u64;
        for i in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let offset = (x >> 20) % (data.len() as u64 - 4096);
            entries.push(BatchEntry {
                fd,
                offset,
                addr: buf.as_mut_ptr() as usize + i * 4096,
                len: 4096,
            });
        }
        let results = read(&engine, &entries);
        assert!(results.iter().all(|&r| r == 4096), "{:?}", engine.kind());
        for (i, e) in entries.iter().enumerate() {
            let o = e.offset as usize;
            assert_eq!(&buf[i * 4096..][..4096], &data[o..o + 4096]);
        }
    }
}

#[test]
fn big_entries_split_across_threads_and_end_short_at_eof() {
    let (file, data) = data_file((5 << 20) + 123);
    let fd = file.as_file().as_raw_fd();
    for engine in engines() {
        let mut buf = vec![0u8; 8 << 20];
        let entries = [BatchEntry {
            fd,
            offset: 0,
            addr: buf.as_mut_ptr() as usize,
            len: 8 << 20,
        }];
        assert_eq!(read(&engine, &entries), vec![data.len() as i64]);
        assert_eq!(&buf[..data.len()], &data[..]);
    }
}

#[test]
fn contiguous_entries_are_coalesced_and_still_answer_per_entry() {
    let (file, data) = data_file(10_000);
    let fd = file.as_file().as_raw_fd();
    for engine in engines() {
        let mut buf = vec![0u8; 12_000];
        let base = buf.as_mut_ptr() as usize;
        // Three entries contiguous in the file, the last crossing EOF, then
        // one wholly past EOF, then one to a bad fd.
        let entries = [
            BatchEntry {
                fd,
                offset: 0,
                addr: base,
                len: 4000,
            },
            BatchEntry {
                fd,
                offset: 4000,
                addr: base + 8000,
                len: 4000,
            },
            BatchEntry {
                fd,
                offset: 8000,
                addr: base + 4000,
                len: 4000,
            },
            BatchEntry {
                fd,
                offset: 20_000,
                addr: base,
                len: 100,
            },
            BatchEntry {
                fd: 1 << 20,
                offset: 0,
                addr: base,
                len: 100,
            },
        ];
        let r = read(&engine, &entries);
        assert_eq!(r, vec![4000, 4000, 2000, 0, -(libc::EBADF as i64)]);
        assert_eq!(&buf[..4000], &data[..4000]);
        assert_eq!(&buf[8000..12_000], &data[4000..8000]);
        assert_eq!(&buf[4000..6000], &data[8000..]);
    }
}

#[test]
fn a_failing_merged_op_gives_each_entry_its_own_answer() {
    // Reading a directory fails with EISDIR for every entry of the merged op.
    let dir = tempfile::tempdir().unwrap();
    let d = std::fs::File::open(dir.path()).unwrap();
    for engine in engines() {
        let mut buf = vec![0u8; 64];
        let base = buf.as_mut_ptr() as usize;
        let entries: Vec<_> = (0..4)
            .map(|i| BatchEntry {
                fd: d.as_raw_fd(),
                offset: i * 16,
                addr: base + i as usize * 16,
                len: 16,
            })
            .collect();
        assert_eq!(read(&engine, &entries), vec![-(libc::EISDIR as i64); 4]);
    }
}

#[test]
fn writes_land_where_asked() {
    for engine in engines() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let fd = file.as_file().as_raw_fd();
        let src: Vec<u8> = (0..(3 << 20) + 5).map(|i| (i % 251) as u8).collect();
        let base = src.as_ptr() as usize;
        let entries = [
            BatchEntry {
                fd,
                offset: 0,
                addr: base,
                len: 1 << 20,
            },
            BatchEntry {
                fd,
                offset: 1 << 20,
                addr: base + (1 << 20),
                len: (2 << 20) + 5,
            },
        ];
        // SAFETY: `src` outlives the call and is only read.
        let r = unsafe { engine.run(IoDirection::Write, &entries, &CancelToken::never()) }.unwrap();
        assert_eq!(r, vec![1 << 20, (2 << 20) + 5]);
        assert_eq!(std::fs::read(file.path()).unwrap(), src);
    }
}

#[test]
fn concurrent_batches_on_one_engine() {
    let (file, data) = data_file(1 << 20);
    let fd = file.as_file().as_raw_fd();
    for engine in engines() {
        std::thread::scope(|s| {
            for t in 0..4usize {
                let (engine, data) = (&engine, &data);
                s.spawn(move || {
                    for round in 0..20usize {
                        let mut buf = vec![0u8; 64 * 512];
                        let entries: Vec<_> = (0..64)
                            .map(|i| BatchEntry {
                                fd,
                                offset: ((t * 7919 + round * 104_729 + i * 4099)
                                    % (data.len() - 512))
                                    as u64,
                                addr: buf.as_mut_ptr() as usize + i * 512,
                                len: 512,
                            })
                            .collect();
                        assert!(read(engine, &entries).iter().all(|&r| r == 512));
                        for (i, e) in entries.iter().enumerate() {
                            let o = e.offset as usize;
                            assert_eq!(&buf[i * 512..][..512], &data[o..o + 512]);
                        }
                    }
                });
            }
        });
    }
}

/// Entries that the plan cannot merge (each its own operation), so a batch
/// is many operations for the pool and the submitter to share.
fn scattered_reads(fd: i32, buf: &mut [u8], n: usize) -> Vec<BatchEntry> {
    assert!(buf.len() >= n * 4096);
    (0..n)
        .map(|i| BatchEntry {
            fd,
            offset: (i * 8192 % (1 << 20)) as u64,
            addr: buf.as_mut_ptr() as usize + i * 4096,
            len: 4096,
        })
        .collect()
}

#[test]
fn an_interrupt_before_the_call_runs_no_io() {
    let (file, _) = data_file(1 << 20);
    let fd = file.as_file().as_raw_fd();
    for engine in engines() {
        let mut buf = vec![0u8; 1024 * 4096];
        let entries = scattered_reads(fd, &mut buf, 1024);
        let fired = CancelToken::new();
        fired.cancel();
        // SAFETY: `buf` outlives the call.
        let r = unsafe { engine.run(IoDirection::Read, &entries, &fired) };
        assert!(
            matches!(r, Err(Error::Interrupted { op: "preadv" })),
            "{r:?}"
        );
        assert!(buf.iter().all(|&b| b == 0), "{:?}: IO ran", engine.kind());
        // The engine still works afterwards.
        assert!(read(&engine, &entries[..8]).iter().all(|&r| r == 4096));
    }
}

#[test]
fn an_interrupt_during_the_batch_cancels_the_rest_and_returns_only_when_idle() {
    let (file, data) = data_file(1 << 20);
    let fd = file.as_file().as_raw_fd();
    for engine in engines() {
        let mut buf = vec![0u8; 4096 * 4096];
        let entries = scattered_reads(fd, &mut buf, 4096);
        // Quiet for the check before the call, then fired: the interrupt
        // lands while the batch runs.
        let polls = std::sync::atomic::AtomicUsize::new(0);
        let fires = CancelToken::with_hook(move || {
            polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 1
        });
        // SAFETY: `buf` outlives the call.
        let r = unsafe { engine.run(IoDirection::Read, &entries, &fires) };
        match r {
            Err(Error::Interrupted { op: "preadv" }) => {}
            // The pool may finish every operation before the submitter's
            // next look; then nothing was left to cancel.
            Ok(n) => assert!(n.iter().all(|&r| r == 4096), "{n:?}"),
            Err(e) => panic!("{:?}: {e}", engine.kind()),
        }
        // An operation either ran whole, with the file's bytes, or not at all.
        for (i, e) in entries.iter().enumerate() {
            let got = &buf[i * 4096..][..4096];
            let o = e.offset as usize;
            assert!(got.iter().all(|&b| b == 0) || got == &data[o..o + 4096]);
        }
        assert!(read(&engine, &entries[..8]).iter().all(|&r| r == 4096));
    }
}

#[test]
fn options_are_validated_and_merged() {
    assert!(IoEngine::new(EngineOptions {
        threads: Some(0),
        ..Default::default()
    })
    .is_err());
    assert!(IoEngine::new(EngineOptions {
        queue_depth: Some(0),
        ..Default::default()
    })
    .is_err());
    assert_eq!("io_uring".parse::<EngineKind>(), Ok(EngineKind::Uring));
    assert!("fast"
        .parse::<EngineKind>()
        .unwrap_err()
        .contains("auto, uring or threads"));
    let a = EngineOptions {
        engine: Some(EngineKind::Threads),
        ..Default::default()
    };
    let b = EngineOptions {
        engine: Some(EngineKind::Uring),
        threads: Some(4),
        queue_depth: None,
    };
    assert_eq!(
        a.or(b),
        EngineOptions {
            engine: Some(EngineKind::Threads),
            threads: Some(4),
            queue_depth: None
        }
    );
    let auto = IoEngine::new(EngineOptions::default()).unwrap();
    assert_ne!(auto.kind(), EngineKind::Auto);
}
