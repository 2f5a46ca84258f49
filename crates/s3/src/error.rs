//! S3 errors: one table of codes (each with the HTTP status and default
//! message AWS answers with), typed conversions from every layer below, and
//! the rule that an internal error's detail goes to the log, never to the
//! client: the client sees InternalError and the request id.

use std::borrow::Cow;

use sluice_core::{Conflict, KeyProblem, StoreError};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $code:ident = $status:literal, $message:literal; )*) => {
        /// An S3 error code. [`S3ErrorCode::status`] and
        /// [`S3ErrorCode::message`] give what AWS answers with it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[allow(clippy::upper_case_acronyms)]
        pub enum S3ErrorCode {
            $( $(#[$doc])* #[doc = $message] $code, )*
        }

        impl S3ErrorCode {
            /// Every code, in [`S3ErrorCode::index`] order.
            pub const ALL: &'static [S3ErrorCode] = &[ $( S3ErrorCode::$code, )* ];

            /// The code's position in [`S3ErrorCode::ALL`] (a table index).
            #[must_use]
            pub fn index(self) -> usize {
                self as usize
            }

            /// The code as it appears in the error document.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $( S3ErrorCode::$code => stringify!($code), )* }
            }

            /// The HTTP status.
            #[must_use]
            pub fn status(self) -> u16 {
                match self { $( S3ErrorCode::$code => $status, )* }
            }

            /// The default message.
            #[must_use]
            pub fn message(self) -> &'static str {
                match self { $( S3ErrorCode::$code => $message, )* }
            }
        }
    };
}

error_codes! {
    AccessDenied = 403, "Access Denied";
    AccessForbidden = 403, "CORSResponse: This CORS request is not allowed.";
    AccessControlListNotSupported = 400, "The bucket does not allow ACLs.";
    AuthorizationHeaderMalformed = 400, "The authorization header is malformed.";
    AuthorizationQueryParametersError = 400, "Error parsing the X-Amz-Credential parameter or other query authentication parameters.";
    BadDigest = 400, "The Content-MD5 or checksum you specified did not match what we received.";
    BadRequest = 400, "Bad Request";
    BucketAlreadyOwnedByYou = 409, "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty = 409, "The bucket you tried to delete is not empty.";
    EntityTooLarge = 400, "Your proposed upload exceeds the maximum allowed object size.";
    MetadataTooLarge = 400, "Your metadata headers exceed the maximum allowed metadata size.";
    MalformedPolicy = 400, "Policies must be valid JSON and the first byte must be '{'";
    NoSuchBucketPolicy = 404, "The bucket policy does not exist";
    NoSuchPublicAccessBlockConfiguration = 404, "The public access block configuration was not found";
    EntityTooSmall = 400, "Your proposed upload is smaller than the minimum allowed object size.";
    /// The key is a directory holding other objects (sluice on POSIX; versitygw's code).
    ExistingObjectIsDirectory = 409, "The key is an existing directory that holds other objects.";
    IllegalLocationConstraintException = 400, "The location constraint is incompatible for the region specific endpoint this request was sent to.";
    IncompleteBody = 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.";
    InternalError = 500, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId = 403, "The AWS access key Id you provided does not exist in our records.";
    InvalidArgument = 400, "Invalid Argument";
    InvalidBucketName = 400, "The specified bucket is not valid.";
    InvalidDigest = 400, "The Content-MD5 or checksum you specified is not valid.";
    InvalidPart = 400, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
    InvalidPolicyDocument = 400, "The content of the form does not meet the conditions specified in the policy document.";
    IncorrectNumberOfFilesInPostRequest = 400, "POST requires exactly one file upload per request.";
    MalformedPOSTRequest = 400, "The body of your POST request is not well-formed multipart/form-data.";
    MaxPostPreDataLengthExceeded = 400, "Your POST request fields preceding the upload file were too large.";
    InvalidPartNumber = 416, "The requested partnumber is not satisfiable";
    InvalidPartOrder = 400, "The list of parts was not in ascending order. Parts must be ordered by part number.";
    InvalidRange = 416, "The requested range is not satisfiable";
    InvalidRequest = 400, "Invalid Request";
    InvalidStorageClass = 400, "The storage class you specified is not valid.";
    InvalidTag = 400, "The TagKey or TagValue you have provided is invalid.";
    InvalidToken = 400, "The provided token is malformed or otherwise invalid.";
    ExpiredToken = 400, "The provided token has expired.";
    InvalidParameterValue = 400, "An invalid or out-of-range value was supplied for the input parameter.";
    MalformedPolicyDocument = 400, "The policy document is malformed.";
    InvalidURI = 400, "Couldn't parse the specified URI.";
    KeyTooLongError = 400, "Your key is too long.";
    MalformedXML = 400, "The XML you provided was not well-formed or did not validate against our published schema.";
    MaxMessageLengthExceeded = 400, "Your request was too big.";
    MethodNotAllowed = 405, "The specified method is not allowed against this resource.";
    MissingContentLength = 411, "You must provide the Content-Length HTTP header.";
    NoSuchBucket = 404, "The specified bucket does not exist.";
    NoSuchCORSConfiguration = 404, "The CORS configuration does not exist.";
    NoSuchKey = 404, "The specified key does not exist.";
    NoSuchTagSet = 404, "The TagSet does not exist.";
    NoSuchUpload = 404, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    NotImplemented = 501, "A header or request you provided implies functionality that is not implemented.";
    /// A parent of the key is an object file (sluice on POSIX; versitygw's code).
    ObjectParentIsFile = 409, "A parent of the key is an existing object.";
    PreconditionFailed = 412, "At least one of the pre-conditions you specified did not hold";
    RequestHeaderSectionTooLarge = 400, "Your request header section exceeds the maximum allowed size.";
    RequestTimeout = 400, "Your socket connection to the server was not read from or written to within the timeout period.";
    RequestTimeTooSkewed = 403, "The difference between the request time and the server's time is too large.";
    SignatureDoesNotMatch = 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    ServerSideEncryptionConfigurationNotFoundError = 404, "The server side encryption configuration was not found";
    /// The store's filesystem is full (ENOSPC, EDQUOT): a 503, which SDKs retry.
    ServiceUnavailable = 503, "Service is unable to handle request.";
    SlowDown = 503, "Please reduce your request rate.";
    XAmzContentSHA256Mismatch = 400, "The provided 'x-amz-content-sha256' header does not match what was computed.";
}

