//! From a request line to an S3 operation, path-style or virtual-hosted.

use sluice_http::{percent_decode, query_pairs, Method};

use crate::error::{S3Error, S3ErrorCode};

/// The operations sluice answers. Anything else is NotImplemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// GET /
    ListBuckets,
    /// PUT /bucket
    CreateBucket,
    /// DELETE /bucket
    DeleteBucket,
    /// HEAD /bucket
    HeadBucket,
    /// GET /bucket?location
    GetBucketLocation,
    /// GET /bucket?versioning
    GetBucketVersioning,
    /// GET /bucket?list-type=2
    ListObjectsV2,
    /// GET /bucket
    ListObjects,
    /// PUT /bucket/key
    PutObject,
    /// GET /bucket/key
    GetObject,
    /// HEAD /bucket/key
    HeadObject,
    /// DELETE /bucket/key
    DeleteObject,
    /// POST /bucket?delete
    DeleteObjects,
    /// POST /bucket/key?uploads
    CreateMultipartUpload,
    /// PUT /bucket/key?partNumber&uploadId
    UploadPart,
    /// POST /bucket/key?uploadId
    CompleteMultipartUpload,
    /// DELETE /bucket/key?uploadId
    AbortMultipartUpload,
    /// GET /bucket/key?uploadId
    ListParts,
    /// GET /bucket?uploads
    ListMultipartUploads,
    /// GET /bucket?versions
    ListObjectVersions,
    /// PUT /bucket/key?tagging
    PutObjectTagging,
    /// GET /bucket/key?tagging
    GetObjectTagging,
    /// DELETE /bucket/key?tagging
    DeleteObjectTagging,
    /// GET /bucket/key?attributes
    GetObjectAttributes,
    /// PUT /bucket?cors
    PutBucketCors,
    /// GET /bucket?cors
    GetBucketCors,
    /// DELETE /bucket?cors
    DeleteBucketCors,
    /// OPTIONS /bucket[/key]: CORS preflight (not authenticated)
    CorsPreflight,
    /// PUT /bucket?encryption
    PutBucketEncryption,
    /// GET /bucket?encryption
    GetBucketEncryption,
    /// DELETE /bucket?encryption
    DeleteBucketEncryption,
    /// GET /bucket?acl
    GetBucketAcl,
    /// PUT /bucket?acl
    PutBucketAcl,
    /// GET /bucket/key?acl
    GetObjectAcl,
    /// PUT /bucket/key?acl
    PutObjectAcl,
    /// GET /bucket?ownershipControls
    GetBucketOwnershipControls,
    /// PUT /bucket?ownershipControls
    PutBucketOwnershipControls,
    /// DELETE /bucket?ownershipControls
    DeleteBucketOwnershipControls,
    /// PUT /bucket?policy
    PutBucketPolicy,
    /// GET /bucket?policy
    GetBucketPolicy,
    /// DELETE /bucket?policy
    DeleteBucketPolicy,
    /// GET /bucket?policyStatus
    GetBucketPolicyStatus,
    /// PUT /bucket?publicAccessBlock
    PutPublicAccessBlock,
    /// GET /bucket?publicAccessBlock
    GetPublicAccessBlock,
    /// DELETE /bucket?publicAccessBlock
    DeletePublicAccessBlock,
    /// POST /bucket with a `multipart/form-data` body (browser uploads)
    PostObject,
    /// POST / with `Action=AssumeRole` (STS)
    AssumeRole,
    /// GET /bucket?tagging
    GetBucketTagging,
    /// PUT /bucket?tagging
    PutBucketTagging,
    /// DELETE /bucket?tagging
    DeleteBucketTagging,
}

