//! The file-store backend: sluice-core's [`Store`] (buckets are
//! directories, objects files) behind [`crate::Storage`]. The only module
//! of sluice-s3 that names its types.

use sluice_core::{
    AlignedBuf, BucketInfo, BufPool, Chunk, ListPage, ListQuery, ObjectInfo, ObjectReader,
    ObjectWriter, OpenBucket, PartInfo, PartWriter, Result, Store, StoreError, UploadInfo,
    WriteCondition,
};

use crate::storage::{BodyWrite, HeaderUpdate, ObjectRead, ObjectWrite, PartWrite, Storage};

impl ObjectRead for ObjectReader {
    fn info(&self) -> &ObjectInfo {
        ObjectReader::info(self)
    }

    fn set_range(&mut self, start: u64, end: u64) {
        ObjectReader::set_range(self, start, end);
    }

    async fn next_chunk(&mut self, pool: &BufPool) -> Result<Option<Chunk>> {
        ObjectReader::next_chunk(self, pool).await
    }
}

impl BodyWrite for ObjectWriter {
    async fn write(&mut self, buf: AlignedBuf) -> Result<()> {
        ObjectWriter::write(self, buf).await
    }

    fn md5(&self) -> [u8; 16] {
        ObjectWriter::md5(self)
    }

    fn skip_md5(&mut self) {
        ObjectWriter::skip_md5(self);
    }
}

impl ObjectWrite for ObjectWriter {
    async fn finish_if(
        self,
        headers: Vec<(String, String)>,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        ObjectWriter::finish_if(self, headers, cond).await
    }

    async fn finish_with_etag_if(
        self,
        etag: String,
        headers: Vec<(String, String)>,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        ObjectWriter::finish_with_etag(self, etag, headers, cond).await
    }
}

impl BodyWrite for PartWriter {
    async fn write(&mut self, buf: AlignedBuf) -> Result<()> {
        PartWriter::write(self, buf).await
    }

    fn md5(&self) -> [u8; 16] {
        PartWriter::md5(self)
    }

    fn skip_md5(&mut self) {
        PartWriter::skip_md5(self);
    }
}

impl PartWrite for PartWriter {
    async fn finish(self, headers: Vec<(String, String)>) -> Result<PartInfo> {
        PartWriter::finish(self, headers).await
    }

    async fn finish_with_md5(
        self,
        md5: [u8; 16],
        headers: Vec<(String, String)>,
    ) -> Result<PartInfo> {
        PartWriter::finish_with_md5(self, md5, headers).await
    }

    fn upload_headers(&self) -> &[(String, String)] {
        PartWriter::upload_headers(self)
    }
}

impl Storage for Store {
    type Reader = ObjectReader;
    type Writer = ObjectWriter;
    type PartWriter = PartWriter;
    type Bucket = OpenBucket;

    fn with_owner(&self, owner: Option<(u32, u32)>) -> Self {
        Store::with_owner(
            self,
            owner.map(|(uid, gid)| sluice_core::Owner { uid, gid }),
        )
    }

    fn create_bucket(&self, bucket: &str) -> Result<()> {
        Store::create_bucket(self, bucket)
    }

    fn delete_bucket(&self, bucket: &str) -> Result<()> {
        Store::delete_bucket(self, bucket)
    }

    fn head_bucket(&self, bucket: &str) -> Result<BucketInfo> {
        Store::head_bucket(self, bucket)
    }

    fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        Store::list_buckets(self)
    }

    fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        Store::head_object(self, bucket, key)
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<ObjectReader> {
        Store::get_object(self, bucket, key)
    }

    fn open_bucket(&self, bucket: &str) -> Result<OpenBucket> {
        Store::open_bucket(self, bucket)
    }

    fn bucket_config_in(&self, bucket: &OpenBucket, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(bucket.config(name))
    }

    fn put_object_in(
        &self,
        bucket: OpenBucket,
        key: &str,
        size: Option<u64>,
    ) -> Result<ObjectWriter> {
        Store::put_object_in(self, bucket, key, size)
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        // An unlink that waits for the device goes through io_uring, a
        // large file's blocks are freed off the runtime thread; the answer
        // waits for both.
        Store::remove_object_off_thread(self, bucket, key)
            .await?
            .free()
            .await;
        Ok(())
    }

    fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage> {
        Store::list_objects(self, bucket, query)
    }

    fn generates_data(&self) -> bool {
        self.options().null_data
    }

    fn update_headers(
        &self,
        bucket: &str,
        key: &str,
        update: HeaderUpdate<'_>,
    ) -> Result<ObjectInfo> {
        Store::update_headers(self, bucket, key, update)
    }

    fn bucket_config(&self, bucket: &str, name: &str) -> Result<Option<Vec<u8>>> {
        Store::bucket_config(self, bucket, name)
    }

    fn set_bucket_config(&self, bucket: &str, name: &str, value: Option<&[u8]>) -> Result<()> {
        Store::set_bucket_config(self, bucket, name, value)
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
        Store::copy_object(
            self, src_bucket, src_key, dst_bucket, dst_key, headers, cond,
        )
        .await
    }

    fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        headers: Vec<(String, String)>,
    ) -> Result<String> {
        Store::create_multipart(self, bucket, key, headers)
    }

    fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        size: Option<u64>,
    ) -> Result<PartWriter> {
        Store::upload_part(self, bucket, key, upload_id, number, size)
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
        Store::complete_multipart_with(self, bucket, key, upload_id, parts, cond, finish).await
    }

    async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        // Large part files are freed off the runtime thread; the answer
        // waits for them.
        Store::abort_upload(self, bucket, key, upload_id)?
            .free()
            .await;
        Ok(())
    }

    fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadInfo> {
        Store::get_upload(self, bucket, key, upload_id)
    }

    fn list_parts(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Vec<PartInfo>> {
        Store::list_parts(self, bucket, key, upload_id)
    }

    fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadInfo>> {
        Store::list_uploads(self, bucket)
    }
}
