//! Listing objects in S3 order by walking directories: keys sort bytewise
//! over the whole key, a directory `a` standing for `a/`. One directory at a
//! time is read and sorted, so memory follows the widest directory, not the
//! tree; with the `/` delimiter, subtrees behind a common prefix are not
//! entered at all.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};

use crate::error::{Result, StoreError};
use crate::fsys::{self, DIR_XATTR, META_XATTR};
use crate::meta::{derived_etag, ObjectMeta};
use crate::names::{is_silly_rename, RESERVED_PREFIX};
use crate::store::{system_time, Store};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up into common prefixes at the first occurrence of this
    /// after the prefix.
    pub delimiter: Option<String>,
    /// Only items (keys or common prefixes) after this: S3's marker,
    /// start-after, or a continuation position from [`ListPage::next_marker`].
    pub start_after: Option<String>,
    /// Most items (keys plus common prefixes) to return.
    pub max_keys: usize,
    /// Read each object's ETag (one xattr read per key); leave off when the
    /// caller does not need it.
    pub with_etag: bool,
}

impl ListQuery {
    /// A page of `entries`, every key of a bucket in key order with a way
    /// to describe it (called only for the keys listed): prefix,
    /// start-after, delimiter roll-up and max-keys applied as S3 and the
    /// file store apply them. For backends that keep their keys in order.
    pub fn page<'a, F: FnOnce() -> ListedObject>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, F)>,
    ) -> ListPage {
        let mut page = ListPage::default();
        let after = self.start_after.as_deref().unwrap_or_default();
        let mut items = 0;
        for (key, describe) in entries {
            if key <= after {
                continue;
            }
            let Some(rest) = key.strip_prefix(self.prefix.as_str()) else {
                if key > self.prefix.as_str() {
                    break;
                }
                continue;
            };
            let rolled = self.delimiter.as_deref().and_then(|d| {
                rest.find(d)
                    .map(|i| format!("{}{}", self.prefix, &rest[..i + d.len()]))
            });
            if let Some(p) = &rolled {
                if page.common_prefixes.last() == Some(p) || p.as_str() <= after {
                    continue;
                }
            }
            if items == self.max_keys {
                page.truncated = true;
                break;
            }
            items += 1;
            match rolled {
                Some(p) => {
                    page.next_marker = Some(p.clone());
                    page.common_prefixes.push(p);
                }
                None => {
                    page.next_marker = Some(key.to_owned());
                    let mut object = describe();
                    if !self.with_etag {
                        object.etag = None;
                    }
                    page.objects.push(object);
                }
            }
        }
        if !page.truncated {
            page.next_marker = None;
        }
        page
    }
}

/// A listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub modified: SystemTime,
    /// ETag, when asked for.
    pub etag: Option<String>,
}

