//! Listing checked against a sorted in-memory model of S3 semantics, with
//! proptest: random key sets (with directory objects and names around `/`
//! in byte order), random prefixes, delimiters, start positions and page
//! sizes; pages followed to the end give the whole listing.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::SystemTime;

use common::{put, TempRoot};
use proptest::prelude::*;
use sluice_core::{Driver, ListQuery, Store, StoreError, StoreOptions};

/// Segments chosen to sit on both sides of `/` (0x2F) in byte order.
const SEGMENTS: [&str; 9] = ["a", "a-b", "a.b", "a0", "ab", "B", "~z", "a b", "é"];

fn key() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(SEGMENTS.to_vec()), 1..4),
        any::<bool>(),
    )
        .prop_map(|(segs, marker)| {
            if marker {
                format!("{}/", segs.join("/"))
            } else {
                segs.join("/")
            }
        })
}

#[derive(Debug, PartialEq, Eq)]
enum Item {
    Key(String),
    Prefix(String),
}

fn model(keys: &BTreeSet<String>, q: &ListQuery) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    for k in keys.iter().filter(|k| k.starts_with(&q.prefix)) {
        let rest = &k[q.prefix.len()..];
        let item = match q
            .delimiter
            .as_deref()
            .and_then(|d| rest.find(d).map(|i| (i, d)))
        {
            Some((i, d)) => Item::Prefix(k[..q.prefix.len() + i + d.len()].to_owned()),
            None => Item::Key(k.clone()),
        };
        if items.last() == Some(&item) {
            continue;
        }
        items.push(item);
    }
    let name = |i: &Item| match i {
        Item::Key(k) | Item::Prefix(k) => k.clone(),
    };
    items
        .into_iter()
        .filter(|i| {
            q.start_after
                .as_ref()
                .is_none_or(|s| name(i).as_str() > s.as_str())
        })
        .collect()
}

