//! SigV2 (issue 13): the worked examples of "Signing and authenticating
//! REST requests" (S3 API Reference, AWS signature version 2), reproduced
//! exactly with its example key, then expiry, clock skew, tampering,
//! sub-resources and session tokens. botocore's own SigV2 requests are
//! verified in botocore.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;

use sluice_sigv4::{
    base64_encode, is_sigv2, Error, PayloadMode, Result, SecretLookup, SignatureVersion,
    SignedRequest, Verified, Verifier,
};

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// The documentation's key; records the session token it is asked about.
#[derive(Default)]
struct DocKey {
    token: RefCell<Option<String>>,
}

impl SecretLookup for DocKey {
    fn secret_key(&self, access_key: &str, token: Option<&str>) -> Result<String> {
        *self.token.borrow_mut() = token.map(str::to_owned);
        match (access_key, token) {
            (AK, None | Some("session-token")) => Ok(SECRET.to_owned()),
            (AK, Some(_)) => Err(Error::InvalidToken),
            _ => Err(Error::InvalidAccessKeyId),
        }
    }
}

fn verify(
    method: &str,
    target: &str,
    host_bucket: Option<&str>,
    headers: &[(&str, &str)],
    now: i64,
) -> Result<Verified> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let req = SignedRequest {
        method,
        path,
        query,
        headers,
    };
    Verifier::new(None, "s3").verify_with_host_bucket(&req, host_bucket, &DocKey::default(), now)
}

fn sign(string_to_sign: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, SECRET.as_bytes());
    base64_encode(ring::hmac::sign(&key, string_to_sign.as_bytes()).as_ref())
}

fn auth(sig: &str) -> String {
    format!("AWS {AK}:{sig}")
}

/// One documented example: method, target, the bucket its Host names
/// (virtual-hosted), headers, the request time, and its signature.
struct Example {
    method: &'static str,
    target: &'static str,
    host_bucket: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
    time: i64,
    signature: &'static str,
}