impl ListedObject {
    /// The listing entry of `key`, described by `info`.
    #[must_use]
    pub fn of(key: &str, info: &crate::ObjectInfo) -> Self {
        ListedObject {
            key: key.to_owned(),
            size: info.meta.stored_size().unwrap_or(info.size),
            modified: info.modified,
            etag: Some(info.meta.etag.clone()),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects, in key order.
    pub objects: Vec<ListedObject>,
    /// Common prefixes, in order.
    pub common_prefixes: Vec<String>,
    /// Whether more items follow.
    pub truncated: bool,
    /// When truncated: the last item returned; pass it as `start_after` to
    /// continue.
    pub next_marker: Option<String>,
}

struct Level {
    /// Key prefix of this directory (`""` or `a/b/`).
    path: String,
    fd: OwnedFd,
    /// The directory's entries, sorted; `next..end` are still to visit.
    entries: Arc<Vec<Entry>>,
    next: usize,
    end: usize,
}

#[derive(Debug)]
pub(crate) struct Entry {
    /// The name as it sorts: a directory's name has `/` appended.
    sort_name: String,
    is_dir: bool,
}

enum Item {
    Object(ListedObject),
    Prefix(String),
}

impl Item {
    fn name(&self) -> &str {
        match self {
            Item::Object(o) => &o.key,
            Item::Prefix(p) => p,
        }
    }
}

impl Store {
    /// Lists a page of objects.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`], read errors.
    pub fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage> {
        let bucket_fd = self.bucket_fd(bucket)?;
        let mut walk = Walk::new(bucket_fd, q, &self.inner.dir_cache)?;
        let mut page = ListPage::default();
        let mut count = 0;
        while let Some(item) = walk.next_item()? {
            if count == q.max_keys {
                page.truncated = true;
                break;
            }
            count += 1;
            page.next_marker = Some(item.name().to_owned());
            match item {
                Item::Object(o) => page.objects.push(o),
                Item::Prefix(p) => page.common_prefixes.push(p),
            }
        }
        if !page.truncated {
            page.next_marker = None;
        }
        Ok(page)
    }
}

struct Walk<'q> {
    q: &'q ListQuery,
    cache: &'q DirCache,
    stack: Vec<Level>,
    /// The `/` delimiter: subtrees become common prefixes without a walk.
    slash: bool,
    /// The last common prefix emitted under another delimiter, to fold the
    /// following keys into it.
    last_prefix: Option<String>,
    /// Directory-object markers are yielded when their directory is entered.
    pending: Option<Item>,
}

impl<'q> Walk<'q> {
    fn new(bucket: OwnedFd, q: &'q ListQuery, cache: &'q DirCache) -> Result<Self> {
        let slash = q.delimiter.as_deref() == Some("/");
        let mut walk = Walk {
            q,
            cache,
            stack: Vec::new(),
            slash,
            last_prefix: None,
            pending: None,
        };
        // Start in the deepest directory the prefix names whole.
        let dir_part = match q.prefix.rfind('/') {
            Some(i) => &q.prefix[..=i],
            None => "",
        };
        let fd = if dir_part.is_empty() {
            fsys::open_dir(bucket.as_fd(), ".")?
        } else {
            match fsys::open_dir(bucket.as_fd(), dir_part.trim_end_matches('/')) {
                Ok(fd) => fd,
                Err(_) => return Ok(walk),
            }
        };
        if !dir_part.is_empty() {
            // The directory named by the prefix may itself be an object (`a/`).
            if let Some(marker) = marker_item(fd.as_fd(), dir_part) {
                walk.pending = Some(marker);
            }
        }
        walk.push(dir_part.to_owned(), fd)?;
        Ok(walk)
    }

    fn push(&mut self, path: String, fd: OwnedFd) -> Result<()> {
        let entries = self.cache.sorted_entries(fd.as_fd())?;
        // Entries are sorted, so those under the prefix are one run, and
        // those entirely before the start position are a run at its front:
        // both ends are found by binary search, whatever the directory size.
        let rest = self.q.prefix.get(path.len()..).unwrap_or("");
        let lo = entries.partition_point(|e| e.sort_name.as_str() < rest);
        let end = lo + entries[lo..].partition_point(|e| e.sort_name.starts_with(rest));
        let next = lo
            + entries[lo..end].partition_point(|e| {
                self.entirely_before_start(&format!("{path}{}", e.sort_name), e.is_dir)
            });
        self.stack.push(Level {
            path,
            fd,
            entries,
            next,
            end,
        });
        Ok(())
    }

    /// Whether every key at `full` (a file key, or a directory's `a/b/`)
    /// sorts at or before the start position.
    fn entirely_before_start(&self, full: &str, is_dir: bool) -> bool {
        let Some(start) = self.q.start_after.as_deref() else {
            return false;
        };
        if is_dir {
            start >= full && !start.starts_with(full)
                || (self.slash && full.len() > self.q.prefix.len() && start >= full)
        } else {
            full <= start
        }
    }

