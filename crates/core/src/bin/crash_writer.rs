//! Test helper for crates/core/tests/crash.rs: writes objects and completes
//! multipart uploads in a loop on a store until it is killed. Every object
//! describes itself (version and length in its first 16 bytes, the rest
//! derived from the version), so a checker can tell a whole version from a
//! torn one. Each multipart upload, once all its parts are in, has every
//! part re-uploaded with other bytes that are dropped before they finish
//! (what a failed checksum or a client gone does), while one more such
//! re-upload stays open across the Complete. A writer started after a kill
//! first completes the uploads the killed one left with all their parts:
//! whatever the kill interrupted, the object must be the verified parts.
//! Not part of the public tooling.

use sluice_core::{AlignedBuf, Driver, Store, StoreOptions, WriteCondition};

/// Upload header carrying how many parts the upload's version has.
const PARTS_HEADER: &str = "x-amz-meta-parts";
const SLOT: usize = 64 * 1024;

/// Completes the uploads a killed writer left with all their parts.
async fn resume(store: &Store) {
    let Ok(uploads) = store.list_uploads("crash") else {
        return;
    };
    for u in uploads {
        let Some(count) = u
            .headers
            .iter()
            .find(|(n, _)| n == PARTS_HEADER)
            .and_then(|(_, v)| v.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(parts) = store.list_parts("crash", &u.key, &u.upload_id) else {
            continue;
        };
        let numbers: Vec<u32> = parts.iter().map(|p| p.number).collect();
        if numbers != (1..=count).collect::<Vec<_>>() {
            continue;
        }
        let etags: Vec<(u32, String)> = parts.into_iter().map(|p| (p.number, p.etag)).collect();
        let _ = store
            .complete_multipart(
                "crash",
                &u.key,
                &u.upload_id,
                &etags,
                &WriteCondition::Always,
            )
            .await;
    }
}

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
        resume(&store).await;
        for version in first.. {
            let len = 16 + (version as usize * 7919) % 3_000_000;
            let data = sluice_core::testing::self_describing(version, len);
            if version % 4 == 0 {
                let count = data.chunks(SLOT).count();
                let id = store
                    .create_multipart(
                        "crash",
                        "mpu/object",
                        vec![(PARTS_HEADER.into(), count.to_string())],
                    )
                    .expect("create upload");
                let mut etags = Vec::new();
                for (i, part) in data.chunks(SLOT).enumerate() {
                    let n = i as u32 + 1;
                    let mut w = store
                        .upload_part("crash", "mpu/object", &id, n, Some(part.len() as u64))
                        .expect("part");
                    write_all(async |b| w.write(b).await, part)
                        .await
                        .expect("part data");
                    etags.push((n, w.finish(Vec::new()).await.expect("part finish").etag));
                }
                // Re-uploads of other bytes that never finish: each must
                // leave its part as it was.
                let poison = sluice_core::testing::self_describing(version + 500_000, data.len());
                for (i, part) in poison.chunks(SLOT).enumerate() {
                    let n = i as u32 + 1;
                    let mut w = store
                        .upload_part("crash", "mpu/object", &id, n, Some(part.len() as u64))
                        .expect("re-upload");
                    write_all(async |b| w.write(b).await, part)
                        .await
                        .expect("re-upload data");
                    drop(w);
                }
                // One still open when Complete runs, finishing after it.
                let first = &poison[..SLOT.min(poison.len())];
                let mut late = store
                    .upload_part("crash", "mpu/object", &id, 1, Some(first.len() as u64))
                    .expect("late part");
                let half = first.len() / 2 / 4096 * 4096;
                write_all(async |b| late.write(b).await, &first[..half])
                    .await
                    .expect("late data");
                store
                    .complete_multipart("crash", "mpu/object", &id, &etags, &WriteCondition::Always)
                    .await
                    .expect("complete");
                let _ = write_all(async |b| late.write(b).await, &first[half..]).await;
                let _ = late.finish(Vec::new()).await;
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
