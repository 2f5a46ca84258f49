//! AES-256-GCM and AES-128-GCM through ring (what rustls uses for TLS 1.3
//! and 1.2 records, and what encryption at rest will use): the rate one
//! core seals and opens 16 KiB records, the size of a full TLS record. The
//! HTTPS figures in docs/BENCHMARKS.md compare the server's CPU per GiB
//! over TLS with plain HTTP's plus this cost.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

const RECORD: usize = 16 << 10;

fn aead(c: &mut Criterion) {
    let mut g = c.benchmark_group("aead");
    g.throughput(Throughput::Bytes(RECORD as u64));
    for (name, alg, key_len) in [
        ("aes256gcm", &AES_256_GCM, 32),
        ("aes128gcm", &AES_128_GCM, 16),
    ] {
        let key = LessSafeKey::new(
            UnboundKey::new(alg, &vec![7u8; key_len]).expect("a key of the right length"),
        );
        let mut record = vec![0x5au8; RECORD];
        g.bench_function(format!("{name}_seal_16k"), |b| {
            b.iter(|| {
                let nonce = Nonce::assume_unique_for_key([1u8; 12]);
                black_box(
                    key.seal_in_place_separate_tag(nonce, Aad::empty(), &mut record)
                        .expect("sealing a record"),
                )
            });
        });
        let nonce = Nonce::assume_unique_for_key([2u8; 12]);
        let mut sealed = vec![0x5au8; RECORD];
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::empty(), &mut sealed)
            .expect("sealing a record");
        sealed.extend_from_slice(tag.as_ref());
        // Each iteration opens a fresh copy (made outside the timing).
        g.bench_function(format!("{name}_open_16k"), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |copy| {
                    let nonce = Nonce::assume_unique_for_key([2u8; 12]);
                    black_box(
                        key.open_in_place(nonce, Aad::empty(), copy)
                            .expect("opening what was sealed")
                            .len(),
                    )
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

/// sluice-core's sealed frames (encryption at rest): 8 MiB of plaintext
/// sealed into 64 KiB frames in 1 MiB buffers, and the frames opened in the
/// buffers they are in (the format's own cost above the cipher's).
fn frames(c: &mut Criterion) {
    use sluice_core::seal::{DataKey, Layout, Opener, Sealer};
    use sluice_core::{BufPool, Chunk};
    const LEN: usize = 8 << 20;
    let mut g = c.benchmark_group("seal");
    g.throughput(Throughput::Bytes(LEN as u64));
    let pool = BufPool::new(1 << 20, 16);
    let key = DataKey::generate();
    let plain = vec![0x5au8; 1 << 20];
    let seal_all = || {
        let mut s = Sealer::new(key.clone(), 0);
        let mut ready = Vec::new();
        for _ in 0..LEN / plain.len() {
            s.push(&plain, &pool, &mut ready);
        }
        s.finish(&mut ready);
        ready
    };
    g.bench_function("seal_8m", |b| b.iter(|| black_box(seal_all().len())));
    let sealed: Vec<Vec<u8>> = seal_all().iter().map(|b| b.as_slice().to_vec()).collect();
    let layout = Layout::single(LEN as u64);
    g.bench_function("open_8m", |b| {
        b.iter_batched_ref(
            || {
                sealed
                    .iter()
                    .map(|s| {
                        let mut buf = pool.get();
                        buf.extend_from_slice(s);
                        buf
                    })
                    .collect::<Vec<_>>()
            },
            |bufs| {
                let mut op = Opener::new(key.clone(), layout.clone(), 0, LEN as u64);
                let mut ready = std::collections::VecDeque::new();
                for buf in bufs.drain(..) {
                    let len = buf.len();
                    op.absorb(Chunk { buf, start: 0, len }, &pool, &mut ready)
                        .expect("opening what was sealed");
                }
                black_box(ready.len())
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(benches, aead, frames);
criterion_main!(benches);
