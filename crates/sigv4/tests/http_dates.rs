//! Issue 13: every HTTP-date form parses to the instant it names, nothing
//! else parses, nothing panics, and a request dated by `Date` alone in any
//! form verifies.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sluice_sigv4::{
    parse_http_date, sign_headers, unix_to_civil, Credentials, Error, Result, SecretLookup,
    SignedRequest, Verifier,
};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const FIRST: i64 = -62_167_219_200;
const LAST: i64 = 253_402_300_799;

struct Civil {
    year: i64,
    month: &'static str,
    day: i64,
    hms: String,
    weekday: &'static str,
}

fn civil(t: i64) -> Civil {
    let (year, mo, day, h, mi, s) = unix_to_civil(t);
    let weekday = DAYS[usize::try_from((t.div_euclid(86_400) + 4).rem_euclid(7)).unwrap()];
    Civil {
        year,
        month: MONTHS[usize::try_from(mo - 1).unwrap()],
        day,
        hms: format!("{h:02}:{mi:02}:{s:02}"),
        weekday,
    }
}

/// `t` as IMF-fixdate, or with the numeric zone `east` seconds east of UTC.
fn imf(t: i64, east: Option<i64>) -> String {
    let c = civil(t + east.unwrap_or(0));
    let zone = east.map_or("GMT".to_owned(), |e| {
        let sign = if e < 0 { '-' } else { '+' };
        format!("{sign}{:02}{:02}", e.abs() / 3600, e.abs() % 3600 / 60)
    });
    format!(
        "{}, {:02} {} {:04} {} {zone}",
        &c.weekday[..3],
        c.day,
        c.month,
        c.year,
        c.hms
    )
}

fn rfc850(t: i64) -> String {
    let c = civil(t);
    format!(
        "{}, {:02}-{}-{:02} {} GMT",
        c.weekday,
        c.day,
        c.month,
        c.year % 100,
        c.hms
    )
}

fn asctime(t: i64) -> String {
    let c = civil(t);
    format!(
        "{} {} {:2} {} {:04}",
        &c.weekday[..3],
        c.month,
        c.day,
        c.hms,
        c.year
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn imf_fixdate_and_asctime_name_their_instant(t in FIRST..=LAST, now: i64) {
        prop_assert_eq!(parse_http_date(imf(t, None).as_bytes(), now), Some(t));
        prop_assert_eq!(parse_http_date(asctime(t).as_bytes(), now), Some(t));
    }

    /// Any RFC 5322 offset, -99:59 to +99:59, is applied.
    #[test]
    fn a_numeric_zone_is_applied(t in FIRST + 360_000..=LAST - 360_000, h in 0i64..=99, m in 0i64..=59, west: bool) {
        let east = if west { -(h * 3600 + m * 60) } else { h * 3600 + m * 60 };
        prop_assert_eq!(parse_http_date(imf(t, Some(east)).as_bytes(), 0), Some(t));
    }

    /// An RFC 850 date within 49 years of now names its instant.
    #[test]
    fn rfc850_within_49_years_of_now(now in 0i64..=LAST / 2, back in -49 * 365 * 86_400i64..=49 * 365 * 86_400) {
        let t = now + back;
        prop_assert_eq!(parse_http_date(rfc850(t).as_bytes(), now), Some(t));
    }

    /// A date with one byte changed parses to a date or to nothing, never
    /// a panic; a changed weekday name never parses.
    #[test]
    fn mutated_dates_never_panic(t in FIRST..=LAST, at in 0usize..31, byte: u8, now: i64, form in 0..4u8) {
        let mut date = match form {
            0 => imf(t, None),
            1 => imf(t, Some(-3600)),
            2 => rfc850(t),
            _ => asctime(t),
        }
        .into_bytes();
        let at = at % date.len();
        let was = date[at];
        date[at] = byte;
        let parsed = parse_http_date(&date, now);
        if at < 3 && byte != was {
            prop_assert_eq!(parsed, None);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40), now: i64) {
        sluice_sigv4::fuzzing::auth_parsers(&data);
        let _ = parse_http_date(&data, now);
    }
}

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

/// 2026-11-29T11:45:39Z, the instant of the issue's `Date`.
const TIME: i64 = 1_795_952_739;

/// Signs a GET dated by `date` alone at TIME, as botocore's SigV4Auth does
/// (the `date` header verbatim among the signed headers, the ISO 8601 form
/// of the same instant in the string to sign), and verifies it at `now`.
fn sign_and_verify(date: &str, now: i64) -> Result<()> {
    let mut headers = vec![
        ("date".to_owned(), date.as_bytes().to_vec()),
        ("host".to_owned(), b"127.0.0.1:9000".to_vec()),
        (
            "x-amz-content-sha256".to_owned(),
            b"UNSIGNED-PAYLOAD".to_vec(),
        ),
    ];
    let req = SignedRequest {
        method: "GET",
        path: "/b/k",
        query: "",
        headers: &headers[..],
    };
    let sig = sign_headers(
        &req,
        "date;host;x-amz-content-sha256",
        "UNSIGNED-PAYLOAD",
        &Credentials::new("AK", "secret"),
        "us-east-1",
        TIME,
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

#[test]
fn issue_13_a_request_dated_by_date_alone_verifies_in_every_form() {
    for date in [
        "Sun, 29 Nov 2026 11:45:39 -0000",
        "Sun, 29 Nov 2026 11:45:39 GMT",
        "Sun, 29 Nov 2026 12:45:39 +0100",
        "Sunday, 29-Nov-26 11:45:39 GMT",
        "Sun Nov 29 11:45:39 2026",
    ] {
        assert_eq!(sign_and_verify(date, TIME + 60), Ok(()), "{date}");
    }
    assert_eq!(imf(TIME, Some(0)), "Sun, 29 Nov 2026 11:45:39 +0000");
    assert_eq!(rfc850(TIME), "Sunday, 29-Nov-26 11:45:39 GMT");
    assert_eq!(asctime(TIME), "Sun Nov 29 11:45:39 2026");
}

#[test]
fn issue_13_the_skew_and_scope_come_from_the_applied_offset() {
    // The UTC clock reading labelled +0100 is an hour early: too skewed.
    assert_eq!(
        sign_and_verify("Sun, 29 Nov 2026 11:45:39 +0100", TIME),
        Err(Error::RequestTimeTooSkewed)
    );
    // Local 30 November east of UTC is 29 November in the scope: it verifies.
    let local_next_day = imf(TIME, Some(14 * 3600));
    assert!(
        local_next_day.starts_with("Mon, 30 Nov"),
        "{local_next_day}"
    );
    assert_eq!(sign_and_verify(&local_next_day, TIME), Ok(()));
}

#[test]
fn issue_13_a_date_that_does_not_parse_is_refused() {
    for bad in [
        "Sun, 29 Nov 2026 11:45:39 UTC",
        "Mon, 29 Nov 2026 11:45:39 GMT",
        "Sunday, 29-Nov-26 11:45:39 -0000",
        "yesterday",
    ] {
        assert!(
            matches!(sign_and_verify(bad, TIME), Err(Error::AccessDenied(_))),
            "{bad}"
        );
    }
}
