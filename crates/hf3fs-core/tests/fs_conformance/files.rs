//! Cases of reading and writing files: random-access files, input streams,
//! output and append streams.

use hf3fs_core::fs::{FileSystem, FileSystemExt, ReadRange};

use super::{at, caps, expect_errno, make_tree, pseudo_random_bytes, SplitMix};

/// The bytes `data` holds at `offset..offset + len`, cut at its end.
fn expected_slice(data: &[u8], offset: u64, len: u64) -> &[u8] {
    let start = (offset as usize).min(data.len());
    let end = (offset.saturating_add(len) as usize).min(data.len());
    &data[start..end]
}

pub(crate) fn input_file_reads_at_offsets(fs: &dyn FileSystem, root: &str) {
    let path = at(root, "f");
    let data = pseudo_random_bytes(10_000, 1);
    fs.write_all(&path, &data).unwrap();
    let file = fs.open_input_file(&path).unwrap();
    assert_eq!(file.size().unwrap(), 10_000);
    assert_eq!(file.path(), path);

    let mut buf = [0u8; 100];
    assert_eq!(file.read_at(0, &mut buf).unwrap(), 100);
    assert_eq!(&buf[..], &data[..100]);
    assert_eq!(file.read_at(4321, &mut buf).unwrap(), 100);
    assert_eq!(&buf[..], &data[4321..4421]);
    // Past the end: a short read, then nothing.
    assert_eq!(file.read_at(9_990, &mut buf).unwrap(), 10);
    assert_eq!(&buf[..10], &data[9_990..]);
    assert_eq!(file.read_at(10_000, &mut buf).unwrap(), 0);
    assert_eq!(file.read_at(1 << 40, &mut buf).unwrap(), 0);
    assert_eq!(file.read_at(5, &mut []).unwrap(), 0);

    assert_eq!(file.read_bytes_at(123, 456).unwrap(), &data[123..579]);
    assert_eq!(file.read_bytes_at(9_000, 5_000).unwrap(), &data[9_000..]);
    assert!(file.read_bytes_at(20_000, 10).unwrap().is_empty());
    assert_eq!(file.read_bytes_at(0, 10_000).unwrap(), data);

    // Reads do not share a cursor: the same offset reads the same bytes.
    assert_eq!(file.read_bytes_at(7, 3).unwrap(), &data[7..10]);
    assert_eq!(file.read_bytes_at(7, 3).unwrap(), &data[7..10]);

    // An open file is shared across threads.
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (file, data) = (&file, &data);
            s.spawn(move || {
                let off = t * 2_000;
                assert_eq!(
                    file.read_bytes_at(off, 2_000).unwrap(),
                    &data[off as usize..off as usize + 2_000]
                );
            });
        }
    });
}

pub(crate) fn input_file_read_many_random_ranges(fs: &dyn FileSystem, root: &str) {
    const SIZE: u64 = 8 << 20;
    let path = at(root, "big");
    let data = pseudo_random_bytes(SIZE as usize, 2);
    fs.write_all(&path, &data).unwrap();
    let file = fs.open_input_file(&path).unwrap();
    assert_eq!(file.size().unwrap(), SIZE);

    let mut rng = SplitMix(42);
    let mut ranges: Vec<ReadRange> = (0..1000)
        .map(|_| {
            let offset = rng.below(SIZE);
            // Mostly small reads, some large, some crossing the end.
            let length = match rng.below(10) {
                0 => rng.below(1 << 20),
                1 => 0,
                _ => rng.below(16 << 10),
            };
            ReadRange::new(offset, length)
        })
        .collect();
    ranges.push(ReadRange::new(SIZE - 10, 100));
    ranges.push(ReadRange::new(SIZE, 10));
    ranges.push(ReadRange::new(SIZE + 4096, 10));
    ranges.push(ReadRange::new(0, SIZE));

    let got = file.read_many(&ranges).unwrap();
    assert_eq!(got.len(), ranges.len());
    for (i, (r, bytes)) in ranges.iter().zip(&got).enumerate() {
        let want = expected_slice(&data, r.offset, r.length);
        assert!(
            bytes.as_ref() == want,
            "range {i} {r:?}: {} bytes, {} expected",
            bytes.len(),
            want.len()
        );
    }
    assert!(file.read_many(&[]).unwrap().is_empty());
}

