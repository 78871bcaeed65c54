//! Cases that change the tree: creating and deleting directories and files,
//! moves and copies.

use hf3fs_core::fs::{FileSelector, FileSystem, FileSystemExt, FileType};
use hf3fs_core::CancelToken;

use super::{at, caps, expect_errno, make_tree};

fn file_type(fs: &dyn FileSystem, path: &str) -> FileType {
    fs.get_file_info(path).unwrap().file_type
}

/// The names directly below `dir`.
fn names(fs: &dyn FileSystem, dir: &str) -> Vec<String> {
    fs.get_file_info_selector(&FileSelector::new(dir))
        .unwrap()
        .iter()
        .map(|i| i.base_name().to_string())
        .collect()
}

pub(crate) fn create_dir_recursive(fs: &dyn FileSystem, root: &str) {
    fs.create_dir(&at(root, "a/b/c"), true).unwrap();
    if !caps(fs).empty_dirs {
        // Directories are implied by keys: nothing to see until a write.
        assert_eq!(file_type(fs, &at(root, "a")), FileType::NotFound);
        fs.write_all(&at(root, "a/b/c/f"), b"f").unwrap();
        fs.write_all(&at(root, "a/x/y/g"), b"g").unwrap();
        assert_eq!(names(fs, &at(root, "a")), ["b", "x"]);
        assert_eq!(names(fs, &at(root, "a/b")), ["c"]);
        return;
    }
    for dir in ["a", "a/b", "a/b/c"] {
        assert_eq!(file_type(fs, &at(root, dir)), FileType::Directory, "{dir}");
    }
    // Recursive creation below an existing directory, and of an existing one.
    fs.create_dir(&at(root, "a/x/y"), true).unwrap();
    fs.create_dir(&at(root, "a/b"), true).unwrap();
    assert_eq!(names(fs, &at(root, "a")), ["b", "x"]);
    assert_eq!(names(fs, &at(root, "a/b")), ["c"]);
}

pub(crate) fn create_dir_non_recursive_needs_parent(fs: &dyn FileSystem, root: &str) {
    if !caps(fs).empty_dirs {
        // No parent can be missing where directories are implied.
        fs.create_dir(&at(root, "x/y"), false).unwrap();
        return;
    }
    let err = expect_errno(fs.create_dir(&at(root, "x/y"), false), libc::ENOENT);
    assert!(err.to_string().contains("x/y"), "{err}");
    assert_eq!(file_type(fs, &at(root, "x")), FileType::NotFound);
    fs.create_dir(&at(root, "x"), false).unwrap();
    fs.create_dir(&at(root, "x/y"), false).unwrap();
    assert_eq!(file_type(fs, &at(root, "x/y")), FileType::Directory);
}

pub(crate) fn create_dir_existing(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["d/inner", "f"]);
    for recursive in [false, true] {
        fs.create_dir(&at(root, "d"), recursive).unwrap();
        let err = expect_errno(fs.create_dir(&at(root, "f"), recursive), libc::EEXIST);
        assert!(err.to_string().contains(&at(root, "f")), "{err}");
        expect_errno(fs.create_dir(&at(root, "f/sub"), recursive), libc::ENOTDIR);
    }
    // Nothing was lost or replaced.
    assert_eq!(fs.read_all(&at(root, "d/inner")).unwrap(), "d/inner");
    assert_eq!(fs.read_all(&at(root, "f")).unwrap(), "f");
}

pub(crate) fn delete_dir_removes_tree(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["d/e/f/", "d/e/g", "d/h", "keep/k"]);
    fs.delete_dir(&at(root, "d"), &CancelToken::never())
        .unwrap();
    for gone in ["d", "d/e", "d/e/g", "d/h"] {
        assert_eq!(file_type(fs, &at(root, gone)), FileType::NotFound, "{gone}");
    }
    assert_eq!(names(fs, root), ["keep"]);
    if !caps(fs).empty_dirs {
        return;
    }
    // An empty directory goes too.
    fs.create_dir(&at(root, "empty"), false).unwrap();
    fs.delete_dir(&at(root, "empty"), &CancelToken::never())
        .unwrap();
    assert_eq!(names(fs, root), ["keep"]);
}

