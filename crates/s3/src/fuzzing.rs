//! Harness shared by the fuzz target and the corpus replay test. Not API.

use sluice_http::Method;

/// Runs the request-document parsers (CompleteMultipartUpload, Delete,
/// CORS, Tagging) and the router on arbitrary bytes. Checks that escaping
/// and unescaping round-trip and that routing either fails with a 4xx/5xx
/// code or names a bucket that is not empty.
pub fn request_bytes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for tag in [
        "Part",
        "Object",
        "CORSRule",
        "Tag",
        "Key",
        "ETag",
        "PartNumber",
    ] {
        for inner in crate::xml::elements(&text, tag) {
            if let Some(plain) = crate::xml::unescape(inner) {
                let mut escaped = String::new();
                crate::xml::escape_into(&mut escaped, &plain);
                let back = crate::xml::unescape(&escaped).unwrap_or_default();
                let visible: String = plain
                    .chars()
                    .filter(|c| (*c as u32) >= 0x20 || matches!(c, '\t' | '\n' | '\r'))
                    .collect();
                assert_eq!(
                    back.chars()
                        .filter(|c| (*c as u32) >= 0x20 || matches!(c, '\t' | '\n' | '\r'))
                        .collect::<String>(),
                    visible
                );
            }
        }
    }
    let _ = crate::ops::cors::parse(&text);
    let (path, query) = text.split_once('?').unwrap_or((&text, ""));
    for method in [
        Method::Get,
        Method::Put,
        Method::Post,
        Method::Delete,
        Method::Head,
        Method::Options,
    ] {
        match crate::route::route(
            method,
            path,
            query,
            Some("b.example.com:9000"),
            Some("example.com"),
        ) {
            Ok(r) => assert!(r.bucket.as_deref() != Some("")),
            Err(e) => assert!(e.status() >= 400),
        }
    }
}