impl Op {
    /// The operation's name in the S3 API (CopyObject and UploadPartCopy
    /// are PutObject and UploadPart with a copy source: see
    /// [`Op::name_with_copy`]).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Op::ListBuckets => "ListBuckets",
            Op::CreateBucket => "CreateBucket",
            Op::DeleteBucket => "DeleteBucket",
            Op::HeadBucket => "HeadBucket",
            Op::GetBucketLocation => "GetBucketLocation",
            Op::GetBucketVersioning => "GetBucketVersioning",
            Op::ListObjectsV2 => "ListObjectsV2",
            Op::ListObjects => "ListObjects",
            Op::PutObject => "PutObject",
            Op::GetObject => "GetObject",
            Op::HeadObject => "HeadObject",
            Op::DeleteObject => "DeleteObject",
            Op::DeleteObjects => "DeleteObjects",
            Op::CreateMultipartUpload => "CreateMultipartUpload",
            Op::UploadPart => "UploadPart",
            Op::CompleteMultipartUpload => "CompleteMultipartUpload",
            Op::AbortMultipartUpload => "AbortMultipartUpload",
            Op::ListParts => "ListParts",
            Op::ListMultipartUploads => "ListMultipartUploads",
            Op::ListObjectVersions => "ListObjectVersions",
            Op::PutObjectTagging => "PutObjectTagging",
            Op::GetObjectTagging => "GetObjectTagging",
            Op::DeleteObjectTagging => "DeleteObjectTagging",
            Op::GetObjectAttributes => "GetObjectAttributes",
            Op::PutBucketCors => "PutBucketCors",
            Op::GetBucketCors => "GetBucketCors",
            Op::DeleteBucketCors => "DeleteBucketCors",
            Op::CorsPreflight => "PreflightRequest",
            Op::PutBucketEncryption => "PutBucketEncryption",
            Op::GetBucketEncryption => "GetBucketEncryption",
            Op::DeleteBucketEncryption => "DeleteBucketEncryption",
            Op::GetBucketAcl => "GetBucketAcl",
            Op::PutBucketAcl => "PutBucketAcl",
            Op::GetObjectAcl => "GetObjectAcl",
            Op::PutObjectAcl => "PutObjectAcl",
            Op::GetBucketOwnershipControls => "GetBucketOwnershipControls",
            Op::PutBucketOwnershipControls => "PutBucketOwnershipControls",
            Op::DeleteBucketOwnershipControls => "DeleteBucketOwnershipControls",
            Op::PutBucketPolicy => "PutBucketPolicy",
            Op::GetBucketPolicy => "GetBucketPolicy",
            Op::DeleteBucketPolicy => "DeleteBucketPolicy",
            Op::GetBucketPolicyStatus => "GetBucketPolicyStatus",
            Op::AssumeRole => "AssumeRole",
            Op::PostObject => "PostObject",
            Op::PutPublicAccessBlock => "PutPublicAccessBlock",
            Op::GetPublicAccessBlock => "GetPublicAccessBlock",
            Op::DeletePublicAccessBlock => "DeletePublicAccessBlock",
            Op::GetBucketTagging => "GetBucketTagging",
            Op::PutBucketTagging => "PutBucketTagging",
            Op::DeleteBucketTagging => "DeleteBucketTagging",
        }
    }

    /// [`Op::name`], naming the copy operations when there is a copy source.
    #[must_use]
    pub fn name_with_copy(self, copy_source: bool) -> &'static str {
        match (self, copy_source) {
            (Op::PutObject, true) => "CopyObject",
            (Op::UploadPart, true) => "UploadPartCopy",
            _ => self.name(),
        }
    }
}

