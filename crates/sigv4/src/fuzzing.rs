//! Harness shared by the fuzz target and the corpus replay test. Not API.

/// Parses bytes as an Authorization header and as a presigned query (SigV4
/// and SigV2); checks that whatever parses carries a well-formed signature
/// and scope.
pub fn auth_parsers(data: &[u8]) {
    crate::sigv2::fuzz_parsers(data);
    if let Ok(a) = crate::parse_authorization_header(data) {
        assert!(a.signature.iter().all(u8::is_ascii_hexdigit));
        assert!(a.signed_headers.split(';').any(|h| h == "host"));
        assert_eq!(a.scope.date.len(), 8);
    }
    if let Ok(query) = core::str::from_utf8(data) {
        if let Ok(p) = crate::parse_presigned_query(query) {
            assert!(p.expires >= 1 && p.expires <= crate::MAX_PRESIGNED_EXPIRES);
        }
        // The canonical forms exist exactly when routing can decode the
        // same text (sluice-http's decoder), and are ASCII.
        let mut out = Vec::new();
        let routed_query = sluice_http::query_pairs(query).all(|(name, value)| {
            sluice_http::percent_decode(name, true).is_ok()
                && sluice_http::percent_decode(value, true).is_ok()
        });
        let canonical_query = crate::canonical::canonical_query(&mut out, query, true);
        assert_eq!(canonical_query.is_ok(), routed_query, "query {query:?}");
        let routed_path = sluice_http::percent_decode(query, false).is_ok();
        let canonical_uri = crate::canonical::canonical_uri(&mut out, query);
        assert_eq!(canonical_uri.is_ok(), routed_path, "path {query:?}");
        assert!(out.is_ascii());
    }
    let _ = crate::PayloadMode::parse(data);
    let _ = crate::parse_amz_date(data);
    // A four-digit year moved by an offset under 100 hours, or a two-digit
    // year placed within about 50 years of `now`; `now` only places an
    // RFC 850 year, so the clock's extremes are tried too.
    const FOUR_DIGIT_YEARS: core::ops::RangeInclusive<i64> = -62_167_579_140..=253_402_660_740;
    const FIFTY_ONE_YEARS: u64 = 51 * 366 * 86_400;
    for now in [0, 1_700_000_000, i64::MIN, i64::MAX] {
        if let Some(t) = crate::parse_http_date(data, now) {
            assert!(
                FOUR_DIGIT_YEARS.contains(&t) || t.abs_diff(now) <= FIFTY_ONE_YEARS,
                "{t} at {now}"
            );
        }
    }
    let _ = crate::base64_decode(data);
    sigv2(data);
}

/// Any secret for any key: the SigV2 verifier must refuse or accept the
/// bytes as header, date and query without panicking, at any clock.
struct AnyKey;

impl crate::SecretLookup for AnyKey {
    fn secret_key(&self, _: &str, _: Option<&str>) -> crate::Result<String> {
        Ok("secret".into())
    }
}

fn sigv2(data: &[u8]) {
    let query = core::str::from_utf8(data).unwrap_or_default();
    let mut header = b"AWS ".to_vec();
    header.extend_from_slice(data);
    let headers = [
        ("authorization", &header[..]),
        ("date", data),
        ("x-amz-date", data),
    ];
    let mut verifier = crate::Verifier::new(None, "s3");
    for now in [0, 1_700_000_000, i64::MIN, i64::MAX] {
        for (h, path) in [(&headers[..], query), (&headers[1..], "/b")] {
            let req = crate::SignedRequest {
                method: "GET",
                path,
                query,
                headers: h,
            };
            let _ = verifier.verify_with_host_bucket(&req, Some("b"), &AnyKey, now);
        }
    }
}

/// Parses bytes as a POST policy (raw JSON, base64-encoded by the harness,
/// and the bytes themselves as the base64 field) and checks a form against
/// what parses: no panic, and what is checked is consistent (a form that
/// passes names only fields some condition covers).
pub fn post_policy(data: &[u8]) {
    let encoded = crate::base64_encode(data);
    for text in [Some(encoded.as_str()), core::str::from_utf8(data).ok()]
        .into_iter()
        .flatten()
    {
        let Ok(policy) = crate::PostPolicy::parse(text) else {
            continue;
        };
        assert!(policy.conditions.len() <= crate::MAX_POST_CONDITIONS);
        if let Some((min, max)) = policy.content_length_range() {
            // Each range has min <= max; an intersection may be empty.
            let _ = (min, max);
        }
        let fields: Vec<(String, String)> = policy
            .conditions
            .iter()
            .filter_map(|c| match c {
                crate::PostCondition::Eq { field, value } => Some((field.clone(), value.clone())),
                crate::PostCondition::StartsWith { field, prefix } => {
                    Some((field.clone(), prefix.clone()))
                }
                crate::PostCondition::ContentLengthRange { .. } => None,
            })
            .collect();
        let _ = policy.check(&fields, "bucket", 0);
        if fields.iter().all(|(name, _)| name != "x-fuzz-extra") {
            let mut extra = fields.clone();
            extra.push(("x-fuzz-extra".into(), String::new()));
            assert!(
                policy.check(&extra, "bucket", 0).is_err(),
                "a field no condition names was allowed"
            );
        }
    }
}
