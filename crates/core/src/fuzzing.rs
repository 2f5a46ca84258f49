//! Fuzz harnesses for what sluice-core reads back from disk: an object's
//! metadata xattr (which a POSIX user can set to anything), the part sizes
//! kept with multipart objects, the layout of encrypted objects, the
//! records of multipart uploads in progress (upload, parts, completion). Run by
//! `fuzz/fuzz_targets/core_records.rs`; their committed corpus is replayed
//! by `cargo test` (tests/fuzz_corpus.rs).
#![allow(clippy::unwrap_used)]

use crate::meta::ObjectMeta;
use crate::multipart::{decode_part_sizes, encode_part_sizes, MAX_PARTS};
use crate::seal::Layout;

/// The first byte picks the record, the rest is its stored bytes. Checks
/// that nothing panics, that the fast readers (listing, ETag) agree with
/// the full one, and that what decodes encodes back to the same record.
pub fn records(data: &[u8]) {
    let [selector, stored @ ..] = data else {
        return;
    };
    match selector % 7 {
        0 => {
            let full = ObjectMeta::decode(stored);
            if let (Some(m), Some((etag, _))) = (&full, ObjectMeta::decode_listing(stored)) {
                assert_eq!(etag, m.etag, "the listing's ETag differs");
            }
            if let (Some(m), Some(etag)) = (&full, ObjectMeta::decode_etag(stored)) {
                assert_eq!(etag, m.etag, "the fast ETag differs");
            }
            if let Some(m) = full {
                let again = ObjectMeta::decode(&m.encode()).expect("an encoded record decodes");
                assert!(again.etag.eq_ignore_ascii_case(&m.etag), "the ETag changed");
                assert_eq!(again.headers, m.headers, "the headers changed");
            }
        }
        1 => {
            let Ok(text) = std::str::from_utf8(stored) else {
                return;
            };
            if let Some(sizes) = decode_part_sizes(text) {
                assert!(sizes.len() <= MAX_PARTS as usize);
                if let Some(encoded) = encode_part_sizes(&sizes) {
                    assert_eq!(decode_part_sizes(&encoded), Some(sizes));
                }
            }
        }
        2 => {
            if let Ok(text) = std::str::from_utf8(stored) {
                let _ = Layout::decode(text);
            }
        }
        // The multipart staging records: 3 upload, 4 a key in one, 5 a
        // part's, 6 a completion.
        n => crate::multipart::fuzz_staging_record(n - 3, stored),
    }
}
