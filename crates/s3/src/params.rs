//! The parameters handlers take from a request's query and headers, each
//! parsed in one place with checked arithmetic: byte ranges, part numbers
//! and the parts of a multipart object, counts (`max-keys`, `max-uploads`,
//! `max-parts`, `max-buckets`), markers, continuation tokens and dates.
//! Every value here came from a client (or from metadata a POSIX user can
//! write): nothing may overflow or panic, and what is returned is inside
//! the object. Under the `s3_params` fuzz target (its harness is
//! `params_bytes` in the fuzzing module).

use crate::error::{S3Error, S3ErrorCode};

/// The largest part number S3 allows.
pub(crate) const MAX_PART_NUMBER: u32 = 10_000;

fn unsatisfiable() -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidRange,
        "The requested range is not satisfiable",
    )
}

fn part_number_error() -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidArgument,
        "Part number must be an integer between 1 and 10000, inclusive",
    )
}

/// `Range: bytes=a-b | a- | -n` against an object of `size` bytes:
/// `Some((start, end))` with `start < end <= size` (end exclusive), or None
/// to serve the whole object (a range that does not parse, or several, is
/// ignored, as S3 does).
///
/// # Errors
/// InvalidRange when the range starts at or past the end, or is `-0`.
pub(crate) fn byte_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    let range = match (a.trim().is_empty(), num(a), num(b)) {
        (true, _, Some(n)) if n > 0 => (size.saturating_sub(n), size),
        (true, _, _) => return Err(unsatisfiable()),
        (false, Some(start), None) if b.trim().is_empty() => (start, size),
        (false, Some(start), Some(last)) if last >= start => {
            (start, last.saturating_add(1).min(size))
        }
        _ => return Ok(None),
    };
    if range.0 >= size {
        return Err(unsatisfiable());
    }
    Ok(Some(range))
}

/// `x-amz-copy-source-range: bytes=first-last` against a source of `size`
/// bytes: `(first, last + 1)`, never empty and inside the source.
///
/// # Errors
/// InvalidArgument for another form, InvalidRange for a range that is
/// reversed or reaches past the source.
pub(crate) fn copy_source_range(value: &str, size: u64) -> Result<(u64, u64), S3Error> {
    let bad = || {
        S3Error::new(
            S3ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where \
             first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let (a, b) = value
        .trim()
        .strip_prefix("bytes=")
        .and_then(|s| s.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = a.parse().map_err(|_| bad())?;
    let last: u64 = b.parse().map_err(|_| bad())?;
    if first > last || last >= size {
        return Err(unsatisfiable());
    }
    // last < size <= u64::MAX, so last + 1 does not overflow.
    Ok((first, last.checked_add(1).ok_or_else(unsatisfiable)?))
}

/// A part number, 1..=10000.
///
/// # Errors
/// InvalidArgument when missing, not an integer or out of range.
pub(crate) fn part_number(value: Option<&str>) -> Result<u32, S3Error> {
    value
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(part_number_error)
}

/// The sizes of a multipart object's parts, as stored in its metadata
/// ([`sluice_core::encode_part_sizes`]); None if it is not such a list.
pub(crate) fn part_sizes(stored: &str) -> Option<Vec<u64>> {
    sluice_core::decode_part_sizes(stored)
}

/// The byte range of part `n` of an object of `size` bytes made of parts
/// of `sizes` (a plain object is one part): `Some((start, end))` inside the
/// object, or None for an empty part (of an empty object), which no byte
/// range can name. The sizes come from metadata a POSIX user can write:
/// no sum of them may overflow, and the part must lie inside the object.
///
/// # Errors
/// InvalidPartNumber when the object has no such part (or its recorded
/// sizes do not fit the object).
pub(crate) fn part_range(sizes: &[u64], size: u64, n: u32) -> Result<Option<(u64, u64)>, S3Error> {
    let not_satisfiable = || {
        S3Error::new(
            S3ErrorCode::InvalidPartNumber,
            "The requested partnumber is not satisfiable",
        )
    };
    let index = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .ok_or_else(part_number_error)?;
    let start = sizes
        .iter()
        .take(index)
        .try_fold(0u64, |a, b| a.checked_add(*b))
        .ok_or_else(not_satisfiable)?;
    let part = sizes.get(index).ok_or_else(not_satisfiable)?;
    let end = start.checked_add(*part).ok_or_else(not_satisfiable)?;
    if end > size {
        return Err(not_satisfiable());
    }
    Ok((end > start).then_some((start, end)))
}

/// A count such as `max-keys`: `default` when absent, at most `cap`.
///
/// # Errors
/// InvalidArgument when it is not a non-negative integer.
pub(crate) fn max_count(
    name: &str,
    value: Option<&str>,
    default: usize,
    cap: usize,
) -> Result<usize, S3Error> {
    let Some(value) = value else {
        return Ok(default.min(cap));
    };
    // A number too large for the platform is still a number: capped.
    match value.parse::<u64>() {
        Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(cap)),
        Err(_) => Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            format!("Provided {name} not an integer or within integer range"),
        )),
    }
}

