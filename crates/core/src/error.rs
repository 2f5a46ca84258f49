//! The one error type of sluice-core.

use std::io;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The bucket name breaks the S3 naming rules.
    #[error("the specified bucket is not valid")]
    InvalidBucketName,
    /// The key cannot be mapped to a path safely.
    #[error("invalid object key: {0}")]
    InvalidKey(&'static str),
    /// No such bucket.
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    /// The bucket exists already.
    #[error("the requested bucket name is not available")]
    BucketAlreadyExists,
    /// The bucket holds objects.
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty,
    /// No such object.
    #[error("the specified key does not exist")]
    NoSuchKey,
    /// A key's parent path is an existing object file (`a` exists and `a/b`
    /// is written), or the key is an existing directory that holds other
    /// objects (`a/b` exists and `a` is written). Nothing was changed.
    #[error("the key conflicts with an existing object: {0}")]
    KeyConflict(&'static str),
    /// No such multipart upload.
    #[error("the specified multipart upload does not exist")]
    NoSuchUpload,
    /// A part listed in a completion is missing or its ETag differs.
    #[error("one or more of the specified parts could not be found or did not match")]
    InvalidPart,
    /// Parts of a completion are not in ascending order.
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    /// A part other than the last is smaller than the minimum part size.
    #[error("your proposed upload is smaller than the minimum allowed object size")]
    EntityTooSmall,
    /// The object is larger than the store allows.
    #[error("your proposed upload exceeds the maximum allowed object size")]
    EntityTooLarge,
    /// The write's condition (`If-None-Match: *`, `If-Match`) does not hold
    /// at the moment of publishing. Nothing was changed.
    #[error("at least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    /// Another write to the same key held it for longer than a publish
    /// waits. Nothing was changed; the client may retry.
    #[error("another write to this key is in progress")]
    Busy,
    /// Metadata writes are refused on a file with other hard links: they
    /// would change a file that other paths, maybe outside the root, share.
    #[error("the object's file has other hard links; its metadata is not changed")]
    HardLinked,
    /// A filesystem error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl From<rustix::io::Errno> for StoreError {
    fn from(e: rustix::io::Errno) -> Self {
        StoreError::Io(e.into())
    }
}

/// Result with the store error.
pub type Result<T, E = StoreError> = core::result::Result<T, E>;
