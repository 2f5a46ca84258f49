//! DeleteBucket of a bucket that lists as empty (issue 13, case 4): a bucket
//! whose only contents are directories made over POSIX is deleted with
//! them; anything else below it (a file, a directory object, a symlink, a
//! PUT in flight) keeps it, and nothing is removed.
#![allow(clippy::unwrap_used)]

mod common;

use common::{get, on_both_drivers, put};
use sluice_core::{AlignedBuf, StoreError};

#[test]
fn only_posix_directories_is_empty() {
    on_both_drivers("rb-dirs", |store| async move {
        store.create_bucket("bkt").unwrap();
        for d in ["a/b/c", "a/d", "e", ".hidden/x"] {
            std::fs::create_dir_all(store.root().join("bkt").join(d)).unwrap();
        }
        let listed = store
            .list_objects("bkt", &sluice_core::ListQuery::default())
            .unwrap();
        assert!(listed.objects.is_empty() && listed.common_prefixes.is_empty());
        store.delete_bucket("bkt").unwrap();
        assert!(!store.root().join("bkt").exists());
        assert!(matches!(
            store.head_bucket("bkt"),
            Err(StoreError::NoSuchBucket)
        ));
    });
}

#[test]
fn anything_but_a_directory_keeps_the_bucket_whole() {
    on_both_drivers("rb-kept", |store| async move {
        let outside = store.root().join("outside-dir");
        std::fs::create_dir_all(&outside).unwrap();
        for what in ["file", "symlink", "temporary"] {
            store.create_bucket("bkt").unwrap();
            let b = store.root().join("bkt");
            std::fs::create_dir_all(b.join("deep/down")).unwrap();
            std::fs::create_dir_all(b.join("empty/one")).unwrap();
            match what {
                "file" => std::fs::write(b.join("deep/down/f"), b"x").unwrap(),
                "symlink" => std::os::unix::fs::symlink(&outside, b.join("deep/link")).unwrap(),
                _ => std::fs::write(b.join("deep/.sluice-tmp-1-1"), b"").unwrap(),
            }
            assert!(
                matches!(store.delete_bucket("bkt"), Err(StoreError::BucketNotEmpty)),
                "{what}"
            );
            assert!(b.join("empty/one").is_dir(), "{what}: nothing removed");
            assert!(b.join("deep/down").is_dir(), "{what}: nothing removed");
            assert!(outside.is_dir());
            std::fs::remove_dir_all(&b).unwrap();
        }
    });
}

#[test]
fn a_directory_object_is_an_object() {
    on_both_drivers("rb-dirobj", |store| async move {
        store.create_bucket("bkt").unwrap();
        std::fs::create_dir_all(store.root().join("bkt/posix/empty")).unwrap();
        put(&store, "bkt", "posix/marked/", b"", 1).await.unwrap();
        assert!(matches!(
            store.delete_bucket("bkt"),
            Err(StoreError::BucketNotEmpty)
        ));
        store.head_object("bkt", "posix/marked/").unwrap();
        assert!(store.root().join("bkt/posix/empty").is_dir());
        store.delete_object("bkt", "posix/marked/").unwrap();
        store.delete_bucket("bkt").unwrap();
    });
}

#[test]
fn a_put_in_flight_keeps_the_bucket() {
    on_both_drivers("rb-inflight", |store| async move {
        store.create_bucket("bkt").unwrap();
        std::fs::create_dir_all(store.root().join("bkt/posix/dir")).unwrap();
        for key in ["posix/dir/k", "top", "new/parent/k"] {
            let mut w = store.put_object("bkt", key, Some(3)).unwrap();
            let mut buf = AlignedBuf::new(4096);
            buf.extend_from_slice(b"abc");
            w.write(buf).await.unwrap();
            assert!(
                matches!(store.delete_bucket("bkt"), Err(StoreError::BucketNotEmpty)),
                "{key}"
            );
            assert!(
                store.root().join("bkt/posix/dir").is_dir(),
                "{key}: nothing removed"
            );
            w.finish(Vec::new()).await.unwrap();
            assert_eq!(get(&store, "bkt", key).await.unwrap(), b"abc", "{key}");
            store.delete_object("bkt", key).unwrap();
        }
        store.delete_bucket("bkt").unwrap();
    });
}
