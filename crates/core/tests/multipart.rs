//! Multipart uploads: in-place completion for equal parts (no copy: the
//! staged file becomes the object), joining otherwise, S3's ETag, and every
//! error a client can cause.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::MetadataExt;

use common::{content, get, md5_hex, TempRoot};
use sluice_core::{AlignedBuf, Driver, Store, StoreError, StoreOptions, WriteCondition};

const MIN: u64 = 64 * 1024;

fn store(tag: &str) -> (TempRoot, Store) {
    let root = TempRoot::new(tag);
    let opts = StoreOptions {
        min_part_size: MIN,
        ..StoreOptions::default()
    };
    let store = Store::open(&root.0, opts).unwrap();
    store.create_bucket("bkt").unwrap();
    (root, store)
}

async fn part(
    store: &Store,
    key: &str,
    id: &str,
    n: u32,
    data: &[u8],
    piece: usize,
) -> Result<String, StoreError> {
    let mut w = store.upload_part("bkt", key, id, n, Some(data.len() as u64))?;
    for p in data.chunks(piece) {
        let mut buf = AlignedBuf::new(piece);
        buf.extend_from_slice(p);
        w.write(buf).await?;
    }
    Ok(
        w.finish(vec![("x-amz-checksum-crc32".into(), "AAAAAA==".into())])
            .await?
            .etag,
    )
}

fn s3_etag(parts: &[&[u8]]) -> String {
    use md5::Digest as _;
    let mut h = md5::Md5::new();
    for p in parts {
        h.update(md5::Md5::digest(p));
    }
    format!(
        "{}-{}",
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        parts.len()
    )
}

fn run<F: std::future::Future<Output = ()>>(f: impl Fn() -> F) {
    for driver in [Driver::IoUring, Driver::Legacy] {
        sluice_core::block_on(driver, f()).unwrap();
    }
}

#[test]
fn equal_parts_complete_in_place_without_copying() {
    run(|| async {
        let (root, store) = store("mpu-inplace");
        let id = store
            .create_multipart(
                "bkt",
                "big/object",
                vec![("content-type".into(), "video/mp4".into())],
            )
            .unwrap();
        let parts: Vec<Vec<u8>> = vec![
            content(1, 1 << 20),
            content(2, 1 << 20),
            content(3, 1 << 20),
            content(4, 300_001),
        ];
        // Out of order, concurrently, in odd buffer sizes.
        let mut tasks = Vec::new();
        for (i, data) in parts.iter().enumerate().rev() {
            let (store, id, data) = (store.clone(), id.clone(), data.clone());
            tasks.push(monoio::spawn(async move {
                part(&store, "big/object", &id, i as u32 + 1, &data, 100_000)
                    .await
                    .unwrap()
            }));
        }
        let mut etags: Vec<String> = Vec::new();
        for t in tasks {
            etags.push(t.await);
        }
        etags.reverse();
        for (e, p) in etags.iter().zip(&parts) {
            assert_eq!(e, &md5_hex(p));
        }
        let listed = store.list_parts("bkt", "big/object", &id).unwrap();
        assert_eq!(
            listed.iter().map(|p| p.number).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(listed[3].size, 300_001);
        assert_eq!(
            listed[0].headers,
            [("x-amz-checksum-crc32".to_owned(), "AAAAAA==".to_owned())]
        );
        let staged = std::fs::metadata(root.0.join(format!(".sluice/multipart/{id}/data")))
            .unwrap()
            .ino();
        let list: Vec<(u32, String)> = etags
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u32 + 1, format!("\"{e}\"")))
            .collect();
        let info = store
            .complete_multipart("bkt", "big/object", &id, &list, &WriteCondition::Always)
            .await
            .unwrap();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        assert_eq!(info.meta.etag, s3_etag(&refs));
        assert_eq!(info.size, 3 * (1 << 20) + 300_001);
        let object = root.0.join("bkt/big/object");
        assert_eq!(
            std::fs::metadata(&object).unwrap().ino(),
            staged,
            "the staged file became the object: nothing copied"
        );
        assert_eq!(
            get(&store, "bkt", "big/object").await.unwrap(),
            parts.concat()
        );
        let head = store.head_object("bkt", "big/object").unwrap();
        assert_eq!(head.meta.header("content-type"), Some("video/mp4"));
        assert_eq!(head.meta.etag, info.meta.etag);
        let left: Vec<_> = std::fs::read_dir(root.0.join(format!(".sluice/multipart/{id}")))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["completed"], "staging is only the marker (issue 13)");
        assert!(matches!(
            store.list_parts("bkt", "big/object", &id),
            Err(StoreError::NoSuchUpload)
        ));
    });
}