const EXAMPLES: &[Example] = &[
    // Object GET.
    Example {
        method: "GET",
        target: "/photos/puppy.jpg",
        host_bucket: Some("awsexamplebucket1"),
        headers: &[
            ("Host", "awsexamplebucket1.us-west-1.s3.amazonaws.com"),
            ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ],
        time: 1_175_024_202,
        signature: "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
    },
    // Object PUT.
    Example {
        method: "PUT",
        target: "/photos/puppy.jpg",
        host_bucket: Some("awsexamplebucket1"),
        headers: &[
            ("Content-Type", "image/jpeg"),
            ("Content-Length", "94328"),
            ("Host", "awsexamplebucket1.s3.us-west-1.amazonaws.com"),
            ("Date", "Tue, 27 Mar 2007 21:15:45 +0000"),
        ],
        time: 1_175_030_145,
        signature: "iqRzw+ileNPu1fhspnRs8nOjjIA=",
    },
    // List: prefix, max-keys and marker are not sub-resources.
    Example {
        method: "GET",
        target: "/?prefix=photos&max-keys=50&marker=puppy",
        host_bucket: Some("awsexamplebucket1"),
        headers: &[
            ("User-Agent", "Mozilla/5.0"),
            ("Host", "awsexamplebucket1.s3.us-west-1.amazonaws.com"),
            ("Date", "Tue, 27 Mar 2007 19:42:41 +0000"),
        ],
        time: 1_175_024_561,
        signature: "m0WP8eCtspQl5Ahe6L1SozdX9YA=",
    },
    // Fetch: the acl sub-resource.
    Example {
        method: "GET",
        target: "/?acl",
        host_bucket: Some("awsexamplebucket1"),
        headers: &[
            ("Host", "awsexamplebucket1.s3.us-west-1.amazonaws.com"),
            ("Date", "Tue, 27 Mar 2007 19:44:46 +0000"),
        ],
        time: 1_175_024_686,
        signature: "82ZHiFIjc+WbcwFKGUVEQspPn+0=",
    },
    // Delete, path-style, x-amz-date taking precedence over Date (the
    // example signs its value in the Date position).
    Example {
        method: "DELETE",
        target: "/awsexamplebucket1/photos/puppy.jpg",
        host_bucket: None,
        headers: &[
            ("User-Agent", "dotnet"),
            ("Host", "s3.us-west-1.amazonaws.com"),
            ("Date", "Tue, 27 Mar 2007 21:20:27 +0000"),
            ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
        ],
        time: 1_175_030_426,
        signature: "XbyTlbQdu9Xw5o8P4iMwPktxQd8=",
    },
    // Upload: a CNAME bucket, Content-MD5, x-amz-* names in mixed case,
    // a repeated header joined with commas.
    Example {
        method: "PUT",
        target: "/db-backup.dat.gz",
        host_bucket: Some("static.awsexamplebucket1.net"),
        headers: &[
            ("User-Agent", "curl/7.15.5"),
            ("Host", "static.awsexamplebucket1.net:8080"),
            ("Date", "Tue, 27 Mar 2007 21:06:08 +0000"),
            ("x-amz-acl", "public-read"),
            ("content-type", "application/x-download"),
            ("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="),
            ("X-Amz-Meta-ReviewedBy", "joe@awsexamplebucket1.net"),
            ("X-Amz-Meta-ReviewedBy", "jane@awsexamplebucket1.net"),
            ("X-Amz-Meta-FileChecksum", "0x02661779"),
            ("X-Amz-Meta-ChecksumAlgorithm", "crc32"),
            ("Content-Disposition", "attachment; filename=database.dat"),
            ("Content-Encoding", "gzip"),
            ("Content-Length", "5913339"),
        ],
        time: 1_175_029_568,
        signature: "dKZcB+bz2EPXgSdXZp9ozGeOM4I=",
    },
    // List all my buckets.
    Example {
        method: "GET",
        target: "/",
        host_bucket: None,
        headers: &[
            ("Host", "s3.us-west-1.amazonaws.com"),
            ("Date", "Wed, 28 Mar 2007 01:29:59 +0000"),
        ],
        time: 1_175_045_399,
        signature: "qGdzdERIC03wnaRNKh6OqZehG9s=",
    },
    // Unicode keys: the path is signed as sent, escapes' case included.
    Example {
        method: "GET",
        target: "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
        host_bucket: None,
        headers: &[
            ("Host", "s3.us-west-1.amazonaws.com"),
            ("Date", "Wed, 28 Mar 2007 01:49:49 +0000"),
        ],
        time: 1_175_046_589,
        signature: "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
    },
];

fn with_auth(e: &Example, sig: &str) -> Vec<(&'static str, String)> {
    let mut h: Vec<(&str, String)> = e
        .headers
        .iter()
        .map(|(n, v)| (*n, (*v).to_owned()))
        .collect();
    h.push(("Authorization", auth(sig)));
    h
}

fn verify_example(e: &Example, sig: &str, now: i64) -> Result<Verified> {
    let h = with_auth(e, sig);
    let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
    verify(e.method, e.target, e.host_bucket, &h, now)
}

#[test]
fn sigv2_documentation_examples_verify() {
    for e in EXAMPLES {
        let v = verify_example(e, e.signature, e.time + 60)
            .unwrap_or_else(|err| panic!("{} {}: {err:?}", e.method, e.target));
        assert_eq!(v.access_key, AK);
        assert_eq!(v.version, SignatureVersion::V2);
        assert_eq!(
            v.payload,
            PayloadMode::Unsigned,
            "no payload hash is signed"
        );
        assert!(v.payload_hash().is_none() && v.chunk_verifier().is_none());
        assert!(!v.presigned);
        assert_eq!(v.time, e.time);
    }
}

#[test]
fn sigv2_documentation_examples_refuse_changes() {
    for e in EXAMPLES {
        let mut other = e.signature.as_bytes().to_vec();
        other[0] = if other[0] == b'A' { b'B' } else { b'A' };
        let other = String::from_utf8(other).unwrap();
        assert_eq!(
            verify_example(e, &other, e.time).unwrap_err(),
            Error::SignatureDoesNotMatch,
            "{}",
            e.target
        );
        let method = if e.method == "GET" { "HEAD" } else { "GET" };
        let h = with_auth(e, e.signature);
        let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(
            verify(method, e.target, e.host_bucket, &h, e.time).unwrap_err(),
            Error::SignatureDoesNotMatch
        );
        // Addressed otherwise: the bucket is part of what was signed.
        let host_bucket = match e.host_bucket {
            Some(_) => None,
            None => Some("awsexamplebucket1"),
        };
        assert_eq!(
            verify(e.method, e.target, host_bucket, &h, e.time).unwrap_err(),
            Error::SignatureDoesNotMatch
        );
    }
}

