//! The multi-buffer MD5 (`sluice_core::md5x`) against md-5: every engine
//! this CPU has, random lengths, random buffer boundaries, streams that
//! start and end at different times, 1 to 32 streams.

use proptest::prelude::*;
use sluice_core::md5x::{
    self, compress, compress_scalar, digest_all, engine, Engine, MultiMd5, State, LANES,
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

fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Up to 32 streams (two hashers of 16) of random lengths, fed in
    /// random pieces, starting and finishing at different calls.
    #[test]
    fn streams_in_random_pieces_match_md5(
        streams in 1usize..=32,
        lengths in proptest::collection::vec(0usize..5000, 32),
        cuts in proptest::collection::vec(1usize..700, 64),
        starts in proptest::collection::vec(0usize..6, 32),
        seed in any::<u64>(),
    ) {
        for e in engines() {
            let data: Vec<Vec<u8>> = (0..streams).map(|s| bytes(seed ^ s as u64, lengths[s])).collect();
            let mut hashers = [MultiMd5::new(e), MultiMd5::new(e)];
            let mut pos = vec![0usize; streams];
            let mut done = vec![None; streams];
            let mut call = 0usize;
            while done.iter().any(Option::is_none) {
                for (h, hasher) in hashers.iter_mut().enumerate() {
                    let mut slots: [Option<&[u8]>; LANES] = [None; LANES];
                    for (lane, slot) in slots.iter_mut().enumerate() {
                        let s = h * LANES + lane;
                        if s >= streams || done[s].is_some() || call < starts[s] {
                            continue;
                        }
                        let n = cuts[(s + call) % cuts.len()].min(data[s].len() - pos[s]);
                        *slot = Some(&data[s][pos[s]..pos[s] + n]);
                        pos[s] += n;
                    }
                    hasher.update(&slots);
                    for lane in 0..LANES {
                        let s = h * LANES + lane;
                        if s < streams && done[s].is_none() && call >= starts[s] && pos[s] == data[s].len() {
                            done[s] = Some(hasher.finish(lane));
                        }
                    }
                }
                call += 1;
            }
            for s in 0..streams {
                prop_assert_eq!(done[s].unwrap(), md5x::reference(&data[s]), "{:?} stream {}", e, s);
            }
        }
    }
}
