//! Object metadata: what is kept in the `user.sluice.meta` xattr, and what
//! is derived for files written over POSIX that have none.

use std::time::SystemTime;

use sluice_http::{hex_decode_array, hex_encode, hex_encode_into};

/// A kept header holding the size of an object whose bytes are stored in
/// another form (encrypted, longer than the plaintext): listings give it as
/// the object's size. The file's own length stays what readers read.
pub const SIZE_HEADER: &str = "x-sluice-size";

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

    /// Serialises compactly, so that the metadata of a typical object fits
    /// in the inode (ext4 keeps about 60 bytes of xattr value there; beyond
    /// that every object costs an extra block to allocate, write and sync):
    ///
    /// - byte 0 is 1 followed by the 16 bytes of an MD5 ETag (32 lowercase
    ///   hex digits), or 2 followed by any other ETag and `\n`;
    /// - then one line per header: a byte below 0x20 naming a common
    ///   header ([`COMMON_HEADERS`]) or `name:`, then the value and `\n`.
    ///
    /// Names and values cannot contain newlines (HTTP forbids them; the
    /// encoder drops characters that would break the format). [`Self::decode`]
    /// also reads the older `etag: ...` text form.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.headers.len() * 32);
        match md5_bytes(&self.etag) {
            Some(raw) => {
                out.push(1);
                out.extend_from_slice(&raw);
            }
            None => {
                out.push(2);
                out.extend(self.etag.bytes().filter(|&b| b != b'\n'));
                out.push(b'\n');
            }
        }
        for (n, v) in &self.headers {
            match COMMON_HEADERS.iter().position(|c| c == n) {
                Some(i) => out.push(FIRST_CODE + i as u8),
                None => {
                    out.extend(n.bytes().filter(|&b| b != b'\n' && b != b':'));
                    out.push(b':');
                }
            }
            out.extend(v.bytes().filter(|&b| b != b'\n'));
            out.push(b'\n');
        }
        out
    }

    /// Parses [`ObjectMeta::encode`]'s format (or the older text form);
    /// None when it is neither.
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"etag: ") {
            return Self::decode_text(bytes);
        }
        let (etag, rest) = match bytes.split_first()? {
            (1, rest) if rest.len() >= 16 => (hex_encode(&rest[..16]), &rest[16..]),
            (2, rest) => {
                let end = rest.iter().position(|&b| b == b'\n')?;
                (
                    std::str::from_utf8(&rest[..end]).ok()?.to_owned(),
                    &rest[end + 1..],
                )
            }
            _ => return None,
        };
        let text = std::str::from_utf8(rest).ok()?;
        let mut headers = Vec::new();
        for line in text.split_terminator('\n') {
            let first = *line.as_bytes().first()?;
            if first < 0x20 {
                let name = COMMON_HEADERS.get(usize::from(first.checked_sub(FIRST_CODE)?))?;
                headers.push(((*name).to_owned(), line[1..].to_owned()));
            } else {
                let (n, v) = line.split_once(':')?;
                headers.push((n.to_owned(), v.to_owned()));
            }
        }
        Some(ObjectMeta { etag, headers })
    }

    /// The size kept in [`SIZE_HEADER`] (of an object stored in another
    /// form), when there is one.
    #[must_use]
    pub fn stored_size(&self) -> Option<u64> {
        self.header(SIZE_HEADER).and_then(|v| v.parse().ok())
    }

    /// The ETag and the [`SIZE_HEADER`] size of [`ObjectMeta::decode`]'s
    /// input (what a listing needs), building the headers only when the
    /// size header may be there.
    #[must_use]
    pub fn decode_listing(bytes: &[u8]) -> Option<(String, Option<u64>)> {
        let name = SIZE_HEADER.as_bytes();
        if bytes.windows(name.len()).any(|w| w == name) {
            let meta = Self::decode(bytes)?;
            let size = meta.stored_size();
            return Some((meta.etag, size));
        }
        Self::decode_etag(bytes).map(|e| (e, None))
    }

    /// Only the ETag of [`ObjectMeta::decode`]'s input (what a listing
    /// needs), without building the headers.
    #[must_use]
    pub fn decode_etag(bytes: &[u8]) -> Option<String> {
        match bytes.split_first()? {
            (1, rest) if rest.len() >= 16 => Some(hex_encode(&rest[..16])),
            _ => Self::decode(bytes).map(|m| m.etag),
        }
    }

    fn decode_text(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        let etag = lines.next()?.strip_prefix("etag: ")?.to_owned();
        // A name is a header token (visible ASCII, no colon), as in the
        // binary form: a record naming anything else is not one of ours
        // (fuzzing found such a name re-encoded as another header).
        let headers = lines
            .map(|l| {
                l.split_once(": ")
                    .filter(|(n, _)| {
                        !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                    })
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ObjectMeta { etag, headers })
    }
}

