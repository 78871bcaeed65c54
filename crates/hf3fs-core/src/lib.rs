//! hf3fs-core: the client of the `hf3fs` Python package, in plain Rust.
//!
//! A [`Client`] binds a mount (a directory: a 3FS FUSE mount, Lustre, NFS, a
//! local disk) and a token's role. Paths are server paths resolved inside the
//! mount root ([`resolve`]); files are client fds ([`fdtable`]); shared memory
//! buffers live in [`iov`], and batches run on the parallel [`engine`].
//! Every thread belongs to the process's one [`runtime`]; every blocking
//! call takes a [`CancelToken`].

mod cancel;
mod client;
pub mod config;
pub mod engine;
pub mod error;
mod fdtable;
mod fork;
pub mod fs;
pub mod iov;
mod numa;
mod resolve;
pub mod runtime;
pub mod shm;
mod stat;
mod sync;

pub use cancel::CancelToken;
pub use client::{Client, ClientOptions, DirHandle, RawDirEntry};
pub use config::{Config, Role};
pub use error::{Error, Result};
pub use resolve::ResolveMode;
pub use stat::{FileStat, Timespec};