/// Every operation (for tables that must cover them all).
pub const ALL_OPS: &[Op] = &[
    Op::ListBuckets,
    Op::CreateBucket,
    Op::DeleteBucket,
    Op::HeadBucket,
    Op::GetBucketLocation,
    Op::GetBucketVersioning,
    Op::ListObjectsV2,
    Op::ListObjects,
    Op::PutObject,
    Op::GetObject,
    Op::HeadObject,
    Op::DeleteObject,
    Op::DeleteObjects,
    Op::CreateMultipartUpload,
    Op::UploadPart,
    Op::CompleteMultipartUpload,
    Op::AbortMultipartUpload,
    Op::ListParts,
    Op::ListMultipartUploads,
    Op::ListObjectVersions,
    Op::PutObjectTagging,
    Op::GetObjectTagging,
    Op::DeleteObjectTagging,
    Op::GetObjectAttributes,
    Op::PutBucketCors,
    Op::GetBucketCors,
    Op::DeleteBucketCors,
    Op::CorsPreflight,
    Op::PutBucketEncryption,
    Op::GetBucketEncryption,
    Op::DeleteBucketEncryption,
    Op::GetBucketAcl,
    Op::PutBucketAcl,
    Op::GetObjectAcl,
    Op::PutObjectAcl,
    Op::GetBucketOwnershipControls,
    Op::PutBucketOwnershipControls,
    Op::DeleteBucketOwnershipControls,
    Op::GetBucketTagging,
    Op::PutBucketTagging,
    Op::DeleteBucketTagging,
    Op::PutBucketPolicy,
    Op::GetBucketPolicy,
    Op::DeleteBucketPolicy,
    Op::GetBucketPolicyStatus,
    Op::AssumeRole,
    Op::PostObject,
    Op::PutPublicAccessBlock,
    Op::GetPublicAccessBlock,
    Op::DeletePublicAccessBlock,
];

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The operation.
    pub op: Op,
    /// Bucket, when the request names one.
    pub bucket: Option<String>,
    /// Key, decoded, when the request names one.
    pub key: Option<String>,
    /// Query parameters, decoded.
    pub query: Vec<(String, String)>,
}

