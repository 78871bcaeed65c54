//! Path resolution confined to a mount root.
//!
//! Every path a client uses is resolved *inside* the root by the kernel
//! (`openat2` with `RESOLVE_IN_ROOT`): `..` at the root stays at the root and
//! absolute symlinks are taken relative to it, so no spelling of a path, no
//! symlink and no concurrent rename can reach a file outside the mount. Where
//! `openat2` is missing (kernels before 5.6) the same rules are applied one
//! component at a time with `O_NOFOLLOW` opens relative to directory fds, which
//! is just as race-free, only slower.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;

/// Linux gives up after 40 symlinks in one lookup (`MAXSYMLINKS`); match it so
/// loops fail with the same `ELOOP` the kernel path gives.
const MAX_SYMLINKS: usize = 40;

/// `openat2` returns `EAGAIN` when a rename raced a `..` lookup; the kernel
/// expects callers to retry. A handful of retries outlasts any realistic race.
const OPENAT2_RETRIES: usize = 16;

/// How paths are resolved inside a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolveMode {
    /// One `openat2(RESOLVE_IN_ROOT)` call per lookup (Linux 5.6+).
    Openat2,
    /// Component by component with `O_NOFOLLOW` (any Linux).
    Userspace,
}

impl ResolveMode {
    /// The mode to use: `$HF3FS_RESOLVER` (`openat2` or `userspace`) when set,
    /// else `openat2` when the kernel has it.
    pub fn detect() -> ResolveMode {
        static DETECTED: OnceLock<ResolveMode> = OnceLock::new();
        match std::env::var("HF3FS_RESOLVER").as_deref() {
            Ok("userspace") => return ResolveMode::Userspace,
            Ok("openat2") => return ResolveMode::Openat2,
            _ => {}
        }
        *DETECTED.get_or_init(|| {
            match rustix::fs::openat2(
                CWD,
                "/",
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT,
            ) {
                Err(Errno::NOSYS) | Err(Errno::PERM) => ResolveMode::Userspace,
                _ => ResolveMode::Openat2,
            }
        })
    }
}

/// An open mount root: every lookup starts here and stays below it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    canonical: PathBuf,
    mode: ResolveMode,
}

impl Root {
    /// Open `path` as a root, creating it first when `create` is set.
    pub fn open(path: &Path, create: bool, mode: ResolveMode) -> io::Result<Root> {
        if create {
            std::fs::create_dir_all(path)?;
        }
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let canonical = proc_fd_path(fd.as_fd())?;
        Ok(Root {
            fd,
            canonical,
            mode,
        })
    }

    /// The root's absolute path on this machine.
    pub fn local_path(&self) -> &Path {
        &self.canonical
    }

    /// The resolution mode in use.
    pub fn mode(&self) -> ResolveMode {
        self.mode
    }

    /// Open a server path (absolute, `/` = the root) with `flags`.
    ///
    /// `O_CLOEXEC` is always added. `O_NOFOLLOW` in `flags` keeps a final
    /// symlink unfollowed, as with `open(2)`.
    pub fn open_path(&self, server_path: &OsStr, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        if server_path.is_empty() {
            return Err(Errno::NOENT.into());
        }
        let flags = flags | OFlags::CLOEXEC;
        // openat2 rejects a mode unless a file may be created; open(2) ignores it.
        let creates = flags.contains(OFlags::CREATE) || flags.contains(OFlags::TMPFILE);
        let mode = if creates { mode } else { Mode::empty() };
        match self.mode {
            ResolveMode::Openat2 => {
                let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
                let mut tries = 0;
                loop {
                    match rustix::fs::openat2(&self.fd, server_path, flags, mode, how) {
                        Err(Errno::AGAIN) if tries < OPENAT2_RETRIES => tries += 1,
                        other => return other.map_err(Into::into),
                    }
                }
            }
            ResolveMode::Userspace => self.open_userspace(server_path.as_bytes(), flags, mode),
        }
    }

