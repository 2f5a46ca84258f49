//! AWS Signature Version 2 for S3 (HMAC-SHA1), in the Authorization header
//! (`AWS AccessKeyId:Signature`) and in a query string (`AWSAccessKeyId`,
//! `Expires`, `Signature`), as "Signing and authenticating REST requests"
//! in the S3 API Reference defines it and botocore's `HmacV1Auth` and
//! `HmacV1QueryAuth` sign it (aws-cli v1's `aws s3 presign` among them).
//! AWS deprecated it; an embedder may refuse it before verifying with
//! [`is_sigv2`].
//!
//! SigV2 signs no payload hash: a verified request's body is
//! [`PayloadMode::Unsigned`], as for `UNSIGNED-PAYLOAD` under SigV4, and
//! Content-MD5 (signed when sent) is what checks it. Every `x-amz-*`
//! header is in the string to sign, so none travels unsigned.

use ring::hmac;
use sluice_http::{percent_decode, query_pairs};

use crate::encoding::base64_decode;
use crate::error::{Error, Result};
use crate::request::{HeaderSource, SignedRequest};
use crate::time::{parse_amz_date, parse_http_date};
use crate::verify::{SecretLookup, MAX_SKEW_SECONDS};

/// The query parameters S3 signs as sub-resources of the
/// CanonicalizedResource: botocore's `HmacV1Auth.QSAOfInterest`, the list
/// the clients that still sign SigV2 use, matched by exact (raw) name.
pub const SUBRESOURCES: [&str; 35] = [
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Whether a request is signed with SigV2: an `Authorization: AWS ...`
/// header, or (without an Authorization header) an `AWSAccessKeyId`
/// query parameter.
#[must_use]
pub fn is_sigv2<H: HeaderSource + ?Sized>(req: &SignedRequest<'_, H>) -> bool {
    match req.headers.first("authorization") {
        Some(v) => v.trim_ascii_start().starts_with(b"AWS "),
        None => query_pairs(req.query).any(|(n, _)| n == "AWSAccessKeyId"),
    }
}

/// What a SigV2 signature proved.
pub(crate) struct V2Verified {
    pub access_key: String,
    pub session_token: Option<String>,
    pub time: i64,
    pub presigned: bool,
}

fn malformed_header() -> Error {
    Error::InvalidArgument(
        "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
    )
}

const MISSING_QUERY: Error = Error::AccessDenied(
    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
);

const NO_DATE: Error =
    Error::AccessDenied("AWS authentication requires a valid Date or x-amz-date header");

/// Verifies a SigV2 request. `host_bucket` is the bucket a virtual-hosted
/// request names in its Host (its CanonicalizedResource starts with it);
/// `scratch` is reused for the string to sign.
pub(crate) fn verify<H, S>(
    req: &SignedRequest<'_, H>,
    host_bucket: Option<&str>,
    secrets: &S,
    now: i64,
    scratch: &mut Vec<u8>,
) -> Result<V2Verified>
where
    H: HeaderSource + ?Sized,
    S: SecretLookup + ?Sized,
{
    let presigned = req.headers.first("authorization").is_none();
    let (access_key, signature, date_line, time, query_token) = if presigned {
        query_auth(req.query, now)?
    } else {
        let (ak, sig) = header_auth(req.headers.first("authorization").unwrap_or_default())?;
        let (date_line, time) = header_time(req.headers, now)?;
        (ak, sig, date_line, time, None)
    };
    let session_token = match req.headers.first("x-amz-security-token") {
        Some(t) => Some(String::from_utf8(t.to_vec()).map_err(|_| Error::InvalidToken)?),
        None => query_token,
    };
    let secret = secrets.secret_key(&access_key, session_token.as_deref())?;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let query = if presigned { req.query } else { "" };
    scratch.clear();
    string_to_sign(scratch, req, &date_line, query, None, host_bucket)?;
    let mut ok = hmac::verify(&key, scratch, &signature).is_ok();
    if !ok && date_line.is_empty() {
        // The worked DELETE example of the S3 documentation signs the
        // x-amz-date value in the Date position and leaves it out of the
        // amz headers; the rule text puts it among them with an empty
        // Date. Both bind the same value: accept either.
        if let Some(amz_date) = req.headers.first("x-amz-date") {
            let date = String::from_utf8_lossy(amz_date.trim_ascii()).into_owned();
            scratch.clear();
            string_to_sign(scratch, req, &date, query, Some("x-amz-date"), host_bucket)?;
            ok = hmac::verify(&key, scratch, &signature).is_ok();
        }
    }
    if !ok {
        return Err(Error::SignatureDoesNotMatch);
    }
    Ok(V2Verified {
        access_key,
        session_token,
        time,
        presigned,
    })
}

/// `AWS AccessKeyId:Base64Signature`.
fn header_auth(value: &[u8]) -> Result<(String, Vec<u8>)> {
    let value = core::str::from_utf8(value.trim_ascii()).map_err(|_| malformed_header())?;
    let rest = value.strip_prefix("AWS ").ok_or_else(malformed_header)?;
    let (ak, sig) = rest.trim().rsplit_once(':').ok_or_else(malformed_header)?;
    if ak.is_empty() || sig.is_empty() {
        return Err(malformed_header());
    }
    // A signature that is not base64 of 20 bytes matches nothing.
    let sig = base64_decode(sig.as_bytes()).ok_or(Error::SignatureDoesNotMatch)?;
    Ok((ak.to_owned(), sig))
}

type QueryAuth = (String, Vec<u8>, String, i64, Option<String>);

/// The SigV2 part of the fuzz harness (`crate::fuzzing::auth_parsers`):
/// the header and query parsers never panic, and what they accept names
/// an access key and, for a query, an expiry not yet past.
pub(crate) fn fuzz_parsers(data: &[u8]) {
    if let Ok((access_key, _)) = header_auth(data) {
        assert!(!access_key.is_empty());
    }
    if let Ok(query) = core::str::from_utf8(data) {
        for now in [0, 1_700_000_000, i64::MAX] {
            if let Ok((access_key, _, expires, _, _)) = query_auth(query, now) {
                assert!(!access_key.is_empty());
                assert!(expires.parse::<i64>().is_ok_and(|at| at >= now));
            }
        }
    }
}

/// `AWSAccessKeyId`, `Signature`, `Expires` and `x-amz-security-token`
/// from a raw query; the Date line is `Expires` as sent.
fn query_auth(raw_query: &str, now: i64) -> Result<QueryAuth> {
    if query_pairs(raw_query).any(|(n, _)| n == "X-Amz-Signature" || n == "X-Amz-Algorithm") {
        return Err(Error::InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        ));
    }
    let mut found: [Option<String>; 4] = Default::default();
    const NAMES: [&str; 4] = [
        "AWSAccessKeyId",
        "Signature",
        "Expires",
        "x-amz-security-token",
    ];
    for (name, value) in query_pairs(raw_query) {
        if let Some(i) = NAMES.iter().position(|n| *n == name) {
            let decoded = percent_decode(value, false).map_err(|_| Error::InvalidURI)?;
            if found[i].replace(decoded.into_owned()).is_some() {
                return Err(Error::InvalidArgument(
                    "a query authentication parameter is repeated",
                ));
            }
        }
    }
    let [Some(access_key), Some(signature), Some(expires), token] = found else {
        return Err(MISSING_QUERY);
    };
    if access_key.is_empty() {
        return Err(MISSING_QUERY);
    }
    let at: i64 = if !expires.is_empty() && expires.bytes().all(|b| b.is_ascii_digit()) {
        expires.parse().ok()
    } else {
        None
    }
    .ok_or(Error::AccessDenied(
        "Invalid date (should be seconds since epoch)",
    ))?;
    if now > at {
        return Err(Error::AccessDenied("Request has expired"));
    }
    let signature = base64_decode(signature.as_bytes()).ok_or(Error::SignatureDoesNotMatch)?;
    Ok((access_key, signature, expires, now, token))
}

