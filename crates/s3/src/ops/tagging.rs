//! Object tagging (PutObjectTagging, GetObjectTagging, DeleteObjectTagging:
//! tags kept with the object's metadata as `x-amz-tagging`) and bucket
//! tagging (Put/Get/DeleteBucketTagging: the same stored form, as the
//! bucket configuration document `tagging`).

use sluice_http::{percent_decode, query_pairs};
use sluice_sigv4::uri_encode;

use crate::context::ThreadContext;
use crate::document::Element;
use crate::error::{S3Error, S3ErrorCode};
use crate::response::{xml_response, Body, Response};
use crate::storage::Storage;
use crate::xml::Xml;

/// The kept header holding an object's tags, `k=v&k2=v2` URL-encoded.
pub(crate) const TAGGING: &str = "x-amz-tagging";

fn invalid_tag(message: &str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidTag, message.to_owned())
}

/// At most this many tags on an object, and on a bucket (AWS's limits).
pub(crate) const MAX_OBJECT_TAGS: usize = 10;
const MAX_BUCKET_TAGS: usize = 50;

/// The bucket configuration document holding a bucket's tags.
const BUCKET_TAGGING: &str = "tagging";

/// Parses the tags of a `Tagging` document into the stored form.
pub(crate) fn tags_from_xml(body: &[u8], max: usize) -> Result<String, S3Error> {
    let doc = Element::parse(body)?;
    let mut pairs = Vec::new();
    for tag in doc.all("Tag") {
        let key = tag
            .first("Key")
            .map(|k| k.text().to_owned())
            .ok_or_else(|| S3Error::from(S3ErrorCode::MalformedXML))?;
        let value = tag
            .first("Value")
            .map(|v| v.text().to_owned())
            .unwrap_or_default();
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
    if pairs.len() > max {
        return Err(if max == MAX_OBJECT_TAGS {
            S3Error::new(
                S3ErrorCode::BadRequest,
                "Object tags cannot be greater than 10",
            )
        } else {
            invalid_tag("Bucket tag count cannot be greater than 50")
        });
    }
    Ok(pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&"))
}

/// Decodes the stored form into (key, value) pairs.
/// The tags of `key=value&...` (as stored, and as `x-amz-tagging` sends
/// them), decoded.
pub fn tag_pairs(stored: &str) -> Vec<(String, String)> {
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
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    key: &str,
    body: &[u8],
) -> Result<Response, S3Error> {
    let stored = tags_from_xml(body, MAX_OBJECT_TAGS)?;
    let mut stored = Some(stored).filter(|s| !s.is_empty());
    ctx.store
        .update_headers(bucket, key, &mut |headers: &mut Vec<(String, String)>| {
            headers.retain(|(n, _)| n != TAGGING);
            if let Some(tags) = stored.take() {
                headers.push((TAGGING.to_owned(), tags));
            }
        })?;
    Ok(Response {
        status: 200,
        headers: Vec::new(),
        body: Body::Empty,
    })
}

pub(crate) fn get_tagging(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    let info = ctx.store.head_object(bucket, key)?;
    Ok(xml_response(
        200,
        tagging_document(info.meta.header(TAGGING).unwrap_or_default()),
    ))
}

pub(crate) fn delete_tagging(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    ctx.store
        .update_headers(bucket, key, &mut |headers: &mut Vec<(String, String)>| {
            headers.retain(|(n, _)| n != TAGGING);
        })?;
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: Body::Empty,
    })
}

/// The `Tagging` document of stored tags.
fn tagging_document(stored: &str) -> String {
    let mut x = Xml::new();
    x.root("Tagging").open("TagSet");
    for (k, v) in tag_pairs(stored) {
        x.open("Tag").leaf("Key", &k).leaf("Value", &v).close("Tag");
    }
    x.close("TagSet").close("Tagging");
    x.finish()
}

pub(crate) fn put_bucket_tagging(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    body: &[u8],
) -> Result<Response, S3Error> {
    let stored = tags_from_xml(body, MAX_BUCKET_TAGS)?;
    ctx.store
        .set_bucket_config(bucket, BUCKET_TAGGING, Some(stored.as_bytes()))?;
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: Body::Empty,
    })
}

/// A bucket that was never tagged has no tag set (NoSuchTagSet), as in S3;
/// one tagged with an empty set answers it empty.
pub(crate) fn get_bucket_tagging(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
) -> Result<Response, S3Error> {
    let stored = ctx
        .store
        .bucket_config(bucket, BUCKET_TAGGING)?
        .ok_or_else(|| S3Error::from(S3ErrorCode::NoSuchTagSet))?;
    let stored = String::from_utf8_lossy(&stored);
    Ok(xml_response(200, tagging_document(&stored)))
}

pub(crate) fn delete_bucket_tagging(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
) -> Result<Response, S3Error> {
    ctx.store.set_bucket_config(bucket, BUCKET_TAGGING, None)?;
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: Body::Empty,
    })
}
