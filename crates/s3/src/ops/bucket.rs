//! Buckets: ListBuckets, CreateBucket, DeleteBucket, HeadBucket,
//! GetBucketLocation, GetBucketVersioning.

use sluice_core::StoreError;

use crate::context::ThreadContext;
use crate::error::{S3Error, S3ErrorCode};
use crate::response::{response, xml_response, Response};
use crate::route::Route;
use crate::storage::Storage;
use crate::time::iso8601;
use crate::xml::Xml;

pub(crate) fn list_buckets(
    ctx: &ThreadContext<impl Storage>,
    r: &Route,
) -> Result<Response, S3Error> {
    let mut buckets = ctx.store.list_buckets().map_err(S3Error::from)?;
    let prefix = r.param("prefix").unwrap_or_default();
    let after = r
        .param("continuation-token")
        .map(crate::params::continuation_key)
        .transpose()?;
    buckets.retain(|b| {
        b.name.starts_with(prefix) && after.as_ref().is_none_or(|a| b.name.as_str() > a.as_str())
    });
    let max = crate::params::max_count("max-buckets", r.param("max-buckets"), 10_000, 10_000)?;
    if max == 0 {
        return Err(S3Error::new(
            S3ErrorCode::InvalidArgument,
            "max-buckets must be between 1 and 10000",
        ));
    }
    let truncated = buckets.len() > max;
    buckets.truncate(max);
    let mut x = Xml::new();
    x.root("ListAllMyBucketsResult")
        .open("Owner")
        .leaf("ID", crate::ops::OWNER_ID)
        .leaf("DisplayName", crate::ops::OWNER_ID)
        .close("Owner");
    x.open("Buckets");
    for b in &buckets {
        x.open("Bucket")
            .leaf("Name", &b.name)
            .leaf("CreationDate", &iso8601(b.created))
            .leaf("BucketRegion", &ctx.config.region)
            .close("Bucket");
    }
    x.close("Buckets");
    if truncated {
        if let Some(last) = buckets.last() {
            x.leaf(
                "ContinuationToken",
                &crate::params::continuation_token(&last.name),
            );
        }
    }
    if !prefix.is_empty() {
        x.leaf("Prefix", prefix);
    }
    x.close("ListAllMyBucketsResult");
    Ok(xml_response(200, x.finish()))
}

/// CreateBucket (the location constraint in the body is accepted as is).
///
/// Re-creating a bucket one owns is 200 in us-east-1 and 409
/// BucketAlreadyOwnedByYou in every other region (AWS S3 API Reference,
/// CreateBucket, Errors: "For legacy compatibility, if you re-create an
/// existing bucket that you already own in the North Virginia Region,
/// Amazon S3 returns 200 OK"). Every bucket here is the one owner's.
/// The region a CreateBucketConfiguration names, if any (an empty body
/// or constraint names none).
pub(crate) fn location_constraint(body: &[u8]) -> Result<Option<String>, S3Error> {
    if body.is_empty() {
        return Ok(None);
    }
    let doc = crate::document::Element::parse(body)?;
    Ok(doc
        .first("LocationConstraint")
        .map(|c| c.text().trim().to_owned())
        .filter(|c| !c.is_empty()))
}

pub(crate) fn create(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    body: &[u8],
) -> Result<Response, S3Error> {
    // A CreateBucketConfiguration may name the region: sluice serves one
    // (`--region`), so another is refused as S3 refuses a constraint that
    // does not match the endpoint's region. Naming the server's own region
    // is accepted, us-east-1 included (S3 itself wants it left out there).
    if let Some(wanted) = location_constraint(body)?.filter(|w| *w != ctx.config.region) {
        return Err(S3Error::new(
            S3ErrorCode::IllegalLocationConstraintException,
            format!(
                "The {wanted} location constraint is incompatible for the region \
                 specific endpoint this request was sent to."
            ),
        ));
    }
    match ctx.store.create_bucket(bucket) {
        // A name taken by something that is not a bucket (a file made
        // over POSIX) stays a conflict.
        Err(StoreError::BucketAlreadyExists)
            if ctx.config.region == "us-east-1" && ctx.store.head_bucket(bucket).is_ok() => {}
        other => other?,
    }
    let mut resp = response(200);
    resp.headers.push(("Location".into(), format!("/{bucket}")));
    Ok(resp)
}

/// DeleteBucket (an empty one).
pub(crate) fn delete(ctx: &ThreadContext<impl Storage>, bucket: &str) -> Result<Response, S3Error> {
    ctx.store.delete_bucket(bucket)?;
    Ok(response(204))
}

/// HeadBucket.
pub(crate) fn head(ctx: &ThreadContext<impl Storage>, bucket: &str) -> Result<Response, S3Error> {
    ctx.store.head_bucket(bucket)?;
    let mut resp = response(200);
    resp.headers
        .push(("x-amz-bucket-region".into(), ctx.config.region.clone()));
    Ok(resp)
}

/// GetBucketLocation: empty for us-east-1, as S3 answers.
pub(crate) fn location(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
) -> Result<Response, S3Error> {
    ctx.store.head_bucket(bucket)?;
    let mut x = Xml::new();
    x.root("LocationConstraint");
    if ctx.config.region != "us-east-1" {
        crate::xml::escape_into(x.text_mut(), &ctx.config.region);
    }
    x.close("LocationConstraint");
    Ok(xml_response(200, x.finish()))
}

/// GetBucketVersioning: never enabled.
pub(crate) fn versioning(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
) -> Result<Response, S3Error> {
    ctx.store.head_bucket(bucket)?;
    let mut x = Xml::new();
    x.root("VersioningConfiguration")
        .close("VersioningConfiguration");
    Ok(xml_response(200, x.finish()))
}
