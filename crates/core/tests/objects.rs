//! Objects end to end on a real directory, with io_uring and with epoll:
//! byte-exact round trips at awkward sizes, ranges, ETags, overwrite,
//! delete with parent cleanup, directory objects, key conflicts.
#![allow(clippy::unwrap_used)]

mod common;

use common::{content, get, get_range, md5_hex, on_both_drivers, put};
use sluice_core::{StoreError, WriteCondition, ALIGN};

const SIZES: [usize; 9] = [
    0,
    1,
    4095,
    4096,
    4097,
    65_536,
    1 << 20,
    (1 << 20) + 1,
    3_500_001,
];

#[test]
fn round_trips_at_every_awkward_size_and_piece_length() {
    on_both_drivers("roundtrip", |store| async move {
        store.create_bucket("bkt").unwrap();
        for (i, &size) in SIZES.iter().enumerate() {
            // Block-sized pieces go straight to disk; odd pieces are gathered.
            for piece in [1 << 20, ALIGN, 1000, 777_777] {
                let data = content(i as u64, size);
                let key = format!("dir/{size}-{piece}");
                let info = put(&store, "bkt", &key, &data, piece).await.unwrap();
                assert_eq!(info.size, size as u64);
                assert_eq!(info.meta.etag, md5_hex(&data), "{size}/{piece}");
                assert_eq!(
                    get(&store, "bkt", &key).await.unwrap(),
                    data,
                    "{size}/{piece}"
                );
                let head = store.head_object("bkt", &key).unwrap();
                assert_eq!(
                    (head.size, head.meta.etag.as_str()),
                    (size as u64, md5_hex(&data).as_str())
                );
                assert_eq!(head.meta.header("content-type"), Some("application/test"));
                assert!(!head.derived);
                let on_disk = std::fs::read(store.root().join("bkt").join(&key)).unwrap();
                assert_eq!(on_disk, data, "the file is byte-exact over POSIX too");
            }
        }
    });
}

#[test]
fn ranges() {
    on_both_drivers("ranges", |store| async move {
        store.create_bucket("bkt").unwrap();
        let data = content(7, 3_000_000);
        put(&store, "bkt", "k", &data, 1 << 20).await.unwrap();
        for (start, end) in [
            (0, 1),
            (1, 2),
            (4095, 4097),
            (100, 2_000_000),
            (2_999_999, 3_000_000),
            (1 << 20, 3 << 20),
            (5, 5),
        ] {
            let got = get_range(&store, "bkt", "k", start, end).await.unwrap();
            let end = end.min(data.len() as u64);
            assert_eq!(got, &data[start as usize..end as usize], "{start}..{end}");
        }
    });
}

#[test]
fn overwrite_delete_and_parent_cleanup() {
    on_both_drivers("delete", |store| async move {
        store.create_bucket("bkt").unwrap();
        put(&store, "bkt", "a/b/c/k", b"one", 3).await.unwrap();
        put(&store, "bkt", "a/b/c/k", b"second version", 100)
            .await
            .unwrap();
        assert_eq!(
            get(&store, "bkt", "a/b/c/k").await.unwrap(),
            b"second version"
        );
        // A directory made over POSIX is kept when it empties.
        std::fs::create_dir_all(store.root().join("bkt/posix/dir")).unwrap();
        put(&store, "bkt", "posix/dir/x", b"x", 1).await.unwrap();
        store.delete_object("bkt", "a/b/c/k").unwrap();
        store.delete_object("bkt", "posix/dir/x").unwrap();
        assert!(matches!(
            store.head_object("bkt", "a/b/c/k"),
            Err(StoreError::NoSuchKey)
        ));
        assert!(
            !store.root().join("bkt/a").exists(),
            "store-made parents are removed"
        );
        assert!(
            store.root().join("bkt/posix/dir").is_dir(),
            "POSIX-made directories stay"
        );
        assert!(matches!(
            store.delete_object("bkt", "a/b/c/k"),
            Err(StoreError::NoSuchKey)
        ));
        assert!(
            matches!(
                store.delete_object("bkt", "posix"),
                Err(StoreError::NoSuchKey)
            ),
            "a directory is no object"
        );
        // Only empty directories made over POSIX are left: the bucket
        // lists as empty, so it can be deleted, directories and all
        // (issue 13; it answered BucketNotEmpty).
        store.delete_bucket("bkt").unwrap();
        assert!(!store.root().join("bkt").exists());
    });
}

