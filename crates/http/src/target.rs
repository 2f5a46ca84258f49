//! The request target: splitting path from query and percent-decoding.
//!
//! Nothing here allocates unless a decoded value differs from its raw form.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::head::Method;

/// Accepts origin-form targets (`/path?query`) and `*` for OPTIONS; S3
/// clients send nothing else, and absolute-form is for proxies.
pub(crate) fn check_form(target: &str, method: Method) -> Result<()> {
    if target.starts_with('/') || (target == "*" && method == Method::Options) {
        Ok(())
    } else {
        Err(Error::MalformedTarget)
    }
}

/// Splits a raw target at the first `?` into (path, query); the query is
/// empty when there is no `?`.
#[must_use]
pub fn split(target: &str) -> (&str, &str) {
    match target.split_once('?') {
        Some((path, query)) => (path, query),
        None => (target, ""),
    }
}

/// Iterates the `name=value` pairs of a raw query, still percent-encoded, in
/// the order sent. A parameter without `=` has an empty value; empty pairs
/// (`a=1&&b=2`) are skipped.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Percent-decodes `raw` to UTF-8.
///
/// With `plus_as_space`, `+` becomes a space, as in query strings of HTML
/// forms (S3 decodes query parameters this way); in paths `+` is literal.
/// Borrows `raw` when nothing needs decoding.
///
/// # Errors
/// [`Error::MalformedPercentEncoding`] for `%` not followed by two hex digits
/// or for decoded bytes that are not UTF-8.
///
/// ```
/// use sluice_http::percent_decode;
/// assert_eq!(percent_decode("a%2Fb+c", false).unwrap(), "a/b+c");
/// assert_eq!(percent_decode("a%20b+c", true).unwrap(), "a b c");
/// assert!(percent_decode("%zz", false).is_err());
/// ```
pub fn percent_decode(raw: &str, plus_as_space: bool) -> Result<Cow<'_, str>> {
    let bytes = raw.as_bytes();
    let needs_work = bytes
        .iter()
        .any(|&b| b == b'%' || (plus_as_space && b == b'+'));
    if !needs_work {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&b| hex_value(b));
                let lo = bytes.get(i + 2).and_then(|&b| hex_value(b));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(Error::MalformedPercentEncoding);
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| Error::MalformedPercentEncoding)
}

/// The value of a hex digit of either case.
#[must_use]
pub const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_raw_parts() {
        assert_eq!(
            split("/b/k%20x?list-type=2&prefix=a%2F"),
            ("/b/k%20x", "list-type=2&prefix=a%2F")
        );
        assert_eq!(split("/b"), ("/b", ""));
        assert_eq!(split("/b?"), ("/b", ""));
        assert_eq!(split("/b?x?y"), ("/b", "x?y"));
    }

    #[test]
    fn query_pairs_in_order_with_empty_values() {
        let pairs: Vec<_> = query_pairs("uploads&prefix=a%2F&&max-keys=2&x=").collect();
        assert_eq!(
            pairs,
            [
                ("uploads", ""),
                ("prefix", "a%2F"),
                ("max-keys", "2"),
                ("x", "")
            ]
        );
    }

    #[test]
    fn percent_decode_cases() {
        assert!(matches!(
            percent_decode("plain", true).unwrap(),
            Cow::Borrowed("plain")
        ));
        assert_eq!(percent_decode("%E2%82%AC", false).unwrap(), "€");
        assert_eq!(percent_decode("%e2%82%ac", false).unwrap(), "€");
        assert_eq!(
            percent_decode("%", false),
            Err(Error::MalformedPercentEncoding)
        );
        assert_eq!(
            percent_decode("%4", false),
            Err(Error::MalformedPercentEncoding)
        );
        assert_eq!(
            percent_decode("%FF", false),
            Err(Error::MalformedPercentEncoding)
        );
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert_eq!(percent_decode("a%2Bb+c", true).unwrap(), "a+b c");
    }
}
