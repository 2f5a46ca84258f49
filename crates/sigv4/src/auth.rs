//! Parsing the two places a SigV4 signature travels: the Authorization
//! header and the X-Amz-* query parameters of a presigned URL.

use crate::error::{Error, Result};

/// The only algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The credential scope `date/region/service/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `YYYYMMDD`.
    pub date: String,
    /// Region the client signed for.
    pub region: String,
    /// Service, `s3` for S3 requests.
    pub service: String,
}

impl Scope {
    /// `date/region/service/aws4_request`.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The parts of a signature, from a header or from a presigned URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id.
    pub access_key: String,
    /// The credential scope.
    pub scope: Scope,
    /// Lowercase header names, `;`-separated, as signed.
    pub signed_headers: String,
    /// The signature, 64 lowercase hex digits.
    pub signature: [u8; 64],
}

fn header_err(what: &'static str) -> Error {
    Error::AuthorizationHeaderMalformed(what)
}

fn query_err(what: &'static str) -> Error {
    Error::AuthorizationQueryParametersError(what)
}

/// Parses `AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
/// SignedHeaders=a;b, Signature=HEX`.
///
/// # Errors
/// [`Error::UnsupportedSignatureVersion`] for SigV2 (`AWS AK:sig`, which
/// the verifier checks elsewhere) and other algorithms; [`Error::AuthorizationHeaderMalformed`] for anything else
/// that does not parse.
pub fn parse_authorization_header(value: &[u8]) -> Result<Authorization> {
    let value = core::str::from_utf8(value).map_err(|_| header_err("not UTF-8"))?;
    let Some((algorithm, rest)) = value.trim().split_once(' ') else {
        return Err(header_err("missing fields"));
    };
    if algorithm != ALGORITHM {
        return Err(Error::UnsupportedSignatureVersion);
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let Some((key, val)) = part.split_once('=') else {
            return Err(header_err("a component is not key=value"));
        };
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(header_err("unknown component")),
        };
        if slot.replace(val).is_some() {
            return Err(header_err("repeated component"));
        }
    }
    let credential = credential.ok_or(header_err("missing Credential"))?;
    let signed_headers = signed_headers.ok_or(header_err("missing SignedHeaders"))?;
    let signature = signature.ok_or(header_err("missing Signature"))?;
    let (access_key, scope) = parse_credential(credential).map_err(header_err)?;
    check_signed_headers(signed_headers).map_err(header_err)?;
    host_signed(signed_headers)?;
    Ok(Authorization {
        access_key,
        scope,
        signed_headers: signed_headers.to_owned(),
        signature: parse_signature(signature.as_bytes())
            .ok_or(header_err("signature is not 64 hex digits"))?,
    })
}

/// The X-Amz-* parameters of a presigned URL, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedParams {
    /// Signature parts.
    pub authorization: Authorization,
    /// `X-Amz-Date` as sent.
    pub amz_date: String,
    /// `X-Amz-Expires` in seconds, 1..=604800.
    pub expires: u32,
    /// `X-Amz-Security-Token`, decoded.
    pub session_token: Option<String>,
    /// `X-Amz-Content-Sha256` when the URL signs a payload hash.
    pub content_sha256: Option<String>,
}

/// Seven days, the longest validity S3 allows a presigned URL.
pub const MAX_PRESIGNED_EXPIRES: u32 = 7 * 24 * 3600;

/// Whether a raw query carries presigned-URL authentication.
#[must_use]
pub fn is_presigned(raw_query: &str) -> bool {
    raw_query.split('&').any(|p| {
        p.starts_with("X-Amz-Signature=")
            || p.starts_with("X-Amz-Algorithm=")
            || is_sigv2_parameter(p)
    })
}

/// SigV2 presigned URLs carry `AWSAccessKeyId`, `Signature` and `Expires`;
/// they are recognised so that they are verified as SigV2 (`sigv2.rs`) or
/// refused with an error naming SigV4, never taken for anonymous requests.
fn is_sigv2_parameter(pair: &str) -> bool {
    pair.starts_with("AWSAccessKeyId=")
}