#[test]
fn irregular_parts_and_subsets_are_joined() {
    run(|| async {
        let (_root, store) = store("mpu-join");
        // Part 1 is not a whole number of blocks: no shared layout at all.
        let id = store.create_multipart("bkt", "k", Vec::new()).unwrap();
        let parts = [content(5, 100_003), content(6, 70_000), content(7, 5)];
        let mut list = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            list.push((
                i as u32 + 1,
                part(&store, "k", &id, i as u32 + 1, p, 4096).await.unwrap(),
            ));
        }
        let info = store
            .complete_multipart("bkt", "k", &id, &list, &WriteCondition::Always)
            .await
            .unwrap();
        assert_eq!(get(&store, "bkt", "k").await.unwrap(), parts.concat());
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        assert_eq!(info.meta.etag, s3_etag(&refs));

        // Equal parts, but completed with a subset (1 and 3) and a re-upload.
        let id = store.create_multipart("bkt", "k2", Vec::new()).unwrap();
        let a = content(8, 65_536);
        let b = content(9, 65_536);
        let c = content(10, 65_536);
        let c2 = content(11, 40_000);
        let ea = part(&store, "k2", &id, 1, &a, 65_536).await.unwrap();
        part(&store, "k2", &id, 2, &b, 65_536).await.unwrap();
        part(&store, "k2", &id, 3, &c, 65_536).await.unwrap();
        let ec2 = part(&store, "k2", &id, 3, &c2, 1000).await.unwrap();
        assert!(
            matches!(
                store
                    .complete_multipart(
                        "bkt",
                        "k2",
                        &id,
                        &[(1, ea.clone()), (3, md5_hex(&c))],
                        &WriteCondition::Always
                    )
                    .await,
                Err(StoreError::InvalidPart)
            ),
            "the replaced part's ETag no longer matches"
        );
        store
            .complete_multipart(
                "bkt",
                "k2",
                &id,
                &[(1, ea), (3, ec2)],
                &WriteCondition::Always,
            )
            .await
            .unwrap();
        assert_eq!(get(&store, "bkt", "k2").await.unwrap(), [a, c2].concat());
    });
}

