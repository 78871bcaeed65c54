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
//! files are [`IoClass::Remote`], so the scheduler keeps many in flight.
//! Writes buffer one part, then stream parts of a multipart upload; the
//! object appears whole at `close`, and a stream dropped unclosed leaves
//! nothing behind.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, WriteMultipart,
};

use super::path::{join, normalize_relative, parent};
use super::{
    two_paths, CacheOptions, FileInfo, FileSelector, FileSystem, FileType, IoClass, IoContext,
    KeyValueMetadata, OutputStream, RandomAccessFile,
};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::runtime::net::{block_on, enter};

/// Bytes an output stream buffers before it starts a multipart upload, and
/// the size of each part: S3's smallest part is 5 MiB, and 8 MiB parts keep
/// a 10,000-part upload (S3's limit) good for 80 GB objects.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;

/// Parts one output stream uploads at once: enough to keep a connection's
/// bandwidth busy across round trips while holding at most 64 MiB.
const PARTS_IN_FLIGHT: usize = 8;

/// Where the store comes from: given (in-memory stores in tests), or built
/// once per process from its configuration, since a store's connections
/// belong to the async runtime of the process that made them.
enum StoreSource {
    Fixed(Arc<dyn ObjectStore>),
    PerProcess {
        make: Box<dyn Fn() -> Result<Arc<dyn ObjectStore>> + Send + Sync>,
        slot: Mutex<Option<(u64, Arc<dyn ObjectStore>)>>,
    },
}

/// The state every handle of one file system shares.
struct Shared {
    /// `s3://bucket`: the prefix of every URL in messages.
    url: String,
    /// The `type_name` of the file system (`"s3"`, `"memory"`).
    kind: &'static str,
    source: StoreSource,
}

