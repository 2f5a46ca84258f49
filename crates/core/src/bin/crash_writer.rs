//! Test helper for crates/core/tests/crash.rs: writes objects and completes
//! multipart uploads in a loop on a store until it is killed. Every object
//! describes itself (version and length in its first 16 bytes, the rest
//! derived from the version), so a checker can tell a whole version from a
//! torn one. Not part of the public tooling.

use sluice_core::{AlignedBuf, Driver, Store, StoreOptions};

async fn write_all<F>(mut write: F, data: &[u8]) -> sluice_core::Result<()>
where
    F: AsyncFnMut(AlignedBuf) -> sluice_core::Result<()>,
{
    for piece in data.chunks(256 * 1024) {
        let mut buf = AlignedBuf::new(256 * 1024);
        buf.extend_from_slice(piece);
        write(buf).await?;
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(root), Some(start)) = (args.next(), args.next()) else {
        eprintln!("usage: crash_writer ROOT FIRST_VERSION");
        std::process::exit(2);
    };
    let first: u64 = start.parse().unwrap_or(1);
    let opts = StoreOptions {
        min_part_size: 64 * 1024,
        ..StoreOptions::default()
    };
    let store = Store::open(&root, opts).unwrap_or_else(|e| panic!("open {root}: {e}"));
    store.create_bucket("crash").ok();
    let run = async move {
        for version in first.. {
            let len = 16 + (version as usize * 7919) % 3_000_000;
            let data = sluice_core::testing::self_describing(version, len);
            if version % 4 == 0 {
                let id = store
                    .create_multipart("crash", "mpu/object", Vec::new())
                    .expect("create upload");
                let slot = 64 * 1024;
                let mut etags = Vec::new();
                for (i, part) in data.chunks(slot).enumerate() {
                    let n = i as u32 + 1;
                    let mut w = store
                        .upload_part("crash", "mpu/object", &id, n, Some(part.len() as u64))
                        .expect("part");
                    write_all(async |b| w.write(b).await, part)
                        .await
                        .expect("part data");
                    etags.push((n, w.finish(Vec::new()).await.expect("part finish").etag));
                }
                store
                    .complete_multipart("crash", "mpu/object", &id, &etags)
                    .await
                    .expect("complete");
            } else {
                let key = format!("put/k{}", version % 3);
                let mut w = store
                    .put_object("crash", &key, Some(data.len() as u64))
                    .expect("put");
                write_all(async |b| w.write(b).await, &data)
                    .await
                    .expect("put data");
                w.finish(Vec::new()).await.expect("finish");
            }
            println!("{version}");
        }
    };
    sluice_core::block_on(Driver::Auto, run).expect("runtime");
}
