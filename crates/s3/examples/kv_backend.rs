//! A storage service embedding sluice-s3 over a backend of its own: here a
//! map in memory, where a real service would call its store. Only buckets,
//! objects and listing are implemented; tagging, CORS, copies and multipart
//! answer NotImplemented through the trait's defaults.
//!
//! cargo run -p sluice-s3 --example kv_backend   (then any S3 client on the
//! printed address, access key `AKKV`, secret `kv-secret`)
use std::{cell::RefCell, collections::BTreeMap, rc::Rc, time::SystemTime};

use md5::{Digest as _, Md5};
use sluice_core::{
    AlignedBuf, BucketInfo, BufPool, Chunk, Driver, ListPage, ListQuery, ListedObject,
};
use sluice_core::{ObjectInfo, ObjectMeta, Result, StoreError, WriteCondition};
use sluice_s3::{BodyWrite, Credentials, NoParts, ObjectRead, ObjectWrite, ServiceConfig, Storage};

type Objects = BTreeMap<String, (Vec<u8>, ObjectInfo)>;
#[derive(Clone, Default)]
struct Kv(Rc<RefCell<BTreeMap<String, Objects>>>);
struct Reader(Vec<u8>, ObjectInfo, u64, u64);
struct Writer(Kv, String, String, Vec<u8>);

impl ObjectRead for Reader {
    fn info(&self) -> &ObjectInfo {
        &self.1
    }
    fn set_range(&mut self, start: u64, end: u64) {
        (self.2, self.3) = (start, end);
    }
    async fn next_chunk(&mut self, pool: &BufPool) -> Result<Option<Chunk>> {
        let mut buf = pool.get();
        let len = buf.extend_from_slice(&self.0[self.2 as usize..self.3 as usize]);
        self.2 += len as u64;
        Ok((len > 0).then_some(Chunk { buf, start: 0, len }))
    }
}
impl BodyWrite for Writer {
    async fn write(&mut self, buf: AlignedBuf) -> Result<()> {
        self.3.extend_from_slice(buf.as_slice());
        Ok(())
    }
    fn md5(&self) -> [u8; 16] {
        Md5::digest(&self.3).into()
    }
}
impl ObjectWrite for Writer {
    async fn finish_if(
        self,
        headers: Vec<(String, String)>,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let etag = self.md5().iter().map(|b| format!("{b:02x}")).collect();
        let info = ObjectInfo {
            size: self.3.len() as u64,
            modified: SystemTime::now(),
            meta: ObjectMeta { etag, headers },
            derived: false,
        };
        let mut map = self.0 .0.borrow_mut();
        let objects = map.get_mut(&self.1).ok_or(StoreError::NoSuchBucket)?;
        cond.check(objects.get(&self.2).map(|(_, old)| old.meta.etag.as_str()))?;
        objects.insert(self.2, (self.3, info.clone()));
        Ok(info)
    }
}

impl Storage for Kv {
    type Reader = Reader;
    type Writer = Writer;
    type PartWriter = NoParts;
    fn create_bucket(&self, bucket: &str) -> Result<()> {
        let mut map = self.0.borrow_mut();
        if map.contains_key(bucket) {
            return Err(StoreError::BucketAlreadyExists);
        }
        map.insert(bucket.into(), Objects::new());
        Ok(())
    }
    fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let mut map = self.0.borrow_mut();
        match map.get(bucket) {
            None => Err(StoreError::NoSuchBucket),
            Some(o) if !o.is_empty() => Err(StoreError::BucketNotEmpty),
            Some(_) => {
                map.remove(bucket);
                Ok(())
            }
        }
    }
    fn head_bucket(&self, bucket: &str) -> Result<BucketInfo> {
        let found = self.0.borrow().contains_key(bucket);
        found
            .then(|| BucketInfo {
                name: bucket.into(),
                created: SystemTime::UNIX_EPOCH,
            })
            .ok_or(StoreError::NoSuchBucket)
    }
    fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.0
            .borrow()
            .keys()
            .map(|b| self.head_bucket(b))
            .collect()
    }
    fn get_object(&self, bucket: &str, key: &str) -> Result<Reader> {
        let map = self.0.borrow();
        let (data, info) = map
            .get(bucket)
            .ok_or(StoreError::NoSuchBucket)?
            .get(key)
            .ok_or(StoreError::NoSuchKey)?;
        Ok(Reader(data.clone(), info.clone(), 0, data.len() as u64))
    }
    fn put_object(&self, bucket: &str, key: &str, _size: Option<u64>) -> Result<Writer> {
        self.head_bucket(bucket)?;
        Ok(Writer(self.clone(), bucket.into(), key.into(), Vec::new()))
    }
    fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let mut map = self.0.borrow_mut();
        let objects = map.get_mut(bucket).ok_or(StoreError::NoSuchBucket)?;
        objects.remove(key).map(drop).ok_or(StoreError::NoSuchKey)
    }
    fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage> {
        let map = self.0.borrow();
        let after = q.start_after.clone().unwrap_or_default();
        let keys = map
            .get(bucket)
            .ok_or(StoreError::NoSuchBucket)?
            .iter()
            .filter(|(k, _)| k.starts_with(&q.prefix) && **k > after);
        let objects = keys.take(q.max_keys).map(|(k, (_, i))| ListedObject {
            key: k.clone(),
            size: i.size,
            modified: i.modified,
            etag: Some(i.meta.etag.clone()),
        });
        Ok(ListPage {
            objects: objects.collect(),
            ..ListPage::default()
        })
    }
}

fn main() {
    let config = ServiceConfig {
        credentials: Credentials(vec![("AKKV".into(), "kv-secret".into())]),
        ..ServiceConfig::default()
    };
    sluice_core::block_on(Driver::Auto, async move {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        println!(
            "serving a key-value backend on http://{}",
            listener.local_addr().expect("address")
        );
        sluice_s3::serve(
            listener,
            sluice_s3::ThreadContext::new(Kv::default(), config, 0),
        )
        .await;
    })
    .expect("runtime");
}
