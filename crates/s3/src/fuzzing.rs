//! Harness shared by the fuzz target and the corpus replay test. Not API.

use sluice_http::Method;

/// Runs the request-document parser (CompleteMultipartUpload, Delete,
/// CORS, Tagging) and the router on arbitrary bytes. Checks that escaping
/// and parsing round-trip and that routing either fails with a 4xx/5xx
/// code or names a bucket that is not empty.
pub fn request_bytes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // The request-document parser never panics, and what the listing
    // writer escapes reads back as it was (the controls XML 1.0 cannot
    // carry aside).
    if let Ok(doc) = crate::document::Element::parse(data) {
        for tag in [
            "Part",
            "Object",
            "CORSRule",
            "Tag",
            "Key",
            "ETag",
            "PartNumber",
        ] {
            for element in doc.all(tag) {
                let plain = element.text();
                let mut escaped = String::from("<a>");
                crate::xml::escape_into(&mut escaped, plain);
                escaped.push_str("</a>");
                let visible = |s: &str| -> String {
                    s.chars()
                        .filter(|c| (*c as u32) >= 0x20 || matches!(c, '\t' | '\n'))
                        .collect()
                };
                if let Ok(back) = crate::document::Element::parse(escaped.as_bytes()) {
                    assert_eq!(visible(back.text()), visible(plain));
                }
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