/// Headers stored as one byte in [`ObjectMeta::encode`]: the code of
/// `COMMON_HEADERS[i]` is `FIRST_CODE + i`. Append only: stored objects
/// carry these codes.
pub const COMMON_HEADERS: [&str; 16] = [
    "content-type",
    "content-encoding",
    "content-language",
    "content-disposition",
    "cache-control",
    "expires",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-checksum-type",
    "x-sluice-part-sizes",
    "x-amz-tagging",
    "x-amz-website-redirect-location",
    "x-amz-storage-class",
];
const FIRST_CODE: u8 = 0x10;

/// The 16 bytes of an ETag that is an MD5 in lowercase hex. Any other
/// ETag is kept as text, so that it reads back as it was written.
fn md5_bytes(etag: &str) -> Option<[u8; 16]> {
    let b = etag.as_bytes();
    if b.iter().any(u8::is_ascii_uppercase) {
        return None;
    }
    hex_decode_array(b)
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
    hex_encode_into(&digest, &mut out);
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

    /// Found by the core_records fuzz target: a hand-written text record
    /// whose header name held a colon decoded, then encoded as another
    /// header (`a:b: v` became `a: b:v`). Such a name is no header.
    #[test]
    fn a_text_record_naming_no_header_is_refused() {
        assert_eq!(ObjectMeta::decode(b"etag: abc\ndfb:ct: text/plain"), None);
        assert_eq!(ObjectMeta::decode(b"etag: abc\n\x05x: y"), None);
        assert_eq!(ObjectMeta::decode(b"etag: abc\n: y"), None);
        let ok = ObjectMeta::decode(b"etag: abc\ncontent-type: a: b").unwrap();
        assert_eq!(ObjectMeta::decode(&ok.encode()), Some(ok));
    }

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
        // The older text form still reads.
        assert_eq!(
            ObjectMeta::decode(b"etag: abc\ncontent-type: text/plain\nx-amz-meta-a: x: y\n"),
            Some(m.clone())
        );
        // MD5 ETags are stored as 16 bytes, common headers as one byte: a
        // typical object's metadata fits ext4's in-inode xattr space.
        let typical = ObjectMeta {
            etag: "b74c75a1f343cc1cfd2b06c52242a820".into(),
            headers: vec![
                ("content-type".into(), "application/octet-stream".into()),
                ("x-amz-checksum-crc32".into(), "AAAAAA==".into()),
            ],
        };
        let bytes = typical.encode();
        assert!(bytes.len() <= 60, "{} bytes", bytes.len());
        assert_eq!(ObjectMeta::decode(&bytes), Some(typical.clone()));
        assert_eq!(ObjectMeta::decode_etag(&bytes), Some(typical.etag));
        assert_eq!(ObjectMeta::decode_etag(&m.encode()).as_deref(), Some("abc"));
        // Upper-case or multipart ETags keep their text.
        for etag in ["B74C75A1F343CC1CFD2B06C52242A820", "abc-3", ""] {
            let m = ObjectMeta {
                etag: etag.into(),
                headers: vec![],
            };
            assert_eq!(ObjectMeta::decode(&m.encode()).unwrap().etag, etag);
        }
        assert_eq!(ObjectMeta::decode(&[1, 2, 3]), None);
        assert_eq!(ObjectMeta::decode(&[2, b'x']), None);
        assert_eq!(ObjectMeta::decode(&[2, b'\n', 0x05, b'\n']), None);
    }

    proptest::proptest! {
        /// Metadata is read from an xattr a POSIX user can set to anything:
        /// decoding never panics, and what encode writes reads back whole
        /// (newlines and colons in names are dropped by the encoder).
        #[test]
        fn decode_never_panics_and_encode_round_trips(
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            etag in "[0-9a-f]{32}|[ -~]{0,40}",
            headers in proptest::collection::vec(("[a-z][a-z0-9-]{0,20}", "[ -~]{0,40}"), 0..6),
        ) {
            let _ = ObjectMeta::decode(&junk);
            let _ = ObjectMeta::decode_etag(&junk);
            let mut named = headers.clone();
            named.extend(COMMON_HEADERS.iter().take(3).map(|n| ((*n).to_owned(), "v: 1".to_owned())));
            let m = ObjectMeta { etag, headers: named };
            proptest::prop_assert_eq!(ObjectMeta::decode(&m.encode()), Some(m.clone()));
            proptest::prop_assert_eq!(ObjectMeta::decode_etag(&m.encode()), Some(m.etag.clone()));
        }
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
