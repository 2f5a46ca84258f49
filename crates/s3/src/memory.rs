//! An in-memory [`Storage`]: every operation family, no disk. sluice-s3's
//! own tests run on it, and an embedder can test against it. Objects are
//! byte vectors in ordered maps behind one lock; a body is copied out of
//! its buffers (this backend is for tests, not for speed).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use md5::{Digest as _, Md5};
use sluice_core::{
    AlignedBuf, BucketInfo, BucketName, ListPage, ListQuery, ListedObject, ObjectInfo, ObjectKey,
    ObjectMeta, PartInfo, Result, StoreError, UploadInfo, WriteCondition, MAX_PARTS,
    PART_SIZES_HEADER,
};
use sluice_http::hex_encode as hex;

use crate::bytes::{BytesReader, BytesWriter, Collected};
use crate::storage::{BodyWrite, HeaderUpdate, PartWrite, Storage};

/// An in-memory store. Clones share the same contents.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    state: Arc<Mutex<State>>,
    /// Smallest part but the last (S3: 5 MiB).
    min_part_size: u64,
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<String, Bucket>,
    uploads: HashMap<String, Upload>,
    /// Completed uploads, by id, for a Complete sent again (kept as long as
    /// the store: it has no stale-upload cleaner).
    completed: HashMap<String, Completed>,
    next_upload: u64,
}

/// What a Complete made.
#[derive(Debug)]
struct Completed {
    bucket: String,
    key: String,
    etag: String,
    parts: Vec<(u32, String)>,
}

/// A part list with the ETags' quotes taken off.
fn unquoted(parts: &[(u32, String)]) -> Vec<(u32, String)> {
    parts
        .iter()
        .map(|(n, e)| (*n, e.trim_matches('"').to_owned()))
        .collect()
}

#[derive(Debug)]
struct Bucket {
    created: SystemTime,
    objects: BTreeMap<String, Object>,
    configs: HashMap<String, Vec<u8>>,
}

#[derive(Debug, Clone)]
struct Object {
    data: Arc<Vec<u8>>,
    meta: ObjectMeta,
    modified: SystemTime,
}

impl Object {
    fn info(&self) -> ObjectInfo {
        ObjectInfo {
            size: self.data.len() as u64,
            modified: self.modified,
            meta: self.meta.clone(),
            derived: false,
        }
    }
}

impl State {
    /// The upload, checked to belong to `bucket` and `key`.
    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<&Upload> {
        self.uploads
            .get(upload_id)
            .filter(|u| u.info.bucket == bucket && u.info.key == key)
            .ok_or(StoreError::NoSuchUpload)
    }
}

#[derive(Debug)]
struct Upload {
    info: UploadInfo,
    parts: BTreeMap<u32, (PartInfo, Arc<Vec<u8>>)>,
}

impl MemoryStorage {
    /// An empty store with S3's 5 MiB minimum part size.
    #[must_use]
    pub fn new() -> Self {
        Self::with_min_part_size(5 << 20)
    }

