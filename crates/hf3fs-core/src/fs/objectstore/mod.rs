//! A file system over an object store (S3 and the S3-compatible stores:
//! MinIO, Ceph RGW, R2), through the `object_store` crate: no hand-written
//! HTTP, signing or XML. Arrow's `S3FileSystem` is the model.
//!
//! Paths are keys relative to the bucket. Directories are implied by the
//! keys below them (`a/b/c` makes `a` and `a/b` directories), as in
//! object_store, polars and s3fs: a directory with nothing below it does not
//! exist, so [`FileSystem::create_dir`] only checks that no file is in the
//! way, and a directory emptied by `delete_dir_contents` is gone. Objects
//! cannot be appended to, and directories are not moved (a move of a tree is
//! a copy of every object, never done implicitly).
//!
//! Reads are ranged GETs pinned to the object's ETag from the open (a
//! replaced object fails with `ESTALE` instead of mixing versions), and
//! files are [`IoClass::Remote`](crate::fs::IoClass::Remote), so the
//! scheduler keeps many in flight.
//! Writes buffer one part, then stream parts of a multipart upload; the
//! object appears whole at `close`, and a stream dropped unclosed leaves
//! nothing behind.

mod file;
mod writer;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path as Key;
use object_store::{Attribute, Attributes, ObjectMeta, ObjectStore, ObjectStoreExt};

use super::path::{join, normalize_relative, parent};
use super::{
    two_paths, CacheOptions, FileInfo, FileSelector, FileSystem, FileType, IoContext,
    KeyValueMetadata, OutputStream, RandomAccessFile,
};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::runtime::net::block_on;
use crate::sync::{lock, PerProcess};
use file::ObjectFile;
pub use writer::DEFAULT_PART_SIZE;
use writer::{ObjectWriter, PARTS_IN_FLIGHT};

/// The largest object S3 copies in one request (CopyObject); larger ones
/// are copied by streaming their bytes through a multipart upload.
const MAX_SERVER_COPY: u64 = 5 << 30;

/// Where the store comes from: given (in-memory stores in tests), or built
/// once per process from its configuration, since a store's connections
/// belong to the async runtime of the process that made them.
enum StoreSource {
    Fixed(Store),
    PerProcess {
        /// The key of this file system's store in [`STORES`].
        id: u64,
        make: Box<dyn Fn() -> Result<Store> + Send + Sync>,
    },
}

/// A store, and its paginated listing where it has one (S3), which asks
/// for one key where `list` would fetch a page of a thousand.
#[derive(Clone)]
pub(crate) struct Store {
    pub objects: Arc<dyn ObjectStore>,
    pub pages: Option<Arc<dyn PaginatedListStore>>,
}

type Stores = Arc<Mutex<HashMap<u64, Store>>>;

/// This process's stores, by file system. A forked child starts with an
/// empty map (the inherited stores' connections belong to the parent's
/// async runtime, and the map's lock may have been held by a parent
/// thread); the slot's own lock is held across fork.
static STORES: PerProcess<Stores> = PerProcess::new();

fn stores() -> Stores {
    STORES.guard_across_fork();
    STORES.get_or_init(Stores::default, std::mem::forget)
}

/// `key/`: what the keys below `key` start with (nothing for the root).
fn below(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}/")
    }
}

/// The state every handle of one file system shares.
struct Shared {
    /// `s3://bucket`: the prefix of every URL in messages.
    url: String,
    /// The `type_name` of the file system (`"s3"`, `"memory"`).
    kind: &'static str,
    source: StoreSource,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let StoreSource::PerProcess { id, .. } = &self.source {
            if let Some(stores) = STORES.get() {
                lock(&stores).remove(id);
            }
        }
    }
}

impl Shared {
    fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        Ok(self.handles()?.objects)
    }

    fn handles(&self) -> Result<Store> {
        match &self.source {
            StoreSource::Fixed(store) => Ok(store.clone()),
            StoreSource::PerProcess { id, make } => {
                let stores = stores();
                if let Some(store) = lock(&stores).get(id) {
                    return Ok(store.clone());
                }
                // Built outside the lock; two threads missing at once both
                // build, and one store is kept.
                let store = make()?;
                let kept = lock(&stores).entry(*id).or_insert(store).clone();
                Ok(kept)
            }
        }
    }

    fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.url)
    }

    /// Run one store call for `key`, waiting on this thread.
    fn call<T, F>(
        &self,
        op: &'static str,
        key: &str,
        cancel: &CancelToken,
        call: impl FnOnce(Arc<dyn ObjectStore>) -> F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = object_store::Result<T>>,
    {
        let store = self.store()?;
        block_on(op, cancel, call(store))?.map_err(|e| self.error(op, key, None, e))
    }

    fn error(
        &self,
        op: &'static str,
        key: &str,
        range: Option<(u64, u64)>,
        e: object_store::Error,
    ) -> Error {
        store_error(op, self.url(key), range, e)
    }

    fn errno(&self, op: &'static str, key: &str, errno: i32) -> Error {
        Error::errno(op, self.url(key), errno)
    }
}

