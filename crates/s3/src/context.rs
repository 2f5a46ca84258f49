//! What each runtime thread serves with: the configuration (credentials,
//! limits, timeouts, the authorize and observe hooks) and per-thread state
//! (the store handle, the verifier, buffer pools, counters).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_core::BufPool;
use sluice_http::Limits;
use sluice_sigv4::{Result as SigResult, SecretLookup, Verifier};

use crate::access::{Authorizer, RootOnly};
use crate::observe::{Observer, Unobserved};
use crate::storage::Storage;

/// Where the server finds the secret of an access key: a fixed list
/// ([`Credentials`]) or a live user store an embedder keeps.
pub trait SecretStore: SecretLookup + Send + Sync + std::fmt::Debug {}

impl<T: SecretLookup + Send + Sync + std::fmt::Debug> SecretStore for T {}

/// Where bucket policies are kept: Put/Get/DeleteBucketPolicy read and
/// write them there, and the authorizer that applies them reads the same
/// place. Without one, those operations are NotImplemented.
pub trait BucketPolicyStore: Send + Sync + std::fmt::Debug {
    /// The bucket's policy document, None without one.
    ///
    /// # Errors
    /// The store cannot be read.
    fn get(&self, bucket: &str) -> Result<Option<String>, crate::S3Error>;
    /// Checks and keeps a bucket's policy.
    ///
    /// # Errors
    /// MalformedPolicy naming the problem; the store cannot be written.
    fn put(&self, bucket: &str, document: &str) -> Result<(), crate::S3Error>;
    /// Removes a bucket's policy (none is no error).
    ///
    /// # Errors
    /// The store cannot be written.
    fn delete(&self, bucket: &str) -> Result<(), crate::S3Error>;
    /// Whether the bucket's policy lets anyone in (GetBucketPolicyStatus);
    /// None without a policy.
    ///
    /// # Errors
    /// The store cannot be read.
    fn is_public(&self, bucket: &str) -> Result<Option<bool>, crate::S3Error>;
    /// The bucket's PublicAccessBlock settings, None without any.
    ///
    /// # Errors
    /// The store cannot be read.
    fn public_access_block(
        &self,
        bucket: &str,
    ) -> Result<Option<PublicAccessBlock>, crate::S3Error>;
    /// Sets (Some) or removes (None) the bucket's PublicAccessBlock.
    ///
    /// # Errors
    /// The store cannot be written.
    fn set_public_access_block(
        &self,
        bucket: &str,
        block: Option<PublicAccessBlock>,
    ) -> Result<(), crate::S3Error>;
}

/// A bucket's PublicAccessBlock configuration (S3's four switches; ACLs
/// are disabled in sluice, so the ACL two change nothing but are kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublicAccessBlock {
    /// Refuse requests that set public ACLs.
    pub block_public_acls: bool,
    /// Ignore public ACLs.
    pub ignore_public_acls: bool,
    /// Refuse bucket policies that grant public access.
    pub block_public_policy: bool,
    /// With a public policy, only the account's users get what it grants.
    pub restrict_public_buckets: bool,
}

/// Temporary credentials issued by STS AssumeRole.
#[derive(Debug, Clone)]
pub struct TemporaryCredentials {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Session token, sent as `X-Amz-Security-Token`.
    pub session_token: String,
    /// When they stop working.
    pub expiration: SystemTime,
    /// The assumed-role ARN reported.
    pub arn: String,
}

/// Issues temporary credentials (STS AssumeRole on the S3 endpoint).
pub trait SessionIssuer: Send + Sync + std::fmt::Debug {
    /// Credentials acting as `access_key`'s user for `duration` seconds,
    /// narrowed by `policy` when given.
    ///
    /// # Errors
    /// AccessDenied for identities that may not; InvalidParameterValue
    /// or MalformedPolicyDocument-like errors for bad input.
    fn assume_role(
        &self,
        access_key: &str,
        duration: u64,
        policy: Option<&str>,
        session_name: &str,
    ) -> Result<TemporaryCredentials, crate::S3Error>;
}

/// Whether the server can serve (MinIO's `/minio/health/ready`, which
/// load balancers poll without authentication).
pub trait Health: Send + Sync + std::fmt::Debug {
    /// Ready to serve requests (the store writable, the configuration
    /// readable).
    fn ready(&self) -> bool;
}

/// Always ready.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysReady;

impl Health for AlwaysReady {
    fn ready(&self) -> bool {
        true
    }
}

/// Counts the server exports (metrics) that only the connection layer sees.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections open, per runtime thread (index, count).
    pub connections: std::sync::Mutex<Vec<(usize, Arc<AtomicUsize>)>>,
    /// Failed authentications.
    pub auth_failures: std::sync::atomic::AtomicU64,
    /// Connections refused over the per-thread cap.
    pub connections_shed: std::sync::atomic::AtomicU64,
}

/// Access keys and their secrets.
#[derive(Debug, Clone, Default)]
pub struct Credentials(pub Vec<(String, String)>);

