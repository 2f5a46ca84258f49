//! Object tagging, ListObjectVersions on unversioned buckets, conditional
//! writes and bucket-owner checks.

use sluice_core::{ListQuery, StoreError, WriteCondition};
use sluice_http::{percent_decode, query_pairs};
use sluice_sigv4::uri_encode;

use crate::conn::{Request, ThreadContext};
use crate::error::{S3Error, S3ErrorCode};
use crate::handlers::{Body, Response};
use crate::route::Route;
use crate::time::iso8601;
use crate::xml::{elements, unescape, Xml};

/// The kept header holding an object's tags, `k=v&k2=v2` URL-encoded.
pub(crate) const TAGGING: &str = "x-amz-tagging";

/// The owner ID sluice reports (single-tenant until IAM).
pub(crate) const OWNER_ID: &str = "sluice";

fn xml(body: String) -> Response {
    Response {
        status: 200,
        headers: vec![("Content-Type".into(), "application/xml".into())],
        body: Body::Bytes(body.into_bytes()),
    }
}

fn invalid_tag(message: &str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidTag, message.to_owned())
}

/// Parses the tags of a `Tagging` document into the stored form.
fn tags_from_xml(body: &[u8]) -> Result<String, S3Error> {
    let malformed = || {
        S3Error::new(S3ErrorCode::MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
    };
    let doc = std::str::from_utf8(body).map_err(|_| malformed())?;
    let mut pairs = Vec::new();
    for tag in elements(doc, "Tag") {
        let key = elements(tag, "Key")
            .first()
            .and_then(|k| unescape(k))
            .ok_or_else(malformed)?;
        let value = elements(tag, "Value")
            .first()
            .map_or(Some(String::new()), |v| unescape(v))
            .ok_or_else(malformed)?;
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(invalid_tag(
                "The TagKey or TagValue you have provided is too long or empty",
            ));
        }
        if pairs.iter().any(|(k, _): &(String, String)| *k == key) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
        pairs.push((key, value));
    }
    if pairs.len() > 10 {
        return Err(S3Error::new(
            S3ErrorCode::BadRequest,
            "Object tags cannot be greater than 10",
        ));
    }
    Ok(pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&"))
}

/// Decodes the stored form into (key, value) pairs.
pub(crate) fn tag_pairs(stored: &str) -> Vec<(String, String)> {
    query_pairs(stored)
        .filter_map(|(k, v)| {
            Some((
                percent_decode(k, true).ok()?.into_owned(),
                percent_decode(v, true).ok()?.into_owned(),
            ))
        })
        .collect()
}

pub(crate) fn put_tagging(
    ctx: &ThreadContext,
    bucket: &str,
    key: &str,
    body: &[u8],
) -> Result<Response, S3Error> {
    let stored = tags_from_xml(body)?;
    ctx.store.update_headers(bucket, key, |headers| {
        headers.retain(|(n, _)| n != TAGGING);
        if !stored.is_empty() {
            headers.push((TAGGING.to_owned(), stored));
        }
    })?;
    Ok(Response {
        status: 200,
        headers: Vec::new(),
        body: Body::Empty,
    })
}

pub(crate) fn get_tagging(
    ctx: &ThreadContext,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    let info = ctx.store.head_object(bucket, key)?;
    let mut x = Xml::new();
    x.root("Tagging").open("TagSet");
    for (k, v) in tag_pairs(info.meta.header(TAGGING).unwrap_or_default()) {
        x.open("Tag").leaf("Key", &k).leaf("Value", &v).close("Tag");
    }
    x.close("TagSet").close("Tagging");
    Ok(xml(x.finish()))
}

pub(crate) fn delete_tagging(
    ctx: &ThreadContext,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    ctx.store
        .update_headers(bucket, key, |headers| headers.retain(|(n, _)| n != TAGGING))?;
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: Body::Empty,
    })
}

