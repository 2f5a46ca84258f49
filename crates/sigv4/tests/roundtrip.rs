//! Property tests: whatever our signer signs, the verifier accepts; any
//! change to a signed part makes it refuse.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sluice_http::fuzzing::decode_in_pieces;
use sluice_http::{ChunkedDecoder, Limits};
use sluice_sigv4::{
    format_amz_date, presign, sign_headers, uri_encode, Credentials, Error, PresignRequest, Result,
    SecretLookup, SignedRequest, Verifier,
};

struct Keys(String);

impl SecretLookup for Keys {
    fn secret_key(&self, access_key: &str, _token: Option<&str>) -> Result<String> {
        if access_key == "AK" {
            Ok(self.0.clone())
        } else {
            Err(Error::InvalidAccessKeyId)
        }
    }
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[^/\u{0}]{0,12}", 1..4).prop_map(|segments| {
        let encoded: Vec<String> = segments.iter().map(|s| uri_encode(s, false)).collect();
        format!("/{}", encoded.join("/"))
    })
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec(("[a-zA-Z0-9._~-]{1,8}", "[^\u{0}]{0,10}"), 0..5).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(n, v)| format!("{n}={}", uri_encode(v, false)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn header_signatures_round_trip(
        method in prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD"]),
        path in path(),
        query in query(),
        meta in "[!-~]([ !-~]{0,20}[!-~])?",
        secret in "[A-Za-z0-9/+]{20,40}",
        time in 1_000_000_000i64..4_000_000_000,
        flip in any::<prop::sample::Index>(),
    ) {
        let date = format_amz_date(time);
        let mut headers = vec![
            ("Host".to_owned(), b"127.0.0.1:9000".to_vec()),
            ("x-amz-content-sha256".to_owned(), b"UNSIGNED-PAYLOAD".to_vec()),
            ("x-amz-date".to_owned(), date.into_bytes()),
            ("X-Amz-Meta-Note".to_owned(), meta.clone().into_bytes()),
        ];
        let signed = "host;x-amz-content-sha256;x-amz-date;x-amz-meta-note";
        let req = SignedRequest { method, path: &path, query: &query, headers: &headers[..] };
        let sig = sign_headers(&req, signed, "UNSIGNED-PAYLOAD", &Credentials::new("AK", &secret), "us-east-1", time);
        headers.push(("Authorization".to_owned(), sig.authorization.into_bytes()));
        let keys = Keys(secret.clone());
        let mut verifier = Verifier::new(None, "s3");
        let req = SignedRequest { method, path: &path, query: &query, headers: &headers[..] };
        prop_assert!(verifier.verify(&req, &keys, time + 60).is_ok());

        // Extra spaces inside a value do not change the canonical form.
        let mut spaced = headers.clone();
        spaced[3].1 = format!("  {}  ", meta.replace(' ', "   ")).into_bytes();
        let req = SignedRequest { method, path: &path, query: &query, headers: &spaced[..] };
        prop_assert!(verifier.verify(&req, &keys, time).is_ok());

        // Any other change to a signed value does.
        let mut changed = headers.clone();
        let i = flip.index(meta.len());
        let mut value = meta.clone().into_bytes();
        value[i] = if value[i] == b'x' { b'y' } else { b'x' };
        changed[3].1 = value;
        let req = SignedRequest { method, path: &path, query: &query, headers: &changed[..] };
        prop_assert_eq!(verifier.verify(&req, &keys, time).unwrap_err(), Error::SignatureDoesNotMatch);

        // A wrong secret, a different path, a different query.
        let req = SignedRequest { method, path: &path, query: &query, headers: &headers[..] };
        prop_assert_eq!(verifier.verify(&req, &Keys(format!("{secret}x")), time).unwrap_err(), Error::SignatureDoesNotMatch);
        let other_path = format!("{path}x");
        let req = SignedRequest { method, path: &other_path, query: &query, headers: &headers[..] };
        prop_assert_eq!(verifier.verify(&req, &keys, time).unwrap_err(), Error::SignatureDoesNotMatch);
        let other_query = format!("{query}&zz=1");
        let req = SignedRequest { method, path: &path, query: &other_query, headers: &headers[..] };
        prop_assert_eq!(verifier.verify(&req, &keys, time).unwrap_err(), Error::SignatureDoesNotMatch);
    }

    #[test]
    fn presigned_urls_round_trip(
        path in path(),
        query in query(),
        expires in 1u32..=604_800,
        time in 1_000_000_000i64..4_000_000_000,
    ) {
        let creds = Credentials::new("AK", "secret");
        let full = presign(
            &PresignRequest { method: "GET", host: "h:9000", raw_path: &path, raw_query: &query, region: "r1", time, expires },
            &creds,
        );
        let headers = [("host", &b"h:9000"[..])];
        let req = SignedRequest { method: "GET", path: &path, query: &full, headers: &headers[..] };
        let keys = Keys("secret".into());
        let mut verifier = Verifier::new(Some("r1"), "s3");
        prop_assert!(verifier.verify(&req, &keys, time + i64::from(expires)).unwrap().presigned);
        prop_assert_eq!(
            verifier.verify(&req, &keys, time + i64::from(expires) + 1).unwrap_err(),
            Error::AccessDenied("Request has expired")
        );
        let put = SignedRequest { method: "PUT", ..req };
        prop_assert_eq!(verifier.verify(&put, &keys, time).unwrap_err(), Error::SignatureDoesNotMatch);
        let mut other_region = Verifier::new(Some("r2"), "s3");
        prop_assert_eq!(other_region.verify(&req, &keys, time).unwrap_err().code(), "AuthorizationQueryParametersError");
    }

    #[test]
    fn chunk_chains_round_trip(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..5000), 0..6),
        tamper in any::<prop::sample::Index>(),
    ) {
        let time = 1_700_000_000;
        let decoded: usize = chunks.iter().map(Vec::len).sum();
        let mut headers = vec![
            ("host".to_owned(), b"h".to_vec()),
            ("x-amz-content-sha256".to_owned(), b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_vec()),
            ("x-amz-date".to_owned(), format_amz_date(time).into_bytes()),
            ("x-amz-decoded-content-length".to_owned(), decoded.to_string().into_bytes()),
        ];
        let signed = "host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length";
        let req = SignedRequest { method: "PUT", path: "/b/k", query: "", headers: &headers[..] };
        let sig = sign_headers(&req, signed, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", &Credentials::new("AK", "s"), "us-east-1", time);
        let mut signer = sig.chunk_signer();
        let mut body = Vec::new();
        for data in chunks.iter().map(Vec::as_slice).chain(std::iter::once(&[][..])) {
            let s = signer.sign_chunk(data);
            body.extend_from_slice(format!("{:x};chunk-signature={}\r\n", data.len(), String::from_utf8_lossy(&s)).as_bytes());
            if !data.is_empty() {
                body.extend_from_slice(data);
                body.extend_from_slice(b"\r\n");
            }
        }
        body.extend_from_slice(b"\r\n");
        headers.push(("authorization".to_owned(), sig.authorization.into_bytes()));
        let req = SignedRequest { method: "PUT", path: "/b/k", query: "", headers: &headers[..] };
        let verified = Verifier::new(None, "s3").verify(&req, &Keys("s".into()), time).unwrap();

        let check = |body: &[u8]| -> Result<()> {
            let decoded = decode_in_pieces(ChunkedDecoder::aws(decoded as u64, &Limits::default()), body, &[]).unwrap();
            let mut v = verified.chunk_verifier().unwrap();
            let mut offset = 0;
            for (size, signature) in &decoded.chunks {
                v.chunk_start(*size, signature.as_deref())?;
                v.update(&decoded.data[offset..offset + *size as usize]);
                offset += *size as usize;
                v.chunk_end()?;
            }
            v.finish()
        };
        prop_assert_eq!(check(&body), Ok(()));
        if decoded > 0 {
            // Flip a payload byte: find it by skipping the first size line.
            let first_line = body.iter().position(|&b| b == b'\n').unwrap() + 1;
            let mut bad = body.clone();
            let at = first_line + tamper.index(chunks[0].len());
            bad[at] ^= 1;
            prop_assert_eq!(check(&bad), Err(Error::SignatureDoesNotMatch));
        }
    }
}

