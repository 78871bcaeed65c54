//! Unit tests of the pieces around the file systems: futures and the IO
//! context, streams, in-memory files, latency injection. The file systems
//! themselves are tested by the conformance suite in `tests/fs_conformance.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::*;
use crate::cancel::CancelToken;

#[test]
fn futures_wait_and_share() {
    let ctx = IoContext::default();
    let f = ctx.submit("test", || Ok(41 + 1));
    assert_eq!(f.wait().unwrap(), 42);
    let shared = ctx.submit("test", || Ok(Bytes::from_static(b"abc")));
    let again = shared.clone();
    assert_eq!(shared.wait_cloned().unwrap(), "abc");
    assert_eq!(again.wait_cloned().unwrap(), "abc");
    let ready = PendingResult::ready("x", Ok(5));
    assert!(ready.is_ready());
    assert_eq!(ready.wait().unwrap(), 5);
}

#[test]
fn a_panicking_task_fails_its_future_and_not_the_pool() {
    let ctx = IoContext::default();
    let f: PendingResult<u32> = ctx.submit("boom", || panic!("task panicked on purpose"));
    let err = f.wait().unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(ctx.submit("after", || Ok(1)).wait().unwrap(), 1);
}

#[test]
fn cancel_token_cancels_work_not_started() {
    let token = CancelToken::new();
    let ctx = IoContext::new(
        Arc::new(crate::runtime::ElasticPool::new("hf3fs-test", 1)),
        7,
        token.clone(),
    );
    assert_eq!(ctx.external_id(), 7);
    let ran = Arc::new(AtomicUsize::new(0));
    // Occupy the only thread, then cancel what is queued behind it.
    let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let blocker = ctx.submit("block", move || {
        let _ = started_tx.send(());
        let _ = gate_rx.recv();
        Ok(())
    });
    started_rx.recv().unwrap();
    let queued: Vec<_> = (0..4)
        .map(|_| {
            let ran = ran.clone();
            ctx.submit("queued", move || {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        })
        .collect();
    token.cancel();
    gate_tx.send(()).unwrap();
    blocker.wait().unwrap();
    for f in queued {
        let err = f.wait().unwrap_err();
        assert_eq!(err.raw_errno(), Some(libc::ECANCELED), "{err}");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    let fresh = IoContext::with_cancel(CancelToken::new());
    assert_eq!(fresh.submit("again", || Ok(3)).wait().unwrap(), 3);
}

#[test]
fn a_wait_gives_up_when_its_token_fires() {
    let (future, promise) = PendingResult::<u32>::pending("never_done");
    let token = CancelToken::new();
    let t = token.clone();
    let firer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        t.cancel();
    });
    let err = future.clone().wait_with(&token).unwrap_err();
    assert!(
        matches!(err, Error::Cancelled { op: "never_done" }),
        "{err}"
    );
    firer.join().unwrap();
    promise.complete(Ok(1));
    assert_eq!(future.wait_with(&CancelToken::never()).unwrap(), 1);
}

#[test]
fn buffer_reader_is_zero_copy() {
    let data = Bytes::from_static(b"0123456789");
    let mut reader = BufferReader::new(data.clone());
    let head = InputStream::read_bytes(&mut reader, 4).unwrap();
    assert_eq!(head, "0123");
    assert_eq!(head.as_ptr(), data.as_ptr());
    assert_eq!(reader.peek(2).unwrap(), "45");
    reader.advance(3).unwrap();
    assert_eq!(reader.tell().unwrap(), 7);
    assert_eq!(InputStream::read_bytes(&mut reader, 100).unwrap(), "789");
    assert!(InputStream::read_bytes(&mut reader, 1).unwrap().is_empty());
    assert_eq!(reader.read_bytes_at(8, 100).unwrap(), "89");
    assert_eq!(reader.read_bytes_at(100, 5).unwrap(), "");
    let many = reader
        .read_many(&[ReadRange::new(0, 2), ReadRange::new(5, 3)])
        .unwrap();
    assert_eq!(
        many,
        [Bytes::from_static(b"01"), Bytes::from_static(b"567")]
    );
    reader.close().unwrap();
    assert_eq!(
        InputStream::read_bytes(&mut reader, 1)
            .unwrap_err()
            .raw_errno(),
        Some(libc::EBADF)
    );
}

#[test]
fn latency_generator_is_seeded() {
    let a = LatencyGenerator::new(Duration::from_millis(10), 42);
    let b = LatencyGenerator::new(Duration::from_millis(10), 42);
    let c = LatencyGenerator::new(Duration::from_millis(10), 43);
    let xs: Vec<_> = (0..20).map(|_| a.next_latency()).collect();
    let ys: Vec<_> = (0..20).map(|_| b.next_latency()).collect();
    let zs: Vec<_> = (0..20).map(|_| c.next_latency()).collect();
    assert_eq!(xs, ys);
    assert_ne!(xs, zs);
    let mean = xs.iter().map(Duration::as_secs_f64).sum::<f64>() / 20.0;
    assert!((0.007..0.013).contains(&mean), "mean {mean}");
    let zero = LatencyGenerator::new(Duration::ZERO, 1);
    assert_eq!(zero.next_latency(), Duration::ZERO);
}

#[test]
fn slow_fs_counts_requests_and_overlaps_read_many() {
    let mock = Arc::new(MockFileSystem::new(SystemTime::UNIX_EPOCH));
    mock.write_all("f", &vec![7u8; 1 << 20]).unwrap();
    let slow = SlowFileSystem::new(mock, Duration::from_millis(20), 1);
    let stats = slow.stats();
    let file = slow.open_input_file("f").unwrap();
    assert_eq!(stats.metadata_requests(), 1);
    let ranges: Vec<_> = (0..8).map(|i| ReadRange::new(i * 1000, 100)).collect();
    let got = read_ranges(&file, &ranges, &CancelToken::never()).unwrap();
    assert!(got
        .iter()
        .all(|b| b.len() == 100 && b.iter().all(|&x| x == 7)));
    assert_eq!(stats.read_requests(), 8);
    assert_eq!(stats.bytes_read(), 800);
    // Through the scheduler the ranges are requests of their own, waiting
    // on the store together.
    assert!(stats.peak_in_flight() >= 2, "{}", stats.peak_in_flight());
    stats.reset();
    assert_eq!((stats.read_requests(), stats.peak_in_flight()), (0, 0));
}

#[test]
fn slow_fs_bandwidth_adds_transfer_time() {
    let mock = Arc::new(MockFileSystem::new(SystemTime::UNIX_EPOCH));
    mock.write_all("f", &vec![0u8; 100_000]).unwrap();
    // 1 MB/s: 100 kB takes 100 ms on top of zero latency.
    let slow = SlowFileSystem::with_bandwidth(mock, Duration::ZERO, 1, 1e6);
    let file = slow.open_input_file("f").unwrap();
    let start = Instant::now();
    assert_eq!(file.read_bytes_at(0, 100_000).unwrap().len(), 100_000);
    assert!(start.elapsed() >= Duration::from_millis(100));
}
