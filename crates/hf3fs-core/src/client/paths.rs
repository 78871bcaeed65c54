//! Calls on paths: stat, chmod, chown, utime, mkdir, remove, rmdir, rename, realpath, chdir.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, Gid, Mode, OFlags, Timestamps, Uid, CWD, UTIME_NOW};
use rustix::io::Errno;

use super::{dirs, Client};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::stat::{FileStat, Timespec};

/// A path through `/proc` that reaches the file behind an `O_PATH` fd, for the
/// calls (`chmod`, `utimensat`) that cannot take an `O_PATH` fd directly.
fn proc_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// `.` and `..` as a last component: calls that would act on the directory
/// entry itself must refuse them (and `..` of the root lies outside the mount).
fn is_dot_name(name: &OsStr) -> bool {
    let trimmed = name.as_bytes().split(|&b| b == b'/').next().unwrap_or(b"");
    trimmed == b"." || trimmed == b".."
}

impl Client {
    /// Open `server` as an `O_PATH` fd for a metadata call.
    fn open_meta(
        &self,
        op: &'static str,
        path: &Path,
        server: &OsStr,
        follow: bool,
    ) -> Result<OwnedFd> {
        let mut flags = OFlags::PATH;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        self.root
            .open_path(server, flags, Mode::empty())
            .map_err(|e| Error::os(op, path.as_os_str(), e))
    }

    /// Open the parent directory of `server`; the name is empty when `server` is the root.
    fn open_parent(
        &self,
        op: &'static str,
        path: &Path,
        server: &OsStr,
    ) -> Result<(OwnedFd, OsString)> {
        self.root
            .open_parent(server)
            .map_err(|e| Error::os(op, path.as_os_str(), e))
    }

