//! Reading objects: GetObject and HeadObject (ranges, part numbers,
//! conditions, response-* overrides, checksum mode) and GetObjectAttributes.

use std::time::SystemTime;

use sluice_core::ObjectInfo;
use sluice_http::Method;

use crate::context::ThreadContext;
use crate::error::{S3Error, S3ErrorCode};
use crate::request::Request;
use crate::response::{response, xml_response, Body, Response};
use crate::route::Route;
use crate::storage::{ObjectRead, Storage};
use crate::time::http_date;
use crate::xml::Xml;

/// Parses `Range: bytes=a-b | a- | -n` against `size`: Some((start, end)) or
/// None to serve the whole object (an unparseable range is ignored, as S3 does).
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
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
    let unsatisfiable = || {
        S3Error::new(
            S3ErrorCode::InvalidRange,
            "The requested range is not satisfiable",
        )
    };
    let range = match (a.trim().is_empty(), num(a), num(b)) {
        (true, _, Some(n)) if n > 0 => (size.saturating_sub(n), size),
        (true, _, _) => return Err(unsatisfiable()),
        (false, Some(start), None) if b.trim().is_empty() => (start, size),
        (false, Some(start), Some(end)) if end >= start => (start, end.saturating_add(1).min(size)),
        _ => return Ok(None),
    };
    if range.0 >= size {
        return Err(unsatisfiable());
    }
    Ok(Some(range))
}

fn etag_matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

