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

criterion_group!(benches, aead);
criterion_main!(benches);