    /// Status of a path (`follow` = `follow_symlinks`).
    pub fn stat(&self, path: &Path, dir_fd: Option<i64>, follow: bool) -> Result<FileStat> {
        let op = "stat";
        let server = self.server_path(op, path, dir_fd)?;
        let fd = self.open_meta(op, path, &server, follow)?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::os(op, path.as_os_str(), e))?;
        let mut stat = FileStat::from(&st);
        if stat.is_link() {
            let target = rustix::fs::readlinkat(&fd, "", Vec::new())
                .map_err(|e| Error::os(op, path.as_os_str(), e))?;
            stat.link_target = Some(OsStr::from_bytes(target.as_bytes()).to_os_string());
        }
        Ok(stat)
    }

    /// Change permission bits. With `follow = false` a symlink itself cannot be
    /// changed on Linux (`EOPNOTSUPP`); other files can.
    pub fn chmod(&self, path: &Path, mode: u32, dir_fd: Option<i64>, follow: bool) -> Result<()> {
        let op = "chmod";
        self.require_write(op, path)?;
        let server = self.server_path(op, path, dir_fd)?;
        let fd = self.open_meta(op, path, &server, follow)?;
        if !follow {
            let st = rustix::fs::fstat(&fd).map_err(|e| Error::os(op, path.as_os_str(), e))?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(Error::errno(op, path.as_os_str(), libc::EOPNOTSUPP));
            }
        }
        rustix::fs::chmod(proc_path(&fd), Mode::from_bits_truncate(mode as _))
            .map_err(|e| Error::os(op, path.as_os_str(), e))
    }

    /// Change owner and group (`-1` leaves one unchanged). Giving a file to
    /// another user needs a super client.
    pub fn chown(
        &self,
        path: &Path,
        uid: i64,
        gid: i64,
        dir_fd: Option<i64>,
        follow: bool,
    ) -> Result<()> {
        let op = "chown";
        self.require_write(op, path)?;
        let to_id = |v: i64, what: &str| -> Result<Option<u32>> {
            match v {
                -1 => Ok(None),
                0..=0xFFFF_FFFE => Ok(Some(v as u32)),
                _ => Err(Error::invalid(format!("chown: {what} {v}"), "out of range")),
            }
        };
        let (uid, gid) = (to_id(uid, "uid")?, to_id(gid, "gid")?);
        if let Some(u) = uid {
            if !self.as_super && u != rustix::process::geteuid().as_raw() {
                return Err(Error::NotPermitted {
                    op,
                    path: path.as_os_str().to_os_string(),
                    reason: "only a super client (as_super=True, root token) may give a file to another user".into(),
                });
            }
        }
        let server = self.server_path(op, path, dir_fd)?;
        let fd = self.open_meta(op, path, &server, follow)?;
        let owner = uid.map(Uid::from_raw);
        let group = gid.map(Gid::from_raw);
        rustix::fs::chownat(&fd, "", owner, group, AtFlags::EMPTY_PATH)
            .map_err(|e| Error::os(op, path.as_os_str(), e))
    }

    /// Set access and modification times; `None` means now.
    pub fn utime(
        &self,
        path: &Path,
        times: Option<(Timespec, Timespec)>,
        dir_fd: Option<i64>,
        follow: bool,
    ) -> Result<()> {
        let op = "utime";
        self.require_write(op, path)?;
        let ts = |t: Option<Timespec>| match t {
            Some(t) => rustix::fs::Timespec {
                tv_sec: t.sec,
                tv_nsec: t.nsec as _,
            },
            None => rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_NOW as _,
            },
        };
        let stamps = Timestamps {
            last_access: ts(times.map(|t| t.0)),
            last_modification: ts(times.map(|t| t.1)),
        };
        let set_times = || -> Result<()> {
            let server = self.server_path(op, path, dir_fd)?;
            let fd = self.open_meta(op, path, &server, follow)?;
            let err = |e: Errno| Error::os(op, path.as_os_str(), e);
            let st = rustix::fs::fstat(&fd).map_err(err)?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                // Only reached without following: set the symlink's own times via its parent.
                let (dir, name) = self.open_parent(op, path, &server)?;
                rustix::fs::utimensat(&dir, name.as_os_str(), &stamps, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(err)
            } else {
                rustix::fs::utimensat(CWD, proc_path(&fd), &stamps, AtFlags::empty()).map_err(err)
            }
        };
        // CPython's os.utime leaves the filename out of its errors; match it.
        set_times().map_err(Error::without_paths)
    }

    /// Create a directory. With `recursive`, missing parents are created first
    /// (like `os.makedirs`: an existing leaf is still an error).
    pub fn mkdir(
        &self,
        path: &Path,
        mode: u32,
        dir_fd: Option<i64>,
        recursive: bool,
    ) -> Result<()> {
        let op = "mkdir";
        self.require_write(op, path)?;
        if recursive {
            self.makedirs(path, mode, dir_fd)
        } else {
            self.mkdir_one(path, mode, dir_fd)
        }
    }

    fn mkdir_one(&self, path: &Path, mode: u32, dir_fd: Option<i64>) -> Result<()> {
        let op = "mkdir";
        let server = self.server_path(op, path, dir_fd)?;
        let (dir, name) = self.open_parent(op, path, &server)?;
        if name.is_empty() {
            return Err(Error::errno(op, path.as_os_str(), libc::EEXIST));
        }
        rustix::fs::mkdirat(&dir, name.as_os_str(), Mode::from_bits_truncate(mode as _))
            .map_err(|e| Error::os(op, path.as_os_str(), e))
    }

    /// `os.makedirs(path, mode, exist_ok=False)`, step for step, so a failure
    /// names the same component `os` would name. Iterative: a path with very
    /// many components cannot exhaust the stack.
    fn makedirs(&self, path: &Path, mode: u32, dir_fd: Option<i64>) -> Result<()> {
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() > libc::PATH_MAX as usize {
            return Err(Error::errno("mkdir", path.as_os_str(), libc::ENAMETOOLONG));
        }
        // chain[0] = path, chain[i + 1] = the missing parent of chain[i].
        let mut chain: Vec<(&[u8], bool)> = Vec::new();
        let mut current = bytes;
        loop {
            let (mut head, mut tail) = split_user_path(current);
            if tail.is_empty() {
                (head, tail) = split_user_path(head);
            }
            chain.push((current, tail == b"."));
            let head_path = Path::new(OsStr::from_bytes(head));
            if head.is_empty() || tail.is_empty() || self.stat(head_path, dir_fd, true).is_ok() {
                break;
            }
            current = head;
        }
        let mut result: Result<()> = Ok(());
        for (i, (p, tail_is_dot)) in chain.iter().enumerate().rev() {
            let is_top = i + 1 == chain.len();
            if !is_top {
                // What makedirs(parent) raised: only "exists" is forgiven.
                match result {
                    Err(e) if e.raw_errno() != Some(libc::EEXIST) => return Err(e),
                    _ => {}
                }
                if *tail_is_dot {
                    result = Ok(());
                    continue;
                }
            }
            // Intermediate directories get the default mode, as os.makedirs does.
            let m = if i == 0 { mode } else { 0o777 };
            result = self.mkdir_one(Path::new(OsStr::from_bytes(p)), m, dir_fd);
        }
        result
    }

    /// Remove a file (`os.remove`); with `recursive`, a directory and everything below it.
    pub fn remove(
        &self,
        path: &Path,
        dir_fd: Option<i64>,
        recursive: bool,
        cancel: &CancelToken,
    ) -> Result<()> {
        let op = "remove";
        self.require_write(op, path)?;
        let server = self.server_path(op, path, dir_fd)?;
        let (dir, name) = self.open_parent(op, path, &server)?;
        let err = |e: Errno| Error::os(op, path.as_os_str(), e);
        if name.is_empty() {
            // The mount root itself is never removed.
            return Err(err(if recursive { Errno::BUSY } else { Errno::ISDIR }));
        }
        if recursive && !is_dot_name(&name) {
            // A trailing slash would make the kernel follow a final symlink even
            // with NOFOLLOW: look at the entry itself, by its bare name.
            let bare = bare_name(&name);
            let st = rustix::fs::statat(&dir, bare, AtFlags::SYMLINK_NOFOLLOW).map_err(err)?;
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                return dirs::remove_tree(&dir, bare, cancel)
                    .map_err(|e| e.with_path(path.as_os_str()));
            }
        }
        rustix::fs::unlinkat(&dir, name.as_os_str(), AtFlags::empty()).map_err(err)
    }

    /// Remove an empty directory; with `recursive`, a directory tree.
    pub fn rmdir(
        &self,
        path: &Path,
        dir_fd: Option<i64>,
        recursive: bool,
        cancel: &CancelToken,
    ) -> Result<()> {
        let op = "rmdir";
        self.require_write(op, path)?;
        let server = self.server_path(op, path, dir_fd)?;
        let (dir, name) = self.open_parent(op, path, &server)?;
        let err = |e: Errno| Error::os(op, path.as_os_str(), e);
        if name.is_empty() {
            return Err(err(Errno::BUSY));
        }
        if recursive && !is_dot_name(&name) {
            return dirs::remove_tree(&dir, bare_name(&name), cancel)
                .map_err(|e| e.with_path(path.as_os_str()));
        }
        rustix::fs::unlinkat(&dir, name.as_os_str(), AtFlags::REMOVEDIR).map_err(err)
    }

    /// Rename `src` to `dst`, replacing `dst` as `rename(2)` does.
    pub fn rename(
        &self,
        src: &Path,
        dst: &Path,
        src_dir_fd: Option<i64>,
        dst_dir_fd: Option<i64>,
    ) -> Result<()> {
        let op = "rename";
        self.require_write(op, src)?;
        let err = |e: std::io::Error| Error::Os {
            op,
            path: Some(src.as_os_str().to_os_string()),
            path2: Some(dst.as_os_str().to_os_string()),
            source: std::sync::Arc::new(e),
        };
        // Every failure names both paths, as os.rename reports them.
        let both = |e: Error| {
            err(std::io::Error::from_raw_os_error(
                e.raw_errno().unwrap_or(libc::EIO),
            ))
        };
        let s_server = self.server_path(op, src, src_dir_fd).map_err(both)?;
        let d_server = self.server_path(op, dst, dst_dir_fd).map_err(both)?;
        let (s_dir, s_name) = self.root.open_parent(&s_server).map_err(err)?;
        let (d_dir, d_name) = self.root.open_parent(&d_server).map_err(err)?;
        if s_name.is_empty() || d_name.is_empty() {
            return Err(err(Errno::BUSY.into()));
        }
        rustix::fs::renameat(&s_dir, s_name.as_os_str(), &d_dir, d_name.as_os_str())
            .map_err(|e| err(e.into()))
    }

    /// The canonical server path of `path` (symlinks resolved); with
    /// `absolute`, the local path on this machine instead.
    pub fn realpath(&self, path: &Path, dir_fd: Option<i64>, absolute: bool) -> Result<OsString> {
        let op = "realpath";
        let server = self.server_path(op, path, dir_fd)?;
        let fd = self.open_meta(op, path, &server, true)?;
        let real = self
            .root
            .server_path_of(std::os::fd::AsFd::as_fd(&fd))
            .map_err(|e| Error::os(op, path.as_os_str(), e))?;
        Ok(if absolute {
            self.local_path(&real).into_os_string()
        } else {
            real
        })
    }

    /// Change the client's current directory.
    pub fn chdir(&self, path: &Path) -> Result<()> {
        let op = "chdir";
        let server = self.server_path(op, path, None)?;
        let fd = self
            .root
            .open_path(&server, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .map_err(|e| Error::os(op, path.as_os_str(), e))?;
        *self.lock_cwd() = Some(std::sync::Arc::new(fd));
        Ok(())
    }
}

/// A last component without its trailing slashes.
fn bare_name(name: &OsStr) -> &OsStr {
    let b = name.as_bytes();
    let end = b.iter().rposition(|&c| c != b'/').map_or(0, |i| i + 1);
    OsStr::from_bytes(&b[..end])
}

/// `posixpath.split`: (head without trailing slashes unless all slashes, tail).
fn split_user_path(path: &[u8]) -> (&[u8], &[u8]) {
    let cut = path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let (head, tail) = path.split_at(cut);
    if head.iter().all(|&b| b == b'/') {
        return (head, tail);
    }
    let end = head.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    (&head[..end], tail)
}