#[test]
fn key_conflicts_leave_data_intact() {
    on_both_drivers("conflict", |store| async move {
        store.create_bucket("bkt").unwrap();
        put(&store, "bkt", "a", b"file a", 6).await.unwrap();
        let e = put(&store, "bkt", "a/b", b"under a file", 12)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::KeyConflict(_)), "{e:?}");
        assert_eq!(get(&store, "bkt", "a").await.unwrap(), b"file a");
        put(&store, "bkt", "x/y", b"deep", 4).await.unwrap();
        let e = put(&store, "bkt", "x", b"over a directory", 16)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::KeyConflict(_)), "{e:?}");
        assert_eq!(get(&store, "bkt", "x/y").await.unwrap(), b"deep");
        assert!(matches!(
            store.head_object("bkt", "x"),
            Err(StoreError::NoSuchKey)
        ));
    });
}

#[test]
fn directory_objects() {
    on_both_drivers("dirobj", |store| async move {
        store.create_bucket("bkt").unwrap();
        let info = put(&store, "bkt", "folder/", b"", 1).await.unwrap();
        assert_eq!(info.meta.etag, md5_hex(b""));
        assert_eq!(store.head_object("bkt", "folder/").unwrap().size, 0);
        assert!(matches!(
            store.head_object("bkt", "folder"),
            Err(StoreError::NoSuchKey)
        ));
        put(&store, "bkt", "folder/inside", b"i", 1).await.unwrap();
        assert!(
            put(&store, "bkt", "other/", b"data", 4).await.is_err(),
            "directory objects hold no data"
        );
        // Deleting the marker keeps the object below.
        store.delete_object("bkt", "folder/").unwrap();
        assert!(matches!(
            store.head_object("bkt", "folder/"),
            Err(StoreError::NoSuchKey)
        ));
        assert_eq!(get(&store, "bkt", "folder/inside").await.unwrap(), b"i");
        store.delete_object("bkt", "folder/inside").unwrap();
        assert!(!store.root().join("bkt/folder").exists());
    });
}

