//! Harness shared by the fuzz target and the corpus replay test. Not API.

/// Parses bytes as an Authorization header and as a presigned query; checks
/// that whatever parses carries a well-formed signature and scope.
pub fn auth_parsers(data: &[u8]) {
    if let Ok(a) = crate::parse_authorization_header(data) {
        assert!(a.signature.iter().all(u8::is_ascii_hexdigit));
        assert!(a.signed_headers.split(';').any(|h| h == "host"));
        assert_eq!(a.scope.date.len(), 8);
    }
    if let Ok(query) = core::str::from_utf8(data) {
        if let Ok(p) = crate::parse_presigned_query(query) {
            assert!(p.expires >= 1 && p.expires <= crate::MAX_PRESIGNED_EXPIRES);
        }
        let mut out = Vec::new();
        crate::canonical::canonical_query(&mut out, query, true);
        crate::canonical::canonical_uri(&mut out, query);
        assert!(out.is_ascii());
    }
    let _ = crate::PayloadMode::parse(data);
    let _ = crate::parse_amz_date(data);
    let _ = crate::parse_http_date(data);
    let _ = crate::base64_decode(data);
}
