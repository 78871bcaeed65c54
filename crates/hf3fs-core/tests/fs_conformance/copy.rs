//! Cases of `stat` and of `copy_between` (a copy through the backend's
//! reads and output streams, or its own server-side copy).

use hf3fs_core::fs::{copy_between, CopyOptions, FileSystem, FileSystemExt, FileType};
use hf3fs_core::CancelToken;

use super::{at, caps, expect_errno, make_tree, pseudo_random_bytes};

pub(crate) fn stat_describes_files_and_dirs(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["d/inner", "f"]);
    fs.write_all(&at(root, "f"), &[7u8; 1000]).unwrap();
    let st = fs.stat(&at(root, "f"), true).unwrap();
    assert_eq!(st.mode & libc::S_IFMT, libc::S_IFREG, "{st:?}");
    assert_eq!(st.size, 1000);
    assert!(st.blocks >= 1, "{st:?}");
    let info = fs.get_file_info(&at(root, "f")).unwrap();
    let mtime = info.mtime.unwrap();
    let since = mtime.duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(st.mtime.sec, since.as_secs() as i64, "{st:?} vs {info:?}");
    let st = fs.stat(&at(root, "d"), false).unwrap();
    assert_eq!(st.mode & libc::S_IFMT, libc::S_IFDIR, "{st:?}");
    for missing in ["missing", "d/missing", "f/child"] {
        let path = at(root, missing);
        let err = fs.stat(&path, true).unwrap_err();
        // Below a file, POSIX says ENOTDIR; object stores have no such case.
        assert!(
            matches!(err.raw_errno(), Some(libc::ENOENT | libc::ENOTDIR)),
            "{missing}: {err}"
        );
        assert!(err.to_string().contains(&path), "{err}");
    }
}

/// Copy options small enough that a file of a few hundred KiB takes several
/// rounds of several reads, the last ones short.
const SMALL: CopyOptions = CopyOptions {
    chunk: 64 << 10,
    reads: 3,
};

pub(crate) fn copy_between_copies_and_replaces(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["d/"]);
    let never = CancelToken::never();
    let data = pseudo_random_bytes(5 * (64 << 10) * 3 + 12_345, 11);
    fs.write_all(&at(root, "src"), &data).unwrap();
    let mut reported = Vec::new();
    let n = copy_between(
        fs,
        &at(root, "src"),
        fs,
        &at(root, "d/copy"),
        &SMALL,
        &mut |n| reported.push(n),
        &never,
    )
    .unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(reported.iter().sum::<u64>(), n, "{reported:?}");
    assert_eq!(fs.read_all(&at(root, "d/copy")).unwrap(), data);
    // A longer file is replaced whole; an empty source makes an empty file.
    fs.write_all(&at(root, "empty"), b"").unwrap();
    for (src, want) in [("empty", &b""[..]), ("src", &data[..])] {
        let n = copy_between(
            fs,
            &at(root, src),
            fs,
            &at(root, "d/copy"),
            &CopyOptions::default(),
            &mut |_| {},
            &never,
        )
        .unwrap();
        assert_eq!(n, want.len() as u64);
        assert_eq!(fs.read_all(&at(root, "d/copy")).unwrap(), want);
    }
}

pub(crate) fn copy_between_errors(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["f", "d/x"]);
    let never = CancelToken::never();
    let copy = |src: &str, dest: &str| {
        copy_between(
            fs,
            &at(root, src),
            fs,
            &at(root, dest),
            &SMALL,
            &mut |_| {},
            &never,
        )
    };
    let err = expect_errno(copy("missing", "new"), libc::ENOENT);
    assert!(err.to_string().contains(&at(root, "missing")), "{err}");
    assert_eq!(
        fs.get_file_info(&at(root, "new")).unwrap().file_type,
        FileType::NotFound
    );
    expect_errno(copy("d", "new"), libc::EISDIR);
    if caps(fs).parent_checks {
        expect_errno(copy("f", "no/parent"), libc::ENOENT);
    }
    // A cancelled copy stops before its first piece.
    let cancelled = CancelToken::new();
    cancelled.cancel();
    let err = copy_between(
        fs,
        &at(root, "f"),
        fs,
        &at(root, "g"),
        &SMALL,
        &mut |_| {},
        &cancelled,
    )
    .unwrap_err();
    assert!(matches!(err, hf3fs_core::Error::Cancelled { .. }), "{err}");
    let bad = CopyOptions { chunk: 0, reads: 1 };
    let err = copy_between(
        fs,
        &at(root, "f"),
        fs,
        &at(root, "g"),
        &bad,
        &mut |_| {},
        &never,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("chunk and reads must be positive"),
        "{err}"
    );
    assert_eq!(fs.read_all(&at(root, "f")).unwrap(), "f");
}
