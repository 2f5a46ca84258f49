//! Multipart uploads: create, upload part, complete, abort, list parts,
//! list uploads.

use sluice_http::BodyDecoder;
use sluice_sigv4::Verified;

use crate::context::ThreadContext;
use crate::document::Element;
use crate::error::{S3Error, S3ErrorCode};
use crate::ops::object_write::kept_headers;
use crate::request::{Input, Request, Stream};
use crate::response::{xml_response, Response};
use crate::route::Route;
use crate::storage::{PartWrite, Storage};
use crate::time::iso8601;
use crate::upload::receive;
use crate::xml::Xml;

/// Failure with whether the body was consumed.
type Fail = (S3Error, bool);

/// The part number of an UploadPart(Copy), 1..=10000.
pub(crate) fn part_number(r: &Route) -> Result<u32, S3Error> {
    crate::params::part_number(r.param("partNumber"))
}

pub(crate) fn upload_id(r: &Route) -> &str {
    r.param("uploadId").unwrap_or_default()
}

pub(crate) fn create(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    let id = ctx.store.create_multipart(bucket, key, kept_headers(req))?;
    let mut x = Xml::new();
    x.root("InitiateMultipartUploadResult")
        .leaf("Bucket", bucket)
        .leaf("Key", key)
        .leaf("UploadId", &id);
    x.close("InitiateMultipartUploadResult");
    Ok(xml_response(200, x.finish()))
}

pub(crate) async fn upload_part(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    verified: &Verified,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
) -> Result<Response, Fail> {
    let early = |e: S3Error| (e, false);
    let bucket = r.bucket.as_deref().unwrap_or_default();
    let key = r.key.as_deref().unwrap_or_default();
    let number = part_number(r).map_err(early)?;
    let mut part = ctx
        .store
        .upload_part(bucket, key, upload_id(r), number, req.decoded_length)
        .map_err(|e| early(e.into()))?;
    let received = receive(ctx, req, Some(verified), decoder, input, &mut part).await?;
    let info = part
        .finish(received.checksum_header().into_iter().collect())
        .await
        .map_err(|e| (e.into(), true))?;
    let mut resp = Response {
        status: 200,
        headers: Vec::new(),
        body: crate::response::Body::Empty,
    };
    resp.headers
        .push(("ETag".into(), format!("\"{}\"", info.etag)));
    resp.headers.extend(received.checksum_header());
    Ok(resp)
}

pub(crate) async fn complete(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    bucket: &str,
    key: &str,
    body: &[u8],
) -> Result<Response, S3Error> {
    let doc = Element::parse(body)?;
    let mut parts = Vec::new();
    let mut checksums = Vec::new();
    for part in doc.all("Part") {
        let number = part
            .first("PartNumber")
            .and_then(|n| n.text().trim().parse::<u32>().ok())
            .ok_or_else(|| S3Error::from(S3ErrorCode::MalformedXML))?;
        let etag = part
            .first("ETag")
            .map(|e| e.text().trim().to_owned())
            .ok_or_else(|| S3Error::from(S3ErrorCode::MalformedXML))?;
        for c in part.children() {
            if let Some(alg) = c.name.strip_prefix("Checksum") {
                if alg != "Type" {
                    checksums.push((number, alg.to_ascii_lowercase(), c.text().trim()));
                }
            }
        }
        parts.push((number, etag));
    }
    if parts.is_empty() {
        return Err(S3Error::from(S3ErrorCode::MalformedXML));
    }
    check_part_checksums(ctx, bucket, key, upload_id(r), &checksums)?;
    let info = ctx
        .store
        .complete_multipart(
            bucket,
            key,
            upload_id(r),
            &parts,
            &crate::ops::object_write::write_condition(req),
        )
        .await?;
    let mut x = Xml::new();
    x.root("CompleteMultipartUploadResult")
        .leaf("Location", &format!("/{bucket}/{key}"))
        .leaf("Bucket", bucket)
        .leaf("Key", key);
    x.leaf("ETag", &format!("\"{}\"", info.meta.etag))
        .close("CompleteMultipartUploadResult");
    Ok(xml_response(200, x.finish()))
}