    /// An empty store whose multipart parts (but the last) must have at
    /// least `min` bytes.
    #[must_use]
    pub fn with_min_part_size(min: u64) -> Self {
        MemoryStorage {
            state: Arc::default(),
            min_part_size: min,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes `data` as `key` if `cond` holds, in one step under the lock.
    fn publish(
        &self,
        bucket: &str,
        key: &str,
        data: Vec<u8>,
        meta: ObjectMeta,
        modified: SystemTime,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let mut state = self.lock();
        let b = state
            .buckets
            .get_mut(bucket)
            .ok_or(StoreError::NoSuchBucket)?;
        cond.check(b.objects.get(key).map(|o| o.meta.etag.as_str()))?;
        let object = Object {
            data: Arc::new(data),
            meta,
            modified,
        };
        let info = object.info();
        b.objects.insert(key.to_owned(), object);
        Ok(info)
    }

    fn object(&self, bucket: &str, key: &str) -> Result<Object> {
        ObjectKey::new(key)?;
        let state = self.lock();
        let b = state.buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        b.objects.get(key).cloned().ok_or(StoreError::NoSuchKey)
    }
}

/// A multipart part being received into memory.
#[derive(Debug)]
pub struct MemoryPartWriter {
    store: MemoryStorage,
    body: Collected,
    upload_id: String,
    number: u32,
    upload_headers: Vec<(String, String)>,
}

impl BodyWrite for MemoryPartWriter {
    async fn write(&mut self, buf: AlignedBuf) -> Result<()> {
        self.body.write(&buf)
    }

    fn md5(&self) -> [u8; 16] {
        self.body.md5()
    }
}

impl PartWrite for MemoryPartWriter {
    async fn finish(self, headers: Vec<(String, String)>) -> Result<PartInfo> {
        if self
            .body
            .limit
            .is_some_and(|l| self.body.data.len() as u64 != l)
        {
            return Err(StoreError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let (upload_id, number) = (self.upload_id.clone(), self.number);
        let info = PartInfo {
            number,
            size: self.body.data.len() as u64,
            etag: hex(&self.md5()),
            modified: SystemTime::now(),
            headers,
        };
        let mut state = self.store.lock();
        let upload = state
            .uploads
            .get_mut(&upload_id)
            .ok_or(StoreError::NoSuchUpload)?;
        upload
            .parts
            .insert(number, (info.clone(), Arc::new(self.body.data)));
        Ok(info)
    }

    fn upload_headers(&self) -> &[(String, String)] {
        &self.upload_headers
    }
}

impl Storage for MemoryStorage {
    type Reader = BytesReader;
    type Writer = BytesWriter;
    type PartWriter = MemoryPartWriter;
    type Bucket = String;

    fn create_bucket(&self, bucket: &str) -> Result<()> {
        BucketName::new(bucket)?;
        let mut state = self.lock();
        if state.buckets.contains_key(bucket) {
            return Err(StoreError::BucketAlreadyExists);
        }
        state.buckets.insert(
            bucket.to_owned(),
            Bucket {
                created: SystemTime::now(),
                objects: BTreeMap::new(),
                configs: HashMap::new(),
            },
        );
        Ok(())
    }

    fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let mut state = self.lock();
        match state.buckets.get(bucket) {
            None => Err(StoreError::NoSuchBucket),
            Some(b) if !b.objects.is_empty() => Err(StoreError::BucketNotEmpty),
            Some(_) => {
                state.buckets.remove(bucket);
                Ok(())
            }
        }
    }

    fn head_bucket(&self, bucket: &str) -> Result<BucketInfo> {
        let state = self.lock();
        let b = state.buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        Ok(BucketInfo {
            name: bucket.to_owned(),
            created: b.created,
        })
    }

    fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        Ok(self
            .lock()
            .buckets
            .iter()
            .map(|(name, b)| BucketInfo {
                name: name.clone(),
                created: b.created,
            })
            .collect())
    }

    fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        Ok(self.object(bucket, key)?.info())
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<BytesReader> {
        let o = self.object(bucket, key)?;
        Ok(BytesReader::new(o.info(), o.data))
    }

    fn put_object_in(&self, bucket: String, key: &str, size: Option<u64>) -> Result<BytesWriter> {
        ObjectKey::new(key)?;
        let (store, key) = (self.clone(), key.to_owned());
        Ok(BytesWriter::new(size, move |data, info, cond| {
            store
                .publish(&bucket, &key, data, info.meta, info.modified, cond)
                .map(drop)
        }))
    }

    fn open_bucket(&self, bucket: &str) -> Result<String> {
        self.head_bucket(bucket)?;
        Ok(bucket.to_owned())
    }

    fn bucket_config_in(&self, bucket: &String, name: &str) -> Result<Option<Vec<u8>>> {
        self.bucket_config(bucket, name)
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        ObjectKey::new(key)?;
        let mut state = self.lock();
        let b = state
            .buckets
            .get_mut(bucket)
            .ok_or(StoreError::NoSuchBucket)?;
        b.objects.remove(key).map(drop).ok_or(StoreError::NoSuchKey)
    }

    fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage> {
        let state = self.lock();
        let b = state.buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        Ok(q.page(b.objects.iter().map(|(key, o)| {
            let describe = || ListedObject {
                key: key.clone(),
                size: o.data.len() as u64,
                modified: o.modified,
                etag: Some(o.meta.etag.clone()),
            };
            (key.as_str(), describe)
        })))
    }

    fn update_headers(
        &self,
        bucket: &str,
        key: &str,
        update: HeaderUpdate<'_>,
    ) -> Result<ObjectInfo> {
        ObjectKey::new(key)?;
        let mut state = self.lock();
        let b = state
            .buckets
            .get_mut(bucket)
            .ok_or(StoreError::NoSuchBucket)?;
        let o = b.objects.get_mut(key).ok_or(StoreError::NoSuchKey)?;
        update(&mut o.meta.headers);
        Ok(o.info())
    }

    fn bucket_config(&self, bucket: &str, name: &str) -> Result<Option<Vec<u8>>> {
        let state = self.lock();
        let b = state.buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        Ok(b.configs.get(name).cloned())
    }

    fn set_bucket_config(&self, bucket: &str, name: &str, value: Option<&[u8]>) -> Result<()> {
        let mut state = self.lock();
        let b = state
            .buckets
            .get_mut(bucket)
            .ok_or(StoreError::NoSuchBucket)?;
        match value {
            Some(v) => b.configs.insert(name.to_owned(), v.to_vec()),
            None => b.configs.remove(name),
        };
        Ok(())
    }

    async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        headers: Option<Vec<(String, String)>>,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let src = self.object(src_bucket, src_key)?;
        ObjectKey::new(dst_key)?;
        let meta = ObjectMeta {
            etag: src.meta.etag.clone(),
            headers: headers.unwrap_or(src.meta.headers),
        };
        self.publish(
            dst_bucket,
            dst_key,
            src.data.to_vec(),
            meta,
            SystemTime::now(),
            cond,
        )
    }

    fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        headers: Vec<(String, String)>,
    ) -> Result<String> {
        ObjectKey::new(key)?;
        self.head_bucket(bucket)?;
        let mut state = self.lock();
        state.next_upload = state.next_upload.wrapping_add(1);
        let id = format!("{:032x}", state.next_upload);
        let info = UploadInfo {
            upload_id: id.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            initiated: SystemTime::now(),
            headers,
        };
        state.uploads.insert(
            id.clone(),
            Upload {
                info,
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        size: Option<u64>,
    ) -> Result<MemoryPartWriter> {
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(StoreError::InvalidPart);
        }
        let upload_headers = self
            .lock()
            .upload(bucket, key, upload_id)?
            .info
            .headers
            .clone();
        Ok(MemoryPartWriter {
            store: self.clone(),
            body: Collected::new(size),
            upload_id: upload_id.to_owned(),
            number,
            upload_headers,
        })
    }

    async fn complete_multipart<E: From<StoreError>>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        cond: &WriteCondition,
        finish: impl FnOnce(&UploadInfo, &[PartInfo]) -> core::result::Result<Vec<(String, String)>, E>,
    ) -> core::result::Result<ObjectInfo, E> {
        if parts.is_empty() {
            return Err(StoreError::InvalidPart.into());
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(StoreError::InvalidPartOrder.into());
        }
        let (data, meta) = {
            let state = self.lock();
            if let Some(done) = state.completed.get(upload_id) {
                // Sent again: the object while the key holds what it made.
                let same =
                    done.bucket == bucket && done.key == key && done.parts == unquoted(parts);
                return state
                    .buckets
                    .get(bucket)
                    .and_then(|b| b.objects.get(key))
                    .filter(|o| same && o.meta.etag == done.etag)
                    .map(Object::info)
                    .ok_or(StoreError::NoSuchUpload.into());
            }
            let upload = state.upload(bucket, key, upload_id)?;
            let mut data = Vec::new();
            let mut md5s = Md5::new();
            let mut sizes = Vec::new();
            let mut named = Vec::new();
            for (i, (n, etag)) in parts.iter().enumerate() {
                let (info, bytes) = upload.parts.get(n).ok_or(StoreError::InvalidPart)?;
                if info.etag != etag.trim_matches('"') {
                    return Err(StoreError::InvalidPart.into());
                }
                if i.saturating_add(1) < parts.len() && info.size < self.min_part_size {
                    return Err(StoreError::EntityTooSmall.into());
                }
                md5s.update(Md5::digest(bytes.as_slice()));
                data.extend_from_slice(bytes);
                sizes.push(info.size);
                named.push(info.clone());
            }
            let mut headers = finish(&upload.info, &named)?;
            if let Some(sizes) = sluice_core::encode_part_sizes(&sizes) {
                headers.push((PART_SIZES_HEADER.to_owned(), sizes));
            }
            let etag = format!("{}-{}", hex(&md5s.finalize()), parts.len());
            (data, ObjectMeta { etag, headers })
        };
        let info = self.publish(bucket, key, data, meta, SystemTime::now(), cond)?;
        let mut state = self.lock();
        if state.uploads.remove(upload_id).is_some() {
            let done = Completed {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                etag: info.meta.etag.clone(),
                parts: unquoted(parts),
            };
            state.completed.insert(upload_id.to_owned(), done);
        }
        Ok(info)
    }

