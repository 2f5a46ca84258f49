//! Server-side encryption: which objects are stored encrypted (SSE-S3 by
//! request or by the bucket's default, SSE-C with the customer's key), the
//! data keys wrapped beside them, and the writer and reader that seal and
//! open their frames ([`sluice_core::seal`]) in the same pass as the rest
//! of the data path.
//!
//! Kept with an encrypted object (all `x-sluice-*`, never answered):
//! - [`SSE_HEADER`]: `s3 <master key id> <wrapped data key>` or
//!   `c <data key wrapped by the customer's key>`;
//! - [`LAYOUT_HEADER`]: the segments (see [`Layout::encode`]) and their MAC;
//! - [`sluice_core::SIZE_HEADER`]: the plaintext size (listings give it).
//!
//! A customer's key is never kept: the data key is wrapped by it (AES-GCM),
//! and a request with another key fails to unwrap it (AccessDenied).

use std::collections::VecDeque;
use std::sync::Arc;

use md5::{Digest as _, Md5};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use sluice_core::seal::{self, DataKey, Layout, Opener, Sealer, Segment};
use sluice_core::{
    AlignedBuf, BufPool, Chunk, ObjectInfo, PartInfo, Result as StoreResult, StoreError,
    UploadInfo, WriteCondition, SIZE_HEADER,
};
use sluice_sigv4::{base64_decode, base64_encode};

use crate::error::{S3Error, S3ErrorCode};
use crate::request::Request;
use crate::storage::{BodyWrite, ObjectRead, ObjectWrite, PartWrite};

/// How an encrypted object's data key is wrapped.
pub const SSE_HEADER: &str = "x-sluice-sse";
/// An encrypted object's layout and its MAC.
pub const LAYOUT_HEADER: &str = "x-sluice-sse-layout";
/// A part's plaintext size, recorded with the part.
pub const PART_PLAIN_HEADER: &str = "x-sluice-sse-plain";
/// An SSE-C upload's layout MAC key, wrapped by a master key (Complete is
/// sent without the customer's key).
pub const MAC_KEY_HEADER: &str = "x-sluice-sse-mac";
/// The bucket configuration holding its default encryption.
pub const BUCKET_CONFIG: &str = "encryption";

/// The master keys that wrap data keys. Old keys stay readable after a
/// rotation: objects wrapped by them keep working until re-wrapped.
pub trait MasterKeys: Send + Sync + std::fmt::Debug {
    /// The key new data keys are wrapped with: its id and bytes.
    ///
    /// # Errors
    /// The keys cannot be read (a message for the log).
    fn current(&self) -> Result<(u32, [u8; 32]), String>;
    /// The key of `id`, None when unknown.
    fn get(&self, id: u32) -> Option<[u8; 32]>;
}

/// A fixed set of master keys (tests, embedders that keep their own).
#[derive(Debug, Clone)]
pub struct FixedKeys {
    /// Keys by id.
    pub keys: Vec<(u32, [u8; 32])>,
    /// The id of the current one.
    pub current: u32,
}

impl MasterKeys for FixedKeys {
    fn current(&self) -> Result<(u32, [u8; 32]), String> {
        self.get(self.current)
            .map(|k| (self.current, k))
            .ok_or_else(|| "the current master key is missing".to_owned())
    }

    fn get(&self, id: u32) -> Option<[u8; 32]> {
        self.keys.iter().find(|(i, _)| *i == id).map(|(_, k)| *k)
    }
}

/// Wraps `secret` with `kek` (AES-256-GCM, a random nonce, `label` bound).
#[must_use]
pub fn wrap(kek: &[u8; 32], label: &[u8], secret: &[u8; 32]) -> String {
    let key = aead_key(kek);
    let nonce: [u8; NONCE_LEN] = seal::random();
    let mut body = secret.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(label),
            &mut body,
        )
        .map_err(|_| ())
        .unwrap_or_else(|()| unreachable!("32 bytes are within AES-GCM's limits"));
    let mut out = nonce.to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(tag.as_ref());
    base64_encode(&out)
}

