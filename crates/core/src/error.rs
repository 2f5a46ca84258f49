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
    InvalidKey(KeyProblem),
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
    KeyConflict(Conflict),
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
    /// The object's metadata is more than the filesystem keeps with a
    /// file. Nothing was changed.
    #[error("the object's metadata is larger than the filesystem can keep with it")]
    MetadataTooLarge,
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
    /// The backend does not do this (S3's NotImplemented).
    #[error("{0} is not supported by this store")]
    Unsupported(&'static str),
    /// A filesystem error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl From<rustix::io::Errno> for StoreError {
    fn from(e: rustix::io::Errno) -> Self {
        StoreError::Io(e.into())
    }
}

/// Why a key cannot be mapped to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    /// The key is empty.
    #[error("the key is empty")]
    Empty,
    /// Longer than [`crate::MAX_KEY_BYTES`].
    #[error("the key is longer than 1024 bytes")]
    TooLong,
    /// A NUL byte.
    #[error("the key contains NUL")]
    Nul,
    /// `//` or a leading `/`.
    #[error("the key has an empty path segment (// or a leading /)")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("the key has a . or .. segment")]
    DotSegment,
    /// A segment longer than the filesystem's name limit.
    #[error("a key segment is longer than 255 bytes")]
    SegmentTooLong,
    /// A segment in the store's reserved namespace.
    #[error("a key segment starts with .sluice, which is reserved")]
    Reserved,
}

/// How a key conflicts with what the filesystem holds (S3 allows `a` and
/// `a/b` as two objects; a filesystem cannot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Conflict {
    /// A parent of the key is an object file (`a` exists, `a/b` written).
    #[error("a parent of the key is an existing object")]
    ParentIsObject,
    /// The key is a directory holding other objects (`a/b` exists, `a` written).
    #[error("the key is an existing directory that holds other objects")]
    KeyIsDirectory,
    /// Data for a key ending in `/`.
    #[error("a key ending in / is a directory object and holds no data")]
    DirectoryObjectHoldsNoData,
    /// A directory object (`a/`) where `a` is an object file.
    #[error("the key of a directory object is an existing object file")]
    DirectoryObjectIsFile,
    /// A directory object copied to a key not ending in `/`, or the reverse.
    #[error("a directory object can only be copied to a key ending in /")]
    DirectoryObjectCopy,
    /// A FIFO, socket or device made over POSIX holds the key.
    #[error("the key is a special file")]
    SpecialFile,
}

/// Result with the store error.
pub type Result<T, E = StoreError> = core::result::Result<T, E>;
