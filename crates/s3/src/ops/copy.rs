//! Server-side copies: CopyObject and UploadPartCopy.

use crate::context::ThreadContext;
use crate::error::{S3Error, S3ErrorCode};
use crate::ops::mpu_checksum::{element, UploadChecksum};
use crate::ops::multipart::{part_number, upload_id};
use crate::ops::object_write::kept_headers;
use crate::request::Request;
use crate::response::{xml_response, Response};
use crate::route::Route;
use crate::storage::{BodyWrite, ObjectRead, PartWrite, Storage};
use crate::time::iso8601;
use crate::xml::Xml;

/// PUT with x-amz-copy-source.
pub(crate) async fn copy_object(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    bucket: &str,
    key: &str,
    source: &str,
    owner: Option<(u32, u32)>,
) -> Result<Response, S3Error> {
    let (src_bucket, src_key) = copy_source(source)?;
    let (src_bucket, src_key) = (src_bucket.as_str(), src_key.as_str());
    let head = ctx.store.head_object(src_bucket, src_key)?;
    let keys = ctx.config.master_keys.as_ref();
    // The source's encryption (an SSE-C source only with its key given in
    // the copy-source headers), before the copy conditions, as AWS.
    let source_seal = crate::sse::of_stored(&head.meta.headers, req, true, keys)?;
    let etag = &head.meta.etag;
    let failed = || {
        S3Error::new(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
    };
    if let Some(m) = req.header("x-amz-copy-source-if-match") {
        if m.trim_matches('"') != etag && m != "*" {
            return Err(failed());
        }
    }
    if let Some(m) = req.header("x-amz-copy-source-if-none-match") {
        if m.trim_matches('"') == etag || m == "*" {
            return Err(failed());
        }
    }
    let modified = head
        .modified
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let date = |h: &str| crate::params::http_date(req.header(h));
    if date("x-amz-copy-source-if-unmodified-since").is_some_and(|t| modified > t)
        || date("x-amz-copy-source-if-modified-since").is_some_and(|t| modified <= t)
    {
        return Err(failed());
    }
    let replace = req
        .header("x-amz-metadata-directive")
        .is_some_and(|d| d.eq_ignore_ascii_case("REPLACE"));
    if !replace && src_bucket == bucket && src_key == key && crate::sse::requested(req)?.is_none() {
        return Err(S3Error::new(S3ErrorCode::InvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    // The copy's encryption: what the request asks, else the destination
    // bucket's default.
    let seal = crate::sse::for_new_object(ctx, req, bucket)?;
    let cond = crate::ops::object_write::write_condition(req);
    let (info, answered) = match (&source_seal, &seal) {
        // The stored bytes can be copied as they are: both plain, or both
        // SSE-S3 (the copy keeps the source's data key, wrapped as it is).
        (None, None) | (Some(_), Some(_))
            if source_seal
                .as_ref()
                .is_none_or(|s| matches!(s.kind, crate::sse::Kind::Managed(_)))
                && seal
                    .as_ref()
                    .is_none_or(|s| matches!(s.kind, crate::sse::Kind::Managed(_))) =>
        {
            let headers = replace.then(|| {
                let mut kept = kept_headers(req);
                kept.extend(
                    head.meta
                        .headers
                        .iter()
                        .filter(|(n, _)| {
                            n.starts_with("x-amz-checksum-")
                                || (source_seal.is_some() && n.starts_with("x-sluice-"))
                        })
                        .cloned(),
                );
                kept
            });
            let info = ctx
                .store_as(owner)
                .copy_object(src_bucket, src_key, bucket, key, headers, &cond)
                .await?;
            (info, source_seal.clone())
        }
        // Otherwise the plaintext is read and written again.
        _ => {
            // Written whole, the copy has one part: a multipart source's
            // composite checksum does not describe it.
            let composite =
                head.meta.header(crate::ops::mpu_checksum::TYPE_HEADER) == Some("COMPOSITE");
            let checksum = |n: &str| n.starts_with("x-amz-checksum-");
            let headers = if replace {
                let mut kept = kept_headers(req);
                kept.extend(
                    head.meta
                        .headers
                        .iter()
                        .filter(|(n, _)| checksum(n) && !composite)
                        .cloned(),
                );
                kept
            } else {
                head.meta
                    .headers
                    .iter()
                    .filter(|(n, _)| !(n.starts_with("x-sluice-") || (composite && checksum(n))))
                    .cloned()
                    .collect()
            };
            let info = rewrite(
                ctx,
                src_bucket,
                src_key,
                source_seal.as_ref(),
                bucket,
                key,
                seal.as_ref(),
                headers,
                &cond,
                owner,
            )
            .await?;
            (info, seal.clone())
        }
    };
    let mut x = Xml::new();
    x.root("CopyObjectResult")
        .leaf("LastModified", &iso8601(info.modified))
        .leaf("ETag", &format!("\"{}\"", info.meta.etag));
    x.close("CopyObjectResult");
    let mut resp = xml_response(200, x.finish());
    resp.headers
        .extend(answered.iter().flat_map(crate::sse::Seal::response_headers));
    Ok(resp)
}

/// A copy through the plaintext: the source opened (decrypted when it is
/// encrypted), written as a new object (sealed when `seal` is given).
#[allow(clippy::too_many_arguments)]
async fn rewrite<B: Storage>(
    ctx: &ThreadContext<B>,
    src_bucket: &str,
    src_key: &str,
    source_seal: Option<&crate::sse::Seal>,
    bucket: &str,
    key: &str,
    seal: Option<&crate::sse::Seal>,
    mut headers: Vec<(String, String)>,
    cond: &sluice_core::WriteCondition,
    owner: Option<(u32, u32)>,
) -> Result<sluice_core::ObjectInfo, S3Error> {
    use crate::storage::ObjectWrite as _;
    let mut reader =
        crate::sse::Reader::new(ctx.store.get_object(src_bucket, src_key)?, source_seal)?;
    let size = reader.info().size;
    let inner = ctx.store_as(owner).put_object(
        bucket,
        key,
        crate::sse::stored_size(Some(size), seal.is_some())?,
    )?;
    let mut writer = crate::sse::writer(ctx, inner, seal, 0, Some(size));
    pump(ctx, &mut reader, &mut writer, None).await?;
    if let Some(seal) = seal {
        headers.extend(crate::sse::kept_headers(
            seal,
            ctx.config.master_keys.as_ref(),
        )?);
    }
    Ok(writer.finish_if(headers, cond).await?)
}

/// Streams `reader` into `writer` in whole pool buffers, feeding
/// `checksum` the bytes on the way.
async fn pump(
    ctx: &ThreadContext<impl Storage>,
    reader: &mut impl ObjectRead,
    writer: &mut impl BodyWrite,
    mut checksum: Option<&mut sluice_sigv4::Checksum>,
) -> Result<(), S3Error> {
    let mut out = ctx.pool.get();
    while let Some(chunk) = reader.next_chunk(&ctx.pool).await? {
        if let Some(c) = checksum.as_deref_mut() {
            c.update(chunk.data());
        }
        let mut rest = chunk.data();
        while !rest.is_empty() {
            let n = out.extend_from_slice(rest);
            rest = &rest[n..];
            if out.len() == out.capacity() {
                writer
                    .write(std::mem::replace(&mut out, ctx.pool.get()))
                    .await?;
            }
        }
    }
    if !out.is_empty() {
        writer.write(out).await?;
    }
    Ok(())
}

/// The source bucket and key of `x-amz-copy-source`
/// (`bucket/key[?versionId=v]`, percent-encoded). The version part is split
/// off before decoding: a key holding `?` arrives as `%3F` (boto3 sends
/// `bkt/a%3Fb` for key `a?b`) and must not be cut there.
fn copy_source(source: &str) -> Result<(String, String), S3Error> {
    let (path, version) = source
        .split_once('?')
        .map_or((source, None), |(s, v)| (s, Some(v)));
    // Buckets are unversioned: only the `null` version exists.
    if let Some(v) = version {
        let id = v.strip_prefix("versionId=").unwrap_or(v);
        if id != "null" {
            return Err(S3Error::new(
                S3ErrorCode::InvalidArgument,
                "Invalid version id specified",
            ));
        }
    }
    let source = sluice_http::percent_decode(path, false)
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidArgument, "Invalid copy source encoding"))?;
    source
        .trim_start_matches('/')
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .map(|(b, k)| (b.to_owned(), k.to_owned()))
        .ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::InvalidArgument,
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            )
        })
}

