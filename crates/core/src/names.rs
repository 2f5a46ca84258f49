//! Bucket names and object keys, validated before anything touches the
//! filesystem: the store is embedded without the S3 layer too.

use crate::error::{KeyProblem, Result, StoreError};

/// Longest key S3 allows, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest path segment a filesystem allows (NAME_MAX).
pub const MAX_SEGMENT_BYTES: usize = 255;
/// Prefix of the names the store gives its own files inside buckets
/// (temporary files where O_TMPFILE is missing). Keys may not use it.
pub const RESERVED_PREFIX: &str = ".sluice";

/// Whether `name` is a file a network or FUSE filesystem client made of a
/// removed file that is still open on it (NFS's "silly rename" `.nfs` and
/// hex digits, libfuse's `.fuse_hidden` and hex digits): it goes when the
/// file is closed, and is no object.
#[must_use]
pub fn is_silly_rename(name: &str) -> bool {
    let digits = name
        .strip_prefix(".nfs")
        .or_else(|| name.strip_prefix(".fuse_hidden"));
    digits.is_some_and(|d| d.len() >= 8 && d.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A bucket name that follows the S3 naming rules: 3 to 63 characters of
/// lowercase letters, digits, `.` and `-`, starting and ending with a letter
/// or digit, no `..`, not an IPv4 address, none of the reserved prefixes and
/// suffixes. Such a name can never reach the store's own `.sluice` folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketName(String);

impl BucketName {
    /// Validates a bucket name.
    ///
    /// # Errors
    /// [`StoreError::InvalidBucketName`].
    pub fn new(name: &str) -> Result<Self> {
        if is_valid_bucket_name(name) {
            Ok(BucketName(name.to_owned()))
        } else {
            Err(StoreError::InvalidBucketName)
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `name` is a valid S3 bucket name (general purpose buckets).
#[must_use]
pub fn is_valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    let edge_ok = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && edge_ok(b.first())
        && edge_ok(b.last())
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && !is_ipv4(name)
        && !name.starts_with("xn--")
        && !name.starts_with("sthree-")
        && !name.starts_with("amzn-s3-demo-")
        && !name.ends_with("-s3alias")
        && !name.ends_with("--ol-s3")
        && !name.ends_with(".mrap")
        && !name.ends_with("--x-s3")
}

fn is_ipv4(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|c| c.is_ascii_digit()))
}

/// An object key that maps to a path inside its bucket without escaping or
/// aliasing: at most 1024 bytes, no NUL, no empty, `.` or `..` segment (a
/// single trailing `/` marks a directory object), segments of at most 255
/// bytes, none starting with [`RESERVED_PREFIX`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates a key.
    ///
    /// # Errors
    /// [`StoreError::InvalidKey`] with the reason.
    pub fn new(key: &str) -> Result<Self> {
        check_key(key)
            .map(|()| ObjectKey(key.to_owned()))
            .map_err(StoreError::InvalidKey)
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the key names a directory object (ends with `/`).
    #[must_use]
    pub fn is_dir_marker(&self) -> bool {
        self.0.ends_with('/')
    }

    /// The path relative to the bucket directory, without a trailing `/`.
    #[must_use]
    pub fn rel_path(&self) -> &str {
        self.0.strip_suffix('/').unwrap_or(&self.0)
    }

    /// The parent directory path relative to the bucket, if any, and the
    /// last segment.
    #[must_use]
    pub fn split_parent(&self) -> (Option<&str>, &str) {
        match self.rel_path().rsplit_once('/') {
            Some((parent, name)) => (Some(parent), name),
            None => (None, self.rel_path()),
        }
    }
}

fn check_key(key: &str) -> Result<(), KeyProblem> {
    if key.is_empty() {
        return Err(KeyProblem::Empty);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyProblem::TooLong);
    }
    if key.contains('\0') {
        return Err(KeyProblem::Nul);
    }
    let path = key.strip_suffix('/').unwrap_or(key);
    for segment in path.split('/') {
        match segment {
            "" => return Err(KeyProblem::EmptySegment),
            "." | ".." => return Err(KeyProblem::DotSegment),
            s if s.len() > MAX_SEGMENT_BYTES => return Err(KeyProblem::SegmentTooLong),
            s if s.starts_with(RESERVED_PREFIX) => return Err(KeyProblem::Reserved),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silly_renames() {
        for name in [
            ".nfs000000000012345600000001",
            ".fuse_hidden0000001700000002",
        ] {
            assert!(is_silly_rename(name), "{name}");
        }
        for name in [
            ".nfs",
            ".nfsrc",
            ".nfs1234",
            "x.nfs00000000",
            ".fuse_hidden",
            ".env",
        ] {
            assert!(!is_silly_rename(name), "{name}");
        }
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket.2026", "a".repeat(63).as_str(), "1bucket"] {
            assert!(is_valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "a_b",
            "-abc",
            "abc-",
            ".abc",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            ".sluice",
            "a".repeat(64).as_str(),
            "ab c",
            "bücket",
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn keys() {
        for ok in [
            "a",
            "a/b/c.txt",
            "dir/",
            "a b+c~!'()*",
            "ünïcödé/ключ",
            ".hidden",
            "a/.b",
            "...",
            "a/..b",
        ] {
            assert!(ObjectKey::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "a//b",
            "a/./b",
            "a/../b",
            "..",
            ".",
            "../x",
            "a/..",
            "a\0b",
            "//",
            "/",
            ".sluice/x",
            "a/.sluice-tmp-1",
            "dir//",
        ] {
            assert!(ObjectKey::new(bad).is_err(), "{bad:?}");
        }
        assert!(ObjectKey::new(&"a".repeat(1025)).is_err());
        assert!(ObjectKey::new(&format!("{}/b", "a".repeat(256))).is_err());
        let k = ObjectKey::new("a/b/c").unwrap();
        assert_eq!(k.split_parent(), (Some("a/b"), "c"));
        let d = ObjectKey::new("a/b/").unwrap();
        assert!(d.is_dir_marker());
        assert_eq!(d.split_parent(), (Some("a"), "b"));
    }
}
