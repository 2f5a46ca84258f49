//! sluice-core against the hardware and against the plain way of doing it,
//! on one directory, in one run:
//! - PUT and GET of 64 MiB objects next to fio's O_DIRECT io_uring
//!   sequential write and read (1 MiB blocks, same queue depths), and next
//!   to MD5 of the same bytes in memory (a PUT computes the ETag);
//! - 4 KiB objects: PUT with fdatasync next to a std::fs write + fdatasync +
//!   rename loop, GET next to std::fs::read;
//! - listing 100,000 keys flat and nested;
//! - peak RSS above idle while putting one large object (10 GiB by default).
//!
//! `cargo bench -p sluice-benches --bench store` (settings by environment:
//! SLUICE_BENCH_DIR, SLUICE_BENCH_BIG_GIB, SLUICE_BENCH_64M_COUNT,
//! SLUICE_BENCH_LIST_KEYS).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sluice_core::{BufPool, Driver, ListQuery, Store, StoreOptions};

const MIB: usize = 1 << 20;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// fio sequential O_DIRECT io_uring job; returns MB/s (10^6 bytes).
fn fio(dir: &Path, rw: &str, size_mib: u64, iodepth: u32) -> Option<f64> {
    let out = Command::new("fio")
        .args([
            "--name=seq",
            "--rw",
            rw,
            "--bs=1M",
            "--ioengine=io_uring",
            "--direct=1",
            "--numjobs=1",
            "--filename=fio.data",
        ])
        .arg(format!("--size={size_mib}M"))
        .arg(format!("--iodepth={iodepth}"))
        .args(["--output-format=terse", "--terse-version=3"])
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.trim().split(';').collect();
    // terse v3: read bandwidth KiB/s is field 7, write bandwidth field 48 (1-based).
    let kib: f64 = fields
        .get(if rw == "read" { 6 } else { 47 })?
        .parse()
        .ok()?;
    Some(kib * 1024.0 / 1e6)
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

async fn put_buffers(store: &Store, pool: &BufPool, bucket: &str, key: &str, total: u64) -> u64 {
    let mut w = store.put_object(bucket, key, Some(total)).expect("put");
    let mut left = total;
    let mut fill = 0u8;
    while left > 0 {
        let mut buf = pool.get();
        let n = (buf.capacity() as u64).min(left) as usize;
        fill = fill.wrapping_add(1);
        buf.spare_mut()[..n].fill(fill);
        buf.set_len(n);
        w.write(buf).await.expect("write");
        left -= n as u64;
    }
    w.finish(Vec::new()).await.expect("finish").size
}

async fn get_all(store: &Store, pool: &BufPool, bucket: &str, key: &str) -> u64 {
    let mut r = store.get_object(bucket, key).expect("get");
    let mut n = 0u64;
    while let Some(chunk) = r.next_chunk(pool).await.expect("read") {
        n += chunk.len as u64;
    }
    n
}

fn main() {
    let dir = std::env::var_os("SLUICE_BENCH_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-store"),
        PathBuf::from,
    );
    let big_gib = env_or("SLUICE_BENCH_BIG_GIB", 10);
    let count64 = env_or("SLUICE_BENCH_64M_COUNT", 8);
    let list_keys = env_or("SLUICE_BENCH_LIST_KEYS", 100_000);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let store = Store::open(dir.join("store"), StoreOptions::default()).expect("store");
    store.create_bucket("bench").expect("bucket");
    println!(
        "directory: {} (O_DIRECT: {})",
        dir.display(),
        store.direct_io()
    );

    // 1. Peak RSS above idle while one large object is written.
    let idle = proc_status_kib("VmRSS:");
    let big = big_gib << 30;
    let t = Instant::now();
    sluice_core::block_on(Driver::Auto, {
        let store = store.clone();
        async move {
            let pool = BufPool::new(MIB, 8);
            put_buffers(&store, &pool, "bench", "big", big).await;
        }
    })
    .expect("runtime");
    let big_secs = t.elapsed().as_secs_f64();
    let peak = proc_status_kib("VmHWM:");
    store.delete_object("bench", "big").expect("delete big");
    println!(
        "| PUT one {big_gib} GiB object | {:.0} MB/s | peak RSS {:.1} MiB above idle ({:.1} MiB idle) |",
        mbps(big, big_secs),
        (peak.saturating_sub(idle)) as f64 / 1024.0,
        idle as f64 / 1024.0
    );

    // 2. 64 MiB objects next to fio and MD5.
    let total_mib = count64 * 64;
    let fio_write = fio(&dir, "write", total_mib, 4);
    let fio_read = fio(&dir, "read", total_mib, 2);
    let _ = std::fs::remove_file(dir.join("fio.data"));
    let (put_secs, get_secs) = sluice_core::block_on(Driver::Auto, {
        let store = store.clone();
        async move {
            let pool = BufPool::new(MIB, 8);
            let t = Instant::now();
            for i in 0..count64 {
                put_buffers(&store, &pool, "bench", &format!("large/{i}"), 64 << 20).await;
            }
            let put = t.elapsed().as_secs_f64();
            let t = Instant::now();
            for i in 0..count64 {
                assert_eq!(
                    get_all(&store, &pool, "bench", &format!("large/{i}")).await,
                    64 << 20
                );
            }
            (put, t.elapsed().as_secs_f64())
        }
    })
    .expect("runtime");
    let bytes = total_mib << 20;
    let md5_rate = {
        use md5::Digest as _;
        let data = vec![7u8; 64 * MIB];
        let t = Instant::now();
        let mut h = md5::Md5::new();
        for _ in 0..4 {
            h.update(&data);
        }
        std::hint::black_box(h.finalize());
        mbps(4 * 64 * MIB as u64, t.elapsed().as_secs_f64())
    };
    let (put, get) = (mbps(bytes, put_secs), mbps(bytes, get_secs));
    let ratio = |a: f64, b: Option<f64>| {
        b.map_or("fio not installed".to_owned(), |b| {
            format!("{:.0}% of fio ({b:.0} MB/s)", 100.0 * a / b)
        })
    };
    println!("| PUT 64 MiB x{count64} (QD 4) | {put:.0} MB/s | {} ; {:.0}% of MD5 alone ({md5_rate:.0} MB/s) |", ratio(put, fio_write), 100.0 * put / md5_rate);
    println!(
        "| GET 64 MiB x{count64} (QD 2) | {get:.0} MB/s | {} |",
        ratio(get, fio_read)
    );

    // 3. 4 KiB objects against std::fs.
    let small = 2000u64;
    let payload = vec![0x42u8; 4096];
    let (put_ops, get_ops) = sluice_core::block_on(Driver::Auto, {
        let store = store.clone();
        let payload = payload.clone();
        async move {
            let pool = BufPool::new(4096, 8);
            let t = Instant::now();
            for i in 0..small {
                let mut w = store
                    .put_object("bench", &format!("small/{i}"), Some(4096))
                    .expect("put");
                let mut buf = pool.get();
                buf.extend_from_slice(&payload);
                w.write(buf).await.expect("write");
                w.finish(Vec::new()).await.expect("finish");
            }
            let put = small as f64 / t.elapsed().as_secs_f64();
            // Two passes: objects written with O_DIRECT are not in the page
            // cache on the first read; the second finds them there, as a
            // hot object would be.
            let mut rates = [0f64; 2];
            for rate in &mut rates {
                let t = Instant::now();
                for i in 0..small {
                    assert_eq!(
                        get_all(&store, &pool, "bench", &format!("small/{i}")).await,
                        4096
                    );
                }
                *rate = small as f64 / t.elapsed().as_secs_f64();
            }
            (put, rates)
        }
    })
    .expect("runtime");
    let plain = dir.join("plain");
    std::fs::create_dir_all(&plain).expect("plain dir");
    let t = Instant::now();
    for i in 0..small {
        use std::io::Write as _;
        let tmp = plain.join(format!(".tmp{i}"));
        let mut f = std::fs::File::create(&tmp).expect("create");
        f.write_all(&payload).expect("write");
        f.sync_data().expect("fdatasync");
        std::fs::rename(&tmp, plain.join(format!("{i}"))).expect("rename");
    }
    let std_put = small as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..small {
        assert_eq!(
            std::fs::read(plain.join(format!("{i}")))
                .expect("read")
                .len(),
            4096
        );
    }
    let std_get = small as f64 / t.elapsed().as_secs_f64();
    println!("| PUT 4 KiB, fdatasync | {put_ops:.0} obj/s | std::fs write+fdatasync+rename {std_put:.0}/s ({:.2}x) |", put_ops / std_put);
    println!(
        "| GET 4 KiB, cached | {:.0} obj/s | std::fs::read of its own (cached) files {std_get:.0}/s ({:.2}x); first read from disk {:.0} obj/s |",
        get_ops[1],
        get_ops[1] / std_get,
        get_ops[0]
    );

    // 4. Listing, flat and nested (written without fdatasync: only names matter).
    let lister = Store::open(
        dir.join("store"),
        StoreOptions {
            fdatasync: false,
            ..StoreOptions::default()
        },
    )
    .expect("store");
    lister.create_bucket("flat").expect("bucket");
    lister.create_bucket("nested").expect("bucket");
    sluice_core::block_on(Driver::Auto, {
        let lister = lister.clone();
        async move {
            let pool = BufPool::new(4096, 8);
            for i in 0..list_keys {
                for (bucket, key) in [
                    ("flat", format!("k{i:07}")),
                    ("nested", format!("{}/{}/k{i:07}", i % 10, i / 10 % 100)),
                ] {
                    let mut w = lister.put_object(bucket, &key, Some(1)).expect("put");
                    let mut buf = pool.get();
                    buf.extend_from_slice(b"x");
                    w.write(buf).await.expect("write");
                    w.finish(Vec::new()).await.expect("finish");
                }
            }
        }
    })
    .expect("runtime");
    for bucket in ["flat", "nested"] {
        for with_etag in [true, false] {
            let t = Instant::now();
            let mut q = ListQuery {
                max_keys: 1000,
                with_etag,
                ..ListQuery::default()
            };
            let mut n = 0u64;
            loop {
                let page = lister.list_objects(bucket, &q).expect("list");
                n += page.objects.len() as u64;
                if !page.truncated {
                    break;
                }
                q.start_after = page.next_marker;
            }
            assert_eq!(n, list_keys);
            let secs = t.elapsed().as_secs_f64();
            println!(
                "| LIST {list_keys} keys {bucket}{} | {:.0} keys/s | {:.2} µs per key |",
                if with_etag { " with ETag" } else { "" },
                n as f64 / secs,
                secs * 1e6 / n as f64
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
