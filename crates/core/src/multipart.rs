//! Multipart uploads, staged under `<root>/.sluice/multipart/<upload-id>/`.
//!
//! The first part whose size is a whole number of blocks fixes the upload's
//! slot size S (`slot`, linked into place so that concurrent parts agree).
//! Slot N of the shared file `data` (at offset (N-1)*S) is written by one
//! part upload only, the one that created `claim-N` first: a failed, killed
//! or concurrent upload of the same number, and every later re-upload, goes
//! to a file of its own and never touches bytes another upload verified.
//! `part-N` records the last verified upload of N (its size, MD5 and where
//! its bytes are), replaced atomically, so ListParts and Complete see whole
//! verified parts only.
//!
//! Writers into `data` hold a shared `flock` on it; an in-place Complete
//! takes it exclusively, so no slot writer is active while the file becomes
//! the object (a writer that locks later sees `data` is gone and writes a
//! file of its own). When the completed upload is parts 1..K of size S but
//! the last (what every client sends), completion is a truncate of `data`
//! and a rename into the bucket: no byte copied, but those of parts that
//! were re-uploaded into files of their own. Otherwise, or while a slot
//! writer is active, the parts are joined with copy_file_range into a new
//! file, published like a PUT.
//!
//! A completed upload's folder shrinks to a marker, its `completed` record,
//! so that the same Complete sent again is answered (S3 does) until the
//! stale-upload cleaner removes it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, SystemTime};

use md5::{Digest as _, Md5};
use rustix::fs::{self as rfs, AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::buf::{AlignedBuf, ALIGN};
use crate::copy::{buffered_reopen, copy_range};
use crate::error::{Conflict, Result, StoreError};
use crate::free::free_off_thread;
use crate::fsys;
use crate::meta::ObjectMeta;
use crate::names::{BucketName, ObjectKey};
use crate::publish::{publish, Source, WriteCondition};
use sluice_http::hex_encode as hex;

use crate::sink::{Sink, Tail};
use crate::store::{system_time, ObjectInfo, Removed, Store, INTERNAL_DIR};
use crate::writer::BUSY_WAIT;

/// Highest part number S3 allows.
pub const MAX_PARTS: u32 = 10_000;
/// Metadata entry listing the part sizes of a multipart object
/// (comma-separated), kept for reads by part number.
pub const PART_SIZES_HEADER: &str = "x-sluice-part-sizes";

/// The longest part-size list kept with an object: with S3's 2 KiB of user
/// metadata, the object's metadata stays within the one 4 KiB block ext4
/// gives all of a file's xattrs.
const MAX_PART_SIZES_LEN: usize = 1024;

/// The part sizes of a multipart object as kept in its metadata: runs of
/// equal sizes as `size*count`, others as `size`, comma-separated (a part
/// list of 10,000 equal parts and a shorter last one is `5242880*9999,17`).
/// None when the list would be longer than [`MAX_PART_SIZES_LEN`] (many
/// parts of differing sizes): the object is then kept without it.
#[must_use]
pub fn encode_part_sizes(sizes: &[u64]) -> Option<String> {
    let mut out = String::new();
    let mut i = 0;
    while let Some(&size) = sizes.get(i) {
        let run = sizes[i..].iter().take_while(|&&s| s == size).count();
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&size.to_string());
        if run > 1 {
            out.push('*');
            out.push_str(&run.to_string());
        }
        i += run;
    }
    (out.len() <= MAX_PART_SIZES_LEN).then_some(out)
}

/// Reads what [`encode_part_sizes`] wrote (and the plain comma-separated
/// list of earlier versions). None when it is not such a list or names
/// more than [`MAX_PARTS`] parts: the value is an xattr a POSIX user can
/// set to anything.
#[must_use]
pub fn decode_part_sizes(stored: &str) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    for item in stored.split(',') {
        let (size, run) = match item.split_once('*') {
            Some((size, run)) => (size, run.parse::<usize>().ok()?),
            None => (item, 1),
        };
        let size: u64 = size.parse().ok()?;
        if run == 0 || run > MAX_PARTS as usize - out.len() {
            return None;
        }
        out.resize(out.len() + run, size);
    }
    Some(out)
}

/// Largest part S3 allows.
pub const MAX_PART_SIZE: u64 = 5 << 30;

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    /// Upload id.
    pub upload_id: String,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// When it was created.
    pub initiated: SystemTime,
    /// Headers given at creation, stored with the object at completion.
    pub headers: Vec<(String, String)>,
}

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// Part number, 1..=10000.
    pub number: u32,
    /// Size in bytes.
    pub size: u64,
    /// MD5 hex of the part's data.
    pub etag: String,
    /// When it was uploaded.
    pub modified: SystemTime,
    /// Headers kept with the part (checksums).
    pub headers: Vec<(String, String)>,
}

fn upload_dir(id: &str) -> Result<String> {
    if id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(format!("{INTERNAL_DIR}/multipart/{id}"))
    } else {
        Err(StoreError::NoSuchUpload)
    }
}

fn part_record(n: u32) -> String {
    format!("part-{n:05}")
}

fn part_file(n: u32) -> String {
    format!("part-{n:05}.data")
}

