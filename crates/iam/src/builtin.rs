//! The built-in policies a user can be given by name, as WEKA's S3 service
//! has them: `readonly`, `readwrite`, `writeonly` and `none`.

use std::sync::OnceLock;

use crate::policy::{Policy, PolicyKind};

/// The names of the built-in policies.
pub const BUILTIN_POLICIES: [&str; 4] = ["readonly", "readwrite", "writeonly", "none"];

const READONLY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Action": [
      "s3:ListAllMyBuckets", "s3:ListBucket", "s3:ListBucketMultipartUploads",
      "s3:ListMultipartUploadParts", "s3:GetBucketLocation", "s3:GetBucketPolicy",
      "s3:GetBucketTagging", "s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectAttributes"
    ],
    "Resource": "arn:aws:s3:::*"
  }]
}"#;

const READWRITE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}]
}"#;

/// PutObject covers CreateMultipartUpload, UploadPart and
/// CompleteMultipartUpload; a client that resumes or cleans up an upload
/// also lists its parts and uploads and aborts it.
const WRITEONLY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Action": [
      "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
      "s3:ListBucketMultipartUploads"
    ],
    "Resource": "arn:aws:s3:::*"
  }]
}"#;

/// The document of a built-in policy.
#[must_use]
pub fn builtin_document(name: &str) -> Option<&'static str> {
    match name {
        "readonly" => Some(READONLY),
        "readwrite" => Some(READWRITE),
        "writeonly" => Some(WRITEONLY),
        // Allows nothing, denies nothing: a user with only `none` has no
        // access, and another policy attached still gives what it gives.
        "none" => Some(r#"{"Version": "2012-10-17", "Statement": []}"#),
        _ => None,
    }
}

/// A built-in policy, parsed once (`none` has no statements, which a
/// document given to [`Policy::parse`] may not have).
#[must_use]
pub fn builtin(name: &str) -> Option<&'static Policy> {
    static PARSED: OnceLock<Vec<Policy>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        BUILTIN_POLICIES
            .iter()
            .map(|n| {
                builtin_document(n)
                    .and_then(|d| Policy::parse(d, PolicyKind::Identity).ok())
                    .unwrap_or_else(|| Policy::empty(PolicyKind::Identity))
            })
            .collect()
    });
    BUILTIN_POLICIES
        .iter()
        .position(|n| *n == name)
        .and_then(|i| all.get(i))
}