pub(crate) fn delete_dir_errors(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["f"]);
    let err = expect_errno(
        fs.delete_dir(&at(root, "missing"), &CancelToken::never()),
        libc::ENOENT,
    );
    assert!(err.to_string().contains("missing"), "{err}");
    expect_errno(
        fs.delete_dir(&at(root, "f"), &CancelToken::never()),
        libc::ENOTDIR,
    );
    assert_eq!(file_type(fs, &at(root, "f")), FileType::File);
}

pub(crate) fn delete_dir_contents_keeps_dir(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["d/a", "d/b/c", "d/b/e/", "other/o"]);
    let d = at(root, "d");
    fs.delete_dir_contents(&d, false, &CancelToken::never())
        .unwrap();
    assert_eq!(fs.read_all(&at(root, "other/o")).unwrap(), "other/o");
    if !caps(fs).empty_dirs {
        // Emptied, the directory is gone with its keys.
        assert_eq!(file_type(fs, &d), FileType::NotFound);
        expect_errno(
            fs.delete_dir_contents(&d, false, &CancelToken::never()),
            libc::ENOENT,
        );
        fs.delete_dir_contents(&d, true, &CancelToken::never())
            .unwrap();
        return;
    }
    assert_eq!(file_type(fs, &d), FileType::Directory);
    assert!(names(fs, &d).is_empty());
    // An empty directory is fine, with either flag.
    fs.delete_dir_contents(&d, false, &CancelToken::never())
        .unwrap();
    fs.delete_dir_contents(&format!("{d}/"), true, &CancelToken::never())
        .unwrap();
    assert_eq!(file_type(fs, &d), FileType::Directory);
}

pub(crate) fn delete_dir_contents_errors(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["f", "d/x"]);
    let missing = at(root, "missing");
    let err = expect_errno(
        fs.delete_dir_contents(&missing, false, &CancelToken::never()),
        libc::ENOENT,
    );
    assert!(err.to_string().contains(&missing), "{err}");
    fs.delete_dir_contents(&missing, true, &CancelToken::never())
        .unwrap();
    assert_eq!(file_type(fs, &missing), FileType::NotFound);
    for missing_dir_ok in [false, true] {
        expect_errno(
            fs.delete_dir_contents(&at(root, "f"), missing_dir_ok, &CancelToken::never()),
            libc::ENOTDIR,
        );
    }
    // The root is refused, however it is spelled (the local root is `/`).
    for spelling in ["", "/", "//"] {
        for missing_dir_ok in [false, true] {
            assert!(fs
                .delete_dir_contents(spelling, missing_dir_ok, &CancelToken::never())
                .is_err());
        }
    }
    assert_eq!(fs.read_all(&at(root, "f")).unwrap(), "f");
    assert_eq!(fs.read_all(&at(root, "d/x")).unwrap(), "d/x");
}

pub(crate) fn delete_root_dir_contents(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["f", "d/e/g", "d/h/"]);
    if fs.type_name() == "local" {
        // Clearing a whole machine is refused, and nothing is touched.
        let err = expect_errno(
            fs.delete_root_dir_contents(&CancelToken::never()),
            libc::ENOTSUP,
        );
        assert!(err.to_string().contains("local"), "{err}");
        assert_eq!(names(fs, root), ["d", "f"]);
        return;
    }
    fs.delete_root_dir_contents(&CancelToken::never()).unwrap();
    assert!(names(fs, root).is_empty());
    assert!(fs.get_file_info(root).unwrap().is_dir());
    // Clearing an empty root is fine, and the root stays usable.
    fs.delete_root_dir_contents(&CancelToken::never()).unwrap();
    fs.write_all(&at(root, "again"), b"x").unwrap();
    assert_eq!(names(fs, root), ["again"]);
}