/// Parses the X-Amz-* parameters of a raw (percent-encoded) query.
///
/// # Errors
/// [`Error::AuthorizationQueryParametersError`] for missing, repeated or
/// malformed parameters (a value that is not percent-encoded UTF-8
/// included: it is never kept literally) and expiries beyond seven days;
/// [`Error::UnsupportedSignatureVersion`] for another algorithm.
pub fn parse_presigned_query(raw_query: &str) -> Result<PresignedParams> {
    let mut found: [Option<String>; 8] = Default::default();
    const NAMES: [&str; 8] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "X-Amz-Content-Sha256",
    ];
    for pair in raw_query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some(i) = NAMES.iter().position(|n| *n == name) {
            let decoded = sluice_http::percent_decode(value, true)
                .map_err(|_| query_err("a parameter is not percent-encoded UTF-8"))?;
            if found[i].replace(decoded.into_owned()).is_some() {
                return Err(query_err("a parameter is repeated"));
            }
        }
    }
    let [algorithm, credential, date, expires, signed_headers, signature, token, content_sha256] =
        found;
    if algorithm.is_none() && raw_query.split('&').any(is_sigv2_parameter) {
        return Err(Error::UnsupportedSignatureVersion);
    }
    let algorithm = algorithm.ok_or(query_err("X-Amz-Algorithm is missing"))?;
    if algorithm != ALGORITHM {
        return Err(Error::UnsupportedSignatureVersion);
    }
    let credential = credential.ok_or(query_err("X-Amz-Credential is missing"))?;
    let amz_date = date.ok_or(query_err("X-Amz-Date is missing"))?;
    let expires = expires.ok_or(query_err("X-Amz-Expires is missing"))?;
    let signed_headers = signed_headers.ok_or(query_err("X-Amz-SignedHeaders is missing"))?;
    let signature = signature.ok_or(query_err("X-Amz-Signature is missing"))?;
    let expires: u32 = if expires.bytes().all(|b| b.is_ascii_digit()) {
        expires.parse().ok()
    } else {
        None
    }
    .ok_or(query_err("X-Amz-Expires must be a number of seconds"))?;
    if expires == 0 {
        return Err(query_err("X-Amz-Expires must be positive"));
    }
    if expires > MAX_PRESIGNED_EXPIRES {
        return Err(query_err(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ));
    }
    let (access_key, scope) = parse_credential(&credential).map_err(query_err)?;
    check_signed_headers(&signed_headers).map_err(query_err)?;
    host_signed(&signed_headers)?;
    Ok(PresignedParams {
        authorization: Authorization {
            access_key,
            scope,
            signed_headers,
            signature: parse_signature(signature.as_bytes())
                .ok_or(query_err("X-Amz-Signature is not 64 hex digits"))?,
        },
        amz_date,
        expires,
        session_token: token,
        content_sha256,
    })
}

pub(crate) fn parse_credential(credential: &str) -> Result<(String, Scope), &'static str> {
    let mut parts = credential.rsplitn(5, '/');
    let (Some(terminator), Some(service), Some(region), Some(date), Some(access_key)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err("the Credential must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request");
    };
    if terminator != "aws4_request" {
        return Err("the Credential must end in aws4_request");
    }
    if access_key.is_empty() {
        return Err("the Credential has no access key");
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the Credential date must be YYYYMMDD");
    }
    if region.is_empty() || service.is_empty() {
        return Err("the Credential has an empty region or service");
    }
    Ok((
        access_key.to_owned(),
        Scope {
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        },
    ))
}

fn check_signed_headers(list: &str) -> Result<(), &'static str> {
    let valid = |n: &str| {
        !n.is_empty()
            && n.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
            })
    };
    if !list.split(';').all(valid) {
        return Err("SignedHeaders must be lowercase header names separated by ';'");
    }
    Ok(())
}

