//! Footers of remote files kept on local disk between opens of a dataset.
//!
//! Opening a dataset reads every file's footer before the first batch (the
//! plan that gives each rank equal batches needs every row count). On an
//! object store that is a round trip per file, and every rank, every
//! spawned DataLoader worker and every restart pays it again. The cache
//! keeps each footer's bytes under a key made of the file's URL, size,
//! modification time and version (an object's ETag) from the listing, so a
//! file that changed is a miss;
//! an entry that does not decode is ignored and the footer read again.
//!
//! `HF3FS_FOOTER_CACHE` sets the directory (default `footers` in
//! [`hf3fs_core::config::cache_dir`], `~/.cache/hf3fs/footers`); `off`
//! (or `0`) turns the cache off. Writes are atomic (a temporary file, then a
//! rename), so processes sharing the directory never see half an entry.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::source::SourceFile;

/// The environment variable that places or disables the cache.
pub const FOOTER_CACHE_VAR: &str = "HF3FS_FOOTER_CACHE";

/// Entries larger than this are not kept: a footer that big (tens of
/// thousands of row groups) is rare, and the cache should stay small.
const MAX_ENTRY: usize = 4 << 20;

/// Where footers are kept, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FooterCache {
    dir: PathBuf,
}

impl FooterCache {
    /// A cache in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> FooterCache {
        FooterCache { dir: dir.into() }
    }

    /// The cache `HF3FS_FOOTER_CACHE` names (or the default directory);
    /// None when it is off or no home directory is known.
    pub fn from_env() -> Option<FooterCache> {
        match std::env::var(FOOTER_CACHE_VAR) {
            Ok(v)
                if matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "off" | "0" | "false"
                ) =>
            {
                None
            }
            Ok(v) if !v.trim().is_empty() => Some(FooterCache::at(v.trim())),
            _ => Some(FooterCache::at(
                hf3fs_core::config::cache_dir()?.join("footers"),
            )),
        }
    }

    /// The entry of `file`: None without a modification time to check.
    fn entry(&self, file: &SourceFile) -> Option<PathBuf> {
        let mtime = file.mtime?.duration_since(UNIX_EPOCH).ok()?;
        let version = file.version.as_deref().unwrap_or_default();
        let key = format!(
            "{}\0{}\0{}\0{version}",
            file.display,
            file.size,
            mtime.as_nanos()
        );
        Some(self.dir.join(hex::encode(Sha256::digest(key.as_bytes()))))
    }

    /// The cached bytes of `file`'s end: `(offset, bytes)`, where the bytes
    /// run from `offset` to the end of the file.
    pub fn load(&self, file: &SourceFile) -> Option<(u64, Bytes)> {
        let data = std::fs::read(self.entry(file)?).ok()?;
        let (head, bytes) = data.split_at_checked(8)?;
        let offset = u64::from_le_bytes(head.try_into().ok()?);
        (offset.checked_add(bytes.len() as u64)? == file.size)
            .then(|| (offset, Bytes::from(bytes.to_vec())))
    }

    /// Keep the bytes from `offset` to the end of `file`; best effort (a
    /// read-only or full disk only costs the next open a footer read).
    pub fn store(&self, file: &SourceFile, offset: u64, bytes: &[u8]) {
        if bytes.len() > MAX_ENTRY {
            return;
        }
        let Some(path) = self.entry(file) else {
            return;
        };
        let _ = std::fs::create_dir_all(&self.dir);
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(&offset.to_le_bytes())?;
            f.write_all(bytes)
        });
        if written.is_err() || std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
