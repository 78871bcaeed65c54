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
    let ready = IoFuture::ready("x", Ok(5));
    assert!(ready.is_ready());
    assert_eq!(ready.wait().unwrap(), 5);
}

#[test]
fn a_panicking_task_fails_its_future_and_not_the_pool() {
    let ctx = IoContext::default();
    let f: IoFuture<u32> = ctx.submit("boom", || panic!("task panicked on purpose"));
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
    let (future, promise) = IoFuture::<u32>::pending("never_done");
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
fn futures_work_as_std_futures() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Wake, Waker};

    struct Flag(AtomicUsize);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let flag = Arc::new(Flag(AtomicUsize::new(0)));
    let waker = Waker::from(flag.clone());
    let (future, promise) = IoFuture::<u8>::pending("manual");
    let mut future = pin!(future);
    let mut cx = Context::from_waker(&waker);
    assert!(future.as_mut().poll(&mut cx).is_pending());
    promise.complete(Ok(9));
    assert_eq!(
        flag.0.load(Ordering::SeqCst),
        1,
        "completion wakes the task"
    );
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(v) => assert_eq!(v.unwrap(), 9),
        Poll::Pending => panic!("still pending after completion"),
    }
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
fn memory_writers() {
    let mut out = BufferOutputStream::new();
    out.write(b"ab").unwrap();
    out.write_bytes(Bytes::from_static(b"cd")).unwrap();
    assert_eq!(out.tell().unwrap(), 4);
    assert_eq!(out.finish(), "abcd");

    let mut fixed = FixedSizeBufferWriter::new(6);
    fixed.write(b"abc").unwrap();
    fixed.write_at(4, b"xy").unwrap();
    let err = fixed.write(b"long").unwrap_err().to_string();
    assert!(err.contains("does not fit"), "{err}");
    assert_eq!(fixed.into_bytes(), Bytes::from_static(b"abc\0xy"));
}

#[test]
fn buffered_input_peeks_and_batches_small_reads() {
    let data: Vec<u8> = (0..=255).collect();
    let mut s = BufferedInputStream::with_capacity(BufferReader::new(data.clone()), 16);
    assert_eq!(s.peek(4).unwrap().as_ref(), &data[..4]);
    assert_eq!(s.tell().unwrap(), 0);
    let mut buf = [0u8; 3];
    assert_eq!(s.read(&mut buf).unwrap(), 3);
    assert_eq!(buf, [0, 1, 2]);
    assert_eq!(s.bytes_buffered(), 13);
    // A peek larger than the buffer grows it.
    assert_eq!(s.peek(40).unwrap().as_ref(), &data[3..43]);
    s.advance(100).unwrap();
    assert_eq!(s.tell().unwrap(), 103);
    assert_eq!(
        InputStream::read_bytes(&mut s, 1000).unwrap().as_ref(),
        &data[103..]
    );
    assert!(InputStream::read_bytes(&mut s, 1).unwrap().is_empty());
}

#[test]
fn buffered_output_flushes_in_chunks() {
    let mut s = BufferedOutputStream::with_capacity(BufferOutputStream::new(), 8);
    for chunk in [&b"abc"[..], b"def", b"ghi", b"0123456789abcdef"] {
        s.write(chunk).unwrap();
    }
    assert_eq!(s.tell().unwrap(), 25);
    let inner = s.into_inner().unwrap();
    assert_eq!(inner.finish(), "abcdefghi0123456789abcdef");
}

#[test]
fn transform_stream_sees_every_chunk_and_the_end() {
    let input = BufferReader::new(Bytes::from(vec![b'a'; 200_000]));
    let mut seen_end = false;
    let upper: TransformFn = Box::new(move |chunk: Bytes| {
        if chunk.is_empty() {
            assert!(!seen_end, "end signalled twice");
            seen_end = true;
            return Ok(Bytes::from_static(b"!"));
        }
        Ok(Bytes::from(chunk.to_ascii_uppercase()))
    });
    let mut s = TransformInputStream::new(Box::new(input), upper);
    let mut all = Vec::new();
    loop {
        let part = s.read_bytes(7_777).unwrap();
        if part.is_empty() {
            break;
        }
        all.extend_from_slice(&part);
    }
    assert_eq!(all.len(), 200_001);
    assert!(all[..200_000].iter().all(|&b| b == b'A'));
    assert_eq!(all[200_000], b'!');
    assert_eq!(s.tell().unwrap(), 200_001);
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

#[test]
fn async_variants_run_on_the_context() {
    let fs: Arc<dyn FileSystem> = Arc::new(MockFileSystem::new(SystemTime::UNIX_EPOCH));
    fs.create_dir("d/e", true).unwrap();
    fs.write_all("d/e/f", b"hello").unwrap();
    let infos = fs
        .get_file_info_async(vec!["d".into(), "d/e/f".into(), "nope".into()])
        .wait()
        .unwrap();
    let types: Vec<_> = infos.iter().map(|i| i.file_type).collect();
    assert_eq!(
        types,
        [FileType::Directory, FileType::File, FileType::NotFound]
    );
    let file = fs.open_input_file_async("d/e/f").wait().unwrap();
    let ctx = fs.io_context().clone();
    assert_eq!(file.read_async(&ctx, 1, 3).wait().unwrap(), "ell");
    let many = file
        .read_many_async(&ctx, vec![ReadRange::new(0, 1), ReadRange::new(4, 1)])
        .wait()
        .unwrap();
    assert_eq!(many, [Bytes::from_static(b"h"), Bytes::from_static(b"o")]);
    let mut stream = fs.open_input_stream_async("d/e/f").wait().unwrap();
    assert_eq!(stream.read_bytes(10).unwrap(), "hello");
    fs.delete_dir_contents_async("d", false).wait().unwrap();
    assert!(fs
        .get_file_info_selector(&FileSelector::new("d"))
        .unwrap()
        .is_empty());
    let err = fs.open_input_file_async("missing").wait().unwrap_err();
    assert_eq!(err.raw_errno(), Some(libc::ENOENT));
}
