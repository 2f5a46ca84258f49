//! Writing and deleting objects: PutObject (with its write conditions),
//! DeleteObject, DeleteObjects, and the headers kept with an object.

use sluice_core::{StoreError, WriteCondition};
use sluice_http::BodyDecoder;
use sluice_sigv4::Verified;

use crate::access::{arn, ConditionContext, Identity, Permission};
use crate::context::ThreadContext;
use crate::document::Element;
use crate::error::{S3Error, S3ErrorCode};
use crate::ops::OWNER_ID;
use crate::request::{Input, Request, Stream};
use crate::response::{response, xml_response, Response};
use crate::route::{Op, Route};
use crate::storage::{ObjectWrite, Storage};
use crate::upload::{receive, BodyChecksum};
use crate::xml::Xml;

/// Failure with whether the body was consumed.
type Fail = (S3Error, bool);

/// Headers kept with an object and returned on GET/HEAD.
pub(crate) fn kept_headers(req: &Request) -> Vec<(String, String)> {
    let mut kept = Vec::new();
    for (name, value) in &req.headers {
        let lower = name.to_ascii_lowercase();
        let keep = matches!(
            lower.as_str(),
            "content-type"
                | "cache-control"
                | "content-disposition"
                | "content-language"
                | "expires"
        ) || lower.starts_with("x-amz-meta-")
            || lower == crate::ops::tagging::TAGGING;
        if keep {
            kept.push((lower, String::from_utf8_lossy(value).trim().to_owned()));
        }
    }
    if let Some(encoding) = req
        .header("content-encoding")
        .and_then(|v| sluice_http::stored_content_encoding(v.as_bytes()))
    {
        kept.push(("content-encoding".into(), encoding));
    }
    if !kept.iter().any(|(n, _)| n == "content-type") {
        kept.push(("content-type".into(), "binary/octet-stream".into()));
    }
    kept
}

pub(crate) async fn put_object(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    r: &Route,
    verified: Option<&Verified>,
    decoder: BodyDecoder,
    input: &mut Input<impl Stream>,
    owner: Option<(u32, u32)>,
) -> Result<Response, Fail> {
    let bucket = r.bucket.as_deref().unwrap_or_default();
    let key = r.key.as_deref().unwrap_or_default();
    let early = |e: sluice_core::StoreError| (S3Error::from(e), false);
    let store = ctx.store_as(owner);
    // The bucket is opened once, for its default encryption (when that is
    // asked) and for the write.
    let mut opened = None;
    let seal = crate::sse::for_new_object_with(ctx, req, || {
        let open = store.open_bucket(bucket)?;
        let encrypts = crate::sse::open_bucket_encrypts(&*store, &open);
        opened = Some(open);
        encrypts
    })
    .map_err(|e| (e, false))?;
    let size = crate::sse::stored_size(req.decoded_length, seal.is_some()).map_err(early)?;
    let open = match opened {
        Some(open) => open,
        None => store.open_bucket(bucket).map_err(early)?,
    };
    let inner = store.put_object_in(open, key, size).map_err(early)?;
    let mut writer = crate::sse::writer(ctx, inner, seal.as_ref(), 0, req.decoded_length);
    let received = receive(
        ctx,
        req,
        verified,
        decoder,
        input,
        &mut writer,
        BodyChecksum::Named,
    )
    .await?;
    let mut headers = kept_headers(req);
    headers.extend(received.checksum_header());
    if let Some(seal) = &seal {
        headers.extend(
            crate::sse::kept_headers(seal, ctx.config.master_keys.as_ref())
                .map_err(|e| (e, true))?,
        );
    }
    let cond = crate::ops::object_write::write_condition(req);
    let info = writer
        .finish_if(headers, &cond)
        .await
        .map_err(|e| (e.into(), true))?;
    let mut resp = response(200);
    resp.headers
        .push(("ETag".into(), format!("\"{}\"", info.meta.etag)));
    resp.headers.extend(received.checksum_header());
    resp.headers
        .extend(seal.iter().flat_map(crate::sse::Seal::response_headers));
    Ok(resp)
}

/// DeleteObject: 204 whether or not the key existed, as S3 answers.
pub(crate) async fn delete(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    match ctx.store.delete_object(bucket, key).await {
        Ok(()) | Err(StoreError::NoSuchKey) => Ok(response(204)),
        Err(e) => Err(e.into()),
    }
}

