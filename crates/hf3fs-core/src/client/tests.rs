//! Client tests, each run with both path resolution modes.

use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;
use crate::cancel::CancelToken;
use crate::resolve::ResolveMode;

struct Fixture {
    _outer: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    client: Client,
}

fn config_for(root: &Path, tokens: &str) -> Config {
    let text = format!("[mounts.t]\nroot = {:?}\n{tokens}", root);
    Config::from_toml(&text, Path::new("/test.toml")).unwrap()
}

fn fixture(mode: ResolveMode) -> Fixture {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    let outside = outer.path().join("outside");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    let options = ClientOptions {
        as_super: false,
        resolve_mode: Some(mode),
        ..Default::default()
    };
    let client = Client::connect(&config_for(&root, ""), "t", "any", &options).unwrap();
    Fixture {
        _outer: outer,
        root,
        outside,
        client,
    }
}

fn both_modes(test: impl Fn(Fixture)) {
    for mode in [ResolveMode::Openat2, ResolveMode::Userspace] {
        if mode == ResolveMode::Openat2 && ResolveMode::detect() != ResolveMode::Openat2 {
            continue;
        }
        test(fixture(mode));
    }
}

fn errno(r: Result<impl std::fmt::Debug>) -> i32 {
    r.unwrap_err().raw_errno().unwrap()
}

fn p(s: &str) -> &Path {
    Path::new(s)
}

#[test]
fn write_read_roundtrip() {
    both_modes(|f| {
        let c = &f.client;
        let fd = c.creat(p("/a.bin"), 0o644, None, false).unwrap();
        assert_eq!(c.write(fd, b"hello world", true).unwrap(), 11);
        c.close(fd).unwrap();
        let fd = c.open_file(p("a.bin"), libc::O_RDONLY, 0, None).unwrap();
        let mut buf = [0u8; 64];
        let n = c.read(fd, &mut buf, Some(1 << 20)).unwrap();
        assert_eq!(&buf[..n], b"hello world");
        assert_eq!(c.lseek(fd, 6, libc::SEEK_SET, None).unwrap(), 6);
        let n = c.read(fd, &mut buf, None).unwrap();
        assert_eq!(&buf[..n], b"world");
        assert_eq!(c.fstat(fd).unwrap().size, 11);
        c.close(fd).unwrap();
        assert_eq!(errno(c.close(fd)), libc::EBADF);
        assert_eq!(std::fs::read(f.root.join("a.bin")).unwrap(), b"hello world");
    });
}

#[test]
fn dotdot_and_absolute_symlinks_stay_inside() {
    both_modes(|f| {
        let c = &f.client;
        std::fs::create_dir(f.root.join("d")).unwrap();
        std::fs::write(f.root.join("secret"), b"inside").unwrap();
        symlink("/secret", f.root.join("abs")).unwrap();
        symlink("../../outside/secret", f.root.join("d/rel")).unwrap();
        symlink(f.outside.join("secret"), f.root.join("full")).unwrap();
        symlink("../..", f.root.join("d/up")).unwrap();
        let read = |path: &str| {
            let fd = c.open_file(p(path), libc::O_RDONLY, 0, None)?;
            let mut buf = [0u8; 16];
            let n = c.read(fd, &mut buf, None)?;
            c.close(fd)?;
            Ok::<_, Error>(buf[..n].to_vec())
        };
        for path in [
            "/../../secret",
            "../secret",
            "/d/../../../secret",
            "abs",
            "/d/up/secret",
            "d/up/d/up/secret",
        ] {
            assert_eq!(read(path).unwrap(), b"inside", "{path}");
        }
        // Reaches for outside/secret through a relative symlink: resolves to /outside/secret inside.
        assert_eq!(errno(read("/d/rel")), libc::ENOENT);
        // An absolute link to the real outside path is taken relative to the root.
        assert_eq!(errno(read("/full")), libc::ENOENT);
        assert_eq!(c.realpath(p("/d/up/.."), None, false).unwrap(), "/");
        assert_eq!(c.realpath(p("abs"), None, false).unwrap(), "/secret");
        assert_eq!(
            c.realpath(p("abs"), None, true).unwrap(),
            std::fs::canonicalize(f.root.join("secret"))
                .unwrap()
                .into_os_string()
        );
    });
}