impl Shared {
    fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        match &self.source {
            StoreSource::Fixed(store) => Ok(store.clone()),
            StoreSource::PerProcess { make, slot } => {
                let generation = crate::fork::generation();
                let mut slot = crate::sync::lock(slot);
                if let Some((_, store)) = slot.as_ref().filter(|(g, _)| *g == generation) {
                    return Ok(store.clone());
                }
                if let Some((_, stale)) = slot.take() {
                    // Its connections belong to the parent's runtime.
                    std::mem::forget(stale);
                }
                let store = make()?;
                *slot = Some((generation, store.clone()));
                Ok(store)
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
        Self::from_source(url, kind, StoreSource::Fixed(store))
    }

    /// A file system over the store `make` builds: once per process (`first`
    /// serves this one when given), again in a forked child.
    pub fn per_process(
        url: &str,
        kind: &'static str,
        first: Option<Arc<dyn ObjectStore>>,
        make: impl Fn() -> Result<Arc<dyn ObjectStore>> + Send + Sync + 'static,
    ) -> Self {
        let generation = crate::fork::generation();
        Self::from_source(
            url,
            kind,
            StoreSource::PerProcess {
                make: Box::new(make),
                slot: Mutex::new(first.map(|store| (generation, store))),
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
        Key::parse(&key).map_err(|e| {
            Error::InvalidArgument(format!("{}: not a valid object key: {e}", self.url(path)))
        })?;
        Ok(key)
    }

    /// Whether `key` is a file (its metadata), a directory, or nothing: the
    /// HEAD and the listing run concurrently, one round trip in all.
    fn find(&self, op: &'static str, key: &str, cancel: &CancelToken) -> Result<Found> {
        if key.is_empty() {
            return Ok(Found::Directory);
        }
        let location = loc(key);
        let (head, below) = self.shared.call(op, key, cancel, |store| async move {
            let head = store.head(&location).await;
            let below = store.list(Some(&location)).next().await;
            Ok((head, below))
        })?;
        match head {
            Ok(meta) => return Ok(Found::File(meta)),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.shared.error(op, key, None, e)),
        }
        match below {
            Some(Ok(_)) => Ok(Found::Directory),
            None | Some(Err(object_store::Error::NotFound { .. })) => Ok(Found::Missing),
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

    /// Every object below `key` (all of the bucket for the root).
    fn list_below(
        &self,
        op: &'static str,
        key: &str,
        cancel: &CancelToken,
    ) -> Result<Vec<ObjectMeta>> {
        let prefix = (!key.is_empty()).then(|| loc(key));
        self.shared.call(op, key, cancel, |store| async move {
            store.list(prefix.as_ref()).try_collect::<Vec<_>>().await
        })
    }

    /// Delete `objects` with the store's bulk delete.
    fn delete_objects(
        &self,
        op: &'static str,
        key: &str,
        objects: Vec<ObjectMeta>,
        cancel: &CancelToken,
    ) -> Result<()> {
        let locations = futures::stream::iter(objects.into_iter().map(|m| Ok(m.location))).boxed();
        self.shared.call(op, key, cancel, |store| async move {
            store
                .delete_stream(locations)
                .try_for_each(|_| futures::future::ready(Ok(())))
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
            return Err(Error::InvalidArgument(format!(
                "{op} {}: refusing to delete the whole bucket; use delete_root_dir_contents",
                self.shared.url("")
            )));
        }
        // Prefixes match whole segments: `d` lists `d/x`, never `dx`.
        let objects = self.list_below(op, &key, cancel)?;
        if objects.is_empty() {
            return match self.find(op, &key, cancel)? {
                Found::File(_) => Err(self.shared.errno(op, &key, libc::ENOTDIR)),
                _ if missing_ok => Ok(()),
                _ => Err(self.missing(op, &key, cancel)),
            };
        }
        self.delete_objects(op, &key, objects, cancel)
    }

    fn open_file(&self, path: &str, size: Option<u64>) -> Result<Arc<dyn RandomAccessFile>> {
        let op = "open_input_file";
        let key = self.key(path)?;
        let never = CancelToken::never();
        let (size, e_tag) = match size {
            Some(size) => (size, None),
            None => match self.find(op, &key, &never)? {
                Found::File(meta) => (meta.size, meta.e_tag),
                Found::Directory => return Err(self.shared.errno(op, &key, libc::EISDIR)),
                Found::Missing => return Err(self.missing(op, &key, &never)),
            },
        };
        Ok(Arc::new(ObjectFile {
            shared: self.shared.clone(),
            url: self.shared.url(&key),
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
                },
                Found::Directory => FileInfo {
                    path: path.to_string(),
                    file_type: FileType::Directory,
                    size: None,
                    mtime: None,
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
            for dir in listed.common_prefixes {
                let rel = dir.as_ref()[prefix.len()..].to_string();
                entries.insert(rel.clone(), dir_info(join(base, &rel)));
            }
            for meta in &listed.objects {
                let rel = &meta.location.as_ref()[prefix.len()..];
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
            let rel = &meta.location.as_ref()[prefix.len()..];
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
        let op = "delete_root_dir_contents";
        let objects = self.list_below(op, "", cancel)?;
        self.delete_objects(op, "", objects, cancel)
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
        match self.find(op, &from, &never)? {
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
            Found::File(_) => {}
        }
        if from == to {
            return Ok(());
        }
        if let Found::Directory = self.find(op, &to, &never)? {
            return Err(both(libc::EISDIR));
        }
        let (a, b) = (loc(&from), loc(&to));
        let store = self.shared.store()?;
        block_on(op, &never, store.rename(&a, &b))?
            .map_err(|e| store_error(op, format!("{src_url} -> {dest_url}"), None, e))
    }

    fn copy_file(&self, src: &str, dest: &str) -> Result<()> {
        let op = "copy_file";
        let (from, to) = (self.key(src)?, self.key(dest)?);
        let never = CancelToken::never();
        match self.find(op, &from, &never)? {
            Found::File(_) => {}
            Found::Directory => return Err(self.shared.errno(op, &from, libc::EISDIR)),
            Found::Missing => return Err(self.missing(op, &from, &never)),
        }
        if from == to {
            return Ok(());
        }
        if let Found::Directory = self.find(op, &to, &never)? {
            return Err(self.shared.errno(op, &to, libc::EISDIR));
        }
        let (a, b) = (loc(&from), loc(&to));
        let (src_url, dest_url) = (self.shared.url(&from), self.shared.url(&to));
        let store = self.shared.store()?;
        block_on(op, &never, store.copy(&a, &b))?
            .map_err(|e| store_error(op, format!("{src_url} -> {dest_url}"), None, e))
    }

    fn open_input_file(&self, path: &str) -> Result<Arc<dyn RandomAccessFile>> {
        self.open_file(path, None)
    }

    fn read_coalescing(&self) -> CacheOptions {
        CacheOptions::object_store()
    }

    fn open_input_file_sized(&self, path: &str, size: u64) -> Result<Arc<dyn RandomAccessFile>> {
        self.open_file(path, Some(size))
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
        Ok(Box::new(ObjectWriter {
            shared: self.shared.clone(),
            location: loc(&key),
            key,
            attributes: attributes(metadata),
            pending: Vec::new(),
            upload: None,
            written: 0,
            closed: false,
        }))
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
    }
}

fn file_info(path: String, meta: &ObjectMeta) -> FileInfo {
    FileInfo {
        path,
        file_type: FileType::File,
        size: Some(meta.size),
        mtime: Some(meta.last_modified.into()),
    }
}

/// An object opened for ranged reads.
struct ObjectFile {
    shared: Arc<Shared>,
    key: String,
    url: String,
    location: Key,
    size: u64,
    /// The ETag seen at open; reads fail if the object changes (unknown when
    /// the file was opened with a size from a listing).
    e_tag: Option<String>,
}

impl std::fmt::Debug for ObjectFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectFile")
            .field("url", &self.url)
            .field("size", &self.size)
            .finish()
    }
}

impl ObjectFile {
    /// The part of `offset..offset + len` inside the object.
    fn clamp(&self, offset: u64, len: usize) -> Range<u64> {
        let start = offset.min(self.size);
        start..offset.saturating_add(len as u64).min(self.size)
    }

    /// One ranged GET per range, all in flight at once.
    fn get(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let op = "read";
        let store = self.shared.store()?;
        let gets = ranges.iter().filter(|r| !r.is_empty()).map(|r| {
            let options = GetOptions {
                range: Some(GetRange::Bounded(r.clone())),
                if_match: self.e_tag.clone(),
                ..GetOptions::default()
            };
            let store = store.clone();
            let r = r.clone();
            async move {
                let got = store.get_opts(&self.location, options).await;
                let bytes = match got {
                    Ok(result) => result.bytes().await,
                    Err(e) => Err(e),
                };
                (r, bytes)
            }
        });
        let fetched = block_on(op, &CancelToken::never(), futures::future::join_all(gets))?;
        let mut fetched = fetched.into_iter();
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            if r.is_empty() {
                out.push(Bytes::new());
                continue;
            }
            let Some((range, got)) = fetched.next() else {
                break;
            };
            let bytes = got.map_err(|e| {
                store_error(op, self.url.clone(), Some((range.start, range.end)), e)
            })?;
            let want = range.end - range.start;
            if bytes.len() as u64 != want {
                return Err(Error::Store {
                    op,
                    url: self.url.clone(),
                    range: Some((range.start, range.end)),
                    errno: libc::EIO,
                    detail: format!(
                        "the store returned {} of {want} bytes: the object is shorter than \
                         the {} bytes it had when opened",
                        bytes.len(),
                        self.size
                    ),
                });
            }
            out.push(bytes);
        }
        Ok(out)
    }
}

impl RandomAccessFile for ObjectFile {
    fn path(&self) -> &str {
        &self.key
    }

    fn size(&self) -> Result<u64> {
        Ok(self.size)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let range = self.clamp(offset, buf.len());
        let bytes = self.get(std::slice::from_ref(&range))?;
        let n = bytes[0].len();
        buf[..n].copy_from_slice(&bytes[0]);
        Ok(n)
    }

    fn read_bytes_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let range = self.clamp(offset, len);
        Ok(self.get(std::slice::from_ref(&range))?.swap_remove(0))
    }

    fn read_many_into(&self, requests: &mut [(u64, &mut [u8])]) -> Result<Vec<usize>> {
        let ranges: Vec<Range<u64>> = requests
            .iter()
            .map(|(offset, buf)| self.clamp(*offset, buf.len()))
            .collect();
        let fetched = self.get(&ranges)?;
        Ok(requests
            .iter_mut()
            .zip(fetched)
            .map(|((_, buf), bytes)| {
                buf[..bytes.len()].copy_from_slice(&bytes);
                bytes.len()
            })
            .collect())
    }

    fn io_class(&self) -> IoClass {
        IoClass::Remote
    }
}

/// An object being written: one part buffered, then a multipart upload.
struct ObjectWriter {
    shared: Arc<Shared>,
    key: String,
    location: Key,
    attributes: Attributes,
    /// Bytes not yet handed to an upload (at most one part).
    pending: Vec<u8>,
    upload: Option<WriteMultipart>,
    written: u64,
    closed: bool,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("url", &self.shared.url(&self.key))
            .field("written", &self.written)
            .finish()
    }
}

impl ObjectWriter {
    fn check_open(&self, op: &'static str) -> Result<()> {
        if self.closed {
            return Err(super::interfaces::closed_error(
                op,
                &self.shared.url(&self.key),
            ));
        }
        Ok(())
    }

    fn fail(&self, op: &'static str, e: object_store::Error) -> Error {
        self.shared.error(op, &self.key, None, e)
    }
}

impl OutputStream for ObjectWriter {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        let op = "write";
        self.check_open(op)?;
        self.written += data.len() as u64;
        let never = CancelToken::never();
        if self.upload.is_none() {
            if self.pending.len() + data.len() < DEFAULT_PART_SIZE {
                self.pending.extend_from_slice(data);
                return Ok(());
            }
            let store = self.shared.store()?;
            let options = PutMultipartOptions::from(self.attributes.clone());
            let upload = block_on(
                op,
                &never,
                store.put_multipart_opts(&self.location, options),
            )?
            .map_err(|e| self.fail(op, e))?;
            let mut multipart = WriteMultipart::new_with_chunk_size(upload, DEFAULT_PART_SIZE);
            let pending = std::mem::take(&mut self.pending);
            enter(|| multipart.write(&pending))?;
            self.upload = Some(multipart);
        }
        let Some(multipart) = self.upload.as_mut() else {
            return Ok(());
        };
        enter(|| multipart.write(data))?;
        block_on(op, &never, multipart.wait_for_capacity(PARTS_IN_FLIGHT))?
            .map_err(|e| self.shared.error(op, &self.key, None, e))
    }

    fn flush(&mut self) -> Result<()> {
        // An object appears whole at close; there is nothing partial to push.
        self.check_open("flush")
    }

    fn tell(&self) -> Result<u64> {
        self.check_open("tell")?;
        Ok(self.written)
    }

    fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let op = "close";
        let never = CancelToken::never();
        match self.upload.take() {
            Some(multipart) => block_on(op, &never, multipart.finish())?
                .map(|_| ())
                .map_err(|e| self.fail(op, e)),
            None => {
                let store = self.shared.store()?;
                let payload = PutPayload::from(std::mem::take(&mut self.pending));
                let options = PutOptions::from(self.attributes.clone());
                block_on(op, &never, store.put_opts(&self.location, payload, options))?
                    .map(|_| ())
                    .map_err(|e| self.fail(op, e))
            }
        }
    }

    fn closed(&self) -> bool {
        self.closed
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        // Unclosed: abort, so no partial object and no stray parts remain.
        if let Some(multipart) = self.upload.take() {
            let _ = block_on("abort", &CancelToken::never(), multipart.abort());
        }
    }
}
