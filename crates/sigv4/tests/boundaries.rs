//! Times at the ends of what is accepted: request dates of year 0000 and
//! 9999 (the extremes of a four-digit `x-amz-date`), the longest presigned
//! expiry, and a server clock at the ends of i64. Each is refused with an S3
//! error; none overflows.
#![allow(clippy::unwrap_used)]

use sluice_sigv4::{
    parse_amz_date, presign, sign_headers, Credentials, Error, PresignRequest, Result,
    SecretLookup, SignedRequest, Verifier, MAX_PRESIGNED_EXPIRES,
};

struct Keys;

impl SecretLookup for Keys {
    fn secret_key(&self, _access_key: &str, _token: Option<&str>) -> Result<String> {
        Ok("secret".to_owned())
    }
}

const YEAR_0: &str = "00000101T000000Z";
const END_OF_9999: &str = "99991231T235959Z";
const NOW: i64 = 1_700_000_000;

/// Verifies, at `now`, a header-signed request dated `amz_date`.
fn header_signed(amz_date: &str, now: i64) -> Result<()> {
    let time = parse_amz_date(amz_date.as_bytes()).unwrap();
    let mut headers = vec![
        ("host".to_owned(), b"h".to_vec()),
        (
            "x-amz-content-sha256".to_owned(),
            b"UNSIGNED-PAYLOAD".to_vec(),
        ),
        ("x-amz-date".to_owned(), amz_date.as_bytes().to_vec()),
    ];
    let req = SignedRequest {
        method: "GET",
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
    headers.push(("authorization".to_owned(), sig.authorization.into_bytes()));
    let req = SignedRequest {
        method: "GET",
        path: "/b/k",
        query: "",
        headers: &headers[..],
    };
    Verifier::new(None, "s3")
        .verify(&req, &Keys, now)
        .map(|_| ())
}

/// Verifies, at `now`, a URL presigned at `amz_date` for `expires` seconds.
fn presigned(amz_date: &str, expires: u32, now: i64) -> Result<()> {
    let query = presign(
        &PresignRequest {
            method: "GET",
            host: "h",
            raw_path: "/b/k",
            raw_query: "",
            region: "us-east-1",
            time: parse_amz_date(amz_date.as_bytes()).unwrap(),
            expires,
        },
        &Credentials::new("AK", "secret"),
    );
    let headers = [("host", &b"h"[..])];
    let req = SignedRequest {
        method: "GET",
        path: "/b/k",
        query: &query,
        headers: &headers[..],
    };
    Verifier::new(None, "s3")
        .verify(&req, &Keys, now)
        .map(|_| ())
}

#[test]
fn request_dates_at_the_ends_of_four_digit_years() {
    for date in [YEAR_0, END_OF_9999] {
        assert_eq!(header_signed(date, NOW), Err(Error::RequestTimeTooSkewed));
        let t = parse_amz_date(date.as_bytes()).unwrap();
        assert_eq!(header_signed(date, t), Ok(()));
        assert_eq!(presigned(date, MAX_PRESIGNED_EXPIRES, t), Ok(()));
    }
    assert_eq!(
        presigned(END_OF_9999, MAX_PRESIGNED_EXPIRES, NOW),
        Err(Error::AccessDenied("Request is not valid yet"))
    );
    assert_eq!(
        presigned(YEAR_0, MAX_PRESIGNED_EXPIRES, NOW),
        Err(Error::AccessDenied("Request has expired"))
    );
    let end = parse_amz_date(END_OF_9999.as_bytes()).unwrap();
    let last = end + i64::from(MAX_PRESIGNED_EXPIRES);
    assert_eq!(presigned(END_OF_9999, MAX_PRESIGNED_EXPIRES, last), Ok(()));
    assert_eq!(
        presigned(END_OF_9999, MAX_PRESIGNED_EXPIRES, last + 1),
        Err(Error::AccessDenied("Request has expired"))
    );
}

/// A server clock at the ends of i64 (a caller's `now`, not a client's
/// value). The old checks computed `(now - time).abs()` and
/// `now + MAX_SKEW_SECONDS`, which overflowed (a panic in debug builds).
#[test]
fn a_clock_at_the_ends_of_i64() {
    for date in [YEAR_0, "20231114T221320Z", END_OF_9999] {
        assert_eq!(
            header_signed(date, i64::MIN),
            Err(Error::RequestTimeTooSkewed),
            "{date}"
        );
        assert_eq!(
            header_signed(date, i64::MAX),
            Err(Error::RequestTimeTooSkewed),
            "{date}"
        );
        assert_eq!(
            presigned(date, MAX_PRESIGNED_EXPIRES, i64::MIN),
            Err(Error::AccessDenied("Request is not valid yet")),
            "{date}"
        );
        assert_eq!(
            presigned(date, MAX_PRESIGNED_EXPIRES, i64::MAX),
            Err(Error::AccessDenied("Request has expired")),
            "{date}"
        );
    }
}
