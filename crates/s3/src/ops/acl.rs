//! ACLs as S3 has them for every bucket made since April 2023: object
//! ownership `BucketOwnerEnforced`, ACLs disabled. GetBucketAcl and
//! GetObjectAcl answer the owner with FULL_CONTROL, which is what every
//! request is allowed under then; PutBucketAcl and PutObjectAcl accept only
//! what changes nothing (the canned `private` or `bucket-owner-full-control`,
//! or a policy that grants the owner FULL_CONTROL alone) and answer
//! AccessControlListNotSupported to anything else, as S3 does for a bucket
//! with ACLs disabled. Get/PutBucketOwnershipControls show and accept
//! `BucketOwnerEnforced`; the other modes, and deleting the controls (which
//! would turn ACLs on), are NotImplemented: sluice has no ACLs to enable.

use crate::context::ThreadContext;
use crate::document::Element;
use crate::error::{S3Error, S3ErrorCode};
use crate::ops::OWNER_ID;
use crate::request::Request;
use crate::response::{response, xml_response, Response};
use crate::storage::Storage;
use crate::xml::Xml;

/// The one ownership mode sluice has.
const ENFORCED: &str = "BucketOwnerEnforced";

/// The ACL of a bucket, or of an object when `key` is given.
pub(crate) fn get_acl(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    key: Option<&str>,
) -> Result<Response, S3Error> {
    match key {
        Some(key) => drop(ctx.store.head_object(bucket, key)?),
        None => drop(ctx.store.head_bucket(bucket)?),
    }
    let mut x = Xml::new();
    x.root("AccessControlPolicy")
        .open("Owner")
        .leaf("ID", OWNER_ID)
        .leaf("DisplayName", OWNER_ID)
        .close("Owner")
        .open("AccessControlList")
        .open("Grant");
    x.text_mut().push_str(
        r#"<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">"#,
    );
    x.leaf("ID", OWNER_ID)
        .leaf("DisplayName", OWNER_ID)
        .close("Grantee")
        .leaf("Permission", "FULL_CONTROL")
        .close("Grant")
        .close("AccessControlList")
        .close("AccessControlPolicy");
    Ok(xml_response(200, x.finish()))
}

/// PutBucketAcl / PutObjectAcl: accepted when it leaves the owner with
/// FULL_CONTROL and nobody else with anything.
pub(crate) fn put_acl(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    bucket: &str,
    key: Option<&str>,
    body: &[u8],
) -> Result<Response, S3Error> {
    match key {
        Some(key) => drop(ctx.store.head_object(bucket, key)?),
        None => drop(ctx.store.head_bucket(bucket)?),
    }
    let canned = req.header("x-amz-acl");
    let grants = req
        .headers
        .iter()
        .any(|(n, _)| n.to_ascii_lowercase().starts_with("x-amz-grant-"));
    if grants || canned.is_some_and(|a| !matches!(a, "private" | "bucket-owner-full-control")) {
        return Err(S3ErrorCode::AccessControlListNotSupported.into());
    }
    if !body.is_empty() {
        if canned.is_some() {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                "Specifying both Canned ACLs and Header Grants is not allowed",
            ));
        }
        if !owner_only(body)? {
            return Err(S3ErrorCode::AccessControlListNotSupported.into());
        }
    } else if canned.is_none() {
        return Err(S3Error::new(
            S3ErrorCode::MalformedXML,
            "An ACL, in a header or the body, is required",
        ));
    }
    Ok(response(200))
}

pub(crate) fn get_ownership(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
) -> Result<Response, S3Error> {
    ctx.store.head_bucket(bucket)?;
    let mut x = Xml::new();
    x.root("OwnershipControls")
        .open("Rule")
        .leaf("ObjectOwnership", ENFORCED)
        .close("Rule")
        .close("OwnershipControls");
    Ok(xml_response(200, x.finish()))
}

pub(crate) fn put_ownership(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    body: &[u8],
) -> Result<Response, S3Error> {
    ctx.store.head_bucket(bucket)?;
    parse_ownership(body)?;
    Ok(response(200))
}

/// Checks an OwnershipControls document: BucketOwnerEnforced, the only
/// mode sluice has.
pub(crate) fn parse_ownership(body: &[u8]) -> Result<(), S3Error> {
    let doc = Element::parse(body)?;
    let modes: Vec<&str> = doc
        .all("ObjectOwnership")
        .iter()
        .map(|m| m.text().trim())
        .collect();
    match modes.as_slice() {
        [ENFORCED] => Ok(()),
        [mode @ ("BucketOwnerPreferred" | "ObjectWriter")] => Err(S3Error::not_implemented(
            &format!("Object ownership {mode} (ACLs; sluice has BucketOwnerEnforced only)"),
        )),
        _ => Err(S3ErrorCode::MalformedXML.into()),
    }
}

/// Whether an AccessControlPolicy document grants FULL_CONTROL to the
/// owner and nothing else (what sluice's buckets and objects have).
pub(crate) fn owner_only(body: &[u8]) -> Result<bool, S3Error> {
    let doc = Element::parse(body)?;
    let grants = doc.all("Grant");
    Ok(!grants.is_empty()
        && grants.iter().all(|g| {
            g.first("Permission").map(|p| p.text().trim()) == Some("FULL_CONTROL")
                && g.first("Grantee")
                    .and_then(|e| e.first("ID"))
                    .map(|id| id.text().trim())
                    == Some(OWNER_ID)
        }))
}

/// Deleting the controls turns ACLs on (ObjectWriter) in S3: sluice has
/// none to turn on.
pub(crate) fn delete_ownership(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
) -> Result<Response, S3Error> {
    ctx.store.head_bucket(bucket)?;
    Err(S3Error::not_implemented(
        "Deleting the ownership controls (it would enable ACLs; sluice has BucketOwnerEnforced only)",
    ))
}
