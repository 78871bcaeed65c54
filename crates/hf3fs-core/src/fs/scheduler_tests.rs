use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use super::*;
use crate::fs::{BufferReader, FileSystem, FileSystemExt, MockFileSystem, SlowFileSystem};

fn settings(local: usize, remote: usize) -> RuntimeSettings {
    RuntimeSettings {
        local_requests: local,
        remote_requests: remote,
    }
}

fn request<B>(
    file: Arc<dyn RandomAccessFile>,
    ranges: Vec<ReadRange>,
    buffer: B,
) -> ReadRequest<B> {
    ReadRequest {
        file,
        ranges,
        buffer,
        priority: 0,
        cancel: CancelToken::never(),
        retries: 0,
    }
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn ranges_land_back_to_back_and_short_only_at_the_end() {
    let bytes = data(10_000);
    let file: Arc<dyn RandomAccessFile> =
        Arc::new(BufferReader::named(Bytes::from(bytes.clone()), "mem"));
    let s = Scheduler::with_settings(settings(2, 2));
    let ranges = vec![
        ReadRange::new(100, 50),
        ReadRange::new(0, 10),
        ReadRange::new(9_990, 40),
    ];
    let done = s
        .read(request(file, ranges, vec![0u8; 200]))
        .wait()
        .unwrap();
    assert_eq!(done.counts, [50, 10, 10]);
    assert_eq!(&done.buffer[..50], &bytes[100..150]);
    assert_eq!(&done.buffer[50..60], &bytes[..10]);
    assert_eq!(&done.buffer[60..70], &bytes[9_990..]);
}

#[test]
fn a_buffer_too_small_is_an_error_naming_the_file() {
    let file: Arc<dyn RandomAccessFile> =
        Arc::new(BufferReader::named(Bytes::from(data(100)), "m"));
    let s = Scheduler::with_settings(settings(2, 2));
    let err = s
        .read(request(file, vec![ReadRange::new(0, 64)], vec![0u8; 10]))
        .wait()
        .unwrap_err();
    assert!(err.to_string().contains("m:"), "{err}");
}

#[test]
fn remote_ranges_run_concurrently_up_to_the_lane_limit() {
    let mock = Arc::new(MockFileSystem::new(SystemTime::UNIX_EPOCH));
    mock.write_all("f", &data(1 << 20)).unwrap();
    let slow = SlowFileSystem::new(mock, Duration::from_millis(30), 3);
    let stats = slow.stats();
    let file = slow.open_input_file("f").unwrap();
    assert_eq!(file.io_class(), IoClass::Remote);
    let s = Scheduler::with_settings(settings(2, 6));
    let futures: Vec<_> = (0..4)
        .map(|k| {
            let ranges = (0..6)
                .map(|i| ReadRange::new((k * 6 + i) * 4096, 4096))
                .collect();
            s.read(request(file.clone(), ranges, vec![0u8; 6 * 4096]))
        })
        .collect();
    for f in futures {
        assert_eq!(f.wait().unwrap().counts, [4096; 6]);
    }
    assert_eq!(stats.read_requests(), 24);
    assert!(
        (2..=6).contains(&stats.peak_in_flight()),
        "peak {}",
        stats.peak_in_flight()
    );
    assert_eq!(s.stats().peak_running[1], 6, "the remote lane filled up");
    // Completions fire inside the last unit; its thread then frees the slot.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.stats().running != [0, 0] && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!((s.stats().running, s.stats().queued), ([0, 0], 0));
}

/// A remote file whose reads wait at a gate, recording the order they ran in.
#[derive(Debug)]
struct Gated {
    open: Mutex<bool>,
    opened: Condvar,
    order: Mutex<Vec<u64>>,
    started: AtomicUsize,
}

impl Gated {
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl RandomAccessFile for Gated {
    fn path(&self) -> &str {
        "gated"
    }
    fn size(&self) -> Result<u64> {
        Ok(1 << 30)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        self.order.lock().unwrap().push(offset);
        Ok(buf.len())
    }
    fn io_class(&self) -> IoClass {
        IoClass::Remote
    }
}

#[test]
fn queued_work_runs_lowest_priority_first_and_cancelled_work_never_runs() {
    let gated = Arc::new(Gated {
        open: Mutex::new(false),
        opened: Condvar::new(),
        order: Mutex::new(Vec::new()),
        started: AtomicUsize::new(0),
    });
    let file: Arc<dyn RandomAccessFile> = gated.clone();
    let s = Scheduler::with_settings(settings(1, 1));
    // The one remote slot is taken by a blocked read ...
    let first = s.read(request(
        file.clone(),
        vec![ReadRange::new(999, 1)],
        vec![0u8; 1],
    ));
    while gated.started.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // ... so these queue, and run by priority, not submission order.
    let cancel = CancelToken::new();
    let mut futures = Vec::new();
    for (offset, priority) in [(30, 3), (10, 1), (50, 5), (20, 2)] {
        let mut r = request(file.clone(), vec![ReadRange::new(offset, 1)], vec![0u8; 1]);
        r.priority = priority;
        futures.push(s.read(r));
    }
    let mut skipped = request(file.clone(), vec![ReadRange::new(7, 1)], vec![0u8; 1]);
    skipped.cancel = cancel.clone();
    let skipped = s.read(skipped);
    cancel.cancel();
    gated.release();
    first.wait().unwrap();
    for f in futures {
        f.wait().unwrap();
    }
    let err = skipped.wait().unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err}");
    assert_eq!(*gated.order.lock().unwrap(), [999, 10, 20, 30, 50]);
}

#[test]
fn errors_reach_the_completion_and_the_lane_keeps_working() {
    #[derive(Debug)]
    struct Failing(AtomicBool);
    impl RandomAccessFile for Failing {
        fn path(&self) -> &str {
            "failing"
        }
        fn size(&self) -> Result<u64> {
            Ok(100)
        }
        fn read_at(&self, _: u64, buf: &mut [u8]) -> Result<usize> {
            if self.0.swap(false, Ordering::SeqCst) {
                return Err(Error::errno("pread", "failing", libc::EIO));
            }
            Ok(buf.len())
        }
    }
    let file: Arc<dyn RandomAccessFile> = Arc::new(Failing(AtomicBool::new(true)));
    let s = Scheduler::with_settings(settings(1, 1));
    let err = s
        .read(request(
            file.clone(),
            vec![ReadRange::new(0, 4)],
            vec![0u8; 4],
        ))
        .wait()
        .unwrap_err();
    assert_eq!(err.raw_errno(), Some(libc::EIO));
    // A transient error is retried when the request allows it.
    let file: Arc<dyn RandomAccessFile> = Arc::new(Failing(AtomicBool::new(true)));
    let mut r = request(file, vec![ReadRange::new(0, 4)], vec![0u8; 4]);
    r.retries = 1;
    assert_eq!(s.read(r).wait().unwrap().counts, [4]);
}

#[test]
fn completions_arrive_on_request_threads_that_end_when_idle() {
    let file: Arc<dyn RandomAccessFile> = Arc::new(BufferReader::named(Bytes::from(data(64)), "m"));
    let s = Scheduler::with_settings(settings(2, 2));
    let (tx, rx) = mpsc::channel();
    s.submit(
        request(file, vec![ReadRange::new(0, 8)], vec![0u8; 8]),
        move |r| {
            tx.send((
                std::thread::current().name().map(str::to_string),
                r.map(|d| d.counts),
            ))
            .unwrap()
        },
    );
    let (name, counts) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(counts.unwrap(), [8]);
    assert!(name.unwrap_or_default().starts_with("hf3fs-req"));
}

#[test]
fn read_ranges_waits_and_gives_each_range_its_bytes() {
    let mock = Arc::new(MockFileSystem::new(SystemTime::UNIX_EPOCH));
    mock.write_all("f", &data(5000)).unwrap();
    let slow: Arc<dyn FileSystem> =
        Arc::new(SlowFileSystem::new(mock, Duration::from_millis(5), 1));
    let file = slow.open_input_file("f").unwrap();
    let got = read_ranges(
        &file,
        &[ReadRange::new(10, 5), ReadRange::new(4990, 100)],
        &CancelToken::never(),
    )
    .unwrap();
    let bytes = data(5000);
    assert_eq!(got[0], &bytes[10..15]);
    assert_eq!(got[1], &bytes[4990..]);
}
