//! The canonical request of SigV4 as S3 computes it: the path is not
//! double-encoded, query parameters are decoded, re-encoded and sorted, and
//! header values are trimmed with inner runs of spaces collapsed.

use sluice_http::{percent_decode, query_pairs};

use crate::error::{Error, Result};
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

/// The canonical URI: the raw path decoded once and encoded the S3 way.
///
/// # Errors
/// [`Error::InvalidURI`] when the path is not percent-encoded UTF-8: it is
/// decoded by the same function as routing decodes it, and refused alike.
pub(crate) fn canonical_uri(out: &mut Vec<u8>, raw_path: &str) -> Result<()> {
    let raw = if raw_path.is_empty() { "/" } else { raw_path };
    if raw.bytes().all(|b| is_unreserved(b) || b == b'/') {
        out.extend_from_slice(raw.as_bytes());
    } else {
        let decoded = percent_decode(raw, false).map_err(|_| Error::InvalidURI)?;
        uri_encode_into(out, decoded.as_bytes(), true);
    }
    Ok(())
}

/// The canonical query string, leaving out `X-Amz-Signature` when `presigned`.
///
/// # Errors
/// [`Error::InvalidURI`] when a name or value (`X-Amz-Signature`'s
/// included) is not percent-encoded UTF-8, as for [`canonical_uri`]. The
/// pairs are split as routing splits them ([`sluice_http::query_pairs`]).
pub(crate) fn canonical_query(out: &mut Vec<u8>, raw_query: &str, presigned: bool) -> Result<()> {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (name, value) in query_pairs(raw_query) {
        let decoded_name = percent_decode(name, true).map_err(|_| Error::InvalidURI)?;
        let decoded_value = percent_decode(value, true).map_err(|_| Error::InvalidURI)?;
        if presigned && name == "X-Amz-Signature" {
            continue;
        }
        let mut n = Vec::with_capacity(name.len());
        uri_encode_into(&mut n, decoded_name.as_bytes(), false);
        let mut v = Vec::with_capacity(value.len());
        uri_encode_into(&mut v, decoded_value.as_bytes(), false);
        pairs.push((n, v));
    }
    pairs.sort_unstable();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(value);
    }
    Ok(())
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

/// Writes the first lines of the canonical request into `out`: method,
/// canonical URI and canonical query.
///
/// # Errors
/// [`Error::InvalidURI`] (see [`canonical_uri`]); `out` then holds part of
/// the lines.
pub(crate) fn canonical_target<H: HeaderSource + ?Sized>(
    out: &mut Vec<u8>,
    req: &SignedRequest<'_, H>,
    presigned: bool,
) -> Result<()> {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    canonical_uri(out, req.path)?;
    out.push(b'\n');
    canonical_query(out, req.query, presigned)?;
    out.push(b'\n');
    Ok(())
}

/// In place of [`canonical_target`]'s lines for a target that has none:
/// method, raw path and raw query. Only the signer uses it (a verifier
/// refuses such a request). No valid request canonicalises to these lines,
/// since a canonical form never holds the malformed escape or the escaped
/// bytes that are not UTF-8 that made the target invalid, so a signature
/// over them is good for no request a verifier accepts.
pub(crate) fn raw_target<H: HeaderSource + ?Sized>(out: &mut Vec<u8>, req: &SignedRequest<'_, H>) {
    for line in [req.method, req.path, req.query] {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
}

/// Writes the rest of the canonical request after [`canonical_target`]:
/// the signed headers, their names and the payload hash line.
pub(crate) fn canonical_headers<H: HeaderSource + ?Sized>(
    out: &mut Vec<u8>,
    req: &SignedRequest<'_, H>,
    signed_headers: &str,
    payload_hash: &[u8],
) {
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

    fn query(raw: &str) -> Result<String> {
        let mut out = Vec::new();
        canonical_query(&mut out, raw, true)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn uri(raw: &str) -> Result<String> {
        let mut out = Vec::new();
        canonical_uri(&mut out, raw)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        let query = |raw| query(raw).unwrap();
        assert_eq!(query("prefix=J&max-keys=2"), "max-keys=2&prefix=J");
        assert_eq!(query("lifecycle"), "lifecycle=");
        // A client that encoded `:` and `/` and one that did not sign the same (rustfs#1839).
        assert_eq!(query("prefix=env%3A%2F"), "prefix=env%3A%2F");
        assert_eq!(query("prefix=env:/"), "prefix=env%3A%2F");
        assert_eq!(query("a=b%20c&a=b+c&A=1"), "A=1&a=b%20c&a=b%20c");
        assert_eq!(query("x=%7e&X-Amz-Signature=abc"), "x=~");
        assert_eq!(query("&&a=1&&"), "a=1");
    }

    #[test]
    fn uri_is_encoded_once() {
        let uri = |raw| uri(raw).unwrap();
        assert_eq!(uri("/test.txt"), "/test.txt");
        assert_eq!(uri("/test%24file.text"), "/test%24file.text");
        assert_eq!(uri("/test$file.text"), "/test%24file.text");
        assert_eq!(uri("/a%20b/c+d"), "/a%20b/c%2Bd");
        assert_eq!(uri("/%E2%82%AC"), "/%E2%82%AC");
        assert_eq!(uri("/%e2%82%ac"), "/%E2%82%AC");
        assert_eq!(uri(""), "/");
    }

    /// Regression: a `%` not followed by two hex digits was kept literally
    /// (`%zz` signed as `%25zz`) while routing refused the request, and
    /// escapes of bytes that are not UTF-8 were signed while routing refused
    /// them. Both are refused now, exactly where routing refuses.
    #[test]
    fn malformed_escapes_are_refused_as_routing_refuses_them() {
        for bad in ["%zz", "%2", "%", "a%4g", "%%41", "%FF", "%C3", "%e2%82"] {
            assert_eq!(uri(&format!("/b/{bad}")), Err(Error::InvalidURI), "{bad}");
            assert_eq!(query(&format!("p={bad}")), Err(Error::InvalidURI), "{bad}");
            assert_eq!(query(&format!("{bad}=1")), Err(Error::InvalidURI), "{bad}");
            assert_eq!(query(bad), Err(Error::InvalidURI), "{bad}");
            // The presigned signature is left out of the canonical query, but
            // routing decodes it too.
            assert_eq!(
                query(&format!("X-Amz-Signature={bad}")),
                Err(Error::InvalidURI),
                "{bad}"
            );
            assert!(sluice_http::percent_decode(bad, true).is_err());
        }
    }

    /// Every escape of every byte that keeps the text UTF-8 canonicalises as
    /// before: the unreserved characters bare, everything else `%XX` in
    /// upper case, whichever case the client escaped it in.
    #[test]
    fn every_valid_escape_canonicalises_as_before() {
        for b in 0..0x80u8 {
            for escape in [format!("%{b:02X}"), format!("%{b:02x}")] {
                let expected = if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                };
                let path = if b == b'/' {
                    "/".to_owned()
                } else {
                    expected.clone()
                };
                assert_eq!(uri(&format!("/{escape}")).unwrap(), format!("/{path}"));
                assert_eq!(
                    query(&format!("k={escape}")).unwrap(),
                    format!("k={expected}")
                );
            }
        }
        assert_eq!(uri("/%C3%BC%c3%bc").unwrap(), "/%C3%BC%C3%BC");
        assert_eq!(query("k=%C3%BC+%c3%bc").unwrap(), "k=%C3%BC%20%C3%BC");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let mut out = Vec::new();
        push_header_value(&mut out, b"  a   b \t c  ");
        assert_eq!(out, b"a b c");
    }
}