/// The error for a failed store call on `url`.
pub(crate) fn store_error(
    op: &'static str,
    url: String,
    range: Option<(u64, u64)>,
    e: object_store::Error,
) -> Error {
    use object_store::Error as E;
    let errno = match &e {
        E::NotFound { .. } => libc::ENOENT,
        E::AlreadyExists { .. } => libc::EEXIST,
        // Reads are pinned to the ETag seen at open: the object was replaced.
        E::Precondition { .. } | E::NotModified { .. } => libc::ESTALE,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => libc::EACCES,
        E::NotSupported { .. } | E::NotImplemented { .. } => libc::ENOTSUP,
        E::InvalidPath { .. } => libc::EINVAL,
        _ => libc::EIO,
    };
    let mut detail = e.to_string();
    if errno == libc::ESTALE {
        detail = format!("the object changed since it was opened ({detail})");
    }
    Error::Store {
        op,
        url,
        range,
        errno,
        detail,
    }
}

/// A [`FileSystem`] over one bucket of an object store.
pub struct ObjectStoreFileSystem {
    shared: Arc<Shared>,
    ctx: IoContext,
}

impl std::fmt::Debug for ObjectStoreFileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreFileSystem")
            .field("url", &self.shared.url)
            .finish()
    }
}

/// What is known of a key after one round trip.
enum Found {
    File(ObjectMeta),
    Directory,
    Missing,
}

impl ObjectStoreFileSystem {
    /// A file system over `store`, used as given in every process (for
    /// stores without connections, such as `object_store`'s `InMemory`).
    /// `url` prefixes the keys in messages (`memory://`).
    pub fn new(url: &str, kind: &'static str, store: Arc<dyn ObjectStore>) -> Self {
        let store = Store {
            objects: store,
            pages: None,
        };
        Self::from_source(url, kind, StoreSource::Fixed(store))
    }

    /// A file system over the store `make` builds: once per process (`first`
    /// serves this one when given), again in a forked child.
    pub(crate) fn per_process(
        url: &str,
        kind: &'static str,
        first: Option<Store>,
        make: impl Fn() -> Result<Store> + Send + Sync + 'static,
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if let Some(store) = first {
            lock(&stores()).insert(id, store);
        }
        Self::from_source(
            url,
            kind,
            StoreSource::PerProcess {
                id,
                make: Box::new(make),
            },
        )
    }

    fn from_source(url: &str, kind: &'static str, source: StoreSource) -> Self {
        ObjectStoreFileSystem {
            shared: Arc::new(Shared {
                url: url.trim_end_matches('/').to_string(),
                kind,
                source,
            }),
            ctx: IoContext::default(),
        }
    }

    /// The URL of `path` (`s3://bucket/key`).
    pub fn url(&self, path: &str) -> String {
        match normalize_relative(path) {
            Ok(key) => self.shared.url(&key),
            Err(_) => self.shared.url(path),
        }
    }

    /// The store's key for `path`: normalized, and valid for object_store.
    fn key(&self, path: &str) -> Result<String> {
        let key = normalize_relative(path)?;
        Key::parse(&key)
            .map_err(|e| Error::invalid(self.url(path), format!("not a valid object key: {e}")))?;
        Ok(key)
    }