/// UploadPartCopy: a part filled from (a range of) another object.
pub(crate) async fn upload_part_copy(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    source: &str,
) -> Result<Response, S3Error> {
    let (src_bucket, src_key) = copy_source(source)?;
    let bucket = r.bucket.as_deref().unwrap_or_default();
    let key = r.key.as_deref().unwrap_or_default();
    let number = part_number(r)?;
    let keys = ctx.config.master_keys.as_ref();
    let inner = ctx.store.get_object(&src_bucket, &src_key)?;
    let source_seal = crate::sse::of_stored(&inner.info().meta.headers, req, true, keys)?;
    let mut reader = crate::sse::Reader::new(inner, source_seal.as_ref())?;
    let size = reader.info().size;
    let (start, end) = match req.header("x-amz-copy-source-range") {
        Some(range) => crate::params::copy_source_range(range, size)?,
        None => (0, size),
    };
    reader.set_range(start, end);
    // The destination upload's encryption (an SSE-C one with its key).
    let upload = ctx.store.get_upload(bucket, key, upload_id(r))?;
    let seal = crate::sse::of_stored(&upload.headers, req, false, keys)?;
    let len = end.saturating_sub(start);
    let part = ctx.store.upload_part(
        bucket,
        key,
        upload_id(r),
        number,
        crate::sse::stored_size(Some(len), seal.is_some())?,
    )?;
    let mut part = crate::sse::writer(ctx, part, seal.as_ref(), number, Some(len));
    // A part of an upload with a checksum gets the upload's algorithm
    // computed over the bytes copied, and recorded like an uploaded part's.
    let mut checksum = UploadChecksum::of_upload(part.upload_headers())
        .map(|c| sluice_sigv4::Checksum::new(c.algorithm));
    pump(ctx, &mut reader, &mut part, checksum.as_mut()).await?;
    let checksum = checksum.map(sluice_sigv4::Checksum::finish);
    let recorded = checksum
        .map(|c| (c.algorithm().header_name().to_owned(), c.to_base64()))
        .into_iter()
        .collect();
    let info = part.finish(recorded).await?;
    let mut x = Xml::new();
    x.root("CopyPartResult")
        .leaf("LastModified", &iso8601(info.modified))
        .leaf("ETag", &format!("\"{}\"", info.etag));
    if let Some(c) = checksum {
        x.leaf(&element(c.algorithm()), &c.to_base64());
    }
    x.close("CopyPartResult");
    let mut resp = xml_response(200, x.finish());
    resp.headers
        .extend(seal.iter().flat_map(crate::sse::Seal::response_headers));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::copy_source;

    /// Regression (issue 10): the header was decoded before the version
    /// was split off, so key `a?b` (sent as `a%3Fb`) copied key `a`.
    #[test]
    fn copy_source_splits_the_version_before_decoding() {
        let pair = |s: &str| copy_source(s).map_err(|e| e.code.as_str());
        assert_eq!(pair("bkt/a%3Fb"), Ok(("bkt".into(), "a?b".into())));
        assert_eq!(
            pair("/bkt/a%3Fb?versionId=null"),
            Ok(("bkt".into(), "a?b".into()))
        );
        assert_eq!(pair("bkt/dir/k%20y"), Ok(("bkt".into(), "dir/k y".into())));
        // Regression (issue 12): a version other than null was ignored
        // and the current object copied.
        assert_eq!(pair("bkt/a?versionId=x%3Fy"), Err("InvalidArgument"));
        assert_eq!(pair("bkt"), Err("InvalidArgument"));
    }
}