    fn next_item(&mut self) -> Result<Option<Item>> {
        loop {
            if let Some(item) = self.pending.take() {
                if let Some(item) = self.admit(item) {
                    return Ok(Some(item));
                }
                continue;
            }
            let Some(level) = self.stack.last_mut() else {
                return Ok(None);
            };
            if level.next >= level.end {
                self.stack.pop();
                continue;
            }
            let entries = Arc::clone(&level.entries);
            let entry = &entries[level.next];
            level.next += 1;
            let full = format!("{}{}", level.path, entry.sort_name);
            if !entry.is_dir {
                let item = object_item(level.fd.as_fd(), &entry.sort_name, full, self.q.with_etag)?;
                if let Some(item) = item.and_then(|i| self.admit(Item::Object(i))) {
                    return Ok(Some(item));
                }
                continue;
            }
            let name = entry.sort_name.trim_end_matches('/').to_owned();
            let Ok(fd) = fsys::open_dir(level.fd.as_fd(), &name) else {
                continue;
            };
            // With `/` as delimiter, a directory past the prefix is a common
            // prefix when it holds any object; it is not walked.
            if self.slash && full.len() > self.q.prefix.len() {
                if holds_object(fd.as_fd())? {
                    if let Some(item) = self.admit(Item::Prefix(full)) {
                        return Ok(Some(item));
                    }
                }
                continue;
            }
            self.pending = marker_item(fd.as_fd(), &full);
            self.push(full, fd)?;
        }
    }

    /// Applies the start position and, for delimiters other than `/`, the
    /// roll-up into common prefixes.
    fn admit(&mut self, item: Item) -> Option<Item> {
        let item = match (&self.q.delimiter, item) {
            (Some(d), Item::Object(o)) if !self.slash => {
                let rest = &o.key[self.q.prefix.len().min(o.key.len())..];
                match rest.find(d.as_str()) {
                    Some(i) => {
                        let cp = o.key[..self.q.prefix.len() + i + d.len()].to_owned();
                        if self.last_prefix.as_deref() == Some(cp.as_str()) {
                            return None;
                        }
                        self.last_prefix = Some(cp.clone());
                        Item::Prefix(cp)
                    }
                    None => Item::Object(o),
                }
            }
            (_, item) => item,
        };
        if !item.name().starts_with(self.q.prefix.as_str()) {
            return None;
        }
        match self.q.start_after.as_deref() {
            Some(start) if item.name() <= start => None,
            _ => Some(item),
        }
    }
}

/// Sorted entries of large directories, kept between the pages of a
/// listing: a page of a 100,000-entry directory would otherwise read and
/// sort all of it again. An entry is valid while the directory's mtime (which
/// every create, rename and unlink in it changes) is the same.
///
/// Only a directory whose mtime was at least [`DirCache::SETTLED`] old when
/// it was read is kept: where timestamps are coarse (a second on an NFS
/// server over ext3, two on FAT) a change in the same tick leaves the mtime
/// as it was, and another node of a cluster may make it at any moment. The
/// mtime comes from the file server's clock: a node whose clock runs ahead
/// of it by more than that window could keep a stale page (clusters keep
/// their clocks in step; S3 signatures need it anyway).
/// Device and inode of a directory.
type DirId = (u64, u64);
/// Modification time (seconds, nanoseconds).
type MtimeStamp = (i64, u64);
/// A directory's sorted entries as of a modification time.
type CachedDir = (MtimeStamp, Arc<Vec<Entry>>);

#[derive(Default)]
pub(crate) struct DirCache {
    dirs: Mutex<HashMap<DirId, CachedDir>>,
}

impl DirCache {
    /// Directories smaller than this are read each time.
    const MIN_ENTRIES: usize = 1024;
    /// Entries held in all, before the cache empties itself.
    const MAX_ENTRIES: usize = 2_000_000;
    /// How old a directory's mtime must be for its entries to be kept.
    const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

