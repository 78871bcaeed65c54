use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::*;
use crate::fs::BufferReader;

fn never() -> CancelToken {
    CancelToken::never()
}

fn r(offset: u64, length: u64) -> ReadRange {
    ReadRange::new(offset, length)
}

/// The cases of Arrow's own `CoalesceReadRanges` test (hole 9, range 99).
#[test]
fn coalesce_matches_arrow() {
    let check = |input: &[ReadRange], expected: &[ReadRange]| {
        assert_eq!(coalesce_ranges(input, 9, 99), expected, "input {input:?}");
    };
    check(&[], &[]);
    check(&[r(110, 0)], &[]);
    check(&[r(110, 10), r(120, 0)], &[r(110, 10)]);
    check(&[r(110, 10)], &[r(110, 10)]);
    check(&[r(130, 10), r(110, 10), r(120, 10)], &[r(110, 30)]);
    check(&[r(110, 10), r(120, 10), r(130, 10)], &[r(110, 30)]);
    check(
        &[r(110, 11), r(130, 0), r(130, 10), r(145, 9)],
        &[r(110, 44)],
    );
    check(&[r(110, 10), r(130, 10)], &[r(110, 10), r(130, 10)]);
    check(
        &[r(110, 11), r(130, 0), r(130, 10), r(145, 9), r(199, 2)],
        &[r(110, 44), r(199, 2)],
    );
    check(
        &[
            r(110, 11),
            r(130, 0),
            r(130, 10),
            r(145, 9),
            r(150, 0),
            r(199, 2),
        ],
        &[r(110, 44), r(199, 2)],
    );
    check(&[r(110, 100), r(210, 100)], &[r(110, 100), r(210, 100)]);
    check(
        &[r(110, 10), r(120, 11), r(140, 100), r(240, 11), r(260, 11)],
        &[r(110, 21), r(140, 100), r(240, 31)],
    );
    check(&[r(100, 50), r(150, 50)], &[r(100, 50), r(150, 50)]);
    check(
        &[r(100, 30), r(130, 30), r(160, 30), r(190, 30), r(220, 30)],
        &[r(100, 90), r(190, 60)],
    );
    check(
        &[r(140, 100), r(120, 11), r(240, 11), r(110, 10), r(260, 11)],
        &[r(110, 21), r(140, 100), r(240, 31)],
    );
    check(&[r(20, 5), r(20, 5), r(21, 2)], &[r(20, 5)]);
}

#[test]
fn coalesce_edge_cases() {
    // Contained in an earlier, longer range (not only the previous one).
    assert_eq!(
        coalesce_ranges(&[r(0, 100), r(5, 200), r(50, 10)], 0, 1000),
        [r(0, 205)]
    );
    // Partial overlap merges (a negative hole is no hole).
    assert_eq!(coalesce_ranges(&[r(0, 10), r(5, 10)], 0, 1000), [r(0, 15)]);
    // Adjacent ranges merge with a zero hole limit.
    assert_eq!(coalesce_ranges(&[r(0, 10), r(10, 10)], 0, 1000), [r(0, 20)]);
    // A range larger than the limit is kept whole (never split here).
    assert_eq!(coalesce_ranges(&[r(0, 5000)], 10, 100), [r(0, 5000)]);
    // Huge offsets do not overflow.
    let big = u64::MAX / 2;
    assert_eq!(
        coalesce_ranges(&[r(big, 10), r(big + 15, 10)], 8, 1 << 30),
        [r(big, 25)]
    );
    // Only empty ranges.
    assert!(coalesce_ranges(&[r(5, 0), r(0, 0)], 8, 100).is_empty());
}

#[test]
fn split_into_parts() {
    assert_eq!(
        split_ranges(&[r(0, 40), r(100, 16)], 16),
        [r(0, 16), r(16, 16), r(32, 8), r(100, 16)]
    );
    assert_eq!(split_ranges(&[r(0, 40)], 0), [r(0, 40)]);
}

