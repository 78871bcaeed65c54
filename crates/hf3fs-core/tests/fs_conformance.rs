//! The conformance suite of the file systems (in the style of object_store's
//! `integration.rs`): every case is a plain function of a file system and the
//! root its paths are built from, and [`conformance!`] instantiates every case
//! for every backend, each run on a fresh, empty instance
//! (`mock::move_renames_file`, `local::move_renames_file`, ...).
//!
//! The semantics checked are Arrow's (see the trait docs in `hf3fs_core::fs`),
//! with the errno `os` would give for each failure. Object stores differ
//! where Arrow's S3 file system does ([`Caps`]): directories are implied by
//! keys, objects appear whole at close, and nothing is appended or renamed
//! as a tree.
//!
//! The `s3` backend runs against the S3-compatible server at
//! `$HF3FS_TEST_S3_ENDPOINT` (`make test` starts one on 127.0.0.1), a fresh
//! bucket per case; `memory` runs the same backend over object_store's
//! in-memory store.

// The cases live in `fs_conformance/`; this file is a crate root, so the
// module paths are spelled out.
#[path = "fs_conformance/copy.rs"]
mod copy;
#[path = "fs_conformance/dirs.rs"]
mod dirs;
#[path = "fs_conformance/files.rs"]
mod files;
#[path = "fs_conformance/info.rs"]
mod info;

use hf3fs_core::CancelToken;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hf3fs_core::engine::EngineOptions;
use hf3fs_core::fs::{
    FileSystem, FileSystemExt, Hf3fsFileSystem, LocalFileSystem, MockFileSystem,
    ObjectStoreFileSystem, SlowFileSystem, SubTreeFileSystem,
};
use hf3fs_core::{Client, ClientOptions, Error, Result, Role};
use tempfile::TempDir;

use copy::*;
use dirs::*;
use files::*;
use info::*;

/// The modification time every mock file gets.
const MOCK_TIME: SystemTime = SystemTime::UNIX_EPOCH;

/// Where a backend's semantics differ from a POSIX file system's (the flags
/// of Arrow's `GenericFileSystemTest`).
pub(crate) struct Caps {
    /// A directory exists without anything below it.
    pub empty_dirs: bool,
    /// Files can be appended to.
    pub append: bool,
    /// Directories can be moved.
    pub move_dirs: bool,
    /// Flushed bytes can be read before the stream is closed.
    pub visible_before_close: bool,
    /// Writes and copies need the parent directory to exist.
    pub parent_checks: bool,
}

const POSIX: Caps = Caps {
    empty_dirs: true,
    append: true,
    move_dirs: true,
    visible_before_close: true,
    parent_checks: true,
};

const OBJECT_STORE: Caps = Caps {
    empty_dirs: false,
    append: false,
    move_dirs: false,
    visible_before_close: false,
    parent_checks: false,
};

/// The semantics `fs` has.
pub(crate) fn caps(fs: &dyn FileSystem) -> &'static Caps {
    match fs.type_name() {
        "s3" | "memory" => &OBJECT_STORE,
        _ => &POSIX,
    }
}

/// A file system under test, the root its paths are built from, and what
/// must stay alive while it is used.
struct Backend {
    fs: Arc<dyn FileSystem>,
    root: String,
    _dir: Option<TempDir>,
}

/// A backend, or none where its server is not running.
trait IntoBackend {
    fn into_backend(self) -> Option<Backend>;
}

impl IntoBackend for Backend {
    fn into_backend(self) -> Option<Backend> {
        Some(self)
    }
}

impl IntoBackend for Option<Backend> {
    fn into_backend(self) -> Option<Backend> {
        self
    }
}

mod backends {
    use super::*;

    fn tempdir() -> (TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        let path = path.to_str().expect("a UTF-8 temporary path").to_string();
        (dir, path)
    }

    fn relative(fs: impl FileSystem + 'static, dir: Option<TempDir>) -> Backend {
        Backend {
            fs: Arc::new(fs),
            root: String::new(),
            _dir: dir,
        }
    }

    pub fn mock() -> Backend {
        relative(MockFileSystem::new(MOCK_TIME), None)
    }

    pub fn local() -> Backend {
        let (dir, root) = tempdir();
        Backend {
            fs: Arc::new(LocalFileSystem::new().unwrap()),
            root,
            _dir: Some(dir),
        }
    }

    pub fn hf3fs() -> Backend {
        let (dir, _) = tempdir();
        let fs = hf3fs_at(&dir, Role::Write);
        relative(fs, Some(dir))
    }

    pub fn subtree_local() -> Backend {
        let (dir, root) = tempdir();
        let inner = Arc::new(LocalFileSystem::new().unwrap());
        relative(SubTreeFileSystem::new(&root, inner).unwrap(), Some(dir))
    }

    pub fn subtree_mock() -> Backend {
        let inner = Arc::new(MockFileSystem::new(MOCK_TIME));
        inner.create_dir("base/dir", true).unwrap();
        relative(SubTreeFileSystem::new("base/dir", inner).unwrap(), None)
    }