/// A presigned PUT (only `host` signed) for the tests below.
fn presigned_put(time: i64) -> (String, String) {
    let path = "/bkt/obj".to_owned();
    let query = presign(
        &PresignRequest {
            method: "PUT",
            host: "h:9000",
            raw_path: &path,
            raw_query: "",
            region: "us-east-1",
            time,
            expires: 600,
        },
        &Credentials::new("AK", "secret"),
    );
    (path, query)
}

/// Regression (issue 10): a header added to a presigned PUT changed what it
/// did (`x-amz-copy-source` made it a CopyObject, `x-amz-meta-*` and
/// `x-amz-tagging` were stored). S3 refuses any unsigned `x-amz-*` header
/// with AccessDenied and a HeadersNotSigned element.
#[test]
fn unsigned_amz_headers_on_a_presigned_url_are_refused() {
    let time = 1_800_000_000;
    let (path, query) = presigned_put(time);
    let keys = Keys("secret".into());
    let mut verifier = Verifier::new(None, "s3");
    let plain = [("Host", &b"h:9000"[..]), ("Content-Length", b"3")];
    let req = SignedRequest {
        method: "PUT",
        path: &path,
        query: &query,
        headers: &plain[..],
    };
    assert!(verifier.verify(&req, &keys, time).is_ok());
    for (name, value) in [
        ("x-amz-copy-source", &b"other/key"[..]),
        ("X-Amz-Meta-Evil", b"1"),
        ("x-amz-tagging", b"a=b"),
        ("x-amz-server-side-encryption", b"AES256"),
    ] {
        let headers = [("Host", &b"h:9000"[..]), (name, value)];
        let req = SignedRequest {
            method: "PUT",
            path: &path,
            query: &query,
            headers: &headers[..],
        };
        let err = verifier.verify(&req, &keys, time).unwrap_err();
        assert_eq!(
            err,
            Error::HeadersNotSigned(name.to_ascii_lowercase()),
            "{name}"
        );
        assert_eq!((err.code(), err.status()), ("AccessDenied", 403));
    }
    // The envelope headers read after verification may travel unsigned.
    let headers = [
        ("Host", &b"h:9000"[..]),
        ("x-amz-decoded-content-length", b"3"),
        ("x-amz-trailer", b"x-amz-checksum-crc32"),
        ("x-amz-content-sha256", b"UNSIGNED-PAYLOAD"),
    ];
    let req = SignedRequest {
        method: "PUT",
        path: &path,
        query: &query,
        headers: &headers[..],
    };
    assert!(verifier.verify(&req, &keys, time).is_ok());
}