#[test]
fn option_formulas() {
    let d = CacheOptions::defaults();
    assert_eq!((d.hole_size_limit, d.range_size_limit), (8192, 32 << 20));
    assert!(!d.lazy && d.prefetch_limit == 0);
    assert_eq!(
        CacheOptions::lazy_defaults(),
        CacheOptions { lazy: true, ..d }
    );
    // 2 ms at 500 MiB/s: hole = 0.002 * 524288000 = 1 MiB, range = 9 MiB.
    let n = CacheOptions::from_network_metrics(2, 500, 0.9, 64).unwrap();
    assert_eq!(n.hole_size_limit, 1_048_576);
    assert_eq!(n.range_size_limit, 9_437_184);
    assert_eq!(n.max_request_size, n.range_size_limit);
    // The ideal request size caps the range (S3-like: 100 ms, 100 MiB/s).
    let s3 = CacheOptions::from_network_metrics(100, 100, 0.9, 64).unwrap();
    assert_eq!(s3.hole_size_limit, 10 << 20);
    assert_eq!(s3.range_size_limit, 64 << 20);
    for bad in [
        CacheOptions::from_network_metrics(0, 1, 0.9, 64),
        CacheOptions::from_network_metrics(1, 0, 0.9, 64),
        CacheOptions::from_network_metrics(1, 1, 1.0, 64),
        CacheOptions::from_network_metrics(1, 1, 0.0, 64),
        CacheOptions::from_network_metrics(1, 1, 0.5, 0),
    ] {
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("from_network_metrics"));
    }
}

/// A file that counts the requests it serves.
#[derive(Debug)]
struct Counting {
    inner: BufferReader,
    requests: AtomicUsize,
    parts: Mutex<Vec<ReadRange>>,
}

impl Counting {
    fn new(len: usize) -> Arc<Counting> {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        Arc::new(Counting {
            inner: BufferReader::new(data),
            requests: AtomicUsize::new(0),
            parts: Mutex::new(Vec::new()),
        })
    }
}

impl RandomAccessFile for Counting {
    fn path(&self) -> &str {
        "counting"
    }
    fn size(&self) -> Result<u64> {
        self.inner.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.parts
            .lock()
            .unwrap()
            .push(ReadRange::new(offset, buf.len() as u64));
        self.inner.read_at(offset, buf)
    }
}

fn expected(offset: u64, len: u64) -> Vec<u8> {
    (offset..offset + len).map(|i| (i % 251) as u8).collect()
}

fn cache_of(file: &Arc<Counting>, options: CacheOptions, strict: bool) -> ReadRangeCache {
    ReadRangeCache::new(file.clone(), IoContext::default(), options, strict)
}

#[test]
fn eager_cache_merges_and_slices_without_copying() {
    let file = Counting::new(10_000);
    let options = CacheOptions {
        hole_size_limit: 100,
        range_size_limit: 5000,
        ..CacheOptions::defaults()
    };
    let cache = cache_of(&file, options, true);
    cache
        .cache(&[r(0, 10), r(50, 10), r(1000, 100), r(1150, 50), r(8000, 10)])
        .unwrap();
    assert_eq!(cache.cached_ranges(), [r(0, 60), r(1000, 200), r(8000, 10)]);
    cache.wait(&never()).unwrap();
    assert_eq!(file.requests.load(Ordering::SeqCst), 3);
    let a = cache.read(r(1000, 100), &never()).unwrap();
    let b = cache.read(r(1150, 50), &never()).unwrap();
    assert_eq!(a.as_ref(), expected(1000, 100).as_slice());
    assert_eq!(b.as_ref(), expected(1150, 50).as_slice());
    // Both are views of one merged buffer: 150 bytes apart in memory.
    assert_eq!(b.as_ptr() as usize - a.as_ptr() as usize, 150);
    // A sub-range of a cached range is served too, with no new request.
    assert_eq!(
        cache.read(r(1010, 5), &never()).unwrap().as_ref(),
        expected(1010, 5).as_slice()
    );
    assert_eq!(file.requests.load(Ordering::SeqCst), 3);
    assert!(cache.read(r(0, 0), &never()).unwrap().is_empty());
}