/// Unwraps what [`wrap`] made; None with another key or label, or when
/// changed.
#[must_use]
pub fn unwrap(kek: &[u8; 32], label: &[u8], wrapped: &str) -> Option<[u8; 32]> {
    let mut raw = base64_decode(wrapped.as_bytes())?;
    if raw.len() != NONCE_LEN + 32 + 16 {
        return None;
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&raw[..NONCE_LEN]);
    let plain = aead_key(kek)
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(label),
            &mut raw[NONCE_LEN..],
        )
        .ok()?;
    <[u8; 32]>::try_from(&plain[..]).ok()
}

fn aead_key(raw: &[u8; 32]) -> LessSafeKey {
    match UnboundKey::new(&AES_256_GCM, raw) {
        Ok(k) => LessSafeKey::new(k),
        Err(_) => unreachable!("AES-256 takes 32-byte keys"),
    }
}

fn master_label(id: u32) -> Vec<u8> {
    format!("sluice data key, master {id}").into_bytes()
}

const CUSTOMER_LABEL: &[u8] = b"sluice data key, customer key";

/// A customer's key (SSE-C) as a request gives it.
#[derive(Clone)]
pub struct CustomerKey {
    key: [u8; 32],
    /// The base64 MD5 the client sent (answered back).
    md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKey(..)")
    }
}

fn invalid(message: &'static str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument, message)
}

/// The customer's key of a request: `x-amz-server-side-encryption-customer-*`
/// (`copy_source`: `x-amz-copy-source-server-side-encryption-customer-*`).
/// SSE-C needs HTTPS, as AWS requires.
///
/// # Errors
/// InvalidArgument for an incomplete or inconsistent set (AWS's messages),
/// InvalidRequest over plain HTTP.
pub fn customer_key(req: &Request, copy_source: bool) -> Result<Option<CustomerKey>, S3Error> {
    let prefix = if copy_source {
        "x-amz-copy-source-server-side-encryption-customer-"
    } else {
        "x-amz-server-side-encryption-customer-"
    };
    let get = |suffix: &str| req.header(&format!("{prefix}{suffix}"));
    let (alg, key, md5) = (get("algorithm"), get("key"), get("key-md5"));
    if alg.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    if !req.secure {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
        ));
    }
    match alg {
        Some("AES256") => {}
        Some(_) => {
            return Err(invalid(
                "The requested encryption algorithm is not valid; it must be AES256.",
            ))
        }
        None => {
            return Err(invalid(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            ))
        }
    }
    let Some(key) = key else {
        return Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
        ));
    };
    let Some(md5) = md5 else {
        return Err(invalid(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
        ));
    };
    let raw = base64_decode(key.trim().as_bytes())
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        .ok_or_else(|| invalid("The secret key was invalid for the specified algorithm."))?;
    let sent = base64_decode(md5.trim().as_bytes()).unwrap_or_default();
    let computed: [u8; 16] = Md5::digest(raw).into();
    if sent != computed {
        return Err(invalid(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        ));
    }
    Ok(Some(CustomerKey {
        key: raw,
        md5: md5.trim().to_owned(),
    }))
}

/// How an object is (or is to be) encrypted.
#[derive(Debug, Clone)]
pub enum Kind {
    /// SSE-S3: a data key wrapped by the master key of this id.
    Managed(u32),
    /// SSE-C: the customer's key of the request.
    Customer(CustomerKey),
}

/// An object's encryption: its kind and data key.
#[derive(Debug, Clone)]
pub struct Seal {
    /// How its data key is wrapped.
    pub kind: Kind,
    /// The data key.
    pub key: DataKey,
}

/// The headers answering a request that gave customer key `c`.
#[must_use]
pub fn customer_headers(c: &CustomerKey) -> Vec<(String, String)> {
    vec![
        (
            "x-amz-server-side-encryption-customer-algorithm".into(),
            "AES256".into(),
        ),
        (
            "x-amz-server-side-encryption-customer-key-MD5".into(),
            c.md5.clone(),
        ),
    ]
}

impl Seal {
    /// The headers answered for an object of this kind.
    #[must_use]
    pub fn response_headers(&self) -> Vec<(String, String)> {
        match &self.kind {
            Kind::Managed(_) => vec![("x-amz-server-side-encryption".into(), "AES256".into())],
            Kind::Customer(c) => customer_headers(c),
        }
    }