    /// Whether `key` is a file (its metadata), a directory, or nothing: a
    /// HEAD, then (only when no object is there) the first page of a
    /// listing, so a file, the common case, costs one request.
    fn find(&self, op: &'static str, key: &str, cancel: &CancelToken) -> Result<Found> {
        if key.is_empty() {
            return Ok(Found::Directory);
        }
        let location = loc(key);
        let dir = below(key);
        let pages = self.shared.handles()?.pages;
        let (head, below) = self.shared.call(op, key, cancel, |store| async move {
            match store.head(&location).await {
                Err(object_store::Error::NotFound { .. }) => {}
                head => return Ok((Some(head), None)),
            }
            // Only keys below `key/` make it a directory, not its own marker
            // (which a listing of `key/` returns first, as `key`).
            if let Some(pages) = pages {
                let options = PaginatedListOptions {
                    max_keys: Some(2),
                    ..PaginatedListOptions::default()
                };
                let page = pages.list_paginated(Some(&dir), options).await;
                let found = page.map(|p| {
                    p.result
                        .objects
                        .iter()
                        .any(|m| m.location.as_ref().starts_with(&dir))
                        || !p.result.common_prefixes.is_empty()
                });
                return Ok((None, Some(found)));
            }
            let mut listed = store
                .list(Some(&location))
                .try_filter(move |m| futures::future::ready(m.location.as_ref().starts_with(&dir)));
            Ok((None, listed.next().await.map(|r| r.map(|_| true))))
        })?;
        match head {
            Some(Ok(meta)) => return Ok(Found::File(meta)),
            Some(Err(e)) => return Err(self.shared.error(op, key, None, e)),
            None => {}
        }
        match below {
            Some(Ok(true)) => Ok(Found::Directory),
            None | Some(Ok(false)) | Some(Err(object_store::Error::NotFound { .. })) => {
                Ok(Found::Missing)
            }
            Some(Err(e)) => Err(self.shared.error(op, key, None, e)),
        }
    }

    /// `ENOTDIR` when an ancestor of a missing `key` is a file, else `ENOENT`
    /// (asked only on error paths, so it costs nothing when all is well).
    fn missing(&self, op: &'static str, key: &str, cancel: &CancelToken) -> Error {
        let mut up = parent(key);
        while let Some(p) = up.filter(|p| !p.is_empty()) {
            if let Ok(Found::File(_)) = self.find(op, p, cancel) {
                return self.shared.errno(op, key, libc::ENOTDIR);
            }
            up = parent(p);
        }
        self.shared.errno(op, key, libc::ENOENT)
    }

    /// Every object below `key/` (all of the bucket for the root), never
    /// `key`'s own directory marker.
    fn list_below(
        &self,
        op: &'static str,
        key: &str,
        cancel: &CancelToken,
    ) -> Result<Vec<ObjectMeta>> {
        let prefix = (!key.is_empty()).then(|| loc(key));
        let dir = below(key);
        self.shared.call(op, key, cancel, |store| async move {
            store
                .list(prefix.as_ref())
                .try_filter(move |m| futures::future::ready(m.location.as_ref().starts_with(&dir)))
                .try_collect::<Vec<_>>()
                .await
        })
    }

    /// Delete every object below `key/` (the whole bucket for the root) as
    /// the listing streams in, with the store's bulk delete; returns how
    /// many went. Memory stays one listing page, whatever the count.
    fn delete_below(&self, op: &'static str, key: &str, cancel: &CancelToken) -> Result<u64> {
        let prefix = (!key.is_empty()).then(|| loc(key));
        let dir = below(key);
        self.shared.call(op, key, cancel, |store| async move {
            let locations = store
                .list(prefix.as_ref())
                .try_filter(move |m| futures::future::ready(m.location.as_ref().starts_with(&dir)))
                .map_ok(|m| m.location)
                .boxed();
            store
                .delete_stream(locations)
                .try_fold(0u64, |n, _| futures::future::ready(Ok(n + 1)))
                .await
        })
    }

    fn delete_tree(
        &self,
        op: &'static str,
        path: &str,
        missing_ok: bool,
        cancel: &CancelToken,
    ) -> Result<()> {
        let key = self.key(path)?;
        if key.is_empty() {
            return Err(Error::invalid(
                format!("{op} {}", self.shared.url("")),
                "refusing to delete the whole bucket; use delete_root_dir_contents",
            ));
        }
        // Prefixes match whole segments: `d` lists `d/x`, never `dx`.
        if self.delete_below(op, &key, cancel)? == 0 {
            return match self.find(op, &key, cancel)? {
                Found::File(_) => Err(self.shared.errno(op, &key, libc::ENOTDIR)),
                _ if missing_ok => Ok(()),
                _ => Err(self.missing(op, &key, cancel)),
            };
        }
        Ok(())
    }

