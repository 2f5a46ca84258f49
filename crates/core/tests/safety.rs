//! What the store must refuse or survive: path escapes, symlinks planted in
//! buckets, concurrent writers, a delete racing a write, filesystems without
//! O_DIRECT; and what it must expose: files and directories made over POSIX.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::symlink;

use common::{content, get, md5_hex, on_both_drivers, put, TempRoot};
use sluice_core::{Driver, Store, StoreError, StoreOptions};

#[test]
fn keys_that_try_to_escape_are_refused_before_any_io() {
    on_both_drivers("escape", |store| async move {
        store.create_bucket("bkt").unwrap();
        for key in [
            "../outside",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "./a",
            ".sluice/x",
            "a\0b",
            "",
        ] {
            assert!(
                matches!(
                    store.put_object("bkt", key, None),
                    Err(StoreError::InvalidKey(_))
                ),
                "{key:?}"
            );
            assert!(
                matches!(
                    store.head_object("bkt", key),
                    Err(StoreError::InvalidKey(_))
                ),
                "{key:?}"
            );
            assert!(
                matches!(
                    store.delete_object("bkt", key),
                    Err(StoreError::InvalidKey(_))
                ),
                "{key:?}"
            );
        }
        for bucket in ["..", ".sluice", "../bkt", "bkt/x", "BKT", "a"] {
            assert!(
                matches!(
                    store.head_bucket(bucket),
                    Err(StoreError::InvalidBucketName)
                ),
                "{bucket:?}"
            );
            assert!(
                matches!(
                    store.put_object(bucket, "k", None),
                    Err(StoreError::InvalidBucketName)
                ),
                "{bucket:?}"
            );
        }
    });
}

#[test]
fn symlinks_planted_in_a_bucket_lead_nowhere() {
    on_both_drivers("symlink", |store| async move {
        store.create_bucket("bkt").unwrap();
        let outside = TempRoot::new("outside");
        std::fs::write(outside.0.join("secret"), b"secret").unwrap();
        let bucket = store.root().join("bkt");
        symlink(outside.0.join("secret"), bucket.join("file-link")).unwrap();
        symlink(&outside.0, bucket.join("dir-link")).unwrap();
        symlink("/etc", bucket.join("etc")).unwrap();
        for key in ["file-link", "dir-link/secret", "etc/passwd"] {
            assert!(
                matches!(store.head_object("bkt", key), Err(StoreError::NoSuchKey)),
                "{key}"
            );
            assert!(
                matches!(store.get_object("bkt", key), Err(StoreError::NoSuchKey)),
                "{key}"
            );
        }
        // Writing through a symlinked directory never lands outside.
        assert!(put(&store, "bkt", "dir-link/new", b"x", 1).await.is_err());
        assert!(!outside.0.join("new").exists());
        // Replacing the link itself is an ordinary overwrite of the key.
        put(&store, "bkt", "file-link", b"mine", 4).await.unwrap();
        assert_eq!(std::fs::read(outside.0.join("secret")).unwrap(), b"secret");
        assert_eq!(get(&store, "bkt", "file-link").await.unwrap(), b"mine");
        // A bucket that is a symlink is no bucket.
        symlink(&outside.0, store.root().join("linked")).unwrap();
        assert!(matches!(
            store.head_bucket("linked"),
            Err(StoreError::NoSuchBucket)
        ));
    });
}

#[test]
fn data_written_over_posix_is_served() {
    on_both_drivers("posix", |store| async move {
        let root = store.root().to_path_buf();
        std::fs::create_dir_all(root.join("made-by-cp/photos")).unwrap();
        std::fs::write(root.join("made-by-cp/photos/cat.JPG"), b"jpeg bytes").unwrap();
        std::fs::create_dir_all(root.join("Not_A_Bucket")).unwrap();
        let names: Vec<String> = store
            .list_buckets()
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(
            names,
            ["made-by-cp"],
            "invalid names and .sluice are not buckets"
        );
        let info = store.head_object("made-by-cp", "photos/cat.JPG").unwrap();
        assert!(info.derived);
        assert_eq!(info.size, 10);
        assert_eq!(info.meta.header("content-type"), Some("image/jpeg"));
        assert!(
            info.meta.etag.ends_with("-1"),
            "not mistakable for an MD5: {}",
            info.meta.etag
        );
        assert_eq!(
            get(&store, "made-by-cp", "photos/cat.JPG").await.unwrap(),
            b"jpeg bytes"
        );
        let before = info.meta.etag;
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::write(
            root.join("made-by-cp/photos/cat.JPG"),
            b"jpeg bytes, edited",
        )
        .unwrap();
        assert_ne!(
            store
                .head_object("made-by-cp", "photos/cat.JPG")
                .unwrap()
                .meta
                .etag,
            before
        );
    });
}

