//! Picking a file system from a URI (Arrow's `FileSystemFromUri`), with one
//! file system per (scheme, mount, credentials) for the whole process: a
//! dataset of 10,000 paths on one mount shares one client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

#[cfg(feature = "s3")]
use super::s3::{connect, S3Settings};
use super::storage_options::{redacted, StorageOptions};
use super::{FileSystem, Hf3fsFileSystem, LocalFileSystem, MockFileSystem};
use crate::config::{Config, Role};
use crate::engine::EngineOptions;
use crate::error::{Error, Result};
use crate::resolve::ResolveMode;
use crate::sync::{lock, PerProcess};
use crate::{Client, ClientOptions};

/// What makes two resolved file systems the same: the mount as configured
/// now (a changed config file makes a new client), the token and its role,
/// and the client options.
// No Debug: it holds tokens and credentials.
#[derive(Clone, PartialEq, Eq, Hash)]
enum FsKey {
    Mount {
        name: String,
        root: PathBuf,
        create: bool,
        token: String,
        role: Role,
        as_super: bool,
        resolve_mode: Option<ResolveMode>,
        io: EngineOptions,
    },
    Local {
        io: EngineOptions,
    },
    #[cfg(feature = "s3")]
    S3(S3Settings),
}

/// Distinct file systems kept; beyond it the cache starts over (a process
/// rarely talks to more than a few mounts, and each entry holds a root fd).
const MAX_CACHED_FILESYSTEMS: usize = 64;

/// The cached file system for `key`, made by `make` on a miss.
fn cached(
    key: FsKey,
    make: impl FnOnce() -> Result<Arc<dyn FileSystem>>,
) -> Result<Arc<dyn FileSystem>> {
    type Cache = Arc<Mutex<HashMap<FsKey, Arc<dyn FileSystem>>>>;
    // A forked child starts with an empty map: the inherited clients' locks
    // may have been held by parent threads at the fork.
    static CACHE: PerProcess<Cache> = PerProcess::new();
    CACHE.guard_across_fork();
    let cache = CACHE.get_or_init(Cache::default, std::mem::forget);
    if let Some(fs) = lock(&cache).get(&key) {
        return Ok(fs.clone());
    }
    // Made outside the lock: opening a mount root may wait on the network
    // (two threads missing at once both connect; one result is kept).
    let fs = make()?;
    let mut map = lock(&cache);
    if map.len() >= MAX_CACHED_FILESYSTEMS {
        map.clear();
    }
    Ok(map.entry(key).or_insert(fs).clone())
}

/// The shared file system of `mount` for `token`.
fn mount_filesystem(
    mount: &str,
    token: &str,
    options: &ClientOptions,
) -> Result<Arc<dyn FileSystem>> {
    let config = Config::load()?;
    let mount_config = config.mount(mount)?;
    let key = FsKey::Mount {
        name: mount.to_string(),
        root: mount_config.root.clone(),
        create: mount_config.create,
        token: token.to_string(),
        role: config.authorize(mount, token)?,
        as_super: options.as_super,
        resolve_mode: options.resolve_mode,
        io: options.io.or(EngineOptions::from_env()?).or(config.io),
    };
    cached(key, || {
        let client = Client::connect(&config, mount, token, options)?;
        Ok(Arc::new(Hf3fsFileSystem::new(Arc::new(client))))
    })
}

/// How [`filesystem_from_uri`] connects to a mount.
#[derive(Clone, Default)]
pub struct UriOptions {
    /// The token for `hf3fs://` mounts; default `$HF3FS_TOKEN`, else empty
    /// (accepted by mounts that list no tokens), as for the default client.
    pub token: Option<String>,
    /// Options for the client of an `hf3fs://` mount.
    pub client: ClientOptions,
    /// How to reach an `s3://` bucket (over the `AWS_*` environment).
    pub storage_options: StorageOptions,
}

impl std::fmt::Debug for UriOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options: Vec<(String, String)> = self
            .storage_options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        f.debug_struct("UriOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("client", &self.client)
            .field("storage_options", &redacted(&options))
            .finish()
    }
}

fn invalid(uri: &str, reason: impl Into<String>) -> Error {
    Error::InvalidUri {
        uri: uri.to_string(),
        reason: reason.into(),
    }
}

/// Decode `%XX` escapes; a malformed escape is an error naming the URI.
fn percent_decode(uri: &str, s: &str) -> Result<String> {
    // percent-encoding passes a bad escape through as it is: refuse it instead.
    let bytes = s.as_bytes();
    let malformed = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return Err(invalid(uri, "malformed %-escape"));
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| invalid(uri, "%-escapes do not decode to UTF-8"))
}

