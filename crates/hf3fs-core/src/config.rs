//! Mount configuration: which names map to which root directories, and which
//! tokens (by SHA-256) may use them with which role.
//!
//! The file is TOML (`$HF3FS_CONFIG`, else `~/.config/hf3fs/config.toml`):
//!
//! ```toml
//! [mounts.prod]
//! root = "/hf3fs-cluster/prod"
//! [[mounts.prod.tokens]]
//! sha256 = "<hex digest of the token>"
//! role = "read"        # read | write | root
//!
//! [io]                   # optional; HF3FS_IO_* variables override it
//! engine = "auto"        # auto | uring | threads
//! threads = 8
//! queue_depth = 64
//! ```
//!
//! With no file there is one embedded mount, `local`, rooted at `$HF3FS_HOME`
//! (default `~/.local/share/hf3fs/local`), created on first use and open to any token.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::engine::EngineOptions;
use crate::error::{Error, Result};

/// Name of the mount that exists when no config file does.
pub const DEFAULT_MOUNT: &str = "local";

/// What a token may do on a mount. Ordered: each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read files and metadata only.
    Read,
    /// Read and modify.
    Write,
    /// Modify, and act as super (`as_super=True`): change ownership freely.
    Root,
}

impl Role {
    /// The role's name as written in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Root => "root",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One accepted token: its SHA-256 digest (lower-case hex) and role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Hex SHA-256 of the token; the token itself is never stored.
    pub sha256: String,
    /// What the token may do.
    pub role: Role,
}

/// One configured mount.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountConfig {
    /// Directory the mount's `/` maps to.
    pub root: PathBuf,
    /// Accepted tokens; `None` means the mount is open to any token with the `write` role.
    pub tokens: Option<Vec<TokenEntry>>,
    /// Create `root` when it does not exist (the embedded default does).
    #[serde(default)]
    pub create: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    mounts: BTreeMap<String, MountConfig>,
    #[serde(default)]
    io: EngineOptions,
}

/// The set of configured mounts, and where they came from.
#[derive(Debug, Clone)]
pub struct Config {
    /// Mounts by name.
    pub mounts: BTreeMap<String, MountConfig>,
    /// The file they were read from; `None` for the embedded default.
    pub source: Option<PathBuf>,
    /// IO engine settings from the `[io]` table (`engine`, `threads`, `queue_depth`).
    pub io: EngineOptions,
}

/// SHA-256 of `token` as lower-case hex, the form tokens are configured in.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `$<var>/hf3fs`, else `~/<under_home>/hf3fs`: the XDG base directories.
fn xdg_dir(var: &str, under_home: &str) -> Option<PathBuf> {
    let base = std::env::var_os(var)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(under_home)))?;
    Some(base.join("hf3fs"))
}

/// Where hf3fs keeps caches: `$XDG_CACHE_HOME/hf3fs` (default `~/.cache/hf3fs`).
pub fn cache_dir() -> Option<PathBuf> {
    xdg_dir("XDG_CACHE_HOME", ".cache")
}

/// The config file path: `$HF3FS_CONFIG`, else `~/.config/hf3fs/config.toml`
/// (honouring `$XDG_CONFIG_HOME`).
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HF3FS_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    Some(xdg_dir("XDG_CONFIG_HOME", ".config")?.join("config.toml"))
}

/// Root of the embedded `local` mount: `$HF3FS_HOME`, else
/// `$XDG_DATA_HOME/hf3fs/local` (default `~/.local/share/hf3fs/local`).
pub fn default_local_root() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("HF3FS_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let base = xdg_dir("XDG_DATA_HOME", ".local/share").ok_or_else(|| {
        Error::invalid(
            "environment variables HF3FS_HOME, HOME",
            "cannot place the embedded 'local' mount: neither is set",
        )
    })?;
    Ok(base.join("local"))
}