#[test]
fn mutations_never_touch_outside() {
    both_modes(|f| {
        let c = &f.client;
        let outside_name = f.outside.file_name().unwrap().to_str().unwrap().to_string();
        symlink(&f.outside, f.root.join("out")).unwrap();
        // Removing through the link removes the link, never the target tree.
        c.remove(p("/out"), None, true, &CancelToken::never())
            .unwrap();
        assert!(f.outside.join("secret").exists());
        symlink(&f.outside, f.root.join("out")).unwrap();
        let _ = c.rmdir(p("/out"), None, true, &CancelToken::never());
        assert!(f.outside.join("secret").exists());
        // ".." as the last component is refused, never the parent of the root.
        assert!(c
            .rmdir(p("/.."), None, true, &CancelToken::never())
            .is_err());
        assert!(c
            .remove(p("/.."), None, true, &CancelToken::never())
            .is_err());
        assert!(c
            .rmdir(p(".."), None, false, &CancelToken::never())
            .is_err());
        assert!(f.outside.join("secret").exists());
        // chmod / utime / creat through an escaping path land inside.
        let escape = format!("/../{outside_name}/secret");
        assert_eq!(errno(c.chmod(p(&escape), 0o777, None, true)), libc::ENOENT);
        assert_eq!(errno(c.utime(p(&escape), None, None, true)), libc::ENOENT);
        let fd = c.creat(p("/out/new"), 0o644, None, false);
        assert!(fd.is_err() || !f.outside.join("new").exists());
        assert!(!f.outside.join("new").exists());
        // Removing the root itself is refused.
        assert_eq!(
            errno(c.rmdir(p("/"), None, true, &CancelToken::never())),
            libc::EBUSY
        );
        assert!(f.root.exists());
    });
}

#[test]
fn symlink_loops_fail_with_eloop() {
    both_modes(|f| {
        symlink("b", f.root.join("a")).unwrap();
        symlink("a", f.root.join("b")).unwrap();
        assert_eq!(errno(f.client.stat(p("/a"), None, true)), libc::ELOOP);
        assert!(f.client.stat(p("/a"), None, false).unwrap().is_link());
    });
}

#[test]
fn cwd_and_dir_fd() {
    both_modes(|f| {
        let c = &f.client;
        c.mkdir(p("/x/y/z"), 0o755, None, true).unwrap();
        assert_eq!(errno(c.mkdir(p("/x/y/z"), 0o755, None, true)), libc::EEXIST);
        c.chdir(p("/x")).unwrap();
        assert_eq!(c.cwd().unwrap(), "/x");
        assert!(c.stat(p("y/z"), None, true).unwrap().is_dir());
        let dfd = c
            .open_file(p("y"), libc::O_RDONLY | libc::O_DIRECTORY, 0, None)
            .unwrap();
        assert!(c.stat(p("z"), Some(dfd), true).unwrap().is_dir());
        // The dir fd follows the directory when it is renamed.
        c.rename(p("/x/y"), p("/x/w"), None, None).unwrap();
        assert!(c.stat(p("z"), Some(dfd), true).unwrap().is_dir());
        assert_eq!(c.realpath(p("z"), Some(dfd), false).unwrap(), "/x/w/z");
        assert_eq!(errno(c.chdir(p("/nope"))), libc::ENOENT);
        let file = c.creat(p("/x/f"), 0o644, None, false).unwrap();
        assert_eq!(errno(c.stat(p("a"), Some(file), true)), libc::ENOTDIR);
        assert_eq!(errno(c.stat(p("a"), Some(999), true)), libc::EBADF);
    });
}

#[test]
fn readdir_lists_entries_without_dots() {
    both_modes(|f| {
        let c = &f.client;
        c.mkdir(p("/d"), 0o755, None, false).unwrap();
        for name in ["b", "a", "c"] {
            let fd = c
                .creat(&Path::new("/d").join(name), 0o644, None, false)
                .unwrap();
            c.close(fd).unwrap();
        }
        let dir = c.opendir(p("/d"), None).unwrap();
        let mut names = Vec::new();
        while let Some(e) = dir.next_entry().unwrap() {
            assert_eq!(e.d_type, libc::DT_REG);
            names.push(e.name.into_string().unwrap());
        }
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);
        dir.rewind();
        assert!(dir.next_entry().unwrap().is_some());
        c.remove(p("/d"), None, true, &CancelToken::never())
            .unwrap();
        assert!(!f.root.join("d").exists());
    });
}