pub(crate) fn get_object<B: Storage>(
    ctx: &ThreadContext<B>,
    req: &Request,
    r: &Route,
    bucket: &str,
    key: &str,
) -> Result<Response<B::Reader>, S3Error> {
    let mut reader = ctx.store.get_object(bucket, key)?;
    let info: ObjectInfo = reader.info().clone();
    let etag = info.meta.etag.clone();
    let modified_secs = info
        .modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let since = |h: &str| {
        req.header(h)
            .and_then(|v| sluice_sigv4::parse_http_date(v.as_bytes()))
    };
    let mut base = Vec::new();
    base.push(("ETag".to_owned(), format!("\"{etag}\"")));
    base.push(("Last-Modified".to_owned(), http_date(info.modified)));
    // Preconditions in RFC 9110 order.
    if let Some(m) = req.header("if-match") {
        if !etag_matches(m, &etag) {
            return Err(S3Error::new(
                S3ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            ));
        }
    } else if since("if-unmodified-since").is_some_and(|t| modified_secs > t) {
        return Err(S3Error::new(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        ));
    }
    let not_modified = match req.header("if-none-match") {
        Some(m) => etag_matches(m, &etag),
        None => since("if-modified-since").is_some_and(|t| modified_secs <= t),
    };
    if not_modified {
        let mut resp = response(304);
        resp.headers = base;
        return Ok(resp.widen());
    }
    let part_sizes: Option<Vec<u64>> = info
        .meta
        .header(sluice_core::PART_SIZES_HEADER)
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect());
    let range = match (r.param("partNumber"), req.header("range")) {
        (Some(n), _) => {
            let n: usize = n.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidArgument,
                    "Part number must be an integer between 1 and 10000, inclusive",
                )
            })?;
            let sizes = part_sizes.clone().unwrap_or_else(|| vec![info.size]);
            // The sizes come from stored metadata, which a POSIX user can
            // write: no sum of them may overflow, and a part must lie
            // inside the object.
            let start = sizes
                .iter()
                .take(n - 1)
                .try_fold(0u64, |a, b| a.checked_add(*b));
            let part = sizes.get(n - 1).zip(start).and_then(|(size, start)| {
                let end = start.checked_add(*size)?;
                (end <= info.size).then_some((start, end))
            });
            let (start, end) = part.ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidPartNumber,
                    "The requested partnumber is not satisfiable",
                )
            })?;
            // An empty part (of an empty object) is the whole object: no
            // byte range can name it.
            (end > start).then_some((start, end))
        }
        (None, Some(v)) => parse_range(v, info.size)?,
        (None, None) => None,
    };
    let mut headers = base;
    headers.push(("Accept-Ranges".into(), "bytes".into()));
    // A --null store answers generated bytes: the stored checksums are those
    // of the body that was put, and would fail the client's check.
    let checksum_mode = req
        .header("x-amz-checksum-mode")
        .is_some_and(|v| v.eq_ignore_ascii_case("ENABLED"))
        && !ctx.store.generates_data();
    if let Some(sizes) = &part_sizes {
        if r.param("partNumber").is_some() {
            headers.push(("x-amz-mp-parts-count".into(), sizes.len().to_string()));
        }
    }
    for (n, v) in &info.meta.headers {
        if n.starts_with("x-amz-checksum-") && !(checksum_mode && range.is_none()) {
            continue;
        }
        if n.starts_with("x-sluice-") {
            continue;
        }
        if n == crate::ops::tagging::TAGGING {
            headers.push((
                "x-amz-tagging-count".into(),
                crate::ops::tagging::tag_pairs(v).len().to_string(),
            ));
            continue;
        }
        let overridden = r.query.iter().any(|(q, _)| {
            q.strip_prefix("response-")
                .is_some_and(|h| h.eq_ignore_ascii_case(n))
        });
        if !overridden {
            headers.push((n.clone(), v.clone()));
        }
    }
    for (q, v) in &r.query {
        if let Some(h) = q.strip_prefix("response-") {
            if matches!(
                h,
                "content-type"
                    | "content-language"
                    | "expires"
                    | "cache-control"
                    | "content-disposition"
                    | "content-encoding"
            ) {
                // A value that cannot be a header value (CR, LF, other
                // controls) would cut the answer off: refuse it instead.
                if v.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                    return Err(S3Error::new(
                        S3ErrorCode::InvalidArgument,
                        format!("The value of response-{h} is not a valid header value."),
                    ));
                }
                headers.push((h.to_owned(), v.clone()));
            }
        }
    }
    let (status, len) = match range {
        Some((start, end)) => {
            reader.set_range(start, end);
            headers.push((
                "Content-Range".into(),
                format!("bytes {start}-{}/{}", end - 1, info.size),
            ));
            (206, end - start)
        }
        None => (200, info.size),
    };
    if ctx.store.generates_data() {
        // `sluice serve --null`: the body is generated, say so to clients
        // that verify what they read (sluice-bench).
        headers.push(("x-sluice-generated".into(), "true".into()));
    }
    let body = if req.method == Method::Head {
        Body::HeadOnly(len)
    } else {
        Body::Object { reader, len }
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// GetObjectAttributes: the attributes named in `x-amz-object-attributes`.
pub(crate) fn object_attributes(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    let info = ctx.store.head_object(bucket, key)?;
    let wanted: Vec<String> = req
        .header("x-amz-object-attributes")
        .unwrap_or_default()
        .split(',')
        .map(|a| a.trim().to_owned())
        .collect();
    let want = |name: &str| wanted.iter().any(|w| w.eq_ignore_ascii_case(name));
    let mut x = Xml::new();
    x.root("GetObjectAttributesResponse");
    if want("ETag") {
        x.leaf("ETag", &info.meta.etag);
    }
    if want("Checksum") {
        let sums: Vec<_> = info
            .meta
            .headers
            .iter()
            .filter(|(n, _)| n.starts_with("x-amz-checksum-"))
            .collect();
        if !sums.is_empty() {
            x.open("Checksum");
            for (n, v) in sums {
                let alg = n.trim_start_matches("x-amz-checksum-").to_ascii_uppercase();
                x.leaf(&format!("Checksum{alg}"), v);
            }
            x.close("Checksum");
        }
    }
    if want("ObjectParts") {
        if let Some(sizes) = info.meta.header(sluice_core::PART_SIZES_HEADER) {
            let sizes: Vec<&str> = sizes.split(',').collect();
            let max: usize = r
                .param("max-parts")
                .and_then(|m| m.parse().ok())
                .unwrap_or(1000);
            let marker: usize = req
                .header("x-amz-part-number-marker")
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            x.open("ObjectParts")
                .leaf("PartsCount", &sizes.len().to_string())
                .leaf("PartNumberMarker", &marker.to_string());
            let shown: Vec<(usize, &&str)> =
                sizes.iter().enumerate().skip(marker).take(max).collect();
            if let Some((last, _)) = shown.last() {
                x.leaf("NextPartNumberMarker", &last.saturating_add(1).to_string());
            }
            x.leaf("MaxParts", &max.to_string()).leaf(
                "IsTruncated",
                if marker.saturating_add(shown.len()) < sizes.len() {
                    "true"
                } else {
                    "false"
                },
            );
            for (i, size) in shown {
                x.open("Part")
                    .leaf("PartNumber", &(i + 1).to_string())
                    .leaf("Size", size)
                    .close("Part");
            }
            x.close("ObjectParts");
        }
    }
    if want("StorageClass") {
        x.leaf("StorageClass", "STANDARD");
    }
    if want("ObjectSize") {
        x.leaf("ObjectSize", &info.size.to_string());
    }
    x.close("GetObjectAttributesResponse");
    let mut resp = xml_response(200, x.finish());
    resp.headers.push((
        "Last-Modified".into(),
        crate::time::http_date(info.modified),
    ));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::list::{hex_token, unhex_token};

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-200", 100).unwrap(), Some((0, 100)));
        assert_eq!(parse_range("bytes=50-1000", 100).unwrap(), Some((50, 100)));
        assert_eq!(parse_range("bytes=100-", 100).unwrap_err().status(), 416);
        assert_eq!(parse_range("bytes=-0", 100).unwrap_err().status(), 416);
        assert_eq!(parse_range("bytes=5-1", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
        // Regression (issue 12): `end + 1` overflowed (a panic in debug
        // builds, a wrong Content-Range in release).
        assert_eq!(
            parse_range("bytes=0-18446744073709551615", 100).unwrap(),
            Some((0, 100))
        );
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
    }

    #[test]
    fn tokens_and_etags() {
        assert_eq!(unhex_token(&hex_token("a/b ü")).as_deref(), Some("a/b ü"));
        assert_eq!(unhex_token("zz"), None);
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("W/\"x\", \"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }
}
