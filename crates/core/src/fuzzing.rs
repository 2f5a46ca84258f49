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
/// `data` spells, with every engine this CPU has. The first byte sets from
/// how many streams lanes are used (1 to 4); then each pair of bytes is a
/// stream (of 32) and an action: give it the next 0..=255 bytes in this
/// pass, hash its next bytes alone at once, or finish it (its digest
/// checked against md-5's of the bytes it was given, and a new stream
/// started).
pub fn md5x_schedule(data: &[u8]) {
    use crate::md5x::{engine, hash_streams_from, reference, Engine, Stream};
    const STREAMS: usize = 32;
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let from = usize::from(first % 4) + 1;
    let mut engines = vec![Engine::Scalar];
    match engine() {
        Engine::Avx512 => engines.extend([Engine::Avx2, Engine::Avx512]),
        Engine::Avx2 => engines.push(Engine::Avx2),
        Engine::Scalar => {}
    }
    // The bytes streams are made of: every stream reads its own window.
    let source: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let piece = |s: usize, given: usize, n: u8| {
        let at = (s * 97 + given) % 2048;
        &source[at..at + usize::from(n)]
    };
    for e in engines {
        let mut streams: [Stream; STREAMS] = std::array::from_fn(|_| Stream::new());
        let mut given: [Vec<u8>; STREAMS] = std::array::from_fn(|_| Vec::new());
        // A pass gathers up to one piece per stream.
        let mut slots: [Option<&[u8]>; STREAMS] = [None; STREAMS];
        let flush = |streams: &mut [Stream; STREAMS],
                     slots: &mut [Option<&[u8]>; STREAMS],
                     given: &mut [Vec<u8>; STREAMS]| {
            let mut jobs: Vec<(&mut Stream, &[u8])> = Vec::new();
            for ((stream, slot), g) in streams
                .iter_mut()
                .zip(slots.iter_mut())
                .zip(given.iter_mut())
            {
                if let Some(p) = slot.take() {
                    g.extend_from_slice(p);
                    jobs.push((stream, p));
                }
            }
            hash_streams_from(e, from, &mut jobs);
        };
        for pair in data.chunks_exact(2) {
            let s = usize::from(pair[0]) % STREAMS;
            match pair[0] / 32 {
                7 => {
                    flush(&mut streams, &mut slots, &mut given);
                    assert_eq!(
                        streams[s].digest(),
                        reference(&given[s]),
                        "{e:?} stream {s}"
                    );
                    streams[s] = Stream::new();
                    given[s].clear();
                }
                6 => {
                    flush(&mut streams, &mut slots, &mut given);
                    let p = piece(s, given[s].len(), pair[1]);
                    streams[s].update(p);
                    given[s].extend_from_slice(p);
                }
                _ => {
                    if slots[s].is_some() {
                        flush(&mut streams, &mut slots, &mut given);
                    }
                    slots[s] = Some(piece(s, given[s].len(), pair[1]));
                }
            }
        }
        flush(&mut streams, &mut slots, &mut given);
        for (s, g) in given.iter().enumerate() {
            assert_eq!(
                streams[s].digest(),
                reference(g),
                "{e:?} stream {s} at the end"
            );
        }
    }
}
