//! The one error type of sluice-sigv4, carrying the S3 error code to answer with.

/// Why a request's authentication or integrity check failed. Each variant
/// is an S3 error code; [`Error::code`] and [`Error::status`] give what the
/// server puts on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The signature does not match the one computed with the secret key.
    #[error("the request signature we calculated does not match the signature you provided")]
    SignatureDoesNotMatch,
    /// The access key is unknown.
    #[error("the AWS access key Id you provided does not exist in our records")]
    InvalidAccessKeyId,
    /// The session token is missing, unknown or does not belong to the key.
    #[error("the provided token is malformed or otherwise invalid")]
    InvalidToken,
    /// Temporary credentials whose time is over.
    #[error("the provided token has expired")]
    ExpiredToken,
    /// The Authorization header cannot be parsed or its scope is wrong.
    #[error("the authorization header is malformed; {0}")]
    AuthorizationHeaderMalformed(&'static str),
    /// A presigned URL's X-Amz-* parameters are missing or malformed.
    #[error("error parsing the X-Amz-Credential parameter or other query auth parameters; {0}")]
    AuthorizationQueryParametersError(&'static str),
    /// The request time is more than 15 minutes from the server's.
    #[error("the difference between the request time and the server's time is too large")]
    RequestTimeTooSkewed,
    /// A presigned URL has expired or is not valid yet.
    #[error("{0}")]
    AccessDenied(&'static str),
    /// The body's SHA-256 differs from `x-amz-content-sha256`.
    #[error("the provided 'x-amz-content-sha256' header does not match what was computed")]
    XAmzContentSHA256Mismatch,
    /// A checksum (Content-MD5 or `x-amz-checksum-*`) differs from the body.
    #[error("the {0} you specified did not match the calculated checksum")]
    BadDigest(&'static str),
    /// A checksum or payload-mode problem in the request itself.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// A Content-MD5 or checksum value that is not valid base64 of the right size.
    #[error("the {0} you specified is not valid")]
    InvalidDigest(&'static str),
    /// An algorithm other than AWS4-HMAC-SHA256 (SigV4a; SigV2 where it is
    /// refused). The message is S3's own, as SigV4-only regions answer it.
    #[error("The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")]
    UnsupportedSignatureVersion,
    /// A request parameter or header with a value S3 does not accept.
    #[error("{0}")]
    InvalidArgument(&'static str),
    /// A header S3 requires for this request is absent.
    #[error("missing required header for this request: {0}")]
    MissingRequiredHeader(&'static str),
    /// A POST policy that cannot be parsed; the text names the problem.
    #[error("{0}")]
    InvalidPolicyDocument(String),
    /// A browser form that its POST policy does not allow (expired, a
    /// condition failed, a field no condition names).
    #[error("Invalid according to Policy: {0}")]
    PostPolicyDenied(String),
    /// The path or query is not percent-encoded UTF-8 (a `%` not followed by
    /// two hex digits, or escapes of bytes that are not UTF-8). Such a
    /// request has no canonical form; it is refused, as routing refuses it,
    /// rather than canonicalised one way and routed another.
    #[error("Couldn't parse the specified URI.")]
    InvalidURI,
    /// `x-amz-*` headers that change what a request does were sent but not
    /// signed; the list (lowercase, comma-separated) is answered in a
    /// `HeadersNotSigned` element.
    #[error("there were headers present in the request which were not signed")]
    HeadersNotSigned(String),
}

impl Error {
    /// The S3 error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Error::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Error::InvalidAccessKeyId => "InvalidAccessKeyId",
            Error::InvalidToken => "InvalidToken",
            Error::ExpiredToken => "ExpiredToken",
            Error::AuthorizationHeaderMalformed(_) => "AuthorizationHeaderMalformed",
            Error::AuthorizationQueryParametersError(_) => "AuthorizationQueryParametersError",
            Error::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            Error::AccessDenied(_) | Error::HeadersNotSigned(_) | Error::PostPolicyDenied(_) => {
                "AccessDenied"
            }
            Error::InvalidPolicyDocument(_) => "InvalidPolicyDocument",
            Error::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            Error::BadDigest(_) => "BadDigest",
            Error::InvalidRequest(_)
            | Error::UnsupportedSignatureVersion
            | Error::MissingRequiredHeader(_) => "InvalidRequest",
            Error::InvalidDigest(_) => "InvalidDigest",
            Error::InvalidArgument(_) => "InvalidArgument",
            Error::InvalidURI => "InvalidURI",
        }
    }

    /// The HTTP status S3 answers with.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Error::SignatureDoesNotMatch
            | Error::InvalidAccessKeyId
            | Error::RequestTimeTooSkewed
            | Error::AccessDenied(_)
            | Error::PostPolicyDenied(_)
            | Error::HeadersNotSigned(_) => 403,
            _ => 400,
        }
    }
}

/// Result with the sluice-sigv4 error.
pub type Result<T, E = Error> = core::result::Result<T, E>;
