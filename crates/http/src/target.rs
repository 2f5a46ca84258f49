//! The request target: splitting path from query. Decoding the parts is
//! [`crate::percent_decode`]'s job.

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
}