    /// Open `path`: with the size (and ETag) a listing gave, or after a HEAD.
    fn open_file(
        &self,
        path: &str,
        listed: Option<(u64, Option<String>)>,
    ) -> Result<Arc<dyn RandomAccessFile>> {
        let op = "open_input_file";
        let key = self.key(path)?;
        let never = CancelToken::never();
        let (size, e_tag) = match listed {
            Some(listed) => listed,
            None => match self.find(op, &key, &never)? {
                Found::File(meta) => (meta.size, meta.e_tag),
                Found::Directory => return Err(self.shared.errno(op, &key, libc::EISDIR)),
                Found::Missing => return Err(self.missing(op, &key, &never)),
            },
        };
        Ok(Arc::new(ObjectFile {
            shared: self.shared.clone(),
            location: loc(&key),
            key,
            size,
            e_tag,
        }))
    }
}

/// The store's location of a key [`ObjectStoreFileSystem::key`] checked:
/// the key as it is (`Key::from` would percent-encode characters other
/// tools keep literally).
fn loc(key: &str) -> Key {
    Key::parse(key).unwrap_or_else(|_| Key::from(key))
}

/// Output-stream metadata as object attributes: the HTTP headers S3 keeps
/// by name, anything else as user metadata (`x-amz-meta-*`).
fn attributes(metadata: Option<&KeyValueMetadata>) -> Attributes {
    let mut out = Attributes::new();
    for (k, v) in metadata.into_iter().flatten() {
        let attribute = match k.to_ascii_lowercase().as_str() {
            "content-type" => Attribute::ContentType,
            "content-encoding" => Attribute::ContentEncoding,
            "content-language" => Attribute::ContentLanguage,
            "content-disposition" => Attribute::ContentDisposition,
            "cache-control" => Attribute::CacheControl,
            _ => Attribute::Metadata(Cow::Owned(k.clone())),
        };
        out.insert(attribute, v.clone().into());
    }
    out
}

