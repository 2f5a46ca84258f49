//! Multipart uploads: create, upload part, complete, abort, list parts,
//! list uploads.

use sluice_http::BodyDecoder;
use sluice_sigv4::{ChecksumAlgorithm, Verified};

use crate::context::ThreadContext;
use crate::document::Element;
use crate::error::{S3Error, S3ErrorCode};
use crate::ops::mpu_checksum::{
    element, object_checksum, part_algorithm, CompleteChecksums, UploadChecksum,
};
use crate::ops::object_write::kept_headers;
use crate::request::{Input, Request, Stream};
use crate::response::{xml_response, Response};
use crate::route::Route;
use crate::storage::{PartWrite, Storage};
use crate::time::iso8601;
use crate::upload::{named_algorithm, receive, BodyChecksum};
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
    let checksum = UploadChecksum::from_create(req)?;
    let mut headers = kept_headers(req);
    headers.extend(
        checksum
            .into_iter()
            .flat_map(UploadChecksum::upload_headers),
    );
    let keys = ctx.config.master_keys.as_ref();
    let seal = crate::sse::for_new_object(ctx, req, bucket)?;
    if let Some(seal) = &seal {
        headers.extend(crate::sse::kept_headers(seal, keys)?);
    }
    let id = ctx.store.create_multipart(bucket, key, headers)?;
    let mut x = Xml::new();
    x.root("InitiateMultipartUploadResult")
        .leaf("Bucket", bucket)
        .leaf("Key", key)
        .leaf("UploadId", &id);
    x.close("InitiateMultipartUploadResult");
    let mut resp = xml_response(200, x.finish());
    resp.headers.extend(
        checksum
            .into_iter()
            .flat_map(UploadChecksum::response_headers),
    );
    resp.headers
        .extend(seal.iter().flat_map(crate::sse::Seal::response_headers));
    Ok(resp)
}

pub(crate) async fn upload_part(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    verified: Option<&Verified>,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
) -> Result<Response, Fail> {
    let early = |e: S3Error| (e, false);
    let bucket = r.bucket.as_deref().unwrap_or_default();
    let key = r.key.as_deref().unwrap_or_default();
    let number = part_number(r).map_err(early)?;
    // An encrypted upload's parts are sealed with its data key (an SSE-C
    // upload's only with the customer's key given again).
    let upload = ctx
        .store
        .get_upload(bucket, key, upload_id(r))
        .map_err(|e| early(e.into()))?;
    let seal = crate::sse::of_stored(&upload.headers, req, false, ctx.config.master_keys.as_ref())
        .map_err(early)?;
    let size =
        crate::sse::stored_size(req.decoded_length, seal.is_some()).map_err(|e| early(e.into()))?;
    let part = ctx
        .store
        .upload_part(bucket, key, upload_id(r), number, size)
        .map_err(|e| early(e.into()))?;
    let mut part = crate::sse::writer(ctx, part, seal.as_ref(), number, req.decoded_length);
    let plan = UploadChecksum::of_upload(part.upload_headers());
    let compute = part_algorithm(named_algorithm(req), plan).map_err(early)?;
    let which = compute.map_or(BodyChecksum::Named, BodyChecksum::NamedOr);
    let received = receive(ctx, req, verified, decoder, input, &mut part, which).await?;
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
    resp.headers
        .extend(seal.iter().flat_map(crate::sse::Seal::response_headers));
    Ok(resp)
}

/// The parts a CompleteMultipartUpload document lists: (number, ETag),
/// at least one.
pub(crate) fn complete_parts(doc: &Element) -> Result<Vec<(u32, String)>, S3Error> {
    let mut parts = Vec::new();
    for part in doc.all("Part") {
        let number = part
            .first("PartNumber")
            .and_then(|n| n.text().trim().parse::<u32>().ok())
            .ok_or_else(|| S3Error::from(S3ErrorCode::MalformedXML))?;
        let etag = part
            .first("ETag")
            .map(|e| e.text().trim().to_owned())
            .ok_or_else(|| S3Error::from(S3ErrorCode::MalformedXML))?;
        parts.push((number, etag));
    }
    if parts.is_empty() {
        return Err(S3Error::from(S3ErrorCode::MalformedXML));
    }
    Ok(parts)
}