#[test]
fn sigv2_header_clock_skew_is_fifteen_minutes() {
    let e = &EXAMPLES[0];
    assert!(verify_example(e, e.signature, e.time + 15 * 60).is_ok());
    assert!(verify_example(e, e.signature, e.time - 15 * 60).is_ok());
    for now in [e.time + 15 * 60 + 1, e.time - 15 * 60 - 1] {
        assert_eq!(
            verify_example(e, e.signature, now).unwrap_err(),
            Error::RequestTimeTooSkewed
        );
    }
    // Without Date or x-amz-date.
    let h = [
        ("Host", "x"),
        ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:abc="),
    ];
    assert_eq!(
        verify("GET", "/b/k", None, &h, e.time).unwrap_err().code(),
        "AccessDenied"
    );
}

#[test]
fn sigv2_x_amz_date_as_the_rule_text_signs_it() {
    // "If you include the x-amz-date header, use the empty string for the
    // Date when constructing the StringToSign": x-amz-date is then one of
    // the CanonicalizedAmzHeaders. The skew is that of x-amz-date.
    let sts = "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg";
    let sig = sign(sts);
    let h = [
        ("Date", "Tue, 01 Jan 2030 00:00:00 +0000"),
        ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
        ("Authorization", &auth(&sig)),
    ];
    let v = verify(
        "DELETE",
        "/awsexamplebucket1/photos/puppy.jpg",
        None,
        &h,
        1_175_030_426,
    )
    .unwrap();
    assert_eq!(v.time, 1_175_030_426);
    let skewed = verify(
        "DELETE",
        "/awsexamplebucket1/photos/puppy.jpg",
        None,
        &h,
        1_175_030_426 + 3600,
    );
    assert_eq!(skewed.unwrap_err(), Error::RequestTimeTooSkewed);
}

/// The query-string example ("Query string request authentication
/// alternative"): its signature is computed over bucket `johnsmith`.
const QUERY: &str = "/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620";
const QUERY_EXPIRES: i64 = 1_175_139_620;

#[test]
fn sigv2_documentation_query_example() {
    let h = [("Host", "johnsmith.s3.amazonaws.com")];
    let v = verify("GET", QUERY, Some("johnsmith"), &h, QUERY_EXPIRES - 3600).unwrap();
    assert!(v.presigned);
    assert_eq!(v.version, SignatureVersion::V2);
    assert_eq!(v.payload, PayloadMode::Unsigned);
    assert!(verify("GET", QUERY, Some("johnsmith"), &h, QUERY_EXPIRES).is_ok());
    // Expired: AccessDenied, as S3 answers.
    assert_eq!(
        verify("GET", QUERY, Some("johnsmith"), &h, QUERY_EXPIRES + 1).unwrap_err(),
        Error::AccessDenied("Request has expired")
    );
    // A later Expires, another signature, another key: refused.
    let tampered = [
        QUERY.replace("Expires=1175139620", "Expires=1175139621"),
        QUERY.replace("NpgC", "NpgD"),
        QUERY.replace("%2B", "%2F"),
        QUERY.replace("puppy", "kitty"),
        format!("{QUERY}&acl"),
    ];
    for q in &tampered {
        assert_eq!(
            verify("GET", q, Some("johnsmith"), &h, QUERY_EXPIRES - 10).unwrap_err(),
            Error::SignatureDoesNotMatch,
            "{q}"
        );
    }
    // Parameters S3 does not sign are ignored.
    let extra = format!("{QUERY}&x-id=GetObject");
    assert!(verify("GET", &extra, Some("johnsmith"), &h, QUERY_EXPIRES - 10).is_ok());
    let other_key = QUERY.replace("AKIAIOSFODNN7EXAMPLE", "AKIDOTHER");
    assert_eq!(
        verify("GET", &other_key, Some("johnsmith"), &h, QUERY_EXPIRES - 10).unwrap_err(),
        Error::InvalidAccessKeyId
    );
    for missing in [
        "&Expires=1175139620",
        "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&",
    ] {
        let q = QUERY.replace(missing, "");
        let h = [("Host", "johnsmith.s3.amazonaws.com")];
        let e = verify("GET", &q, Some("johnsmith"), &h, QUERY_EXPIRES - 10);
        if missing.starts_with('&') {
            assert_eq!(e.unwrap_err().code(), "AccessDenied", "{q}");
        } else {
            // Without AWSAccessKeyId the request is anonymous.
            assert_eq!(e.unwrap_err(), Error::AccessDenied("Access Denied"));
        }
    }
    let both = format!("{QUERY}&X-Amz-Signature=00");
    assert_eq!(
        verify("GET", &both, Some("johnsmith"), &h, QUERY_EXPIRES - 10)
            .unwrap_err()
            .code(),
        "InvalidArgument"
    );
}

