//! The storage seam: what the S3 protocol needs of a backend. sluice-core's
//! file store implements it; so does [`crate::MemoryStorage`] (the crate's
//! own tests run on it), and a storage service can implement it for its own
//! backend (`examples/kv_backend.rs`).
//!
//! Bodies cross the seam as the aligned buffers they were received in and
//! are sent from (no copy is added), and write conditions are passed down
//! with the publish ([`WriteCondition`]), so `If-None-Match: *` and
//! `If-Match` stay atomic in any backend that checks them where it makes
//! the object visible. Errors are sluice-core's [`StoreError`], mapped to S3
//! codes in one place. Methods a backend does not support answer
//! [`StoreError::Unsupported`] (S3's NotImplemented); the defaults do.

use std::future::Future;

use sluice_core::{
    AlignedBuf, BucketInfo, BufPool, Chunk, ListPage, ListQuery, ObjectInfo, PartInfo, Result,
    StoreError, UploadInfo, WriteCondition,
};

/// A change to an object's kept headers (name, value pairs).
pub type HeaderUpdate<'a> = &'a mut dyn FnMut(&mut Vec<(String, String)>);

/// An object being read: its information, then its bytes in buffers.
pub trait ObjectRead {
    /// Size, time and metadata, as opened.
    fn info(&self) -> &ObjectInfo;
    /// Restricts the bytes read to `start..end`.
    fn set_range(&mut self, start: u64, end: u64);
    /// The next buffer of data (buffers come from `pool`); None at the end.
    fn next_chunk(&mut self, pool: &BufPool) -> impl Future<Output = Result<Option<Chunk>>>;
}

/// A body being written: an object or a part. Nothing is visible before it
/// finishes; dropped, it leaves nothing.
pub trait BodyWrite {
    /// Appends `buf`'s bytes. Implementations MUST count them against the
    /// size given when the write started and refuse more
    /// ([`StoreError::EntityTooLarge`]).
    fn write(&mut self, buf: AlignedBuf) -> impl Future<Output = Result<()>>;
    /// The MD5 of the bytes written so far (Content-MD5, the ETag).
    fn md5(&self) -> [u8; 16];
    /// The bytes are stored in another form (encrypted) and their caller
    /// hashes the plaintext: the backend need not hash them. By default
    /// it does anyway.
    fn skip_md5(&mut self) {}
}

/// An object being written.
pub trait ObjectWrite: BodyWrite {
    /// Stores `headers` with the object, ETag the MD5 of its bytes, and
    /// makes it visible in one step if `cond` holds at that moment.
    fn finish_if(
        self,
        headers: Vec<(String, String)>,
        cond: &WriteCondition,
    ) -> impl Future<Output = Result<ObjectInfo>>;
    /// [`ObjectWrite::finish_if`] with the ETag given (an encrypted
    /// object's, which is not the MD5 of the bytes stored). Backends that
    /// cannot keep one answer [`StoreError::Unsupported`], the default:
    /// encryption at rest is then unavailable.
    fn finish_with_etag_if(
        self,
        _etag: String,
        _headers: Vec<(String, String)>,
        _cond: &WriteCondition,
    ) -> impl Future<Output = Result<ObjectInfo>>
    where
        Self: Sized,
    {
        async { Err(StoreError::Unsupported("encryption at rest")) }
    }
}

/// A multipart part being written.
pub trait PartWrite: BodyWrite {
    /// Records the part (replacing an earlier upload of its number) with
    /// `headers` (its checksum).
    fn finish(self, headers: Vec<(String, String)>) -> impl Future<Output = Result<PartInfo>>;
    /// [`PartWrite::finish`] with the part's MD5 given (the plaintext's of
    /// a part stored encrypted); [`StoreError::Unsupported`] by default.
    fn finish_with_md5(
        self,
        _md5: [u8; 16],
        _headers: Vec<(String, String)>,
    ) -> impl Future<Output = Result<PartInfo>>
    where
        Self: Sized,
    {
        async { Err(StoreError::Unsupported("encryption at rest")) }
    }
    /// The headers the upload was created with (its checksum algorithm).
    fn upload_headers(&self) -> &[(String, String)];
}

/// The part writer of a backend without multipart uploads: there is no
/// value of it ([`Storage::upload_part`]'s default never makes one).
#[derive(Debug)]
pub enum NoParts {}

impl BodyWrite for NoParts {
    async fn write(&mut self, _buf: AlignedBuf) -> Result<()> {
        match *self {}
    }

    fn md5(&self) -> [u8; 16] {
        match *self {}
    }
}