    /// Open the directory containing the last component of `server_path`, and
    /// return it with that component (trailing slashes kept, so the kernel
    /// applies its usual rules to them). An empty name means the path is the root.
    pub fn open_parent(&self, server_path: &OsStr) -> io::Result<(OwnedFd, OsString)> {
        if server_path.is_empty() {
            return Err(Errno::NOENT.into());
        }
        let (parent, name) = split_last(server_path.as_bytes());
        let dir = self.open_path(
            OsStr::from_bytes(parent),
            OFlags::PATH | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        Ok((dir, OsString::from_vec(name.to_vec())))
    }

    /// The server path (`/a/b`) of an fd opened below this root.
    ///
    /// Reads the kernel's current name of the file, so a directory that was
    /// renamed is found at its new place. A file that was deleted, or moved out
    /// of the root by someone else, gives `ENOENT`.
    pub fn server_path_of(&self, fd: BorrowedFd<'_>) -> io::Result<OsString> {
        let local = proc_fd_path(fd)?;
        let st = rustix::fs::fstat(fd)?;
        if st.st_nlink == 0 {
            return Err(Errno::NOENT.into());
        }
        let rest = local
            .strip_prefix(&self.canonical)
            .map_err(|_| io::Error::from(Errno::NOENT))?;
        let mut out = OsString::from("/");
        out.push(rest.as_os_str());
        Ok(out)
    }

    fn open_userspace(&self, path: &[u8], flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        let trailing_slash = path.ends_with(b"/") && path.iter().any(|&b| b != b'/');
        if trailing_slash && flags.contains(OFlags::CREATE) {
            // open(2) refuses to create (or open for creation) a name that ends in '/'.
            return Err(Errno::ISDIR.into());
        }
        let mut follow_last = !flags.contains(OFlags::NOFOLLOW) || trailing_slash;
        let mut flags = flags | OFlags::NOFOLLOW;
        if trailing_slash && !flags.contains(OFlags::CREATE) {
            flags |= OFlags::DIRECTORY;
        }
        // Directories from the root down to where we are; empty means "at the root".
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut pending: Vec<Vec<u8>> = components_reversed(path);
        let mut links = 0;
        if pending.is_empty() {
            return reopen_dir(self.current(&stack), flags, mode);
        }
        while let Some(comp) = pending.pop() {
            let is_last = pending.is_empty();
            match comp.as_slice() {
                b"." | b".." => {
                    if comp == b".." {
                        stack.pop();
                    }
                    if is_last {
                        return reopen_dir(self.current(&stack), flags, mode);
                    }
                }
                name => {
                    let cur = self.current(&stack);
                    let st = match rustix::fs::statat(
                        cur,
                        name,
                        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                    ) {
                        Ok(st) => Some(st),
                        Err(Errno::NOENT) if is_last => None,
                        Err(e) => return Err(e.into()),
                    };
                    let is_link = st
                        .as_ref()
                        .is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
                    if is_link && (!is_last || follow_last) {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(Errno::LOOP.into());
                        }
                        let target = rustix::fs::readlinkat(cur, name, Vec::new())?;
                        let target = target.into_bytes();
                        if target.starts_with(b"/") {
                            stack.clear();
                        }
                        let mut more = components_reversed(&target);
                        if is_last && target.ends_with(b"/") && !flags.contains(OFlags::CREATE) {
                            flags |= OFlags::DIRECTORY;
                        }
                        if more.is_empty() {
                            // A link to "/" (or "."): the directory we are in now.
                            more.push(b".".to_vec());
                        }
                        pending.append(&mut more);
                        follow_last = follow_last || !is_last;
                        continue;
                    }
                    if is_last {
                        return match rustix::fs::openat(cur, name, flags, mode) {
                            // Became a symlink between the stat and the open: retry the
                            // lookup, counted like a symlink so a flapping name cannot spin.
                            Err(Errno::LOOP) if !is_link && follow_last && links < MAX_SYMLINKS => {
                                links += 1;
                                pending.push(comp);
                                continue;
                            }
                            other => other.map_err(Into::into),
                        };
                    }
                    let next = rustix::fs::openat(
                        cur,
                        name,
                        OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    stack.push(next);
                }
            }
        }
        Err(Errno::NOENT.into())
    }

    fn current<'a>(&'a self, stack: &'a [OwnedFd]) -> BorrowedFd<'a> {
        stack.last().map_or(self.fd.as_fd(), |fd| fd.as_fd())
    }
}

fn reopen_dir(dir: BorrowedFd<'_>, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, ".", flags, mode)?)
}

/// Path components in reverse order (so `pop` yields them in order), empty ones dropped.
fn components_reversed(path: &[u8]) -> Vec<Vec<u8>> {
    let mut comps: Vec<Vec<u8>> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    comps.reverse();
    comps
}

/// Split `path` into (parent, last component with its trailing slashes).
fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    let trimmed_len = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    if trimmed_len == 0 {
        return (b"/", b"");
    }
    match path[..trimmed_len].iter().rposition(|&b| b == b'/') {
        Some(i) => {
            let parent = if i == 0 { &path[..1] } else { &path[..i] };
            (parent, &path[i + 1..])
        }
        None => (b".", path),
    }
}

/// The kernel's name for an open fd.
pub(crate) fn proc_fd_path(fd: BorrowedFd<'_>) -> io::Result<PathBuf> {
    let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    std::fs::read_link(link)
}

/// Join a client's base directory and a user path into a server path.
///
/// Absolute user paths are server paths already; relative ones are appended to
/// `base` textually (the kernel then resolves `..` physically, inside the root).
pub fn join_server_path(base: &OsStr, path: &OsStr) -> OsString {
    if path.as_bytes().starts_with(b"/") || path.is_empty() {
        return path.to_os_string();
    }
    let mut out = base.as_bytes().to_vec();
    if !out.ends_with(b"/") {
        out.push(b'/');
    }
    out.extend_from_slice(path.as_bytes());
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_last_cases() {
        assert_eq!(split_last(b"/a/b"), (&b"/a"[..], &b"b"[..]));
        assert_eq!(split_last(b"/a/b//"), (&b"/a"[..], &b"b//"[..]));
        assert_eq!(split_last(b"/a"), (&b"/"[..], &b"a"[..]));
        assert_eq!(split_last(b"/"), (&b"/"[..], &b""[..]));
        assert_eq!(split_last(b"///"), (&b"/"[..], &b""[..]));
        assert_eq!(split_last(b"/a/.."), (&b"/a"[..], &b".."[..]));
    }

    #[test]
    fn join_paths() {
        let j = |b: &str, p: &str| join_server_path(OsStr::new(b), OsStr::new(p));
        assert_eq!(j("/", "a"), "/a");
        assert_eq!(j("/x", "a/b"), "/x/a/b");
        assert_eq!(j("/x", "/a"), "/a");
        assert_eq!(j("/x", "../a"), "/x/../a");
        assert_eq!(j("/x", ""), "");
    }
}
