//! Named limits with defaults that fit S3.

/// Bounds on what a peer may send. Defaults fit S3: heads of a few KiB with
/// SigV4 headers, aws-chunked bodies in 8 KiB to a few MiB chunks, and single
/// PUTs of at most 5 GiB (multipart parts included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of request line plus header fields plus the blank line.
    pub max_head_bytes: usize,
    /// Header fields in one head. The caller's header array must hold this many.
    pub max_headers: usize,
    /// Bytes of one chunk-size line (size, extensions, CRLF) or trailer line.
    pub max_line_bytes: usize,
    /// Bytes of one chunk's data.
    pub max_chunk_bytes: u64,
    /// Bytes of all trailer lines together.
    pub max_trailer_bytes: usize,
    /// Trailer fields.
    pub max_trailers: usize,
    /// Bytes of a decoded body (S3's single PUT maximum by default).
    pub max_body_bytes: u64,
}

/// 16 KiB: AWS S3 refuses heads past about 8 KiB of headers; presigned URLs
/// with session tokens make long targets.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;
/// 100 fields: S3 requests carry 10 to 30.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// 4 KiB: an aws-chunked size line is about 90 bytes, a checksum trailer 60.
pub const DEFAULT_MAX_LINE_BYTES: usize = 4 * 1024;
/// 64 MiB: SDKs use 64 KiB to 8 MiB chunks.
pub const DEFAULT_MAX_CHUNK_BYTES: u64 = 64 * 1024 * 1024;
/// 8 KiB of trailer lines.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 8 * 1024;
/// 16 trailer fields: S3 sends one checksum and one signature.
pub const DEFAULT_MAX_TRAILERS: usize = 16;
/// 5 GiB, S3's largest single PUT and part.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 5 * 1024 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_chunk_bytes: DEFAULT_MAX_CHUNK_BYTES,
            max_trailer_bytes: DEFAULT_MAX_TRAILER_BYTES,
            max_trailers: DEFAULT_MAX_TRAILERS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}