pub(crate) fn input_file_read_many_into(fs: &dyn FileSystem, root: &str) {
    let path = at(root, "f");
    let data = pseudo_random_bytes(100_000, 3);
    fs.write_all(&path, &data).unwrap();
    let file = fs.open_input_file(&path).unwrap();

    let (mut a, mut b, mut c, mut d) = (vec![0u8; 1000], vec![0u8; 5], vec![0u8; 64], [0u8; 8]);
    let mut requests: Vec<(u64, &mut [u8])> = vec![
        (0, &mut a),
        (99_998, &mut b),
        (50_000, &mut c),
        (200_000, &mut d),
    ];
    let counts = file.read_many_into(&mut requests).unwrap();
    assert_eq!(counts, [1000, 2, 64, 0]);
    assert_eq!(a, &data[..1000]);
    assert_eq!(&b[..2], &data[99_998..]);
    assert_eq!(c, &data[50_000..50_064]);
}

pub(crate) fn input_file_errors(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["d/x", "f"]);
    let missing = at(root, "missing");
    let err = expect_errno(fs.open_input_file(&missing), libc::ENOENT);
    assert!(err.to_string().contains(&missing), "{err}");
    expect_errno(fs.open_input_stream(&missing), libc::ENOENT);
    let d = at(root, "d");
    let err = expect_errno(fs.open_input_file(&d), libc::EISDIR);
    assert!(err.to_string().contains(&d), "{err}");
    expect_errno(fs.open_input_stream(&d), libc::EISDIR);
    expect_errno(fs.open_input_file(&at(root, "f/child")), libc::ENOTDIR);
}

pub(crate) fn input_stream_reads_sequentially(fs: &dyn FileSystem, root: &str) {
    let path = at(root, "f");
    fs.write_all(&path, b"0123456789abcdef").unwrap();
    let mut stream = fs.open_input_stream(&path).unwrap();
    assert_eq!(stream.tell().unwrap(), 0);
    let mut buf = [0u8; 4];
    assert_eq!(stream.read(&mut buf).unwrap(), 4);
    assert_eq!(&buf, b"0123");
    assert_eq!(stream.read_bytes(3).unwrap(), "456");
    assert_eq!(stream.tell().unwrap(), 7);
    stream.advance(2).unwrap();
    assert_eq!(stream.tell().unwrap(), 9);
    assert_eq!(stream.read_bytes(4).unwrap(), "9abc");
    // The end: short reads, then nothing; advancing stops there too.
    assert_eq!(stream.read_bytes(10).unwrap(), "def");
    assert_eq!(stream.tell().unwrap(), 16);
    assert_eq!(stream.read(&mut buf).unwrap(), 0);
    assert!(stream.read_bytes(5).unwrap().is_empty());
    stream.advance(100).unwrap();
    assert_eq!(stream.tell().unwrap(), 16);

    assert!(!stream.closed());
    stream.close().unwrap();
    assert!(stream.closed());
    expect_errno(stream.read(&mut buf), libc::EBADF);
    expect_errno(stream.read_bytes(1), libc::EBADF);

    // A fresh stream starts over; advancing past the end stops at the end.
    let mut again = fs.open_input_stream(&path).unwrap();
    again.advance(1000).unwrap();
    assert_eq!(again.tell().unwrap(), 16);
    assert!(again.read_bytes(1).unwrap().is_empty());
}

