//! The one error type of sluice-http.

/// Why a request head or body was refused.
///
/// Every variant is something the peer caused; none means "retry with more
/// bytes" (that is [`crate::Status::Partial`] or a decoder returning no event).
/// [`Error::status`] gives the HTTP status a server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request head is larger than [`crate::Limits::max_head_bytes`].
    #[error("request head larger than the limit")]
    HeadTooLarge,
    /// More header fields than [`crate::Limits::max_headers`].
    #[error("too many header fields")]
    TooManyHeaders,
    /// A header field name or value is not valid HTTP.
    #[error("malformed header field")]
    MalformedHeader,
    /// The request line is not valid HTTP/1.x (method, target or version).
    #[error("malformed request line")]
    MalformedRequestLine,
    /// The request target is neither origin-form (`/path?query`) nor `*`.
    #[error("unsupported request target form")]
    MalformedTarget,
    /// A percent escape in the target is not `%` followed by two hex digits,
    /// or the decoded bytes are not UTF-8.
    #[error("malformed percent-encoding")]
    MalformedPercentEncoding,
    /// `Content-Length` is not a plain decimal number that fits in 63 bits.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Several `Content-Length` fields with different values, or a list.
    #[error("conflicting Content-Length fields")]
    ConflictingContentLength,
    /// Both `Content-Length` and `Transfer-Encoding` (a request smuggling shape).
    #[error("Content-Length together with Transfer-Encoding")]
    LengthWithTransferEncoding,
    /// A transfer coding other than a single `chunked`.
    #[error("unsupported Transfer-Encoding")]
    UnsupportedTransferEncoding,
    /// aws-chunked framing without a `Content-Length` for the wire body.
    #[error("missing Content-Length")]
    MissingContentLength,
    /// aws-chunked framing without `x-amz-decoded-content-length`.
    #[error("missing x-amz-decoded-content-length")]
    MissingDecodedContentLength,
    /// `x-amz-decoded-content-length` is not a plain decimal number.
    #[error("invalid x-amz-decoded-content-length")]
    InvalidDecodedContentLength,
    /// The body is larger than [`crate::Limits::max_body_bytes`].
    #[error("body larger than the limit")]
    BodyTooLarge,
    /// A chunk-size line is not hex digits, is empty or overflows.
    #[error("invalid chunk size")]
    InvalidChunkSize,
    /// A chunk is larger than [`crate::Limits::max_chunk_bytes`].
    #[error("chunk larger than the limit")]
    ChunkTooLarge,
    /// A framing line is longer than [`crate::Limits::max_line_bytes`].
    #[error("chunk framing line too long")]
    LineTooLong,
    /// Chunk framing is broken: a bare LF or CR, or no CRLF after chunk data.
    #[error("malformed chunk framing")]
    MalformedChunk,
    /// A chunk extension is malformed, or in aws-chunked anything but a
    /// `chunk-signature` of 64 lowercase hex digits.
    #[error("malformed chunk extension or chunk signature")]
    MalformedChunkExtension,
    /// A trailer field is malformed.
    #[error("malformed trailer field")]
    MalformedTrailer,
    /// The trailer section exceeds [`crate::Limits::max_trailer_bytes`] or
    /// [`crate::Limits::max_trailers`].
    #[error("trailer section too large")]
    TrailerTooLarge,
    /// aws-chunked data does not add up to `x-amz-decoded-content-length`.
    #[error("decoded length differs from x-amz-decoded-content-length")]
    DecodedLengthMismatch,
    /// A `multipart/form-data` body (a browser's POST upload) that is not
    /// a valid form; the text says what is wrong.
    #[error("malformed multipart/form-data body: {0}")]
    MalformedForm(&'static str),
    /// A form part's head is larger than [`crate::form::MAX_PART_HEAD`] or has too many fields.
    #[error("a form part's head is too large")]
    FormPartHeadTooLarge,
    /// A response head did not fit in the caller's buffer.
    #[error("response head does not fit the buffer")]
    ResponseBufferFull,
    /// A response header name or value contains bytes that would split the head.
    #[error("invalid response header")]
    InvalidResponseHeader,
}

impl Error {
    /// The HTTP status a server answers this error with.
    ///
    /// 431 for oversized heads, 413 for oversized bodies and chunks, 411 for a
    /// missing decoded length, 501 for unknown transfer codings, 500 for errors
    /// of the server's own response writing, 400 for everything else.
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            Error::HeadTooLarge | Error::TooManyHeaders => 431,
            Error::BodyTooLarge | Error::ChunkTooLarge => 413,
            Error::MissingContentLength | Error::MissingDecodedContentLength => 411,
            Error::UnsupportedTransferEncoding => 501,
            Error::ResponseBufferFull | Error::InvalidResponseHeader => 500,
            _ => 400,
        }
    }

    /// Whether the connection must be closed after answering: after any
    /// framing error the position of the next request is unknown.
    #[must_use]
    pub const fn must_close(self) -> bool {
        !matches!(
            self,
            Error::ResponseBufferFull | Error::InvalidResponseHeader
        )
    }
}

/// Result with the sluice-http error.
pub type Result<T, E = Error> = core::result::Result<T, E>;