/// An error answered to a client as S3 error XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    /// The S3 error code (its status comes with it).
    pub code: S3ErrorCode,
    /// A message for people.
    pub message: Cow<'static, str>,
    /// An element S3 adds to this error's document (`HeadersNotSigned`, ...).
    pub detail: Option<(&'static str, String)>,
    /// What went wrong inside, for the log only (InternalError).
    pub internal: Option<String>,
}

impl S3Error {
    /// An error with a code and a message of its own.
    #[must_use]
    pub fn new(code: S3ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        S3Error {
            code,
            message: message.into(),
            detail: None,
            internal: None,
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// 501 NotImplemented for an operation sluice does not have.
    #[must_use]
    pub fn not_implemented(what: &str) -> Self {
        S3Error::new(
            S3ErrorCode::NotImplemented,
            format!("{what} is not implemented by sluice"),
        )
    }

    /// 500 InternalError. `detail` is logged with the request id; the
    /// client gets the code's message only (no paths, no OS messages).
    #[must_use]
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let mut err = S3Error::from(S3ErrorCode::InternalError);
        err.internal = Some(detail.to_string());
        err
    }
}

impl From<S3ErrorCode> for S3Error {
    fn from(code: S3ErrorCode) -> Self {
        S3Error::new(code, code.message())
    }
}

/// Whether a filesystem error says there is no room (space or quota).
fn storage_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> Self {
        use S3ErrorCode as C;
        let code = match &e {
            StoreError::InvalidBucketName => C::InvalidBucketName,
            StoreError::InvalidKey(KeyProblem::TooLong) => C::KeyTooLongError,
            StoreError::InvalidKey(_) => C::InvalidArgument,
            StoreError::NoSuchBucket => C::NoSuchBucket,
            StoreError::BucketAlreadyExists => C::BucketAlreadyOwnedByYou,
            StoreError::BucketNotEmpty => C::BucketNotEmpty,
            StoreError::NoSuchKey => C::NoSuchKey,
            StoreError::KeyConflict(Conflict::ParentIsObject) => C::ObjectParentIsFile,
            StoreError::KeyConflict(_) => C::ExistingObjectIsDirectory,
            StoreError::NoSuchUpload => C::NoSuchUpload,
            StoreError::InvalidPart => C::InvalidPart,
            StoreError::InvalidPartOrder => C::InvalidPartOrder,
            StoreError::EntityTooSmall => C::EntityTooSmall,
            StoreError::EntityTooLarge => C::EntityTooLarge,
            StoreError::MetadataTooLarge => C::MetadataTooLarge,
            StoreError::PreconditionFailed => C::PreconditionFailed,
            // Another write to the key held it past the publish's wait; SDKs
            // retry a 503 SlowDown.
            StoreError::Busy => C::SlowDown,
            StoreError::HardLinked => C::AccessDenied,
            StoreError::Unsupported(_) => C::NotImplemented,
            StoreError::Io(io) if storage_full(io) => {
                // Nothing was published (a failed write leaves the key as it
                // was). A 503, which SDKs retry with backoff: space may come
                // back (deletes, a quota raised); 507 would not be retried.
                let mut err = S3Error::new(
                    C::ServiceUnavailable,
                    "The server's storage is full; nothing was written. Retry later.",
                );
                err.internal = Some(e.to_string());
                return err;
            }
            _ => return S3Error::internal(e),
        };
        S3Error::new(code, e.to_string())
    }
}