#[test]
fn client_errors() {
    run(|| async {
        let (root, store) = store("mpu-errors");
        let id = store.create_multipart("bkt", "k", Vec::new()).unwrap();
        let big = content(1, 65_536);
        let small = content(2, 1000);
        let e1 = part(&store, "k", &id, 1, &small, 1000).await.unwrap();
        let e2 = part(&store, "k", &id, 2, &big, 65_536).await.unwrap();
        let complete = |parts: Vec<(u32, String)>| {
            let (store, id) = (store.clone(), id.clone());
            async move {
                store
                    .complete_multipart("bkt", "k", &id, &parts, &WriteCondition::Always)
                    .await
            }
        };
        assert!(matches!(
            complete(vec![(1, e1.clone()), (2, e2.clone())]).await,
            Err(StoreError::EntityTooSmall)
        ));
        assert!(matches!(
            complete(vec![(2, e2.clone()), (1, e1.clone())]).await,
            Err(StoreError::InvalidPartOrder)
        ));
        assert!(matches!(
            complete(vec![(2, e2.clone()), (2, e2.clone())]).await,
            Err(StoreError::InvalidPartOrder)
        ));
        assert!(matches!(
            complete(vec![(1, "0".repeat(32))]).await,
            Err(StoreError::InvalidPart)
        ));
        assert!(matches!(
            complete(vec![(7, e1.clone())]).await,
            Err(StoreError::InvalidPart)
        ));
        assert!(matches!(
            complete(Vec::new()).await,
            Err(StoreError::InvalidPart)
        ));
        for n in [0, 10_001] {
            assert!(matches!(
                store.upload_part("bkt", "k", &id, n, Some(1)),
                Err(StoreError::InvalidPart)
            ));
        }
        for (key, upload) in [
            ("other", id.as_str()),
            ("k", "0123456789abcdef0123456789abcdef"),
            ("k", "../../etc"),
        ] {
            assert!(
                matches!(
                    store.upload_part("bkt", key, upload, 1, Some(1)),
                    Err(StoreError::NoSuchUpload)
                ),
                "{key} {upload}"
            );
        }
        // A part shorter than its Content-Length is not recorded.
        let mut w = store.upload_part("bkt", "k", &id, 3, Some(10)).unwrap();
        let mut buf = AlignedBuf::new(4096);
        buf.extend_from_slice(b"short");
        w.write(buf).await.unwrap();
        assert!(w.finish(Vec::new()).await.is_err());
        assert_eq!(store.list_parts("bkt", "k", &id).unwrap().len(), 2);
        // Listing and aborting.
        let other = store
            .create_multipart("bkt", "a-first", Vec::new())
            .unwrap();
        let uploads = store.list_uploads("bkt").unwrap();
        assert_eq!(
            uploads.iter().map(|u| u.key.as_str()).collect::<Vec<_>>(),
            ["a-first", "k"]
        );
        store.abort_multipart("bkt", "k", &id).unwrap();
        assert!(matches!(
            store.abort_multipart("bkt", "k", &id),
            Err(StoreError::NoSuchUpload)
        ));
        assert!(matches!(
            store.head_object("bkt", "k"),
            Err(StoreError::NoSuchKey)
        ));
        assert_eq!(
            store
                .remove_stale_uploads(std::time::Duration::ZERO)
                .unwrap(),
            1
        );
        assert!(matches!(
            store.list_parts("bkt", "a-first", &other),
            Err(StoreError::NoSuchUpload)
        ));
        let left: Vec<_> = std::fs::read_dir(root.0.join(".sluice/multipart"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "abort and cleanup remove everything");
    });
}

/// One step of a client (or several) working on one multipart upload.
#[derive(Debug, Clone)]
enum Step {
    /// Start an upload of part `n`: a whole slot (64 KiB), half a slot, or
    /// an unaligned size.
    Start { n: u32, kind: u8 },
    /// Send the next 16 KiB of an open part upload.
    Write { which: usize },
    /// Send the rest and finish it (the part is verified).
    Finish { which: usize },
    /// The upload fails: a bad checksum, a client gone, a kill.
    Fail { which: usize },
    /// CompleteMultipartUpload of parts 1..=upto, with one ETag possibly
    /// stale (that of an earlier upload of its number).
    Complete { upto: u32, stale: Option<u32> },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (1u32..=4, 0u8..3).prop_map(|(n, kind)| Step::Start { n, kind }),
        4 => any::<usize>().prop_map(|which| Step::Write { which }),
        3 => any::<usize>().prop_map(|which| Step::Finish { which }),
        1 => any::<usize>().prop_map(|which| Step::Fail { which }),
        1 => (1u32..=4, proptest::option::of(1u32..=4))
            .prop_map(|(upto, stale)| Step::Complete { upto, stale }),
    ]
}

/// A part upload in progress: its writer and all the bytes it will send.
struct Open {
    n: u32,
    writer: sluice_core::PartWriter,
    data: Vec<u8>,
    sent: usize,
}

