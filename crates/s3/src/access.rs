//! Who sent a request and whether they may do what it asks: the identity
//! that authentication returns, the IAM action and resource each operation
//! needs (one table, as AWS documents them for S3), the condition keys a
//! policy can test, and the [`Authorizer`] hook that decides. IAM users,
//! policies and bucket policies plug in here as another `Authorizer`.

use std::net::IpAddr;

use crate::error::{S3Error, S3ErrorCode};
use crate::request::Request;
use crate::route::{Op, Route};

/// Who sent a request, as authentication established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No signature: only a CORS preflight is served to it today.
    Anonymous,
    /// A request signed with an access key (and the session token it sent).
    Key {
        /// The access key id.
        access_key: String,
        /// `x-amz-security-token`, for temporary credentials.
        session_token: Option<String>,
    },
}

impl Identity {
    /// The access key, when the request was signed.
    #[must_use]
    pub fn access_key(&self) -> Option<&str> {
        match self {
            Identity::Anonymous => None,
            Identity::Key { access_key, .. } => Some(access_key),
        }
    }
}

/// The tags of the object a request names, read only when a policy asks
/// (`s3:ExistingObjectTag/<key>`): `key=value&...` as stored, None without.
#[derive(Clone, Copy)]
pub struct ExistingTags<'a>(pub &'a dyn Fn() -> Option<String>);

impl std::fmt::Debug for ExistingTags<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExistingTags(..)")
    }
}

/// The condition keys a policy may test, with their IAM names. Borrowed
/// from the request: building it costs nothing per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConditionContext<'a> {
    /// `aws:SourceIp`: the peer's address.
    pub source_ip: Option<IpAddr>,
    /// `aws:SecureTransport`: the request came over TLS.
    pub secure_transport: bool,
    /// `s3:prefix` (ListBucket).
    pub prefix: Option<&'a str>,
    /// `s3:delimiter` (ListBucket).
    pub delimiter: Option<&'a str>,
    /// `s3:max-keys` (ListBucket).
    pub max_keys: Option<&'a str>,
    /// The request's headers as received (`s3:x-amz-*` keys read them;
    /// match names case-insensitively; `x-amz-tagging` gives
    /// `s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys`).
    pub headers: &'a [(String, Vec<u8>)],
    /// The existing object's tags, for `s3:ExistingObjectTag/<key>`.
    pub existing_object_tags: Option<ExistingTags<'a>>,
}

/// One permission a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The IAM action, as AWS spells it (`s3:PutObject`).
    pub action: &'static str,
    /// The resource ARN (`arn:aws:s3:::bucket/key`).
    pub resource: String,
}

/// Decides whether an identity may take an action on a resource.
/// Implementations MUST refuse with an error (AccessDenied) rather than
/// panic, and SHOULD be cheap: it runs for every request, before its body.
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// Ok to allow, Err (AccessDenied) to refuse.
    ///
    /// # Errors
    /// The error the client gets.
    fn authorize(
        &self,
        identity: &Identity,
        permission: &Permission,
        context: &ConditionContext<'_>,
    ) -> Result<(), S3Error>;

    /// The POSIX owner (uid, gid) of what `identity` writes, None for the
    /// server's own user.
    fn owner(&self, _identity: &Identity) -> Option<(u32, u32)> {
        None
    }
}

/// Today's policy: the keys sluice knows (the root user's) may do
/// everything; an unsigned request nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootOnly;

impl Authorizer for RootOnly {
    fn authorize(
        &self,
        identity: &Identity,
        _permission: &Permission,
        _context: &ConditionContext<'_>,
    ) -> Result<(), S3Error> {
        match identity {
            Identity::Key { .. } => Ok(()),
            Identity::Anonymous => Err(S3ErrorCode::AccessDenied.into()),
        }
    }
}

/// What an operation acts on, for its resource ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `arn:aws:s3:::*`
    Account,
    /// `arn:aws:s3:::bucket`
    Bucket,
    /// `arn:aws:s3:::bucket/key`
    Object,
    /// Keys named in the body (DeleteObjects, POST Object's form): checked
    /// when the body has named them.
    EachKey,
    /// Not authorized (the unauthenticated CORS preflight).
    None,
}