impl Config {
    /// Load the configuration from the environment: the config file when it
    /// exists (an explicitly named `$HF3FS_CONFIG` must exist), else the default.
    pub fn load() -> Result<Config> {
        let explicit = std::env::var_os("HF3FS_CONFIG").is_some_and(|p| !p.is_empty());
        match config_path() {
            Some(path) if explicit || path.exists() => Config::from_file(&path),
            _ => Config::embedded_default(),
        }
    }

    /// The embedded default: one mount, `local`, open to any token.
    pub fn embedded_default() -> Result<Config> {
        let mut mounts = BTreeMap::new();
        mounts.insert(
            DEFAULT_MOUNT.to_string(),
            MountConfig {
                root: default_local_root()?,
                tokens: None,
                create: true,
            },
        );
        Ok(Config {
            mounts,
            source: None,
            io: EngineOptions::default(),
        })
    }

    /// Parse a config file.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        Config::from_toml(&text, path)
    }

    /// Parse config text; `path` names the file in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config> {
        let bad = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let file: ConfigFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        file.io
            .check(|field| format!("config file {}: [io] {field}", path.display()))?;
        for (name, mount) in &file.mounts {
            if name.is_empty() || name.contains('/') {
                return Err(bad(format!(
                    "mount name {name:?} must be non-empty and contain no '/'"
                )));
            }
            if !mount.root.is_absolute() {
                return Err(bad(format!(
                    "mounts.{name}.root = {:?} must be an absolute path",
                    mount.root
                )));
            }
            for (i, t) in mount.tokens.iter().flatten().enumerate() {
                let ok = t.sha256.len() == 64 && t.sha256.bytes().all(|b| b.is_ascii_hexdigit());
                if !ok {
                    return Err(bad(format!(
                        "mounts.{name}.tokens[{i}].sha256 must be 64 hex digits (the SHA-256 of the token, not the token)"
                    )));
                }
            }
        }
        Ok(Config {
            mounts: file.mounts,
            source: Some(path.to_path_buf()),
            io: file.io,
        })
    }

    /// Where the configuration came from, for error messages.
    pub fn describe_source(&self) -> String {
        match &self.source {
            Some(p) => p.display().to_string(),
            None => "the embedded default; set HF3FS_CONFIG to configure mounts".to_string(),
        }
    }

    /// Comma-separated mount names, for error messages.
    pub fn known_mounts(&self) -> String {
        if self.mounts.is_empty() {
            return "(none)".to_string();
        }
        self.mounts.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// Look up a mount by name.
    pub fn mount(&self, name: &str) -> Result<&MountConfig> {
        self.mounts.get(name).ok_or_else(|| Error::UnknownMount {
            name: name.to_string(),
            known: self.known_mounts(),
            config: self.describe_source(),
        })
    }

    /// The role `token` has on mount `name`.
    pub fn authorize(&self, name: &str, token: &str) -> Result<Role> {
        let mount = self.mount(name)?;
        let Some(tokens) = &mount.tokens else {
            return Ok(Role::Write);
        };
        let digest = token_digest(token);
        tokens
            .iter()
            .find(|t| t.sha256.eq_ignore_ascii_case(&digest))
            .map(|t| t.role)
            .ok_or_else(|| Error::UnknownToken {
                mount: name.to_string(),
                config: self.describe_source(),
            })
    }

    /// Map a local path under a mount root to `(mount name, server path)`.
    ///
    /// The path is made absolute and its symlinks resolved (as 3FS does with
    /// `realpath`); the longest matching root wins.
    pub fn locate_local_path(&self, path: &Path) -> Result<(String, String)> {
        let resolved = canonicalize_lenient(path);
        let mut best: Option<(&String, PathBuf, usize)> = None;
        for (name, mount) in &self.mounts {
            let root = std::fs::canonicalize(&mount.root).unwrap_or_else(|_| mount.root.clone());
            if let Ok(rest) = resolved.strip_prefix(&root) {
                let depth = root.components().count();
                if best.as_ref().is_none_or(|(_, _, d)| depth > *d) {
                    best = Some((name, rest.to_path_buf(), depth));
                }
            }
        }
        match best {
            Some((name, rest, _)) => {
                let mut server = String::from("/");
                server.push_str(&rest.to_string_lossy());
                Ok((name.clone(), server))
            }
            None => Err(Error::NotOnMount {
                path: path.to_path_buf(),
                known: self
                    .mounts
                    .iter()
                    .map(|(n, m)| format!("{n} -> {}", m.root.display()))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// `realpath` that tolerates a missing tail: resolves the longest existing
/// prefix and appends the rest, so a path to a file not yet created maps too.
fn canonicalize_lenient(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut existing = abs.clone();
    let mut tail = Vec::new();
    loop {
        if let Ok(c) = std::fs::canonicalize(&existing) {
            let mut out = c;
            for part in tail.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                tail.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => return abs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[mounts.prod]
root = "/data/prod"
[[mounts.prod.tokens]]
sha256 = "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3"
role = "read"
[[mounts.prod.tokens]]
sha256 = "B3A8E0E1F9AB1BFE3A36F231F676F78BB30A519D2B21E6C530C0EEE8EBB4A5D0"
role = "root"

[mounts.scratch]
root = "/data/scratch"
"#;

    fn sample() -> Config {
        Config::from_toml(SAMPLE, Path::new("/etc/hf3fs.toml")).unwrap()
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            token_digest("123"),
            "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3"
        );
    }

    #[test]
    fn roles_from_tokens() {
        let c = sample();
        assert_eq!(c.authorize("prod", "123").unwrap(), Role::Read);
        assert_eq!(c.authorize("prod", "456").unwrap(), Role::Root);
        assert!(matches!(
            c.authorize("prod", "789"),
            Err(Error::UnknownToken { .. })
        ));
        assert_eq!(c.authorize("scratch", "anything").unwrap(), Role::Write);
    }

    #[test]
    fn unknown_mount_lists_known() {
        let err = sample().authorize("nope", "x").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("prod, scratch"), "{msg}");
        assert!(msg.contains("/etc/hf3fs.toml"), "{msg}");
    }

    #[test]
    fn rejects_bad_files() {
        let p = Path::new("/x.toml");
        let relative = "[mounts.a]\nroot = \"rel/dir\"\n";
        assert!(Config::from_toml(relative, p)
            .unwrap_err()
            .to_string()
            .contains("absolute"));
        let raw_token = "[mounts.a]\nroot = \"/a\"\n[[mounts.a.tokens]]\nsha256 = \"secret\"\nrole = \"read\"\n";
        assert!(Config::from_toml(raw_token, p)
            .unwrap_err()
            .to_string()
            .contains("64 hex digits"));
        let bad_role = "[mounts.a]\nroot = \"/a\"\n[[mounts.a.tokens]]\nsha256 = \"a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3\"\nrole = \"admin\"\n";
        assert!(Config::from_toml(bad_role, p).is_err());
        assert!(Config::from_toml("[mounts.a]\nrooot = \"/a\"\n", p).is_err());
    }

    #[test]
    fn locates_paths_under_roots() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let text = format!(
            "[mounts.m]\nroot = {:?}\n[mounts.inner]\nroot = {:?}\n",
            root,
            root.join("sub")
        );
        let c = Config::from_toml(&text, Path::new("/c.toml")).unwrap();
        assert_eq!(
            c.locate_local_path(&root.join("a/b")).unwrap(),
            ("m".to_string(), "/a/b".to_string())
        );
        assert_eq!(
            c.locate_local_path(&root.join("sub/x")).unwrap(),
            ("inner".to_string(), "/x".to_string())
        );
        assert_eq!(
            c.locate_local_path(&root).unwrap(),
            ("m".to_string(), "/".to_string())
        );
        assert!(matches!(
            c.locate_local_path(Path::new("/definitely/elsewhere")),
            Err(Error::NotOnMount { .. })
        ));
    }
}