    /// The ETag of an object or part whose plaintext has MD5 `md5`: the MD5
    /// itself for SSE-S3 (as AWS), a keyed digest for SSE-C (which must
    /// not reveal the plaintext's MD5).
    #[must_use]
    pub fn etag_bytes(&self, md5: [u8; 16]) -> [u8; 16] {
        match self.kind {
            Kind::Managed(_) => md5,
            Kind::Customer(_) => self.key.tag16(&md5),
        }
    }

    /// The kept header naming how the data key is wrapped.
    ///
    /// # Errors
    /// The master key cannot be read.
    fn wrapped(&self, keys: &dyn MasterKeys) -> Result<(String, String), S3Error> {
        let value = match &self.kind {
            Kind::Managed(id) => {
                let master = keys
                    .get(*id)
                    .ok_or_else(|| S3Error::internal("the master key is gone"))?;
                format!(
                    "s3 {id} {}",
                    wrap(&master, &master_label(*id), self.key.bytes())
                )
            }
            Kind::Customer(c) => format!("c {}", wrap(&c.key, CUSTOMER_LABEL, self.key.bytes())),
        };
        Ok((SSE_HEADER.to_owned(), value))
    }
}

/// What a request asks for a new object: SSE-S3, SSE-C, or nothing (the
/// bucket's default or the server's may still apply).
///
/// # Errors
/// AWS's errors for unknown or conflicting encryption headers.
pub fn requested(req: &Request) -> Result<Option<Requested>, S3Error> {
    let customer = customer_key(req, false)?;
    match (req.header("x-amz-server-side-encryption"), customer) {
        (Some(_), Some(_)) => Err(invalid(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        )),
        (None, Some(c)) => Ok(Some(Requested::Customer(c))),
        (Some("AES256"), None) => Ok(Some(Requested::Managed)),
        (Some("aws:kms" | "aws:kms:dsse"), None) => Err(S3Error::not_implemented(
            "Server-side encryption with KMS keys (SSE-KMS); use AES256",
        )),
        (Some(_), None) => Err(invalid("The encryption method specified is not supported")),
        (None, None) => Ok(None),
    }
}

/// An encryption a request asks for.
#[derive(Debug, Clone)]
pub enum Requested {
    /// `x-amz-server-side-encryption: AES256`.
    Managed,
    /// SSE-C.
    Customer(CustomerKey),
}

/// The encryption of a new object in `bucket`: what the request asks, else
/// the bucket's default (read only then), else the server's; None when
/// unencrypted.
///
/// # Errors
/// As [`requested`]; NoSuchBucket; NotImplemented when encryption is asked
/// for and the server has no master keys.
pub(crate) fn for_new_object<B: crate::Storage>(
    ctx: &crate::ThreadContext<B>,
    req: &Request,
    bucket: &str,
) -> Result<Option<Seal>, S3Error> {
    for_new_object_with(ctx, req, || bucket_encrypts(ctx, bucket))
}

/// [`for_new_object`], asking `bucket_encrypts` for the bucket's default
/// (only when the request asks nothing and the server does not encrypt
/// everything).
///
/// # Errors
/// As [`for_new_object`].
pub(crate) fn for_new_object_with<B: crate::Storage>(
    ctx: &crate::ThreadContext<B>,
    req: &Request,
    bucket_encrypts: impl FnOnce() -> Result<bool, S3Error>,
) -> Result<Option<Seal>, S3Error> {
    let want = match requested(req)? {
        Some(w) => Some(w),
        None if ctx.config.encrypt_by_default || bucket_encrypts()? => Some(Requested::Managed),
        None => None,
    };
    let Some(want) = want else { return Ok(None) };
    let kind = match want {
        Requested::Customer(c) => Kind::Customer(c),
        Requested::Managed => {
            let keys = ctx.config.master_keys.as_ref().ok_or_else(|| {
                S3Error::not_implemented("Server-side encryption (this server has no master key)")
            })?;
            let (id, _) = keys.current().map_err(S3Error::internal)?;
            Kind::Managed(id)
        }
    };
    Ok(Some(Seal {
        kind,
        key: DataKey::generate(),
    }))
}

/// Whether `bucket` has a default encryption (PutBucketEncryption, or
/// `sluice bucket create --encrypt`).
///
/// # Errors
/// NoSuchBucket and store failures.
pub(crate) fn bucket_encrypts<B: crate::Storage>(
    ctx: &crate::ThreadContext<B>,
    bucket: &str,
) -> Result<bool, S3Error> {
    encrypts(ctx.store.bucket_config(bucket, BUCKET_CONFIG))
}

