//! Deciding whether a request is signed by the holder of a secret key.

use ring::digest;
use sluice_http::hex_encode32;

use crate::auth::{self, Authorization, PresignedParams, Scope, ALGORITHM};
use crate::canonical::{canonical_headers, canonical_target};
use crate::encoding::constant_time_eq;
use crate::error::{Error, Result};
use crate::key::{sign_hex, SigningKeyCache};
use crate::payload::PayloadHash;
use crate::request::{HeaderSource, SignedRequest};
use crate::streaming::{ChunkVerifier, StreamingMode};
use crate::time::{parse_amz_date, parse_http_date};

/// Looks up secrets; the IAM layer implements it.
pub trait SecretLookup {
    /// The secret access key of `access_key`. `session_token` is the
    /// `x-amz-security-token` the request carried: an implementation MUST
    /// refuse a temporary key without its token ([`Error::InvalidToken`]) and
    /// answer [`Error::InvalidAccessKeyId`] for unknown keys.
    ///
    /// # Errors
    /// As above.
    fn secret_key(&self, access_key: &str, session_token: Option<&str>) -> Result<String>;
}

/// What the body must be checked against, from `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// The body's SHA-256 must equal this digest.
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD` (and presigned URLs without a content hash).
    Unsigned,
    /// aws-chunked with signed chunks (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`).
    StreamingSigned,
    /// Signed chunks and a signed trailer (`...-PAYLOAD-TRAILER`).
    StreamingSignedTrailer,
    /// Unsigned chunks and an unsigned trailer (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
    StreamingUnsignedTrailer,
}

impl PayloadMode {
    /// Parses an `x-amz-content-sha256` value.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`]-like [`Error::InvalidRequest`] for anything
    /// else, including SigV4a's ECDSA streaming modes.
    pub fn parse(value: &[u8]) -> Result<Self> {
        Ok(match value {
            b"UNSIGNED-PAYLOAD" => PayloadMode::Unsigned,
            b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => PayloadMode::StreamingSigned,
            b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => PayloadMode::StreamingSignedTrailer,
            b"STREAMING-UNSIGNED-PAYLOAD-TRAILER" => PayloadMode::StreamingUnsignedTrailer,
            hex => PayloadMode::Sha256(
                sluice_http::hex_decode_array(hex).ok_or_else(bad_content_sha256)?,
            ),
        })
    }

    /// Whether the body is aws-chunked (one of the streaming modes).
    #[must_use]
    pub fn is_streaming(self) -> bool {
        self.streaming().is_some()
    }

    fn streaming(self) -> Option<StreamingMode> {
        match self {
            PayloadMode::StreamingSigned => Some(StreamingMode::Signed),
            PayloadMode::StreamingSignedTrailer => Some(StreamingMode::SignedTrailer),
            PayloadMode::StreamingUnsignedTrailer => Some(StreamingMode::UnsignedTrailer),
            PayloadMode::Sha256(_) | PayloadMode::Unsigned => None,
        }
    }
}

fn bad_content_sha256() -> Error {
    Error::InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-*, or a valid sha256 value",
    )
}

/// Which signature a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureVersion {
    /// AWS4-HMAC-SHA256.
    V4,
    /// The deprecated HMAC-SHA1 signature of S3 (see [`crate::is_sigv2`]).
    V2,
}

/// A request whose signature checked out.
#[derive(Debug)]
pub struct Verified {
    /// SigV4 or SigV2.
    pub version: SignatureVersion,
    /// The access key that signed.
    pub access_key: String,
    /// The session token sent with it, if any.
    pub session_token: Option<String>,
    /// What the body must be checked against.
    pub payload: PayloadMode,
    /// Whether the signature came from presigned-URL query parameters.
    pub presigned: bool,
    /// The credential scope. SigV2 has none: its region is empty, its
    /// date that of `time`.
    pub scope: Scope,
    /// The request time, seconds since the epoch (for a SigV2 query, which
    /// carries only its expiry, the time it was verified).
    pub time: i64,
    amz_date: String,
    signature: [u8; 64],
    key: ring::hmac::Key,
}

impl Verified {
    /// The payload SHA-256 check, when the client signed a digest.
    #[must_use]
    pub fn payload_hash(&self) -> Option<PayloadHash> {
        match self.payload {
            PayloadMode::Sha256(d) => Some(PayloadHash::new(d)),
            _ => None,
        }
    }

    /// The chunk-signature chain verifier, for the streaming modes.
    #[must_use]
    pub fn chunk_verifier(&self) -> Option<ChunkVerifier> {
        let mode = self.payload.streaming()?;
        Some(ChunkVerifier::new(
            mode,
            self.key.clone(),
            &self.amz_date,
            &self.scope,
            self.signature,
        ))
    }