/// Each checksum a Complete names for a part must be the one recorded when
/// the part was uploaded: a wrong or unrecorded one is InvalidPart, as in
/// S3. Checked before the completion, which then checks each part's ETag:
/// a part re-uploaded in between with the named ETag has the same bytes,
/// so the checksum checked here is still its checksum.
fn check_part_checksums(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    key: &str,
    upload: &str,
    checksums: &[(u32, String, &str)],
) -> Result<(), S3Error> {
    if checksums.is_empty() {
        return Ok(());
    }
    let recorded = match ctx.store.list_parts(bucket, key, upload) {
        Ok(parts) => parts,
        // Perhaps completed: a Complete sent again after it succeeded is
        // answered by the store from what it remembers (part numbers and
        // ETags); the checksums were checked when it succeeded.
        Err(sluice_core::StoreError::NoSuchUpload) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for (number, alg, value) in checksums {
        let header = format!("x-amz-checksum-{alg}");
        let matches = recorded
            .iter()
            .find(|p| p.number == *number)
            .and_then(|p| p.headers.iter().find(|(n, _)| *n == header))
            .is_some_and(|(_, v)| v == value);
        if !matches {
            return Err(S3Error::new(
                S3ErrorCode::InvalidPart,
                format!(
                    "One or more of the specified parts could not be found. The checksum \
                     named for part {number} is not the part's {alg} checksum."
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) fn abort(
    ctx: &ThreadContext<impl Storage>,
    r: &Route,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    ctx.store.abort_multipart(bucket, key, upload_id(r))?;
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: crate::response::Body::Empty,
    })
}

pub(crate) fn list_parts(
    ctx: &ThreadContext<impl Storage>,
    r: &Route,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    let max = crate::params::max_count("max-parts", r.param("max-parts"), 1000, 1000)?;
    let marker = crate::params::part_marker("part-number-marker", r.param("part-number-marker"))?;
    let all = ctx.store.list_parts(bucket, key, upload_id(r))?;
    let after: Vec<_> = all.into_iter().filter(|p| p.number > marker).collect();
    let truncated = after.len() > max;
    let mut x = Xml::new();
    x.root("ListPartsResult")
        .leaf("Bucket", bucket)
        .leaf("Key", key)
        .leaf("UploadId", upload_id(r));
    x.leaf("PartNumberMarker", &marker.to_string());
    if let Some(last) = after.get(after.len().min(max).wrapping_sub(1)) {
        x.leaf("NextPartNumberMarker", &last.number.to_string());
    }
    x.leaf("MaxParts", &max.to_string())
        .leaf("IsTruncated", if truncated { "true" } else { "false" });
    x.leaf("StorageClass", "STANDARD");
    for p in after.iter().take(max) {
        x.open("Part")
            .leaf("PartNumber", &p.number.to_string())
            .leaf("LastModified", &iso8601(p.modified));
        x.leaf("ETag", &format!("\"{}\"", p.etag))
            .leaf("Size", &p.size.to_string());
        for (n, v) in &p.headers {
            if let Some(alg) = n.strip_prefix("x-amz-checksum-") {
                x.leaf(&format!("Checksum{}", alg.to_ascii_uppercase()), v);
            }
        }
        x.close("Part");
    }
    x.close("ListPartsResult");
    Ok(xml_response(200, x.finish()))
}

pub(crate) fn list_uploads(
    ctx: &ThreadContext<impl Storage>,
    r: &Route,
    bucket: &str,
) -> Result<Response, S3Error> {
    let prefix = r.param("prefix").unwrap_or_default();
    let max = crate::params::max_count("max-uploads", r.param("max-uploads"), 1000, 1000)?;
    let key_marker = r.param("key-marker").unwrap_or_default();
    let uploads: Vec<_> = ctx
        .store
        .list_uploads(bucket)?
        .into_iter()
        .filter(|u| u.key.starts_with(prefix) && u.key.as_str() > key_marker)
        .collect();
    let truncated = uploads.len() > max;
    let mut x = Xml::new();
    x.root("ListMultipartUploadsResult")
        .leaf("Bucket", bucket)
        .leaf("KeyMarker", key_marker)
        .leaf("UploadIdMarker", "");
    if truncated {
        if let Some(last) = max.checked_sub(1).and_then(|i| uploads.get(i)) {
            x.leaf("NextKeyMarker", &last.key)
                .leaf("NextUploadIdMarker", &last.upload_id);
        }
    }
    x.leaf("Prefix", prefix)
        .leaf("MaxUploads", &max.to_string())
        .leaf("IsTruncated", if truncated { "true" } else { "false" });
    for u in uploads.iter().take(max) {
        x.open("Upload")
            .leaf("Key", &u.key)
            .leaf("UploadId", &u.upload_id);
        x.open("Initiator")
            .leaf("ID", "sluice")
            .leaf("DisplayName", "sluice")
            .close("Initiator");
        x.open("Owner")
            .leaf("ID", "sluice")
            .leaf("DisplayName", "sluice")
            .close("Owner");
        x.leaf("StorageClass", "STANDARD")
            .leaf("Initiated", &iso8601(u.initiated))
            .close("Upload");
    }
    x.close("ListMultipartUploadsResult");
    Ok(xml_response(200, x.finish()))
}