async fn send(open: &mut Open, upto: usize) -> Result<(), StoreError> {
    while open.sent < upto {
        let end = (open.sent + 16 * 1024).min(upto);
        let mut buf = AlignedBuf::new(16 * 1024);
        buf.extend_from_slice(&open.data[open.sent..end]);
        open.writer.write(buf).await?;
        open.sent = end;
    }
    Ok(())
}

/// Runs `steps` against a store and checks every Complete against the
/// model: the verified uploads of each part number, newest last.
async fn run_steps(steps: Vec<Step>) {
    let root = TempRoot::new("mpu-model");
    let opts = StoreOptions {
        min_part_size: 16 * 1024,
        ..StoreOptions::default()
    };
    let store = Store::open(&root.0, opts).unwrap();
    store.create_bucket("bkt").unwrap();
    let id = store.create_multipart("bkt", "obj", Vec::new()).unwrap();
    let mut verified: std::collections::BTreeMap<u32, Vec<(String, Vec<u8>)>> =
        std::collections::BTreeMap::new();
    let mut open: Vec<Open> = Vec::new();
    let mut seed = 1000;
    for step in steps {
        match step {
            Step::Start { n, kind } => {
                let len = match kind {
                    0 => 64 * 1024,
                    1 => 32 * 1024,
                    _ => 20_000 + seed as usize % 9000,
                };
                seed += 1;
                let data = content(seed, len);
                let writer = store
                    .upload_part("bkt", "obj", &id, n, Some(len as u64))
                    .unwrap();
                open.push(Open {
                    n,
                    writer,
                    data,
                    sent: 0,
                });
            }
            Step::Write { which } if !open.is_empty() => {
                let i = which % open.len();
                let upto = (open[i].sent + 16 * 1024).min(open[i].data.len());
                send(&mut open[i], upto).await.unwrap();
            }
            Step::Finish { which } if !open.is_empty() => {
                let mut o = open.remove(which % open.len());
                let len = o.data.len();
                send(&mut o, len).await.unwrap();
                let info = o.writer.finish(Vec::new()).await.unwrap();
                assert_eq!(info.etag, md5_hex(&o.data));
                verified.entry(o.n).or_default().push((info.etag, o.data));
            }
            Step::Fail { which } if !open.is_empty() => {
                drop(open.remove(which % open.len()));
            }
            Step::Complete { upto, stale } => {
                let mut list = Vec::new();
                let mut expected = Some(Vec::new());
                for n in 1..=upto {
                    let versions = verified.get(&n).map(Vec::as_slice).unwrap_or_default();
                    let current = versions.last();
                    let older = versions.iter().rev().nth(1);
                    let chosen = match (stale == Some(n), older, current) {
                        (true, Some(old), Some(cur)) if old.0 != cur.0 => {
                            expected = None;
                            old
                        }
                        (_, _, Some(cur)) => cur,
                        _ => {
                            expected = None;
                            list.push((n, md5_hex(b"never uploaded")));
                            continue;
                        }
                    };
                    if let Some(e) = expected.as_mut() {
                        e.extend_from_slice(&chosen.1);
                    }
                    list.push((n, chosen.0.clone()));
                }
                let result = store
                    .complete_multipart("bkt", "obj", &id, &list, &WriteCondition::Always)
                    .await;
                let Some(expected) = expected else {
                    assert!(
                        matches!(result, Err(StoreError::InvalidPart)),
                        "a missing or stale part must fail the Complete: {result:?}"
                    );
                    continue;
                };
                result.unwrap();
                assert!(
                    get(&store, "bkt", "obj").await.unwrap() == expected,
                    "the object is exactly the named verified parts"
                );
                // Uploads still running when Complete answered finish now,
                // or fail: the object does not change either way.
                for mut o in open.drain(..) {
                    let len = o.data.len();
                    if send(&mut o, len).await.is_ok() {
                        let _ = o.writer.finish(Vec::new()).await;
                    }
                }
                assert!(
                    get(&store, "bkt", "obj").await.unwrap() == expected,
                    "nothing written after Complete changes the object"
                );
                drop(root);
                return;
            }
            _ => {}
        }
    }
    // Never completed: ListParts shows exactly the last verified uploads.
    let listed = store.list_parts("bkt", "obj", &id).unwrap();
    let model: Vec<(u32, String)> = verified
        .iter()
        .map(|(n, v)| (*n, v.last().unwrap().0.clone()))
        .collect();
    let seen: Vec<(u32, String)> = listed.into_iter().map(|p| (p.number, p.etag)).collect();
    assert_eq!(seen, model);
    drop(root);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    /// Regression (issue 10): a failed re-upload of a part left its bytes
    /// in the shared file, an upload still running when Complete answered
    /// kept writing into the completed object, and two uploads of one part
    /// number interleaved. Whatever the order of part uploads, re-uploads,
    /// failures and Complete, a completed object is exactly the named
    /// verified parts, or Complete failed.
    #[test]
    fn completed_objects_are_exactly_the_named_verified_parts(
        steps in proptest::collection::vec(step(), 1..80)
    ) {
        sluice_core::block_on(Driver::Auto, run_steps(steps)).unwrap();
    }
}

