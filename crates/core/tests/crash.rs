//! Kills a writer process (SIGKILL) at random points while it PUTs objects
//! and completes multipart uploads, many times over one store, and checks
//! after each kill that every visible object is one whole version (the
//! versions describe themselves) with matching metadata, and that no
//! temporary file is visible in the bucket.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{md5_hex, TempRoot};
use sluice_core::{Driver, ListQuery, Store, StoreOptions};

fn no_temporary_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".sluice"),
            "temporary file visible: {}",
            entry.path().display()
        );
        if entry.file_type().unwrap().is_dir() {
            no_temporary_files(&entry.path());
        }
    }
}

fn check(store: &Store) -> usize {
    let listed = store.list_objects(
        "crash",
        &ListQuery {
            max_keys: 1000,
            with_etag: true,
            ..ListQuery::default()
        },
    );
    // A writer killed before it made its bucket (a slow start on a busy
    // machine) left nothing to check.
    let page = match listed {
        Err(sluice_core::StoreError::NoSuchBucket) => return 0,
        other => other.unwrap(),
    };
    for object in &page.objects {
        let data = std::fs::read(store.root().join("crash").join(&object.key)).unwrap();
        assert!(
            data.len() >= 16,
            "{}: torn ({} bytes)",
            object.key,
            data.len()
        );
        let version = u64::from_le_bytes(data[..8].try_into().unwrap());
        let len = u64::from_le_bytes(data[8..16].try_into().unwrap()) as usize;
        assert_eq!(data.len(), len, "{} v{version}: length", object.key);
        assert!(
            data == sluice_core::testing::self_describing(version, len),
            "{} v{version}: content is not one whole version",
            object.key
        );
        let head = store.head_object("crash", &object.key).unwrap();
        assert!(!head.derived, "{}: metadata missing", object.key);
        if object.key.starts_with("put/") {
            assert_eq!(
                head.meta.etag,
                md5_hex(&data),
                "{}: metadata of another version",
                object.key
            );
        } else {
            assert!(
                head.meta.etag.contains('-'),
                "{}: multipart ETag",
                object.key
            );
        }
    }
    no_temporary_files(&store.root().join("crash"));
    page.objects.len()
}

#[test]
fn sigkill_at_random_points_leaves_only_whole_versions() {
    let root = TempRoot::new("crash");
    let writer = env!("CARGO_BIN_EXE_sluice-crash-writer");
    let mut seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut version = 1u64;
    let mut seen = 0;
    for round in 0..40 {
        let mut child = Command::new(writer)
            .arg(&root.0)
            .arg(version.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // A random point between "just started" and "several objects in".
        std::thread::sleep(Duration::from_millis(5 + seed % 150));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: the writer should have been killed"
        );
        version += 1000;
        let store = Store::open(&root.0, StoreOptions::default()).unwrap();
        seen = seen.max(check(&store));
    }
    assert!(
        seen > 0,
        "no object was ever completed: kill points too early to test anything"
    );
    // What the killed writers left in staging goes with the stale-upload cleanup.
    let store = Store::open(&root.0, StoreOptions::default()).unwrap();
    sluice_core::block_on(Driver::Auto, async {}).unwrap();
    store.remove_stale_uploads(Duration::ZERO).unwrap();
    assert_eq!(
        std::fs::read_dir(root.0.join(".sluice/multipart"))
            .unwrap()
            .count(),
        0
    );
}