    pub fn slow_mock() -> Backend {
        let inner = Arc::new(MockFileSystem::new(MOCK_TIME));
        relative(SlowFileSystem::new(inner, Duration::ZERO, 1), None)
    }

    pub fn memory() -> Backend {
        let store = Arc::new(object_store::memory::InMemory::new());
        relative(
            ObjectStoreFileSystem::new("memory://", "memory", store),
            None,
        )
    }

    /// A fresh bucket on the test server, or None (and a note) without one.
    pub fn s3() -> Option<Backend> {
        let (fs, _) = super::s3_server::fresh_bucket()?;
        Some(Backend {
            fs,
            root: String::new(),
            _dir: None,
        })
    }
}

/// The S3-compatible server `make test` starts.
#[path = "fs_conformance/s3_server.rs"]
pub(crate) mod s3_server;

/// A mount over `dir` whose token has `role`.
fn hf3fs_at(dir: &TempDir, role: Role) -> Hf3fsFileSystem {
    let client = Client::at_root(
        "t",
        dir.path(),
        false,
        role,
        &ClientOptions::default(),
        EngineOptions::default(),
    )
    .unwrap();
    Hf3fsFileSystem::new(Arc::new(client))
}

/// `rel` below `root` (`root` itself for an empty `rel`).
fn at(root: &str, rel: &str) -> String {
    match (root.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_string(),
        (false, true) => root.to_string(),
        (false, false) => format!("{root}/{rel}"),
    }
}

/// The error of `r`, after checking it carries `want`.
#[track_caller]
fn expect_errno<T: Debug>(r: Result<T>, want: i32) -> Error {
    match r {
        Ok(v) => panic!("expected errno {want}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.raw_errno(), Some(want), "wrong errno: {e}");
            e
        }
    }
}

/// Create entries below `root`: names ending in `/` are directories, the
/// others files holding their own name. Parents are created as needed.
fn make_tree(fs: &dyn FileSystem, root: &str, entries: &[&str]) {
    for entry in entries {
        match entry.strip_suffix('/') {
            Some(dir) => fs.create_dir(&at(root, dir), true).unwrap(),
            None => {
                if let Some((parent, _)) = entry.rsplit_once('/') {
                    fs.create_dir(&at(root, parent), true).unwrap();
                }
                fs.write_all(&at(root, entry), entry.as_bytes()).unwrap();
            }
        }
    }
}

/// `n` bytes of a seeded pseudo-random sequence.
fn pseudo_random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix(seed);
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(n);
    out
}

/// splitmix64: a tiny seeded generator, so failures reproduce.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Instantiates every case for every backend: `backend::case`.
macro_rules! conformance {
    (backends [$($backend:ident),* $(,)?] cases $cases:tt) => {
        $( conformance!(@one $backend $cases); )*
    };
    (@one $backend:ident [$($case:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[test]
                fn $case() {
                    // `s3` gives None (a skip with a note) without a server.
                    if let Some(b) = super::IntoBackend::into_backend(super::backends::$backend()) {
                        super::$case(b.fs.as_ref(), &b.root);
                    }
                }
            )*
        }
    };
}

conformance! {
    backends [mock, local, hf3fs, subtree_local, subtree_mock, slow_mock, memory, s3]
    cases [
        // info.rs
        get_file_info_reports_types,
        get_file_info_of_root_is_a_directory,
        selector_lists_entries_sorted,
        selector_recursive_lists_the_tree,
        selector_max_recursion_limits_depth,
        selector_missing_base,
        selector_base_is_a_file,
        normalize_path_canonical_spelling,
        ext_helpers,
        // dirs.rs
        create_dir_recursive,
        create_dir_non_recursive_needs_parent,
        create_dir_existing,
        delete_dir_removes_tree,
        delete_dir_errors,
        delete_dir_contents_keeps_dir,
        delete_dir_contents_errors,
        delete_root_dir_contents,
        delete_file_and_errors,
        delete_files_stops_at_first_failure,
        move_renames_file,
        move_replaces_existing_file,
        move_renames_dir_with_contents,
        move_errors_name_both_paths,
        copy_file_copies_and_replaces,
        copy_file_errors,
        // copy.rs
        stat_describes_files_and_dirs,
        copy_between_copies_and_replaces,
        copy_between_errors,
        // files.rs
        input_file_reads_at_offsets,
        input_file_read_many_random_ranges,
        input_file_read_many_into,
        input_file_errors,
        input_stream_reads_sequentially,
        output_stream_creates_and_truncates,
        output_stream_errors,
        append_stream_creates_and_appends,
    ]
}

/// Metadata given to `open_output_stream` comes back from the input stream
/// (the mock is the one backend with somewhere to keep it).
#[test]
fn mock_output_metadata_comes_back() {
    let fs = MockFileSystem::new(MOCK_TIME);
    let meta = vec![
        ("content-type".to_string(), "text/plain".to_string()),
        ("owner".to_string(), "conformance".to_string()),
    ];
    let mut out = fs.open_output_stream("f", Some(&meta)).unwrap();
    out.write(b"data").unwrap();
    out.close().unwrap();
    let mut input = fs.open_input_stream("f").unwrap();
    assert_eq!(input.metadata().unwrap(), meta);
    assert_eq!(input.read_bytes(10).unwrap(), "data");
    // Without metadata, a file has none.
    fs.write_all("g", b"x").unwrap();
    assert!(fs
        .open_input_stream("g")
        .unwrap()
        .metadata()
        .unwrap()
        .is_empty());
}

