#![allow(clippy::unwrap_used)]
//! Property test of the encrypted form (`sluice_core::seal`): any segment
//! sizes, sealed from any pieces, read back through any read sizes over any
//! range, give exactly the plaintext; and any single changed stored byte
//! is refused whenever the range reads its frame.

use std::collections::VecDeque;

use proptest::prelude::*;
use sluice_core::seal::{stored_len, DataKey, Layout, Opener, Sealer, Segment, FRAME, PLAIN};
use sluice_core::{AlignedBuf, BufPool, Chunk};

fn seal_segments(key: &DataKey, sizes: &[usize], piece: usize) -> (Vec<u8>, Vec<u8>, Layout) {
    let pool = BufPool::new(FRAME * 4, 8);
    let (mut stored, mut plain, mut segs) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &n) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..n)
            .map(|j| (j as u8).wrapping_mul(31).wrapping_add(i as u8))
            .collect();
        let part = i as u32 + 1;
        let mut s = Sealer::new(key.clone(), part);
        let mut ready = Vec::new();
        for p in data.chunks(piece.max(1)) {
            s.push(p, &pool, &mut ready);
        }
        s.finish(&mut ready);
        let before = stored.len();
        for b in &ready {
            stored.extend_from_slice(b.as_slice());
        }
        assert_eq!(
            (stored.len() - before) as u64,
            stored_len(n as u64).unwrap()
        );
        plain.extend_from_slice(&data);
        segs.push(Segment {
            part,
            plain: n as u64,
        });
    }
    (stored, plain, Layout::parts(segs))
}

fn open(
    key: &DataKey,
    layout: &Layout,
    stored: &[u8],
    start: u64,
    end: u64,
    read: usize,
) -> Option<Vec<u8>> {
    let pool = BufPool::new(FRAME, 4);
    let (s, e, _) = layout.frames_for(start, end);
    let mut op = Opener::new(key.clone(), layout.clone(), start, end);
    let mut ready = VecDeque::new();
    for piece in stored[s as usize..e as usize].chunks(read.max(1)) {
        let mut buf = AlignedBuf::new(piece.len() + 4096);
        buf.extend_from_slice(&[9u8; 7]);
        buf.extend_from_slice(piece);
        op.absorb(
            Chunk {
                buf,
                start: 7,
                len: piece.len(),
            },
            &pool,
            &mut ready,
        )
        .ok()?;
    }
    if !op.is_done() {
        return None;
    }
    Some(ready.iter().flat_map(|c| c.data().to_vec()).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_range_of_any_segments_reads_back(
        sizes in prop::collection::vec(prop_oneof![0usize..3, 1usize..(3 * PLAIN), Just(PLAIN), Just(2 * PLAIN)], 1..4),
        piece in 1usize..100_000,
        read in prop_oneof![1usize..5000, Just(FRAME), 5000usize..300_000],
        a in any::<u64>(), b in any::<u64>(),
    ) {
        let key = DataKey::generate();
        let (stored, plain, layout) = seal_segments(&key, &sizes, piece);
        prop_assert_eq!(layout.stored_len().unwrap(), stored.len() as u64);
        let n = plain.len() as u64;
        prop_assume!(n > 0);
        let (x, y) = (a % n, b % n);
        let (start, end) = (x.min(y), x.max(y) + 1);
        let got = open(&key, &layout, &stored, start, end, read);
        prop_assert_eq!(got.as_deref(), Some(&plain[start as usize..end as usize]));
    }

    #[test]
    fn a_changed_byte_is_refused(
        sizes in prop::collection::vec(1usize..(3 * PLAIN), 1..3),
        at in any::<usize>(), bit in 0u8..8,
    ) {
        let key = DataKey::generate();
        let (mut stored, _, layout) = seal_segments(&key, &sizes, 65_536);
        let at = at % stored.len();
        stored[at] ^= 1 << bit;
        let n = layout.plain_len();
        prop_assert_eq!(open(&key, &layout, &stored, 0, n, FRAME), None);
    }
}
