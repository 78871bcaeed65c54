//! Cases of `get_file_info`, selectors, path normalization and the
//! `FileSystemExt` conveniences.

use hf3fs_core::fs::{FileInfo, FileSelector, FileSystem, FileSystemExt, FileType};

use super::{at, caps, expect_errno, make_tree};

/// The tree the selector cases list.
const TREE: &[&str] = &["sel/a", "sel/b/c", "sel/b/d/e", "sel/b/d/f/", "sel/z"];

/// `(path relative to root, type)` of each info, in order.
fn listing(root: &str, infos: &[FileInfo]) -> Vec<(String, FileType)> {
    infos
        .iter()
        .map(|i| {
            let rel = if root.is_empty() {
                i.path.as_str()
            } else {
                i.path
                    .strip_prefix(root)
                    .and_then(|p| p.strip_prefix('/'))
                    .unwrap_or_else(|| panic!("{} is not below {root}", i.path))
            };
            (rel.to_string(), i.file_type)
        })
        .collect()
}

fn expected(entries: &[(&str, FileType)]) -> Vec<(String, FileType)> {
    entries.iter().map(|(p, t)| (p.to_string(), *t)).collect()
}

use FileType::{Directory as D, File as F};

pub(crate) fn get_file_info_reports_types(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["d/inner", "f"]);
    let file = fs.get_file_info(&at(root, "f")).unwrap();
    assert_eq!(file.path, at(root, "f"));
    assert_eq!(file.file_type, FileType::File);
    assert!(file.is_file() && file.exists() && !file.is_dir());
    assert_eq!(file.size, Some(1));
    assert!(file.mtime.is_some(), "{file:?}");
    assert_eq!(file.base_name(), "f");

    let dir = fs.get_file_info(&at(root, "d")).unwrap();
    assert_eq!(dir.file_type, FileType::Directory);
    assert_eq!(dir.size, None);
    if caps(fs).empty_dirs {
        // Directories that exist of their own have a modification time.
        assert!(dir.mtime.is_some(), "{dir:?}");
    }

    for missing in ["missing", "d/missing", "missing/deeper", "f/child"] {
        let info = fs.get_file_info(&at(root, missing)).unwrap();
        assert_eq!(info.file_type, FileType::NotFound, "{missing}: {info:?}");
        assert_eq!(info.path, at(root, missing));
        assert!(!info.exists());
    }

    // Sizes follow writes.
    let data = vec![7u8; 12_345];
    fs.write_all(&at(root, "d/big"), &data).unwrap();
    assert_eq!(
        fs.get_file_info(&at(root, "d/big")).unwrap().size,
        Some(12_345)
    );
    fs.write_all(&at(root, "d/empty"), b"").unwrap();
    let empty = fs.get_file_info(&at(root, "d/empty")).unwrap();
    assert_eq!((empty.file_type, empty.size), (FileType::File, Some(0)));
}

pub(crate) fn get_file_info_of_root_is_a_directory(fs: &dyn FileSystem, root: &str) {
    let path = if root.is_empty() { "/" } else { root };
    assert!(fs.get_file_info(path).unwrap().is_dir());
    if root.is_empty() {
        assert!(fs.get_file_info("").unwrap().is_dir());
    }
}

pub(crate) fn selector_lists_entries_sorted(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, TREE);
    let base = at(root, "sel");
    let infos = fs
        .get_file_info_selector(&FileSelector::new(&base))
        .unwrap();
    assert_eq!(
        listing(root, &infos),
        expected(&[("sel/a", F), ("sel/b", D), ("sel/z", F)])
    );
    for info in &infos {
        assert_eq!(info.path, format!("{base}/{}", info.base_name()));
    }
    assert_eq!(infos[0].size, Some(5));
    let with_mtime: Vec<_> = infos
        .iter()
        .filter(|i| i.is_file() || caps(fs).empty_dirs)
        .collect();
    assert!(with_mtime.iter().all(|i| i.mtime.is_some()), "{infos:?}");

    // A trailing slash lists the same entries.
    let slashed = fs
        .get_file_info_selector(&FileSelector::new(format!("{base}/")))
        .unwrap();
    assert_eq!(
        slashed.iter().map(FileInfo::base_name).collect::<Vec<_>>(),
        ["a", "b", "z"]
    );

    // The root lists its own entries.
    let top = fs.get_file_info_selector(&FileSelector::new(root)).unwrap();
    assert_eq!(listing(root, &top), expected(&[("sel", D)]));

    if !caps(fs).empty_dirs {
        return;
    }
    // An empty directory lists nothing.
    let empty = at(root, "sel/b/d/f");
    assert!(fs
        .get_file_info_selector(&FileSelector::new(&empty))
        .unwrap()
        .is_empty());
}

pub(crate) fn selector_recursive_lists_the_tree(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, TREE);
    let infos = fs
        .get_file_info_selector(&FileSelector::new(at(root, "sel")).recursive())
        .unwrap();
    let mut want = vec![
        ("sel/a", F),
        ("sel/b", D),
        ("sel/b/c", F),
        ("sel/b/d", D),
        ("sel/b/d/e", F),
        ("sel/b/d/f", D),
        ("sel/z", F),
    ];
    if !caps(fs).empty_dirs {
        // The empty directory was never kept.
        want.retain(|(p, _)| *p != "sel/b/d/f");
    }
    assert_eq!(listing(root, &infos), expected(&want));
    assert_eq!(infos[4].size, Some("sel/b/d/e".len() as u64));
}

