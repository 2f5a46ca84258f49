//! Harness shared by the fuzz target and the corpus replay test. Not API.

use sluice_http::Method;

/// Runs the request-document parser, the parser of every XML body the
/// server reads ([`bucket_documents`]) and the router on arbitrary bytes. Checks that escaping
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
    bucket_documents(data);
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

/// Every other XML body the server reads, parsed from `data`: bucket
/// encryption, ACLs, ownership controls, CreateBucketConfiguration, public
/// access blocks, Delete, CompleteMultipartUpload's parts, Tagging. Checks
/// that nothing panics and what each gives back holds together.
fn bucket_documents(data: &[u8]) {
    use crate::ops;
    let _ = ops::encryption::parse_configuration(data);
    let _ = ops::acl::owner_only(data);
    let _ = ops::acl::parse_ownership(data);
    let _ = ops::policy::parse_public_access_block(data);
    if let Ok(Some(region)) = ops::bucket::location_constraint(data) {
        assert!(!region.is_empty() && region.trim() == region);
    }
    if let Ok((_, objects)) = ops::object_write::parse_delete(data) {
        assert!(objects.len() <= 1000);
    }
    let Ok(doc) = crate::document::Element::parse(data) else {
        return;
    };
    if let Ok(parts) = ops::multipart::complete_parts(&doc) {
        assert!(!parts.is_empty());
    }
    for max in [ops::tagging::MAX_OBJECT_TAGS, 50] {
        if let Ok(stored) = ops::tagging::tags_from_xml(data, max) {
            // The stored form reads back as the document's tags.
            let sent: Vec<(String, String)> = doc
                .all("Tag")
                .iter()
                .map(|t| {
                    let text = |n: &str| t.first(n).map(|e| e.text().to_owned());
                    (
                        text("Key").unwrap_or_default(),
                        text("Value").unwrap_or_default(),
                    )
                })
                .collect();
            assert!(sent.len() <= max);
            assert_eq!(ops::tagging::tag_pairs(&stored), sent);
        }
    }
}

/// Runs the handlers' parameter parsers ([`crate::params`]) on arbitrary
/// bytes: the first 8 are an object size, the rest fields split at `\n`.
/// Checks that nothing panics or overflows and that every range, part and
/// count returned lies inside what it is taken from.
pub fn params_bytes(data: &[u8]) {
    use crate::params;
    let (size, rest) = match data.split_first_chunk::<8>() {
        Some((size, rest)) => (u64::from_le_bytes(*size), rest),
        None => (0, data),
    };
    // Sizes near 0 and near u64::MAX both matter; fold some inputs small.
    let sizes = [size, size % 4096, u64::MAX.saturating_sub(size % 4096)];
    let text = String::from_utf8_lossy(rest);
    let fields: Vec<&str> = text.split('\n').collect();
    for value in &fields {
        for &size in &sizes {
            if let Ok(Some((start, end))) = params::byte_range(value, size) {
                assert!(
                    start < end && end <= size,
                    "{value:?} {size}: {start}..{end}"
                );
            }
            if let Ok((start, end)) = params::copy_source_range(value, size) {
                assert!(
                    start < end && end <= size,
                    "{value:?} {size}: {start}..{end}"
                );
            }
        }
        if let Ok(n) = params::part_number(Some(value)) {
            assert!((1..=params::MAX_PART_NUMBER).contains(&n));
        }
        for cap in [0, 1, 1000] {
            if let Ok(n) = params::max_count("max-keys", Some(value), 1000, cap) {
                assert!(n <= cap);
            }
        }
        let _ = params::part_marker("part-number-marker", Some(value));
        if let Ok(key) = params::continuation_key(value) {
            assert_eq!(params::continuation_token(&key), value.to_ascii_lowercase());
        }
        assert_eq!(
            params::continuation_key(&params::continuation_token(value))
                .ok()
                .as_deref(),
            Some(*value)
        );
        let _ = params::http_date(Some(value));
        // Part sizes as a POSIX user may have stored them, and a part
        // number from the next field.
        if let Some(stored) = params::part_sizes(value) {
            for n in [0, 1, 2, 10_000, u32::MAX] {
                for &size in &sizes {
                    if let Ok(Some((start, end))) = params::part_range(&stored, size, n) {
                        assert!(start < end && end <= size);
                    }
                }
            }
        }
    }
}

/// Replays the committed corpus of the fuzz target `target` through `run`
/// (for the crate's tests); the number of inputs, at least one.
#[cfg(test)]
pub(crate) fn replay_corpus(target: &str, run: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus is committed") {
        run(&std::fs::read(entry.expect("a corpus entry").path()).expect("a corpus file"));
        n += 1;
    }
    assert!(n > 0, "no corpus in {}", dir.display());
    n
}
