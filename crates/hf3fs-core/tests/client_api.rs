//! Integration tests of hf3fs-core's public API: one scenario, run with every
//! path resolution mode, plus configuration from the environment.

use std::path::Path;

use hf3fs_core::CancelToken;
use hf3fs_core::ResolveMode;
use hf3fs_core::{Client, ClientOptions, Config, Error, Role};

fn modes() -> Vec<ResolveMode> {
    let mut modes = vec![ResolveMode::Userspace];
    if ResolveMode::detect() == ResolveMode::Openat2 {
        modes.push(ResolveMode::Openat2);
    }
    modes
}

fn connect(root: &Path, mode: ResolveMode) -> Client {
    let text = format!("[mounts.m]\nroot = {:?}\n", root);
    let config = Config::from_toml(&text, Path::new("/it.toml")).unwrap();
    let options = ClientOptions {
        as_super: false,
        resolve_mode: Some(mode),
        ..Default::default()
    };
    Client::connect(&config, "m", "", &options).unwrap()
}

fn errno<T: std::fmt::Debug>(r: Result<T, Error>) -> i32 {
    r.unwrap_err().raw_errno().unwrap()
}

#[test]
fn file_lifecycle_in_every_mode() {
    for mode in modes() {
        let dir = tempfile::tempdir().unwrap();
        let c = connect(dir.path(), mode);
        assert_eq!(c.resolve_mode(), mode);
        c.mkdir(Path::new("/a/b"), 0o755, None, true).unwrap();
        // The default open mode (0o666) is ignored without O_CREAT, as with open(2).
        let fd = c
            .open_file(
                Path::new("/a/b/f"),
                libc::O_RDWR | libc::O_CREAT,
                0o640,
                None,
            )
            .unwrap();
        assert_eq!(c.write(fd, b"0123456789", false).unwrap(), 10);
        c.ftruncate(fd, 4).unwrap();
        c.close(fd).unwrap();
        let fd = c
            .open_file(Path::new("a/b/f"), libc::O_RDONLY, 0o666, None)
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(c.read(fd, &mut buf, None).unwrap(), 4);
        assert_eq!(&buf[..4], b"0123");
        let st = c.fstat(fd).unwrap();
        assert_eq!(st.mode & 0o777, 0o640 & !current_umask());
        c.close(fd).unwrap();

        c.rename(Path::new("/a/b/f"), Path::new("/a/g"), None, None)
            .unwrap();
        assert_eq!(errno(c.stat(Path::new("/a/b/f"), None, true)), libc::ENOENT);
        assert_eq!(c.stat(Path::new("/a/g"), None, true).unwrap().size, 4);
        assert_eq!(
            errno(c.rmdir(Path::new("/a"), None, false, &CancelToken::never())),
            libc::ENOTEMPTY
        );
        assert_eq!(
            errno(c.remove(Path::new("/a"), None, false, &CancelToken::never())),
            libc::EISDIR
        );
        c.rmdir(Path::new("/a"), None, true, &CancelToken::never())
            .unwrap();
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }
}

fn current_umask() -> u32 {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("probe");
    std::fs::write(&p, b"").unwrap();
    use std::os::unix::fs::PermissionsExt;
    0o666 & !std::fs::metadata(&p).unwrap().permissions().mode()
}

#[test]
fn config_from_the_environment() {
    // The only test in this binary that touches the environment.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::env::set_var("HF3FS_HOME", &home);
    std::env::remove_var("HF3FS_CONFIG");
    std::env::set_var("XDG_CONFIG_HOME", dir.path().join("none"));
    let client = Client::open("local", "whatever", &ClientOptions::default()).unwrap();
    assert!(home.is_dir());
    assert_eq!(client.role(), Role::Write);

    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("[mounts.only]\nroot = {:?}\n", dir.path())).unwrap();
    std::env::set_var("HF3FS_CONFIG", &cfg);
    let err = Client::open("local", "", &ClientOptions::default()).unwrap_err();
    assert!(matches!(err, Error::UnknownMount { .. }), "{err}");
    assert!(err.to_string().contains("only"), "{err}");
    std::env::set_var("HF3FS_CONFIG", dir.path().join("missing.toml"));
    let err = Client::open("only", "", &ClientOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
}