/// ListObjectVersions on an unversioned bucket: the current objects, each
/// with VersionId `null`, paged by key-marker.
pub(crate) fn list_versions(
    ctx: &ThreadContext,
    bucket: &str,
    r: &Route,
) -> Result<Response, S3Error> {
    let max_keys = r
        .param("max-keys")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(1000);
    let prefix = r.param("prefix").unwrap_or_default().to_owned();
    let delimiter = r
        .param("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let key_marker = r
        .param("key-marker")
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let q = ListQuery {
        prefix: prefix.clone(),
        delimiter: delimiter.clone(),
        start_after: key_marker.clone(),
        max_keys: max_keys.max(1),
        with_etag: true,
    };
    let page = ctx.store.list_objects(bucket, &q)?;
    let url = r.param("encoding-type") == Some("url");
    let enc = |s: &str| {
        if url {
            uri_encode(s, true)
        } else {
            s.to_owned()
        }
    };
    let mut x = Xml::new();
    x.root("ListVersionsResult")
        .leaf("Name", bucket)
        .leaf("Prefix", &enc(&prefix));
    x.leaf("KeyMarker", &enc(key_marker.as_deref().unwrap_or_default()))
        .leaf(
            "VersionIdMarker",
            r.param("version-id-marker").unwrap_or_default(),
        );
    x.leaf("MaxKeys", &max_keys.to_string());
    if let Some(d) = &delimiter {
        x.leaf("Delimiter", &enc(d));
    }
    if url {
        x.leaf("EncodingType", "url");
    }
    x.leaf("IsTruncated", if page.truncated { "true" } else { "false" });
    if let Some(next) = &page.next_marker {
        x.leaf("NextKeyMarker", &enc(next))
            .leaf("NextVersionIdMarker", "null");
    }
    for o in &page.objects {
        x.open("Version")
            .leaf("Key", &enc(&o.key))
            .leaf("VersionId", "null")
            .leaf("IsLatest", "true");
        x.leaf("LastModified", &iso8601(o.modified)).leaf(
            "ETag",
            &format!("\"{}\"", o.etag.as_deref().unwrap_or_default()),
        );
        x.leaf("Size", &o.size.to_string())
            .open("Owner")
            .leaf("ID", OWNER_ID)
            .leaf("DisplayName", OWNER_ID)
            .close("Owner");
        x.leaf("StorageClass", "STANDARD").close("Version");
    }
    for p in &page.common_prefixes {
        x.open("CommonPrefixes")
            .leaf("Prefix", &enc(p))
            .close("CommonPrefixes");
    }
    x.close("ListVersionsResult");
    Ok(xml(x.finish()))
}

/// If-None-Match: * and If-Match on a write (PutObject,
/// CompleteMultipartUpload), checked against the current object.
pub(crate) fn check_write_conditions(
    ctx: &ThreadContext,
    req: &Request,
    bucket: &str,
    key: &str,
) -> Result<(), S3Error> {
    let (if_none, if_match) = (req.header("if-none-match"), req.header("if-match"));
    if if_none.is_none() && if_match.is_none() {
        return Ok(());
    }
    let failed = || {
        S3Error::new(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
    };
    let current = match ctx.store.head_object(bucket, key) {
        Ok(info) => Some(info),
        Err(StoreError::NoSuchKey) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(v) = if_none {
        if v.trim() != "*" {
            return Err(S3Error::not_implemented(
                "If-None-Match with a value other than * on writes",
            ));
        }
        if current.is_some() {
            return Err(failed());
        }
    }
    if let Some(v) = if_match {
        let Some(info) = current else {
            return Err(S3Error::new(
                S3ErrorCode::NoSuchKey,
                "The specified key does not exist.",
            ));
        };
        if v.trim().trim_matches('"') != info.meta.etag && v.trim() != "*" {
            return Err(failed());
        }
    }
    Ok(())
}

/// The condition a write (PutObject, CopyObject, CompleteMultipartUpload)
/// is published under: checked by the store at the moment the object
/// becomes visible, so that of concurrent conditional writes exactly those
/// whose condition held succeed.
pub(crate) fn write_condition(req: &Request) -> WriteCondition {
    if req.header("if-none-match").is_some() {
        // Values other than * were refused by the early check.
        WriteCondition::Absent
    } else if let Some(v) = req.header("if-match") {
        WriteCondition::EtagMatches(v.trim().trim_matches('"').to_owned())
    } else {
        WriteCondition::Always
    }
}

/// `x-amz-expected-bucket-owner`: the request fails when the bucket is not
/// owned by the account named.
pub(crate) fn check_expected_owner(req: &Request) -> Result<(), S3Error> {
    match req.header("x-amz-expected-bucket-owner") {
        Some(owner) if owner != OWNER_ID => {
            Err(S3Error::new(S3ErrorCode::AccessDenied, "Access Denied"))
        }
        _ => Ok(()),
    }
}