pub(crate) fn delete_file_and_errors(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["f", "d/g"]);
    fs.delete_file(&at(root, "f")).unwrap();
    assert_eq!(file_type(fs, &at(root, "f")), FileType::NotFound);
    let err = expect_errno(fs.delete_file(&at(root, "f")), libc::ENOENT);
    assert!(err.to_string().contains(&at(root, "f")), "{err}");
    expect_errno(fs.delete_file(&at(root, "missing/f")), libc::ENOENT);
    expect_errno(fs.delete_file(&at(root, "d/g/child")), libc::ENOTDIR);
    let err = expect_errno(fs.delete_file(&at(root, "d")), libc::EISDIR);
    assert!(err.to_string().contains(&at(root, "d")), "{err}");
    assert_eq!(fs.read_all(&at(root, "d/g")).unwrap(), "d/g");
}

pub(crate) fn delete_files_stops_at_first_failure(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["a", "b", "c", "d"]);
    fs.delete_files(&[at(root, "a"), at(root, "b")]).unwrap();
    assert_eq!(names(fs, root), ["c", "d"]);
    let paths = [at(root, "c"), at(root, "missing"), at(root, "d")];
    let err = expect_errno(fs.delete_files(&paths), libc::ENOENT);
    assert!(err.to_string().contains("missing"), "{err}");
    assert_eq!(names(fs, root), ["d"]);
    fs.delete_files::<&str>(&[]).unwrap();
}

pub(crate) fn move_renames_file(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["src", "d/"]);
    fs.move_path(&at(root, "src"), &at(root, "dest")).unwrap();
    assert_eq!(file_type(fs, &at(root, "src")), FileType::NotFound);
    assert_eq!(fs.read_all(&at(root, "dest")).unwrap(), "src");
    // Into another directory.
    fs.move_path(&at(root, "dest"), &at(root, "d/moved"))
        .unwrap();
    assert_eq!(fs.read_all(&at(root, "d/moved")).unwrap(), "src");
    assert_eq!(names(fs, root), ["d"]);
    // Onto itself: nothing changes.
    fs.move_path(&at(root, "d/moved"), &at(root, "d/moved"))
        .unwrap();
    assert_eq!(fs.read_all(&at(root, "d/moved")).unwrap(), "src");
}

pub(crate) fn move_replaces_existing_file(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["a", "b/c/longer-name"]);
    fs.write_all(&at(root, "b/c/longer-name"), b"old, longer contents")
        .unwrap();
    fs.move_path(&at(root, "a"), &at(root, "b/c/longer-name"))
        .unwrap();
    assert_eq!(fs.read_all(&at(root, "b/c/longer-name")).unwrap(), "a");
    assert_eq!(file_type(fs, &at(root, "a")), FileType::NotFound);
    if !caps(fs).move_dirs {
        return;
    }
    // An empty directory is replaced by a directory.
    make_tree(fs, root, &["full/x", "empty/"]);
    fs.move_path(&at(root, "full"), &at(root, "empty")).unwrap();
    assert_eq!(fs.read_all(&at(root, "empty/x")).unwrap(), "full/x");
    assert_eq!(file_type(fs, &at(root, "full")), FileType::NotFound);
}

pub(crate) fn move_renames_dir_with_contents(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["d/a", "d/sub/b", "d/sub/empty/", "dx/keep"]);
    if !caps(fs).move_dirs {
        let (src, dest) = (at(root, "d"), at(root, "renamed"));
        let err = expect_errno(fs.move_path(&src, &dest), libc::ENOTSUP);
        assert!(err.to_string().contains(&src), "{err}");
        assert_eq!(fs.read_all(&at(root, "d/sub/b")).unwrap(), "d/sub/b");
        assert_eq!(file_type(fs, &dest), FileType::NotFound);
        return;
    }
    fs.move_path(&at(root, "d"), &at(root, "renamed")).unwrap();
    assert_eq!(file_type(fs, &at(root, "d")), FileType::NotFound);
    let tree = fs
        .get_file_info_selector(&FileSelector::new(at(root, "renamed")).recursive())
        .unwrap();
    let rel: Vec<_> = tree
        .iter()
        .map(|i| i.path[at(root, "renamed").len() + 1..].to_string())
        .collect();
    assert_eq!(rel, ["a", "sub", "sub/b", "sub/empty"]);
    assert_eq!(fs.read_all(&at(root, "renamed/sub/b")).unwrap(), "d/sub/b");
    // A sibling sharing the name's prefix is not moved along.
    assert_eq!(fs.read_all(&at(root, "dx/keep")).unwrap(), "dx/keep");
    // Moved below a directory of its own name elsewhere.
    fs.move_path(&at(root, "renamed"), &at(root, "dx/d"))
        .unwrap();
    assert_eq!(fs.read_all(&at(root, "dx/d/a")).unwrap(), "d/a");
}