impl From<sluice_sigv4::Error> for S3Error {
    fn from(e: sluice_sigv4::Error) -> Self {
        use sluice_sigv4::Error as E;
        use S3ErrorCode as C;
        let code = match &e {
            E::SignatureDoesNotMatch => C::SignatureDoesNotMatch,
            E::InvalidAccessKeyId => C::InvalidAccessKeyId,
            E::InvalidToken => C::InvalidToken,
            E::ExpiredToken => C::ExpiredToken,
            E::AuthorizationHeaderMalformed(_) => C::AuthorizationHeaderMalformed,
            E::AuthorizationQueryParametersError(_) => C::AuthorizationQueryParametersError,
            E::RequestTimeTooSkewed => C::RequestTimeTooSkewed,
            E::AccessDenied(_) | E::HeadersNotSigned(_) => C::AccessDenied,
            E::XAmzContentSHA256Mismatch => C::XAmzContentSHA256Mismatch,
            E::BadDigest(_) => C::BadDigest,
            E::InvalidDigest(_) => C::InvalidDigest,
            E::InvalidArgument(_) => C::InvalidArgument,
            E::PostPolicyDenied(_) => C::AccessDenied,
            E::InvalidPolicyDocument(_) => C::InvalidPolicyDocument,
            E::InvalidURI => C::InvalidURI,
            _ => C::InvalidRequest,
        };
        let mut err = S3Error::new(code, e.to_string());
        if let E::HeadersNotSigned(names) = e {
            err.detail = Some(("HeadersNotSigned", names));
        }
        err
    }
}

impl From<sluice_http::Error> for S3Error {
    fn from(e: sluice_http::Error) -> Self {
        use sluice_http::Error as H;
        use S3ErrorCode as C;
        let code = match e {
            H::HeadTooLarge | H::TooManyHeaders => C::RequestHeaderSectionTooLarge,
            H::BodyTooLarge | H::ChunkTooLarge => C::EntityTooLarge,
            H::MissingContentLength | H::MissingDecodedContentLength => C::MissingContentLength,
            H::UnsupportedTransferEncoding => C::NotImplemented,
            H::DecodedLengthMismatch => C::IncompleteBody,
            H::InvalidContentLength
            | H::ConflictingContentLength
            | H::InvalidDecodedContentLength => C::InvalidArgument,
            _ => C::InvalidRequest,
        };
        S3Error::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status of every sigv4 error agrees with the code table.
    #[test]
    fn sigv4_statuses_agree_with_the_table() {
        use sluice_sigv4::Error as E;
        for e in [
            E::SignatureDoesNotMatch,
            E::InvalidAccessKeyId,
            E::InvalidToken,
            E::ExpiredToken,
            E::AuthorizationHeaderMalformed("x"),
            E::AuthorizationQueryParametersError("x"),
            E::RequestTimeTooSkewed,
            E::AccessDenied("x"),
            E::XAmzContentSHA256Mismatch,
            E::BadDigest("x"),
            E::InvalidRequest("x"),
            E::InvalidDigest("x"),
            E::UnsupportedSignatureVersion,
            E::InvalidArgument("x"),
            E::MissingRequiredHeader("x"),
            E::InvalidURI,
            E::HeadersNotSigned("x-amz-meta-a".into()),
            E::InvalidPolicyDocument("x".into()),
            E::PostPolicyDenied("x".into()),
        ] {
            let s3 = S3Error::from(e.clone());
            assert_eq!(
                (s3.code.as_str(), s3.status()),
                (e.code(), e.status()),
                "{e:?}"
            );
        }
    }

    /// Regression (issue 11): an I/O error's text (a path, an OS message)
    /// was sent to the client. It is kept for the log only.
    #[test]
    fn internal_detail_stays_out_of_the_answer() {
        let io = std::io::Error::other("/srv/data/.sluice/tmp/x: Operation not permitted");
        let e = S3Error::from(StoreError::Io(io));
        assert_eq!(e.code, S3ErrorCode::InternalError);
        assert_eq!(e.status(), 500);
        assert!(!e.message.contains("/srv"), "{}", e.message);
        assert!(e.internal.as_deref().is_some_and(|d| d.contains("/srv")));
    }
}