impl Route {
    /// The value of a query parameter.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Query parameters naming sub-resources sluice does not implement yet.
const UNIMPLEMENTED: &[&str] = &[
    "lifecycle",
    "website",
    "logging",
    "notification",
    "replication",
    "object-lock",
    "retention",
    "legal-hold",
    "restore",
    "select",
    "torrent",
    "accelerate",
    "requestPayment",
    "analytics",
    "inventory",
    "metrics",
    "intelligent-tiering",
];

/// Routes a request. With `domain` set, a Host of `bucket.domain` names the
/// bucket (virtual-hosted style); otherwise the first path segment does.
///
/// # Errors
/// Bad percent-encoding, methods S3 does not have, sub-resources not
/// implemented (NotImplemented).
pub fn route(
    method: Method,
    raw_path: &str,
    raw_query: &str,
    host: Option<&str>,
    domain: Option<&str>,
) -> Result<Route, S3Error> {
    let bad = |_| S3Error::new(S3ErrorCode::InvalidURI, "Couldn't parse the specified URI.");
    let mut query = Vec::new();
    for (n, v) in query_pairs(raw_query) {
        query.push((
            percent_decode(n, true).map_err(bad)?.into_owned(),
            percent_decode(v, true).map_err(bad)?.into_owned(),
        ));
    }
    let path = percent_decode(raw_path, false).map_err(bad)?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    let host_bucket = match (host, domain) {
        (Some(h), Some(d)) => {
            let h = h.rsplit_once(':').map_or(h, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    name
                } else {
                    h
                }
            });
            h.strip_suffix(d)
                .and_then(|b| b.strip_suffix('.'))
                .filter(|b| !b.is_empty())
                .map(str::to_owned)
        }
        _ => None,
    };
    let (bucket, key) = match host_bucket {
        Some(b) => (Some(b), Some(path.to_owned()).filter(|k| !k.is_empty())),
        None => match path.split_once('/') {
            Some((b, k)) => (
                Some(b.to_owned()),
                Some(k.to_owned()).filter(|k| !k.is_empty()),
            ),
            None => (Some(path.to_owned()).filter(|b| !b.is_empty()), None),
        },
    };
    if let Some((name, _)) = query
        .iter()
        .find(|(n, _)| UNIMPLEMENTED.contains(&n.as_str()))
    {
        return Err(S3Error::not_implemented(&format!(
            "The ?{name} sub-resource"
        )));
    }
    let has = |name: &str| query.iter().any(|(n, _)| n == name);
    // Bucket and object sub-resources with an operation per method.
    let on_bucket = bucket.is_some() && key.is_none();
    let sub = match (method, on_bucket) {
        (Method::Get, true) if has("acl") => Some(Op::GetBucketAcl),
        (Method::Put, true) if has("acl") => Some(Op::PutBucketAcl),
        (Method::Get, false) if has("acl") && key.is_some() => Some(Op::GetObjectAcl),
        (Method::Put, false) if has("acl") && key.is_some() => Some(Op::PutObjectAcl),
        (Method::Get, true) if has("ownershipControls") => Some(Op::GetBucketOwnershipControls),
        (Method::Put, true) if has("ownershipControls") => Some(Op::PutBucketOwnershipControls),
        (Method::Delete, true) if has("ownershipControls") => {
            Some(Op::DeleteBucketOwnershipControls)
        }
        (Method::Get, true) if has("publicAccessBlock") => Some(Op::GetPublicAccessBlock),
        (Method::Put, true) if has("publicAccessBlock") => Some(Op::PutPublicAccessBlock),
        (Method::Delete, true) if has("publicAccessBlock") => Some(Op::DeletePublicAccessBlock),
        (Method::Get, true) if has("policyStatus") => Some(Op::GetBucketPolicyStatus),
        (Method::Get, true) if has("policy") => Some(Op::GetBucketPolicy),
        (Method::Put, true) if has("policy") => Some(Op::PutBucketPolicy),
        (Method::Delete, true) if has("policy") => Some(Op::DeleteBucketPolicy),
        (Method::Get, true) if has("tagging") => Some(Op::GetBucketTagging),
        (Method::Put, true) if has("tagging") => Some(Op::PutBucketTagging),
        (Method::Delete, true) if has("tagging") => Some(Op::DeleteBucketTagging),
        _ => None,
    };
    if let Some(op) = sub {
        return Ok(Route {
            op,
            bucket,
            key,
            query,
        });
    }
    if [
        "acl",
        "ownershipControls",
        "policy",
        "policyStatus",
        "publicAccessBlock",
    ]
    .iter()
    .any(|s| has(s))
    {
        return Err(S3Error::new(
            S3ErrorCode::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        ));
    }
    // PUT, DELETE or HEAD on a bucket with a sub-resource (?versioning,
    // ?policy, ...) is a configuration call sluice does not have: never let
    // it pass for CreateBucket or DeleteBucket.
    let cors = bucket.is_some() && key.is_none() && has("cors");
    if cors && method == Method::Put {
        return Ok(Route {
            op: Op::PutBucketCors,
            bucket,
            key,
            query,
        });
    }
    if cors && method == Method::Delete {
        return Ok(Route {
            op: Op::DeleteBucketCors,
            bucket,
            key,
            query,
        });
    }
    if bucket.is_some() && key.is_none() && has("encryption") {
        let op = match method {
            Method::Put => Some(Op::PutBucketEncryption),
            Method::Get => Some(Op::GetBucketEncryption),
            Method::Delete => Some(Op::DeleteBucketEncryption),
            _ => None,
        };
        if let Some(op) = op {
            return Ok(Route {
                op,
                bucket,
                key,
                query,
            });
        }
    }
    if bucket.is_some()
        && key.is_none()
        && matches!(method, Method::Put | Method::Delete | Method::Head)
    {
        if let Some((name, _)) = query.iter().find(|(n, _)| n != "x-id") {
            return Err(S3Error::not_implemented(&format!(
                "The ?{name} sub-resource"
            )));
        }
    }
    let op = match (method, bucket.is_some(), key.is_some()) {
        (Method::Get, false, _) => Op::ListBuckets,
        (Method::Put, true, false) => Op::CreateBucket,
        (Method::Delete, true, false) => Op::DeleteBucket,
        (Method::Head, true, false) => Op::HeadBucket,
        (Method::Options, true, _) => Op::CorsPreflight,
        (Method::Get, true, false) if has("cors") => Op::GetBucketCors,
        (Method::Get, true, false) if has("uploads") => Op::ListMultipartUploads,
        (Method::Get, true, false) if has("versions") => Op::ListObjectVersions,
        (Method::Put, true, true) if has("tagging") => Op::PutObjectTagging,
        (Method::Get, true, true) if has("tagging") => Op::GetObjectTagging,
        (Method::Get, true, true) if has("attributes") => Op::GetObjectAttributes,
        (Method::Delete, true, true) if has("tagging") => Op::DeleteObjectTagging,
        (Method::Post, true, false) if has("delete") => Op::DeleteObjects,
        (Method::Post, true, true) if has("uploads") => Op::CreateMultipartUpload,
        (Method::Post, true, true) if has("uploadId") => Op::CompleteMultipartUpload,
        (Method::Put, true, true) if has("uploadId") && has("partNumber") => Op::UploadPart,
        (Method::Delete, true, true) if has("uploadId") => Op::AbortMultipartUpload,
        (Method::Get, true, true) if has("uploadId") => Op::ListParts,
        (Method::Get, true, false) if has("location") => Op::GetBucketLocation,
        (Method::Get, true, false) if has("versioning") => Op::GetBucketVersioning,
        (Method::Get, true, false) if query.iter().any(|(n, v)| n == "list-type" && v == "2") => {
            Op::ListObjectsV2
        }
        (Method::Get, true, false) => Op::ListObjects,
        (Method::Put, true, true) if has("partNumber") => {
            return Err(S3Error::not_implemented("UploadPart"))
        }
        (Method::Put, true, true) => Op::PutObject,
        (Method::Get, true, true) => Op::GetObject,
        (Method::Head, true, true) => Op::HeadObject,
        (Method::Delete, true, true) => Op::DeleteObject,
        // STS on the S3 endpoint (as MinIO and Ceph answer it): a form
        // posted to `/`, its Action in the body.
        (Method::Post, false, false) => Op::AssumeRole,
        // A browser form (POST Object): the bucket, and no sub-resource.
        (Method::Post, true, false) if query.iter().all(|(n, _)| n == "x-id") => Op::PostObject,
        (Method::Post, _, _) => return Err(S3Error::not_implemented("This POST operation")),
        _ => {
            return Err(S3Error::new(
                S3ErrorCode::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            ))
        }
    };
    Ok(Route {
        op,
        bucket,
        key,
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: Method, path: &str, query: &str) -> Result<Route, S3Error> {
        route(method, path, query, Some("127.0.0.1:9000"), None)
    }

    #[test]
    fn path_style() {
        assert_eq!(r(Method::Get, "/", "").unwrap().op, Op::ListBuckets);
        assert_eq!(r(Method::Put, "/b", "").unwrap().op, Op::CreateBucket);
        assert_eq!(r(Method::Put, "/b/", "").unwrap().op, Op::CreateBucket);
        let put = r(Method::Put, "/b/dir/a%20b%2Bc", "x-id=PutObject").unwrap();
        assert_eq!(
            (put.op, put.bucket.as_deref(), put.key.as_deref()),
            (Op::PutObject, Some("b"), Some("dir/a b+c"))
        );
        let list = r(Method::Get, "/b", "list-type=2&prefix=a%2Fb+c").unwrap();
        assert_eq!(
            (list.op, list.param("prefix")),
            (Op::ListObjectsV2, Some("a/b c"))
        );
        assert_eq!(
            r(Method::Get, "/b", "location").unwrap().op,
            Op::GetBucketLocation
        );
        assert_eq!(
            r(Method::Get, "/b/k/", "").unwrap().key.as_deref(),
            Some("k/")
        );
        assert_eq!(
            r(Method::Get, "/b", "lifecycle").unwrap_err().code,
            S3ErrorCode::NotImplemented
        );
        assert_eq!(r(Method::Get, "/b", "acl").unwrap().op, Op::GetBucketAcl);
        assert_eq!(r(Method::Put, "/b/k", "acl").unwrap().op, Op::PutObjectAcl);
        assert_eq!(
            r(Method::Delete, "/b", "tagging").unwrap().op,
            Op::DeleteBucketTagging
        );
        assert_eq!(
            r(Method::Delete, "/b/k", "acl").unwrap_err().code,
            S3ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            r(Method::Post, "/b", "delete").unwrap().op,
            Op::DeleteObjects
        );
        assert_eq!(
            r(Method::Post, "/b/k", "uploads").unwrap().op,
            Op::CreateMultipartUpload
        );
        assert_eq!(
            r(Method::Put, "/b/k", "partNumber=2&uploadId=x")
                .unwrap()
                .op,
            Op::UploadPart
        );
        assert_eq!(
            r(Method::Post, "/b/k", "uploadId=x").unwrap().op,
            Op::CompleteMultipartUpload
        );
        assert_eq!(
            r(Method::Delete, "/b/k", "uploadId=x").unwrap().op,
            Op::AbortMultipartUpload
        );
        assert_eq!(
            r(Method::Get, "/b/k", "uploadId=x").unwrap().op,
            Op::ListParts
        );
        assert_eq!(
            r(Method::Get, "/b", "uploads").unwrap().op,
            Op::ListMultipartUploads
        );
        assert_eq!(r(Method::Post, "/b", "").unwrap().op, Op::PostObject);
        assert_eq!(
            r(Method::Post, "/b", "restore").unwrap_err().code,
            S3ErrorCode::NotImplemented
        );
        assert_eq!(
            r(Method::Post, "/b/k", "select").unwrap_err().code,
            S3ErrorCode::NotImplemented
        );
        assert_eq!(r(Method::Other, "/b", "").unwrap_err().status(), 405);
        assert_eq!(
            r(Method::Put, "/b", "versioning").unwrap_err().code,
            S3ErrorCode::NotImplemented
        );
        assert_eq!(
            r(Method::Delete, "/b", "lifecycle").unwrap_err().code,
            S3ErrorCode::NotImplemented
        );
        assert_eq!(
            r(Method::Delete, "/b", "policy").unwrap().op,
            Op::DeleteBucketPolicy
        );
        assert_eq!(
            r(Method::Get, "/b", "policyStatus").unwrap().op,
            Op::GetBucketPolicyStatus
        );
        // Never CreateBucket or an object write.
        assert_eq!(r(Method::Post, "/b", "policy").unwrap_err().status(), 405);
        assert_eq!(r(Method::Put, "/b/k", "policy").unwrap_err().status(), 405);
        assert_eq!(
            r(Method::Get, "/b/%zz", "").unwrap_err().code,
            S3ErrorCode::InvalidURI
        );
    }

    #[test]
    fn virtual_hosted_style() {
        let v = route(
            Method::Get,
            "/photos/cat.jpg",
            "",
            Some("my-bucket.s3.local:9000"),
            Some("s3.local"),
        )
        .unwrap();
        assert_eq!(
            (v.op, v.bucket.as_deref(), v.key.as_deref()),
            (Op::GetObject, Some("my-bucket"), Some("photos/cat.jpg"))
        );
        let root = route(Method::Get, "/", "", Some("s3.local"), Some("s3.local")).unwrap();
        assert_eq!(root.op, Op::ListBuckets);
        let b = route(
            Method::Get,
            "/",
            "list-type=2",
            Some("b1.s3.local"),
            Some("s3.local"),
        )
        .unwrap();
        assert_eq!((b.op, b.bucket.as_deref()), (Op::ListObjectsV2, Some("b1")));
    }
}

#[cfg(test)]
mod corpus {
    /// Replays the committed fuzz corpus of the s3_request target.
    #[test]
    fn fuzz_corpus_replays_clean() {
        crate::fuzzing::replay_corpus("s3_request", crate::fuzzing::request_bytes);
    }
}