/// Reads a small file beneath `dir`; None when it does not exist.
fn read_small(dir: BorrowedFd<'_>, name: &str) -> Result<Option<Vec<u8>>> {
    let fd = match fsys::open_beneath(dir, name, OFlags::RDONLY, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = rustix::io::read(&fd, &mut buf)?;
        if n == 0 {
            return Ok(Some(out));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Writes a small file beneath `dir` atomically (temporary name + rename).
fn write_small(dir: BorrowedFd<'_>, name: &str, data: &[u8], sync: bool) -> Result<()> {
    let tmp = fsys::temp_name();
    let fd = rfs::openat(
        dir,
        tmp.as_str(),
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let mut rest = data;
    while !rest.is_empty() {
        let n = rustix::io::write(&fd, rest)?;
        rest = &rest[n..];
    }
    if sync {
        rfs::fdatasync(&fd)?;
    }
    if let Err(e) = rfs::renameat(dir, tmp.as_str(), dir, name) {
        let _ = rfs::unlinkat(dir, tmp.as_str(), AtFlags::empty());
        return Err(e.into());
    }
    Ok(())
}

fn encode_lines(first: &[String], headers: &[(String, String)]) -> Vec<u8> {
    let mut out = first.join("\n").into_bytes();
    out.push(b'\n');
    out.extend_from_slice(
        &ObjectMeta {
            etag: String::new(),
            headers: headers.to_vec(),
        }
        .encode(),
    );
    out
}

/// Header name/value pairs.
type Headers = Vec<(String, String)>;

fn decode_lines(raw: &[u8], first: usize) -> Option<(Vec<String>, Headers)> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut lines = text.splitn(first + 1, '\n');
    let head: Vec<String> = (0..first)
        .map(|_| lines.next().map(str::to_owned))
        .collect::<Option<_>>()?;
    let meta = ObjectMeta::decode(lines.next()?.as_bytes())?;
    Some((head, meta.headers))
}

/// The first line of an `upload` record in its current form: no bucket
/// name is a single character, so a record of the first form (which began
/// with the bucket) is told apart.
const UPLOAD_FORMAT: &str = "2";

/// An upload's `upload` record: the format, bucket, time initiated (seconds)
/// and key, one a line, then the headers to give the object. The key is
/// hex, for it may hold any character, a newline included (the first form
/// kept it as it was, and a key with a newline did not read back: its
/// upload answered NoSuchUpload).
pub(crate) fn encode_upload(
    bucket: &str,
    key: &str,
    initiated: u64,
    headers: &[(String, String)],
) -> Vec<u8> {
    encode_lines(
        &[
            UPLOAD_FORMAT.to_owned(),
            bucket.to_owned(),
            initiated.to_string(),
            hex(key.as_bytes()),
        ],
        headers,
    )
}

/// Reads an `upload` record (either form); its `upload_id` is left empty.
/// None when it is not one (a POSIX user may write anything there).
pub(crate) fn decode_upload(raw: &[u8]) -> Option<UploadInfo> {
    let (bucket, key, initiated, headers) =
        if raw.starts_with(format!("{UPLOAD_FORMAT}\n").as_bytes()) {
            let (head, headers) = decode_lines(raw, 4)?;
            let key = String::from_utf8(unhex(&head[3])?).ok()?;
            (head[1].clone(), key, head[2].parse::<i64>().ok()?, headers)
        } else {
            let (head, headers) = decode_lines(raw, 3)?;
            (
                head[0].clone(),
                head[1].clone(),
                head[2].parse::<i64>().unwrap_or(0),
                headers,
            )
        };
    Some(UploadInfo {
        upload_id: String::new(),
        bucket,
        key,
        initiated: system_time(initiated, 0),
        headers,
    })
}

/// Bytes of lowercase or uppercase hex; None when it is not hex.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| (b as char).to_digit(16);
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|p| u8::try_from(digit(p[0])? * 16 + digit(p[1])?).ok())
        .collect()
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The record a completed upload leaves in its staging folder: written
/// before the object is published, it is the upload's marker once the
/// `upload` record is gone (see [`Store::complete_multipart`]).
const COMPLETED: &str = "completed";

/// A completion checked under its lock: the staging folder, the key, the
/// upload, the parts named and the locked `upload` record.
type CheckedParts = (OwnedFd, ObjectKey, UploadInfo, Vec<PartRecord>, OwnedFd);

/// What the checks of a completion found.
enum Checked {
    /// An earlier completion of the same parts: its object.
    Done(ObjectInfo),
    /// The parts to publish.
    Parts(CheckedParts),
}

/// What a Complete made: enough to answer the same Complete again.
#[derive(Debug)]
struct Completion {
    bucket: String,
    key: String,
    completed: SystemTime,
    etag: String,
    /// MD5 of the part list the Complete named (`number etag` lines): a
    /// retry must name the same list, and 10,000 parts would otherwise make
    /// a 400 KB record.
    parts: String,
}

/// The digest of a Complete's part list, ETags without their quotes.
fn parts_digest(parts: &[(u32, String)]) -> String {
    let mut md5 = Md5::new();
    for (n, etag) in parts {
        md5.update(format!("{n} {}\n", etag.trim_matches('"')).as_bytes());
    }
    hex(&md5.finalize())
}

impl Completion {
    /// The key goes last: it may hold a newline.
    fn encode(&self) -> Vec<u8> {
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.bucket,
            secs(self.completed),
            self.etag,
            self.parts,
            self.key
        )
        .into_bytes()
    }

    fn decode(raw: &[u8]) -> Option<Completion> {
        let mut lines = std::str::from_utf8(raw).ok()?.splitn(5, '\n');
        let bucket = lines.next()?.to_owned();
        let completed = system_time(lines.next()?.parse().ok()?, 0);
        let etag = lines.next()?.to_owned();
        let parts = lines.next()?.to_owned();
        let key = lines.next()?.to_owned();
        Some(Completion {
            bucket,
            key,
            completed,
            etag,
            parts,
        })
    }
}

fn read_completion(staging: BorrowedFd<'_>) -> Result<Option<Completion>> {
    Ok(read_small(staging, COMPLETED)?.and_then(|raw| Completion::decode(&raw)))
}

impl Store {
    fn staging(&self, upload_id: &str) -> Result<OwnedFd> {
        let path = upload_dir(upload_id)?;
        fsys::open_dir(self.inner.root_fd.as_fd(), &path).map_err(|_| StoreError::NoSuchUpload)
    }

    fn read_upload(&self, staging: BorrowedFd<'_>, upload_id: &str) -> Result<UploadInfo> {
        let raw = read_small(staging, "upload")?.ok_or(StoreError::NoSuchUpload)?;
        let mut info = decode_upload(&raw).ok_or(StoreError::NoSuchUpload)?;
        upload_id.clone_into(&mut info.upload_id);
        Ok(info)
    }

    /// The upload, checked to belong to `bucket` and `key`.
    fn open_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(OwnedFd, UploadInfo)> {
        self.bucket_fd(bucket)?;
        ObjectKey::new(key)?;
        let staging = self.staging(upload_id)?;
        let info = self.read_upload(staging.as_fd(), upload_id)?;
        if info.bucket != bucket || info.key != key {
            return Err(StoreError::NoSuchUpload);
        }
        Ok((staging, info))
    }

    /// An upload in progress.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`] (also for a completed one).
    pub fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadInfo> {
        Ok(self.open_upload(bucket, key, upload_id)?.1)
    }

    /// Starts a multipart upload; `headers` are stored with the object when
    /// it completes. Returns the upload id.
    ///
    /// # Errors
    /// Invalid names, [`StoreError::NoSuchBucket`].
    pub fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        headers: Vec<(String, String)>,
    ) -> Result<String> {
        let key = ObjectKey::new(key)?;
        self.bucket_fd(bucket)?;
        if key.is_dir_marker() {
            return Err(StoreError::KeyConflict(
                Conflict::DirectoryObjectHoldsNoData,
            ));
        }
        let mut id_bytes = [0u8; 16];
        rustix::rand::getrandom(&mut id_bytes, rustix::rand::GetRandomFlags::empty())?;
        let id = hex(&id_bytes);
        let path = upload_dir(&id)?;
        rfs::mkdirat(
            &self.inner.root_fd,
            path.as_str(),
            Mode::from_raw_mode(0o700),
        )?;
        let staging = fsys::open_dir(self.inner.root_fd.as_fd(), &path)?;
        let direct = self.direct_for(staging.as_fd());
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC;
        drop(rfs::openat(
            &staging,
            "data",
            flags
                | if direct {
                    OFlags::DIRECT
                } else {
                    OFlags::empty()
                },
            Mode::from_raw_mode(0o644),
        )?);
        drop(rfs::openat(
            &staging,
            "claims",
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?);
        let record = encode_upload(bucket, key.as_str(), secs(SystemTime::now()), &headers);
        write_small(
            staging.as_fd(),
            "upload",
            &record,
            self.inner.opts.fdatasync,
        )?;
        Ok(id)
    }

    /// Starts writing part `number` of an upload. `size` is the part's
    /// Content-Length; parts of unknown size get a file of their own.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`], invalid part numbers
    /// ([`StoreError::InvalidPart`]), [`StoreError::EntityTooLarge`].
    pub fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        size: Option<u64>,
    ) -> Result<PartWriter> {
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(StoreError::InvalidPart);
        }
        if size.is_some_and(|s| s > MAX_PART_SIZE) {
            return Err(StoreError::EntityTooLarge);
        }
        let (staging, upload) = self.open_upload(bucket, key, upload_id)?;
        let direct = self.direct_for(staging.as_fd());
        let opts = &self.inner.opts;
        let slot = match size {
            Some(s) if s > 0 => self
                .slot_size(staging.as_fd(), s)?
                .filter(|&slot| s <= slot),
            _ => None,
        };
        if let Some(slot) = slot {
            if let Some(data) = self.claim_slot(staging.as_fd(), number, direct)? {
                let tail =
                    fsys::open_beneath(staging.as_fd(), "data", OFlags::RDWR, Mode::empty())?;
                let base = u64::from(number - 1) * slot;
                let sink = Sink::new(
                    &data,
                    direct,
                    base,
                    Tail::Buffered(tail),
                    MAX_PART_SIZE,
                    opts.writes_in_flight,
                    opts.null_data,
                )?;
                return Ok(PartWriter {
                    store: self.clone(),
                    staging,
                    number,
                    sink,
                    own: None,
                    _data: Some(data),
                    limit: size,
                    upload_headers: upload.headers,
                });
            }
        }
        let temp = fsys::create_temp(staging.as_fd(), self.inner.tmp_fd.as_fd(), direct)?;
        let sink = Sink::new(
            &temp.fd,
            direct,
            0,
            Tail::Pad,
            MAX_PART_SIZE,
            opts.writes_in_flight,
            opts.null_data,
        )?;
        Ok(PartWriter {
            store: self.clone(),
            staging,
            number,
            sink,
            own: Some(temp),
            _data: None,
            limit: size,
            upload_headers: upload.headers,
        })
    }

    /// The upload's slot size, fixing it to `size` if none is set yet and
    /// `size` is a whole number of blocks.
    fn slot_size(&self, staging: BorrowedFd<'_>, size: u64) -> Result<Option<u64>> {
        let parse = |raw: Vec<u8>| {
            std::str::from_utf8(&raw)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|&s| s > 0)
        };
        if let Some(raw) = read_small(staging, "slot")? {
            return Ok(parse(raw));
        }
        if !size.is_multiple_of(ALIGN as u64) {
            return Ok(None);
        }
        // Written under a name of its own, then linked as `slot`: the link
        // fails if another part set the size first, and a crash leaves no
        // half-written `slot` (an empty `slot.new` of older versions made
        // every later part spin here).
        let tmp = fsys::temp_name();
        write_small(staging, &tmp, size.to_string().as_bytes(), false)?;
        let linked = rfs::linkat(staging, tmp.as_str(), staging, "slot", AtFlags::empty());
        let _ = rfs::unlinkat(staging, tmp.as_str(), AtFlags::empty());
        match linked {
            Ok(()) => Ok(Some(size)),
            Err(Errno::EXIST) => Ok(read_small(staging, "slot")?.and_then(parse)),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens `data` for writing slot `number`, when this upload may: `data`
    /// still belongs to the upload (no Complete holds it or took it), and
    /// no other upload of this number ever claimed the slot. The returned
    /// descriptor holds a shared lock on `data` for as long as it (or a dup
    /// of it) is open.
    fn claim_slot(
        &self,
        staging: BorrowedFd<'_>,
        number: u32,
        direct: bool,
    ) -> Result<Option<OwnedFd>> {
        let flags = OFlags::RDWR
            | if direct {
                OFlags::DIRECT
            } else {
                OFlags::empty()
            };
        let data = match fsys::open_beneath(staging, "data", flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match rfs::flock(&data, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {}
            // A Complete holds `data`: write elsewhere.
            Err(Errno::WOULDBLOCK) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        // Locked: is it still the upload's `data`, and not (being) published
        // as an object? A Complete renames it away under its exclusive lock.
        let mine = rfs::fstat(&data)?;
        match rfs::statat(staging, "data", AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st)
                if st.st_ino == mine.st_ino && st.st_dev == mine.st_dev && mine.st_nlink == 1 => {}
            Ok(_) | Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        // A claim is a name, made exclusively: a link to the upload's
        // `claims` file (no inode to allocate per part), or, for an upload
        // staged before that file existed, a file of its own.
        let claim = claim_name(number);
        let made = match rfs::linkat(staging, "claims", staging, claim.as_str(), AtFlags::empty()) {
            Err(Errno::NOENT) => rfs::openat(
                staging,
                claim.as_str(),
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map(drop),
            other => other,
        };
        match made {
            Ok(()) => Ok(Some(data)),
            Err(Errno::EXIST) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The parts uploaded so far, by number.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`].
    pub fn list_parts(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Vec<PartInfo>> {
        let (staging, _) = self.open_upload(bucket, key, upload_id)?;
        let mut parts = Vec::new();
        for entry in rfs::Dir::read_from(&staging)? {
            let entry = entry?;
            let Some(n) = entry
                .file_name()
                .to_str()
                .ok()
                .and_then(|n| n.strip_prefix("part-"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(p) = read_part(staging.as_fd(), n)? {
                parts.push(p.info);
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    /// The uploads in progress in `bucket`, by key then creation time.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`].
    pub fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadInfo>> {
        BucketName::new(bucket)?;
        self.bucket_fd(bucket)?;
        let mut out: Vec<UploadInfo> = self
            .all_uploads()?
            .into_iter()
            .filter(|u| u.bucket == bucket)
            .collect();
        out.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then(a.initiated.cmp(&b.initiated))
                .then(a.upload_id.cmp(&b.upload_id))
        });
        Ok(out)
    }

    fn all_uploads(&self) -> Result<Vec<UploadInfo>> {
        let dir = fsys::open_dir(
            self.inner.root_fd.as_fd(),
            &format!("{INTERNAL_DIR}/multipart"),
        )?;
        let mut out = Vec::new();
        for entry in rfs::Dir::read_from(&dir)? {
            let entry = entry?;
            let Ok(id) = entry.file_name().to_str() else {
                continue;
            };
            if upload_dir(id).is_err() {
                continue;
            }
            if let Ok(staging) = self.staging(id) {
                if let Ok(info) = self.read_upload(staging.as_fd(), id) {
                    out.push(info);
                }
            }
        }
        Ok(out)
    }

    /// Removes an upload and all its parts; of a completed upload's marker
    /// it removes nothing and succeeds.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`].
    pub fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        self.abort_upload(bucket, key, upload_id).map(drop)
    }

    /// [`Store::abort_multipart`], its large part files unlinked and held
    /// open in what it returns, for [`Removed::free`] to free off the
    /// runtime thread (dropped, they are freed in place).
    ///
    /// # Errors
    /// As [`Store::abort_multipart`].
    pub fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Removed> {
        match self.open_upload(bucket, key, upload_id) {
            Ok(_) => self.remove_upload(upload_id),
            // Completed: AWS answers 204 while it still knows the upload
            // (NoSuchUpload later, minio/minio#2250); the object stays, and
            // so does the marker, until the stale-upload age.
            Err(StoreError::NoSuchUpload) => {
                let staging = self.staging(upload_id)?;
                match read_completion(staging.as_fd())? {
                    Some(done) if done.bucket == bucket && done.key == key => {
                        Ok(Removed::default())
                    }
                    _ => Err(StoreError::NoSuchUpload),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Removes an upload's staging folder; its large files stay open in
    /// what it returns.
    fn remove_upload(&self, upload_id: &str) -> Result<Removed> {
        let path = self.inner.root.join(upload_dir(upload_id)?);
        let held = match rfs::open(&path, OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(dir) => rfs::Dir::read_from(&dir)
                .map(|entries| {
                    entries
                        .filter_map(std::result::Result::ok)
                        .filter_map(|e| {
                            let name = e.file_name().to_str().ok()?;
                            crate::free::hold_if_large(dir.as_fd(), name)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        match std::fs::remove_dir_all(path) {
            Ok(()) => Ok(Removed(held)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NoSuchUpload),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes uploads created more than `age` ago, the markers of uploads
    /// completed more than `age` ago, and staging folders left half-made by
    /// a crash; returns how many.
    ///
    /// # Errors
    /// When the staging folder cannot be read.
    pub fn remove_stale_uploads(&self, age: Duration) -> Result<usize> {
        let cutoff = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let dir = fsys::open_dir(
            self.inner.root_fd.as_fd(),
            &format!("{INTERNAL_DIR}/multipart"),
        )?;
        let mut removed = 0;
        for entry in rfs::Dir::read_from(&dir)? {
            let entry = entry?;
            let Ok(id) = entry.file_name().to_str() else {
                continue;
            };
            let Ok(staging) = self.staging(id) else {
                continue;
            };
            // A folder without its record is a completed upload's marker,
            // whose age counts from the completion, or was cut short before
            // creation returned: its age is the folder's.
            let initiated = match self.read_upload(staging.as_fd(), id) {
                Ok(info) => info.initiated,
                Err(_) => match read_completion(staging.as_fd()) {
                    Ok(Some(done)) => done.completed,
                    _ => {
                        let st = rfs::fstat(&staging)?;
                        system_time(st.st_mtime, st.st_mtime_nsec)
                    }
                },
            };
            if initiated <= cutoff && self.remove_upload(id).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Completes an upload from the listed parts (number, ETag with or
    /// without quotes), in ascending order, publishing the object only if
    /// `cond` holds of the key at that moment. Returns the object, whose ETag
    /// is the MD5 of the parts' MD5s followed by `-` and the part count.
    ///
    /// The object is exactly the bytes of the named parts' last verified
    /// uploads; part uploads still running neither change it nor are
    /// changed by it.
    ///
    /// A completed upload is remembered until the stale-upload age: the
    /// same Complete sent again (a client whose answer was lost) gets the
    /// object while the key still holds what the first one made, and
    /// publishes nothing. A `completed` record (bucket, key, ETag, digest of
    /// the part list) is written before the object is published; removing
    /// the `upload` record after the publish makes the folder the marker,
    /// and the rest of it goes. Killed before the publish, the upload is as
    /// it was; after it, and before the `upload` record went, a Complete
    /// naming the same parts finds the key holding the record's ETag and
    /// finishes the job. A Complete of a marker naming other parts, another
    /// key, or after the key changed, gets [`StoreError::NoSuchUpload`], as
    /// Ceph RGW's `check_previously_completed` answers; its write condition
    /// is not evaluated again (the write it guarded was done).
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`], [`StoreError::InvalidPart`] (missing
    /// part or ETag mismatch), [`StoreError::InvalidPartOrder`],
    /// [`StoreError::EntityTooSmall`] (a part but the last below the minimum
    /// part size), [`StoreError::KeyConflict`],
    /// [`StoreError::PreconditionFailed`], [`StoreError::Busy`] (another
    /// Complete of this upload is running).
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        self.complete_multipart_with(bucket, key, upload_id, parts, cond, |upload, _| {
            Ok::<_, StoreError>(upload.headers.clone())
        })
        .await
    }

    /// [`Self::complete_multipart`], with the object's headers made by
    /// `finish` from the upload and the parts named (in order, each its
    /// last verified upload), called under the completion's lock once the
    /// parts are checked: the protocol layer checks and computes what it
    /// keeps of them there (checksums). An error from `finish` refuses the
    /// completion and changes nothing. A Complete answered from a completed
    /// upload's record does not call it.
    ///
    /// # Errors
    /// As [`Self::complete_multipart`], and `finish`'s.
    pub async fn complete_multipart_with<E: From<StoreError>>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        cond: &WriteCondition,
        finish: impl FnOnce(&UploadInfo, &[PartInfo]) -> Result<Vec<(String, String)>, E>,
    ) -> Result<ObjectInfo, E> {
        let (staging, object_key, upload, chosen, _record) =
            match self.check_completion(bucket, key, upload_id, parts)? {
                Checked::Done(info) => return Ok(info),
                Checked::Parts(checked) => checked,
            };
        let infos: Vec<PartInfo> = chosen.iter().map(|p| p.info.clone()).collect();
        let headers = finish(&upload, &infos)?;
        Ok(self
            .publish_completion(
                &staging,
                bucket,
                key,
                &object_key,
                parts,
                chosen,
                headers,
                cond,
            )
            .await?)
    }

    /// The checks of a completion, under its lock (held by the returned
    /// record): the upload's parts as named, or the answer of a completion
    /// made before.
    fn check_completion(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<Checked> {
        self.bucket_fd(bucket)?;
        let object_key = ObjectKey::new(key)?;
        let staging = self.staging(upload_id)?;
        let upload = match self.read_upload(staging.as_fd(), upload_id) {
            Ok(upload) => upload,
            Err(StoreError::NoSuchUpload) => {
                let done = read_completion(staging.as_fd())?.ok_or(StoreError::NoSuchUpload)?;
                return self
                    .replay_completion(&done, bucket, key, parts)
                    .map(Checked::Done);
            }
            Err(e) => return Err(e),
        };
        if upload.bucket != bucket || upload.key != key {
            return Err(StoreError::NoSuchUpload);
        }
        if parts.is_empty() {
            return Err(StoreError::InvalidPart);
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(StoreError::InvalidPartOrder);
        }
        // One Complete of an upload at a time (on any node): the lock is on
        // the upload's record, held until this one returns.
        let record = fsys::open_beneath(staging.as_fd(), "upload", OFlags::RDONLY, Mode::empty())
            .map_err(|_| StoreError::NoSuchUpload)?;
        match rfs::flock(&record, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => return Err(StoreError::Busy),
            Err(e) => return Err(e.into()),
        }
        // A Complete that published and was cut short before the folder
        // became the marker: this one answers for it, and finishes.
        if let Some(done) = read_completion(staging.as_fd())? {
            if let Ok(info) = self.replay_completion(&done, bucket, key, parts) {
                shrink_to_marker(&staging, &[], None);
                return Ok(Checked::Done(info));
            }
        }
        let mut chosen = Vec::with_capacity(parts.len());
        for (i, (n, etag)) in parts.iter().enumerate() {
            let p = read_part(staging.as_fd(), *n)?.ok_or(StoreError::InvalidPart)?;
            if p.info.etag != etag.trim_matches('"') {
                return Err(StoreError::InvalidPart);
            }
            if i + 1 < parts.len() && p.info.size < self.inner.opts.min_part_size {
                return Err(StoreError::EntityTooSmall);
            }
            if sluice_http::hex_decode_array::<16>(p.info.etag.as_bytes()).is_none() {
                return Err(StoreError::InvalidPart);
            }
            chosen.push(p);
        }
        Ok(Checked::Parts((
            staging, object_key, upload, chosen, record,
        )))
    }

    /// Publishes a checked completion as the object with `headers`.
    #[allow(clippy::too_many_arguments)]
    async fn publish_completion(
        &self,
        staging: &OwnedFd,
        bucket: &str,
        key: &str,
        object_key: &ObjectKey,
        parts: &[(u32, String)],
        chosen: Vec<PartRecord>,
        mut headers: Vec<(String, String)>,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let mut md5s = Md5::new();
        for p in &chosen {
            md5s.update(
                sluice_http::hex_decode_array::<16>(p.info.etag.as_bytes())
                    .ok_or(StoreError::InvalidPart)?,
            );
        }
        let etag = format!("{}-{}", hex(&md5s.finalize()), chosen.len());
        let total: u64 = chosen.iter().map(|p| p.info.size).sum();
        // The part sizes stay with the object, for GET ?partNumber=N.
        let sizes: Vec<u64> = chosen.iter().map(|p| p.info.size).collect();
        // Unless the protocol gave them (those of the plaintext of parts
        // stored encrypted).
        if !headers.iter().any(|(n, _)| n == PART_SIZES_HEADER) {
            if let Some(sizes) = encode_part_sizes(&sizes) {
                headers.push((PART_SIZES_HEADER.to_owned(), sizes));
            }
        }
        let meta = ObjectMeta { etag, headers };
        let done = Completion {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            completed: SystemTime::now(),
            etag: meta.etag.clone(),
            parts: parts_digest(parts),
        };
        let sync = self.inner.opts.fdatasync;
        write_small(staging.as_fd(), COMPLETED, &done.encode(), sync)?;
        let published = self
            .publish_parts(staging, bucket, object_key, &chosen, total, meta, cond)
            .await;
        if published.is_err() {
            // Not published: the upload stays as it was.
            let _ = rfs::unlinkat(staging, COMPLETED, AtFlags::empty());
        }
        published
    }

    /// The answer to a Complete of an upload completed before: the object,
    /// while the key holds the ETag that Complete gave it and the request
    /// names the same parts; else the upload is gone.
    fn replay_completion(
        &self,
        done: &Completion,
        bucket: &str,
        key: &str,
        parts: &[(u32, String)],
    ) -> Result<ObjectInfo> {
        if done.bucket != bucket || done.key != key || done.parts != parts_digest(parts) {
            return Err(StoreError::NoSuchUpload);
        }
        match self.head_object(bucket, key) {
            Ok(info) if info.meta.etag == done.etag => Ok(info),
            Err(StoreError::Io(e)) => Err(StoreError::Io(e)),
            _ => Err(StoreError::NoSuchUpload),
        }
    }

    /// Publishes the chosen parts as the object: in place, else joined
    /// into a new file; then shrinks the staging folder to its marker.
    #[allow(clippy::too_many_arguments)]
    async fn publish_parts(
        &self,
        staging: &OwnedFd,
        bucket: &str,
        object_key: &ObjectKey,
        chosen: &[PartRecord],
        total: u64,
        meta: ObjectMeta,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let bucket_fd = self.bucket_fd(bucket)?;
        let slot = read_small(staging.as_fd(), "slot")?.and_then(|raw| {
            std::str::from_utf8(&raw)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|&s| s > 0)
        });
        // In place when parts 1..K fill whole slots but the last; a part that
        // got a file of its own (a re-upload, or one that arrived before the
        // slot size was known) is copied into its slot first.
        let in_place = slot.filter(|&s| {
            chosen.iter().enumerate().all(|(i, p)| {
                let last = i + 1 == chosen.len();
                p.info.number as usize == i + 1
                    && if last {
                        p.info.size <= s
                    } else {
                        p.info.size == s
                    }
            })
        });
        if let Some(s) = in_place {
            if self
                .complete_in_place(
                    staging, &bucket_fd, object_key, chosen, s, total, &meta, cond,
                )
                .await?
            {
                shrink_to_marker(staging, chosen, None);
                return Ok(ObjectInfo {
                    size: total,
                    modified: SystemTime::now(),
                    meta,
                    derived: false,
                });
            }
        }
        // Join the parts into a new file next to the target.
        let mut target = self.new_target(bucket_fd.as_fd(), object_key, None)?;
        let out = buffered_reopen(&target.temp.fd)?;
        let mut at = 0u64;
        let shared = if chosen.iter().any(|p| p.location == Location::Shared) {
            Some(
                fsys::open_beneath(staging.as_fd(), "data", OFlags::RDONLY, Mode::empty())
                    .map_err(|_| StoreError::NoSuchUpload)?,
            )
        } else {
            None
        };
        for p in chosen {
            match (&p.location, &shared) {
                (Location::Own(_), _) => {
                    let own = open_own(staging.as_fd(), &p.info)?;
                    copy_range(&own, 0, &out, at, p.info.size).await?;
                }
                (Location::Shared, Some(data)) => {
                    let from = u64::from(p.info.number - 1) * slot.unwrap_or(0);
                    copy_range(data, from, &out, at, p.info.size).await?;
                }
                (Location::Shared, None) => return Err(StoreError::NoSuchUpload),
            }
            at += p.info.size;
        }
        self.publish_target(&mut target, &bucket_fd, object_key, &meta, cond)
            .await?;
        shrink_to_marker(staging, chosen, shared);
        Ok(ObjectInfo {
            size: total,
            modified: SystemTime::now(),
            meta,
            derived: false,
        })
    }

    /// Makes the shared file the object: copies parts that live in files of
    /// their own into their slots, truncates, stores the metadata, syncs and
    /// renames it into place under `cond`. False when it cannot be done in
    /// place (a slot writer is active, a verified part lies past the
    /// object's end, or the bucket is on another filesystem): the caller
    /// joins the parts into a new file instead.
    #[allow(clippy::too_many_arguments)]
    async fn complete_in_place(
        &self,
        staging: &OwnedFd,
        bucket_fd: &OwnedFd,
        key: &ObjectKey,
        chosen: &[PartRecord],
        slot: u64,
        total: u64,
        meta: &ObjectMeta,
        cond: &WriteCondition,
    ) -> Result<bool> {
        let data = match fsys::open_beneath(staging.as_fd(), "data", OFlags::RDWR, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        match rfs::flock(&data, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            // A part upload is writing its slot: leave `data` alone.
            Err(Errno::WOULDBLOCK) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        // A second link means `data` is an object already (a Complete was
        // cut short between link and unlink where rename cannot refuse to
        // replace): never write into it.
        if rfs::fstat(&data)?.st_nlink != 1 {
            return Ok(false);
        }
        // Truncating would cut verified parts beyond the object (uploaded,
        // not named): a Complete that then fails its condition must leave
        // the upload as it was, so join instead.
        let named = chosen.len() as u32;
        if self
            .list_records_beyond(staging.as_fd(), named)?
            .iter()
            .any(|p| p.location == Location::Shared)
        {
            return Ok(false);
        }
        for p in chosen {
            if let Location::Own(_) = p.location {
                let own = open_own(staging.as_fd(), &p.info)?;
                let at = u64::from(p.info.number - 1) * slot;
                copy_range(&own, 0, &data, at, p.info.size).await?;
            }
        }
        // Before anything changes `data`: a refused chown leaves the
        // upload as it was.
        if let Some(o) = self.owner {
            o.chown(data.as_fd())?;
        }
        rfs::ftruncate(&data, total)?;
        fsys::set_meta(data.as_fd(), &meta.encode())?;
        if self.inner.opts.fdatasync {
            crate::faults::check(crate::faults::FaultOp::Fsync)?;
            rfs::fdatasync(&data)?;
        }
        let (parent_rel, name) = key.split_parent();
        let mut reopened = 0;
        let waited = std::time::Instant::now();
        loop {
            let (parent, _) = fsys::create_parent(bucket_fd.as_fd(), parent_rel, self.owner)?;
            let src = Source::Named(staging.as_fd(), "data");
            match publish(parent.as_fd(), self.inner.tmp_fd.as_fd(), src, name, cond) {
                Ok(replaced) => {
                    // Its name durable before the answer, as a PUT's.
                    if self.inner.opts.fdatasync {
                        let device = self.device_of(parent.as_fd());
                        let (_syncing, group) = crate::durable::Syncing::enter(device.shared_syncs);
                        crate::durable::entries_synced(group, device.dev, parent.as_fd()).await?;
                    }
                    // The object replaced, a large one freed off this thread.
                    crate::free::free(replaced.into_iter().collect()).await;
                    return Ok(true);
                }
                Err(StoreError::Io(e)) if e.raw_os_error() == Some(Errno::XDEV.raw_os_error()) => {
                    return Ok(false)
                }
                // The parent went away under a concurrent delete: again.
                Err(StoreError::Io(e))
                    if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) && reopened < 8 =>
                {
                    reopened += 1;
                }
                Err(StoreError::Busy) if waited.elapsed() < BUSY_WAIT => {
                    monoio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The records of parts numbered above `n`.
    fn list_records_beyond(&self, staging: BorrowedFd<'_>, n: u32) -> Result<Vec<PartRecord>> {
        let mut out = Vec::new();
        for entry in rfs::Dir::read_from(staging)? {
            let entry = entry?;
            let Some(number) = entry
                .file_name()
                .to_str()
                .ok()
                .and_then(|n| n.strip_prefix("part-"))
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|&m| m > n)
            else {
                continue;
            };
            out.extend(read_part(staging, number)?);
        }
        Ok(out)
    }
}

/// Turns a completed upload's staging folder into its marker: the `upload`
/// record goes first (from then on the folder answers as completed), then
/// every file but the `completed` record, large ones freed off this thread.
/// An Abort racing the Complete may have removed the folder already.
fn shrink_to_marker(staging: &OwnedFd, chosen: &[PartRecord], data: Option<OwnedFd>) {
    let _ = rfs::unlinkat(staging, "upload", AtFlags::empty());
    free_part_files(staging, chosen, data);
    let Ok(dir) = rfs::Dir::read_from(staging) else {
        return;
    };
    let names: Vec<String> = dir
        .filter_map(std::result::Result::ok)
        .filter_map(|e| e.file_name().to_str().ok().map(str::to_owned))
        .filter(|n| n != "." && n != ".." && n != COMPLETED)
        .collect();
    let mut large = Vec::new();
    for name in &names {
        if name.ends_with("data") {
            let opened = fsys::open_beneath(staging.as_fd(), name, OFlags::RDWR, Mode::empty());
            large.extend(opened.ok());
        }
        let _ = rfs::unlinkat(staging, name.as_str(), AtFlags::empty());
    }
    free_off_thread(large);
}

/// Unlinks the completed upload's own part files, and `data` when given,
/// and frees them off this thread: removing the upload would free them at
/// once here (1 GiB: 140 ms on ext4). Unlinked first, so that no retried
/// Complete reads one cut short.
fn free_part_files(staging: &OwnedFd, chosen: &[PartRecord], data: Option<OwnedFd>) {
    let own_files = chosen.iter().filter_map(|p| match &p.location {
        Location::Own(name) => Some(name.as_str()),
        Location::Shared => None,
    });
    let mut unlinked = Vec::new();
    for name in own_files.chain(data.as_ref().map(|_| "data")) {
        let opened = fsys::open_beneath(staging.as_fd(), name, OFlags::RDWR, Mode::empty());
        if let Ok(fd) = opened {
            if rfs::unlinkat(staging, name, AtFlags::empty()).is_ok() {
                unlinked.push(fd);
            }
        }
    }
    unlinked.extend(data);
    free_off_thread(unlinked);
}

/// Where a verified part's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    /// Its slot of the shared `data` file.
    Shared,
    /// A file of its own in the staging folder.
    Own(String),
}

/// A part's record: the last verified upload of its number.
#[derive(Debug)]
struct PartRecord {
    info: PartInfo,
    location: Location,
}

fn claim_name(n: u32) -> String {
    format!("claim-{n:05}")
}

/// A fresh name for a part's own file.
fn own_part_file(n: u32) -> Result<String> {
    let mut id = [0u8; 8];
    rustix::rand::getrandom(&mut id, rustix::rand::GetRandomFlags::empty())?;
    Ok(format!("part-{n:05}.{}.data", hex(&id)))
}

fn read_part(staging: BorrowedFd<'_>, number: u32) -> Result<Option<PartRecord>> {
    Ok(read_small(staging, &part_record(number))?.and_then(|raw| decode_part(number, &raw)))
}

/// A part's record: `size etag location modified`, then its headers.
fn encode_part(
    size: u64,
    etag: &str,
    location: &Location,
    modified: SystemTime,
    headers: &[(String, String)],
) -> Vec<u8> {
    let place = match location {
        Location::Shared => "shared",
        Location::Own(name) => name.as_str(),
    };
    let line = format!("{size} {etag} {place} {}", secs(modified));
    encode_lines(&[line], headers)
}

/// Reads the record of part `number`; None when it is not one (a POSIX
/// user may write anything there) or names a file outside the folder.
fn decode_part(number: u32, raw: &[u8]) -> Option<PartRecord> {
    let (head, headers) = decode_lines(raw, 1)?;
    let fields: Vec<&str> = head[0].split(' ').collect();
    let [size, etag, location, modified] = fields[..] else {
        return None;
    };
    let location = match location {
        "shared" => Location::Shared,
        // Records of earlier versions name the part's file implicitly.
        "own" => Location::Own(part_file(number)),
        name if name.starts_with("part-") && !name.contains('/') => Location::Own(name.to_owned()),
        _ => return None,
    };
    Some(PartRecord {
        info: PartInfo {
            number,
            size: size.parse().unwrap_or(0),
            etag: etag.to_owned(),
            modified: system_time(modified.parse().unwrap_or(0), 0),
            headers,
        },
        location,
    })
}

/// The fuzz harness of the staging records (`crate::fuzzing::records`):
/// `kind` 0 reads `stored` as an `upload` record, 1 encodes it as the key
/// of one, 2 reads it as a part's record, 3 as a `completed` record. What
/// decodes encodes back to the same record; a key of any characters reads
/// back as it was.
pub(crate) fn fuzz_staging_record(kind: u8, stored: &[u8]) {
    let since_epoch = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).is_ok();
    match kind % 4 {
        0 => {
            if let Some(info) = decode_upload(stored) {
                let again = decode_upload(&encode_upload(
                    &info.bucket,
                    &info.key,
                    secs(info.initiated),
                    &info.headers,
                ))
                .expect("an encoded upload record decodes");
                assert_eq!(
                    (&again.bucket, &again.key, &again.headers),
                    (&info.bucket, &info.key, &info.headers)
                );
                if since_epoch(info.initiated) {
                    assert_eq!(again.initiated, info.initiated);
                }
            }
        }
        1 => {
            let key = String::from_utf8_lossy(stored);
            let headers = vec![("content-type".to_owned(), "a/b".to_owned())];
            let info = decode_upload(&encode_upload("bucket", &key, 7, &headers))
                .expect("an encoded upload record decodes");
            assert_eq!((info.bucket.as_str(), info.key.as_str()), ("bucket", &*key));
            assert_eq!(info.headers, headers);
        }
        2 => {
            if let Some(p) = decode_part(1, stored) {
                if let Location::Own(name) = &p.location {
                    assert!(name.starts_with("part-") && !name.contains('/'));
                }
                // The etag field cannot hold a space: what decoded re-encodes.
                let again = decode_part(
                    1,
                    &encode_part(
                        p.info.size,
                        &p.info.etag,
                        &p.location,
                        p.info.modified,
                        &p.info.headers,
                    ),
                )
                .expect("an encoded part record decodes");
                assert_eq!(
                    (again.info.size, &again.info.etag, &again.location),
                    (p.info.size, &p.info.etag, &p.location)
                );
                assert_eq!(again.info.headers, p.info.headers);
                if since_epoch(p.info.modified) {
                    assert_eq!(again.info.modified, p.info.modified);
                }
            }
        }
        _ => {
            if let Some(c) = Completion::decode(stored) {
                let again = Completion::decode(&c.encode()).expect("an encoded completion decodes");
                assert_eq!(
                    (&again.bucket, &again.key, &again.etag, &again.parts),
                    (&c.bucket, &c.key, &c.etag, &c.parts)
                );
                if since_epoch(c.completed) {
                    assert_eq!(again.completed, c.completed);
                }
            }
        }
    }
}

/// Opens the own file of a part chosen by a Complete, whose record said it
/// has ETag `part.etag`. Own files are written once under names of their
/// own, so the bytes are the part's as long as the record still gives that
/// ETag; a re-upload that replaced the record (and removed the file) in the
/// meantime fails the Complete, as a stale ETag does.
fn open_own(staging: BorrowedFd<'_>, part: &PartInfo) -> Result<OwnedFd> {
    for _ in 0..3 {
        let p = read_part(staging, part.number)?.ok_or(StoreError::InvalidPart)?;
        let Location::Own(name) = &p.location else {
            return Err(StoreError::InvalidPart);
        };
        if p.info.etag != part.etag {
            return Err(StoreError::InvalidPart);
        }
        match fsys::open_beneath(staging, name, OFlags::RDONLY, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::InvalidPart)
}

/// A part being written; see [`Store::upload_part`].
pub struct PartWriter {
    store: Store,
    staging: OwnedFd,
    number: u32,
    sink: Sink,
    /// The part's own temporary file when it does not write its slot.
    own: Option<fsys::TempFile>,
    /// `data`, share-locked while this part writes its slot in it.
    _data: Option<OwnedFd>,
    limit: Option<u64>,
    upload_headers: Vec<(String, String)>,
}

impl std::fmt::Debug for PartWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartWriter")
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

impl PartWriter {
    /// Appends bytes (see [`crate::ObjectWriter::write`]).
    ///
    /// # Errors
    /// Write errors; more bytes than the size given at the start.
    pub async fn write(&mut self, buf: AlignedBuf) -> Result<()> {
        if self
            .limit
            .is_some_and(|l| self.sink.total() + buf.len() as u64 > l)
        {
            return Err(StoreError::EntityTooLarge);
        }
        self.sink.write(buf).await
    }

    /// The MD5 of the bytes written so far.
    #[must_use]
    pub fn md5(&self) -> [u8; 16] {
        self.sink.md5()
    }

    /// Stops hashing the bytes written: they are stored in another form
    /// (encrypted) and the caller gives the part's MD5
    /// ([`PartWriter::finish_with_md5`]).
    pub fn skip_md5(&mut self) {
        self.sink.skip_md5();
    }

    /// The headers the upload was created with.
    #[must_use]
    pub fn upload_headers(&self) -> &[(String, String)] {
        &self.upload_headers
    }

    /// Makes the part durable and records it (replacing an earlier upload of
    /// the same number) with `headers`. Until this returns, nothing of this
    /// upload is visible; dropping the writer instead changes nothing that
    /// ListParts or Complete can see.
    ///
    /// # Errors
    /// Write errors; fewer bytes than the size given at the start;
    /// [`StoreError::NoSuchUpload`] when the upload was completed or aborted
    /// meanwhile.
    pub async fn finish(self, headers: Vec<(String, String)>) -> Result<PartInfo> {
        let md5 = self.sink.md5();
        self.finish_with_md5(md5, headers).await
    }

    /// [`PartWriter::finish`] with the part's MD5 given (that of the
    /// plaintext of a part stored encrypted).
    ///
    /// # Errors
    /// As [`PartWriter::finish`].
    pub async fn finish_with_md5(
        mut self,
        md5: [u8; 16],
        headers: Vec<(String, String)>,
    ) -> Result<PartInfo> {
        if self.limit.is_some_and(|l| self.sink.total() != l) {
            return Err(StoreError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.sink.flush().await?;
        let size = self.sink.total();
        let etag = hex(&md5);
        let sync = self.store.inner.opts.fdatasync;
        let location = match self.own.take() {
            None => {
                if sync {
                    crate::faults::check(crate::faults::FaultOp::Fsync)?;
                    self.sink.file().sync_data().await?;
                }
                // Every write has landed: the slot is done, let a Complete
                // take `data` now (closing the runtime's descriptor, which
                // also releases the lock, may complete later).
                if let Some(data) = &self._data {
                    rfs::flock(data, FlockOperation::Unlock)?;
                }
                Location::Shared
            }
            Some(mut temp) => {
                rfs::ftruncate(&temp.fd, size)?;
                if sync {
                    crate::faults::check(crate::faults::FaultOp::Fsync)?;
                    self.sink.file().sync_data().await?;
                }
                let name = own_part_file(self.number)?;
                let published = publish(
                    self.staging.as_fd(),
                    self.store.inner.tmp_fd.as_fd(),
                    Source::Temp(&mut temp),
                    &name,
                    &WriteCondition::Always,
                );
                temp.discard();
                let replaced = published.map_err(|e| match e {
                    // The staging folder is gone: completed or aborted.
                    StoreError::Io(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {
                        StoreError::NoSuchUpload
                    }
                    other => other,
                })?;
                // The part uploaded before under this number, a large one
                // freed off this thread.
                crate::free::free(replaced.into_iter().collect()).await;
                Location::Own(name)
            }
        };
        let modified = SystemTime::now();
        let previous = read_part(self.staging.as_fd(), self.number).ok().flatten();
        write_small(
            self.staging.as_fd(),
            &part_record(self.number),
            &encode_part(size, &etag, &location, modified, &headers),
            sync,
        )
        .map_err(|e| match e {
            StoreError::Io(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {
                StoreError::NoSuchUpload
            }
            other => other,
        })?;
        // Completed meanwhile: the folder is the marker now (or becoming
        // it), and a part recorded in it belongs to no upload.
        if let Err(Errno::NOENT) = rfs::statat(&self.staging, "upload", AtFlags::empty()) {
            let _ = rfs::unlinkat(
                &self.staging,
                part_record(self.number).as_str(),
                AtFlags::empty(),
            );
            if let Location::Own(name) = &location {
                let _ = rfs::unlinkat(&self.staging, name.as_str(), AtFlags::empty());
            }
            return Err(StoreError::NoSuchUpload);
        }
        // The file of the upload this one replaced is no longer named by any
        // record (a Complete that opened it keeps reading it).
        if let Some(PartRecord {
            location: Location::Own(old),
            ..
        }) = previous
        {
            if location != Location::Own(old.clone()) {
                let _ = rfs::unlinkat(&self.staging, old.as_str(), AtFlags::empty());
            }
        }
        Ok(PartInfo {
            number: self.number,
            size,
            etag,
            modified,
            headers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_are_kept_as_runs_and_read_back() {
        let mut sizes = vec![5 << 20; 9_999];
        sizes.push(17);
        let kept = encode_part_sizes(&sizes).unwrap();
        assert_eq!(kept, "5242880*9999,17");
        assert_eq!(decode_part_sizes(&kept).unwrap(), sizes);
        assert_eq!(encode_part_sizes(&[1, 2, 2, 3]).unwrap(), "1,2*2,3");
        assert_eq!(decode_part_sizes("1,2,3").unwrap(), [1, 2, 3]);
        // Many differing sizes do not fit the metadata: not kept.
        let varied: Vec<u64> = (1_000_000..1_001_000).collect();
        assert_eq!(encode_part_sizes(&varied), None);
        for bad in [
            "",
            "x",
            "1,",
            "1*",
            "*2",
            "1*0",
            "1*10001",
            "1*9999,1,1",
            "-1",
        ] {
            assert_eq!(decode_part_sizes(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;

    /// A key with a newline (S3 keys may hold any character) read back as
    /// the first line of the headers: its upload answered NoSuchUpload.
    #[test]
    fn an_upload_record_keeps_a_key_with_a_newline() {
        let headers = vec![("content-type".to_owned(), "text/plain".to_owned())];
        let info =
            decode_upload(&encode_upload("bkt", "a\nb\r\n%", 1_700_000_000, &headers)).unwrap();
        assert_eq!(
            (info.bucket.as_str(), info.key.as_str()),
            ("bkt", "a\nb\r\n%")
        );
        assert_eq!(info.headers, headers);
        assert_eq!(secs(info.initiated), 1_700_000_000);
    }

    /// Records of the first form (uploads begun before) still read.
    #[test]
    fn an_upload_record_of_the_first_form_reads() {
        let raw = encode_lines(&["bkt".into(), "dir/key".into(), "5".into()], &[]);
        let info = decode_upload(&raw).unwrap();
        assert_eq!(
            (
                info.bucket.as_str(),
                info.key.as_str(),
                secs(info.initiated)
            ),
            ("bkt", "dir/key", 5)
        );
    }

    /// A time no clock can hold (a POSIX user's record) is no panic.
    #[test]
    fn an_upload_record_with_a_huge_time_does_not_panic() {
        let raw = encode_lines(&["bkt".into(), "k".into(), u64::MAX.to_string()], &[]);
        let info = decode_upload(&raw).unwrap();
        assert_eq!(secs(info.initiated), 0);
    }
}