/// The schemes [`filesystem_from_uri`] opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `hf3fs://<mount>/<path>`
    Hf3fs,
    /// `file:///<path>`
    File,
    /// `s3://<bucket>/<key>`
    S3,
    /// `mock://<path>`
    Mock,
}

/// A URI split once, the one place URIs are parsed: its scheme, its
/// authority (the mount, the bucket; empty for `file` and `mock`), and its
/// path, %-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUri {
    /// The scheme.
    pub scheme: Scheme,
    /// The mount (`hf3fs`) or bucket (`s3`); empty otherwise.
    pub authority: String,
    /// The path inside the file system, %-decoded.
    pub path: String,
}

impl ParsedUri {
    /// How the files of this URI's file system are named for users:
    /// `hf3fs://<mount>/`, `s3://<bucket>/` or `mock://` before their path,
    /// nothing for local files.
    pub fn display_prefix(&self) -> String {
        match self.scheme {
            Scheme::Hf3fs => format!("hf3fs://{}/", self.authority),
            Scheme::S3 => format!("s3://{}/", self.authority),
            Scheme::Mock => "mock://".to_string(),
            Scheme::File => String::new(),
        }
    }
}

/// `uri` split into scheme, authority and decoded path; None for a plain
/// path (which is local, and never %-decoded).
pub fn parse_uri(uri: &str) -> Result<Option<ParsedUri>> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Ok(None);
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Ok(None);
    }
    let named = |scheme, authority: &str, path: &str| -> Result<Option<ParsedUri>> {
        Ok(Some(ParsedUri {
            scheme,
            authority: authority.to_string(),
            path: percent_decode(uri, path)?,
        }))
    };
    match scheme.to_ascii_lowercase().as_str() {
        "hf3fs" => {
            let (mount, path) = rest.split_once('/').unwrap_or((rest, ""));
            if mount.is_empty() {
                return Err(invalid(
                    uri,
                    "an hf3fs URI names a mount: hf3fs://<mount>/<path>",
                ));
            }
            named(Scheme::Hf3fs, mount, path)
        }
        "file" => {
            let (host, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            if !host.is_empty() && host != "localhost" {
                return Err(invalid(
                    uri,
                    format!("file URIs name this machine (file:///<path>), not host {host:?}"),
                ));
            }
            named(Scheme::File, "", path)
        }
        "s3" => {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid(
                    uri,
                    "an s3 URI names a bucket: s3://<bucket>/<key>",
                ));
            }
            named(Scheme::S3, bucket, key)
        }
        "mock" => named(Scheme::Mock, "", rest),
        other => Err(invalid(
            uri,
            format!(
                "unsupported scheme {other:?}; supported: hf3fs://<mount>/<path>, \
                 s3://<bucket>/<key>, file:///<path>, mock://<path>, or a local path"
            ),
        )),
    }
}

/// The file system a URI names, and the path inside it.
///
/// - `hf3fs://<mount>/<path>`: a configured mount, through the process's
///   [`Client`] of that mount and token; the path is relative to the mount root.
/// - `file:///<path>` and plain paths (relative ones against the current
///   directory): the process's local file system, with an absolute path.
/// - `s3://<bucket>/<key>` (the `s3` feature): the process's `ObjectStoreFileSystem`
///   of that bucket and configuration ([`UriOptions::storage_options`] over
///   the `AWS_*` environment); the path is the key. The first use checks
///   that the bucket exists and the credentials are accepted.
/// - `mock://<path>`: a new, empty [`MockFileSystem`].
///
/// Any other scheme is an error that lists the supported ones.
pub fn filesystem_from_uri(
    uri: &str,
    options: &UriOptions,
) -> Result<(Arc<dyn FileSystem>, String)> {
    let Some(parsed) = parse_uri(uri)? else {
        return local(uri, uri);
    };
    match parsed.scheme {
        Scheme::Hf3fs => {
            let token = match &options.token {
                Some(t) => t.clone(),
                None => std::env::var("HF3FS_TOKEN").unwrap_or_default(),
            };
            let fs = mount_filesystem(&parsed.authority, &token, &options.client)?;
            let path = fs.normalize_path(&parsed.path)?;
            Ok((fs, path))
        }
        Scheme::File => local(uri, &parsed.path),
        #[cfg(feature = "s3")]
        Scheme::S3 => {
            let settings = S3Settings::resolve(&parsed.authority, &options.storage_options)?;
            let fs = cached(FsKey::S3(settings.clone()), || {
                Ok(Arc::new(connect(&settings)?))
            })?;
            let path = fs.normalize_path(&parsed.path)?;
            Ok((fs, path))
        }
        #[cfg(not(feature = "s3"))]
        Scheme::S3 => Err(invalid(
            uri,
            "this build of hf3fs has no s3:// support (built without the `s3` feature, \
             as `make demo` does); `make wheel` or `pip install .` builds it",
        )),
        Scheme::Mock => {
            let fs: Arc<dyn FileSystem> = Arc::new(MockFileSystem::new(SystemTime::now()));
            let path = fs.normalize_path(&parsed.path)?;
            Ok((fs, path))
        }
    }
}

