//! sluice-core: the data path of sluice. A thread-per-core runtime (monoio,
//! io_uring with an epoll fallback), aligned buffers that go from socket to
//! O_DIRECT file and back, and an object store on a plain directory tree:
//! buckets are top-level directories, objects are files, metadata is in
//! `user.sluice.*` xattrs, and every write is published atomically.
//!
//! It knows nothing of S3's wire formats (sluice-s3 does); a storage
//! service can embed it alone.
//!
//! ```no_run
//! use sluice_core::{BufPool, Store, StoreOptions};
//!
//! monoio::start::<monoio::LegacyDriver, _>(async {
//!     let store = Store::open("/tmp/sluice-doc", StoreOptions::default()).unwrap();
//!     store.create_bucket("photos").ok();
//!     let pool = BufPool::new(1 << 20, 8);
//!     let mut buf = pool.get();
//!     buf.extend_from_slice(b"hello");
//!     let mut w = store.put_object("photos", "2026/cat.txt", Some(5)).unwrap();
//!     w.write(buf).await.unwrap();
//!     let info = w.finish(vec![("content-type".into(), "text/plain".into())]).await.unwrap();
//!     assert_eq!(info.meta.etag, "5d41402abc4b2a76b9719d911017c592");
//! });
//! ```
#![deny(missing_docs)]

mod buf;
mod copy;
pub mod durable;
mod error;
mod faults;
pub mod free;
mod fsys;
pub mod fuzzing;
pub mod hasher;
pub mod heap;
mod list;
pub mod md5x;
mod meta;
mod multipart;
mod names;
mod publish;
mod reader;
mod runtime;
pub mod seal;
mod sink;
mod store;
#[doc(hidden)]
pub mod testing;
mod tls_io;
mod writer;

pub use faults::active as faults_active;
pub use hasher::BodyMd5;

pub use buf::{AlignedBuf, BufPool, ALIGN, DEFAULT_BUF_SIZE};
pub use error::{Conflict, KeyProblem, Result, StoreError};
pub use list::{ListPage, ListQuery, ListedObject};
pub use meta::{derived_etag, guess_content_type, ObjectMeta, SIZE_HEADER};
pub use multipart::{
    decode_part_sizes, encode_part_sizes, PartInfo, PartWriter, UploadInfo, MAX_PARTS,
    MAX_PART_SIZE, PART_SIZES_HEADER,
};
pub use names::{is_valid_bucket_name, BucketName, ObjectKey, MAX_KEY_BYTES, RESERVED_PREFIX};
pub use publish::WriteCondition;
pub use reader::{fill_generated, Chunk, ObjectReader, DIRECT_READ_MIN};
pub use runtime::{
    block_on, numa_cores_for_path, parse_cpu_list, pick_cores, pin_to, start_runtimes, Driver,
};
/// rustls, as the TLS stream uses it.
pub use rustls;
pub use store::{
    BucketInfo, ObjectInfo, OpenBucket, Owner, Removed, Store, StoreOptions, INTERNAL_DIR,
};
pub use tls_io::TlsStream;
pub use writer::{inline_writes, ObjectWriter, INLINE_UP_TO};