impl PartWrite for NoParts {
    async fn finish(self, _headers: Vec<(String, String)>) -> Result<PartInfo> {
        match self {}
    }

    fn upload_headers(&self) -> &[(String, String)] {
        match *self {}
    }
}

/// What sluice-s3 needs of a store. Each runtime thread holds a clone.
pub trait Storage: Clone + 'static {
    /// An object being read.
    type Reader: ObjectRead;
    /// An object being written.
    type Writer: ObjectWrite;
    /// A part being written.
    type PartWriter: PartWrite;
    /// A bucket opened for the several steps of one write (a PUT reads the
    /// bucket's default encryption and creates its object through one
    /// opening).
    type Bucket;

    /// This backend writing as POSIX `owner` (uid, gid) what the request
    /// makes; by default the same backend (owners are the file store's).
    #[must_use]
    fn with_owner(&self, _owner: Option<(u32, u32)>) -> Self {
        self.clone()
    }
    /// Creates a bucket ([`StoreError::BucketAlreadyExists`]).
    ///
    /// # Errors
    /// As said, and invalid names.
    fn create_bucket(&self, bucket: &str) -> Result<()>;
    /// Deletes an empty bucket ([`StoreError::BucketNotEmpty`]).
    ///
    /// # Errors
    /// As said, and [`StoreError::NoSuchBucket`].
    fn delete_bucket(&self, bucket: &str) -> Result<()>;
    /// The bucket ([`StoreError::NoSuchBucket`]).
    ///
    /// # Errors
    /// As said.
    fn head_bucket(&self, bucket: &str) -> Result<BucketInfo>;
    /// Every bucket, by name.
    ///
    /// # Errors
    /// Backend failures.
    fn list_buckets(&self) -> Result<Vec<BucketInfo>>;
    /// An object's information ([`StoreError::NoSuchKey`]); by default
    /// that of [`Storage::get_object`]'s reader.
    ///
    /// # Errors
    /// As said, and [`StoreError::NoSuchBucket`].
    fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        Ok(self.get_object(bucket, key)?.info().clone())
    }
    /// Opens an object for reading.
    ///
    /// # Errors
    /// As [`Storage::head_object`].
    fn get_object(&self, bucket: &str, key: &str) -> Result<Self::Reader>;
    /// Starts writing an object of `size` bytes when known.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`], invalid keys, [`StoreError::EntityTooLarge`].
    fn put_object(&self, bucket: &str, key: &str, size: Option<u64>) -> Result<Self::Writer> {
        self.put_object_in(self.open_bucket(bucket)?, key, size)
    }
    /// Opens a bucket for [`Storage::bucket_config_in`] and
    /// [`Storage::put_object_in`].
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`].
    fn open_bucket(&self, bucket: &str) -> Result<Self::Bucket>;
    /// [`Storage::bucket_config`] of an open bucket.
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] by default.
    fn bucket_config_in(&self, _bucket: &Self::Bucket, _name: &str) -> Result<Option<Vec<u8>>> {
        Err(StoreError::Unsupported("bucket configuration"))
    }
    /// [`Storage::put_object`] in an open bucket.
    ///
    /// # Errors
    /// As [`Storage::put_object`].
    fn put_object_in(
        &self,
        bucket: Self::Bucket,
        key: &str,
        size: Option<u64>,
    ) -> Result<Self::Writer>;
    /// Deletes an object ([`StoreError::NoSuchKey`] when there is none).
    /// Asynchronous so that a backend can do slow work (freeing a large
    /// file's blocks, a network call) without holding the runtime thread.
    ///
    /// # Errors
    /// As said.
    fn delete_object(&self, bucket: &str, key: &str) -> impl Future<Output = Result<()>>;
    /// A page of keys in S3 order.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`].
    fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage>;

    /// Whether GETs answer generated bytes rather than what was stored
    /// (sluice's benchmark mode): stored checksums are then not sent.
    fn generates_data(&self) -> bool {
        false
    }
    /// Replaces an object's kept headers (tagging), data and ETag unchanged.
    ///
    /// # Errors
    /// [`StoreError::NoSuchKey`]; [`StoreError::Unsupported`] by default.
    fn update_headers(
        &self,
        _bucket: &str,
        _key: &str,
        _update: HeaderUpdate<'_>,
    ) -> Result<ObjectInfo> {
        Err(StoreError::Unsupported("object tagging"))
    }
    /// A bucket configuration document (`cors`); None when unset.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`]; [`StoreError::Unsupported`] by default.
    fn bucket_config(&self, _bucket: &str, _name: &str) -> Result<Option<Vec<u8>>> {
        Err(StoreError::Unsupported("bucket configuration"))
    }
    /// Sets or removes a bucket configuration document.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`]; [`StoreError::Unsupported`] by default.
    fn set_bucket_config(&self, _bucket: &str, _name: &str, _value: Option<&[u8]>) -> Result<()> {
        Err(StoreError::Unsupported("bucket configuration"))
    }
    /// Copies an object (`headers` None keeps the source's), published if
    /// `cond` holds.
    ///
    /// # Errors
    /// As reading and writing; [`StoreError::Unsupported`] by default.
    fn copy_object(
        &self,
        _src_bucket: &str,
        _src_key: &str,
        _dst_bucket: &str,
        _dst_key: &str,
        _headers: Option<Vec<(String, String)>>,
        _cond: &WriteCondition,
    ) -> impl Future<Output = Result<ObjectInfo>> {
        async { Err(StoreError::Unsupported("CopyObject")) }
    }
    /// Starts a multipart upload; its id.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`]; [`StoreError::Unsupported`] by default.
    fn create_multipart(
        &self,
        _bucket: &str,
        _key: &str,
        _headers: Vec<(String, String)>,
    ) -> Result<String> {
        Err(StoreError::Unsupported("multipart uploads"))
    }
    /// Starts writing part `number` of an upload.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`]; [`StoreError::Unsupported`] by default.
    fn upload_part(
        &self,
        _bucket: &str,
        _key: &str,
        _upload_id: &str,
        _number: u32,
        _size: Option<u64>,
    ) -> Result<Self::PartWriter> {
        Err(StoreError::Unsupported("multipart uploads"))
    }
    /// Completes an upload from the named parts (number, ETag), published
    /// if `cond` holds: exactly the bytes of those parts' last verified
    /// uploads.
    ///
    /// A completed upload SHOULD be remembered for a while (S3 does; a
    /// client whose answer was lost sends the Complete again): the same
    /// part list then answers the object, unchanged and not published
    /// again, while the key still holds the ETag the completion gave it;
    /// another part list, or a changed key, is [`StoreError::NoSuchUpload`].
    /// A completed upload is not listed, and has no parts to list.
    ///
    /// The object's headers are what `finish` makes of the upload (its
    /// headers as created) and the parts named (in order: each its last
    /// verified upload, with the headers recorded with it), called once the
    /// parts are checked and before anything is published, where no other
    /// Complete of the upload can run: the protocol checks the parts'
    /// checksums and computes the object's there. Its error refuses the
    /// completion, which changes nothing. A Complete answered from a
    /// completion made before does not call it.
    ///
    /// # Errors
    /// [`StoreError::InvalidPart`] and the like; `finish`'s;
    /// [`StoreError::Unsupported`] by default.
    fn complete_multipart<E: From<StoreError>>(
        &self,
        _bucket: &str,
        _key: &str,
        _upload_id: &str,
        _parts: &[(u32, String)],
        _cond: &WriteCondition,
        _finish: impl FnOnce(&UploadInfo, &[PartInfo]) -> core::result::Result<Vec<(String, String)>, E>,
    ) -> impl Future<Output = core::result::Result<ObjectInfo, E>> {
        async { Err(StoreError::Unsupported("multipart uploads").into()) }
    }
    /// Abandons an upload. Of an upload that was completed (and is still
    /// remembered) it changes nothing and succeeds, as S3 does.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`]; [`StoreError::Unsupported`] by default.
    fn abort_multipart(
        &self,
        _bucket: &str,
        _key: &str,
        _upload_id: &str,
    ) -> impl Future<Output = Result<()>> {
        async { Err(StoreError::Unsupported("multipart uploads")) }
    }
    /// An upload in progress (its headers as created).
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`]; by default, what
    /// [`Self::list_uploads`] answers.
    fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadInfo> {
        self.list_uploads(bucket)?
            .into_iter()
            .find(|u| u.upload_id == upload_id && u.key == key)
            .ok_or(StoreError::NoSuchUpload)
    }
    /// An upload's parts, by number.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUpload`]; [`StoreError::Unsupported`] by default.
    fn list_parts(&self, _bucket: &str, _key: &str, _upload_id: &str) -> Result<Vec<PartInfo>> {
        Err(StoreError::Unsupported("multipart uploads"))
    }
    /// A bucket's uploads in progress, by key.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBucket`]; [`StoreError::Unsupported`] by default.
    fn list_uploads(&self, _bucket: &str) -> Result<Vec<UploadInfo>> {
        Err(StoreError::Unsupported("multipart uploads"))
    }
}
