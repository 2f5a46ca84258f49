//! A storage service embedding sluice-s3 over a backend of its own: here a
//! map in memory, where a real service would call its store. Buckets,
//! objects and listing are implemented; tagging, CORS, copies and multipart
//! answer NotImplemented through the trait's defaults.
//!
//! `cargo run -p sluice-s3 --example kv_backend`, then any S3 client on the
//! printed address with access key `AKKV` and secret `kv-secret`.
use std::{cell::RefCell, collections::BTreeMap, rc::Rc, sync::Arc, time::SystemTime};

use sluice_core::StoreError::{BucketAlreadyExists, BucketNotEmpty, NoSuchBucket, NoSuchKey};
use sluice_core::{BucketInfo, ListPage, ListQuery, ListedObject, ObjectInfo, Result};
use sluice_s3::{BytesReader, BytesWriter, Credentials, NoParts, ServiceConfig, Storage};

type Objects = BTreeMap<String, (Arc<Vec<u8>>, ObjectInfo)>;

/// The service's own store: buckets of objects.
#[derive(Clone, Default)]
struct Kv(Rc<RefCell<BTreeMap<String, Objects>>>);

impl Kv {
    fn with<T>(&self, bucket: &str, f: impl FnOnce(&mut Objects) -> Result<T>) -> Result<T> {
        let mut buckets = self.0.borrow_mut();
        f(buckets.get_mut(bucket).ok_or(NoSuchBucket)?)
    }
}

impl Storage for Kv {
    type Reader = BytesReader;
    type Writer = BytesWriter;
    type PartWriter = NoParts;
    type Bucket = String;

    fn create_bucket(&self, bucket: &str) -> Result<()> {
        let mut buckets = self.0.borrow_mut();
        if buckets.contains_key(bucket) {
            return Err(BucketAlreadyExists);
        }
        buckets.insert(bucket.into(), Objects::new());
        Ok(())
    }
    fn delete_bucket(&self, bucket: &str) -> Result<()> {
        self.with(bucket, |o| o.is_empty().then_some(()).ok_or(BucketNotEmpty))?;
        self.0.borrow_mut().remove(bucket);
        Ok(())
    }
    fn head_bucket(&self, bucket: &str) -> Result<BucketInfo> {
        let (name, created) = (bucket.to_owned(), SystemTime::UNIX_EPOCH);
        self.with(bucket, |_| Ok(BucketInfo { name, created }))
    }
    fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let names: Vec<String> = self.0.borrow().keys().cloned().collect();
        names.iter().map(|b| self.head_bucket(b)).collect()
    }
    fn get_object(&self, bucket: &str, key: &str) -> Result<BytesReader> {
        self.with(bucket, |o| {
            let (data, info) = o.get(key).ok_or(NoSuchKey)?;
            Ok(BytesReader::new(info.clone(), Arc::clone(data)))
        })
    }
    fn open_bucket(&self, bucket: &str) -> Result<String> {
        self.head_bucket(bucket).map(|b| b.name)
    }
    fn put_object_in(&self, bucket: String, key: &str, size: Option<u64>) -> Result<BytesWriter> {
        let (kv, key) = (self.clone(), key.to_owned());
        Ok(BytesWriter::new(size, move |data, info, cond| {
            kv.with(&bucket, |o| {
                cond.check(o.get(&key).map(|(_, old)| old.meta.etag.as_str()))?;
                o.insert(key, (Arc::new(data), info));
                Ok(())
            })
        }))
    }
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        self.with(bucket, |o| o.remove(key).map(drop).ok_or(NoSuchKey))
    }
    fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage> {
        self.with(bucket, |o| {
            Ok(q.page(
                o.iter()
                    .map(|(k, (_, i))| (k.as_str(), || ListedObject::of(k, i))),
            ))
        })
    }
}

fn main() {
    let credentials = std::sync::Arc::new(Credentials(vec![("AKKV".into(), "kv-secret".into())]));
    let config = ServiceConfig {
        credentials,
        ..ServiceConfig::default()
    };
    sluice_core::block_on(sluice_core::Driver::Auto, async move {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        println!("serving on http://{address}");
        let ctx = sluice_s3::ThreadContext::new(Kv::default(), config, 0);
        sluice_s3::serve(listener, ctx).await;
    })
    .expect("runtime");
}