    /// The signature of the request (the seed of a chunk chain); zeros for
    /// SigV2, whose body is never chunk-signed.
    #[must_use]
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}

/// How a request says who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// An `Authorization` header.
    Header,
    /// Presigned-URL query parameters.
    Query,
    /// Neither: an anonymous request.
    Anonymous,
}

/// Which kind of authentication a request carries.
#[must_use]
pub fn auth_kind<H: HeaderSource + ?Sized>(req: &SignedRequest<'_, H>) -> AuthKind {
    if req.headers.first("authorization").is_some() {
        AuthKind::Header
    } else if auth::is_presigned(req.query) {
        AuthKind::Query
    } else {
        AuthKind::Anonymous
    }
}

/// Largest difference between request and server time: 15 minutes.
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// Verifies requests. One per thread: it owns a signing-key cache and a
/// scratch buffer for canonical requests.
#[derive(Debug)]
pub struct Verifier {
    region: Option<String>,
    service: String,
    pub(crate) keys: SigningKeyCache,
    /// The canonical request being built: [`Verifier::verify`] writes its
    /// target lines first, [`Verifier::check`] the rest.
    scratch: Vec<u8>,
}

impl Verifier {
    /// A verifier for `service` (`s3`) that accepts the region given, or any
    /// region when `region` is None (the client's region is still signed).
    #[must_use]
    pub fn new(region: Option<&str>, service: &str) -> Self {
        Verifier {
            region: region.map(str::to_owned),
            service: service.to_owned(),
            keys: SigningKeyCache::default(),
            scratch: Vec::with_capacity(1024),
        }
    }

    /// Runs `f` with this verifier expecting credential scopes of `service`
    /// (`sts` for the STS calls a server answers on its S3 endpoint).
    pub fn with_service<R>(&mut self, service: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        let kept = std::mem::replace(&mut self.service, service.to_owned());
        let out = f(self);
        self.service = kept;
        out
    }

    /// Verifies a request signed in its `Authorization` header or its query.
    /// `now` is the server's time in seconds since the epoch.
    ///
    /// # Errors
    /// The S3 error the request deserves; see [`Error`]. A path or query
    /// that is not percent-encoded UTF-8 is [`Error::InvalidURI`] before any
    /// other check, as routing refuses it. An anonymous
    /// request is [`Error::AccessDenied`]: check [`auth_kind`] first when
    /// anonymous access is possible.
    pub fn verify<H, S>(
        &mut self,
        req: &SignedRequest<'_, H>,
        secrets: &S,
        now: i64,
    ) -> Result<Verified>
    where
        H: HeaderSource + ?Sized,
        S: SecretLookup + ?Sized,
    {
        self.verify_with_host_bucket(req, None, secrets, now)
    }

    /// [`Verifier::verify`] for a request that may be virtual-hosted:
    /// `host_bucket` is the bucket its Host names, if any. SigV4 does not
    /// need it; a SigV2 signature covers `/bucket/key` whatever the
    /// addressing style, so the caller, which routed the request, MUST
    /// pass it for SigV2 requests to verify.
    ///
    /// # Errors
    /// As [`Verifier::verify`].
    pub fn verify_with_host_bucket<H, S>(
        &mut self,
        req: &SignedRequest<'_, H>,
        host_bucket: Option<&str>,
        secrets: &S,
        now: i64,
    ) -> Result<Verified>
    where
        H: HeaderSource + ?Sized,
        S: SecretLookup + ?Sized,
    {
        let kind = auth_kind(req);
        // The target is canonicalised before anything else is looked at, so
        // that a request routing refuses is refused here alike, whatever
        // else is wrong with it.
        self.scratch.clear();
        canonical_target(&mut self.scratch, req, kind == AuthKind::Query)?;
        match kind {
            AuthKind::Header if auth::is_presigned(req.query) => Err(Error::InvalidArgument(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
                 Signature query string parameter or the Authorization header should be specified",
            )),
            _ if crate::sigv2::is_sigv2(req) => self.verify_sigv2(req, host_bucket, secrets, now),
            AuthKind::Header => self.verify_header(req, secrets, now),
            AuthKind::Query => self.verify_query(req, secrets, now),
            AuthKind::Anonymous => Err(Error::AccessDenied("Access Denied")),
        }
    }