    async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        let mut state = self.lock();
        if let Some(done) = state.completed.get(upload_id) {
            return if done.bucket == bucket && done.key == key {
                Ok(())
            } else {
                Err(StoreError::NoSuchUpload)
            };
        }
        state.upload(bucket, key, upload_id)?;
        state.uploads.remove(upload_id);
        Ok(())
    }

    fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadInfo> {
        Ok(self.lock().upload(bucket, key, upload_id)?.info.clone())
    }

    fn list_parts(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Vec<PartInfo>> {
        let state = self.lock();
        let upload = state.upload(bucket, key, upload_id)?;
        Ok(upload.parts.values().map(|(p, _)| p.clone()).collect())
    }

    fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadInfo>> {
        self.head_bucket(bucket)?;
        let mut out: Vec<UploadInfo> = self
            .lock()
            .uploads
            .values()
            .filter(|u| u.info.bucket == bucket)
            .map(|u| u.info.clone())
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key).then(a.initiated.cmp(&b.initiated)));
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Issue 13 on this backend: a Complete sent again answers the same
    /// object while the key holds it; other parts, or a changed key, are
    /// NoSuchUpload; Abort of the completed upload succeeds.
    #[test]
    fn issue_13_complete_sent_again() {
        let store = MemoryStorage::with_min_part_size(1);
        store.create_bucket("bkt").unwrap();
        let id = store.create_multipart("bkt", "k", Vec::new()).unwrap();
        let mut parts = Vec::new();
        sluice_core::block_on(sluice_core::Driver::Legacy, async {
            for n in 1..=2u32 {
                let mut w = store.upload_part("bkt", "k", &id, n, None).unwrap();
                let mut buf = AlignedBuf::new(4096);
                buf.extend_from_slice(format!("part {n}").as_bytes());
                w.write(buf).await.unwrap();
                parts.push((
                    n,
                    format!("\"{}\"", w.finish(Vec::new()).await.unwrap().etag),
                ));
            }
            let always = WriteCondition::Always;
            let keep = |u: &UploadInfo, _: &[PartInfo]| Ok::<_, StoreError>(u.headers.clone());
            let first = store
                .complete_multipart("bkt", "k", &id, &parts, &always, keep)
                .await
                .unwrap();
            let again = store
                .complete_multipart("bkt", "k", &id, &parts, &WriteCondition::Absent, keep)
                .await
                .unwrap();
            assert_eq!(again.meta.etag, first.meta.etag);
            assert!(store.list_uploads("bkt").unwrap().is_empty());
            let fewer = store
                .complete_multipart("bkt", "k", &id, &parts[..1], &always, keep)
                .await;
            assert!(matches!(fewer, Err(StoreError::NoSuchUpload)));
            store.abort_multipart("bkt", "k", &id).await.unwrap();
            store.delete_object("bkt", "k").await.unwrap();
            let gone = store
                .complete_multipart("bkt", "k", &id, &parts, &always, keep)
                .await;
            assert!(matches!(gone, Err(StoreError::NoSuchUpload)));
        })
        .unwrap();
    }
}
