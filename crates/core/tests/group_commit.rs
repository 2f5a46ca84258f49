//! Group commit (`sluice_core::durable`): PUTs in flight on one thread share
//! syncs, each answered only after a sync that began after its data was
//! written and one that began after its name was linked; with fewer in
//! flight than `GROUP_FROM`, or group commit off, each PUT syncs its own
//! file and directory.
#![allow(clippy::unwrap_used)]

mod common;

use common::{content, get, put, TempRoot};
use sluice_core::{durable, inline_writes, Driver, Store, StoreOptions, INLINE_UP_TO};

fn store(root: &TempRoot, group_commit: bool) -> Store {
    store_with(root, group_commit, true)
}

fn store_with(root: &TempRoot, group_commit: bool, fdatasync: bool) -> Store {
    Store::open(
        &root.0,
        StoreOptions {
            group_commit,
            fdatasync,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

/// A bindfs view (FUSE) of a fresh directory, unmounted on drop.
struct FuseView {
    root: TempRoot,
    _backing: TempRoot,
}

impl FuseView {
    fn mount(tag: &str) -> Result<FuseView, String> {
        if !rustix::process::geteuid().is_root() || !std::path::Path::new("/dev/fuse").exists() {
            return Err("mounting FUSE needs root and /dev/fuse".into());
        }
        let backing = TempRoot::new(&format!("{tag}-backing"));
        let root = TempRoot::new(tag);
        let out = std::process::Command::new("bindfs")
            .arg(&backing.0)
            .arg(&root.0)
            .output()
            .map_err(|e| format!("bindfs: {e} (tools/apt.sh installs it)"))?;
        if !out.status.success() {
            return Err(format!("bindfs: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(FuseView {
            root,
            _backing: backing,
        })
    }
}

impl Drop for FuseView {
    fn drop(&mut self) {
        // Lazily: a descriptor still open there (a sync helper's) must not
        // leave the view mounted.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.root.0)
            .status();
    }
}

/// Sizes around the threshold of writing through the page cache.
const WAVE_SIZES: [u64; 9] = [
    0,
    1,
    4095,
    4096,
    4097,
    INLINE_UP_TO - 1,
    INLINE_UP_TO,
    INLINE_UP_TO + 1,
    65536,
];

/// 32 writers one after the other PUT each size once, so that most PUTs
/// start while others wait for their syncs; every object reads back
/// exactly. The number of the PUTs of at most INLINE_UP_TO bytes.
async fn waves(store: &Store) -> u64 {
    store.create_bucket("waves").unwrap();
    const N: u64 = WAVE_SIZES.len() as u64;
    let (n, len) = (N, |t: u64, j: u64| {
        WAVE_SIZES[((t + j) % N) as usize] as usize
    });
    let tasks: Vec<_> = (0..32u64)
        .map(|t| {
            let store = store.clone();
            monoio::spawn(async move {
                for j in 0..n {
                    let data = content(t * 100 + j, len(t, j));
                    // Pieces of a block and of odd lengths.
                    let piece = if t % 2 == 0 { 4096 } else { 1000 };
                    put(&store, "waves", &format!("w{t}/k{j}"), &data, piece)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    let mut small = 0;
    for t in 0..32 {
        for j in 0..n {
            let got = get(store, "waves", &format!("w{t}/k{j}")).await.unwrap();
            assert_eq!(got, content(t * 100 + j, len(t, j)), "w{t}/k{j}");
            small += u64::from(len(t, j) as u64 <= INLINE_UP_TO);
        }
    }
    small
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
        // The first writes to sync, fewer than GROUP_FROM, sync their own
        // file and directory; the rest wait twice each (data, then name).
        // (On epoll, file I/O blocks the thread: the PUTs reach their
        // syncs one by one and never group.)
        let grouped = 48 - (durable::GROUP_FROM as u64 - 1);
        assert!(waits % 2 == 0, "{driver:?}: {waits} waits");
        // What the syncs keep open is no object (whose space it would hold
        // after a delete) and no directory of the bucket.
        let bucket = root.0.join("group");
        for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                assert!(
                    !target.starts_with(&bucket),
                    "{driver:?}: {} held",
                    target.display()
                );
            }
        }
        if driver == Driver::IoUring {
            assert!(waits >= 2 * grouped, "{driver:?}: {waits} waits");
            assert!(syncs >= 2, "{driver:?}: {syncs} syncs");
            assert!(
                syncs * 4 <= waits,
                "{driver:?}: {syncs} syncs for {waits} waits"
            );
        }

        // Fewer in flight than GROUP_FROM: each its own syncs.
        let root = TempRoot::new("few-in-flight");
        let s = store(&root, true);
        let before = durable::stats();
        sluice_core::block_on(driver, put_many(&s, durable::GROUP_FROM as u64 - 1)).unwrap();
        assert_eq!(durable::stats(), before, "{driver:?}");

        // Group commit off: never a shared sync.
        let root = TempRoot::new("no-group-commit");
        let s = store(&root, false);
        let before = durable::stats();
        sluice_core::block_on(driver, put_many(&s, 48)).unwrap();
        assert_eq!(durable::stats(), before, "{driver:?}");

        // Small PUTs that start while the group syncs go through the page
        // cache: each is still whole when read back, and none larger than
        // INLINE_UP_TO does.
        let root = TempRoot::new("waves");
        let s = store(&root, true);
        let before = inline_writes();
        let small = sluice_core::block_on(driver, waves(&s)).unwrap();
        let inlined = inline_writes() - before;
        assert!(inlined <= small, "{driver:?}: {inlined} of {small}");
        // (How many start while the group syncs depends on timing: 97 of
        // 224 in one run; the first wave starts before any sync.)
        if driver == Driver::IoUring {
            assert!(inlined > 0, "{driver:?}: {inlined} of {small}");
        }

        // Synced alone (group commit off): every body O_DIRECT.
        let root = TempRoot::new("waves-alone");
        let s = store(&root, false);
        let before = inline_writes();
        sluice_core::block_on(driver, waves(&s)).unwrap();
        assert_eq!(inline_writes(), before, "{driver:?}");

        // A FUSE filesystem: its syncfs does not reach the daemon (bindfs's
        // files would stay in the backing filesystem's cache), so every
        // write syncs its own file and directory (FUSE_FSYNC), whatever is
        // in flight, and no body skips O_DIRECT for a shared sync.
        match FuseView::mount("group-fuse") {
            Ok(view) => {
                let s = store(&view.root, true);
                let before = (durable::stats(), inline_writes());
                sluice_core::block_on(driver, put_many(&s, 48)).unwrap();
                sluice_core::block_on(driver, waves(&s)).unwrap();
                assert_eq!((durable::stats(), inline_writes()), before, "{driver:?}");
            }
            Err(why) => eprintln!("skipped the FUSE case: {why}"),
        }

        // Nothing synced: every small body through the page cache.
        let root = TempRoot::new("waves-unsynced");
        let s = store_with(&root, false, false);
        let before = inline_writes();
        let small = sluice_core::block_on(driver, waves(&s)).unwrap();
        assert_eq!(inline_writes() - before, small, "{driver:?}");
    }
}