#[test]
fn sigv2_sub_resources_sorted_decoded_and_others_ignored() {
    // Sub-resources sorted by name, response-* values decoded (botocore's
    // canonical_resource unquotes them; the S3 documentation: "you do not
    // encode these values"), a valueless one without `=`, the rest left out.
    let target = "/b/k?versionId=null&response-content-disposition=attachment%3B%20filename%3D%22a%20b%2Bc.txt%22&x-id=GetObject&uploads&prefix=p";
    let sts = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/b/k?response-content-disposition=attachment; filename=\"a b+c.txt\"&uploads&versionId=null";
    let sig = sign(sts);
    let h = [
        ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ("Authorization", &auth(&sig)),
    ];
    verify("GET", target, None, &h, 1_175_024_202).unwrap();
    // A bucket alone is signed `/bucket/`, as botocore signs it.
    let sts = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/b/?acl";
    let h = [
        ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ("Authorization", &auth(&sign(sts))),
    ];
    verify("GET", "/b?acl", None, &h, 1_175_024_202).unwrap();
    verify("GET", "/b/?acl", None, &h, 1_175_024_202).unwrap();
    verify("GET", "/?acl", Some("b"), &h, 1_175_024_202).unwrap();
    verify("GET", "?acl", Some("b"), &h, 1_175_024_202).unwrap();
}

#[test]
fn sigv2_every_amz_header_is_signed() {
    // Under SigV2 no x-amz-* header can travel unsigned: adding one (or a
    // value to one) changes the string to sign.
    let sts = "PUT\n\n\nTue, 27 Mar 2007 19:36:42 +0000\nx-amz-meta-a:1\n/b/k";
    let sig = auth(&sign(sts));
    let date = ("Date", "Tue, 27 Mar 2007 19:36:42 +0000");
    let ok = [date, ("x-amz-meta-a", " 1 "), ("Authorization", &sig)];
    verify("PUT", "/b/k", None, &ok, 1_175_024_202).unwrap();
    let added = [
        date,
        ("x-amz-meta-a", "1"),
        ("x-amz-copy-source", "/b/secret"),
        ("Authorization", &sig),
    ];
    let repeated = [
        date,
        ("x-amz-meta-a", "1"),
        ("X-Amz-Meta-A", "2"),
        ("Authorization", &sig),
    ];
    for h in [&added[..], &repeated[..]] {
        assert_eq!(
            verify("PUT", "/b/k", None, h, 1_175_024_202).unwrap_err(),
            Error::SignatureDoesNotMatch
        );
    }
}