/// The host must be signed (else a signature could be replayed against
/// another endpoint): without it, S3 answers 403 AccessDenied naming it in
/// HeadersNotSigned.
fn host_signed(list: &str) -> Result<(), Error> {
    if list.split(';').any(|n| n == "host") {
        Ok(())
    } else {
        Err(Error::HeadersNotSigned("host".into()))
    }
}

pub(crate) fn parse_signature(sig: &[u8]) -> Option<[u8; 64]> {
    let sig: [u8; 64] = sig.try_into().ok()?;
    sig.iter()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        .then_some(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    #[test]
    fn parses_the_documented_header() {
        let a = parse_authorization_header(DOC.as_bytes()).unwrap();
        assert_eq!(a.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(a.scope.to_text(), "20130524/us-east-1/s3/aws4_request");
        assert_eq!(
            a.signed_headers,
            "host;range;x-amz-content-sha256;x-amz-date"
        );
        let spaced = DOC.replace(',', ", ");
        assert_eq!(parse_authorization_header(spaced.as_bytes()).unwrap(), a);
    }

    #[test]
    fn malformed_headers() {
        let cases = [
            (
                "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
                Error::UnsupportedSignatureVersion,
            ),
            (
                "AWS4-ECDSA-P256-SHA256 Credential=a",
                Error::UnsupportedSignatureVersion,
            ),
            ("AWS4-HMAC-SHA256", header_err("missing fields")),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse_authorization_header(value.as_bytes()),
                Err(expected),
                "{value}"
            );
        }
        let broken = [
            DOC.replace("aws4_request", "aws5_request"),
            DOC.replace("/20130524/", "/2013052/"),
            DOC.replace("host;", "Host;"),
            DOC.replace("f0e8", "F0E8"),
            DOC.replace("f0e8", "f0e"),
            DOC.replace("Signature=", "Signature=a,Signature="),
            DOC.replace("SignedHeaders", "Signedheaders"),
            DOC.replace("Credential=AKIAIOSFODNN7EXAMPLE/", "Credential=/"),
            DOC.replace(
                ",Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
                "",
            ),
        ];
        for value in broken {
            let e = parse_authorization_header(value.as_bytes()).unwrap_err();
            assert_eq!(e.code(), "AuthorizationHeaderMalformed", "{value}");
            assert_eq!(e.status(), 400);
        }
        // The host not signed: 403 AccessDenied naming it, as S3 answers.
        let e = parse_authorization_header(DOC.replace("host;", "").as_bytes()).unwrap_err();
        assert_eq!(e, Error::HeadersNotSigned("host".into()));
        assert_eq!(e.status(), 403);
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=x-amz-date&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        assert_eq!(
            parse_presigned_query(q).map(|_| ()),
            Err(Error::HeadersNotSigned("host".into()))
        );
    }

    #[test]
    fn presigned_params() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        assert!(is_presigned(q));
        let p = parse_presigned_query(q).unwrap();
        assert_eq!(p.expires, 86400);
        assert_eq!(p.authorization.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(p.amz_date, "20130524T000000Z");
        let too_long = q.replace("86400", "604801");
        assert_eq!(
            parse_presigned_query(&too_long).unwrap_err().code(),
            "AuthorizationQueryParametersError"
        );
        let signed = q.replace("86400", "-1");
        assert_eq!(
            parse_presigned_query(&signed).unwrap_err().code(),
            "AuthorizationQueryParametersError"
        );
        let missing = q.replace("X-Amz-Date=20130524T000000Z&", "");
        assert_eq!(
            parse_presigned_query(&missing).unwrap_err().code(),
            "AuthorizationQueryParametersError"
        );
        let repeated = format!("{q}&X-Amz-Expires=1");
        assert_eq!(
            parse_presigned_query(&repeated).unwrap_err().code(),
            "AuthorizationQueryParametersError"
        );
        assert!(!is_presigned("list-type=2&prefix=X-Amz-Signature="));
    }
}
