//! The master keys of encryption at rest: `keys/master.json` in the config
//! directory (mode 0600 in a 0700 folder, written atomically under the
//! config lock), `{"current": N, "keys": {"1": "<base64>", ...}}`.
//!
//! Keys are only ever added: `sluice key rotate` makes a new current key
//! and re-wraps every object's data key with it (the data is not touched);
//! the old keys stay in the ring, so an object a rotation missed (written
//! or retagged while it ran, or an upload in progress) stays readable.
//!
//! Key ids are random, never reused: a ring made again after the file was
//! lost cannot pass for the old one (objects of the lost keys name ids the
//! new ring does not have, and say so). And the store remembers that it
//! has a ring (`<root>/.sluice/keyring`): without the file, servers refuse
//! to start and the CLI to make a new ring, rather than carry on with a
//! ring that opens none of the encrypted objects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use sluice_core::{ListQuery, Store};
use sluice_s3::MasterKeys;

use crate::config::ConfigDir;

const FILE: &str = "keys/master.json";

/// A key ring as kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ring {
    /// The id new data keys are wrapped with.
    pub current: u32,
    /// Keys by id.
    pub keys: BTreeMap<u32, [u8; 32]>,
}

impl Ring {
    fn parse(v: &Value) -> Result<Self, String> {
        let bad = || format!("{FILE} is malformed");
        let current = v
            .get("current")
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok())
            .ok_or_else(bad)?;
        let mut keys = BTreeMap::new();
        for (id, k) in v.get("keys").and_then(Value::as_object).ok_or_else(bad)? {
            let id: u32 = id.parse().map_err(|_| bad())?;
            let raw = k
                .as_str()
                .and_then(|s| sluice_sigv4::base64_decode(s.as_bytes()))
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(bad)?;
            keys.insert(id, raw);
        }
        if !keys.contains_key(&current) {
            return Err(bad());
        }
        Ok(Ring { current, keys })
    }

    fn to_json(&self) -> Value {
        let keys: serde_json::Map<String, Value> = self
            .keys
            .iter()
            .map(|(id, k)| (id.to_string(), Value::from(sluice_sigv4::base64_encode(k))))
            .collect();
        json!({ "current": self.current, "keys": keys })
    }
}

impl MasterKeys for Ring {
    fn current(&self) -> Result<(u32, [u8; 32]), String> {
        self.keys
            .get(&self.current)
            .map(|k| (self.current, *k))
            .ok_or_else(|| "the current master key is missing".into())
    }

    fn get(&self, id: u32) -> Option<[u8; 32]> {
        self.keys.get(&id).copied()
    }
}

/// The ring in `dir`, None when there is none yet.
///
/// # Errors
/// It cannot be read or is malformed.
pub fn load(dir: &ConfigDir) -> Result<Option<Ring>, String> {
    dir.read(FILE)?.map(|v| Ring::parse(&v)).transpose()
}

/// The marker of a store whose objects may be encrypted: it had a ring.
fn marker(root: &Path) -> PathBuf {
    root.join(sluice_core::INTERNAL_DIR).join("keyring")
}

fn lost(dir: &ConfigDir, root: &Path) -> String {
    format!(
        "the master keys are missing: {} is gone but the store in {} has had a key ring ({} says so). \
         Restore keys/master.json from your copy: every encrypted object needs it. \
         (To start over, losing every encrypted object, remove {}.)",
        dir.path().join(FILE).display(),
        root.display(),
        marker(root).display(),
        marker(root).display()
    )
}

/// Checks that the ring of `dir` is there if the store in `root` ever had
/// one (a server refuses to start otherwise).
///
/// # Errors
/// The ring was lost, or cannot be read.
pub fn check(dir: &ConfigDir, root: &Path) -> Result<(), String> {
    if load(dir)?.is_none() && marker(root).exists() {
        return Err(lost(dir, root));
    }
    Ok(())
}

/// A random key id not in `ring`.
fn new_id(ring: &Ring) -> u32 {
    loop {
        let id = u32::from_be_bytes(sluice_core::seal::random()) & 0x7fff_ffff;
        if id != 0 && !ring.keys.contains_key(&id) {
            return id;
        }
    }
}

/// The ring in `dir`, made (one random key) when there is none and the
/// store in `root` never had one.
///
/// # Errors
/// It cannot be read or written; it was lost.
pub fn ensure(dir: &ConfigDir, root: &Path) -> Result<Ring, String> {
    if let Some(r) = load(dir)? {
        return Ok(r);
    }
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir.path())
            .map_err(|e| format!("cannot create {}: {e}", dir.path().display()))?;
    }
    let lock = dir.lock()?;
    if let Some(r) = load(dir)? {
        return Ok(r);
    }
    if marker(root).exists() {
        return Err(lost(dir, root));
    }
    let mut ring = Ring::default();
    let id = new_id(&ring);
    ring.keys.insert(id, sluice_core::seal::random());
    ring.current = id;
    lock.write_json(FILE, &ring.to_json())?;
    let m = marker(root);
    if let Some(parent) = m.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&m, format!("{id}\n"))
        .map_err(|e| format!("cannot write {}: {e}", m.display()))?;
    Ok(ring)
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// The new current key.
    pub key: u32,
    /// Objects whose data key was re-wrapped.
    pub rewrapped: u64,
    /// Objects that could not be (named in the log; still readable with
    /// their old key).
    pub failed: u64,
}

