//! Which files a dataset source names: a file, a directory (searched
//! recursively), a glob, or a list of those, on any file system the IO layer
//! opens (`hf3fs://`, `s3://`, `file://`, local paths).

use std::sync::Arc;

use bytes::Bytes;

use hf3fs_core::fs::{
    filesystem_from_uri, parse_uri, BufferReader, FileInfo, FileSelector, FileSystem,
    Hf3fsFileSystem, RandomAccessFile, UriOptions,
};
use hf3fs_core::{CancelToken, Client};

use crate::error::{Error, Result};
use crate::index::DEFAULT_INDEX_THREADS;
use crate::parallel::try_map_io;
use crate::retry::{with_retries, DEFAULT_IO_RETRIES};

/// The file names a directory listing keeps: what Parquet writers
/// (pyarrow, Spark, polars, DuckDB) name their files.
const PARQUET_SUFFIXES: &[&str] = &[".parquet", ".parq", ".pq"];

/// One Parquet file of a dataset.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// How errors and `files` name it (the user's URI style).
    pub display: String,
    /// The file system it lives on.
    pub fs: Arc<dyn FileSystem>,
    /// Its path on `fs`.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, when the listing has one (footer cache keys).
    pub mtime: Option<std::time::SystemTime>,
    /// Its version (an object's ETag), when the listing has one: reads are
    /// pinned to it, and footer cache keys include it.
    pub version: Option<String>,
    /// The whole file, when the index's footer read brought all of it (small
    /// files): reads are served from memory instead of the store.
    pub contents: Option<Bytes>,
}

impl SourceFile {
    /// What the listing said of the file.
    pub fn info(&self) -> FileInfo {
        FileInfo {
            path: self.path.clone(),
            file_type: hf3fs_core::fs::FileType::File,
            size: Some(self.size),
            mtime: self.mtime,
            version: self.version.clone(),
        }
    }

    /// Open the file for reading, retrying transient errors until `cancel`
    /// fires.
    pub fn open(&self, cancel: &CancelToken) -> hf3fs_core::Result<Arc<dyn RandomAccessFile>> {
        if let Some(contents) = &self.contents {
            return Ok(Arc::new(BufferReader::named(contents.clone(), &self.path)));
        }
        // The size came from the listing: object stores skip a HEAD request.
        with_retries(DEFAULT_IO_RETRIES, cancel, || {
            self.fs.open_input_file_info(&self.info())
        })
    }
}

/// How sources are opened.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// Token and client options for `hf3fs://` URIs.
    pub uri: UriOptions,
    /// When set, plain paths are paths on this client's mount.
    pub client: Option<Arc<Client>>,
    /// When set, every source is a path on this file system (tests, latency
    /// injection); it takes precedence over `client`.
    pub filesystem: Option<Arc<dyn FileSystem>>,
}

/// The Parquet files `sources` name, in order: each source's files sorted by
/// path, duplicates removed. Sources are looked up many at a time on the
/// runtime's file system pool (a list of 10,000 paths on a network mount is
/// 10,000 round trips); gives up when `cancel` fires.
pub fn resolve_sources(
    sources: &[String],
    options: &SourceOptions,
    cancel: &CancelToken,
) -> Result<Vec<SourceFile>> {
    if sources.is_empty() {
        return Err(Error::invalid("source", "no paths given"));
    }
    let options = options.clone();
    let resolved = try_map_io(
        sources.to_vec(),
        DEFAULT_INDEX_THREADS,
        "resolving the dataset's paths",
        cancel,
        |_| {},
        move |source, _| resolve_one(&source, &options),
    )?;
    let mut files: Vec<SourceFile> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for found in resolved {
        for file in found {
            if seen.insert(file.display.clone()) {
                files.push(file);
            }
        }
    }
    Ok(files)
}

fn open(source: &str, options: &SourceOptions) -> Result<(Arc<dyn FileSystem>, String, String)> {
    let io = |e| Error::io(source, None, e);
    if let Some(fs) = &options.filesystem {
        let path = fs.normalize_path(source).map_err(io)?;
        return Ok((fs.clone(), path, String::new()));
    }
    if let (Some(client), false) = (&options.client, source.contains("://")) {
        let fs: Arc<dyn FileSystem> = Arc::new(Hf3fsFileSystem::new(client.clone()));
        let path = fs.normalize_path(source).map_err(io)?;
        return Ok((fs, path, format!("hf3fs://{}/", client.mount_name())));
    }
    let (fs, path) = filesystem_from_uri(source, &options.uri).map_err(io)?;
    let prefix = parse_uri(source)
        .map_err(io)?
        .map(|parsed| parsed.display_prefix())
        .unwrap_or_default();
    Ok((fs, path, prefix))
}