fn local(uri: &str, path: &str) -> Result<(Arc<dyn FileSystem>, String)> {
    if path.is_empty() {
        return Err(invalid(uri, "empty path"));
    }
    let absolute = if path.starts_with('/') {
        path.to_string()
    } else {
        let cwd =
            std::env::current_dir().map_err(|e| Error::os_nopath("getcwd", e).with_path(path))?;
        cwd.join(path).to_string_lossy().into_owned()
    };
    let io = EngineOptions::from_env()?;
    let fs = cached(FsKey::Local { io }, || {
        Ok(Arc::new(LocalFileSystem::new()?))
    })?;
    let normalized = fs.normalize_path(&absolute)?;
    Ok((fs, normalized))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "s3"))]
    #[test]
    fn s3_uris_name_the_missing_feature() {
        let e = filesystem_from_uri("s3://bucket/key", &UriOptions::default()).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("s3://bucket/key"), "{text}");
        assert!(text.contains("`s3` feature"), "{text}");
    }

    #[test]
    fn schemes() {
        let o = UriOptions::default();
        let (fs, p) = filesystem_from_uri("file:///tmp//x/", &o).unwrap();
        assert_eq!((fs.type_name(), p.as_str()), ("local", "/tmp/x"));
        let (fs, p) = filesystem_from_uri("/tmp/a%20b", &o).unwrap();
        assert_eq!((fs.type_name(), p.as_str()), ("local", "/tmp/a%20b"));
        let (fs, p) = filesystem_from_uri("file:///tmp/a%20b", &o).unwrap();
        assert_eq!((fs.type_name(), p.as_str()), ("local", "/tmp/a b"));
        let (fs, p) = filesystem_from_uri("mock://a/b", &o).unwrap();
        assert_eq!((fs.type_name(), p.as_str()), ("mock", "a/b"));
        let (fs, p) = filesystem_from_uri("rel/x", &o).unwrap();
        assert_eq!(fs.type_name(), "local");
        assert!(p.starts_with('/') && p.ends_with("/rel/x"), "{p}");
    }

    #[test]
    fn one_filesystem_serves_every_path_of_a_scheme() {
        let o = UriOptions::default();
        let (a, _) = filesystem_from_uri("/tmp/a", &o).unwrap();
        let (b, _) = filesystem_from_uri("file:///tmp/b", &o).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let (m1, _) = filesystem_from_uri("mock://x", &o).unwrap();
        let (m2, _) = filesystem_from_uri("mock://x", &o).unwrap();
        assert!(
            !Arc::ptr_eq(&m1, &m2),
            "each mock:// is a new, empty file system"
        );
    }

    #[test]
    fn bad_uris_say_why() {
        let o = UriOptions::default();
        let e = filesystem_from_uri("gs://bucket/key", &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("gs") && e.contains("s3://") && e.contains("mock://"),
            "{e}"
        );
        let e = filesystem_from_uri("s3:///key", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("names a bucket"), "{e}");
        let e = filesystem_from_uri("hf3fs:///x", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("names a mount"), "{e}");
        let e = filesystem_from_uri("file://otherhost/x", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("otherhost"), "{e}");
        let e = filesystem_from_uri("file:///x%zz", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("escape"), "{e}");
        let e = filesystem_from_uri("file:///x%2", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("escape"), "{e}");
    }

    #[test]
    fn uris_parse_once_with_their_display_prefix() {
        let parsed = |uri: &str| parse_uri(uri).unwrap().unwrap();
        let p = parsed("s3://b/a%20b/c.pq");
        assert_eq!(
            (p.scheme, p.authority.as_str(), p.path.as_str()),
            (Scheme::S3, "b", "a b/c.pq")
        );
        assert_eq!(p.display_prefix(), "s3://b/");
        let p = parsed("HF3FS://m/x%2Fy");
        assert_eq!((p.scheme, p.path.as_str()), (Scheme::Hf3fs, "x/y"));
        assert_eq!(p.display_prefix(), "hf3fs://m/");
        assert_eq!(parsed("mock://a/b").display_prefix(), "mock://");
        assert_eq!(parsed("file://localhost/t").path, "/t");
        assert_eq!(parse_uri("/plain/a%20b").unwrap(), None);
        assert_eq!(parse_uri("c:/x").unwrap(), None);
    }
}