    fn sorted_entries(&self, dir: std::os::fd::BorrowedFd<'_>) -> Result<Arc<Vec<Entry>>> {
        // Fresh from the filesystem: a mount that caches attributes would
        // otherwise show the old mtime of a directory another node changed.
        let st = fsys::fresh_stat(dir)?;
        let id = (st.dev, st.ino);
        let stamp = st.mtime;
        let lock = || {
            self.dirs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((seen, entries)) = lock().get(&id) {
            if *seen == stamp {
                return Ok(Arc::clone(entries));
            }
        }
        let mut entries = read_entries(dir)?;
        entries.sort_unstable_by(|a, b| a.sort_name.as_bytes().cmp(b.sort_name.as_bytes()));
        let entries = Arc::new(entries);
        let settled = system_time(stamp.0, stamp.1)
            .checked_add(Self::SETTLED)
            .is_some_and(|t| t <= SystemTime::now());
        if entries.len() >= Self::MIN_ENTRIES && settled {
            let mut dirs = lock();
            let held: usize = dirs.values().map(|(_, e)| e.len()).sum();
            if held + entries.len() > Self::MAX_ENTRIES {
                dirs.clear();
            }
            dirs.insert(id, (stamp, Arc::clone(&entries)));
        }
        Ok(entries)
    }
}

fn read_entries(dir: std::os::fd::BorrowedFd<'_>) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name == "." || name == ".." || name.starts_with(RESERVED_PREFIX) || is_silly_rename(name)
        {
            continue;
        }
        let file_type = match entry.file_type() {
            FileType::Unknown => match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => FileType::from_raw_mode(st.st_mode),
                Err(_) => continue,
            },
            t => t,
        };
        match file_type {
            FileType::Directory => out.push(Entry {
                sort_name: format!("{name}/"),
                is_dir: true,
            }),
            FileType::RegularFile => out.push(Entry {
                sort_name: name.to_owned(),
                is_dir: false,
            }),
            // Symlinks, devices, sockets: not objects.
            _ => {}
        }
    }
    Ok(out)
}

fn object_item(
    dir: std::os::fd::BorrowedFd<'_>,
    name: &str,
    key: String,
    with_etag: bool,
) -> Result<Option<ListedObject>> {
    if with_etag {
        // O_NONBLOCK: an entry replaced by a FIFO since the directory was
        // read must not block the thread (only xattrs are read).
        let flags = OFlags::RDONLY | OFlags::NONBLOCK;
        let fd = match fsys::open_beneath(dir, name, flags | OFlags::NOATIME, Mode::empty())
            .or_else(|_| fsys::open_beneath(dir, name, flags, Mode::empty()))
        {
            Ok(fd) => fd,
            // Deleted or replaced by a directory since the directory was read.
            Err(_) => return Ok(None),
        };
        let st = rfs::fstat(&fd)?;
        let modified = system_time(st.st_mtime, st.st_mtime_nsec);
        let (etag, size) = fsys::get_xattr(fd.as_fd(), META_XATTR)
            .and_then(|raw| ObjectMeta::decode_listing(&raw))
            .unwrap_or_else(|| (derived_etag(st.st_ino, st.st_size as u64, modified), None));
        return Ok(Some(ListedObject {
            key,
            size: size.unwrap_or(st.st_size as u64),
            modified,
            etag: Some(etag),
        }));
    }
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(ListedObject {
            key,
            size: st.st_size as u64,
            modified: system_time(st.st_mtime, st.st_mtime_nsec),
            etag: None,
        })),
        Err(_) => Ok(None),
    }
}

/// The directory object `path` (ending in `/`) when `dir` is marked as one.
fn marker_item(dir: std::os::fd::BorrowedFd<'_>, path: &str) -> Option<Item> {
    if fsys::get_xattr(dir, DIR_XATTR).as_deref() != Some(b"object") {
        return None;
    }
    let st = rfs::fstat(dir).ok()?;
    let modified = system_time(st.st_mtime, st.st_mtime_nsec);
    let etag = fsys::get_xattr(dir, META_XATTR)
        .and_then(|raw| ObjectMeta::decode(&raw))
        .map(|m| m.etag);
    Some(Item::Object(ListedObject {
        key: path.to_owned(),
        size: 0,
        modified,
        etag,
    }))
}

/// Whether a directory holds an object anywhere below (so that it is a
/// common prefix); stops at the first one found.
fn holds_object(dir: std::os::fd::BorrowedFd<'_>) -> Result<bool> {
    if fsys::get_xattr(dir, DIR_XATTR).as_deref() == Some(b"object") {
        return Ok(true);
    }
    let entries = read_entries(dir)?;
    if entries.iter().any(|e| !e.is_dir) {
        return Ok(true);
    }
    for e in entries {
        if let Ok(sub) = fsys::open_dir(dir, e.sort_name.trim_end_matches('/')) {
            if holds_object(sub.as_fd())? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

impl From<StoreError> for std::io::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        }
    }
}