fn listed(store: &Store, q: &ListQuery) -> (Vec<Item>, bool, Option<String>) {
    let page = store.list_objects("bkt", q).unwrap();
    let mut items: Vec<Item> = page.objects.into_iter().map(|o| Item::Key(o.key)).collect();
    items.extend(page.common_prefixes.into_iter().map(Item::Prefix));
    items.sort_by(|a, b| {
        let n = |i: &Item| match i {
            Item::Key(k) | Item::Prefix(k) => k.clone(),
        };
        n(a).cmp(&n(b))
    });
    (items, page.truncated, page.next_marker)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn listing_matches_the_model(
        keys in prop::collection::vec(key(), 1..40),
        queries in prop::collection::vec((
            prop::sample::select(vec!["", "a", "a/", "a-", "a/a", "a.b/", "é", "a/a-b/", "zz"]),
            prop::sample::select(vec![None, Some("/"), Some("-"), Some("b/")]),
            prop::option::of(key()),
            1usize..8,
        ), 1..6),
    ) {
        let root = TempRoot::new("list");
        let store = Store::open(&root.0, StoreOptions::default()).unwrap();
        store.create_bucket("bkt").unwrap();
        let mut model_keys = BTreeSet::new();
        sluice_core::block_on(Driver::Auto, async {
            for k in &keys {
                match put(&store, "bkt", k, b"x", 1).await {
                    Ok(_) => { model_keys.insert(k.clone()); }
                    // `a` and `a/...` cannot both exist on a filesystem.
                    Err(StoreError::KeyConflict(_)) => {}
                    Err(e) => panic!("{k}: {e:?}"),
                }
            }
        }).unwrap();
        for (prefix, delimiter, start_after, max_keys) in queries {
            let mut q = ListQuery {
                prefix: prefix.to_owned(),
                delimiter: delimiter.map(str::to_owned),
                start_after,
                max_keys,
                with_etag: true,
            };
            let expected = model(&model_keys, &q);
            // Follow the pages to the end.
            let mut all = Vec::new();
            loop {
                let (items, truncated, next) = listed(&store, &q);
                prop_assert!(items.len() <= max_keys);
                all.extend(items);
                if !truncated {
                    prop_assert!(next.is_none());
                    break;
                }
                q.start_after = next;
            }
            prop_assert_eq!(&all, &expected, "query {:?}", q);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `ListQuery::page`, which in-memory backends list with, pages through
    /// any set of keys exactly as the model (and so the file store) does.
    #[test]
    fn pages_of_ordered_keys_match_the_model(
        keys in prop::collection::btree_set(key(), 0..40),
        prefix in prop::sample::select(vec!["", "a", "a/", "a-", "a/a", "a.b/", "é", "zz"]),
        delimiter in prop::sample::select(vec![None, Some("/"), Some("-"), Some("b/")]),
        start_after in prop::option::of(key()),
        max_keys in 1usize..8,
    ) {
        let mut q = ListQuery {
            prefix: prefix.to_owned(),
            delimiter: delimiter.map(str::to_owned),
            start_after,
            max_keys,
            with_etag: false,
        };
        let expected = model(&keys, &q);
        let mut all = Vec::new();
        loop {
            let page = q.page(keys.iter().map(|k| {
                let describe = || sluice_core::ListedObject {
                    key: k.clone(),
                    size: 1,
                    modified: std::time::SystemTime::UNIX_EPOCH,
                    etag: Some("e".into()),
                };
                (k.as_str(), describe)
            }));
            prop_assert!(page.objects.iter().all(|o| o.etag.is_none()));
            let mut items: Vec<Item> = page.objects.into_iter().map(|o| Item::Key(o.key)).collect();
            items.extend(page.common_prefixes.into_iter().map(Item::Prefix));
            items.sort_by(|a, b| {
                let n = |i: &Item| match i {
                    Item::Key(k) | Item::Prefix(k) => k.clone(),
                };
                n(a).cmp(&n(b))
            });
            prop_assert!(items.len() <= max_keys);
            all.extend(items);
            if !page.truncated {
                prop_assert!(page.next_marker.is_none());
                break;
            }
            q.start_after = page.next_marker;
        }
        prop_assert_eq!(&all, &expected, "query {:?}", q);
    }
}

#[test]
fn internal_and_foreign_entries_are_never_listed() {
    let root = TempRoot::new("list-internal");
    let store = Store::open(&root.0, StoreOptions::default()).unwrap();
    store.create_bucket("bkt").unwrap();
    sluice_core::block_on(Driver::Auto, async {
        put(&store, "bkt", "real", b"x", 1).await.unwrap()
    })
    .unwrap();
    let bucket = root.0.join("bkt");
    std::fs::write(bucket.join(".sluice-tmp-1-1"), b"temp").unwrap();
    // What NFS and FUSE clients leave of a removed file still open.
    std::fs::write(bucket.join(".nfs000000000012345600000001"), b"old").unwrap();
    std::fs::write(bucket.join(".fuse_hidden0000001700000002"), b"old").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", bucket.join("link")).unwrap();
    std::fs::create_dir_all(bucket.join("empty/deeper")).unwrap();
    let page = store
        .list_objects(
            "bkt",
            &ListQuery {
                max_keys: 100,
                ..ListQuery::default()
            },
        )
        .unwrap();
    let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["real"]);
    let page = store
        .list_objects(
            "bkt",
            &ListQuery {
                delimiter: Some("/".into()),
                max_keys: 100,
                ..ListQuery::default()
            },
        )
        .unwrap();
    assert!(
        page.common_prefixes.is_empty(),
        "an empty directory is no common prefix"
    );
    assert!(matches!(
        store.list_objects("nope", &ListQuery::default()),
        Err(StoreError::NoSuchBucket)
    ));
}

/// Large directories are cached sorted between pages; a change to the
/// directory between pages must show in the next page.
#[test]
fn pages_of_a_large_directory_see_changes() {
    let root = TempRoot::new("list-large");
    let opts = StoreOptions {
        fdatasync: false,
        ..StoreOptions::default()
    };
    let store = Store::open(&root.0, opts).unwrap();
    store.create_bucket("bkt").unwrap();
    sluice_core::block_on(Driver::Auto, async {
        for i in 0..1500 {
            put(&store, "bkt", &format!("d/k{i:05}"), b"x", 1)
                .await
                .unwrap();
        }
    })
    .unwrap();
    let mut q = ListQuery {
        prefix: "d/".into(),
        max_keys: 500,
        ..ListQuery::default()
    };
    let first = store.list_objects("bkt", &q).unwrap();
    assert_eq!(first.objects.len(), 500);
    assert_eq!(first.next_marker.as_deref(), Some("d/k00499"));
    // Between pages: one key added after the marker, one removed.
    sluice_core::block_on(Driver::Auto, async {
        put(&store, "bkt", "d/k01000a", b"x", 1).await.unwrap()
    })
    .unwrap();
    store.delete_object("bkt", "d/k01200").unwrap();
    q.start_after = first.next_marker;
    let mut rest = Vec::new();
    loop {
        let page = store.list_objects("bkt", &q).unwrap();
        rest.extend(page.objects.into_iter().map(|o| o.key));
        if !page.truncated {
            break;
        }
        q.start_after = page.next_marker;
    }
    assert_eq!(rest.len(), 1000);
    assert!(rest.contains(&"d/k01000a".to_owned()));
    assert!(!rest.contains(&"d/k01200".to_owned()));
    assert!(rest.windows(2).all(|w| w[0] < w[1]));
}

/// A filesystem with coarse timestamps (one second on an NFS server over
/// ext3, two on FAT; another node writing the shared directory) can change
/// a directory without changing its mtime: the cache must not hold the
/// entries of a directory changed within the last two seconds, or a key
/// written then would stay missing from listings for good.
#[test]
fn a_directory_changed_within_its_timestamp_granularity_is_not_served_from_cache() {
    let root = TempRoot::new("list-racy");
    let opts = StoreOptions {
        fdatasync: false,
        ..StoreOptions::default()
    };
    let store = Store::open(&root.0, opts).unwrap();
    store.create_bucket("bkt").unwrap();
    let dir = root.0.join("bkt").join("d");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..1100 {
        std::fs::write(dir.join(format!("k{i:05}")), b"x").unwrap();
    }
    // A coarse filesystem: the mtime is the current whole second, and stays
    // that across the next change.
    let secs = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stamp = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let set_mtime = || {
        std::fs::File::open(&dir)
            .unwrap()
            .set_modified(stamp)
            .unwrap();
    };
    set_mtime();
    let q = ListQuery {
        prefix: "d/".into(),
        max_keys: 5000,
        ..ListQuery::default()
    };
    assert_eq!(store.list_objects("bkt", &q).unwrap().objects.len(), 1100);
    std::fs::write(dir.join("k99999"), b"x").unwrap();
    set_mtime();
    let keys: Vec<String> = store
        .list_objects("bkt", &q)
        .unwrap()
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys.len(), 1101);
    assert_eq!(keys.last().map(String::as_str), Some("d/k99999"));
}
