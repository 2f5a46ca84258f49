//! Thread-per-core runtimes: one per requested core, pinned there, each
//! running store operations of its own on the shared store.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::mpsc;

use common::{get, put, TempRoot};
use sluice_core::{start_runtimes, Driver, Store, StoreOptions};

#[test]
fn one_pinned_runtime_per_core() {
    let root = TempRoot::new("runtimes");
    let store = Store::open(&root.0, StoreOptions::default()).unwrap();
    store.create_bucket("bkt").unwrap();
    let cores = sluice_core::pick_cores(&root.0, None);
    assert!(!cores.is_empty());
    let cores: Vec<usize> = cores.into_iter().take(2).collect();
    let (tx, rx) = mpsc::channel();
    let handles = start_runtimes(&cores, Driver::Auto, {
        let store = store.clone();
        move |index| {
            let (store, tx) = (store.clone(), tx.clone());
            async move {
                let affinity = rustix::thread::sched_getaffinity(None).unwrap();
                let pinned: Vec<usize> = (0..64).filter(|&c| affinity.is_set(c)).collect();
                let key = format!("from-{index}");
                put(&store, "bkt", &key, key.as_bytes(), 4096)
                    .await
                    .unwrap();
                let back = get(&store, "bkt", &key).await.unwrap();
                tx.send((index, pinned, back == key.as_bytes())).unwrap();
            }
        }
    })
    .unwrap();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let mut seen: Vec<(usize, Vec<usize>, bool)> = rx.try_iter().collect();
    seen.sort();
    assert_eq!(seen.len(), cores.len());
    for (index, pinned, ok) in seen {
        assert_eq!(
            pinned,
            [cores[index]],
            "runtime {index} is pinned to its core only"
        );
        assert!(ok, "runtime {index} wrote and read its object");
    }
}