/// The Date line and the request time: with `x-amz-date` the line is empty
/// and the time is its value, else both come from `Date`. Either must be
/// within [`MAX_SKEW_SECONDS`] of `now`, as for SigV4.
fn header_time<H: HeaderSource + ?Sized>(headers: &H, now: i64) -> Result<(String, i64)> {
    let (line, time) = if let Some(v) = headers.first("x-amz-date") {
        let t = parse_http_date(v, now).or_else(|| parse_amz_date(v.trim_ascii()));
        (String::new(), t.ok_or(NO_DATE)?)
    } else if let Some(v) = headers.first("date") {
        let t = parse_http_date(v, now).ok_or(NO_DATE)?;
        (String::from_utf8_lossy(v.trim_ascii()).into_owned(), t)
    } else {
        return Err(NO_DATE);
    };
    if now.abs_diff(time) > MAX_SKEW_SECONDS.unsigned_abs() {
        return Err(Error::RequestTimeTooSkewed);
    }
    Ok((line, time))
}

/// The StringToSign: `VERB\nContent-MD5\nContent-Type\nDate\n`, the
/// CanonicalizedAmzHeaders, the CanonicalizedResource. For query auth
/// `query` is the raw query, whose `x-amz-*`, `content-md5` and
/// `content-type` parameters count as headers (botocore's
/// `HmacV1QueryAuth` moves the signed headers there). `skip` leaves one
/// amz header out (see the DELETE example in [`verify`]).
fn string_to_sign<H: HeaderSource + ?Sized>(
    out: &mut Vec<u8>,
    req: &SignedRequest<'_, H>,
    date_line: &str,
    query: &str,
    skip: Option<&str>,
    host_bucket: Option<&str>,
) -> Result<()> {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b'\n');
    for name in ["content-md5", "content-type"] {
        match req.headers.first(name) {
            Some(v) => out.extend_from_slice(v.trim_ascii()),
            None => {
                if let Some(v) = query_param(query, name)? {
                    out.extend_from_slice(v.trim().as_bytes());
                }
            }
        }
        out.push(b'\n');
    }
    out.extend_from_slice(date_line.as_bytes());
    out.push(b'\n');
    amz_headers(out, req.headers, query, skip)?;
    canonical_resource(out, req, host_bucket)
}

