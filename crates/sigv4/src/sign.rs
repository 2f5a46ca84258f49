//! The signing side: Authorization headers, chunk signatures and presigned
//! URLs. The CLI, tests and sluice-bench use it; it shares the canonical
//! request and signature chain code with the verifier.

use sluice_http::hex_encode32;

use crate::auth::{Scope, ALGORITHM};
use crate::canonical::{canonical_headers, canonical_target, raw_target, uri_encode};
use crate::key::{derive_signing_key, sign_hex};
use crate::request::{HeaderSource, SignedRequest};
use crate::streaming::{push_canonical_trailer, SignatureChain};
use crate::time::format_amz_date;
use crate::verify::{sha256, string_to_sign};

/// An access key and its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl Credentials {
    /// Long-term credentials.
    #[must_use]
    pub fn new(access_key: &str, secret_key: &str) -> Self {
        Credentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            session_token: None,
        }
    }
}

/// A header signature: the `Authorization` value and what streaming needs.
#[derive(Clone)]
pub struct HeaderSignature {
    /// Value for the `Authorization` header.
    pub authorization: String,
    /// The signature alone (the seed of a chunk chain).
    pub signature: [u8; 64],
    chain: SignatureChain,
}

impl core::fmt::Debug for HeaderSignature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeaderSignature")
            .field("authorization", &self.authorization)
            .finish_non_exhaustive()
    }
}

impl HeaderSignature {
    /// A signer for the chunks of an aws-chunked body seeded by this signature.
    #[must_use]
    pub fn chunk_signer(&self) -> ChunkSigner {
        ChunkSigner {
            chain: self.chain.clone(),
        }
    }
}

/// Signs a request in its headers. The request's headers MUST already hold
/// every header named in `signed_headers` (lowercase, `;`-separated, sorted,
/// with `host` and `x-amz-date` = [`format_amz_date`]`(time)`), and
/// `payload_hash` is what `x-amz-content-sha256` says. A path or query that
/// is not percent-encoded UTF-8 gets a signature that no verifier accepts
/// (it refuses such a request with [`crate::Error::InvalidURI`]).
#[must_use]
pub fn sign_headers<H: HeaderSource + ?Sized>(
    req: &SignedRequest<'_, H>,
    signed_headers: &str,
    payload_hash: &str,
    creds: &Credentials,
    region: &str,
    time: i64,
) -> HeaderSignature {
    let amz_date = format_amz_date(time);
    let scope = Scope {
        date: amz_date[..8].to_owned(),
        region: region.to_owned(),
        service: "s3".to_owned(),
    };
    let key = derive_signing_key(&creds.secret_key, &scope);
    let signature = signature_of(
        req,
        signed_headers,
        payload_hash.as_bytes(),
        false,
        &key,
        &amz_date,
        &scope,
    );
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={signed_headers}, Signature={}",
        creds.access_key,
        scope.to_text(),
        String::from_utf8_lossy(&signature)
    );
    HeaderSignature {
        authorization,
        signature,
        chain: SignatureChain::new(key, &amz_date, &scope, signature),
    }
}

fn signature_of<H: HeaderSource + ?Sized>(
    req: &SignedRequest<'_, H>,
    signed_headers: &str,
    payload_hash: &[u8],
    presigned: bool,
    key: &ring::hmac::Key,
    amz_date: &str,
    scope: &Scope,
) -> [u8; 64] {
    let mut buf = Vec::with_capacity(1024);
    if canonical_target(&mut buf, req, presigned).is_err() {
        // A verifier refuses this request (Error::InvalidURI) whatever its
        // signature; the signature is over lines that are the canonical
        // form of no other request.
        buf.clear();
        raw_target(&mut buf, req);
    }
    canonical_headers(&mut buf, req, signed_headers, payload_hash);
    let hash = hex_encode32(&sha256(&buf));
    buf.clear();
    string_to_sign(&mut buf, ALGORITHM, amz_date, scope, &[&hash]);
    sign_hex(key, &buf)
}

/// Signs the chunks and trailer of an aws-chunked body in order.
#[derive(Clone)]
pub struct ChunkSigner {
    chain: SignatureChain,
}

impl core::fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChunkSigner").finish_non_exhaustive()
    }
}

impl ChunkSigner {
    /// The signature of the next chunk (the final chunk has empty data).
    pub fn sign_chunk(&mut self, data: &[u8]) -> [u8; 64] {
        self.chain.next_chunk(&sha256(data))
    }

    /// The `x-amz-trailer-signature` of the trailers, after the final chunk.
    pub fn sign_trailers(&mut self, trailers: &[(&str, &str)]) -> [u8; 64] {
        let mut canonical = Vec::new();
        for (name, value) in trailers {
            push_canonical_trailer(&mut canonical, name.as_bytes(), value.as_bytes());
        }
        self.chain.trailer(&canonical)
    }
}

/// What a presigned URL is for.
#[derive(Debug, Clone, Copy)]
pub struct PresignRequest<'a> {
    /// Method the URL allows.
    pub method: &'a str,
    /// `Host` the client will send (with port when not the default).
    pub host: &'a str,
    /// Path, percent-encoded as it will be sent.
    pub raw_path: &'a str,
    /// Query to keep before the X-Amz-* parameters, percent-encoded; may be empty.
    pub raw_query: &'a str,
    /// Region to sign for.
    pub region: &'a str,
    /// Signing time, seconds since the epoch.
    pub time: i64,
    /// Validity in seconds (S3 allows at most seven days).
    pub expires: u32,
}

/// Presigns a request: returns the query string to send (the given raw
/// query, if any, followed by the X-Amz-* parameters). Only `host` is
/// signed and the payload is `UNSIGNED-PAYLOAD`, as SDK presigners do.
#[must_use]
pub fn presign(p: &PresignRequest<'_>, creds: &Credentials) -> String {
    let PresignRequest {
        method,
        host,
        raw_path,
        raw_query,
        region,
        time,
        expires,
    } = *p;
    let amz_date = format_amz_date(time);
    let scope = Scope {
        date: amz_date[..8].to_owned(),
        region: region.to_owned(),
        service: "s3".to_owned(),
    };
    let mut query = String::from(raw_query);
    let mut add = |name: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(name);
        query.push('=');
        query.push_str(&uri_encode(value, false));
    };
    add("X-Amz-Algorithm", ALGORITHM);
    add(
        "X-Amz-Credential",
        &format!("{}/{}", creds.access_key, scope.to_text()),
    );
    add("X-Amz-Date", &amz_date);
    add("X-Amz-Expires", &expires.to_string());
    if let Some(token) = &creds.session_token {
        add("X-Amz-Security-Token", token);
    }
    add("X-Amz-SignedHeaders", "host");
    let headers = [("host", host.as_bytes())];
    let req = SignedRequest {
        method,
        path: raw_path,
        query: &query,
        headers: &headers[..],
    };
    let key = derive_signing_key(&creds.secret_key, &scope);
    let signature = signature_of(
        &req,
        "host",
        b"UNSIGNED-PAYLOAD",
        true,
        &key,
        &amz_date,
        &scope,
    );
    query.push_str("&X-Amz-Signature=");
    query.push_str(&String::from_utf8_lossy(&signature));
    query
}