/// A part-number marker (ListParts, GetObjectAttributes): 0 when absent.
///
/// # Errors
/// InvalidArgument when it is not a non-negative integer.
pub(crate) fn part_marker(name: &str, value: Option<&str>) -> Result<u32, S3Error> {
    match value {
        None | Some("") => Ok(0),
        Some(v) => v.parse::<u64>().map_or_else(
            |_| {
                Err(S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    format!("Provided {name} not an integer or within integer range"),
                ))
            },
            // Past the last part number is past every part.
            |n| Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        ),
    }
}

/// A continuation token as sluice hands them out: the hex of the key to
/// continue after.
#[must_use]
pub(crate) fn continuation_token(key: &str) -> String {
    sluice_http::hex_encode(key.as_bytes())
}

/// The key a continuation token continues after.
///
/// # Errors
/// InvalidArgument for a token sluice did not hand out.
pub(crate) fn continuation_key(token: &str) -> Result<String, S3Error> {
    sluice_http::hex_decode(token.as_bytes())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::InvalidArgument,
                "The continuation token provided is incorrect",
            )
        })
}

/// An HTTP date (`If-Modified-Since` and the like) in seconds since the
/// epoch; None when it does not parse (the condition is then ignored, as
/// RFC 9110 says).
#[must_use]
pub(crate) fn http_date(value: Option<&str>) -> Option<i64> {
    // The clock only places an RFC 850 two-digit year (sluice-sigv4 reads none).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    value.and_then(|v| sluice_sigv4::parse_http_date(v.as_bytes(), now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(byte_range("bytes=90-", 100).unwrap(), Some((90, 100)));
        assert_eq!(byte_range("bytes=-10", 100).unwrap(), Some((90, 100)));
        assert_eq!(byte_range("bytes=-200", 100).unwrap(), Some((0, 100)));
        assert_eq!(byte_range("bytes=50-1000", 100).unwrap(), Some((50, 100)));
        assert_eq!(byte_range("bytes=100-", 100).unwrap_err().status(), 416);
        assert_eq!(byte_range("bytes=-0", 100).unwrap_err().status(), 416);
        assert_eq!(byte_range("bytes=5-1", 100).unwrap(), None);
        assert_eq!(byte_range("items=0-1", 100).unwrap(), None);
        // Regression (issue 12): `end + 1` overflowed (a panic in debug
        // builds, a wrong Content-Range in release).
        assert_eq!(
            byte_range("bytes=0-18446744073709551615", 100).unwrap(),
            Some((0, 100))
        );
        assert_eq!(byte_range("bytes=0-1,5-6", 100).unwrap(), None);
        assert_eq!(byte_range("bytes=0-0", 0).unwrap_err().status(), 416);
    }

    #[test]
    fn copy_source_ranges() {
        assert_eq!(copy_source_range("bytes=0-9", 10).unwrap(), (0, 10));
        assert_eq!(copy_source_range("bytes=9-9", 10).unwrap(), (9, 10));
        assert_eq!(
            copy_source_range("bytes=0-10", 10).unwrap_err().status(),
            416
        );
        assert_eq!(
            copy_source_range("bytes=5-4", 10).unwrap_err().status(),
            416
        );
        assert_eq!(
            copy_source_range("bytes=0-18446744073709551615", u64::MAX)
                .unwrap_err()
                .status(),
            416
        );
        assert_eq!(copy_source_range("bytes=0-", 10).unwrap_err().status(), 400);
        assert_eq!(copy_source_range("0-1", 10).unwrap_err().status(), 400);
    }

    #[test]
    fn parts() {
        assert_eq!(part_number(Some("1")).unwrap(), 1);
        assert_eq!(part_number(Some("10000")).unwrap(), 10_000);
        for bad in [
            None,
            Some("0"),
            Some("10001"),
            Some("-1"),
            Some("x"),
            Some(""),
        ] {
            assert_eq!(part_number(bad).unwrap_err().status(), 400, "{bad:?}");
        }
        assert_eq!(part_range(&[5, 5, 2], 12, 2).unwrap(), Some((5, 10)));
        assert_eq!(part_range(&[5, 5, 2], 12, 3).unwrap(), Some((10, 12)));
        assert_eq!(part_range(&[0], 0, 1).unwrap(), None);
        assert_eq!(part_range(&[5], 5, 2).unwrap_err().status(), 416);
        // Sizes a POSIX user wrote: their sum overflows, or reaches past
        // the object.
        assert_eq!(part_range(&[u64::MAX, 2], 10, 2).unwrap_err().status(), 416);
        assert_eq!(part_range(&[8, 8], 10, 2).unwrap_err().status(), 416);
        assert_eq!(part_range(&[1], 1, 0).unwrap_err().status(), 400);
        assert_eq!(part_sizes("1,2,3"), Some(vec![1, 2, 3]));
        assert_eq!(part_sizes("1,x"), None);
        assert_eq!(part_sizes("5*3,2"), Some(vec![5, 5, 5, 2]));
        assert_eq!(part_sizes("5*0"), None);
        assert_eq!(part_sizes("5*10001"), None);
        assert_eq!(part_sizes("1*9999,2,3"), None);
        assert_eq!(part_sizes("1*18446744073709551615"), None);
    }

    #[test]
    fn counts_and_markers() {
        assert_eq!(max_count("max-keys", None, 1000, 1000).unwrap(), 1000);
        assert_eq!(max_count("max-keys", Some("0"), 1000, 1000).unwrap(), 0);
        assert_eq!(
            max_count("max-keys", Some("5000"), 1000, 1000).unwrap(),
            1000
        );
        assert_eq!(
            max_count("max-keys", Some("99999999999999999999"), 1000, 1000)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            max_count("max-keys", Some("-1"), 1000, 1000)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(part_marker("part-number-marker", None).unwrap(), 0);
        assert_eq!(part_marker("part-number-marker", Some("7")).unwrap(), 7);
        assert_eq!(
            part_marker("part-number-marker", Some("99999999999")).unwrap(),
            u32::MAX
        );
        assert_eq!(
            part_marker("part-number-marker", Some("x"))
                .unwrap_err()
                .status(),
            400
        );
        let t = continuation_token("a/b ü");
        assert_eq!(continuation_key(&t).unwrap(), "a/b ü");
        assert_eq!(continuation_key("zz").unwrap_err().status(), 400);
        assert_eq!(
            http_date(Some("Sun, 06 Nov 1994 08:49:37 GMT")),
            Some(784_111_777)
        );
        assert_eq!(http_date(Some("yesterday")), None);
    }

    /// Issue 13: the conditional headers read every HTTP-date form through
    /// sluice-sigv4's parser, and ignore what does not parse.
    #[test]
    fn issue_13_conditional_dates_in_every_http_form() {
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 -0000",
            "Sun, 06 Nov 1994 09:49:37 +0100",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(http_date(Some(form)), Some(784_111_777), "{form}");
        }
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 -0000",
            "Sun Nov 6 08:49:37 1994",
            "",
        ] {
            assert_eq!(http_date(Some(bad)), None, "{bad}");
        }
        assert_eq!(http_date(None), None);
    }
}

#[cfg(test)]
mod corpus {
    /// Replays the committed fuzz corpus of the s3_params target.
    #[test]
    fn fuzz_corpus_replays_clean() {
        crate::fuzzing::replay_corpus("s3_params", crate::fuzzing::params_bytes);
    }
}
