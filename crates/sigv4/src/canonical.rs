//! The canonical request of SigV4 as S3 computes it: the path is not
//! double-encoded, query parameters are decoded, re-encoded and sorted, and
//! header values are trimmed with inner runs of spaces collapsed.

use crate::request::{HeaderSource, SignedRequest};

/// Appends `bytes` URI-encoded: unreserved characters (A-Z a-z 0-9 - _ . ~)
/// as they are, `/` as is when `keep_slash`, everything else as `%XX`.
pub fn uri_encode_into(out: &mut Vec<u8>, bytes: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
    }
}

/// URI-encodes `text` into a new String (see [`uri_encode_into`]).
#[must_use]
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = Vec::with_capacity(text.len());
    uri_encode_into(&mut out, text.as_bytes(), keep_slash);
    // Only ASCII was pushed.
    out.into_iter().map(char::from).collect()
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Percent-decodes into bytes. A `%` not followed by two hex digits is kept
/// literally; with `plus_as_space`, `+` is a space (query strings).
pub(crate) fn percent_decode_bytes(raw: &[u8], plus_as_space: bool) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' if i + 2 < raw.len() => {
                if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_as_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The canonical URI: the raw path decoded once and encoded the S3 way.
pub(crate) fn canonical_uri(out: &mut Vec<u8>, raw_path: &str) {
    let raw = if raw_path.is_empty() { "/" } else { raw_path };
    if raw.bytes().all(|b| is_unreserved(b) || b == b'/') {
        out.extend_from_slice(raw.as_bytes());
    } else {
        uri_encode_into(out, &percent_decode_bytes(raw.as_bytes(), false), true);
    }
}

/// The canonical query string, leaving out `X-Amz-Signature` when `presigned`.
pub(crate) fn canonical_query(out: &mut Vec<u8>, raw_query: &str, presigned: bool) {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .filter(|(name, _)| !(presigned && *name == "X-Amz-Signature"))
        .map(|(name, value)| {
            let mut n = Vec::with_capacity(name.len());
            uri_encode_into(&mut n, &percent_decode_bytes(name.as_bytes(), true), false);
            let mut v = Vec::with_capacity(value.len());
            uri_encode_into(&mut v, &percent_decode_bytes(value.as_bytes(), true), false);
            (n, v)
        })
        .collect();
    pairs.sort_unstable();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(value);
    }
}

/// Appends a header value trimmed, with runs of spaces and tabs inside
/// collapsed to one space.
fn push_header_value(out: &mut Vec<u8>, value: &[u8]) {
    let mut space = false;
    let mut started = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            space = started;
        } else {
            if space {
                out.push(b' ');
                space = false;
            }
            out.push(b);
            started = true;
        }
    }
}

/// Writes the whole canonical request into `out`.
pub(crate) fn canonical_request<H: HeaderSource + ?Sized>(
    out: &mut Vec<u8>,
    req: &SignedRequest<'_, H>,
    signed_headers: &str,
    payload_hash: &[u8],
    presigned: bool,
) {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    canonical_uri(out, req.path);
    out.push(b'\n');
    canonical_query(out, req.query, presigned);
    out.push(b'\n');
    for name in signed_headers.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut first = true;
        req.headers.for_each(name, &mut |value| {
            if !first {
                out.push(b',');
            }
            first = false;
            push_header_value(out, value);
        });
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(raw: &str) -> String {
        let mut out = Vec::new();
        canonical_query(&mut out, raw, true);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        assert_eq!(query("prefix=J&max-keys=2"), "max-keys=2&prefix=J");
        assert_eq!(query("lifecycle"), "lifecycle=");
        // A client that encoded `:` and `/` and one that did not sign the same (rustfs#1839).
        assert_eq!(query("prefix=env%3A%2F"), "prefix=env%3A%2F");
        assert_eq!(query("prefix=env:/"), "prefix=env%3A%2F");
        assert_eq!(query("a=b%20c&a=b+c&A=1"), "A=1&a=b%20c&a=b%20c");
        assert_eq!(query("x=%7e&X-Amz-Signature=abc"), "x=~");
        assert_eq!(query("bad=%zz"), "bad=%25zz");
    }

    #[test]
    fn uri_is_encoded_once() {
        let uri = |p: &str| {
            let mut out = Vec::new();
            canonical_uri(&mut out, p);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(uri("/test.txt"), "/test.txt");
        assert_eq!(uri("/test%24file.text"), "/test%24file.text");
        assert_eq!(uri("/test$file.text"), "/test%24file.text");
        assert_eq!(uri("/a%20b/c+d"), "/a%20b/c%2Bd");
        assert_eq!(uri("/%E2%82%AC"), "/%E2%82%AC");
        assert_eq!(uri(""), "/");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let mut out = Vec::new();
        push_header_value(&mut out, b"  a   b \t c  ");
        assert_eq!(out, b"a b c");
    }
}