/// Adds a new current key and re-wraps every encrypted object's data key
/// in the store with it.
///
/// # Errors
/// The ring cannot be read or written, or the store listed.
pub fn rotate(dir: &ConfigDir, store: &Store) -> Result<Rotation, String> {
    let ring = {
        let lock = dir.lock()?;
        let Some(mut ring) = load(dir)? else {
            return Err(format!(
                "there is no key ring in {} to rotate (the first encrypted bucket or server makes one; \
                 if keys/master.json was lost, restore it from your copy)",
                dir.path().display()
            ));
        };
        let next = new_id(&ring);
        ring.keys.insert(next, sluice_core::seal::random());
        ring.current = next;
        lock.write_json(FILE, &ring.to_json())?;
        ring
    };
    let mut done = Rotation {
        key: ring.current,
        ..Rotation::default()
    };
    for bucket in store.list_buckets().map_err(|e| e.to_string())? {
        let mut query = ListQuery {
            max_keys: 1000,
            with_etag: false,
            ..ListQuery::default()
        };
        loop {
            let page = store
                .list_objects(&bucket.name, &query)
                .map_err(|e| format!("cannot list {}: {e}", bucket.name))?;
            for o in &page.objects {
                let mut outcome = Ok(false);
                let updated = store.update_headers(&bucket.name, &o.key, |headers| {
                    outcome = sluice_s3::rewrap(headers, &ring);
                });
                match (updated, outcome) {
                    (Ok(_), Ok(true)) => done.rewrapped += 1,
                    (Ok(_), Ok(false)) => {}
                    (Err(e), _) => {
                        // Deleted meanwhile, or hard-linked over POSIX.
                        if !matches!(e, sluice_core::StoreError::NoSuchKey) {
                            eprintln!("cannot re-wrap {}/{}: {e}", bucket.name, o.key);
                            done.failed += 1;
                        }
                    }
                    (_, Err(e)) => {
                        eprintln!("cannot re-wrap {}/{}: {e}", bucket.name, o.key);
                        done.failed += 1;
                    }
                }
            }
            if !page.truncated {
                break;
            }
            query.start_after = page.next_marker;
        }
    }
    Ok(done)
}

/// The ring as servers read it: made when first needed (the first object
/// stored encrypted), reloaded when the file changes (checked at most every
/// 500 ms, and at once for an id it does not know), so a rotation reaches
/// running servers without a restart.
#[derive(Debug)]
pub struct LiveKeys {
    dir: ConfigDir,
    root: PathBuf,
    state: RwLock<(Option<Ring>, Instant, Option<SystemTime>)>,
}

impl LiveKeys {
    /// The ring of `dir` for the store in `root`.
    ///
    /// # Errors
    /// The ring was lost ([`check`]) or cannot be read.
    pub fn start(dir: ConfigDir, root: &Path) -> Result<Arc<Self>, String> {
        check(&dir, root)?;
        let ring = load(&dir)?;
        let mtime = Self::mtime(&dir);
        Ok(Arc::new(LiveKeys {
            dir,
            root: root.to_owned(),
            state: RwLock::new((ring, Instant::now(), mtime)),
        }))
    }

    fn mtime(dir: &ConfigDir) -> Option<SystemTime> {
        std::fs::metadata(dir.path().join(FILE))
            .and_then(|m| m.modified())
            .ok()
    }

    fn refresh(&self, force: bool) {
        let due = self
            .state
            .read()
            .map(|s| force || s.1.elapsed() >= Duration::from_millis(500))
            .unwrap_or(true);
        if !due {
            return;
        }
        let mtime = Self::mtime(&self.dir);
        let Ok(mut s) = self.state.write() else {
            return;
        };
        s.1 = Instant::now();
        if mtime == s.2 {
            return;
        }
        match load(&self.dir) {
            Ok(Some(ring)) => {
                s.0 = Some(ring);
                s.2 = mtime;
            }
            Ok(None) => tracing::error!(
                "the master key file is gone; keeping the keys read before (restore keys/master.json)"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot reload the master keys; keeping the keys read before"),
        }
    }
}

impl MasterKeys for LiveKeys {
    fn current(&self) -> Result<(u32, [u8; 32]), String> {
        self.refresh(false);
        if let Some(ring) = &self
            .state
            .read()
            .map_err(|_| "the key ring lock is poisoned".to_owned())?
            .0
        {
            return ring.current();
        }
        // The first object stored encrypted: make the ring.
        let ring = ensure(&self.dir, &self.root)?;
        let current = ring.current();
        let mut s = self
            .state
            .write()
            .map_err(|_| "the key ring lock is poisoned".to_owned())?;
        s.0 = Some(ring);
        s.2 = Self::mtime(&self.dir);
        current
    }

    fn get(&self, id: u32) -> Option<[u8; 32]> {
        let known = self.state.read().ok()?.0.as_ref().and_then(|r| r.get(id));
        if known.is_some() {
            return known;
        }
        self.refresh(true);
        self.state.read().ok()?.0.as_ref()?.get(id)
    }
}
