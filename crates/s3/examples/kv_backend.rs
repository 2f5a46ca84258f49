//! A storage service embedding sluice-s3 over a backend of its own: here a
//! map in memory, where a real service would call its store. Buckets,
//! objects and listing are implemented; tagging, CORS, copies and multipart
//! answer NotImplemented through the trait's defaults.
//!
//! `cargo run -p sluice-s3 --example kv_backend`, then any S3 client on the
//! printed address with access key `AKKV` and secret `kv-secret`.
use std::collections::{btree_map::Entry, BTreeMap};
use std::{cell::RefCell, rc::Rc, time::SystemTime};

use md5::{Digest as _, Md5};
use sluice_core::{AlignedBuf, BucketInfo, BufPool, Chunk, Driver, ListPage, ListQuery};
use sluice_core::{ListedObject, ObjectInfo, ObjectMeta, Result, StoreError, WriteCondition};
use sluice_s3::{BodyWrite, Credentials, NoParts, ObjectRead, ObjectWrite, ServiceConfig, Storage};

type Objects = BTreeMap<String, (Vec<u8>, ObjectInfo)>;

/// The service's own store: buckets of objects.
#[derive(Clone, Default)]
struct Kv(Rc<RefCell<BTreeMap<String, Objects>>>);

impl Kv {
    fn with<T>(&self, bucket: &str, f: impl FnOnce(&mut Objects) -> Result<T>) -> Result<T> {
        f(self
            .0
            .borrow_mut()
            .get_mut(bucket)
            .ok_or(StoreError::NoSuchBucket)?)
    }
}

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
        let (size, modified) = (self.3.len() as u64, SystemTime::now());
        let info = ObjectInfo {
            size,
            modified,
            meta: ObjectMeta { etag, headers },
            derived: false,
        };
        self.0.with(&self.1, |objects| {
            cond.check(objects.get(&self.2).map(|(_, old)| old.meta.etag.as_str()))?;
            objects.insert(self.2, (self.3, info.clone()));
            Ok(info)
        })
    }
}

impl Storage for Kv {
    type Reader = Reader;
    type Writer = Writer;
    type PartWriter = NoParts;

    fn create_bucket(&self, bucket: &str) -> Result<()> {
        match self.0.borrow_mut().entry(bucket.into()) {
            Entry::Occupied(_) => Err(StoreError::BucketAlreadyExists),
            Entry::Vacant(new) => {
                new.insert(Objects::new());
                Ok(())
            }
        }
    }
    fn delete_bucket(&self, bucket: &str) -> Result<()> {
        self.with(bucket, |o| {
            o.is_empty().then_some(()).ok_or(StoreError::BucketNotEmpty)
        })?;
        self.0.borrow_mut().remove(bucket);
        Ok(())
    }
    fn head_bucket(&self, bucket: &str) -> Result<BucketInfo> {
        let created = SystemTime::UNIX_EPOCH;
        self.with(bucket, |_| {
            Ok(BucketInfo {
                name: bucket.into(),
                created,
            })
        })
    }
    fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.0
            .borrow()
            .keys()
            .map(|b| self.head_bucket(b))
            .collect()
    }
    fn get_object(&self, bucket: &str, key: &str) -> Result<Reader> {
        self.with(bucket, |o| {
            let (data, info) = o.get(key).ok_or(StoreError::NoSuchKey)?;
            Ok(Reader(data.clone(), info.clone(), 0, data.len() as u64))
        })
    }
    fn put_object(&self, bucket: &str, key: &str, _size: Option<u64>) -> Result<Writer> {
        self.head_bucket(bucket)?;
        Ok(Writer(self.clone(), bucket.into(), key.into(), Vec::new()))
    }
    fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        self.with(bucket, |o| {
            o.remove(key).map(drop).ok_or(StoreError::NoSuchKey)
        })
    }
    fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage> {
        self.with(bucket, |o| {
            Ok(q.page(o.iter().map(|(k, (_, i))| {
                let etag = Some(i.meta.etag.clone());
                (k.as_str(), || ListedObject {
                    key: k.clone(),
                    size: i.size,
                    modified: i.modified,
                    etag,
                })
            })))
        })
    }
}

fn main() {
    let credentials = Credentials(vec![("AKKV".into(), "kv-secret".into())]);
    let config = ServiceConfig {
        credentials,
        ..ServiceConfig::default()
    };
    sluice_core::block_on(Driver::Auto, async move {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        println!(
            "a key-value backend on http://{}",
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