#[test]
fn an_abandoned_write_leaves_nothing() {
    on_both_drivers("abandon", |store| async move {
        store.create_bucket("bkt").unwrap();
        put(&store, "bkt", "k", b"old", 3).await.unwrap();
        let mut w = store.put_object("bkt", "k", None).unwrap();
        let mut buf = sluice_core::AlignedBuf::new(ALIGN);
        buf.extend_from_slice(&[1u8; ALIGN]);
        w.write(buf).await.unwrap();
        drop(w);
        let mut w = store.put_object("bkt", "new/key", None).unwrap();
        let mut buf = sluice_core::AlignedBuf::new(ALIGN);
        buf.extend_from_slice(b"partial");
        w.write(buf).await.unwrap();
        drop(w);
        assert_eq!(get(&store, "bkt", "k").await.unwrap(), b"old");
        assert!(matches!(
            store.head_object("bkt", "new/key"),
            Err(StoreError::NoSuchKey)
        ));
        // Regression (issue 10): the directory the abandoned write made for
        // its key is gone too, or a later PUT of `new` would conflict.
        let names: Vec<_> = walk(&store.root().join("bkt"));
        assert_eq!(names, ["k"], "no temporary file or directory is left");
        put(&store, "bkt", "new", b"x", 1).await.unwrap();
    });
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn copies() {
    on_both_drivers("copy", |store| async move {
        store.create_bucket("bkt").unwrap();
        store.create_bucket("other").unwrap();
        let data = content(3, 3_000_017);
        let src = put(&store, "bkt", "src/a", &data, 1 << 20).await.unwrap();
        let same = store
            .copy_object(
                "bkt",
                "src/a",
                "other",
                "deep/copy",
                None,
                &WriteCondition::Always,
            )
            .await
            .unwrap();
        assert_eq!(same.meta, src.meta, "COPY keeps metadata and ETag");
        assert_eq!(get(&store, "other", "deep/copy").await.unwrap(), data);
        let headers = vec![("content-type".to_owned(), "text/plain".to_owned())];
        store
            .copy_object(
                "bkt",
                "src/a",
                "bkt",
                "src/a",
                Some(headers.clone()),
                &WriteCondition::Always,
            )
            .await
            .unwrap();
        let head = store.head_object("bkt", "src/a").unwrap();
        assert_eq!(
            (head.meta.headers.clone(), head.meta.etag.clone()),
            (headers, src.meta.etag.clone())
        );
        assert_eq!(
            get(&store, "bkt", "src/a").await.unwrap(),
            data,
            "copying onto itself keeps the data"
        );
        put(&store, "bkt", "small", b"tiny", 4).await.unwrap();
        store
            .copy_object(
                "bkt",
                "small",
                "other",
                "deep/copy",
                None,
                &WriteCondition::Always,
            )
            .await
            .unwrap();
        assert_eq!(
            get(&store, "other", "deep/copy").await.unwrap(),
            b"tiny",
            "copy replaces"
        );
        assert!(matches!(
            store
                .copy_object("bkt", "missing", "bkt", "x", None, &WriteCondition::Always)
                .await,
            Err(StoreError::NoSuchKey)
        ));
        assert!(matches!(
            store
                .copy_object("bkt", "small", "nope", "x", None, &WriteCondition::Always)
                .await,
            Err(StoreError::NoSuchBucket)
        ));
        assert!(matches!(
            store
                .copy_object(
                    "bkt",
                    "small",
                    "bkt",
                    "small/x",
                    None,
                    &WriteCondition::Always
                )
                .await,
            Err(StoreError::KeyConflict(_))
        ));
    });
}

/// Small objects are read through the page cache: from the cache without
/// blocking when the bytes are there, through io_uring when they are not,
/// and from a cache that holds only part of the object.
#[test]
fn small_objects_read_from_disk_cache_and_partly_cached() {
    on_both_drivers("cached", |store| async move {
        store.create_bucket("bkt").unwrap();
        let data = content(11, 200_000);
        put(&store, "bkt", "small", &data, 65_536).await.unwrap();
        // Written with O_DIRECT: not cached, read through io_uring.
        assert_eq!(get(&store, "bkt", "small").await.unwrap(), data);
        // Now cached.
        assert_eq!(get(&store, "bkt", "small").await.unwrap(), data);
        // Partly cached: the first 64 KiB only.
        put(&store, "bkt", "partial", &data, 65_536).await.unwrap();
        assert_eq!(
            get_range(&store, "bkt", "partial", 0, 65_536)
                .await
                .unwrap(),
            &data[..65_536]
        );
        assert_eq!(get(&store, "bkt", "partial").await.unwrap(), data);
        assert_eq!(
            get_range(&store, "bkt", "partial", 70_000, 150_000)
                .await
                .unwrap(),
            &data[70_000..150_000]
        );
    });
}

/// On ext4 a 4 KiB object with a content type and a checksum takes one
/// data block: its metadata fits in the inode, so no xattr block is
/// allocated, written and synced per object.
#[test]
fn small_object_metadata_stays_in_the_inode_on_ext4() {
    use std::os::unix::fs::MetadataExt as _;
    on_both_drivers("inline-meta", |store| async move {
        let fs = rustix::fs::statfs(store.root()).unwrap();
        if fs.f_type as i64 != 0xEF53 {
            eprintln!("not ext4: nothing to check");
            return;
        }
        store.create_bucket("bkt").unwrap();
        let data = content(3, 4096);
        let mut w = store.put_object("bkt", "k", Some(4096)).unwrap();
        let mut buf = sluice_core::AlignedBuf::new(4096);
        buf.extend_from_slice(&data);
        w.write(buf).await.unwrap();
        w.finish(vec![
            ("content-type".into(), "application/octet-stream".into()),
            ("x-amz-checksum-crc32".into(), "AAAAAA==".into()),
        ])
        .await
        .unwrap();
        let md = std::fs::metadata(store.root().join("bkt").join("k")).unwrap();
        assert_eq!(md.len(), 4096);
        assert_eq!(md.blocks(), 8, "one 4 KiB data block, no xattr block");
        let head = store.head_object("bkt", "k").unwrap();
        assert_eq!(head.meta.header("x-amz-checksum-crc32"), Some("AAAAAA=="));
    });
}

/// Regression (issue 10): PutObjectTagging on a file hard-linked to a file
/// outside the root wrote `user.sluice.meta` on that outside inode. Metadata
/// writes are refused on files with other links; reading them still works.
#[test]
fn metadata_writes_never_reach_a_hard_linked_inode() {
    on_both_drivers("hardlink", |store| async move {
        store.create_bucket("bkt").unwrap();
        let outside = store.root().with_extension("outside");
        std::fs::write(&outside, b"not ours").unwrap();
        std::fs::hard_link(&outside, store.root().join("bkt/linked")).unwrap();
        let result = store.update_headers("bkt", "linked", |h| {
            h.push(("x-amz-tagging".into(), "a=b".into()));
        });
        assert!(matches!(result, Err(StoreError::HardLinked)), "{result:?}");
        let fd = rustix::fs::open(
            &outside,
            rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let mut names = [0u8; 256];
        assert_eq!(rustix::fs::flistxattr(&fd, &mut names[..]).unwrap(), 0);
        assert_eq!(get(&store, "bkt", "linked").await.unwrap(), b"not ours");
        std::fs::remove_file(&outside).unwrap();
    });
}

/// Regression (issue 10): six conditional writes of one key raced; every
/// one was acknowledged. The condition is checked when the object is
/// published: of concurrent `If-None-Match: *` writes exactly one wins, and
/// of concurrent `If-Match` writes naming the same ETag exactly one wins.
#[test]
fn concurrent_conditional_writes_let_exactly_one_win() {
    on_both_drivers("conditional", |store| async move {
        store.create_bucket("bkt").unwrap();
        let start = |i: u64| {
            let store = store.clone();
            async move {
                let data = content(i, 100_000);
                let mut w = store
                    .put_object("bkt", "k", Some(data.len() as u64))
                    .unwrap();
                let mut buf = sluice_core::AlignedBuf::new(128 * 1024);
                buf.extend_from_slice(&data);
                w.write(buf).await.unwrap();
                (w, data)
            }
        };
        // All writers have their data in before any publishes.
        let mut writers = Vec::new();
        for i in 0..6 {
            writers.push(start(i).await);
        }
        let mut won = Vec::new();
        for (w, data) in writers {
            match w.finish_if(Vec::new(), &WriteCondition::Absent).await {
                Ok(_) => won.push(data),
                Err(StoreError::PreconditionFailed) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(won.len(), 1, "exactly one If-None-Match: * write wins");
        assert_eq!(get(&store, "bkt", "k").await.unwrap(), won[0]);
        let etag = store.head_object("bkt", "k").unwrap().meta.etag;
        let mut writers = Vec::new();
        for i in 10..16 {
            writers.push(start(i).await);
        }
        let mut won = Vec::new();
        for (w, data) in writers {
            let cond = WriteCondition::EtagMatches(etag.clone());
            match w.finish_if(Vec::new(), &cond).await {
                Ok(_) => won.push(data),
                Err(StoreError::PreconditionFailed) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(won.len(), 1, "exactly one If-Match write wins");
        assert_eq!(get(&store, "bkt", "k").await.unwrap(), won[0]);
        let missing = start(20).await.0;
        let cond = WriteCondition::EtagMatches(etag);
        assert!(matches!(
            missing.finish_if(Vec::new(), &cond).await,
            Err(StoreError::PreconditionFailed)
        ));
        // If-Match on a key with no object: NoSuchKey, as S3 answers.
        let w = store.put_object("bkt", "absent", Some(1)).unwrap();
        assert!(matches!(
            w.finish_if(Vec::new(), &WriteCondition::EtagMatches("*".into()))
                .await,
            Err(StoreError::NoSuchKey)
        ));
    });
}

/// Regression (issue 10): what a PUT killed before publishing left (empty
/// directories the store made for its key) made a later PUT of that
/// directory's own name fail with a conflict forever.
#[test]
fn directories_a_crash_left_do_not_block_a_put() {
    on_both_drivers("debris", |store| async move {
        store.create_bucket("bkt").unwrap();
        let bucket = store.root().join("bkt");
        for dir in ["newdir", "newdir/sub", "newdir/sub/deeper"] {
            std::fs::create_dir(bucket.join(dir)).unwrap();
            let fd = rustix::fs::open(
                bucket.join(dir),
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
                rustix::fs::Mode::empty(),
            )
            .unwrap();
            rustix::fs::fsetxattr(
                &fd,
                "user.sluice.dir",
                b"created",
                rustix::fs::XattrFlags::empty(),
            )
            .unwrap();
        }
        put(&store, "bkt", "newdir", b"now a file", 4)
            .await
            .unwrap();
        assert_eq!(get(&store, "bkt", "newdir").await.unwrap(), b"now a file");
        // A directory made over POSIX is the user's: still a conflict.
        std::fs::create_dir(bucket.join("theirs")).unwrap();
        assert!(matches!(
            put(&store, "bkt", "theirs", b"x", 1).await,
            Err(StoreError::KeyConflict(_))
        ));
        assert!(bucket.join("theirs").is_dir());
    });
}