fn query_param(query: &str, name: &str) -> Result<Option<String>> {
    for (n, v) in query_pairs(query) {
        if n.eq_ignore_ascii_case(name) {
            let v = percent_decode(v, false).map_err(|_| Error::InvalidURI)?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Lowercase `x-amz-*` names, sorted, each `name:v1,v2\n` with its values
/// trimmed and joined in the order received.
fn amz_headers<H: HeaderSource + ?Sized>(
    out: &mut Vec<u8>,
    headers: &H,
    query: &str,
    skip: Option<&str>,
) -> Result<()> {
    let is_amz = |n: &str| n.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"));
    let mut names: Vec<String> = Vec::new();
    headers.for_each_name(&mut |n| {
        let lower = n.to_ascii_lowercase();
        if is_amz(n) && !names.contains(&lower) {
            names.push(lower);
        }
    });
    let mut from_query: Vec<(String, String)> = Vec::new();
    for (n, v) in query_pairs(query) {
        let n = percent_decode(n, false).map_err(|_| Error::InvalidURI)?;
        if is_amz(&n) {
            let lower = n.to_ascii_lowercase();
            let v = percent_decode(v, false).map_err(|_| Error::InvalidURI)?;
            if !names.contains(&lower) {
                names.push(lower.clone());
            }
            from_query.push((lower, v.trim().to_owned()));
        }
    }
    names.sort_unstable();
    for name in names.iter().filter(|n| Some(n.as_str()) != skip) {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut first = true;
        let mut push = |out: &mut Vec<u8>, v: &[u8]| {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(v);
        };
        headers.for_each(name, &mut |v| push(out, v.trim_ascii()));
        for (_, v) in from_query.iter().filter(|(n, _)| n == name) {
            push(out, v.as_bytes());
        }
        out.push(b'\n');
    }
    Ok(())
}

/// `/bucket/key` as sent (virtual-hosted: the Host's bucket first), then
/// the sub-resources in [`SUBRESOURCES`], sorted by name (stably), as
/// `?a&b=v` with values percent-decoded (botocore's `canonical_resource`
/// unquotes them; the S3 documentation: "you do not encode these values").
fn canonical_resource<H: HeaderSource + ?Sized>(
    out: &mut Vec<u8>,
    req: &SignedRequest<'_, H>,
    host_bucket: Option<&str>,
) -> Result<()> {
    if let Some(bucket) = host_bucket {
        out.push(b'/');
        out.extend_from_slice(bucket.as_bytes());
    }
    out.extend_from_slice(req.path.as_bytes());
    // A bucket alone is `/bucket/`, however it was addressed: botocore
    // signs `/bucket/` for a request it sends to `/bucket` ("the auth_path
    // must be terminated with a '/' character to generate a signature that
    // the server will accept", botocore handlers.py).
    let bucket_only = match host_bucket {
        Some(_) => req.path.is_empty(),
        None => !req.path.strip_prefix('/').unwrap_or(req.path).contains('/'),
    };
    if bucket_only && !req.path.ends_with('/') {
        out.push(b'/');
    }
    let mut subs: Vec<(&str, Option<String>)> = Vec::new();
    for pair in req.query.split('&') {
        let (name, value) = match pair.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (pair, None),
        };
        if SUBRESOURCES.contains(&name) {
            let value = match value {
                Some(v) => Some(
                    percent_decode(v, false)
                        .map_err(|_| Error::InvalidURI)?
                        .into_owned(),
                ),
                None => None,
            };
            subs.push((name, value));
        }
    }
    subs.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (name, value)) in subs.iter().enumerate() {
        out.push(if i == 0 { b'?' } else { b'&' });
        out.extend_from_slice(name.as_bytes());
        if let Some(v) = value {
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
        }
    }
    Ok(())
}