pub(crate) fn output_stream_creates_and_truncates(fs: &dyn FileSystem, root: &str) {
    let path = at(root, "out");
    let mut out = fs.open_output_stream(&path, None).unwrap();
    assert_eq!(out.tell().unwrap(), 0);
    out.write(b"hello ").unwrap();
    out.write_bytes(bytes::Bytes::from_static(b"world"))
        .unwrap();
    assert_eq!(out.tell().unwrap(), 11);
    out.flush().unwrap();
    if caps(fs).visible_before_close {
        // Flushed bytes are visible before the stream is closed.
        assert_eq!(fs.read_all(&path).unwrap(), "hello world");
    } else {
        // An object appears whole at close, never in part.
        assert!(!fs.exists(&path).unwrap());
    }
    assert!(!out.closed());
    out.close().unwrap();
    assert!(out.closed());
    out.close().unwrap();
    expect_errno(out.write(b"more"), libc::EBADF);
    assert_eq!(fs.read_all(&path).unwrap(), "hello world");
    assert_eq!(fs.get_file_info(&path).unwrap().size, Some(11));

    // Opening an existing file truncates it, before anything is written.
    let mut out = fs.open_output_stream(&path, None).unwrap();
    let before_close = if caps(fs).visible_before_close { 0 } else { 11 };
    assert_eq!(fs.get_file_info(&path).unwrap().size, Some(before_close));
    out.write(b"bye").unwrap();
    assert_eq!(out.tell().unwrap(), 3);
    out.close().unwrap();
    assert_eq!(fs.read_all(&path).unwrap(), "bye");

    // A stream closed without a write leaves an empty file.
    fs.open_output_stream(&at(root, "empty"), None)
        .unwrap()
        .close()
        .unwrap();
    assert_eq!(fs.get_file_info(&at(root, "empty")).unwrap().size, Some(0));
}

pub(crate) fn output_stream_errors(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["d/x", "f"]);
    if !caps(fs).parent_checks {
        // Writes need no parent (keys imply it) but never replace a directory.
        let d = at(root, "d");
        let err = expect_errno(fs.open_output_stream(&d, None), libc::EISDIR);
        assert!(err.to_string().contains(&d), "{err}");
        expect_errno(fs.open_append_stream(&d, None), libc::ENOTSUP);
        fs.write_all(&at(root, "missing/out"), b"o").unwrap();
        assert!(fs.get_file_info(&at(root, "missing")).unwrap().is_dir());
        assert_eq!(fs.read_all(&at(root, "d/x")).unwrap(), "d/x");
        return;
    }
    let orphan = at(root, "missing/out");
    let err = expect_errno(fs.open_output_stream(&orphan, None), libc::ENOENT);
    assert!(err.to_string().contains(&orphan), "{err}");
    expect_errno(fs.open_append_stream(&orphan, None), libc::ENOENT);
    assert!(!fs.get_file_info(&at(root, "missing")).unwrap().exists());
    let d = at(root, "d");
    let err = expect_errno(fs.open_output_stream(&d, None), libc::EISDIR);
    assert!(err.to_string().contains(&d), "{err}");
    expect_errno(fs.open_append_stream(&d, None), libc::EISDIR);
    let below_file = at(root, "f/out");
    expect_errno(fs.open_output_stream(&below_file, None), libc::ENOTDIR);
    expect_errno(fs.open_append_stream(&below_file, None), libc::ENOTDIR);
    assert_eq!(fs.read_all(&at(root, "f")).unwrap(), "f");
}

pub(crate) fn append_stream_creates_and_appends(fs: &dyn FileSystem, root: &str) {
    let path = at(root, "log");
    if !caps(fs).append {
        let err = expect_errno(fs.open_append_stream(&path, None), libc::ENOTSUP);
        assert!(err.to_string().contains(&path), "{err}");
        assert!(!fs.exists(&path).unwrap());
        return;
    }
    let mut out = fs.open_append_stream(&path, None).unwrap();
    assert_eq!(out.tell().unwrap(), 0);
    out.write(b"one,").unwrap();
    out.close().unwrap();
    assert_eq!(fs.read_all(&path).unwrap(), "one,");

    let mut out = fs.open_append_stream(&path, None).unwrap();
    assert_eq!(out.tell().unwrap(), 4);
    out.write(b"two,").unwrap();
    out.write(b"three").unwrap();
    assert_eq!(out.tell().unwrap(), 13);
    out.close().unwrap();
    assert_eq!(fs.read_all(&path).unwrap(), "one,two,three");
    assert_eq!(fs.get_file_info(&path).unwrap().size, Some(13));

    // Appending to a file written by an output stream.
    fs.write_all(&path, b"fresh").unwrap();
    let mut out = fs.open_append_stream(&path, None).unwrap();
    out.write(b"+tail").unwrap();
    out.close().unwrap();
    assert_eq!(fs.read_all(&path).unwrap(), "fresh+tail");
}
