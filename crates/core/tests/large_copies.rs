//! Large server-side copies leave the runtime thread to its other tasks
//! (issue 12): while CopyObject or a Complete that joins parts by copying
//! is in progress, another task on the same thread runs (and sees the
//! target not yet published); the copies are byte-exact and the joined
//! upload leaves no staging files. On io_uring and on epoll.
#![allow(clippy::unwrap_used)]

mod common;

use common::{content, get, put, TempRoot};
use sluice_core::{AlignedBuf, Driver, Store, StoreOptions, WriteCondition};

const MIB: usize = 1 << 20;

/// `mib` MiB, each stamped with its index (cheaper to make than
/// [`content`] of the whole length in a debug build).
fn stamped(seed: u64, mib: usize) -> Vec<u8> {
    let noise = content(seed, MIB);
    let mut out = Vec::with_capacity(mib * MIB);
    for i in 0..mib {
        out.extend_from_slice(&(i as u64).to_le_bytes());
        out.extend_from_slice(&noise[8..]);
    }
    out
}

/// Runs `test` on each driver with a store that does not fdatasync: a
/// copy on the runtime thread then completes without ever being pending,
/// so a task queued behind it runs only after it.
fn on_both_drivers_without_sync<F, Fut>(tag: &str, test: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for driver in [Driver::IoUring, Driver::Legacy] {
        let root = TempRoot::new(tag);
        let opts = StoreOptions {
            fdatasync: false,
            min_part_size: 64 * 1024,
            ..StoreOptions::default()
        };
        let store = Store::open(&root.0, opts).unwrap();
        store.create_bucket("bkt").unwrap();
        sluice_core::block_on(driver, test(store)).unwrap();
        // A completed upload leaves only its marker (issue 13: a Complete
        // sent again answers as the first); no part file is left.
        for dir in std::fs::read_dir(root.0.join(".sluice/multipart")).unwrap() {
            let left: Vec<_> = std::fs::read_dir(dir.unwrap().path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(
                left,
                ["completed"],
                "only a completed upload's marker is left"
            );
        }
    }
}

#[test]
fn issue_12_other_tasks_run_while_copy_object_copies() {
    on_both_drivers_without_sync("copy-elsewhere", |store| async move {
        let data = stamped(1, 64);
        put(&store, "bkt", "src", &data, MIB).await.unwrap();
        let copier = store.clone();
        let copy = monoio::spawn(async move {
            copier
                .copy_object("bkt", "src", "bkt", "dst", None, &WriteCondition::Always)
                .await
        });
        let watcher = store.clone();
        let ran_during = monoio::spawn(async move { watcher.head_object("bkt", "dst").is_err() });
        copy.await.unwrap();
        assert!(ran_during.await, "the other task ran only after the copy");
        assert_eq!(get(&store, "bkt", "dst").await.unwrap(), data);
    });
}

#[test]
fn issue_12_other_tasks_run_while_complete_joins_parts() {
    on_both_drivers_without_sync("join-elsewhere", |store| async move {
        let id = store.create_multipart("bkt", "k", Vec::new()).unwrap();
        let (one, three) = (stamped(2, 16), stamped(3, 16));
        let mut list = Vec::new();
        for (n, data) in [(1, &one), (3, &three)] {
            let mut w = store
                .upload_part("bkt", "k", &id, n, Some(data.len() as u64))
                .unwrap();
            for piece in data.chunks(MIB) {
                let mut buf = AlignedBuf::new(MIB);
                buf.extend_from_slice(piece);
                w.write(buf).await.unwrap();
            }
            list.push((n, w.finish(Vec::new()).await.unwrap().etag));
        }
        // Parts 1 and 3 are not 1..K: the staging file cannot become the
        // object, and both parts are copied out of it.
        let completer = store.clone();
        let complete = monoio::spawn(async move {
            completer
                .complete_multipart("bkt", "k", &id, &list, &WriteCondition::Always)
                .await
        });
        let watcher = store.clone();
        let ran_during = monoio::spawn(async move { watcher.head_object("bkt", "k").is_err() });
        complete.await.unwrap();
        assert!(ran_during.await, "the other task ran only after the join");
        assert_eq!(
            get(&store, "bkt", "k").await.unwrap(),
            [one.as_slice(), three.as_slice()].concat()
        );
    });
}