    fn verify_sigv2<H, S>(
        &mut self,
        req: &SignedRequest<'_, H>,
        host_bucket: Option<&str>,
        secrets: &S,
        now: i64,
    ) -> Result<Verified>
    where
        H: HeaderSource + ?Sized,
        S: SecretLookup + ?Sized,
    {
        let v = crate::sigv2::verify(req, host_bucket, secrets, now, &mut self.scratch)?;
        let amz_date = crate::time::format_amz_date(v.time);
        Ok(Verified {
            version: SignatureVersion::V2,
            access_key: v.access_key,
            session_token: v.session_token,
            // No payload hash is signed: the body is checked as an
            // UNSIGNED-PAYLOAD one is (Content-MD5, checksums).
            payload: PayloadMode::Unsigned,
            presigned: v.presigned,
            scope: Scope {
                date: amz_date.get(..8).unwrap_or_default().to_owned(),
                region: String::new(),
                service: self.service.clone(),
            },
            time: v.time,
            amz_date,
            signature: [b'0'; 64],
            // Never used: chunk_verifier is None for an unsigned payload.
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[]),
        })
    }

    fn verify_header<H, S>(
        &mut self,
        req: &SignedRequest<'_, H>,
        secrets: &S,
        now: i64,
    ) -> Result<Verified>
    where
        H: HeaderSource + ?Sized,
        S: SecretLookup + ?Sized,
    {
        let value = req.headers.first("authorization").unwrap_or_default();
        let auth = auth::parse_authorization_header(value)?;
        let (time, amz_date) = header_time(req.headers, now)?;
        if amz_date[..8] != *auth.scope.date {
            return Err(Error::AuthorizationHeaderMalformed(
                "the credential date does not match the request date",
            ));
        }
        self.check_scope(&auth.scope, Error::AuthorizationHeaderMalformed)?;
        if now.abs_diff(time) > MAX_SKEW_SECONDS.unsigned_abs() {
            return Err(Error::RequestTimeTooSkewed);
        }
        let content_sha256 = req
            .headers
            .first("x-amz-content-sha256")
            .ok_or(Error::MissingRequiredHeader("x-amz-content-sha256"))?;
        let payload = PayloadMode::parse(content_sha256)?;
        let token = match req.headers.first("x-amz-security-token") {
            Some(t) => Some(String::from_utf8(t.to_vec()).map_err(|_| Error::InvalidToken)?),
            None => None,
        };
        self.check(
            req,
            auth,
            amz_date,
            time,
            payload,
            token,
            content_sha256,
            false,
            secrets,
        )
    }

    fn verify_query<H, S>(
        &mut self,
        req: &SignedRequest<'_, H>,
        secrets: &S,
        now: i64,
    ) -> Result<Verified>
    where
        H: HeaderSource + ?Sized,
        S: SecretLookup + ?Sized,
    {
        let PresignedParams {
            authorization: auth,
            amz_date,
            expires,
            session_token,
            content_sha256,
        } = auth::parse_presigned_query(req.query)?;
        let time =
            parse_amz_date(amz_date.as_bytes()).ok_or(Error::AuthorizationQueryParametersError(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            ))?;
        if amz_date[..8] != *auth.scope.date {
            return Err(Error::AuthorizationQueryParametersError(
                "the credential date does not match X-Amz-Date",
            ));
        }
        self.check_scope(&auth.scope, Error::AuthorizationQueryParametersError)?;
        // Saturating is exact here: a sum past i64::MAX is later than any
        // time or clock reading it is compared with.
        if now.saturating_add(MAX_SKEW_SECONDS) < time {
            return Err(Error::AccessDenied("Request is not valid yet"));
        }
        if now > time.saturating_add(i64::from(expires)) {
            return Err(Error::AccessDenied("Request has expired"));
        }
        let hash = content_sha256.unwrap_or_else(|| "UNSIGNED-PAYLOAD".to_owned());
        let payload = match PayloadMode::parse(hash.as_bytes())? {
            p @ (PayloadMode::Sha256(_) | PayloadMode::Unsigned) => p,
            _ => {
                return Err(Error::AuthorizationQueryParametersError(
                    "a presigned URL cannot stream chunks",
                ))
            }
        };
        self.check(
            req,
            auth,
            amz_date,
            time,
            payload,
            session_token,
            hash.as_bytes(),
            true,
            secrets,
        )
    }

    /// A POST form's credential scope: this verifier's service and region.
    pub(crate) fn check_post_scope(&self, scope: &Scope) -> Result<()> {
        self.check_scope(scope, Error::InvalidArgument)
    }

    fn check_scope(&self, scope: &Scope, err: fn(&'static str) -> Error) -> Result<()> {
        if scope.service != self.service {
            return Err(err("the credential has the wrong service"));
        }
        if self.region.as_deref().is_some_and(|r| r != scope.region) {
            return Err(err("the credential has the wrong region"));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn check<H, S>(
        &mut self,
        req: &SignedRequest<'_, H>,
        auth: Authorization,
        amz_date: String,
        time: i64,
        payload: PayloadMode,
        session_token: Option<String>,
        payload_hash_line: &[u8],
        presigned: bool,
        secrets: &S,
    ) -> Result<Verified>
    where
        H: HeaderSource + ?Sized,
        S: SecretLookup + ?Sized,
    {
        let secret = secrets.secret_key(&auth.access_key, session_token.as_deref())?;
        let key = self.keys.get(&auth.access_key, &secret, &auth.scope);
        let expected = {
            let scratch = &mut self.scratch;
            canonical_headers(scratch, req, &auth.signed_headers, payload_hash_line);
            let creq_hash = hex_encode32(&sha256(scratch));
            scratch.clear();
            string_to_sign(scratch, ALGORITHM, &amz_date, &auth.scope, &[&creq_hash]);
            sign_hex(&key, scratch)
        };
        if !constant_time_eq(&expected, &auth.signature) {
            return Err(Error::SignatureDoesNotMatch);
        }
        check_all_signed(req.headers, &auth.signed_headers, payload_hash_line)?;
        Ok(Verified {
            version: SignatureVersion::V4,
            access_key: auth.access_key,
            session_token,
            payload,
            presigned,
            scope: auth.scope,
            time,
            amz_date,
            signature: auth.signature,
            key,
        })
    }
}

/// `x-amz-*` headers that may travel unsigned. `x-amz-content-sha256` is
/// bound by the payload line of the canonical request (and must equal it:
/// see [`check_all_signed`]); the decoded length and the trailer names are
/// checked against the body itself after verification.
const MAY_BE_UNSIGNED: [&str; 3] = [
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
];

/// Refuses a request carrying an `x-amz-*` header that its signature does
/// not cover, as S3 does: such a header (`x-amz-copy-source`,
/// `x-amz-meta-*`, `x-amz-tagging`, ...) changes what the request does, and a
/// verifier that only rebuilds the canonical request from SignedHeaders
/// would execute it on the signer's authority. Also refuses an
/// `x-amz-content-sha256` header that differs from the payload hash that
/// was signed: on a presigned URL the hash comes from the query, and an
/// added header must not switch the body into another mode.
fn check_all_signed<H: HeaderSource + ?Sized>(
    headers: &H,
    signed_headers: &str,
    payload_hash_line: &[u8],
) -> Result<()> {
    let mut unsigned: Vec<String> = Vec::new();
    headers.for_each_name(&mut |name| {
        let amz = name
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"));
        if !amz
            || MAY_BE_UNSIGNED.iter().any(|n| n.eq_ignore_ascii_case(name))
            || signed_headers
                .split(';')
                .any(|s| s.eq_ignore_ascii_case(name))
        {
            return;
        }
        let lower = name.to_ascii_lowercase();
        if !unsigned.contains(&lower) {
            unsigned.push(lower);
        }
    });
    let mut content_sha256_differs = false;
    headers.for_each("x-amz-content-sha256", &mut |v| {
        content_sha256_differs |= v != payload_hash_line;
    });
    if content_sha256_differs {
        unsigned.push("x-amz-content-sha256".to_owned());
    }
    if unsigned.is_empty() {
        Ok(())
    } else {
        Err(Error::HeadersNotSigned(unsigned.join(",")))
    }
}

/// The request time from `x-amz-date`, or from `Date` when it is absent,
/// with the ISO 8601 form the string to sign starts with. That form is
/// derived from the parsed instant, not copied from `Date`: SigV4 signs
/// `Date` itself verbatim among the canonical headers (when listed), and the
/// timestamp line in its basic ISO 8601 form (botocore's `SigV4Auth` writes
/// `Date` from the same instant with `formatdate`).
fn header_time<H: HeaderSource + ?Sized>(headers: &H, now: i64) -> Result<(i64, String)> {
    if let Some(v) = headers.first("x-amz-date") {
        let t = parse_amz_date(v).ok_or(Error::AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header",
        ))?;
        return Ok((t, crate::time::format_amz_date(t)));
    }
    if let Some(v) = headers.first("date") {
        let t = parse_http_date(v, now).ok_or(Error::AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header",
        ))?;
        return Ok((t, crate::time::format_amz_date(t)));
    }
    Err(Error::AccessDenied(
        "AWS authentication requires a valid Date or x-amz-date header",
    ))
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// `ALGORITHM\nDATE\nSCOPE\n` followed by `lines` joined with `\n`.
pub(crate) fn string_to_sign(
    out: &mut Vec<u8>,
    algorithm: &str,
    amz_date: &str,
    scope: &Scope,
    lines: &[&[u8]],
) {
    out.extend_from_slice(algorithm.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(amz_date.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(scope.date.as_bytes());
    out.push(b'/');
    out.extend_from_slice(scope.region.as_bytes());
    out.push(b'/');
    out.extend_from_slice(scope.service.as_bytes());
    out.extend_from_slice(b"/aws4_request");
    for line in lines {
        out.push(b'\n');
        out.extend_from_slice(line);
    }
}