#[test]
fn sigv2_session_token_goes_through_the_lookup() {
    let sts = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\nx-amz-security-token:session-token\n/b/k";
    let h = [
        ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ("x-amz-security-token", "session-token"),
        ("Authorization", &auth(&sign(sts))),
    ];
    let req = SignedRequest {
        method: "GET",
        path: "/b/k",
        query: "",
        headers: &h[..],
    };
    let keys = DocKey::default();
    let v = Verifier::new(None, "s3")
        .verify(&req, &keys, 1_175_024_202)
        .unwrap();
    assert_eq!(v.session_token.as_deref(), Some("session-token"));
    assert_eq!(keys.token.borrow().as_deref(), Some("session-token"));
    // botocore's HmacV1QueryAuth moves the token into the query.
    let sts = "GET\n\n\n1175139620\nx-amz-security-token:session-token\n/b/k";
    let q = format!(
        "AWSAccessKeyId={AK}&Signature={}&Expires=1175139620&x-amz-security-token=session-token",
        sluice_sigv4::uri_encode(&sign(sts), false)
    );
    let req = SignedRequest {
        method: "GET",
        path: "/b/k",
        query: &q,
        headers: &[("Host", "x")][..],
    };
    let v = Verifier::new(None, "s3")
        .verify(&req, &keys, 1_175_139_000)
        .unwrap();
    assert_eq!(v.session_token.as_deref(), Some("session-token"));
    let bad = q.replace("=session-token", "=other-token");
    let req = SignedRequest {
        method: "GET",
        path: "/b/k",
        query: &bad,
        headers: &[("Host", "x")][..],
    };
    assert_eq!(
        Verifier::new(None, "s3")
            .verify(&req, &keys, 1_175_139_000)
            .unwrap_err(),
        Error::InvalidToken
    );
}

#[test]
fn sigv2_is_recognised_and_malformed_headers_refused() {
    let sig = [(
        "Authorization",
        "AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
    )];
    let v4 = [("Authorization", "AWS4-HMAC-SHA256 Credential=a")];
    let none: [(&str, &str); 0] = [];
    let req = |q, h| SignedRequest {
        method: "GET",
        path: "/",
        query: q,
        headers: h,
    };
    assert!(is_sigv2(&req("", &sig[..])));
    assert!(!is_sigv2(&req("", &v4[..])));
    assert!(is_sigv2(&req(
        "AWSAccessKeyId=a&Expires=1&Signature=x",
        &none[..]
    )));
    assert!(!is_sigv2(&req(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        &none[..]
    )));
    assert!(!is_sigv2(&req("prefix=AWSAccessKeyId", &none[..])));
    for value in [
        "AWS ",
        "AWS AKIAIOSFODNN7EXAMPLE",
        "AWS :sig",
        "AWS AKIAIOSFODNN7EXAMPLE:",
    ] {
        let h = [
            ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
            ("Authorization", value),
        ];
        assert_eq!(
            verify("GET", "/b/k", None, &h, 1_175_024_202)
                .unwrap_err()
                .code(),
            "InvalidArgument",
            "{value}"
        );
    }
    let h = [
        ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:not base64!"),
    ];
    assert_eq!(
        verify("GET", "/b/k", None, &h, 1_175_024_202).unwrap_err(),
        Error::SignatureDoesNotMatch
    );
}

proptest::proptest! {
    /// Whatever SigV2 header, date and query a client sends, the verifier
    /// answers an error or a verification, at any clock, without panicking;
    /// and never verifies a signature it did not compute.
    #[test]
    fn sigv2_verifier_is_total(
        header in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        date in "[ -~]{0,40}",
        query in "(AWSAccessKeyId=[A-Z]{0,4}|Signature=[A-Za-z0-9%+/=]{0,30}|Expires=[0-9]{0,20}|acl|uploads|x-amz-[a-z]{0,3}=[ -~]{0,5}|&){0,8}",
        now in proptest::num::i64::ANY,
    ) {
        let mut value = b"AWS ".to_vec();
        value.extend_from_slice(&header);
        let with_header: [(&str, &[u8]); 3] =
            [("Authorization", &value), ("Date", date.as_bytes()), ("x-amz-date", date.as_bytes())];
        for headers in [&with_header[..], &with_header[1..]] {
            let req = SignedRequest { method: "GET", path: "/b/k", query: &query, headers };
            if let Ok(v) = Verifier::new(None, "s3").verify(&req, &DocKey::default(), now) {
                proptest::prop_assert_eq!(v.version, SignatureVersion::V4);
            }
        }
    }
}