#[test]
fn strict_miss_is_an_error_and_loose_miss_reads_directly() {
    let file = Counting::new(1000);
    let strict = cache_of(&file, CacheOptions::defaults(), true);
    strict.cache(&[r(0, 10)]).unwrap();
    let err = strict.read(r(500, 10), &never()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CacheMiss {
                offset: 500,
                len: 10,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("counting"));
    // Straddling the end of a cached range is a miss as well.
    assert!(strict.read(r(5, 10), &never()).is_err());
    let loose = cache_of(&file, CacheOptions::defaults(), false);
    loose.cache(&[r(0, 10)]).unwrap();
    assert_eq!(
        loose.read(r(500, 10), &never()).unwrap().as_ref(),
        expected(500, 10).as_slice()
    );
}

#[test]
fn lazy_cache_reads_on_demand_with_prefetch() {
    let file = Counting::new(10_000);
    let options = CacheOptions {
        hole_size_limit: 0,
        prefetch_limit: 1,
        ..CacheOptions::lazy_defaults()
    };
    let cache = cache_of(&file, options, true);
    cache
        .cache(&[r(0, 10), r(100, 10), r(200, 10), r(300, 10)])
        .unwrap();
    cache.wait(&never()).unwrap();
    assert_eq!(
        file.requests.load(Ordering::SeqCst),
        0,
        "lazy: nothing read yet"
    );
    assert_eq!(
        cache.read(r(100, 10), &never()).unwrap().as_ref(),
        expected(100, 10).as_slice()
    );
    cache.wait(&never()).unwrap();
    // The range asked for and one prefetched after it.
    let mut parts = file.parts.lock().unwrap().clone();
    parts.sort();
    assert_eq!(parts, [r(100, 10), r(200, 10)]);
}

#[test]
fn large_merged_ranges_are_read_in_parts_into_one_buffer() {
    let file = Counting::new(100_000);
    let options = CacheOptions {
        max_request_size: 16_000,
        ..CacheOptions::defaults()
    };
    let cache = cache_of(&file, options, true);
    cache.cache(&[r(1000, 40_000)]).unwrap();
    let all = cache.read(r(1000, 40_000), &never()).unwrap();
    assert_eq!(all.as_ref(), expected(1000, 40_000).as_slice());
    let mut parts = file.parts.lock().unwrap().clone();
    parts.sort();
    assert_eq!(parts, [r(1000, 16_000), r(17_000, 16_000), r(33_000, 8000)]);
    // A read across a part boundary is still one slice of the buffer.
    let across = cache.read(r(16_990, 20), &never()).unwrap();
    assert_eq!(across.as_ptr() as usize - all.as_ptr() as usize, 15_990);
}

#[test]
fn reads_past_the_end_say_so() {
    let file = Counting::new(1000);
    let cache = cache_of(&file, CacheOptions::defaults(), false);
    cache.cache(&[r(900, 200)]).unwrap();
    assert_eq!(
        cache.read(r(900, 100), &never()).unwrap().as_ref(),
        expected(900, 100).as_slice()
    );
    let err = cache.read(r(950, 100), &never()).unwrap_err();
    assert!(
        matches!(err, Error::ReadPastEnd { size: 1000, .. }),
        "{err}"
    );
    let err = cache.read(r(5000, 10), &never()).unwrap_err();
    assert!(matches!(err, Error::ReadPastEnd { .. }), "{err}");
}

#[test]
fn read_errors_reach_every_reader() {
    #[derive(Debug)]
    struct Failing;
    impl RandomAccessFile for Failing {
        fn path(&self) -> &str {
            "failing"
        }
        fn size(&self) -> Result<u64> {
            Ok(100)
        }
        fn read_at(&self, _: u64, _: &mut [u8]) -> Result<usize> {
            Err(Error::errno("pread", "failing", libc::EIO))
        }
    }
    let cache = ReadRangeCache::new(
        Arc::new(Failing),
        IoContext::default(),
        CacheOptions::defaults(),
        true,
    );
    cache.cache(&[r(0, 10), r(20, 10)]).unwrap();
    for _ in 0..2 {
        let err = cache.read(r(0, 10), &never()).unwrap_err();
        assert_eq!(err.raw_errno(), Some(libc::EIO));
    }
    assert!(cache.wait(&never()).is_err());
}

#[test]
fn overlapping_entries_from_separate_calls_are_found() {
    let file = Counting::new(1000);
    let cache = cache_of(&file, CacheOptions::defaults(), true);
    cache.cache(&[r(0, 300)]).unwrap();
    cache.cache(&[r(10, 5)]).unwrap();
    cache.cache(&[r(400, 10)]).unwrap();
    assert_eq!(
        cache.read(r(50, 10), &never()).unwrap().as_ref(),
        expected(50, 10).as_slice()
    );
    assert_eq!(
        cache.read(r(12, 2), &never()).unwrap().as_ref(),
        expected(12, 2).as_slice()
    );
    cache.wait(&never()).unwrap();
    assert_eq!(file.requests.load(Ordering::SeqCst), 3);
}
