//! Header field lookup and the framing facts derived from header fields.

use crate::error::{Error, Result};
use crate::head::{AwsChunked, Framing, Version};

/// The header fields of a request, in the order sent. Names compare
/// case-insensitively; values are returned without surrounding whitespace.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'h, 'b> {
    fields: &'h [httparse::Header<'b>],
}

impl<'h, 'b> Headers<'h, 'b> {
    pub(crate) fn new(fields: &'h [httparse::Header<'b>]) -> Self {
        Headers { fields }
    }

    /// The value of the first field named `name` (any case).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&'b [u8]> {
        self.get_all(name).next()
    }

    /// The value of the first field named `name`, if it is UTF-8.
    #[must_use]
    pub fn get_str(&self, name: &str) -> Option<&'b str> {
        self.get(name).and_then(|v| core::str::from_utf8(v).ok())
    }

    /// The values of every field named `name`, in order.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'b [u8]> + 's {
        self.fields
            .iter()
            .filter(move |h| name_eq(h.name, name))
            .map(|h| trim(h.value))
    }

    /// Every field as (name as sent, trimmed value).
    pub fn iter(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> + '_ {
        self.fields.iter().map(|h| (h.name, trim(h.value)))
    }

    /// Number of fields.
    #[must_use]
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[inline]
fn name_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
}

/// Strips optional whitespace (SP, HTAB) around a field value.
pub(crate) fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Parses a plain decimal number: digits only, no sign, no whitespace, at
/// most 2^63 - 1 (what fits an `off_t`).
pub(crate) fn parse_decimal(v: &[u8]) -> Option<u64> {
    // 19 digits cannot overflow a u64; the checks below hold regardless.
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let n = v.iter().try_fold(0u64, |n, &b| {
        n.checked_mul(10)?
            .checked_add(u64::from(char::from(b).to_digit(10)?))
    })?;
    (n <= i64::MAX as u64).then_some(n)
}

/// Splits a comma-separated field value into trimmed, non-empty tokens.
pub(crate) fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|t| !t.is_empty())
}

pub(crate) struct FramingFacts {
    pub framing: Framing,
    pub aws_chunked: Option<AwsChunked>,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

/// One pass over the fields for everything that decides where the body ends
/// and whether the connection lives on. Names are matched by length first,
/// so the common fields cost one comparison each.
pub(crate) fn framing_facts(headers: &Headers<'_, '_>, version: Version) -> Result<FramingFacts> {
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut has_te = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    let mut streaming = false;
    let mut decoded_length: Option<&[u8]> = None;

    for h in headers.fields {
        // Only the few fields that matter here are trimmed.
        let value = || trim(h.value);
        match h.name.len() {
            14 if h.name.eq_ignore_ascii_case("content-length") => {
                let value = value();
                let n = parse_decimal(value).ok_or(if value.contains(&b',') {
                    Error::ConflictingContentLength
                } else {
                    Error::InvalidContentLength
                })?;
                if content_length.is_some_and(|m| m != n) {
                    return Err(Error::ConflictingContentLength);
                }
                content_length = Some(n);
            }
            17 if h.name.eq_ignore_ascii_case("transfer-encoding") => {
                has_te = true;
                for coding in tokens(value()) {
                    // Only a single `chunked` is supported; chunked applied
                    // twice, or any coding after it, is refused too.
                    if chunked || !coding.eq_ignore_ascii_case(b"chunked") {
                        return Err(Error::UnsupportedTransferEncoding);
                    }
                    chunked = true;
                }
            }
            10 if h.name.eq_ignore_ascii_case("connection") => {
                for t in tokens(value()) {
                    close |= t.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            6 if h.name.eq_ignore_ascii_case("expect") => {
                expect_continue |= value().eq_ignore_ascii_case(b"100-continue");
            }
            20 if h.name.eq_ignore_ascii_case("x-amz-content-sha256") => {
                streaming = value().starts_with(b"STREAMING-");
            }
            28 if h.name.eq_ignore_ascii_case("x-amz-decoded-content-length") => {
                decoded_length = Some(value());
            }
            _ => {}
        }
    }

    if has_te && content_length.is_some() {
        return Err(Error::LengthWithTransferEncoding);
    }
    if has_te && (!chunked || version == Version::Http10) {
        // An empty Transfer-Encoding, or chunked from an HTTP/1.0 client
        // (RFC 9112 §6.1), leaves the body's end unknown.
        return Err(Error::UnsupportedTransferEncoding);
    }
    let framing = match (chunked, content_length) {
        (true, _) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => Framing::Empty,
    };
    let aws_chunked = if streaming {
        // aws-chunked rides inside a Content-Length body, or inside
        // Transfer-Encoding: chunked (boto3 since 1.36 when it streams).
        if framing == Framing::Empty {
            return Err(Error::MissingContentLength);
        }
        let raw = decoded_length.ok_or(Error::MissingDecodedContentLength)?;
        let decoded_length = parse_decimal(raw).ok_or(Error::InvalidDecodedContentLength)?;
        Some(AwsChunked { decoded_length })
    } else {
        None
    };
    let keep_alive = !close && (version == Version::Http11 || keep_alive_token);
    Ok(FramingFacts {
        framing,
        aws_chunked,
        keep_alive,
        expect_continue: expect_continue && version == Version::Http11,
    })
}

/// Content-Encoding as it should be stored and returned: the field value with
/// the `aws-chunked` coding removed (None when nothing else remains).
///
/// ```
/// assert_eq!(sluice_http::stored_content_encoding(b"aws-chunked, gzip").as_deref(), Some("gzip"));
/// assert_eq!(sluice_http::stored_content_encoding(b"aws-chunked"), None);
/// ```
#[must_use]
pub fn stored_content_encoding(value: &[u8]) -> Option<String> {
    let mut out = String::new();
    for t in tokens(value).filter(|t| !t.eq_ignore_ascii_case(b"aws-chunked")) {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&String::from_utf8_lossy(t));
    }
    (!out.is_empty()).then_some(out)
}
