//! Response heads written into a buffer the caller owns.

use crate::encoding::hex_digit;
use crate::error::{Error, Result};

/// The interim response a server sends when it accepts a head that carried
/// `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The last chunk and empty trailer section of a chunked response body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Writes an HTTP/1.1 response head into a caller's buffer without
/// allocating.
///
/// Errors are sticky: the calls chain, and [`ResponseHead::finish`] reports
/// the first failure (a full buffer, or a name or value that would split the
/// head).
///
/// ```
/// let mut buf = [0u8; 256];
/// let mut head = sluice_http::ResponseHead::new(&mut buf, 200);
/// head.header("ETag", "\"abc\"").content_length(5);
/// let n = head.finish().unwrap();
/// assert_eq!(&buf[..n], b"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 5\r\n\r\n");
/// ```
#[derive(Debug)]
pub struct ResponseHead<'a> {
    buf: &'a mut [u8],
    len: usize,
    error: Option<Error>,
}

impl<'a> ResponseHead<'a> {
    /// Starts a head with the status line for `status` and its reason phrase.
    pub fn new(buf: &'a mut [u8], status: u16) -> Self {
        let mut head = ResponseHead {
            buf,
            len: 0,
            error: None,
        };
        head.put(b"HTTP/1.1 ");
        head.put_u64(u64::from(status));
        head.put(b" ");
        head.put(reason_phrase(status).as_bytes());
        head.put(b"\r\n");
        head
    }

    /// Adds a header field. A name that is not a token, or a value with
    /// CR, LF or NUL, is refused.
    pub fn header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        let value_ok = !value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0));
        if !(name_ok && value_ok) {
            self.fail(Error::InvalidResponseHeader);
            return self;
        }
        self.put(name.as_bytes());
        self.put(b": ");
        self.put(value);
        self.put(b"\r\n");
        self
    }

    /// Adds a header field with a decimal value.
    pub fn header_u64(&mut self, name: &str, value: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        self.header(name, format_u64(value, &mut digits))
    }

    /// Adds `Content-Length`.
    pub fn content_length(&mut self, n: u64) -> &mut Self {
        self.header_u64("Content-Length", n)
    }

    /// Adds `Transfer-Encoding: chunked`; the body MUST then be written with
    /// [`write_chunk_header`] and end with [`LAST_CHUNK`].
    pub fn chunked(&mut self) -> &mut Self {
        self.header("Transfer-Encoding", "chunked")
    }

    /// Adds `Connection: close`.
    pub fn close(&mut self) -> &mut Self {
        self.header("Connection", "close")
    }

    /// Ends the head with the blank line and returns its length in bytes.
    ///
    /// # Errors
    /// [`Error::ResponseBufferFull`] or [`Error::InvalidResponseHeader`], the
    /// first that happened.
    pub fn finish(mut self) -> Result<usize> {
        self.put(b"\r\n");
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.len),
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let end = self.len.checked_add(bytes.len());
        match end.and_then(|end| Some((end, self.buf.get_mut(self.len..end)?))) {
            Some((end, dst)) => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            None => self.fail(Error::ResponseBufferFull),
        }
    }

    fn put_u64(&mut self, v: u64) {
        let mut digits = [0u8; 20];
        self.put(format_u64(v, &mut digits));
    }

    fn fail(&mut self, e: Error) {
        self.error.get_or_insert(e);
    }
}

/// Writes `v` in decimal right-aligned into `out` (20 digits hold
/// u64::MAX) and returns the digits.
fn format_u64(mut v: u64, out: &mut [u8; 20]) -> &[u8] {
    const DIGITS: &[u8; 10] = b"0123456789";
    let mut start = out.len();
    for (i, slot) in out.iter_mut().enumerate().rev() {
        *slot = DIGITS[(v % 10) as usize];
        v /= 10;
        start = i;
        if v == 0 {
            break;
        }
    }
    &out[start..]
}

/// Writes the size line of a response chunk of `size` bytes (`hex\r\n`)
/// into `buf` and returns its length; the chunk data and a CRLF follow it.
///
/// # Errors
/// [`Error::ResponseBufferFull`] when `buf` is shorter than the line (at
/// most 18 bytes).
pub fn write_chunk_header(buf: &mut [u8], size: u64) -> Result<usize> {
    // Up to 16 hex digits right-aligned before the CRLF.
    let mut line = [0u8; 18];
    let (digits, crlf) = line.split_at_mut(16);
    crlf.copy_from_slice(b"\r\n");
    let mut start = digits.len();
    let mut v = size;
    for (i, slot) in digits.iter_mut().enumerate().rev() {
        *slot = hex_digit((v & 0xf) as u8);
        v >>= 4;
        start = i;
        if v == 0 {
            break;
        }
    }
    let line = &line[start..];
    buf.get_mut(..line.len())
        .ok_or(Error::ResponseBufferFull)?
        .copy_from_slice(line);
    Ok(line.len())
}

/// The reason phrase of the statuses an S3 server answers with.
#[must_use]
pub const fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_headers() {
        let mut buf = [0u8; 32];
        for (size, text) in [
            (0u64, "0\r\n"),
            (15, "f\r\n"),
            (65536, "10000\r\n"),
            (u64::MAX, "ffffffffffffffff\r\n"),
        ] {
            let n = write_chunk_header(&mut buf, size).unwrap();
            assert_eq!(&buf[..n], text.as_bytes());
        }
        assert_eq!(
            write_chunk_header(&mut buf[..3], 16),
            Err(Error::ResponseBufferFull)
        );
    }

    #[test]
    fn full_buffer_and_bad_values_are_reported() {
        let mut buf = [0u8; 20];
        let mut head = ResponseHead::new(&mut buf, 404);
        head.header("x-amz-request-id", "0123456789");
        assert_eq!(head.finish(), Err(Error::ResponseBufferFull));

        let mut buf = [0u8; 200];
        let mut head = ResponseHead::new(&mut buf, 200);
        head.header("Location", "/a\r\nSet-Cookie: x");
        assert_eq!(head.finish(), Err(Error::InvalidResponseHeader));

        let mut buf = [0u8; 200];
        let mut head = ResponseHead::new(&mut buf, 200);
        head.header("Bad Name", "v");
        assert_eq!(head.finish(), Err(Error::InvalidResponseHeader));
    }

    #[test]
    fn status_line_and_numbers() {
        let mut buf = [0u8; 200];
        let mut head = ResponseHead::new(&mut buf, 206);
        head.content_length(0)
            .header_u64("x-n", u64::MAX)
            .chunked()
            .close();
        let n = head.finish().unwrap();
        assert_eq!(
            &buf[..n],
            &b"HTTP/1.1 206 Partial Content\r\nContent-Length: 0\r\nx-n: 18446744073709551615\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"[..]
        );
    }
}