impl SecretLookup for Credentials {
    fn secret_key(&self, access_key: &str, session_token: Option<&str>) -> SigResult<String> {
        if session_token.is_some() {
            return Err(sluice_sigv4::Error::InvalidToken);
        }
        self.0
            .iter()
            .find(|(k, _)| k == access_key)
            .map(|(_, s)| s.clone())
            .ok_or(sluice_sigv4::Error::InvalidAccessKeyId)
    }
}

/// What every thread serves with.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Region reported and accepted (requests signed for any region pass).
    pub region: String,
    /// Domain for virtual-hosted-style requests (`bucket.domain`).
    pub domain: Option<String>,
    /// HTTP limits.
    pub limits: Limits,
    /// Users' keys.
    pub credentials: Arc<dyn SecretStore>,
    /// Time allowed to send a request head.
    pub header_timeout: Duration,
    /// Time a kept-alive connection may stay idle.
    pub idle_timeout: Duration,
    /// Time one write of an answer may make no progress (a client that
    /// stopped reading) before the connection is closed.
    pub send_timeout: Duration,
    /// Connections per thread; more are closed at once.
    pub max_connections: usize,
    /// Set when the server shuts down: no new connections, none kept alive.
    pub draining: Arc<AtomicBool>,
    /// Connections open, across threads (for a graceful shutdown to wait on).
    pub active: Arc<AtomicUsize>,
    /// Decides what each identity may do (the authorize stage).
    pub authorizer: Arc<dyn Authorizer>,
    /// Bucket policies, when the authorizer applies them.
    pub bucket_policies: Option<Arc<dyn BucketPolicyStore>>,
    /// STS, when the server has sessions.
    pub sessions: Option<Arc<dyn SessionIssuer>>,
    /// Sees every answered request (the observe stage).
    pub observer: Arc<dyn Observer>,
    /// Requests that panicked (each closed its connection only).
    pub panics: Arc<std::sync::atomic::AtomicU64>,
    /// For tests of the panic guard: a request naming this key panics.
    #[doc(hidden)]
    pub panic_on_key: Option<String>,
    /// Whether SigV2 (header and presigned) is accepted; when not, a SigV2
    /// request is refused with InvalidRequest as SigV4-only S3 regions do.
    pub sigv2: bool,
    /// Failed authentications a source address may make within
    /// `auth_failure_window` (on each thread) before its signed requests
    /// are answered 503 SlowDown, unverified, until the window ends: so
    /// that guessing secrets over the network is impractical.
    pub auth_failure_limit: u32,
    /// See `auth_failure_limit`.
    pub auth_failure_window: Duration,
    /// The master keys that wrap encrypted objects' data keys; without
    /// them SSE-S3 (asked for or a bucket's default) is NotImplemented.
    pub master_keys: Option<Arc<dyn crate::sse::MasterKeys>>,
    /// Store every new object encrypted (SSE-S3) unless asked otherwise.
    pub encrypt_by_default: bool,
    /// Readiness, for `/minio/health/ready`.
    pub health: Arc<dyn Health>,
    /// Counts for metrics.
    pub stats: Arc<Stats>,
    /// Networks (address, prefix length) of the load balancers whose
    /// connections begin with a PROXY protocol header: the client address
    /// it carries is the connection's source (bucket policies'
    /// `aws:SourceIp`, the failed-authentication limit, audit, logs). A
    /// connection from them without a valid header is closed.
    pub proxy_protocol_from: Vec<(std::net::IpAddr, u8)>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            region: "us-east-1".into(),
            domain: None,
            limits: Limits::default(),
            credentials: Arc::new(Credentials::default()),
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            send_timeout: Duration::from_secs(30),
            max_connections: 4096,
            draining: Arc::new(AtomicBool::new(false)),
            active: Arc::new(AtomicUsize::new(0)),
            authorizer: Arc::new(RootOnly),
            bucket_policies: None,
            sessions: None,
            observer: Arc::new(Unobserved),
            panics: Arc::default(),
            panic_on_key: None,
            sigv2: true,
            auth_failure_limit: 20,
            auth_failure_window: Duration::from_secs(60),
            master_keys: None,
            encrypt_by_default: false,
            health: Arc::new(AlwaysReady),
            stats: Arc::default(),
            proxy_protocol_from: Vec::new(),
        }
    }
}

/// Bodies up to this size are carried in buffers of this size.
pub(crate) const SMALL_BUF_SIZE: usize = 64 << 10;

/// Per-thread state: the store handle, a verifier with its key cache, a
/// buffer pool, counters.
pub struct ThreadContext<B> {
    pub(crate) store: B,
    pub(crate) config: ServiceConfig,
    pub(crate) verifier: RefCell<Verifier>,
    pub(crate) pool: BufPool,
    small_pool: BufPool,
    pub(crate) connections: Cell<usize>,
    /// Connections over the cap being answered 503 SlowDown.
    pub(crate) shedding: Cell<usize>,
    /// The same count, for metrics (registered in `config.stats`).
    pub(crate) gauge: Arc<AtomicUsize>,
    /// The observer's group commit on this thread.
    pub(crate) flush_gate: Rc<crate::observe::FlushGate>,
    /// Failed authentications by source address: how many, since when.
    pub(crate) auth_failures: RefCell<HashMap<IpAddr, (u32, Instant)>>,
    requests: Cell<u64>,
    /// Requests being handled or answered now.
    in_flight: Cell<usize>,
    id_prefix: u64,
}