/// [`bucket_encrypts`] of an open bucket.
///
/// # Errors
/// Store failures.
pub(crate) fn open_bucket_encrypts<B: crate::Storage>(
    store: &B,
    bucket: &B::Bucket,
) -> Result<bool, S3Error> {
    encrypts(store.bucket_config_in(bucket, BUCKET_CONFIG))
}

fn encrypts(config: sluice_core::Result<Option<Vec<u8>>>) -> Result<bool, S3Error> {
    match config {
        Ok(v) => Ok(v.is_some()),
        Err(StoreError::Unsupported(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The headers to keep with a new encrypted object or upload.
///
/// # Errors
/// The master key cannot be read.
pub fn kept_headers(
    seal: &Seal,
    keys: Option<&Arc<dyn MasterKeys>>,
) -> Result<Vec<(String, String)>, S3Error> {
    let keys: &dyn MasterKeys = match keys {
        Some(k) => k.as_ref(),
        None => &NO_KEYS,
    };
    let mut out = vec![seal.wrapped(keys)?];
    if matches!(seal.kind, Kind::Customer(_)) {
        // Complete comes without the customer's key: the layout's MAC key
        // waits for it wrapped by the master key.
        if let Ok((id, master)) = keys.current() {
            out.push((
                MAC_KEY_HEADER.to_owned(),
                format!(
                    "{id} {}",
                    wrap(&master, &master_label(id), &seal.key.mac_key())
                ),
            ));
        }
    }
    Ok(out)
}

#[derive(Debug)]
struct NoKeys;
static NO_KEYS: NoKeys = NoKeys;

impl MasterKeys for NoKeys {
    fn current(&self) -> Result<(u32, [u8; 32]), String> {
        Err("no master key".into())
    }
    fn get(&self, _id: u32) -> Option<[u8; 32]> {
        None
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The encryption of a stored object or upload from its kept headers and
/// the request's customer key (`copy_source` for a copy's source); None
/// when it is not encrypted.
///
/// # Errors
/// InvalidRequest when SSE-C headers come for an unencrypted or SSE-S3
/// object, or none for an SSE-C one; AccessDenied for another customer key;
/// an internal error when the master key is gone.
pub fn of_stored(
    headers: &[(String, String)],
    req: &Request,
    copy_source: bool,
    keys: Option<&Arc<dyn MasterKeys>>,
) -> Result<Option<Seal>, S3Error> {
    let customer = customer_key(req, copy_source)?;
    let not_applicable = || {
        S3Error::new(
            S3ErrorCode::InvalidRequest,
            "The encryption parameters are not applicable to this object.",
        )
    };
    let Some(value) = header(headers, SSE_HEADER) else {
        return match customer {
            Some(_) => Err(not_applicable()),
            None => Ok(None),
        };
    };
    let mut words = value.split(' ');
    match (words.next(), words.next(), words.next()) {
        (Some("s3"), Some(id), Some(wrapped)) => {
            if customer.is_some() {
                return Err(not_applicable());
            }
            let id: u32 = id
                .parse()
                .map_err(|_| S3Error::internal("a malformed wrapped key"))?;
            let master = keys.and_then(|k| k.get(id)).ok_or_else(|| {
                S3Error::internal(format!("master key {id} is not in the key ring"))
            })?;
            let raw = unwrap(&master, &master_label(id), wrapped)
                .ok_or_else(|| S3Error::internal("a data key failed to unwrap"))?;
            Ok(Some(Seal {
                kind: Kind::Managed(id),
                key: DataKey::from_bytes(raw),
            }))
        }
        (Some("c"), Some(wrapped), None) => {
            let Some(c) = customer else {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
                ));
            };
            let raw = unwrap(&c.key, CUSTOMER_LABEL, wrapped)
                .ok_or_else(|| S3Error::new(S3ErrorCode::AccessDenied, "Access Denied"))?;
            Ok(Some(Seal {
                kind: Kind::Customer(c),
                key: DataKey::from_bytes(raw),
            }))
        }
        _ => Err(S3Error::internal("a malformed encryption header")),
    }
}

/// The layout kept with an encrypted object, checked against its MAC and
/// the stored length.
///
/// # Errors
/// An internal error (logged with the reason) when the layout is missing,
/// malformed, fails its MAC or does not match the file's length.
pub fn stored_layout(info: &ObjectInfo, key: &DataKey) -> Result<Layout, S3Error> {
    let value = info
        .meta
        .header(LAYOUT_HEADER)
        .ok_or_else(|| S3Error::internal("an encrypted object without its layout"))?;
    let (text, mac) = value
        .rsplit_once(' ')
        .ok_or_else(|| S3Error::internal("a malformed layout"))?;
    let layout = Layout::decode(text).map_err(S3Error::internal)?;
    layout.verify(key, mac).map_err(S3Error::internal)?;
    let expected = layout
        .stored_len()
        .ok_or_else(|| S3Error::internal("a layout too large"))?;
    if expected != info.size {
        return Err(S3Error::internal(seal::SealError::Length {
            expected,
            found: info.size,
        }));
    }
    Ok(layout)
}

fn layout_headers(layout: &Layout, mac_key: &[u8; 32]) -> [(String, String); 2] {
    [
        (
            LAYOUT_HEADER.to_owned(),
            format!("{} {}", layout.encode(), layout.mac(mac_key)),
        ),
        (SIZE_HEADER.to_owned(), layout.plain_len().to_string()),
    ]
}

/// A body written through a sealer: plaintext hashed (MD5) and sealed into
/// frames on the way to the backend's writer.
#[derive(Debug)]
pub struct Sealing<W> {
    inner: W,
    seal: Seal,
    sealer: Sealer,
    md5: sluice_core::BodyMd5,
    pool: BufPool,
    /// Plaintext bytes announced (Content-Length), when known.
    limit: Option<u64>,
    ready: Vec<AlignedBuf>,
}

impl<W: BodyWrite> Sealing<W> {
    /// Seals what is written to `inner` (which was opened for the stored
    /// length of `limit` plaintext bytes) as segment `part`, in buffers of
    /// `pool` (whose size is a multiple of a frame).
    pub fn new(mut inner: W, seal: Seal, part: u32, pool: BufPool, limit: Option<u64>) -> Self {
        inner.skip_md5();
        Sealing {
            inner,
            sealer: Sealer::new(seal.key.clone(), part),
            seal,
            md5: sluice_core::BodyMd5::new(),
            pool,
            limit,
            ready: Vec::new(),
        }
    }

    async fn drain(&mut self) -> StoreResult<()> {
        for buf in std::mem::take(&mut self.ready) {
            self.inner.write(buf).await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> StoreResult<u64> {
        self.sealer.finish(&mut self.ready);
        self.drain().await?;
        Ok(self.sealer.plain_len())
    }

    fn md5_bytes(&self) -> [u8; 16] {
        self.md5.digest()
    }
}

impl<W: BodyWrite> BodyWrite for Sealing<W> {
    async fn write(&mut self, buf: AlignedBuf) -> StoreResult<()> {
        let total = self.sealer.plain_len().saturating_add(buf.len() as u64);
        if self.limit.is_some_and(|l| total > l) {
            return Err(StoreError::EntityTooLarge);
        }
        let buf = self.md5.update(buf).await;
        self.sealer
            .push(buf.as_slice(), &self.pool, &mut self.ready);
        drop(buf);
        self.drain().await
    }

    fn md5(&self) -> [u8; 16] {
        self.md5_bytes()
    }
}

impl<W: ObjectWrite> ObjectWrite for Sealing<W> {
    async fn finish_if(
        mut self,
        mut headers: Vec<(String, String)>,
        cond: &WriteCondition,
    ) -> StoreResult<ObjectInfo> {
        let plain = self.flush().await?;
        let layout = Layout::single(plain);
        headers.extend(layout_headers(&layout, &self.seal.key.mac_key()));
        let etag = sluice_http::hex_encode(&self.seal.etag_bytes(self.md5_bytes()));
        let mut info = self.inner.finish_with_etag_if(etag, headers, cond).await?;
        info.size = plain;
        Ok(info)
    }
}

impl<W: PartWrite> PartWrite for Sealing<W> {
    async fn finish(mut self, mut headers: Vec<(String, String)>) -> StoreResult<PartInfo> {
        let plain = self.flush().await?;
        headers.push((PART_PLAIN_HEADER.to_owned(), plain.to_string()));
        let md5 = self.seal.etag_bytes(self.md5_bytes());
        let mut info = self.inner.finish_with_md5(md5, headers).await?;
        info.size = plain;
        Ok(info)
    }

    fn upload_headers(&self) -> &[(String, String)] {
        self.inner.upload_headers()
    }
}

/// A writer that seals or not.
#[derive(Debug)]
pub enum Writer<W> {
    /// Stored as sent.
    Plain(W),
    /// Stored encrypted.
    Sealed(Box<Sealing<W>>),
}

impl<W: BodyWrite> BodyWrite for Writer<W> {
    async fn write(&mut self, buf: AlignedBuf) -> StoreResult<()> {
        match self {
            Writer::Plain(w) => w.write(buf).await,
            Writer::Sealed(w) => w.write(buf).await,
        }
    }

    fn md5(&self) -> [u8; 16] {
        match self {
            Writer::Plain(w) => w.md5(),
            Writer::Sealed(w) => w.md5(),
        }
    }
}

impl<W: ObjectWrite> ObjectWrite for Writer<W> {
    async fn finish_if(
        self,
        headers: Vec<(String, String)>,
        cond: &WriteCondition,
    ) -> StoreResult<ObjectInfo> {
        match self {
            Writer::Plain(w) => w.finish_if(headers, cond).await,
            Writer::Sealed(w) => (*w).finish_if(headers, cond).await,
        }
    }
}

impl<W: PartWrite> PartWrite for Writer<W> {
    async fn finish(self, headers: Vec<(String, String)>) -> StoreResult<PartInfo> {
        match self {
            Writer::Plain(w) => w.finish(headers).await,
            Writer::Sealed(w) => (*w).finish(headers).await,
        }
    }

    fn upload_headers(&self) -> &[(String, String)] {
        match self {
            Writer::Plain(w) => w.upload_headers(),
            Writer::Sealed(w) => w.upload_headers(),
        }
    }
}

/// The writer of a body: `inner` as is, or sealing with `seal` as segment
/// `part` when given (`plain`: the announced plaintext length).
pub(crate) fn writer<B: crate::Storage, W: BodyWrite>(
    ctx: &crate::ThreadContext<B>,
    inner: W,
    seal: Option<&Seal>,
    part: u32,
    plain: Option<u64>,
) -> Writer<W> {
    match seal {
        None => Writer::Plain(inner),
        Some(s) => {
            let pool = ctx.pool_for(plain.unwrap_or(u64::MAX)).clone();
            Writer::Sealed(Box::new(Sealing::new(inner, s.clone(), part, pool, plain)))
        }
    }
}

/// The stored length of a body of `plain` bytes when sealed.
///
/// # Errors
/// EntityTooLarge on overflow.
pub fn stored_size(plain: Option<u64>, sealed: bool) -> StoreResult<Option<u64>> {
    match (plain, sealed) {
        (Some(n), true) => seal::stored_len(n)
            .map(Some)
            .ok_or(StoreError::EntityTooLarge),
        (n, _) => Ok(n),
    }
}

/// An object being read, opened from its frames when encrypted.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    /// The object as clients see it (the plaintext size).
    info: ObjectInfo,
    // Boxed, as the opener: their key schedules are most of a kilobyte,
    // which every plain object's reader would otherwise carry through each
    // move of its response.
    sealed: Option<Box<(DataKey, Layout)>>,
    opener: Option<Box<Opener>>,
    ready: VecDeque<Chunk>,
}

impl<R: ObjectRead> Reader<R> {
    /// A reader of `inner`, decrypting with `seal` when given (its layout
    /// checked first).
    ///
    /// # Errors
    /// As [`stored_layout`].
    pub fn new(inner: R, seal: Option<&Seal>) -> Result<Self, S3Error> {
        let mut info = inner.info().clone();
        let sealed = match seal {
            Some(s) => {
                let layout = stored_layout(&info, &s.key)?;
                info.size = layout.plain_len();
                Some(Box::new((s.key.clone(), layout)))
            }
            None => None,
        };
        Ok(Reader {
            inner,
            info,
            sealed,
            opener: None,
            ready: VecDeque::new(),
        })
    }
}

impl<R> Reader<R> {
    /// For an encrypted object, its parts' sizes as its authenticated
    /// layout has them (None inside when it was written whole); None for
    /// an object stored as sent.
    #[must_use]
    pub fn part_sizes(&self) -> Option<Option<Vec<u64>>> {
        let (_, layout) = self.sealed.as_deref()?;
        Some(match layout.segments() {
            [s] if s.part == 0 => None,
            segs => Some(segs.iter().map(|s| s.plain).collect()),
        })
    }
}

impl<R: ObjectRead> ObjectRead for Reader<R> {
    fn info(&self) -> &ObjectInfo {
        &self.info
    }

    fn set_range(&mut self, start: u64, end: u64) {
        match self.sealed.as_deref() {
            None => self.inner.set_range(start, end),
            Some((key, layout)) => {
                let (s, e, _) = layout.frames_for(start, end);
                if e > s {
                    self.inner.set_range(s, e);
                }
                self.opener = Some(Box::new(Opener::new(
                    key.clone(),
                    layout.clone(),
                    start,
                    end,
                )));
            }
        }
    }

    async fn next_chunk(&mut self, pool: &BufPool) -> StoreResult<Option<Chunk>> {
        if self.sealed.is_none() {
            return self.inner.next_chunk(pool).await;
        }
        if self.opener.is_none() {
            let size = self.info.size;
            self.set_range(0, size);
        }
        loop {
            if let Some(c) = self.ready.pop_front() {
                return Ok(Some(c));
            }
            let Some(opener) = self.opener.as_mut() else {
                return Ok(None);
            };
            if opener.is_done() {
                return Ok(None);
            }
            let outcome = match self.inner.next_chunk(pool).await? {
                Some(chunk) => opener.absorb(chunk, pool, &mut self.ready),
                // The file ended before the frames its layout names.
                None => Err(seal::SealError::Length {
                    expected: self.inner.info().size,
                    found: 0,
                }),
            };
            if let Err(e) = outcome {
                tracing::error!(error = %e, "an encrypted object failed its integrity check: nothing more of it is sent");
                return Err(e.into());
            }
        }
    }
}

/// The headers kept with a completed encrypted upload: the layout of its
/// parts (each its plaintext size as recorded) under the upload's MAC key,
/// the plaintext size and part sizes.
///
/// # Errors
/// EntityTooSmall when a part but the last has less than 5 MiB of
/// plaintext; an internal error when the MAC key cannot be had.
pub fn completed_headers(
    upload: &UploadInfo,
    parts: &[PartInfo],
    keys: Option<&Arc<dyn MasterKeys>>,
) -> Result<Vec<(String, String)>, S3Error> {
    let mut segments = Vec::with_capacity(parts.len());
    for p in parts {
        let plain = header(&p.headers, PART_PLAIN_HEADER)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| S3Error::internal("an encrypted part without its size"))?;
        segments.push(Segment {
            part: p.number,
            plain,
        });
    }
    if segments
        .iter()
        .rev()
        .skip(1)
        .any(|s| s.plain < 5 * 1024 * 1024)
    {
        return Err(S3ErrorCode::EntityTooSmall.into());
    }
    let mac_key = upload_mac_key(&upload.headers, keys)?;
    let layout = Layout::parts(segments);
    let sizes: Vec<u64> = layout.segments().iter().map(|s| s.plain).collect();
    let mut out = layout_headers(&layout, &mac_key).to_vec();
    out.push((
        sluice_core::PART_SIZES_HEADER.to_owned(),
        sluice_core::encode_part_sizes(&sizes).ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::InvalidRequest,
                "An encrypted object's parts must be of few distinct sizes (all but the last of one size, as clients send them).",
            )
        })?,
    ));
    Ok(out)
}

/// Parts as their plaintext: sizes from [`PART_PLAIN_HEADER`].
#[must_use]
pub fn plain_parts(parts: &[PartInfo]) -> Vec<PartInfo> {
    parts
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if let Some(n) = header(&p.headers, PART_PLAIN_HEADER).and_then(|v| v.parse().ok()) {
                p.size = n;
            }
            p
        })
        .collect()
}