fn resolve_one(source: &str, options: &SourceOptions) -> Result<Vec<SourceFile>> {
    let (fs, path, prefix) = open(source, options)?;
    let make = |info: &FileInfo| SourceFile {
        display: format!("{prefix}{}", info.path),
        fs: fs.clone(),
        path: info.path.clone(),
        size: info.size.unwrap_or(0),
        mtime: info.mtime,
        version: info.version.clone(),
        contents: None,
    };
    if let Some(glob_at) = path.find(['*', '?', '[', '{']) {
        let glob = compile_glob(&path, source)?;
        let base = path[..glob_at].rfind('/').map(|i| &path[..i]).unwrap_or("");
        let base = if base.is_empty() && path.starts_with('/') {
            "/"
        } else {
            base
        };
        let selector = FileSelector::new(base).recursive().allow_not_found();
        let infos = fs
            .get_file_info_selector(&selector)
            .map_err(|e| Error::io(source, None, e))?;
        let matched: Vec<SourceFile> = infos
            .iter()
            .filter(|i| i.is_file() && glob.is_match(&i.path))
            .map(make)
            .collect();
        if matched.is_empty() {
            return Err(Error::NoFiles {
                source_path: source.to_string(),
                reason: "the pattern matches no file".into(),
            });
        }
        return Ok(matched);
    }
    // A directory is listed straight away: on remote storage every call is
    // a round trip, and asking what the path is first would cost one more.
    let listing = if has_data_suffix(&path) {
        None
    } else {
        match fs.get_file_info_selector(&FileSelector::new(path.clone()).recursive()) {
            Ok(infos) => Some(infos),
            Err(e) if matches!(e.raw_errno(), Some(libc::ENOTDIR | libc::ENOENT)) => None,
            Err(e) => return Err(Error::io(source, None, e)),
        }
    };
    let infos = match listing {
        Some(infos) => infos,
        None => {
            let info = fs
                .get_file_info(&path)
                .map_err(|e| Error::io(source, None, e))?;
            if info.is_file() {
                return Ok(vec![make(&info)]);
            }
            if !info.is_dir() {
                return Err(Error::io(
                    source,
                    None,
                    hf3fs_core::Error::errno("open", source, libc::ENOENT),
                ));
            }
            fs.get_file_info_selector(&FileSelector::new(path.clone()).recursive())
                .map_err(|e| Error::io(source, None, e))?
        }
    };
    let base_len = path.trim_end_matches('/').len();
    let found: Vec<SourceFile> = infos
        .iter()
        .filter(|i| i.is_file() && is_data_file(&i.path[base_len.min(i.path.len())..]))
        .map(make)
        .collect();
    if found.is_empty() {
        return Err(Error::NoFiles {
            source_path: source.to_string(),
            reason: format!(
                "the directory holds no Parquet files (names ending in {})",
                PARQUET_SUFFIXES.join(", ")
            ),
        });
    }
    Ok(found)
}

/// Whether a path ends in a Parquet suffix.
fn has_data_suffix(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    PARQUET_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// A file below a dataset directory that holds data: a Parquet suffix and no
/// hidden (`.`) or metadata (`_`, as in `_SUCCESS`, `_metadata`) component.
fn is_data_file(relative: &str) -> bool {
    let hidden = relative
        .split('/')
        .any(|c| c.starts_with('.') || c.starts_with('_'));
    !hidden && has_data_suffix(relative)
}

/// A source's glob: shell-style over the whole path, `*`, `?` and classes
/// (`[abc]`, `[a-z]`, `[!a]`) within one component, `**` across components,
/// `{a,b}` alternatives. An unclosed `[` is a literal.
fn compile_glob(pattern: &str, source: &str) -> Result<globset::GlobMatcher> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(false)
        .allow_unclosed_class(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|e| Error::invalid("source", format!("{source}: not a valid glob: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        let glob_match = |pattern: &str, path: &str| {
            compile_glob(pattern, pattern)
                .map(|g| g.is_match(path))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert!(glob_match("/d/*.parquet", "/d/a.parquet"));
        assert!(!glob_match("/d/*.parquet", "/d/x/a.parquet"));
        assert!(glob_match("/d/**/*.parquet", "/d/x/y/a.parquet"));
        assert!(glob_match("/d/**/*.parquet", "/d/a.parquet"));
        assert!(glob_match("/d/part-?.pq", "/d/part-1.pq"));
        assert!(!glob_match("/d/part-?.pq", "/d/part-12.pq"));
        assert!(glob_match("/d/part-[0-3].pq", "/d/part-2.pq"));
        assert!(!glob_match("/d/part-[!0-3].pq", "/d/part-2.pq"));
        assert!(glob_match("d/**", "d/a/b"));
        assert!(glob_match("/d/{train,val}-*.pq", "/d/val-3.pq"));
        assert!(!glob_match("/d/{train,val}-*.pq", "/d/test-3.pq"));
        assert!(glob_match("/d/[x.pq", "/d/[x.pq"));
        assert!(compile_glob("/d/[z-a].pq", "src").is_err());
    }

    #[test]
    fn directory_listings_skip_hidden_and_metadata_files() {
        assert!(is_data_file("/a/part-0.parquet"));
        assert!(is_data_file("/year=2024/part-0.PQ"));
        assert!(!is_data_file("/_SUCCESS"));
        assert!(!is_data_file("/_metadata"));
        assert!(!is_data_file("/.tmp/part-0.parquet"));
        assert!(!is_data_file("/README.md"));
    }
}