impl<B> std::fmt::Debug for ThreadContext<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadContext")
            .field("connections", &self.connections.get())
            .finish_non_exhaustive()
    }
}

impl<B: Storage> ThreadContext<B> {
    /// Context for one runtime thread.
    #[must_use]
    pub fn new(store: B, config: ServiceConfig, thread: usize) -> Rc<Self> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let gauge = Arc::new(AtomicUsize::new(0));
        if let Ok(mut all) = config.stats.connections.lock() {
            all.push((thread, Arc::clone(&gauge)));
        }
        Rc::new(ThreadContext {
            gauge,
            flush_gate: Rc::default(),
            verifier: RefCell::new(Verifier::new(None, "s3")),
            pool: BufPool::new(sluice_core::DEFAULT_BUF_SIZE, 16),
            small_pool: BufPool::new(SMALL_BUF_SIZE, 256),
            store,
            config,
            connections: Cell::new(0),
            shedding: Cell::new(0),
            auth_failures: RefCell::new(HashMap::new()),
            requests: Cell::new(0),
            in_flight: Cell::new(0),
            id_prefix: now ^ ((thread as u64) << 56),
        })
    }

    /// The store writing as `owner` (a handle of its own only when there
    /// is one: most requests share the thread's, touching no shared count).
    pub(crate) fn store_as(&self, owner: Option<(u32, u32)>) -> std::borrow::Cow<'_, B> {
        match owner {
            None => std::borrow::Cow::Borrowed(&self.store),
            Some(o) => std::borrow::Cow::Owned(self.store.with_owner(Some(o))),
        }
    }

    /// Whether `peer` made too many failed authentications lately.
    pub(crate) fn auth_throttled(&self, peer: Option<IpAddr>) -> bool {
        let failures = self.auth_failures.borrow();
        if failures.is_empty() {
            return false;
        }
        peer.and_then(|ip| failures.get(&ip))
            .is_some_and(|(n, since)| {
                *n >= self.config.auth_failure_limit
                    && since.elapsed() < self.config.auth_failure_window
            })
    }

    /// Counts a failed authentication from `peer`.
    pub(crate) fn auth_failed(&self, peer: Option<IpAddr>) {
        let Some(ip) = peer else { return };
        let mut failures = self.auth_failures.borrow_mut();
        let window = self.config.auth_failure_window;
        // Bounded: past 4,096 addresses the ones whose window ended go.
        if failures.len() >= 4096 {
            failures.retain(|_, (_, since)| since.elapsed() < window);
            if failures.len() >= 4096 {
                failures.clear();
            }
        }
        self.config
            .stats
            .auth_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= window {
            *entry = (0, Instant::now());
        }
        entry.0 = entry.0.saturating_add(1);
    }

    /// The pool for a body of `len` bytes: small bodies take small buffers,
    /// so many small requests in flight neither pin nor allocate (and zero)
    /// a megabyte each.
    pub(crate) fn pool_for(&self, len: u64) -> &BufPool {
        if len <= SMALL_BUF_SIZE as u64 {
            &self.small_pool
        } else {
            &self.pool
        }
    }

    /// Requests this thread has started (a number that only grows).
    pub fn requests_started(&self) -> u64 {
        self.requests.get()
    }

    /// Requests this thread is handling or answering now.
    pub fn requests_in_flight(&self) -> usize {
        self.in_flight.get()
    }

    /// Counts a request in flight until the guard is dropped.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.set(self.in_flight.get().saturating_add(1));
        InFlight(&self.in_flight)
    }

    /// Gives what this idle thread keeps for the next requests back to
    /// the system: the buffers its pools cache, then its allocator's free
    /// pages ([`sluice_core::heap::trim`]).
    pub fn trim(&self) {
        self.pool.release_cached();
        self.small_pool.release_cached();
        sluice_core::heap::trim();
    }

    pub(crate) fn request_id(&self) -> String {
        // An id, not a count: wrapping after 2^64 requests is harmless.
        let n = self.requests.get().wrapping_add(1);
        self.requests.set(n);
        format!(
            "{:016X}",
            self.id_prefix
                .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        )
    }
}

/// A request in flight on its thread ([`ThreadContext::requests_in_flight`]).
pub(crate) struct InFlight<'a>(&'a Cell<usize>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// The answer to an address that failed to authenticate too often lately.
pub(crate) fn throttled() -> crate::error::S3Error {
    crate::error::S3Error::new(
        crate::error::S3ErrorCode::SlowDown,
        "Please reduce your request rate: too many failed authentications from your address.",
    )
}
