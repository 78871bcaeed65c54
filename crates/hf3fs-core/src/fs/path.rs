//! `/`-separated path helpers shared by the file systems.

use crate::error::{Error, Result};

/// The canonical form of a path relative to a file system's root: no leading,
/// trailing or doubled `/`. `.` components are dropped; `..` is refused, since
/// it could leave the root (the error names `path`).
pub fn normalize_relative(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Error::invalid(
                    format!("path {path:?}"),
                    "'..' is not allowed in file system paths",
                ))
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// `base/name`, without doubling a `/` (an empty `base` is the root).
pub fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// The parent of a normalized relative path (`""` is the root, which has none).
pub fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    Some(path.rfind('/').map_or("", |i| &path[..i]))
}

/// The last component of a path (trailing `/` ignored).
pub fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Whether normalized `descendant` lies strictly below normalized `ancestor`.
pub fn is_below(ancestor: &str, descendant: &str) -> bool {
    if ancestor.is_empty() {
        return !descendant.is_empty();
    }
    descendant.len() > ancestor.len()
        && descendant.starts_with(ancestor)
        && descendant.as_bytes()[ancestor.len()] == b'/'
}

/// Whether a path names the root (`""` or only slashes).
pub fn is_root(path: &str) -> bool {
    path.chars().all(|c| c == '/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize() {
        assert_eq!(normalize_relative("/a//b/./c/").unwrap(), "a/b/c");
        assert_eq!(normalize_relative("").unwrap(), "");
        assert_eq!(normalize_relative("///").unwrap(), "");
        let err = normalize_relative("a/../b").unwrap_err().to_string();
        assert!(err.contains("a/../b"), "{err}");
    }

    #[test]
    fn join_parent_base() {
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("a", "x"), "a/x");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(parent("a/b/c"), Some("a/b"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
        assert_eq!(base_name("a/b/"), "b");
        assert_eq!(base_name("b"), "b");
    }

    #[test]
    fn below() {
        assert!(is_below("a", "a/b"));
        assert!(!is_below("a", "ab"));
        assert!(!is_below("a", "a"));
        assert!(is_below("", "a"));
        assert!(!is_below("", ""));
    }
}
