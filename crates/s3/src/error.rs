//! S3 errors: code, HTTP status and message, from every layer below.

use sluice_core::StoreError;

/// An error answered to a client as S3 error XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    /// The S3 error code (`NoSuchKey`, ...).
    pub code: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// A message for people.
    pub message: String,
    /// An element S3 adds to this error's document (`HeadersNotSigned`, ...).
    pub detail: Option<(&'static str, String)>,
}

impl S3Error {
    /// An error with a code, status and message.
    #[must_use]
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        S3Error {
            code,
            status,
            message: message.into(),
            detail: None,
        }
    }

    /// 501 NotImplemented for an operation sluice does not have.
    #[must_use]
    pub fn not_implemented(what: &str) -> Self {
        S3Error::new(
            "NotImplemented",
            501,
            format!("{what} is not implemented by sluice"),
        )
    }

    /// 500 InternalError.
    #[must_use]
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        S3Error::new(
            "InternalError",
            500,
            format!("We encountered an internal error: {detail}"),
        )
    }
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        let (code, status) = match &e {
            StoreError::InvalidBucketName => ("InvalidBucketName", 400),
            StoreError::InvalidKey(reason) if reason.contains("1024") => ("KeyTooLongError", 400),
            StoreError::InvalidKey(_) => ("InvalidArgument", 400),
            StoreError::NoSuchBucket => ("NoSuchBucket", 404),
            StoreError::BucketAlreadyExists => ("BucketAlreadyOwnedByYou", 409),
            StoreError::BucketNotEmpty => ("BucketNotEmpty", 409),
            StoreError::NoSuchKey => ("NoSuchKey", 404),
            // Codes of versitygw, the other S3 server on POSIX files.
            StoreError::KeyConflict(reason) if reason.contains("parent") => {
                ("ObjectParentIsFile", 409)
            }
            StoreError::KeyConflict(_) => ("ExistingObjectIsDirectory", 409),
            StoreError::NoSuchUpload => ("NoSuchUpload", 404),
            StoreError::InvalidPart => ("InvalidPart", 400),
            StoreError::InvalidPartOrder => ("InvalidPartOrder", 400),
            StoreError::EntityTooSmall => ("EntityTooSmall", 400),
            StoreError::EntityTooLarge => ("EntityTooLarge", 400),
            StoreError::PreconditionFailed => ("PreconditionFailed", 412),
            // Another write to the key held it past the publish's wait; SDKs
            // retry a 503 SlowDown.
            StoreError::Busy => ("SlowDown", 503),
            StoreError::HardLinked => ("AccessDenied", 403),
            _ => return S3Error::internal(message),
        };
        S3Error::new(code, status, message)
    }
}

impl From<sluice_sigv4::Error> for S3Error {
    fn from(e: sluice_sigv4::Error) -> Self {
        let mut err = S3Error::new(e.code(), e.status(), e.to_string());
        if let sluice_sigv4::Error::HeadersNotSigned(names) = e {
            err.detail = Some(("HeadersNotSigned", names));
        }
        err
    }
}

impl From<sluice_http::Error> for S3Error {
    fn from(e: sluice_http::Error) -> Self {
        use sluice_http::Error as H;
        let message = e.to_string();
        let (code, status) = match e {
            H::HeadTooLarge | H::TooManyHeaders => ("RequestHeaderSectionTooLarge", 400),
            H::BodyTooLarge | H::ChunkTooLarge => ("EntityTooLarge", 400),
            H::MissingContentLength | H::MissingDecodedContentLength => {
                ("MissingContentLength", 411)
            }
            H::UnsupportedTransferEncoding => ("NotImplemented", 501),
            H::DecodedLengthMismatch => ("IncompleteBody", 400),
            H::InvalidContentLength
            | H::ConflictingContentLength
            | H::InvalidDecodedContentLength => ("InvalidArgument", 400),
            _ => ("InvalidRequest", 400),
        };
        S3Error::new(code, status, message)
    }
}