/// The layout MAC key of an encrypted upload, from its kept headers.
fn upload_mac_key(
    headers: &[(String, String)],
    keys: Option<&Arc<dyn MasterKeys>>,
) -> Result<[u8; 32], S3Error> {
    let lost = || S3Error::internal("an encrypted upload's keys cannot be unwrapped");
    let sse = header(headers, SSE_HEADER).ok_or_else(lost)?;
    let mut words = sse.split(' ');
    let (id, wrapped) = match (words.next(), words.next(), words.next()) {
        (Some("s3"), Some(id), Some(w)) => (id, w),
        (Some("c"), _, None) => {
            let v = header(headers, MAC_KEY_HEADER).ok_or_else(lost)?;
            let (id, w) = v.split_once(' ').ok_or_else(lost)?;
            let id: u32 = id.parse().map_err(|_| lost())?;
            let master = keys.and_then(|k| k.get(id)).ok_or_else(lost)?;
            return unwrap(&master, &master_label(id), w).ok_or_else(lost);
        }
        _ => return Err(lost()),
    };
    let id: u32 = id.parse().map_err(|_| lost())?;
    let master = keys.and_then(|k| k.get(id)).ok_or_else(lost)?;
    let raw = unwrap(&master, &master_label(id), wrapped).ok_or_else(lost)?;
    Ok(DataKey::from_bytes(raw).mac_key())
}

