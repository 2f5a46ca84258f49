//! sluice-sigv4: AWS Signature Version 4 for S3 servers, without I/O (and
//! the deprecated SigV2 of S3, for clients that still sign it).
//!
//! It decides whether a request was signed by the holder of a secret key
//! (Authorization header or presigned URL), tells the caller what the body
//! must then be checked against, and checks it incrementally: payload
//! SHA-256, aws-chunked chunk and trailer signatures, and the flexible
//! checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256). It also signs, for
//! clients, tests and presigned URLs. It does not read sockets, parse HTTP
//! or know users: secrets come through [`SecretLookup`], requests through
//! [`SignedRequest`] over any [`HeaderSource`]. Its percent-decoding and
//! hex are sluice-http's, so the path and query it canonicalises are read
//! exactly as routing reads them; a target routing refuses is refused here
//! too ([`Error::InvalidURI`]).
//!
//! ```
//! use sluice_sigv4::{sign_headers, Credentials, Error, Result, SecretLookup, SignedRequest, Verifier};
//!
//! struct OneKey;
//! impl SecretLookup for OneKey {
//!     fn secret_key(&self, access_key: &str, _token: Option<&str>) -> Result<String> {
//!         if access_key == "AK" { Ok("SECRET".into()) } else { Err(Error::InvalidAccessKeyId) }
//!     }
//! }
//!
//! let now = 1_700_000_000;
//! let mut headers = vec![
//!     ("host".to_owned(), b"127.0.0.1:9000".to_vec()),
//!     ("x-amz-content-sha256".to_owned(), b"UNSIGNED-PAYLOAD".to_vec()),
//!     ("x-amz-date".to_owned(), sluice_sigv4::format_amz_date(now).into_bytes()),
//! ];
//! let req = SignedRequest { method: "GET", path: "/bucket/key", query: "", headers: &headers[..] };
//! let sig = sign_headers(&req, "host;x-amz-content-sha256;x-amz-date", "UNSIGNED-PAYLOAD",
//!                        &Credentials::new("AK", "SECRET"), "us-east-1", now);
//! headers.push(("authorization".to_owned(), sig.authorization.into_bytes()));
//! let req = SignedRequest { method: "GET", path: "/bucket/key", query: "", headers: &headers[..] };
//! let verified = Verifier::new(None, "s3").verify(&req, &OneKey, now).unwrap();
//! assert_eq!(verified.access_key, "AK");
//! ```
#![deny(missing_docs)]
// Dates, lengths and counts come from the client: every sum is checked,
// bounded by construction (and says so), or restructured away.
#![deny(clippy::arithmetic_side_effects)]

mod auth;
mod canonical;
mod checksum;
mod encoding;
mod error;
mod key;
mod payload;
mod post;
mod request;
mod sign;
mod sigv2;
mod streaming;
mod time;
mod verify;

#[doc(hidden)]
pub mod fuzzing;

pub use auth::{
    is_presigned, parse_authorization_header, parse_presigned_query, Authorization,
    PresignedParams, Scope, ALGORITHM, MAX_PRESIGNED_EXPIRES,
};
pub use canonical::{uri_encode, uri_encode_into};
pub use checksum::{Checksum, ChecksumAlgorithm, ChecksumValue};
pub use encoding::{base64_decode, base64_encode, constant_time_eq};
pub use error::{Error, Result};
pub use key::{derive_signing_key, SigningKeyCache};
pub use payload::{sha256_hex, PayloadHash, EMPTY_SHA256};
pub use post::{
    sign_post_policy, PostCondition, PostPolicy, PostSignature, MAX_POST_CONDITIONS,
    MAX_POST_POLICY,
};
pub use request::{HeaderSource, SignedRequest};
pub use sign::{presign, sign_headers, ChunkSigner, Credentials, HeaderSignature, PresignRequest};
pub use sigv2::{is_sigv2, SUBRESOURCES as SIGV2_SUBRESOURCES};
/// Lowercase hex, re-exported from sluice-http (the one hex codec of sluice).
pub use sluice_http::hex_encode as hex;
pub use streaming::{ChunkVerifier, StreamingMode};
pub use time::{format_amz_date, parse_amz_date, parse_http_date, parse_iso8601, unix_to_civil};
pub use verify::{
    auth_kind, AuthKind, PayloadMode, SecretLookup, SignatureVersion, Verified, Verifier,
    MAX_SKEW_SECONDS,
};
