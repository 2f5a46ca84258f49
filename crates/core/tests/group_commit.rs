//! Group commit (`sluice_core::durable`): PUTs in flight on one thread share
//! syncs, each answered only after a sync that began after its data was
//! written and one that began after its name was linked; and with group
//! commit off, each PUT syncs its own file and directory.
#![allow(clippy::unwrap_used)]

mod common;

use common::{content, get, put, TempRoot};
use sluice_core::{durable, Driver, Store, StoreOptions};

fn store(root: &TempRoot, group_commit: bool) -> Store {
    Store::open(
        &root.0,
        StoreOptions {
            group_commit,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

async fn put_many(store: &Store, n: u64) {
    store.create_bucket("group").unwrap();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            monoio::spawn(async move {
                let data = content(i, 4096 + i as usize);
                put(&store, "group", &format!("dir{}/k{i}", i % 3), &data, 4096)
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    for i in 0..n {
        let got = get(store, "group", &format!("dir{}/k{i}", i % 3))
            .await
            .unwrap();
        assert_eq!(got, content(i, 4096 + i as usize));
    }
}

// One test, so that the process-wide counts move only with it.
#[test]
fn puts_in_flight_share_syncs_and_each_waits_for_two() {
    for driver in [Driver::IoUring, Driver::Legacy] {
        let root = TempRoot::new("group-commit");
        let s = store(&root, true);
        let (syncs, waits) = durable::stats();
        sluice_core::block_on(driver, put_many(&s, 48)).unwrap();
        let (syncs, waits) = (durable::stats().0 - syncs, durable::stats().1 - waits);
        assert_eq!(
            waits, 96,
            "{driver:?}: each PUT waits for its data, then its name"
        );
        assert!(syncs >= 2, "{driver:?}: {syncs} syncs");
        assert!(
            syncs < 48,
            "{driver:?}: {syncs} syncs for 48 PUTs in flight: not shared"
        );

        // Without group commit: the same PUTs, no syncfs.
        let root = TempRoot::new("no-group-commit");
        let s = store(&root, false);
        let before = durable::stats();
        sluice_core::block_on(driver, put_many(&s, 16)).unwrap();
        assert_eq!(durable::stats(), before, "{driver:?}");
    }
}
