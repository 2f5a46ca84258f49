//! A request whose path or query is not percent-encoded UTF-8 is refused by
//! the verifier exactly when routing refuses it, before any other check;
//! never canonicalised one way and routed another.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sluice_http::{percent_decode, query_pairs};
use sluice_sigv4::{
    format_amz_date, presign, sign_headers, Credentials, Error, PresignRequest, Result,
    SecretLookup, SignedRequest, Verifier,
};

struct Keys;

impl SecretLookup for Keys {
    fn secret_key(&self, access_key: &str, _token: Option<&str>) -> Result<String> {
        if access_key == "AK" {
            Ok("secret".to_owned())
        } else {
            Err(Error::InvalidAccessKeyId)
        }
    }
}

const TIME: i64 = 1_700_000_000;
const SIGNED: &str = "host;x-amz-content-sha256;x-amz-date";

/// Whether routing can name what the target points at: sluice-s3's `route`
/// decodes the path and each query name and value with these calls.
fn routes(path: &str, query: &str) -> bool {
    percent_decode(path, false).is_ok()
        && query_pairs(query)
            .all(|(n, v)| percent_decode(n, true).is_ok() && percent_decode(v, true).is_ok())
}

fn headers() -> Vec<(String, Vec<u8>)> {
    vec![
        ("host".to_owned(), b"127.0.0.1:9000".to_vec()),
        (
            "x-amz-content-sha256".to_owned(),
            b"UNSIGNED-PAYLOAD".to_vec(),
        ),
        ("x-amz-date".to_owned(), format_amz_date(TIME).into_bytes()),
    ]
}

/// Signs `path`/`query` as a client would and verifies the request.
fn sign_and_verify(path: &str, query: &str) -> Result<()> {
    let mut headers = headers();
    let req = SignedRequest {
        method: "GET",
        path,
        query,
        headers: &headers[..],
    };
    let sig = sign_headers(
        &req,
        SIGNED,
        "UNSIGNED-PAYLOAD",
        &Credentials::new("AK", "secret"),
        "us-east-1",
        TIME,
    );
    headers.push(("authorization".to_owned(), sig.authorization.into_bytes()));
    let req = SignedRequest {
        method: "GET",
        path,
        query,
        headers: &headers[..],
    };
    Verifier::new(None, "s3")
        .verify(&req, &Keys, TIME)
        .map(|_| ())
}

/// Presigns `path`/`query` and verifies the URL.
fn presign_and_verify(path: &str, query: &str) -> Result<()> {
    let full = presign(
        &PresignRequest {
            method: "GET",
            host: "h",
            raw_path: path,
            raw_query: query,
            region: "us-east-1",
            time: TIME,
            expires: 60,
        },
        &Credentials::new("AK", "secret"),
    );
    let headers = [("host", &b"h"[..])];
    let req = SignedRequest {
        method: "GET",
        path,
        query: &full,
        headers: &headers[..],
    };
    Verifier::new(None, "s3")
        .verify(&req, &Keys, TIME)
        .map(|_| ())
}

const BAD: [&str; 8] = ["%zz", "%2", "%", "%4g", "%%41", "%FF", "%C3", "%e2%82"];

/// Regression: `%zz` and `%2` were kept literally by the verifier's own
/// decoder (and `%FF` decoded to a byte that is not UTF-8), so a request
/// routing refuses verified, and `/b/%zz` signed like `/b/%25zz`.
#[test]
fn percent_zz_and_percent_2_are_refused_as_routing_refuses_them() {
    for bad in BAD {
        let path = format!("/b/k{bad}");
        let query = format!("prefix={bad}");
        let name = format!("{bad}=1");
        for (path, query) in [
            (path.as_str(), ""),
            ("/b", query.as_str()),
            ("/b", name.as_str()),
            ("/b", bad),
        ] {
            assert!(!routes(path, query), "{path}?{query}");
            assert_eq!(
                sign_and_verify(path, query),
                Err(Error::InvalidURI),
                "{path}?{query}"
            );
            assert_eq!(
                presign_and_verify(path, query),
                Err(Error::InvalidURI),
                "{path}?{query}"
            );
        }
    }
    let e = Error::InvalidURI;
    assert_eq!((e.code(), e.status()), ("InvalidURI", 400));
}

/// The escaped form of the same key verifies, and a signature made for it
/// is not accepted for the malformed form (the old decoder read both as
/// one key).
#[test]
fn the_escaped_percent_is_a_different_request() {
    assert_eq!(sign_and_verify("/b/a%25zz", "p=%252"), Ok(()));
    let mut headers = headers();
    let req = SignedRequest {
        method: "GET",
        path: "/b/a%25zz",
        query: "",
        headers: &headers[..],
    };
    let sig = sign_headers(
        &req,
        SIGNED,
        "UNSIGNED-PAYLOAD",
        &Credentials::new("AK", "secret"),
        "us-east-1",
        TIME,
    );
    headers.push(("authorization".to_owned(), sig.authorization.into_bytes()));
    let replayed = SignedRequest {
        method: "GET",
        path: "/b/a%zz",
        query: "",
        headers: &headers[..],
    };
    assert_eq!(
        Verifier::new(None, "s3")
            .verify(&replayed, &Keys, TIME)
            .unwrap_err(),
        Error::InvalidURI
    );
}

/// A malformed target is refused as such before anything else, like
/// routing runs before authentication: an unknown key, a broken
/// Authorization header or no authentication at all do not change the
/// answer.
#[test]
fn a_malformed_target_is_refused_before_other_checks() {
    let mut verifier = Verifier::new(None, "s3");
    let mut unknown = headers();
    unknown.push((
        "authorization".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential=NOPE/{}/us-east-1/s3/aws4_request, SignedHeaders={SIGNED}, Signature={}",
            &format_amz_date(TIME)[..8],
            "0".repeat(64)
        )
        .into_bytes(),
    ));
    let mut broken = headers();
    broken.push(("authorization".to_owned(), b"AWS4-HMAC-SHA256 x".to_vec()));
    let anonymous = headers();
    for headers in [&unknown, &broken, &anonymous] {
        let req = SignedRequest {
            method: "GET",
            path: "/b/%zz",
            query: "",
            headers: &headers[..],
        };
        assert_eq!(
            verifier.verify(&req, &Keys, TIME).unwrap_err(),
            Error::InvalidURI
        );
        let req = SignedRequest {
            path: "/b/k",
            ..req
        };
        assert_ne!(
            verifier.verify(&req, &Keys, TIME).unwrap_err(),
            Error::InvalidURI
        );
    }
    let presigned = SignedRequest {
        method: "GET",
        path: "/b/k",
        query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%2",
        headers: &anonymous[..],
    };
    assert_eq!(
        verifier.verify(&presigned, &Keys, TIME).unwrap_err(),
        Error::InvalidURI
    );
}

fn target_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "%",
            "%2",
            "%2F",
            "%25",
            "%zz",
            "%C3%BC",
            "%C3",
            "%FF",
            "%e2%82%ac",
            "+",
            "=",
            "&",
            "/",
            "a",
            "Z",
            "~",
            "ü",
            " ",
            "$",
        ]),
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the target, what a client signs verifies exactly when
    /// routing can decode the target, and is refused as InvalidURI when not.
    #[test]
    fn verification_agrees_with_routing(path in target_text(), query in target_text()) {
        let path = format!("/{path}");
        let expected = if routes(&path, &query) { Ok(()) } else { Err(Error::InvalidURI) };
        prop_assert_eq!(sign_and_verify(&path, &query), expected.clone());
        prop_assert_eq!(presign_and_verify(&path, &query), expected);
    }
}