/// Regression (issue 10): an unsigned `x-amz-content-sha256` on a presigned
/// URL must not switch its body into a streaming mode (the HTTP layer
/// decodes aws-chunked by that header): it must equal the signed hash.
#[test]
fn a_presigned_url_keeps_the_payload_mode_it_was_signed_with() {
    let time = 1_800_000_000;
    let (path, query) = presigned_put(time);
    let keys = Keys("secret".into());
    let mut verifier = Verifier::new(None, "s3");
    for mode in [
        &b"STREAMING-UNSIGNED-PAYLOAD-TRAILER"[..],
        b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        sluice_sigv4::EMPTY_SHA256.as_bytes(),
    ] {
        let headers = [("Host", &b"h:9000"[..]), ("x-amz-content-sha256", mode)];
        let req = SignedRequest {
            method: "PUT",
            path: &path,
            query: &query,
            headers: &headers[..],
        };
        assert_eq!(
            verifier.verify(&req, &keys, time).unwrap_err(),
            Error::HeadersNotSigned("x-amz-content-sha256".into())
        );
    }
}

/// Regression (issue 10): with header authentication too, an `x-amz-*`
/// header added after signing is refused rather than ignored.
#[test]
fn unsigned_amz_headers_with_header_auth_are_refused() {
    let time = 1_800_000_000;
    let date = format_amz_date(time);
    let mut headers = vec![
        ("Host".to_owned(), b"h".to_vec()),
        (
            "x-amz-content-sha256".to_owned(),
            b"UNSIGNED-PAYLOAD".to_vec(),
        ),
        ("x-amz-date".to_owned(), date.into_bytes()),
    ];
    let req = SignedRequest {
        method: "PUT",
        path: "/b/k",
        query: "",
        headers: &headers[..],
    };
    let sig = sign_headers(
        &req,
        "host;x-amz-content-sha256;x-amz-date",
        "UNSIGNED-PAYLOAD",
        &Credentials::new("AK", "secret"),
        "us-east-1",
        time,
    );
    headers.push(("Authorization".to_owned(), sig.authorization.into_bytes()));
    let keys = Keys("secret".into());
    let mut verifier = Verifier::new(None, "s3");
    let req = SignedRequest {
        method: "PUT",
        path: "/b/k",
        query: "",
        headers: &headers[..],
    };
    assert!(verifier.verify(&req, &keys, time).is_ok());
    headers.push(("x-amz-meta-added".to_owned(), b"1".to_vec()));
    headers.push(("X-Amz-Tagging".to_owned(), b"a=b".to_vec()));
    let req = SignedRequest {
        method: "PUT",
        path: "/b/k",
        query: "",
        headers: &headers[..],
    };
    assert_eq!(
        verifier.verify(&req, &keys, time).unwrap_err(),
        Error::HeadersNotSigned("x-amz-meta-added,x-amz-tagging".into())
    );
}
