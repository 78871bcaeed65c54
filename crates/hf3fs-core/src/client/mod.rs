//! The client: one mount, one token's role, a cwd and a table of client fds.
//!
//! Calls mirror the 3FS `hf3fs` Python client (and `os`): paths are server
//! paths (`/` is the mount root), relative paths resolve against the client's
//! cwd or a directory fd, and errors carry the errno `os` would give.

mod dirs;
pub(crate) mod files;
mod paths;

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use dirs::{DirHandle, RawDirEntry};

use crate::config::{Config, Role};
use crate::engine::{EngineOptions, IoEngine};
use crate::error::{Error, Result};
use crate::fdtable::FdTable;
use crate::resolve::{join_server_path, ResolveMode, Root};

/// Options for [`Client::connect`].
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Act as super (needs a `root` token): ownership can be given to any user.
    pub as_super: bool,
    /// Force a path resolution mode; `None` picks the best the kernel offers.
    pub resolve_mode: Option<ResolveMode>,
    /// IO engine settings; unset fields come from `HF3FS_IO_*`, then the
    /// config file's `[io]` table, then the defaults.
    pub io: EngineOptions,
}

/// A client of one mount.
#[derive(Debug)]
pub struct Client {
    mount_name: String,
    pub(crate) root: Root,
    role: Role,
    as_super: bool,
    /// The current directory as an `O_PATH` fd (`None` = the root), so it
    /// follows the directory when it is renamed, as a process cwd does.
    cwd: Mutex<Option<Arc<OwnedFd>>>,
    pub(crate) files: FdTable,
    engine: IoEngine,
}

impl Client {
    /// Connect to `mount` with `token`, using the configuration from the environment.
    pub fn open(mount: &str, token: &str, options: &ClientOptions) -> Result<Client> {
        let config = Config::load()?;
        Client::connect(&config, mount, token, options)
    }

    /// Connect to `mount` of `config` with `token`.
    pub fn connect(
        config: &Config,
        mount: &str,
        token: &str,
        options: &ClientOptions,
    ) -> Result<Client> {
        let mount_config = config.mount(mount)?;
        let role = config.authorize(mount, token)?;
        if options.as_super && role != Role::Root {
            return Err(Error::NotSuper {
                mount: mount.to_string(),
                role: role.as_str(),
            });
        }
        let io = options.io.or(EngineOptions::from_env()?).or(config.io);
        Client::at_root(
            mount,
            &mount_config.root,
            mount_config.create,
            role,
            options,
            io,
        )
    }

    /// A client of the directory `root` (no configuration or token), acting
    /// with `role`; `io` are the engine settings, unset fields defaulted.
    /// This is how [`crate::fs::LocalFileSystem`] reaches the whole machine.
    pub fn at_root(
        name: &str,
        root: &Path,
        create: bool,
        role: Role,
        options: &ClientOptions,
        io: EngineOptions,
    ) -> Result<Client> {
        let mode = options.resolve_mode.unwrap_or_else(ResolveMode::detect);
        let root = Root::open(root, create, mode)
            .map_err(|e| Error::os("open mount root", root.as_os_str().to_os_string(), e))?;
        Ok(Client {
            mount_name: name.to_string(),
            root,
            role,
            as_super: options.as_super,
            cwd: Mutex::new(None),
            files: FdTable::default(),
            engine: IoEngine::new(io)?,
        })
    }

    /// The mount's name.
    pub fn mount_name(&self) -> &str {
        &self.mount_name
    }

    /// The mount root on this machine.
    pub fn mount_root(&self) -> &Path {
        self.root.local_path()
    }

    /// The token's role on this mount.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the client acts as super.
    pub fn is_super(&self) -> bool {
        self.as_super
    }

    /// The settings this client's batches run with (on the process's IO threads).
    pub fn engine(&self) -> &IoEngine {
        &self.engine
    }

    /// The path resolution mode in use.
    pub fn resolve_mode(&self) -> ResolveMode {
        self.root.mode()
    }

    /// The client's current directory (a server path).
    pub fn cwd(&self) -> Result<OsString> {
        let fd = self.lock_cwd().clone();
        match fd {
            None => Ok(OsString::from("/")),
            Some(fd) => self
                .root
                .server_path_of(fd.as_fd())
                .map_err(|e| Error::os_nopath("getcwd", e)),
        }
    }

    /// The local path of a server path (the mount root joined with it).
    pub fn local_path(&self, server_path: &OsStr) -> PathBuf {
        let rel = server_path.to_string_lossy();
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() {
            self.root.local_path().to_path_buf()
        } else {
            self.root.local_path().join(rel)
        }
    }

    fn lock_cwd(&self) -> MutexGuard<'_, Option<Arc<OwnedFd>>> {
        // The cwd is replaced by one assignment; a poisoned lock still holds a valid path.
        self.cwd.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuse a mutating call when the token's role is `read`.
    pub(crate) fn require_write(&self, op: &'static str, path: &Path) -> Result<()> {
        if self.role >= Role::Write {
            Ok(())
        } else {
            Err(Error::ReadOnly {
                op,
                mount: self.mount_name.clone(),
                role: self.role.as_str(),
                path: path.as_os_str().to_os_string(),
            })
        }
    }

    /// The server path `path` names, relative to `dir_fd` or the cwd.
    fn server_path(&self, op: &'static str, path: &Path, dir_fd: Option<i64>) -> Result<OsString> {
        let path = path.as_os_str();
        if path.is_empty() {
            return Err(Error::errno(op, path, libc::ENOENT));
        }
        if path.as_encoded_bytes().starts_with(b"/") {
            return Ok(path.to_os_string());
        }
        let base = match dir_fd {
            None => self.cwd().map_err(|e| e.with_path(path))?,
            Some(fd) => {
                let file = self
                    .files
                    .get(op, fd)
                    .map_err(|_| Error::errno(op, path, libc::EBADF))?;
                if !file.is_dir {
                    return Err(Error::errno(op, path, libc::ENOTDIR));
                }
                self.root
                    .server_path_of(file.os_fd.as_fd())
                    .map_err(|e| Error::os(op, path, e))?
            }
        };
        Ok(join_server_path(&base, path))
    }
}

#[cfg(test)]
mod tests;