pub(crate) async fn complete(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    bucket: &str,
    key: &str,
    body: &[u8],
    owner: Option<(u32, u32)>,
) -> Result<Response, S3Error> {
    let doc = Element::parse(body)?;
    let checksums = CompleteChecksums::parse(req, &doc)?;
    let parts = complete_parts(&doc)?;
    let info = ctx
        .store_as(owner)
        .complete_multipart(
            bucket,
            key,
            upload_id(r),
            &parts,
            &crate::ops::object_write::write_condition(req),
            |upload, named| {
                if !upload
                    .headers
                    .iter()
                    .any(|(n, _)| n == crate::sse::SSE_HEADER)
                {
                    return checksums.finish(upload, named);
                }
                // Checksums combine over the parts' plaintext lengths.
                let plain = crate::sse::plain_parts(named);
                let mut headers = checksums.finish(upload, &plain)?;
                {
                    headers.extend(crate::sse::completed_headers(
                        upload,
                        named,
                        ctx.config.master_keys.as_ref(),
                    )?);
                }
                Ok::<_, S3Error>(headers)
            },
        )
        .await?;
    let mut x = Xml::new();
    x.root("CompleteMultipartUploadResult")
        .leaf("Location", &format!("/{bucket}/{key}"))
        .leaf("Bucket", bucket)
        .leaf("Key", key);
    x.leaf("ETag", &format!("\"{}\"", info.meta.etag));
    if let Some((alg, value, kind)) = object_checksum(&info.meta.headers) {
        x.leaf(&element(alg), value).leaf("ChecksumType", kind);
    }
    x.close("CompleteMultipartUploadResult");
    let mut resp = xml_response(200, x.finish());
    if info
        .meta
        .header(crate::sse::SSE_HEADER)
        .is_some_and(|v| v.starts_with("s3 "))
    {
        resp.headers
            .push(("x-amz-server-side-encryption".into(), "AES256".into()));
    }
    if let Some(c) = crate::sse::customer_key(req, false)? {
        resp.headers.extend(crate::sse::customer_headers(&c));
    }
    Ok(resp)
}

pub(crate) async fn abort(
    ctx: &ThreadContext<impl Storage>,
    r: &Route,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    ctx.store.abort_multipart(bucket, key, upload_id(r)).await?;
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: crate::response::Body::Empty,
    })
}

pub(crate) fn list_parts(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    let max = crate::params::max_count("max-parts", r.param("max-parts"), 1000, 1000)?;
    let marker = crate::params::part_marker("part-number-marker", r.param("part-number-marker"))?;
    let upload = ctx.store.get_upload(bucket, key, upload_id(r))?;
    // An SSE-C upload's part checksums are its plaintext's: for those
    // with its key, as AWS has it.
    if UploadChecksum::of_upload(&upload.headers).is_some() {
        crate::sse::of_stored(&upload.headers, req, false, ctx.config.master_keys.as_ref())?;
    }
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
    if let Some(c) = UploadChecksum::of_upload(&upload.headers) {
        x.leaf("ChecksumAlgorithm", c.algorithm.name())
            .leaf("ChecksumType", c.kind.name());
    }
    for p in after.iter().take(max) {
        x.open("Part")
            .leaf("PartNumber", &p.number.to_string())
            .leaf("LastModified", &iso8601(p.modified));
        // A part stored encrypted: the size of its plaintext.
        let size = p
            .headers
            .iter()
            .find(|(n, _)| n == crate::sse::PART_PLAIN_HEADER)
            .map_or_else(|| p.size.to_string(), |(_, v)| v.clone());
        x.leaf("ETag", &format!("\"{}\"", p.etag))
            .leaf("Size", &size);
        for (n, v) in &p.headers {
            if let Some(alg) = ChecksumAlgorithm::from_header_name(n.as_bytes()) {
                x.leaf(&element(alg), v);
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
            .leaf("Initiated", &iso8601(u.initiated));
        if let Some(c) = UploadChecksum::of_upload(&u.headers) {
            x.leaf("ChecksumAlgorithm", c.algorithm.name())
                .leaf("ChecksumType", c.kind.name());
        }
        x.close("Upload");
    }
    x.close("ListMultipartUploadsResult");
    Ok(xml_response(200, x.finish()))
}