/// Re-wraps an object's data key with the current master key (key
/// rotation): the kept headers changed in place, the data untouched.
/// False when there was nothing to change (unencrypted, SSE-C, or wrapped
/// by the current key already).
///
/// # Errors
/// The key it is wrapped with is not in `keys`.
pub fn rewrap(headers: &mut [(String, String)], keys: &dyn MasterKeys) -> Result<bool, String> {
    let (current, master) = keys.current()?;
    let mut changed = false;
    for (name, value) in headers.iter_mut() {
        let is_sse = name == SSE_HEADER;
        if !is_sse && name != MAC_KEY_HEADER {
            continue;
        }
        let (id, wrapped) = if is_sse {
            let mut w = value.split(' ');
            match (w.next(), w.next(), w.next()) {
                (Some("s3"), Some(id), Some(wr)) => (id.to_owned(), wr.to_owned()),
                _ => continue,
            }
        } else {
            match value.split_once(' ') {
                Some((id, wr)) => (id.to_owned(), wr.to_owned()),
                None => continue,
            }
        };
        let id: u32 = id.parse().map_err(|_| format!("a malformed {name}"))?;
        if id == current {
            continue;
        }
        let old = keys
            .get(id)
            .ok_or_else(|| format!("master key {id} is not in the key ring"))?;
        let raw = unwrap(&old, &master_label(id), &wrapped)
            .ok_or_else(|| format!("a data key does not unwrap with master key {id}"))?;
        let rewrapped = wrap(&master, &master_label(current), &raw);
        *value = if is_sse {
            format!("s3 {current} {rewrapped}")
        } else {
            format!("{current} {rewrapped}")
        };
        changed = true;
    }
    Ok(changed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_binds_key_and_label() {
        let kek = [7u8; 32];
        let dek = [9u8; 32];
        let w = wrap(&kek, b"a", &dek);
        assert_eq!(unwrap(&kek, b"a", &w), Some(dek));
        assert_eq!(unwrap(&kek, b"b", &w), None);
        assert_eq!(unwrap(&[8u8; 32], b"a", &w), None);
        assert_ne!(wrap(&kek, b"a", &dek), w, "a fresh nonce each time");
    }

    #[test]
    fn rotation_rewraps_to_the_current_key() {
        let dek = DataKey::generate();
        let old = FixedKeys {
            keys: vec![(1, [1u8; 32])],
            current: 1,
        };
        let seal = Seal {
            kind: Kind::Managed(1),
            key: dek.clone(),
        };
        let mut headers = vec![seal.wrapped(&old).unwrap()];
        let new = FixedKeys {
            keys: vec![(1, [1u8; 32]), (2, [2u8; 32])],
            current: 2,
        };
        assert!(rewrap(&mut headers, &new).unwrap());
        assert!(headers[0].1.starts_with("s3 2 "));
        assert!(!rewrap(&mut headers, &new).unwrap(), "nothing left to do");
        let wrapped = headers[0].1.rsplit(' ').next().unwrap();
        assert_eq!(
            unwrap(&[2u8; 32], &master_label(2), wrapped),
            Some(*dek.bytes())
        );
    }
}