pub(crate) fn selector_max_recursion_limits_depth(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, TREE);
    let select = |depth| FileSelector {
        max_recursion: depth,
        ..FileSelector::new(at(root, "sel")).recursive()
    };
    let zero = fs.get_file_info_selector(&select(0)).unwrap();
    assert_eq!(
        listing(root, &zero),
        expected(&[("sel/a", F), ("sel/b", D), ("sel/z", F)])
    );
    let one = fs.get_file_info_selector(&select(1)).unwrap();
    assert_eq!(
        listing(root, &one),
        expected(&[
            ("sel/a", F),
            ("sel/b", D),
            ("sel/b/c", F),
            ("sel/b/d", D),
            ("sel/z", F),
        ])
    );
    let everything = if caps(fs).empty_dirs { 7 } else { 6 };
    assert_eq!(
        fs.get_file_info_selector(&select(2)).unwrap().len(),
        everything
    );
}

pub(crate) fn selector_missing_base(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["f"]);
    for missing in ["missing", "missing/deeper"] {
        let base = at(root, missing);
        let err = expect_errno(
            fs.get_file_info_selector(&FileSelector::new(&base)),
            libc::ENOENT,
        );
        assert!(err.to_string().contains(&base), "{err}");
        expect_errno(
            fs.get_file_info_selector(&FileSelector::new(&base).recursive()),
            libc::ENOENT,
        );
        for select in [
            FileSelector::new(&base).allow_not_found(),
            FileSelector::new(&base).allow_not_found().recursive(),
        ] {
            assert!(fs.get_file_info_selector(&select).unwrap().is_empty());
        }
    }
}

pub(crate) fn selector_base_is_a_file(fs: &dyn FileSystem, root: &str) {
    make_tree(fs, root, &["f"]);
    let base = at(root, "f");
    for select in [
        FileSelector::new(&base),
        FileSelector::new(&base).recursive(),
        FileSelector::new(&base).allow_not_found(),
    ] {
        let err = expect_errno(fs.get_file_info_selector(&select), libc::ENOTDIR);
        assert!(err.to_string().contains(&base), "{err}");
    }
}

pub(crate) fn normalize_path_canonical_spelling(fs: &dyn FileSystem, root: &str) {
    if fs.type_name() == "local" {
        assert_eq!(fs.normalize_path("/a//b/").unwrap(), "/a/b");
        assert_eq!(fs.normalize_path(&format!("{root}/")).unwrap(), root);
        assert!(fs.normalize_path("relative/path").is_err());
        return;
    }
    assert_eq!(fs.normalize_path("/a//b/").unwrap(), "a/b");
    assert_eq!(fs.normalize_path("a/b").unwrap(), "a/b");
    assert_eq!(fs.normalize_path("./a/./b").unwrap(), "a/b");
    assert_eq!(fs.normalize_path("/").unwrap(), "");
    let err = fs.normalize_path("a/../../b").unwrap_err().to_string();
    assert!(err.contains("a/../../b"), "{err}");
    // Calls refuse `..` too, rather than leave the root.
    assert!(fs.get_file_info("../escape").is_err());
    assert!(fs.create_dir("a/../../escape", true).is_err());
}

pub(crate) fn ext_helpers(fs: &dyn FileSystem, root: &str) {
    let (f, g, d) = (at(root, "f"), at(root, "g"), at(root, "d"));
    assert!(!fs.exists(&f).unwrap());
    fs.write_all(&f, b"first contents").unwrap();
    assert!(fs.exists(&f).unwrap());
    assert_eq!(fs.read_all(&f).unwrap(), "first contents");
    fs.write_all(&f, b"second").unwrap();
    assert_eq!(fs.read_all(&f).unwrap(), "second");
    fs.write_all(&g, b"").unwrap();
    assert_eq!(fs.read_all(&g).unwrap(), "");
    fs.create_dir(&d, false).unwrap();
    if !caps(fs).empty_dirs {
        // A directory exists once something is below it.
        assert!(!fs.exists(&d).unwrap());
        fs.write_all(&at(root, "d/x"), b"x").unwrap();
    }
    assert!(fs.exists(&d).unwrap());
    assert!(!fs.exists(&at(root, "f/child")).unwrap());

    let missing = at(root, "missing");
    let infos = fs.get_file_infos(&[&g, &missing, &d, &f]).unwrap();
    let got: Vec<_> = infos
        .iter()
        .map(|i| (i.path.as_str(), i.file_type))
        .collect();
    assert_eq!(
        got,
        [
            (g.as_str(), FileType::File),
            (missing.as_str(), FileType::NotFound),
            (d.as_str(), FileType::Directory),
            (f.as_str(), FileType::File),
        ]
    );
    expect_errno(fs.read_all(&missing), libc::ENOENT);
    expect_errno(fs.read_all(&d), libc::EISDIR);
    expect_errno(fs.write_all(&d, b"x"), libc::EISDIR);
}