/// Regression (issue 10): an empty `slot.new` left by a kill between its
/// create and rename made every later aligned part of the upload spin on
/// the runtime thread forever.
#[test]
fn a_leftover_slot_file_does_not_stop_parts() {
    run(|| async {
        let (root, store) = store("mpu-slot-new");
        let id = store.create_multipart("bkt", "k", Vec::new()).unwrap();
        std::fs::write(root.0.join(format!(".sluice/multipart/{id}/slot.new")), b"").unwrap();
        let data = content(7, 64 * 1024);
        let etag = part(&store, "k", &id, 1, &data, 16 * 1024).await.unwrap();
        store
            .complete_multipart("bkt", "k", &id, &[(1, etag)], &WriteCondition::Always)
            .await
            .unwrap();
        assert_eq!(get(&store, "bkt", "k").await.unwrap(), data);
    });
}

/// Regression: the part sizes kept with a multipart object (for GET
/// ?partNumber=N) were one comma-separated list, 8 bytes a part: past about
/// 500 parts the metadata outgrew what ext4 keeps in xattrs (one 4 KiB
/// block) and Complete failed with ENOSPC, so S3's 10,000 parts could not
/// be completed. Equal sizes are now kept as one run.
#[test]
fn an_upload_of_ten_thousand_parts_completes() {
    sluice_core::block_on(Driver::Auto, async {
        let root = TempRoot::new("mpu-10000");
        let opts = StoreOptions {
            min_part_size: 1,
            ..StoreOptions::default()
        };
        let store = Store::open(&root.0, opts).unwrap();
        store.create_bucket("bkt").unwrap();
        let id = store.create_multipart("bkt", "k", Vec::new()).unwrap();
        let mut list = Vec::new();
        let mut expected = Vec::new();
        for n in 1..=10_000u32 {
            let data = if n == 10_000 {
                b"end".to_vec()
            } else {
                format!("{n:07}").into_bytes()
            };
            let etag = part(&store, "k", &id, n, &data, 4096).await.unwrap();
            expected.extend_from_slice(&data);
            list.push((n, etag));
        }
        let info = store
            .complete_multipart("bkt", "k", &id, &list, &WriteCondition::Always)
            .await
            .unwrap();
        assert!(info.meta.etag.ends_with("-10000"));
        assert_eq!(get(&store, "bkt", "k").await.unwrap(), expected);
        let head = store.head_object("bkt", "k").unwrap();
        let sizes = head.meta.header(sluice_core::PART_SIZES_HEADER).unwrap();
        assert!(sizes.len() < 64, "{sizes}");
    })
    .unwrap();
}
