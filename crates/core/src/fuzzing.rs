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

/// Drives the multi-buffer MD5 ([`crate::md5x`]) with the stream schedule
/// `data` spells, with every engine this CPU has: each pair of bytes is a
/// lane and an action (give the lane the next 0..=255 bytes of its stream
/// in this call, or finish it). Checks every finished lane's digest
/// against md-5's of the bytes it was given.
pub fn md5x_schedule(data: &[u8]) {
    use crate::md5x::{engine, reference, Engine, MultiMd5, LANES};
    let mut engines = vec![Engine::Scalar];
    match engine() {
        Engine::Avx512 => engines.extend([Engine::Avx2, Engine::Avx512]),
        Engine::Avx2 => engines.push(Engine::Avx2),
        Engine::Scalar => {}
    }
    // The bytes streams are made of: every stream reads its own window.
    let source: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    for e in engines {
        let mut m = MultiMd5::new(e);
        let mut given: [Vec<u8>; LANES] = std::array::from_fn(|_| Vec::new());
        // Calls gather up to one piece per lane; a finish ends the call.
        let mut slots: [Option<(usize, usize)>; LANES] = [None; LANES];
        let flush = |m: &mut MultiMd5,
                     slots: &mut [Option<(usize, usize)>; LANES],
                     given: &mut [Vec<u8>; LANES]| {
            let pieces: [Option<&[u8]>; LANES] =
                std::array::from_fn(|l| slots[l].map(|(at, n)| &source[at..at + n]));
            m.update(&pieces);
            for (l, s) in slots.iter_mut().enumerate() {
                if let Some((at, n)) = s.take() {
                    given[l].extend_from_slice(&source[at..at + n]);
                }
            }
        };
        for pair in data.chunks_exact(2) {
            let lane = usize::from(pair[0]) % LANES;
            if pair[0] >= 0xF0 {
                flush(&mut m, &mut slots, &mut given);
                let digest = m.finish(lane);
                assert_eq!(digest, reference(&given[lane]), "{e:?} lane {lane}");
                given[lane].clear();
            } else {
                if slots[lane].is_some() {
                    flush(&mut m, &mut slots, &mut given);
                }
                let at = (lane * 97 + given[lane].len()) % 2048;
                slots[lane] = Some((at, usize::from(pair[1])));
            }
        }
        flush(&mut m, &mut slots, &mut given);
        for (lane, g) in given.iter().enumerate() {
            assert_eq!(m.finish(lane), reference(g), "{e:?} lane {lane} at the end");
        }
    }
}
