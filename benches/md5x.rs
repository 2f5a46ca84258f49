//! The multi-buffer MD5 alone (issue 19): aggregate throughput of 1, 2, 4,
//! 8, 16 and 32 streams of 1 MiB each, given in pieces of 256 KiB to
//! passes of `sluice_core::md5x::hash_streams` (as the thread hasher gives
//! body buffers): in lanes however few the streams ("<engine> lanes", each
//! engine this CPU has, which shows where lanes start to pay), and as the
//! data path runs ("data path": lanes from `min_side_by_side` streams), against
//! md-5's assembly core hashing the same streams one after another.
//!
//!     cargo bench -p sluice-benches --bench md5x

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use md5::{Digest, Md5};
use sluice_core::md5x::{engine, hash_streams_from, min_side_by_side, Engine, Stream};

const STREAM: usize = 1 << 20;
/// Bytes given to a lane per update (as a body's buffer would be).
const PIECE: usize = 256 << 10;

fn hash_side_by_side(e: Engine, from: usize, data: &[Vec<u8>]) -> Vec<[u8; 16]> {
    let mut streams = vec![Stream::new(); data.len()];
    for at in (0..STREAM).step_by(PIECE) {
        let mut jobs: Vec<(&mut Stream, &[u8])> = streams
            .iter_mut()
            .zip(data)
            .map(|(s, d)| (s, &d[at..(at + PIECE).min(d.len())]))
            .collect();
        hash_streams_from(e, from, &mut jobs);
    }
    streams.iter().map(Stream::digest).collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("md5x");
    g.sample_size(10);
    let mut engines = vec![Engine::Scalar];
    match engine() {
        Engine::Avx512 => engines.extend([Engine::Avx2, Engine::Avx512]),
        Engine::Avx2 => engines.push(Engine::Avx2),
        Engine::Scalar => {}
    }
    for streams in [1usize, 2, 4, 8, 16, 32] {
        let data: Vec<Vec<u8>> = (0..streams).map(|s| vec![s as u8 ^ 0x5a; STREAM]).collect();
        g.throughput(Throughput::Bytes((streams * STREAM) as u64));
        g.bench_with_input(
            BenchmarkId::new("md-5 one by one", streams),
            &data,
            |b, data| {
                b.iter(|| data.iter().map(Md5::digest).collect::<Vec<_>>());
            },
        );
        for &e in &engines {
            g.bench_with_input(
                BenchmarkId::new(format!("{e:?} lanes"), streams),
                &data,
                |b, data| {
                    b.iter(|| hash_side_by_side(e, 1, data));
                },
            );
        }
        g.bench_with_input(BenchmarkId::new("data path", streams), &data, |b, data| {
            b.iter(|| hash_side_by_side(engine(), min_side_by_side(engine()), data));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
