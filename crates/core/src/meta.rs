//! Object metadata: what is kept in the `user.sluice.meta` xattr, and what
//! is derived for files written over POSIX that have none.

use std::time::SystemTime;

/// Metadata of an object. `headers` holds what the protocol layer wants
/// kept and returned (content type, user metadata, checksums, ...), as
/// lowercase names and values; the store does not interpret them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The ETag without quotes (the MD5 hex of the data, or `hex-N` for
    /// multipart uploads, or a derived tag for files written over POSIX).
    pub etag: String,
    /// Header name/value pairs to keep with the object.
    pub headers: Vec<(String, String)>,
}

impl ObjectMeta {
    /// The value of a kept header.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Serialises as `etag: ...` then one `name: value` line per header.
    /// Names and values cannot contain newlines (HTTP forbids them; the
    /// encoder drops characters that would break the format).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.headers.len() * 32);
        let mut line = |name: &str, value: &str| {
            out.extend(name.bytes().filter(|&b| b != b'\n' && b != b':'));
            out.extend_from_slice(b": ");
            out.extend(value.bytes().filter(|&b| b != b'\n'));
            out.push(b'\n');
        };
        line("etag", &self.etag);
        for (n, v) in &self.headers {
            line(n, v);
        }
        out
    }

    /// Parses [`ObjectMeta::encode`]'s format; None when it is not that.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        let etag = lines.next()?.strip_prefix("etag: ")?.to_owned();
        let headers = lines
            .map(|l| {
                l.split_once(": ")
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ObjectMeta { etag, headers })
    }
}

/// An ETag for a file that has no stored metadata (written over POSIX):
/// a hash of inode, size and modification time, so it changes when the file
/// does. It carries a `-1` suffix, the form of a multipart ETag, so clients
/// do not mistake it for the MD5 of the content and fail a check.
#[must_use]
pub fn derived_etag(ino: u64, size: u64, mtime: SystemTime) -> String {
    use md5::Digest as _;
    let nanos = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = md5::Md5::new();
    h.update(ino.to_le_bytes());
    h.update(size.to_le_bytes());
    h.update(nanos.to_le_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(34);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out.push_str("-1");
    out
}

/// A content type from a file name's extension, for files with no stored
/// metadata; `application/octet-stream` when unknown.
#[must_use]
pub fn guess_content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" | "text" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "md" => "text/markdown",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "yaml" | "yml" => "application/yaml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "zst" => "application/zstd",
        "bz2" => "application/x-bzip2",
        "xz" => "application/x-xz",
        "parquet" => "application/vnd.apache.parquet",
        "wasm" => "application/wasm",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "ico" => "image/vnd.microsoft.icon",
        "tif" | "tiff" => "image/tiff",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "mkv" => "video/x-matroska",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trip() {
        let m = ObjectMeta {
            etag: "abc".into(),
            headers: vec![
                ("content-type".into(), "text/plain".into()),
                ("x-amz-meta-a".into(), "x: y".into()),
            ],
        };
        assert_eq!(ObjectMeta::decode(&m.encode()), Some(m.clone()));
        assert_eq!(m.header("content-type"), Some("text/plain"));
        assert_eq!(ObjectMeta::decode(b"garbage"), None);
    }

    #[test]
    fn derived_values() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let a = derived_etag(1, 10, t);
        assert!(a.ends_with("-1") && a.len() == 34);
        assert_ne!(a, derived_etag(1, 11, t));
        assert_eq!(guess_content_type("a/b.JPG"), "image/jpeg");
        assert_eq!(guess_content_type("noext"), "application/octet-stream");
    }
}