#[test]
fn read_role_cannot_modify() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"data").unwrap();
    let tokens = format!(
        "[[mounts.t.tokens]]\nsha256 = \"{}\"\nrole = \"read\"\n[[mounts.t.tokens]]\nsha256 = \"{}\"\nrole = \"root\"\n",
        crate::config::token_digest("reader"),
        crate::config::token_digest("admin")
    );
    let config = config_for(dir.path(), &tokens);
    let opts = ClientOptions::default();
    let c = Client::connect(&config, "t", "reader", &opts).unwrap();
    assert_eq!(c.role(), Role::Read);
    let fd = c.open_file(p("/f"), libc::O_RDONLY, 0, None).unwrap();
    c.close(fd).unwrap();
    let denied = |r: Result<()>| assert!(matches!(r, Err(Error::ReadOnly { .. })));
    denied(c.open_file(p("/f"), libc::O_RDWR, 0, None).map(drop));
    denied(
        c.open_file(p("/g"), libc::O_RDONLY | libc::O_CREAT, 0o644, None)
            .map(drop),
    );
    denied(c.mkdir(p("/d"), 0o755, None, false));
    denied(c.remove(p("/f"), None, false, &CancelToken::never()));
    denied(c.rename(p("/f"), p("/g"), None, None));
    denied(c.chmod(p("/f"), 0o600, None, true));
    denied(c.utime(p("/f"), None, None, true));
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"data");
    assert!(!dir.path().join("g").exists());
    assert!(matches!(
        Client::connect(&config, "t", "stranger", &opts),
        Err(Error::UnknownToken { .. })
    ));
    let sup = ClientOptions {
        as_super: true,
        resolve_mode: None,
        ..Default::default()
    };
    assert!(matches!(
        Client::connect(&config, "t", "reader", &sup),
        Err(Error::NotSuper { .. })
    ));
    assert!(Client::connect(&config, "t", "admin", &sup)
        .unwrap()
        .is_super());
}

#[test]
fn batched_io_and_handles() {
    both_modes(|f| {
        let c = &f.client;
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(f.root.join("data"), &data).unwrap();
        let fd = c.open_file(p("/data"), libc::O_RDONLY, 0, None).unwrap();
        let iov = crate::iov::IovMemory::alloc(1 << 20, 0, -1).unwrap();
        let base = iov.as_ptr() as usize;
        let reqs = [
            crate::iov::IoRequest {
                addr: base,
                len: 4096,
                fd,
                offset: 0,
            },
            crate::iov::IoRequest {
                addr: base + 4096,
                len: 4096,
                fd,
                offset: 99_000,
            },
            crate::iov::IoRequest {
                addr: base + 8192,
                len: 10,
                fd: 77,
                offset: 0,
            },
        ];
        // SAFETY: the ranges lie inside `iov`, which outlives the call.
        let res =
            unsafe { c.submit_batch(crate::iov::IoDirection::Read, &reqs, &CancelToken::never()) }
                .unwrap();
        assert_eq!(res, [4096, 1000, -(libc::EBADF as i64)]);
        // SAFETY: reading back bytes the batch wrote; no other access.
        let got = unsafe { std::slice::from_raw_parts(iov.as_ptr(), 8192) };
        assert_eq!(&got[..4096], &data[..4096]);
        assert_eq!(&got[4096..5096], &data[99_000..]);
        let shared = crate::iov::IovMemory::open_handle(&iov.handle()).unwrap();
        // SAFETY: same mapping, read only.
        assert_eq!(unsafe { *shared.as_ptr().add(5) }, data[5]);
        let handles = c.shared_file_handles(&[fd]).unwrap();
        let fds = c.open_with_file_handles(&handles).unwrap();
        assert_eq!(c.fstat(fds[0]).unwrap().ino, c.fstat(fd).unwrap().ino);
        c.close(fd).unwrap();
        let w = c.creat(p("/w"), 0o644, None, false).unwrap();
        assert!(c.shared_file_handles(&[w]).is_err());
    });
}

#[test]
fn iovec_block_boundaries() {
    let iov = crate::iov::IovMemory::alloc(4096, 1024, -1).unwrap();
    assert!(iov.check_range(0, 1024).is_ok());
    assert!(iov.check_range(1024, 1024).is_ok());
    assert_eq!(iov.check_range(1000, 100), Err(rustix::io::Errno::INVAL));
    assert_eq!(iov.check_range(4000, 200), Err(rustix::io::Errno::INVAL));
    assert!(crate::iov::IovMemory::alloc(0, 0, -1).is_err());
    assert!(crate::iov::IovMemory::alloc(10, 0, 4096).is_err());
}
