//! A bucket's creation date (issue 13, case 5): recorded at CreateBucket,
//! not the directory's modification time, which moves whenever a key is
//! added at the top level.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::{on_both_drivers, put};

/// Sets a directory's modification time, as a write into it would.
fn touch(path: &std::path::Path, t: SystemTime) {
    std::fs::File::open(path).unwrap().set_modified(t).unwrap();
}

#[test]
fn creation_date_stays_when_keys_are_added() {
    on_both_drivers("created", |store| async move {
        let before = SystemTime::now() - Duration::from_secs(1);
        store.create_bucket("bkt").unwrap();
        let created = store.head_bucket("bkt").unwrap().created;
        assert!(created >= before && created <= SystemTime::now());
        let dir = store.root().join("bkt");
        touch(
            &dir,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
        );
        assert_eq!(store.head_bucket("bkt").unwrap().created, created);
        put(&store, "bkt", "top-level", b"x", 1).await.unwrap();
        let listed = store.list_buckets().unwrap();
        assert_eq!(listed[0].name, "bkt");
        assert_eq!(listed[0].created, created);
    });
}

#[test]
fn posix_made_bucket_is_as_old_as_its_directory() {
    on_both_drivers("created-posix", |store| async move {
        let before = SystemTime::now() - Duration::from_secs(1);
        let dir = store.root().join("posix-made");
        std::fs::create_dir(&dir).unwrap();
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        touch(&dir, old);
        let created = store.head_bucket("posix-made").unwrap().created;
        // The birth time where the filesystem keeps one, else the mtime.
        let birth = std::fs::metadata(&dir).unwrap().created().ok();
        match birth {
            Some(b) => {
                assert_eq!(created, b);
                assert!(created >= before);
            }
            None => assert_eq!(created, old),
        }
    });
}