/// Every operation's IAM action and resource, as the AWS Service
/// Authorization Reference lists them for Amazon S3.
const ACTIONS: &[(Op, &str, Target)] = &[
    (Op::ListBuckets, "s3:ListAllMyBuckets", Target::Account),
    (Op::AssumeRole, "sts:AssumeRole", Target::Account),
    (Op::CreateBucket, "s3:CreateBucket", Target::Bucket),
    (Op::DeleteBucket, "s3:DeleteBucket", Target::Bucket),
    (Op::HeadBucket, "s3:ListBucket", Target::Bucket),
    (
        Op::GetBucketLocation,
        "s3:GetBucketLocation",
        Target::Bucket,
    ),
    (
        Op::GetBucketVersioning,
        "s3:GetBucketVersioning",
        Target::Bucket,
    ),
    (Op::ListObjectsV2, "s3:ListBucket", Target::Bucket),
    (Op::ListObjects, "s3:ListBucket", Target::Bucket),
    (
        Op::ListObjectVersions,
        "s3:ListBucketVersions",
        Target::Bucket,
    ),
    (
        Op::ListMultipartUploads,
        "s3:ListBucketMultipartUploads",
        Target::Bucket,
    ),
    (Op::PutBucketCors, "s3:PutBucketCORS", Target::Bucket),
    (
        Op::PutBucketEncryption,
        "s3:PutEncryptionConfiguration",
        Target::Bucket,
    ),
    (
        Op::GetBucketEncryption,
        "s3:GetEncryptionConfiguration",
        Target::Bucket,
    ),
    // S3 has no action of its own for deleting it.
    (
        Op::DeleteBucketEncryption,
        "s3:PutEncryptionConfiguration",
        Target::Bucket,
    ),
    (Op::GetBucketAcl, "s3:GetBucketAcl", Target::Bucket),
    (Op::PutBucketAcl, "s3:PutBucketAcl", Target::Bucket),
    (Op::GetObjectAcl, "s3:GetObjectAcl", Target::Object),
    (Op::PutObjectAcl, "s3:PutObjectAcl", Target::Object),
    (
        Op::GetBucketOwnershipControls,
        "s3:GetBucketOwnershipControls",
        Target::Bucket,
    ),
    (
        Op::PutBucketOwnershipControls,
        "s3:PutBucketOwnershipControls",
        Target::Bucket,
    ),
    // As for CORS, deleting is the Put action.
    (
        Op::DeleteBucketOwnershipControls,
        "s3:PutBucketOwnershipControls",
        Target::Bucket,
    ),
    (Op::PutBucketPolicy, "s3:PutBucketPolicy", Target::Bucket),
    (Op::GetBucketPolicy, "s3:GetBucketPolicy", Target::Bucket),
    (
        Op::DeleteBucketPolicy,
        "s3:DeleteBucketPolicy",
        Target::Bucket,
    ),
    (
        Op::GetBucketPolicyStatus,
        "s3:GetBucketPolicyStatus",
        Target::Bucket,
    ),
    (
        Op::PutPublicAccessBlock,
        "s3:PutBucketPublicAccessBlock",
        Target::Bucket,
    ),
    (
        Op::GetPublicAccessBlock,
        "s3:GetBucketPublicAccessBlock",
        Target::Bucket,
    ),
    // As S3 has it: deleting is the Put action.
    (
        Op::DeletePublicAccessBlock,
        "s3:PutBucketPublicAccessBlock",
        Target::Bucket,
    ),
    (Op::GetBucketTagging, "s3:GetBucketTagging", Target::Bucket),
    (Op::PutBucketTagging, "s3:PutBucketTagging", Target::Bucket),
    (
        Op::DeleteBucketTagging,
        "s3:PutBucketTagging",
        Target::Bucket,
    ),
    (Op::GetBucketCors, "s3:GetBucketCORS", Target::Bucket),
    // S3 has no action of its own for deleting a CORS configuration.
    (Op::DeleteBucketCors, "s3:PutBucketCORS", Target::Bucket),
    (Op::PutObject, "s3:PutObject", Target::Object),
    (Op::GetObject, "s3:GetObject", Target::Object),
    (Op::HeadObject, "s3:GetObject", Target::Object),
    (Op::DeleteObject, "s3:DeleteObject", Target::Object),
    (Op::DeleteObjects, "s3:DeleteObject", Target::EachKey),
    (Op::PostObject, "s3:PutObject", Target::EachKey),
    (Op::CreateMultipartUpload, "s3:PutObject", Target::Object),
    (Op::UploadPart, "s3:PutObject", Target::Object),
    (Op::CompleteMultipartUpload, "s3:PutObject", Target::Object),
    (
        Op::AbortMultipartUpload,
        "s3:AbortMultipartUpload",
        Target::Object,
    ),
    (Op::ListParts, "s3:ListMultipartUploadParts", Target::Object),
    (Op::PutObjectTagging, "s3:PutObjectTagging", Target::Object),
    (Op::GetObjectTagging, "s3:GetObjectTagging", Target::Object),
    (
        Op::DeleteObjectTagging,
        "s3:DeleteObjectTagging",
        Target::Object,
    ),
    (
        Op::GetObjectAttributes,
        "s3:GetObjectAttributes",
        Target::Object,
    ),
    (Op::CorsPreflight, "", Target::None),
];

