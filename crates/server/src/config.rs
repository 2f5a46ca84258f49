//! The config directory (DESIGN.md §5): the cluster record, users and
//! custom policies, as small JSON files every server sharing the
//! directory reads. Writers (the admin CLI) hold an exclusive `flock` on
//! `lock` for the whole change, write each file to a temporary name,
//! fsync it and rename it into place, then bump `generation`; servers poll
//! `generation` and reload everything when it moves. Files are mode 0600
//! in directories of mode 0700: they hold secrets.
//!
//! ```text
//! <config>/cluster.json          name, root, account id, admin user
//! <config>/users/<name>.json     role, secret, policies, POSIX uid/gid
//! <config>/policies/<name>.json  a custom policy document, as given
//! <config>/buckets/<bucket>.json a bucket policy, as given
//! <config>/service-accounts/<key>.json, <config>/sessions/<key>.json
//!                                keys acting for a user, narrowed
//! <config>/generation            a counter, bumped by every change
//! <config>/lock                  the writers' lock
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;
use serde_json::Value;

/// A config directory.
#[derive(Debug, Clone)]
pub struct ConfigDir {
    path: PathBuf,
}

/// The writers' lock, held until dropped.
#[derive(Debug)]
pub struct Locked<'a> {
    dir: &'a ConfigDir,
    _lock: File,
}

fn io(what: &str, p: &Path, e: std::io::Error) -> String {
    format!("cannot {what} {}: {e}", p.display())
}

impl ConfigDir {
    /// The directory at `path` (nothing is checked or created).
    #[must_use]
    pub fn at(path: impl Into<PathBuf>) -> Self {
        ConfigDir { path: path.into() }
    }

    /// Its path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a cluster was created in it.
    #[must_use]
    pub fn has_cluster(&self) -> bool {
        self.path.join("cluster.json").is_file()
    }

    /// Creates the directory and its folders (mode 0700).
    ///
    /// # Errors
    /// It cannot be created.
    pub fn create(&self) -> Result<(), String> {
        for sub in std::iter::once("").chain(RECORD_DIRS) {
            let p = self.path.join(sub);
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&p)
                .map_err(|e| io("create", &p, e))?;
        }
        Ok(())
    }

    /// Takes the writers' lock (waiting for another writer).
    ///
    /// # Errors
    /// The lock file cannot be opened.
    pub fn lock(&self) -> Result<Locked<'_>, String> {
        let p = self.path.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&p)
            .map_err(|e| io("open", &p, e))?;
        rustix::fs::flock(&f, FlockOperation::LockExclusive)
            .map_err(|e| io("lock", &p, e.into()))?;
        Ok(Locked {
            dir: self,
            _lock: f,
        })
    }

    /// The JSON file `rel`, None when it does not exist.
    ///
    /// # Errors
    /// It cannot be read, or is not JSON.
    pub fn read(&self, rel: &str) -> Result<Option<Value>, String> {
        let p = self.path.join(rel);
        let mut text = String::new();
        match File::open(&p) {
            Ok(mut f) => f.read_to_string(&mut text).map_err(|e| io("read", &p, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &p, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{} is not JSON: {e}", p.display()))
    }

    /// The text of file `rel`, None when it does not exist.
    ///
    /// # Errors
    /// It cannot be read.
    pub fn read_text(&self, rel: &str) -> Result<Option<String>, String> {
        let p = self.path.join(rel);
        match fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &p, e)),
        }
    }

    /// The names (without `.json`) of the files in folder `sub`, sorted.
    ///
    /// # Errors
    /// The folder cannot be read.
    pub fn list(&self, sub: &str) -> Result<Vec<String>, String> {
        let p = self.path.join(sub);
        let entries = match fs::read_dir(&p) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read", &p, e)),
        };
        let mut out: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(str::to_owned)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The change counter (0 before the first change).
    #[must_use]
    pub fn generation(&self) -> u64 {
        fs::read_to_string(self.path.join("generation"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Locked<'_> {
    /// Writes `rel` atomically (temporary file, fsync, rename), mode 0600.
    ///
    /// # Errors
    /// It cannot be written.
    pub fn write(&self, rel: &str, data: &[u8]) -> Result<(), String> {
        let p = self.dir.path.join(rel);
        if let Some(parent) = p.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| io("create", parent, e))?;
        }
        let tmp = self.dir.path.join(format!("{rel}.tmp"));
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("write", &tmp, e))?;
        f.write_all(data).map_err(|e| io("write", &tmp, e))?;
        f.sync_all().map_err(|e| io("write", &tmp, e))?;
        fs::rename(&tmp, &p).map_err(|e| io("write", &p, e))?;
        if let Some(parent) = p.parent() {
            if let Ok(d) = File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Writes `rel` as pretty JSON.
    ///
    /// # Errors
    /// It cannot be written.
    pub fn write_json(&self, rel: &str, value: &Value) -> Result<(), String> {
        let mut text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
        text.push('\n');
        self.write(rel, text.as_bytes())
    }

    /// Removes `rel`; true when it existed.
    ///
    /// # Errors
    /// It cannot be removed.
    pub fn remove(&self, rel: &str) -> Result<bool, String> {
        let p = self.dir.path.join(rel);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("remove", &p, e)),
        }
    }

    /// Tells the servers that something changed (call last).
    ///
    /// # Errors
    /// The counter cannot be written.
    pub fn bump(&self) -> Result<(), String> {
        let next = self.dir.generation().saturating_add(1);
        self.write("generation", format!("{next}\n").as_bytes())
    }
}

/// The directories of records a cluster keeps (made by `create`, removed
/// by `sluice cluster destroy`).
pub const RECORD_DIRS: [&str; 6] = [
    "users",
    "policies",
    "buckets",
    "public-access-blocks",
    "service-accounts",
    "sessions",
];

/// The file remembering this user's default cluster (its config dir):
/// `$XDG_CONFIG_HOME/sluice/cluster`, else `~/.config/sluice/cluster`.
#[must_use]
pub fn default_pointer() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("sluice").join("cluster"))
}

/// The config dir admin commands work on: `--config-dir` (or
/// `SLUICE_CONFIG_DIR`, which clap reads into it), else the default
/// cluster `sluice cluster create` remembered.
///
/// # Errors
/// None of them is set.
pub fn resolve(flag: Option<&Path>) -> Result<ConfigDir, String> {
    if let Some(p) = flag {
        return Ok(ConfigDir::at(p));
    }
    if let Some(pointer) = default_pointer() {
        if let Ok(text) = fs::read_to_string(&pointer) {
            let p = text.trim();
            if !p.is_empty() {
                return Ok(ConfigDir::at(p));
            }
        }
    }
    Err("no cluster: run `sluice cluster create --root DIR` first, or give --config-dir (or SLUICE_CONFIG_DIR)".into())
}
