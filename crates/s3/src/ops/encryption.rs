//! A bucket's default encryption (Put/Get/DeleteBucketEncryption): with
//! one, new objects are stored encrypted (SSE-S3) unless a request gives a
//! customer key. Only AES256 is offered (SSE-KMS has no KMS here).

use crate::context::ThreadContext;
use crate::document::Element;
use crate::error::{S3Error, S3ErrorCode};
use crate::response::{xml_response, Body, Response};
use crate::sse::BUCKET_CONFIG;
use crate::storage::Storage;
use crate::xml::Xml;

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Checks a ServerSideEncryptionConfiguration document: one rule whose
/// default algorithm is AES256 (SSE-S3), the only one sluice has.
pub(crate) fn parse_configuration(body: &[u8]) -> Result<(), S3Error> {
    let doc = Element::parse(body)?;
    let rules = doc.all("Rule");
    if rules.len() != 1 {
        return Err(S3ErrorCode::MalformedXML.into());
    }
    let algorithm = rules[0]
        .first("ApplyServerSideEncryptionByDefault")
        .and_then(|d| d.first("SSEAlgorithm"))
        .map(|a| a.text().trim())
        .ok_or_else(|| S3Error::from(S3ErrorCode::MalformedXML))?;
    let kms_key = rules[0]
        .first("ApplyServerSideEncryptionByDefault")
        .and_then(|d| d.first("KMSMasterKeyID"))
        .is_some();
    match algorithm {
        "AES256" if kms_key => {
            return Err(S3Error::new(
                S3ErrorCode::InvalidArgument,
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
            ))
        }
        "AES256" => {}
        "aws:kms" | "aws:kms:dsse" => {
            return Err(S3Error::not_implemented(
                "Default encryption with KMS keys (SSE-KMS); use AES256",
            ))
        }
        _ => {
            return Err(S3Error::new(
                S3ErrorCode::MalformedXML,
                "The SSEAlgorithm is not valid: AES256 is supported.",
            ))
        }
    }
    Ok(())
}

pub(crate) fn put(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    body: &[u8],
) -> Result<Response, S3Error> {
    parse_configuration(body)?;
    if ctx.config.master_keys.is_none() {
        return Err(S3Error::not_implemented(
            "Server-side encryption (this server has no master key)",
        ));
    }
    ctx.store
        .set_bucket_config(bucket, BUCKET_CONFIG, Some(b"AES256"))?;
    Ok(Response {
        status: 200,
        headers: Vec::new(),
        body: Body::Empty,
    })
}

pub(crate) fn get(ctx: &ThreadContext<impl Storage>, bucket: &str) -> Result<Response, S3Error> {
    let set = match ctx.store.bucket_config(bucket, BUCKET_CONFIG) {
        Ok(v) => v.is_some(),
        Err(sluice_core::StoreError::Unsupported(_)) => {
            ctx.store.head_bucket(bucket)?;
            false
        }
        Err(e) => return Err(e.into()),
    };
    if !set && !ctx.config.encrypt_by_default {
        return Err(S3ErrorCode::ServerSideEncryptionConfigurationNotFoundError.into());
    }
    let mut x = Xml::new();
    x.root_ns("ServerSideEncryptionConfiguration", NS)
        .open("Rule")
        .open("ApplyServerSideEncryptionByDefault")
        .leaf("SSEAlgorithm", "AES256")
        .close("ApplyServerSideEncryptionByDefault")
        .leaf("BucketKeyEnabled", "false")
        .close("Rule")
        .close("ServerSideEncryptionConfiguration");
    Ok(xml_response(200, x.finish()))
}

pub(crate) fn delete(ctx: &ThreadContext<impl Storage>, bucket: &str) -> Result<Response, S3Error> {
    ctx.store.set_bucket_config(bucket, BUCKET_CONFIG, None)?;
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: Body::Empty,
    })
}
