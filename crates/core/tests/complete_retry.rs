//! Issue 13: a Complete sent again after it succeeded (its answer lost) is
//! answered from the marker the upload leaves, without publishing again;
//! other part lists, other keys and a changed key get NoSuchUpload; Abort
//! of a completed upload succeeds and changes nothing; the stale-upload
//! cleaner removes the marker after its age. Also the states a kill leaves
//! around the publish: before it the upload completes as usual, after it
//! the retry finishes the job.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{content, get, put, TempRoot};
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

async fn part(store: &Store, key: &str, id: &str, n: u32, data: &[u8]) -> String {
    let mut w = store
        .upload_part("bkt", key, id, n, Some(data.len() as u64))
        .unwrap();
    let mut buf = AlignedBuf::new(data.len().next_multiple_of(4096));
    buf.extend_from_slice(data);
    w.write(buf).await.unwrap();
    w.finish(Vec::new()).await.unwrap().etag
}

/// An upload of two parts: `first` bytes (a whole number of blocks
/// completes in place, others are joined) and 1000 bytes.
async fn upload(store: &Store, key: &str, first: usize) -> (String, Vec<(u32, String)>, Vec<u8>) {
    let id = store.create_multipart("bkt", key, Vec::new()).unwrap();
    let (a, b) = (content(1, first), content(2, 1000));
    let parts = vec![
        (1, format!("\"{}\"", part(store, key, &id, 1, &a).await)),
        (2, part(store, key, &id, 2, &b).await),
    ];
    (id, parts, [a, b].concat())
}

fn staging(root: &Path, id: &str) -> PathBuf {
    root.join(".sluice/multipart").join(id)
}

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn run<F: std::future::Future<Output = ()>>(f: impl Fn() -> F) {
    for driver in [Driver::IoUring, Driver::Legacy] {
        sluice_core::block_on(driver, f()).unwrap();
    }
}

const ALWAYS: WriteCondition = WriteCondition::Always;

#[test]
fn issue_13_complete_sent_again_answers_the_same_object() {
    run(|| async {
        let (root, store) = store("retry-same");
        // In place (the staged file becomes the object) and joined.
        for (key, first) in [("in/place", 128 * 1024), ("joined", 100_000)] {
            let (id, parts, data) = upload(&store, key, first).await;
            let done = store
                .complete_multipart("bkt", key, &id, &parts, &ALWAYS)
                .await
                .unwrap();
            let path = root.0.join("bkt").join(key);
            let inode = std::fs::metadata(&path).unwrap().ino();
            assert_eq!(names(&staging(&root.0, &id)), ["completed"], "{key}");
            assert!(store.list_uploads("bkt").unwrap().is_empty());
            assert!(matches!(
                store.list_parts("bkt", key, &id),
                Err(StoreError::NoSuchUpload)
            ));
            assert!(matches!(
                store.upload_part("bkt", key, &id, 3, Some(10)),
                Err(StoreError::NoSuchUpload)
            ));
            for cond in [ALWAYS, WriteCondition::Absent] {
                let again = store
                    .complete_multipart("bkt", key, &id, &parts, &cond)
                    .await
                    .unwrap();
                assert_eq!(again.meta.etag, done.meta.etag, "{key}");
                assert_eq!(again.size, data.len() as u64);
            }
            assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode, "{key}");
            assert_eq!(get(&store, "bkt", key).await.unwrap(), data);
        }
    });
}