pub(crate) fn move_errors_name_both_paths(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["f", "g", "dir/x", "other/y", "empty/"]);
    let posix_cases = [
        // A directory onto a non-empty directory.
        ("other", "dir", libc::ENOTEMPTY),
        // A file onto a directory, and a directory onto a file.
        ("f", "empty", libc::EISDIR),
        ("other", "g", libc::ENOTDIR),
        // A directory into itself.
        ("dir", "dir/inside", libc::EINVAL),
        // A missing source.
        ("missing", "new", libc::ENOENT),
        // A missing parent of the destination.
        ("f", "no/such/dir/f", libc::ENOENT),
    ];
    let object_store_cases = [
        ("f", "dir", libc::EISDIR),
        ("other", "g", libc::ENOTSUP),
        ("missing", "new", libc::ENOENT),
    ];
    let cases: &[_] = if caps(fs).move_dirs {
        &posix_cases
    } else {
        &object_store_cases
    };
    for &(src, dest, want) in cases {
        let (src, dest) = (at(root, src), at(root, dest));
        let err = expect_errno(fs.move_path(&src, &dest), want);
        let msg = err.to_string();
        assert!(msg.contains(&src) && msg.contains(&dest), "{msg}");
    }
    // Nothing moved.
    let top: &[&str] = if caps(fs).empty_dirs {
        &["dir", "empty", "f", "g", "other"]
    } else {
        &["dir", "f", "g", "other"]
    };
    assert_eq!(names(fs, root), top);
    assert_eq!(names(fs, &at(root, "dir")), ["x"]);
    assert_eq!(names(fs, &at(root, "other")), ["y"]);
    assert_eq!(fs.read_all(&at(root, "f")).unwrap(), "f");
}

pub(crate) fn copy_file_copies_and_replaces(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["src", "d/"]);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    fs.write_all(&at(root, "src"), &data).unwrap();
    fs.copy_file(&at(root, "src"), &at(root, "d/copy")).unwrap();
    assert_eq!(fs.read_all(&at(root, "d/copy")).unwrap(), data);
    assert_eq!(fs.read_all(&at(root, "src")).unwrap(), data);
    // A copy replaces a file, longer or shorter.
    fs.write_all(&at(root, "short"), b"short").unwrap();
    fs.copy_file(&at(root, "short"), &at(root, "d/copy"))
        .unwrap();
    assert_eq!(fs.read_all(&at(root, "d/copy")).unwrap(), "short");
    fs.copy_file(&at(root, "src"), &at(root, "d/copy")).unwrap();
    assert_eq!(fs.read_all(&at(root, "d/copy")).unwrap(), data);
    // Copies are independent.
    fs.write_all(&at(root, "src"), b"changed").unwrap();
    assert_eq!(fs.read_all(&at(root, "d/copy")).unwrap(), data);
}

pub(crate) fn copy_file_errors(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["f", "d/x"]);
    let (f, d) = (at(root, "f"), at(root, "d"));
    let err = expect_errno(fs.copy_file(&f, &d), libc::EISDIR);
    assert!(err.to_string().contains(&d), "{err}");
    let missing = at(root, "missing");
    let err = expect_errno(fs.copy_file(&missing, &at(root, "new")), libc::ENOENT);
    assert!(err.to_string().contains(&missing), "{err}");
    assert_eq!(file_type(fs, &at(root, "new")), FileType::NotFound);
    expect_errno(fs.copy_file(&d, &at(root, "new")), libc::EISDIR);
    if caps(fs).parent_checks {
        expect_errno(fs.copy_file(&f, &at(root, "no/parent")), libc::ENOENT);
    }
    assert_eq!(names(fs, &d), ["x"]);
    assert_eq!(fs.read_all(&f).unwrap(), "f");
}