#[test]
fn buckets() {
    on_both_drivers("buckets", |store| async move {
        store.create_bucket("one").unwrap();
        store.create_bucket("two.2").unwrap();
        assert!(matches!(
            store.create_bucket("one"),
            Err(StoreError::BucketAlreadyExists)
        ));
        assert!(matches!(
            store.create_bucket("No"),
            Err(StoreError::InvalidBucketName)
        ));
        assert_eq!(store.head_bucket("one").unwrap().name, "one");
        assert!(matches!(
            store.head_bucket("three"),
            Err(StoreError::NoSuchBucket)
        ));
        assert!(matches!(
            store.put_object("three", "k", None),
            Err(StoreError::NoSuchBucket)
        ));
        put(&store, "one", "k", b"v", 1).await.unwrap();
        assert!(matches!(
            store.delete_bucket("one"),
            Err(StoreError::BucketNotEmpty)
        ));
        store.delete_object("one", "k").unwrap();
        store.delete_bucket("one").unwrap();
        assert!(matches!(
            store.delete_bucket("one"),
            Err(StoreError::NoSuchBucket)
        ));
        let names: Vec<String> = store
            .list_buckets()
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(names, ["two.2"]);
    });
}

#[test]
fn concurrent_overwrites_leave_exactly_one_whole_version() {
    on_both_drivers("race", |store| async move {
        store.create_bucket("bkt").unwrap();
        let versions: Vec<Vec<u8>> = (0..8)
            .map(|i| content(i, 2_500_000 + i as usize * 4099))
            .collect();
        for _round in 0..3 {
            let mut tasks = Vec::new();
            for v in &versions {
                let (store, v) = (store.clone(), v.clone());
                tasks.push(monoio::spawn(async move {
                    put(&store, "bkt", "same/key", &v, 300_000).await.unwrap()
                }));
            }
            for t in tasks {
                t.await;
            }
            let got = get(&store, "bkt", "same/key").await.unwrap();
            let head = store.head_object("bkt", "same/key").unwrap();
            assert!(versions.contains(&got), "the object is one whole version");
            assert_eq!(
                head.meta.etag,
                md5_hex(&got),
                "metadata belongs to the same version"
            );
        }
    });
}

#[test]
fn a_delete_that_removes_the_parent_does_not_fail_a_write() {
    on_both_drivers("delete-race", |store| async move {
        store.create_bucket("bkt").unwrap();
        put(&store, "bkt", "d/e/other", b"other", 5).await.unwrap();
        let mut w = store.put_object("bkt", "d/e/mine", Some(4)).unwrap();
        let mut buf = sluice_core::AlignedBuf::new(4096);
        buf.extend_from_slice(b"mine");
        w.write(buf).await.unwrap();
        // Deleting the only visible object empties d/e and d, but a write
        // in progress holds its parent: they stay for it.
        store.delete_object("bkt", "d/e/other").unwrap();
        assert!(store.root().join("bkt/d/e").exists());
        // Removed anyway (over POSIX, or where directories cannot be
        // locked): the publish makes them again.
        std::fs::remove_dir_all(store.root().join("bkt/d")).unwrap();
        w.finish(Vec::new()).await.unwrap();
        assert_eq!(get(&store, "bkt", "d/e/mine").await.unwrap(), b"mine");
    });
}

#[test]
fn buffered_io_gives_the_same_results() {
    let root = TempRoot::new("buffered");
    let opts = StoreOptions {
        direct_io: false,
        ..StoreOptions::default()
    };
    let store = Store::open(&root.0, opts).unwrap();
    assert!(!store.direct_io());
    for driver in [Driver::IoUring, Driver::Legacy] {
        let store = store.clone();
        sluice_core::block_on(driver, async move {
            store.create_bucket("bkt").ok();
            for size in [0usize, 1, 4097, 1_500_000] {
                let data = content(size as u64, size);
                let info = put(&store, "bkt", "k", &data, 65_536).await.unwrap();
                assert_eq!(info.meta.etag, md5_hex(&data));
                assert_eq!(get(&store, "bkt", "k").await.unwrap(), data);
            }
        })
        .unwrap();
    }
}

/// A ramfs mounted for the test, unmounted on drop.
struct Ramfs(TempRoot);

impl Drop for Ramfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.0 .0)
            .status();
    }
}

/// O_DIRECT is probed per filesystem: ramfs refuses it (tmpfs accepts it
/// since Linux 6.6), so a store there must not use it.
#[test]
fn o_direct_is_detected_per_filesystem() {
    let disk = TempRoot::new("disk");
    assert!(
        Store::open(&disk.0, StoreOptions::default())
            .unwrap()
            .direct_io(),
        "the build disk (ext4) takes O_DIRECT"
    );
    if !rustix::process::geteuid().is_root() {
        eprintln!(
            "o_direct_is_detected_per_filesystem: the ramfs half skipped: mounting a ramfs needs \
             root (CI runs as root)"
        );
        return;
    }
    let mount_point = TempRoot::new("ramfs");
    let status = std::process::Command::new("mount")
        .args(["-t", "ramfs", "ramfs"])
        .arg(&mount_point.0)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "mounting a ramfs needs root (tests run as root here)"
    );
    let ramfs = Ramfs(mount_point);
    let store = Store::open(&ramfs.0 .0, StoreOptions::default()).unwrap();
    assert!(!store.direct_io(), "ramfs refuses O_DIRECT");
}