#[test]
fn issue_13_other_parts_other_keys_and_changed_objects_are_no_such_upload() {
    run(|| async {
        let (_root, store) = store("retry-other");
        let (id, parts, data) = upload(&store, "k", 128 * 1024).await;
        store
            .complete_multipart("bkt", "k", &id, &parts, &ALWAYS)
            .await
            .unwrap();
        let zero = (2, "0".repeat(32));
        for other in [
            vec![parts[0].clone()],
            vec![parts[0].clone(), zero],
            vec![parts[0].clone(), (3, parts[1].1.clone())],
        ] {
            let r = store
                .complete_multipart("bkt", "k", &id, &other, &ALWAYS)
                .await;
            assert!(matches!(r, Err(StoreError::NoSuchUpload)), "{r:?}");
        }
        let r = store
            .complete_multipart("bkt", "other", &id, &parts, &ALWAYS)
            .await;
        assert!(matches!(r, Err(StoreError::NoSuchUpload)), "{r:?}");
        assert!(matches!(
            store.abort_multipart("bkt", "other", &id),
            Err(StoreError::NoSuchUpload)
        ));
        // Abort of the completed upload: succeeds, changes nothing.
        store.abort_multipart("bkt", "k", &id).unwrap();
        assert_eq!(get(&store, "bkt", "k").await.unwrap(), data);
        store
            .complete_multipart("bkt", "k", &id, &parts, &ALWAYS)
            .await
            .unwrap();
        // Overwritten by a PUT: the PUT's object stays, the retry is refused.
        put(&store, "bkt", "k", b"newer", 4096).await.unwrap();
        let r = store
            .complete_multipart("bkt", "k", &id, &parts, &ALWAYS)
            .await;
        assert!(matches!(r, Err(StoreError::NoSuchUpload)), "{r:?}");
        assert_eq!(get(&store, "bkt", "k").await.unwrap(), b"newer");
        store.delete_object("bkt", "k").unwrap();
        let r = store
            .complete_multipart("bkt", "k", &id, &parts, &ALWAYS)
            .await;
        assert!(matches!(r, Err(StoreError::NoSuchUpload)), "{r:?}");
        assert!(get(&store, "bkt", "k").await.is_err());
    });
}

#[test]
fn issue_13_the_stale_upload_cleaner_removes_markers_after_their_age() {
    run(|| async {
        let (root, store) = store("retry-stale");
        let (id, parts, _) = upload(&store, "k", 100_000).await;
        store
            .complete_multipart("bkt", "k", &id, &parts, &ALWAYS)
            .await
            .unwrap();
        assert_eq!(
            store
                .remove_stale_uploads(Duration::from_secs(3600))
                .unwrap(),
            0
        );
        store
            .complete_multipart("bkt", "k", &id, &parts, &ALWAYS)
            .await
            .unwrap();
        assert_eq!(store.remove_stale_uploads(Duration::ZERO).unwrap(), 1);
        assert!(!staging(&root.0, &id).exists());
        let r = store
            .complete_multipart("bkt", "k", &id, &parts, &ALWAYS)
            .await;
        assert!(matches!(r, Err(StoreError::NoSuchUpload)), "{r:?}");
        assert!(matches!(
            store.abort_multipart("bkt", "k", &id),
            Err(StoreError::NoSuchUpload)
        ));
    });
}

/// The folder a kill leaves between the `completed` record and the
/// shrink: the upload as it was, plus the record.
async fn killed_state(
    root: &Path,
    store: &Store,
    key: &str,
) -> (String, Vec<(u32, String)>, Vec<u8>) {
    let (id, parts, data) = upload(store, key, 100_000).await;
    let dir = staging(root, &id);
    let saved = root.join("saved");
    copy_dir(&dir, &saved);
    store
        .complete_multipart("bkt", key, &id, &parts, &ALWAYS)
        .await
        .unwrap();
    let record = std::fs::read(dir.join("completed")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    copy_dir(&saved, &dir);
    std::fs::remove_dir_all(&saved).unwrap();
    std::fs::write(dir.join("completed"), record).unwrap();
    (id, parts, data)
}

#[test]
fn issue_13_a_kill_around_the_publish_leaves_the_upload_completable_or_completed() {
    run(|| async {
        let (root, store) = store("retry-killed");
        // Killed after the publish: the retry answers and finishes the job.
        let (id, parts, data) = killed_state(&root.0, &store, "after").await;
        let path = root.0.join("bkt/after");
        let inode = std::fs::metadata(&path).unwrap().ino();
        store
            .complete_multipart("bkt", "after", &id, &parts, &ALWAYS)
            .await
            .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(get(&store, "bkt", "after").await.unwrap(), data);
        assert_eq!(names(&staging(&root.0, &id)), ["completed"]);
        // Killed before the publish: the object is not there, the upload
        // completes as if nothing had happened.
        let (id, parts, data) = killed_state(&root.0, &store, "before").await;
        store.delete_object("bkt", "before").unwrap();
        assert_eq!(store.list_uploads("bkt").unwrap().len(), 1);
        store
            .complete_multipart("bkt", "before", &id, &parts, &ALWAYS)
            .await
            .unwrap();
        assert_eq!(get(&store, "bkt", "before").await.unwrap(), data);
        assert_eq!(names(&staging(&root.0, &id)), ["completed"]);
        assert!(store.list_uploads("bkt").unwrap().is_empty());
    });
}
