//! The multi-buffer MD5 (`sluice_core::md5x`) against md-5: every engine
//! this CPU has, random lengths, random buffer boundaries, streams that
//! start and end at different times, 1 to 32 streams.

mod common;

use common::content as bytes;
use proptest::prelude::*;
use sluice_core::hasher::{self, BodyMd5};
use sluice_core::md5x::{
    self, compress, compress_run, compress_scalar, digest_all, engine, hash_streams_from, Engine,
    State, Stream, LANES,
};

fn engines() -> Vec<Engine> {
    let mut e = vec![Engine::Scalar];
    if engine() != Engine::Scalar {
        e.push(Engine::Avx2);
    }
    if engine() == Engine::Avx512 {
        e.push(Engine::Avx512);
    }
    e
}

#[test]
fn known_answers() {
    // RFC 1321's test suite.
    let cases: [(&[u8], &str); 7] = [
        (b"", "d41d8cd98f00b204e9800998ecf8427e"),
        (b"a", "0cc175b9c0f1b6a831c399e269772661"),
        (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
        (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        (
            b"abcdefghijklmnopqrstuvwxyz",
            "c3fcd3d76192e4007dfb496cca67e13b",
        ),
        (
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            "d174ab98d277d9f5a5611c2c9f419d9f",
        ),
        (
            b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a",
        ),
    ];
    for e in engines() {
        let inputs: Vec<&[u8]> = cases.iter().map(|c| c.0).collect();
        for (d, (_, want)) in digest_all(e, &inputs).iter().zip(cases) {
            let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, want, "{e:?}");
        }
    }
}

#[test]
fn every_engine_agrees_with_the_scalar_compression() {
    for e in engines() {
        let blocks: Vec<[u8; 64]> = (0..LANES as u64)
            .map(|l| bytes(l, 64).try_into().unwrap())
            .collect();
        let mut state = State::default();
        let mut one = [[0x6745_2301u32, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476]; LANES];
        for round in 0..3 {
            // Some lanes idle in some passes.
            let take: [Option<&[u8; 64]>; LANES] =
                std::array::from_fn(|l| ((l + round) % 3 != 0).then_some(&blocks[l]));
            compress(e, &mut state, &take);
            for (l, b) in take.iter().enumerate() {
                if let Some(b) = b {
                    compress_scalar(&mut one[l], b);
                }
            }
        }
        for (l, want) in one.iter().enumerate() {
            assert_eq!(state.lane(l), *want, "{e:?} lane {l}");
        }
    }
}

#[test]
fn runs_of_blocks_agree_with_the_scalar_compression() {
    for e in engines() {
        // Lane l has 12 + l blocks; some lanes idle; runs of 1, 4 and 7.
        let data: Vec<Vec<[u8; 64]>> = (0..LANES as u64)
            .map(|l| {
                bytes(l + 100, 64 * (12 + l as usize))
                    .chunks_exact(64)
                    .map(|c| c.try_into().unwrap())
                    .collect()
            })
            .collect();
        let mut state = State::default();
        let mut one = [[0x6745_2301u32, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476]; LANES];
        let mut at = [0usize; LANES];
        for (round, n) in [1usize, 4, 7].into_iter().enumerate() {
            let busy: [bool; LANES] = std::array::from_fn(|l| (l + round) % 4 != 0);
            let runs: [Option<&[[u8; 64]]>; LANES] =
                std::array::from_fn(|l| busy[l].then(|| &data[l][at[l]..]));
            compress_run(e, &mut state, &runs, n);
            for l in 0..LANES {
                if busy[l] {
                    for b in &data[l][at[l]..at[l] + n] {
                        compress_scalar(&mut one[l], b);
                    }
                    at[l] += n;
                }
            }
        }
        for (l, want) in one.iter().enumerate() {
            assert_eq!(state.lane(l), *want, "{e:?} lane {l}");
        }
    }
}

/// Bodies hashed by their thread's hasher: 40 at once on one runtime
/// (more than the lanes), of lengths from 0 to 3 MiB, in buffers of
/// random sizes, each task yielding at random between buffers so that the
/// passes gather different sets; every digest must be md-5's, and the
/// passes must have hashed side by side.
#[test]
fn bodies_on_one_thread_are_hashed_side_by_side_and_right() {
    use sluice_core::AlignedBuf;
    for driver in [sluice_core::Driver::IoUring, sluice_core::Driver::Legacy] {
        let before = hasher::stats();
        sluice_core::block_on(driver, async {
            let tasks: Vec<_> = (0..40u64)
                .map(|t| {
                    monoio::spawn(async move {
                        let len = (bytes(t, 1)[0] as usize) * 12_345 + t as usize;
                        let data = bytes(t ^ 0xABCD, len);
                        let mut md5 = BodyMd5::new();
                        let mut at = 0;
                        let mut k = t as usize;
                        while at < data.len() {
                            k = k.wrapping_mul(31).wrapping_add(7);
                            let n = (4096 + k % (300 << 10)).min(data.len() - at);
                            let mut buf = AlignedBuf::new(n.next_multiple_of(4096));
                            buf.extend_from_slice(&data[at..at + n]);
                            let back = md5.update(buf).await;
                            assert_eq!(back.as_slice(), &data[at..at + n]);
                            at += n;
                            if k.is_multiple_of(3) {
                                monoio::time::sleep(std::time::Duration::from_micros(50)).await;
                            }
                        }
                        assert_eq!(md5.len(), data.len() as u64);
                        assert_eq!(md5.digest(), md5x::reference(&data), "body {t}");
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
        })
        .unwrap();
        let after = hasher::stats();
        assert!(after.passes > before.passes);
        if engine() != Engine::Scalar {
            assert!(
                after.bytes_side_by_side > before.bytes_side_by_side,
                "{driver:?}: no pass hashed side by side"
            );
        }
    }
}

/// A runtime that ends while a pass is scheduled (an update left pending,
/// its future dropped) must not leave the thread's hasher waiting for that
/// pass: a later runtime on the same thread hashes as before.
#[test]
fn a_runtime_that_ends_with_a_pass_scheduled_leaves_the_hasher_usable() {
    use sluice_core::AlignedBuf;
    use std::future::Future as _;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let data = bytes(7, 10_000);
        let piece = |d: &[u8]| {
            let mut b = AlignedBuf::new(16_384);
            b.extend_from_slice(d);
            b
        };
        sluice_core::block_on(sluice_core::Driver::IoUring, async {
            let mut md5 = BodyMd5::new();
            let mut fut = Box::pin(md5.update(piece(&data)));
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            // The runtime ends here, its pass unrun.
        })
        .unwrap();
        let digest = sluice_core::block_on(sluice_core::Driver::IoUring, async {
            let mut md5 = BodyMd5::new();
            let _ = md5.update(piece(&data)).await;
            md5.digest()
        })
        .unwrap();
        let _ = tx.send(digest == md5x::reference(&data));
    });
    let ok = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the second runtime's update never finished");
    assert!(ok);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Up to 32 streams of random lengths, fed in random pieces to passes
    /// of `hash_streams` (lanes from 1 to 4 streams with blocks), some
    /// pieces hashed alone between passes, streams starting and finishing
    /// at different passes.
    #[test]
    fn streams_in_random_pieces_match_md5(
        streams in 1usize..=32,
        lengths in proptest::collection::vec(0usize..5000, 32),
        cuts in proptest::collection::vec(1usize..700, 64),
        starts in proptest::collection::vec(0usize..6, 32),
        alone in proptest::collection::vec(any::<bool>(), 64),
        from in 1usize..=4,
        seed in any::<u64>(),
    ) {
        for e in engines() {
            let data: Vec<Vec<u8>> = (0..streams).map(|s| bytes(seed ^ s as u64, lengths[s])).collect();
            let mut state = vec![Stream::new(); streams];
            let mut pos = vec![0usize; streams];
            let mut pass = 0usize;
            while (0..streams).any(|s| pos[s] < data[s].len()) {
                let mut jobs: Vec<(&mut Stream, &[u8])> = Vec::new();
                for (s, st) in state.iter_mut().enumerate() {
                    if pass < starts[s] || pos[s] == data[s].len() {
                        continue;
                    }
                    let n = cuts[(s + pass) % cuts.len()].min(data[s].len() - pos[s]);
                    let piece = &data[s][pos[s]..pos[s] + n];
                    pos[s] += n;
                    if alone[(s * 7 + pass) % alone.len()] {
                        st.update(piece);
                    } else {
                        jobs.push((st, piece));
                    }
                }
                hash_streams_from(e, from, &mut jobs);
                pass += 1;
            }
            for s in 0..streams {
                prop_assert_eq!(state[s].len(), data[s].len() as u64);
                prop_assert_eq!(state[s].digest(), md5x::reference(&data[s]), "{:?} stream {}", e, s);
            }
        }
    }
}