/// A mount opened with a read token serves reads and refuses every change
/// with `EACCES`.
#[test]
fn hf3fs_read_role_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/f"), b"hello").unwrap();
    let fs = hf3fs_at(&dir, Role::Read);

    assert_eq!(fs.read_all("d/f").unwrap(), "hello");
    assert!(fs.get_file_info("d").unwrap().is_dir());
    assert_eq!(fs.get_file_info("/d/f").unwrap().size, Some(5));
    let listing = fs
        .get_file_info_selector(&hf3fs_core::fs::FileSelector::new("d"))
        .unwrap();
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].path, "d/f");

    expect_errno(fs.create_dir("e", false), libc::EACCES);
    expect_errno(fs.create_dir("d/e/f", true), libc::EACCES);
    expect_errno(fs.write_all("d/g", b"x"), libc::EACCES);
    expect_errno(fs.write_all("d/f", b"x"), libc::EACCES);
    expect_errno(fs.open_append_stream("d/f", None), libc::EACCES);
    expect_errno(fs.delete_file("d/f"), libc::EACCES);
    expect_errno(fs.delete_dir("d", &CancelToken::never()), libc::EACCES);
    expect_errno(
        fs.delete_dir_contents("d", false, &CancelToken::never()),
        libc::EACCES,
    );
    expect_errno(fs.move_path("d/f", "d/g"), libc::EACCES);
    expect_errno(fs.copy_file("d/f", "d/g"), libc::EACCES);

    // Nothing changed.
    assert_eq!(std::fs::read(dir.path().join("d/f")).unwrap(), b"hello");
    assert!(!dir.path().join("d/g").exists());
    assert!(!dir.path().join("e").exists());
}

/// `copy_between` moves a file between any two backends: a local file
/// through a mock and a mount into an object store and back.
#[test]
fn copy_between_crosses_backends() {
    use hf3fs_core::fs::{copy_between, CopyOptions};
    let never = CancelToken::never();
    let small = CopyOptions {
        chunk: 100_000,
        reads: 2,
    };
    let local = backends::local();
    let hops: Vec<Backend> = vec![
        backends::mock(),
        backends::hf3fs(),
        backends::memory(),
        backends::local(),
    ];
    let data = pseudo_random_bytes(1_000_003, 5);
    let first = at(&local.root, "src");
    local.fs.write_all(&first, &data).unwrap();
    let (mut fs, mut path) = (local.fs.clone(), first);
    for hop in &hops {
        let dest = at(&hop.root, "copy");
        let n = copy_between(
            fs.as_ref(),
            &path,
            hop.fs.as_ref(),
            &dest,
            &small,
            &mut |_| {},
            &never,
        )
        .unwrap();
        assert_eq!(
            n,
            data.len() as u64,
            "{} -> {}",
            fs.type_name(),
            hop.fs.type_name()
        );
        assert_eq!(
            hop.fs.read_all(&dest).unwrap(),
            data,
            "{}",
            hop.fs.type_name()
        );
        (fs, path) = (hop.fs.clone(), dest);
    }
}

/// A recursive local listing lists a linked directory without entering it
/// (a link to an ancestor would make it endless); `stat` sees links
/// without following them.
#[test]
fn local_selector_does_not_enter_linked_dirs() {
    use hf3fs_core::fs::{FileSelector, FileType};
    let b = backends::local();
    make_tree(b.fs.as_ref(), &b.root, &["d/x", "f"]);
    std::os::unix::fs::symlink("..", format!("{}/d/up", b.root)).unwrap();
    std::os::unix::fs::symlink("f", format!("{}/lf", b.root)).unwrap();
    let listed =
        b.fs.get_file_info_selector(&FileSelector::new(b.root.clone()).recursive())
            .unwrap();
    let rel: Vec<(String, FileType)> = listed
        .iter()
        .map(|i| (i.path[b.root.len() + 1..].to_string(), i.file_type))
        .collect();
    let want: Vec<(String, FileType)> = [
        ("d", FileType::Directory),
        ("d/up", FileType::Directory),
        ("d/x", FileType::File),
        ("f", FileType::File),
        ("lf", FileType::File),
    ]
    .iter()
    .map(|(p, t)| (p.to_string(), *t))
    .collect();
    assert_eq!(rel, want);
    let link = b.fs.stat(&at(&b.root, "lf"), false).unwrap();
    assert_eq!(link.mode & libc::S_IFMT, libc::S_IFLNK, "{link:?}");
    assert_eq!(link.link_target.as_deref(), Some(std::ffi::OsStr::new("f")));
    let target = b.fs.stat(&at(&b.root, "lf"), true).unwrap();
    assert_eq!(target.mode & libc::S_IFMT, libc::S_IFREG, "{target:?}");
}