impl FileSystem for ObjectStoreFileSystem {
    fn type_name(&self) -> &'static str {
        self.shared.kind
    }

    fn io_context(&self) -> &IoContext {
        &self.ctx
    }

    fn normalize_path(&self, path: &str) -> Result<String> {
        self.key(path)
    }

    fn get_file_info(&self, path: &str) -> Result<FileInfo> {
        let key = self.key(path)?;
        Ok(
            match self.find("get_file_info", &key, &CancelToken::never())? {
                Found::File(meta) => FileInfo {
                    path: path.to_string(),
                    file_type: FileType::File,
                    size: Some(meta.size),
                    mtime: Some(meta.last_modified.into()),
                    version: meta.e_tag.clone(),
                },
                Found::Directory => FileInfo {
                    path: path.to_string(),
                    file_type: FileType::Directory,
                    size: None,
                    mtime: None,
                    version: None,
                },
                Found::Missing => FileInfo::not_found(path),
            },
        )
    }

    fn get_file_info_selector(&self, select: &FileSelector) -> Result<Vec<FileInfo>> {
        let op = "get_file_info";
        let base = &select.base_dir;
        let key = self.key(base)?;
        let never = CancelToken::never();
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        // One listing of everything below: the directories come from the
        // keys, and depth limits apply to what comes back.
        let objects = if select.recursive {
            self.list_below(op, &key, &never)?
        } else {
            let location = (!key.is_empty()).then(|| loc(&key));
            let listed = self.shared.call(op, &key, &never, |store| async move {
                store.list_with_delimiter(location.as_ref()).await
            })?;
            let mut entries: BTreeMap<String, FileInfo> = BTreeMap::new();
            // Anything not below `key/` (the base's own "d/" marker, which
            // object_store lists as `d`) is not an entry.
            for dir in &listed.common_prefixes {
                if let Some(rel) = dir.as_ref().strip_prefix(&prefix).filter(|r| !r.is_empty()) {
                    entries.insert(rel.to_string(), dir_info(join(base, rel)));
                }
            }
            for meta in &listed.objects {
                let Some(rel) = meta.location.as_ref().strip_prefix(&prefix) else {
                    continue;
                };
                // A zero-byte "d/" marker (from other tools) is the directory.
                if !rel.is_empty() && !entries.contains_key(rel) {
                    entries.insert(rel.to_string(), file_info(join(base, rel), meta));
                }
            }
            if entries.is_empty() {
                self.check_listed_base(op, base, &key, select.allow_not_found, &never)?;
            }
            return Ok(entries.into_values().collect());
        };
        let mut entries: BTreeMap<String, FileInfo> = BTreeMap::new();
        let max_depth = u64::from(select.max_recursion);
        for meta in &objects {
            let Some(rel) = meta.location.as_ref().strip_prefix(&prefix) else {
                continue;
            };
            if rel.is_empty() {
                continue;
            }
            let mut depth = 0u64;
            for (i, _) in rel.match_indices('/') {
                if depth <= max_depth {
                    // A directory wins over a zero-byte "d/" marker object.
                    let dir = &rel[..i];
                    entries.insert(dir.to_string(), dir_info(join(base, dir)));
                }
                depth += 1;
            }
            if depth <= max_depth {
                entries
                    .entry(rel.to_string())
                    .or_insert_with(|| file_info(join(base, rel), meta));
            }
        }
        if entries.is_empty() {
            self.check_listed_base(op, base, &key, select.allow_not_found, &never)?;
        }
        let mut out: Vec<FileInfo> = entries.into_values().collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn create_dir(&self, path: &str, _recursive: bool) -> Result<()> {
        let op = "create_dir";
        let key = self.key(path)?;
        let never = CancelToken::never();
        // Nothing is written (directories are implied by keys), but a file
        // at the path or above it is in the way, as on a POSIX file system.
        if let Found::File(_) = self.find(op, &key, &never)? {
            return Err(self.shared.errno(op, &key, libc::EEXIST));
        }
        let mut up = parent(&key);
        while let Some(p) = up.filter(|p| !p.is_empty()) {
            if let Found::File(_) = self.find(op, p, &never)? {
                return Err(self.shared.errno(op, &key, libc::ENOTDIR));
            }
            up = parent(p);
        }
        Ok(())
    }

    fn delete_dir(&self, path: &str, cancel: &CancelToken) -> Result<()> {
        self.delete_tree("delete_dir", path, false, cancel)
    }

    fn delete_dir_contents(
        &self,
        path: &str,
        missing_dir_ok: bool,
        cancel: &CancelToken,
    ) -> Result<()> {
        self.delete_tree("delete_dir_contents", path, missing_dir_ok, cancel)
    }

    fn delete_root_dir_contents(&self, cancel: &CancelToken) -> Result<()> {
        self.delete_below("delete_root_dir_contents", "", cancel)
            .map(|_| ())
    }

    fn delete_file(&self, path: &str) -> Result<()> {
        let op = "delete_file";
        let key = self.key(path)?;
        let never = CancelToken::never();
        match self.find(op, &key, &never)? {
            Found::File(meta) => self.shared.call(op, &key, &never, |store| async move {
                store.delete(&meta.location).await
            }),
            Found::Directory => Err(self.shared.errno(op, &key, libc::EISDIR)),
            Found::Missing => Err(self.missing(op, &key, &never)),
        }
    }

    fn move_path(&self, src: &str, dest: &str) -> Result<()> {
        let op = "move";
        let (from, to) = (self.key(src)?, self.key(dest)?);
        let never = CancelToken::never();
        let (src_url, dest_url) = (self.shared.url(&from), self.shared.url(&to));
        let both = |errno| two_paths(op, Error::errno(op, "", errno), &src_url, &dest_url);
        let meta = match self.find(op, &from, &never)? {
            Found::Missing => return Err(both(libc::ENOENT)),
            Found::Directory => {
                return Err(Error::Unsupported {
                    op,
                    fs: self.shared.kind,
                    path: format!("{src_url} -> {dest_url}"),
                    reason: "an object store has no directories to rename; moving one \
                             copies every object below it, which is left to the caller"
                        .into(),
                })
            }
            Found::File(meta) => meta,
        };
        if from == to {
            return Ok(());
        }
        if let Found::Directory = self.find(op, &to, &never)? {
            return Err(both(libc::EISDIR));
        }
        self.copy_object(op, &meta, &to)?;
        self.shared.call(op, &from, &never, |store| async move {
            store.delete(&meta.location).await
        })
    }

    fn copy_file(&self, src: &str, dest: &str) -> Result<()> {
        let op = "copy_file";
        let (from, to) = (self.key(src)?, self.key(dest)?);
        let never = CancelToken::never();
        let meta = match self.find(op, &from, &never)? {
            Found::File(meta) => meta,
            Found::Directory => return Err(self.shared.errno(op, &from, libc::EISDIR)),
            Found::Missing => return Err(self.missing(op, &from, &never)),
        };
        if from == to {
            return Ok(());
        }
        if let Found::Directory = self.find(op, &to, &never)? {
            return Err(self.shared.errno(op, &to, libc::EISDIR));
        }
        self.copy_object(op, &meta, &to)
    }

    fn copies_server_side(&self) -> bool {
        true
    }

    fn open_input_file(&self, path: &str) -> Result<Arc<dyn RandomAccessFile>> {
        self.open_file(path, None)
    }

    fn read_coalescing(&self) -> CacheOptions {
        CacheOptions::object_store()
    }

    fn open_input_file_info(&self, info: &FileInfo) -> Result<Arc<dyn RandomAccessFile>> {
        match info.size {
            Some(size) if info.is_file() => {
                self.open_file(&info.path, Some((size, info.version.clone())))
            }
            _ => self.open_file(&info.path, None),
        }
    }

    fn open_output_stream(
        &self,
        path: &str,
        metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>> {
        let op = "open_output_stream";
        let key = self.key(path)?;
        if key.is_empty() {
            return Err(self.shared.errno(op, &key, libc::EISDIR));
        }
        if let Found::Directory = self.find(op, &key, &CancelToken::never())? {
            return Err(self.shared.errno(op, &key, libc::EISDIR));
        }
        Ok(Box::new(ObjectWriter::new(
            self.shared.clone(),
            key,
            attributes(metadata),
        )))
    }

    fn open_append_stream(
        &self,
        path: &str,
        _metadata: Option<&KeyValueMetadata>,
    ) -> Result<Box<dyn OutputStream>> {
        Err(Error::Unsupported {
            op: "open_append_stream",
            fs: self.shared.kind,
            path: self.url(path),
            reason: "objects cannot be appended to; write the whole object with \
                     open_output_stream"
                .into(),
        })
    }
}

impl ObjectStoreFileSystem {
    /// Copy the object `meta` describes to `to`: one server-side copy, or,
    /// above S3's 5 GiB CopyObject limit, its bytes through a multipart
    /// upload (reads pinned to its ETag, so a change mid-copy fails).
    fn copy_object(&self, op: &'static str, meta: &ObjectMeta, to: &str) -> Result<()> {
        let never = CancelToken::never();
        let from_url = self.shared.url(meta.location.as_ref());
        let both = |e| {
            store_error(
                op,
                format!("{from_url} -> {}", self.shared.url(to)),
                None,
                e,
            )
        };
        if meta.size <= MAX_SERVER_COPY {
            let (a, b) = (meta.location.clone(), loc(to));
            let store = self.shared.store()?;
            return block_on(op, &never, async move { store.copy(&a, &b).await })?.map_err(both);
        }
        let source = ObjectFile {
            shared: self.shared.clone(),
            key: meta.location.as_ref().to_string(),
            location: meta.location.clone(),
            size: meta.size,
            e_tag: meta.e_tag.clone(),
        };
        let mut out = ObjectWriter::new(self.shared.clone(), to.to_string(), Attributes::new());
        let step = (DEFAULT_PART_SIZE * PARTS_IN_FLIGHT) as u64;
        let mut offset = 0;
        while offset < meta.size {
            let end = (offset + step).min(meta.size);
            let ranges: Vec<_> = (offset..end)
                .step_by(DEFAULT_PART_SIZE)
                .map(|at| at..(at + DEFAULT_PART_SIZE as u64).min(end))
                .collect();
            for part in source.get(&ranges)? {
                out.write(&part)?;
            }
            offset = end;
        }
        out.close()
    }

    /// After an empty listing of `base`: `ENOTDIR` when it is a file,
    /// `ENOENT` when nothing is there (unless `allow_not_found`).
    fn check_listed_base(
        &self,
        op: &'static str,
        base: &str,
        key: &str,
        allow_not_found: bool,
        cancel: &CancelToken,
    ) -> Result<()> {
        if key.is_empty() {
            return Ok(());
        }
        match self.find(op, key, cancel)? {
            Found::File(_) => Err(Error::errno(op, self.shared.url(key), libc::ENOTDIR)),
            Found::Missing if !allow_not_found => {
                Err(Error::errno(op, self.shared.url(key), libc::ENOENT).with_path(base))
            }
            _ => Ok(()),
        }
    }
}

fn dir_info(path: String) -> FileInfo {
    FileInfo {
        path,
        file_type: FileType::Directory,
        size: None,
        mtime: None,
        version: None,
    }
}

fn file_info(path: String, meta: &ObjectMeta) -> FileInfo {
    FileInfo {
        path,
        file_type: FileType::File,
        size: Some(meta.size),
        mtime: Some(meta.last_modified.into()),
        version: meta.e_tag.clone(),
    }
}