/// Every IAM action an operation of sluice can ask for (for an authorizer
/// that prepares its policies for them).
pub fn action_names() -> impl Iterator<Item = &'static str> {
    ACTIONS
        .iter()
        .map(|(_, action, _)| *action)
        .chain(["s3:GetObject", "s3:PutObjectTagging"])
        .filter(|a| !a.is_empty())
}

/// The ARN of a bucket, or of an object when `key` is given.
#[must_use]
pub fn arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

/// The permissions a routed request needs before anything is done for it.
/// CopyObject and UploadPartCopy also need `s3:GetObject` on the source; a
/// PutObject that sets tags also `s3:PutObjectTagging`. DeleteObjects is
/// authorized key by key when its body has been read.
pub(crate) fn permissions(route: &Route, req: &Request) -> Vec<Permission> {
    let Some(&(_, action, target)) = ACTIONS.iter().find(|(op, _, _)| *op == route.op) else {
        return Vec::new();
    };
    let bucket = route.bucket.as_deref().unwrap_or_default();
    let resource = match target {
        Target::Account => "arn:aws:s3:::*".to_owned(),
        Target::Bucket => arn(bucket, None),
        Target::Object => arn(bucket, route.key.as_deref()),
        Target::EachKey | Target::None => return Vec::new(),
    };
    let mut out = vec![Permission { action, resource }];
    if matches!(route.op, Op::PutObject | Op::UploadPart) {
        if let Some(source) = req.header("x-amz-copy-source") {
            let path = source.split_once('?').map_or(source, |(p, _)| p);
            let decoded = sluice_http::percent_decode(path, false)
                .map(|p| p.trim_start_matches('/').to_owned())
                .unwrap_or_default();
            out.push(Permission {
                action: "s3:GetObject",
                resource: format!("arn:aws:s3:::{decoded}"),
            });
        }
    }
    if route.op == Op::PutObject && req.header("x-amz-tagging").is_some() {
        out.push(Permission {
            action: "s3:PutObjectTagging",
            resource: arn(bucket, route.key.as_deref()),
        });
    }
    out
}

/// The condition context of a request.
pub(crate) fn context<'a>(
    route: &'a Route,
    req: &'a Request,
    peer: Option<IpAddr>,
) -> ConditionContext<'a> {
    ConditionContext {
        source_ip: peer,
        secure_transport: req.secure,
        prefix: route.param("prefix"),
        delimiter: route.param("delimiter"),
        max_keys: route.param("max-keys"),
        headers: &req.headers,
        existing_object_tags: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation has its row in the table, exactly once.
    #[test]
    fn every_operation_has_one_action() {
        for op in crate::route::ALL_OPS {
            let rows = ACTIONS.iter().filter(|(o, _, _)| o == op).count();
            assert_eq!(rows, 1, "{op:?}");
        }
        for (op, action, target) in ACTIONS {
            // The one STS call answered on the S3 endpoint is `sts:`.
            let service = if *op == Op::AssumeRole { "sts:" } else { "s3:" };
            assert!(
                action.starts_with(service) || *target == Target::None,
                "{op:?}"
            );
        }
    }
}