/// POST ?delete: each key deleted, each result reported (errors per key).
/// Each key is authorized on its own (`s3:DeleteObject` on the object), as
/// S3 does: a denied key is an `AccessDenied` error element.
pub(crate) async fn delete_objects(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    body: &[u8],
    identity: &Identity,
    context: &ConditionContext<'_>,
) -> Result<Response, S3Error> {
    ctx.store.head_bucket(bucket)?;
    // The whole document is read before any key is deleted: one that is
    // refused (a key missing further down) deletes nothing.
    let (quiet, objects) = parse_delete(body)?;
    let mut x = Xml::new();
    x.root("DeleteResult");
    for (key, version) in objects {
        let version = version.as_deref();
        // Buckets are unversioned: a version other than `null` names
        // nothing, and must not delete the current object.
        if version.is_some_and(|v| v != "null") {
            x.open("Error")
                .leaf("Key", &key)
                .leaf("VersionId", version.unwrap_or_default())
                .leaf("Code", S3ErrorCode::InvalidArgument.as_str())
                .leaf("Message", "Invalid version id specified")
                .close("Error");
            continue;
        }
        let permission = Permission {
            action: "s3:DeleteObject",
            resource: arn(bucket, Some(&key)),
        };
        // The key's own tags for `s3:ExistingObjectTag`, as DeleteObject.
        let allowed = crate::grant::authorize_one(ctx, identity, &permission, *context);
        let deleted = match allowed {
            Ok(()) => ctx
                .store
                .delete_object(bucket, &key)
                .await
                .map_err(StoreOrDenied::Store),
            Err(e) => Err(StoreOrDenied::Denied(e)),
        };
        match deleted {
            Ok(()) | Err(StoreOrDenied::Store(StoreError::NoSuchKey)) => {
                if !quiet {
                    x.open("Deleted").leaf("Key", &key);
                    if version.is_some() {
                        x.leaf("VersionId", "null");
                    }
                    x.close("Deleted");
                }
            }
            Err(e) => {
                let e = match e {
                    StoreOrDenied::Store(e) => S3Error::from(e),
                    StoreOrDenied::Denied(e) => e,
                };
                if let Some(detail) = &e.internal {
                    tracing::warn!(bucket, key = %key, detail = %detail, "internal error in DeleteObjects");
                }
                x.open("Error")
                    .leaf("Key", &key)
                    .leaf("Code", e.code.as_str())
                    .leaf("Message", &e.message)
                    .close("Error");
            }
        }
    }
    x.close("DeleteResult");
    Ok(xml_response(200, x.finish()))
}

/// A Delete document: whether it is quiet, and each object's key and
/// VersionId (at most 1,000; each must have a key).
pub(crate) type DeleteList = (bool, Vec<(String, Option<String>)>);

/// Parses a Delete document (DeleteObjects).
pub(crate) fn parse_delete(body: &[u8]) -> Result<DeleteList, S3Error> {
    let doc = Element::parse(body)?;
    let quiet = doc
        .first("Quiet")
        .is_some_and(|q| q.text().trim() == "true");
    let objects = doc.all("Object");
    if objects.len() > 1000 {
        return Err(S3Error::from(S3ErrorCode::MalformedXML));
    }
    let mut out = Vec::with_capacity(objects.len());
    for object in objects {
        let key = object
            .first("Key")
            .map(|k| k.text().to_owned())
            .ok_or_else(|| S3Error::from(S3ErrorCode::MalformedXML))?;
        let version = object
            .first("VersionId")
            .map(|v| v.text().trim().to_owned());
        out.push((key, version));
    }
    Ok((quiet, out))
}

/// Why one key of a DeleteObjects was not deleted.
enum StoreOrDenied {
    Store(StoreError),
    Denied(S3Error),
}

/// If-None-Match: * and If-Match on a write (PutObject,
/// CompleteMultipartUpload), checked against the current object.
pub(crate) fn check_write_conditions(
    ctx: &ThreadContext<impl Storage>,
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

/// Refuses what a request asks for that sluice does not do, rather than
/// accept it and do something else ("never a wrong success"): ACLs other
/// than the private ones (buckets behave as S3's "bucket owner enforced"),
/// grants, server-side encryption (until it exists), storage classes other
/// than STANDARD. Every operation refuses customer-provided keys (SSE-C).
pub(crate) fn check_unsupported(req: &Request, op: Op) -> Result<(), S3Error> {
    let has_prefix = |p: &str| {
        req.headers
            .iter()
            .any(|(n, _)| starts_with_ignore_case(n, p))
    };
    if matches!(op, Op::PutObject | Op::CreateMultipartUpload) {
        check_metadata_size(req)?;
    }
    if !matches!(
        op,
        Op::PutObject | Op::CreateMultipartUpload | Op::CreateBucket
    ) {
        return Ok(());
    }
    let acl = req.header("x-amz-acl");
    if acl.is_some_and(|a| !matches!(a, "private" | "bucket-owner-full-control"))
        || has_prefix("x-amz-grant-")
    {
        return Err(S3ErrorCode::AccessControlListNotSupported.into());
    }
    if op == Op::CreateBucket {
        return Ok(());
    }
    if req
        .header("x-amz-storage-class")
        .is_some_and(|c| c != "STANDARD")
    {
        return Err(S3ErrorCode::InvalidStorageClass.into());
    }
    Ok(())
}

/// Whether `name` begins with `prefix`, ASCII case-insensitively. Bytes, not
/// characters: a name may hold any UTF-8 (a POST form's field names do), and
/// slicing it at the prefix's length could cut a character (a panic).
fn starts_with_ignore_case(name: &str, prefix: &str) -> bool {
    name.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// S3's limit on user-defined metadata: the bytes of each `x-amz-meta-*`
/// name (without the prefix) and value, 2 KiB in all (AWS S3 User Guide,
/// "Working with object metadata").
const MAX_USER_METADATA: usize = 2048;

/// Refuses more user metadata than S3 keeps (MetadataTooLarge) before the
/// body is read. Metadata within it that the filesystem still cannot keep
/// (with long system headers) is refused by the store, also unchanged.
fn check_metadata_size(req: &Request) -> Result<(), S3Error> {
    const PREFIX: &str = "x-amz-meta-";
    let size = req
        .headers
        .iter()
        .filter(|(n, _)| starts_with_ignore_case(n, PREFIX))
        .fold(0usize, |sum, (n, v)| {
            sum.saturating_add(n.len().saturating_sub(PREFIX.len()))
                .saturating_add(v.len())
        });
    if size > MAX_USER_METADATA {
        return Err(S3ErrorCode::MetadataTooLarge.into());
    }
    Ok(())
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
