//! Bucket policies: Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus,
//! kept by the configured [`crate::BucketPolicyStore`] (the cluster's
//! config directory in `sluice serve`), applied by the authorizer.

use crate::context::ThreadContext;
use crate::error::{S3Error, S3ErrorCode};
use crate::response::{response, xml_response, Body, Response};
use crate::storage::Storage;
use crate::xml::Xml;

/// The policy store, for an existing bucket.
fn policies<'a>(
    ctx: &'a ThreadContext<impl Storage>,
    bucket: &str,
) -> Result<&'a dyn crate::context::BucketPolicyStore, S3Error> {
    let store = ctx.config.bucket_policies.as_deref().ok_or_else(|| {
        S3Error::not_implemented("Bucket policies without a cluster (sluice cluster create)")
    })?;
    ctx.store.head_bucket(bucket)?;
    Ok(store)
}

pub(crate) fn put(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    body: &[u8],
) -> Result<Response, S3Error> {
    let store = policies(ctx, bucket)?;
    let text = std::str::from_utf8(body)
        .map_err(|_| S3Error::new(S3ErrorCode::MalformedPolicy, "Policies must be UTF-8 JSON"))?;
    store.put(bucket, text)?;
    Ok(response(204))
}

pub(crate) fn get(ctx: &ThreadContext<impl Storage>, bucket: &str) -> Result<Response, S3Error> {
    let store = policies(ctx, bucket)?;
    let text = store
        .get(bucket)?
        .ok_or_else(|| S3Error::from(S3ErrorCode::NoSuchBucketPolicy))?;
    Ok(Response {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: Body::Bytes(text.into_bytes()),
    })
}

pub(crate) fn delete(ctx: &ThreadContext<impl Storage>, bucket: &str) -> Result<Response, S3Error> {
    let store = policies(ctx, bucket)?;
    store.delete(bucket)?;
    Ok(response(204))
}

pub(crate) fn status(ctx: &ThreadContext<impl Storage>, bucket: &str) -> Result<Response, S3Error> {
    let store = policies(ctx, bucket)?;
    let public = store
        .is_public(bucket)?
        .ok_or_else(|| S3Error::from(S3ErrorCode::NoSuchBucketPolicy))?;
    let mut x = Xml::new();
    x.root("PolicyStatus")
        .leaf("IsPublic", if public { "true" } else { "false" })
        .close("PolicyStatus");
    Ok(xml_response(200, x.finish()))
}

const PAB_FIELDS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

/// Parses a PublicAccessBlockConfiguration document: its four flags
/// (absent ones false), nothing else.
pub(crate) fn parse_public_access_block(
    body: &[u8],
) -> Result<crate::context::PublicAccessBlock, S3Error> {
    let doc = crate::document::Element::parse(body)?;
    if doc.name != "PublicAccessBlockConfiguration" {
        return Err(S3ErrorCode::MalformedXML.into());
    }
    let mut flags = [false; 4];
    for c in doc.children() {
        let i = PAB_FIELDS
            .iter()
            .position(|f| *f == c.name)
            .ok_or_else(|| S3Error::from(S3ErrorCode::MalformedXML))?;
        flags[i] = match c.text().trim() {
            "true" | "TRUE" | "True" => true,
            "false" | "FALSE" | "False" => false,
            _ => return Err(S3ErrorCode::MalformedXML.into()),
        };
    }
    let [block_public_acls, ignore_public_acls, block_public_policy, restrict_public_buckets] =
        flags;
    Ok(crate::context::PublicAccessBlock {
        block_public_acls,
        ignore_public_acls,
        block_public_policy,
        restrict_public_buckets,
    })
}

pub(crate) fn put_public_access_block(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    body: &[u8],
) -> Result<Response, S3Error> {
    let store = policies(ctx, bucket)?;
    let block = parse_public_access_block(body)?;
    store.set_public_access_block(bucket, Some(block))?;
    Ok(response(200))
}

pub(crate) fn get_public_access_block(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
) -> Result<Response, S3Error> {
    let store = policies(ctx, bucket)?;
    let b = store
        .public_access_block(bucket)?
        .ok_or_else(|| S3Error::from(S3ErrorCode::NoSuchPublicAccessBlockConfiguration))?;
    let values = [
        b.block_public_acls,
        b.ignore_public_acls,
        b.block_public_policy,
        b.restrict_public_buckets,
    ];
    let mut x = Xml::new();
    x.root("PublicAccessBlockConfiguration");
    for (name, on) in PAB_FIELDS.iter().zip(values) {
        x.leaf(name, if on { "true" } else { "false" });
    }
    x.close("PublicAccessBlockConfiguration");
    Ok(xml_response(200, x.finish()))
}

pub(crate) fn delete_public_access_block(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
) -> Result<Response, S3Error> {
    let store = policies(ctx, bucket)?;
    store.set_public_access_block(bucket, None)?;
    Ok(response(204))
}
