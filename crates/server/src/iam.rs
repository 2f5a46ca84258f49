//! Users and their policies, as the server sees them: a snapshot of the
//! config directory, reloaded when its generation moves (polled twice a
//! second, so a change made by the admin CLI on any node takes effect on
//! every server within a second), answering for secrets (SigV4) and for
//! permissions (the authorize stage) through sluice-iam.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sluice_iam::{builtin, evaluate_all, Policy, PolicyKind, Principal, Request};
use sluice_s3::{Authorizer, ConditionContext, Identity, Permission, S3Error, S3ErrorCode};
use sluice_sigv4::{Error as SigError, Result as SigResult, SecretLookup};

use crate::config::ConfigDir;

/// What a user may do beyond its policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, as an account's root user (the cluster's admin).
    Admin,
    /// What its policies allow.
    S3,
}

impl Role {
    /// The role's name in records and on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::S3 => "s3",
        }
    }

    /// Parses a role name, any case.
    #[must_use]
    pub fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "s3" => Some(Role::S3),
            _ => None,
        }
    }
}

/// A user record (`users/<name>.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user name: also its access key.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its password: also its secret key.
    pub secret: String,
    /// The policies attached, by name (built-in or custom).
    pub policies: Vec<String>,
    /// The POSIX owner of what it creates.
    pub uid: Option<u32>,
    /// The POSIX group of what it creates.
    pub gid: Option<u32>,
    /// When it was made (seconds since the epoch).
    pub created: u64,
}

impl UserRecord {
    /// As JSON.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("role".into(), self.role.name().into());
        m.insert("secret".into(), self.secret.clone().into());
        m.insert(
            "policies".into(),
            Value::Array(self.policies.iter().cloned().map(Value::from).collect()),
        );
        if let Some(u) = self.uid {
            m.insert("uid".into(), u.into());
        }
        if let Some(g) = self.gid {
            m.insert("gid".into(), g.into());
        }
        m.insert("created".into(), self.created.into());
        Value::Object(m)
    }

    /// From JSON.
    ///
    /// # Errors
    /// A field is missing or of the wrong type.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("user record without {k}"))
        };
        // u32::MAX is "no change" to chown: no id.
        let id = |k: &str| {
            v.get(k)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n != u32::MAX)
        };
        Ok(UserRecord {
            name: s("name")?,
            role: Role::parse(&s("role")?).ok_or("user record with an unknown role")?,
            secret: s("secret")?,
            policies: v
                .get("policies")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            uid: id("uid"),
            gid: id("gid"),
            created: v.get("created").and_then(Value::as_u64).unwrap_or(0),
        })
    }
}

/// A user as the server uses it: policies parsed.
#[derive(Debug)]
pub struct User {
    /// The record.
    pub record: UserRecord,
    /// `arn:aws:iam::ACCOUNT:user/NAME`.
    pub arn: String,
    /// Its policies, parsed.
    pub policies: Vec<Arc<Policy>>,
}

/// An access key that acts for a user: a service account (long-lived,
/// `service-accounts/<key>.json`) or an STS session (`sessions/<key>.json`,
/// with a token), each narrowed by its own policy when it has one.
#[derive(Debug)]
pub struct DerivedKey {
    /// Its secret.
    pub secret: String,
    /// The session token (sessions only).
    pub token: Option<String>,
    /// The user it acts for.
    pub parent: String,
    /// Its own policy: what it may do is what both allow.
    pub policy: Option<Arc<Policy>>,
    /// When it stops working (seconds since the epoch).
    pub expires: Option<u64>,
}

impl DerivedKey {
    /// Reads a record (`service-accounts/` or `sessions/`).
    ///
    /// # Errors
    /// A field is missing or its policy does not parse.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let policy = match s("policy") {
            Some(text) => {
                let mut p = Policy::parse(&text, PolicyKind::Identity).map_err(|e| e.0)?;
                p.index_actions(sluice_s3::action_names());
                Some(Arc::new(p))
            }
            None => None,
        };
        Ok(DerivedKey {
            secret: s("secret").ok_or("key record without secret")?,
            token: s("token"),
            parent: s("parent").ok_or("key record without parent")?,
            policy,
            expires: v.get("expires").and_then(Value::as_u64),
        })
    }

    fn expired(&self) -> bool {
        self.expires.is_some_and(|e| e <= now_secs())
    }
}

/// The folders of derived keys.
pub const KEY_FOLDERS: [&str; 2] = ["service-accounts", "sessions"];

/// The cluster's users, as loaded at one generation.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Service accounts and sessions, by access key.
    pub derived: HashMap<String, Arc<DerivedKey>>,
    /// The account id users' ARNs carry.
    pub account: String,
    /// By access key.
    pub users: HashMap<String, Arc<User>>,
    /// Bucket policies, by bucket.
    pub bucket_policies: HashMap<String, Arc<Policy>>,
    /// PublicAccessBlock settings, by bucket.
    pub public_access_blocks: HashMap<String, sluice_s3::PublicAccessBlock>,
}

/// Parses and checks a bucket policy for `bucket`: a resource policy whose
/// every resource is the bucket or in it (S3 refuses others: "Policy has
/// invalid resource").
///
/// # Errors
/// What is wrong with it.
pub fn parse_bucket_policy(bucket: &str, text: &str) -> Result<Policy, String> {
    let mut policy = Policy::parse(text, PolicyKind::Resource).map_err(|e| e.0)?;
    let arn = format!("arn:aws:s3:::{bucket}");
    for r in policy.resource_patterns() {
        let inside = r == arn
            || r.strip_prefix(arn.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
        if !inside {
            return Err(format!(
                "Policy has invalid resource: {r} is not bucket {bucket} or in it"
            ));
        }
    }
    policy.index_actions(sluice_s3::action_names());
    Ok(policy)
}

/// The policy named `name`: built-in, else `policies/<name>.json`.
///
/// # Errors
/// No such policy, or its document does not parse.
pub fn load_policy(dir: &ConfigDir, name: &str) -> Result<Arc<Policy>, String> {
    let mut policy = match builtin(name) {
        Some(p) => p.clone(),
        None => {
            let text = dir
                .read_text(&format!("policies/{name}.json"))?
                .ok_or_else(|| format!("no policy named {name}"))?;
            Policy::parse(&text, PolicyKind::Identity).map_err(|e| format!("policy {name}: {e}"))?
        }
    };
    // Each request then looks only at the statements of its action.
    policy.index_actions(sluice_s3::action_names());
    Ok(Arc::new(policy))
}

impl Snapshot {
    /// Reads the config directory.
    ///
    /// # Errors
    /// The cluster record or a user record cannot be read.
    pub fn load(dir: &ConfigDir) -> Result<Snapshot, String> {
        let cluster = dir.read("cluster.json")?.ok_or("no cluster record")?;
        let account = cluster
            .get("account")
            .and_then(Value::as_str)
            .unwrap_or("000000000000")
            .to_owned();
        let mut policies: HashMap<String, Arc<Policy>> = HashMap::new();
        let mut users = HashMap::new();
        for name in dir.list("users")? {
            let Some(v) = dir.read(&format!("users/{name}.json"))? else {
                continue;
            };
            let record = match UserRecord::from_json(&v) {
                Ok(r) if r.name == name => r,
                // A broken record is no user (its key stops working) and
                // does not stop the others from loading.
                Ok(_) | Err(_) => {
                    tracing::error!(user = %name, "user record not loaded");
                    continue;
                }
            };
            let mut parsed = Vec::new();
            for p in &record.policies {
                if let Some(hit) = policies.get(p) {
                    parsed.push(Arc::clone(hit));
                    continue;
                }
                match load_policy(dir, p) {
                    Ok(policy) => {
                        policies.insert(p.clone(), Arc::clone(&policy));
                        parsed.push(policy);
                    }
                    // A policy that cannot be read may have held a Deny:
                    // the user gets nothing until it is fixed or detached
                    // (fail closed), never the other policies' Allows alone.
                    Err(e) => {
                        tracing::error!(user = %record.name, error = %e, "policy not loaded: the user is denied everything");
                        parsed.push(Arc::new(deny_all(PolicyKind::Identity)));
                    }
                }
            }
            let arn = format!("arn:aws:iam::{account}:user/{}", record.name);
            users.insert(
                record.name.clone(),
                Arc::new(User {
                    record,
                    arn,
                    policies: parsed,
                }),
            );
        }
        let mut bucket_policies = HashMap::new();
        for bucket in dir.list("buckets")? {
            let Some(text) = dir.read_text(&format!("buckets/{bucket}.json"))? else {
                continue;
            };
            match parse_bucket_policy(&bucket, &text) {
                Ok(p) => {
                    bucket_policies.insert(bucket, Arc::new(p));
                }
                // Written through PutBucketPolicy or the CLI, both of which
                // check it: one edited by hand that breaks may have held a
                // Deny, so the bucket is closed to all but admins.
                Err(e) => {
                    tracing::error!(bucket = %bucket, error = %e, "bucket policy not loaded: the bucket denies everything");
                    bucket_policies.insert(bucket, Arc::new(deny_all(PolicyKind::Resource)));
                }
            }
        }
        let mut public_access_blocks = HashMap::new();
        for bucket in dir.list("public-access-blocks")? {
            if let Some(v) = dir.read(&format!("public-access-blocks/{bucket}.json"))? {
                public_access_blocks.insert(bucket, pab_from_json(&v));
            }
        }
        let mut derived = HashMap::new();
        for folder in KEY_FOLDERS {
            for key in dir.list(folder)? {
                let Some(v) = dir.read(&format!("{folder}/{key}.json"))? else {
                    continue;
                };
                match DerivedKey::from_json(&v) {
                    // A key of a user that is gone works no more. One whose
                    // time is over is kept, to be answered ExpiredToken (as
                    // AWS answers it) until the next session made removes
                    // its record; authentication refuses it either way.
                    Ok(d) if users.contains_key(&d.parent) => {
                        derived.insert(key, Arc::new(d));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(key = %key, error = %e, "key not loaded"),
                }
            }
        }
        Ok(Snapshot {
            public_access_blocks,
            derived,
            account,
            users,
            bucket_policies,
        })
    }
}

/// The snapshot in use, replaced when the directory changes.
#[derive(Debug)]
pub struct Live {
    dir: ConfigDir,
    current: RwLock<(u64, Arc<Snapshot>)>,
    /// The generation of `current`, read by every request without a lock.
    generation: AtomicU64,
}

thread_local! {
    /// Each thread's copy of the snapshot (which `Live`, its generation):
    /// a request reads one shared atomic and touches no shared cache line
    /// for writing, where taking the lock and cloning the `Arc` would make
    /// every core write the same two lines on every request.
    static LOCAL: RefCell<Option<(usize, u64, Arc<Snapshot>)>> = const { RefCell::new(None) };
}

impl Live {
    /// Loads the directory and starts watching it.
    ///
    /// # Errors
    /// The first load fails.
    pub fn start(dir: ConfigDir) -> Result<Arc<Live>, String> {
        let generation = dir.generation();
        let snapshot = Snapshot::load(&dir)?;
        let live = Arc::new(Live {
            dir,
            current: RwLock::new((generation, Arc::new(snapshot))),
            generation: AtomicU64::new(generation),
        });
        let watcher = Arc::clone(&live);
        std::thread::Builder::new()
            .name("sluice-config".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_millis(500));
                watcher.reload_if_changed();
            })
            .map_err(|e| format!("cannot watch the config directory: {e}"))?;
        Ok(live)
    }

    fn reload_if_changed(&self) {
        let generation = self.dir.generation();
        let seen = self.current.read().map_or(0, |c| c.0);
        if generation == seen {
            return;
        }
        match Snapshot::load(&self.dir) {
            Ok(s) => {
                tracing::info!(generation, users = s.users.len(), "config reloaded");
                if let Ok(mut c) = self.current.write() {
                    *c = (generation, Arc::new(s));
                    self.generation.store(generation, Ordering::Release);
                }
            }
            // Keep serving with what was loaded; retry at the next poll.
            Err(e) => tracing::warn!(error = %e, "config not reloaded"),
        }
    }

    /// The snapshot now.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .map(|c| Arc::clone(&c.1))
            .unwrap_or_default()
    }

    /// A service account or session written after the last reload (a key
    /// handed out moments ago must work at once, on every node): read
    /// from its file, checked against the snapshot's users.
    pub fn fresh_key(&self, access_key: &str) -> Option<Arc<DerivedKey>> {
        let ok = access_key.len() <= 64
            && (access_key.starts_with("SVC") || access_key.starts_with("STS"))
            && access_key.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return None;
        }
        for folder in KEY_FOLDERS {
            if let Ok(Some(v)) = self.dir.read(&format!("{folder}/{access_key}.json")) {
                let d = DerivedKey::from_json(&v).ok()?;
                let parent_known = self.with(|s| s.users.contains_key(&d.parent));
                return (parent_known && !d.expired()).then(|| Arc::new(d));
            }
        }
        None
    }

    /// Runs `f` on the snapshot now, from this thread's copy while the
    /// generation has not moved.
    pub fn with<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        let me = std::ptr::from_ref(self) as usize;
        let generation = self.generation.load(Ordering::Acquire);
        let cached = LOCAL.with(|l| {
            l.borrow_mut()
                .take()
                .filter(|(who, g, _)| *who == me && *g == generation)
        });
        let (_, _, snapshot) = match cached {
            Some(c) => c,
            None => {
                let current = self.current.read().map(|c| (c.0, Arc::clone(&c.1)));
                let (g, s) = current.unwrap_or_default();
                (me, g, s)
            }
        };
        let out = f(&snapshot);
        LOCAL.with(|l| *l.borrow_mut() = Some((me, generation, snapshot)));
        out
    }
}

/// Secrets of the cluster's users.
#[derive(Debug, Clone)]
pub struct Secrets(pub Arc<Live>);

impl SecretLookup for Secrets {
    fn secret_key(&self, access_key: &str, session_token: Option<&str>) -> SigResult<String> {
        let found = self.0.with(|s| {
            if let Some(u) = s.users.get(access_key) {
                return Some(Ok(u.record.secret.clone()));
            }
            s.derived.get(access_key).map(|d| Err(Arc::clone(d)))
        });
        let derived = match found {
            Some(Ok(secret)) => {
                return match session_token {
                    None => Ok(secret),
                    Some(_) => Err(SigError::InvalidToken),
                }
            }
            Some(Err(d)) => d,
            // Made moments ago on this or another node, before the next
            // reload: read it now.
            None => self
                .0
                .fresh_key(access_key)
                .ok_or(SigError::InvalidAccessKeyId)?,
        };
        if derived.expired() {
            return Err(SigError::ExpiredToken);
        }
        match (&derived.token, session_token) {
            (None, None) => Ok(derived.secret.clone()),
            (Some(t), Some(sent))
                if sluice_sigv4::constant_time_eq(t.as_bytes(), sent.as_bytes()) =>
            {
                Ok(derived.secret.clone())
            }
            _ => Err(SigError::InvalidToken),
        }
    }
}

/// The condition keys of a request, for sluice-iam.
struct Keys<'a> {
    ctx: &'a ConditionContext<'a>,
    /// None for an anonymous request.
    user: Option<&'a str>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl sluice_iam::Context for Keys<'_> {
    fn value(&self, key: &str) -> Option<Cow<'_, str>> {
        let c = self.ctx;
        Some(match key {
            "aws:username" | "aws:userid" => Cow::Borrowed(self.user?),
            "aws:principaltype" => Cow::Borrowed(if self.user.is_some() {
                "User"
            } else {
                "Anonymous"
            }),
            "aws:sourceip" => Cow::Owned(c.source_ip?.to_string()),
            "aws:securetransport" => {
                Cow::Borrowed(if c.secure_transport { "true" } else { "false" })
            }
            "aws:currenttime" => Cow::Owned(sluice_s3::iso8601(SystemTime::now())),
            "aws:epochtime" => Cow::Owned(now_secs().to_string()),
            "s3:prefix" => Cow::Borrowed(c.prefix?),
            "s3:delimiter" => Cow::Borrowed(c.delimiter?),
            "s3:max-keys" => Cow::Borrowed(c.max_keys?),
            k => {
                if let Some(tag) = k.strip_prefix("s3:requestobjecttag/") {
                    return self
                        .request_tags()
                        .into_iter()
                        .find(|(t, _)| t == tag)
                        .map(|(_, v)| Cow::Owned(v));
                }
                if let Some(tag) = k.strip_prefix("s3:existingobjecttag/") {
                    let stored = (c.existing_object_tags?.0)()?;
                    return sluice_s3::tag_pairs(&stored)
                        .into_iter()
                        .find(|(t, _)| t == tag)
                        .map(|(_, v)| Cow::Owned(v));
                }
                let header = k.strip_prefix("s3:").filter(|h| h.starts_with("x-amz-"))?;
                let (_, v) = c
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(header))?;
                String::from_utf8_lossy(v)
            }
        })
    }

    fn values(&self, key: &str) -> Vec<Cow<'_, str>> {
        if key == "s3:requestobjecttagkeys" {
            return self
                .request_tags()
                .into_iter()
                .map(|(k, _)| Cow::Owned(k))
                .collect();
        }
        self.value(key).into_iter().collect()
    }
}

impl Keys<'_> {
    /// The tags an `x-amz-tagging` header sets.
    fn request_tags(&self) -> Vec<(String, String)> {
        self.ctx
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-tagging"))
            .map(|(_, v)| sluice_s3::tag_pairs(&String::from_utf8_lossy(v)))
            .unwrap_or_default()
    }
}

/// Decides by the users' roles and policies.
#[derive(Debug, Clone)]
pub struct IamAuthorizer(pub Arc<Live>);

impl Authorizer for IamAuthorizer {
    fn owner(&self, identity: &Identity) -> Option<(u32, u32)> {
        let Identity::Key { access_key, .. } = identity else {
            return None;
        };
        self.0.with(|s| {
            let user = match s.users.get(access_key) {
                Some(u) => u,
                None => s.users.get(&s.derived.get(access_key)?.parent)?,
            };
            Some((user.record.uid?, user.record.gid?))
        })
    }

    fn authorize(
        &self,
        identity: &Identity,
        permission: &Permission,
        context: &ConditionContext<'_>,
    ) -> Result<(), S3Error> {
        let denied = || S3Error::from(S3ErrorCode::AccessDenied);
        self.0.with(|snapshot| {
            let bucket_policy = permission
                .resource
                .strip_prefix("arn:aws:s3:::")
                .and_then(|r| r.split('/').next())
                .and_then(|b| snapshot.bucket_policies.get(b));
            let restricted = permission
                .resource
                .strip_prefix("arn:aws:s3:::")
                .and_then(|r| r.split('/').next())
                .and_then(|b| snapshot.public_access_blocks.get(b))
                .is_some_and(|p| p.restrict_public_buckets);
            let Identity::Key { access_key, .. } = identity else {
                // RestrictPublicBuckets: a public policy gives the
                // account's users what it grants, and no one else.
                if restricted && bucket_policy.is_some_and(|p| p.allows_anyone()) {
                    return Err(denied());
                }
                // Anonymous: what a bucket policy grants everyone, only.
                let keys = Keys {
                    ctx: context,
                    user: None,
                };
                let req = Request {
                    action: permission.action,
                    resource: &permission.resource,
                    principal: Principal::Anonymous,
                    context: &keys,
                };
                return match bucket_policy {
                    Some(p) if p.evaluate(&req).is_allowed() => Ok(()),
                    _ => Err(denied()),
                };
            };
            // A service account or session acts for its user, narrowed.
            let fresh;
            let (user, own) = match snapshot.users.get(access_key) {
                Some(u) => (u, None),
                None => {
                    let d = match snapshot.derived.get(access_key) {
                        Some(d) => d,
                        None => {
                            fresh = self.0.fresh_key(access_key).ok_or_else(denied)?;
                            &fresh
                        }
                    };
                    if d.expired() {
                        return Err(denied());
                    }
                    let parent = snapshot.users.get(&d.parent).ok_or_else(denied)?;
                    (parent, Some(d))
                }
            };
            let narrowing = own.and_then(|d| d.policy.as_deref());
            let assume_role = permission.action == "sts:AssumeRole";
            if user.record.role == Role::Admin && narrowing.is_none() && !assume_role {
                return Ok(());
            }
            let keys = Keys {
                ctx: context,
                user: Some(&user.record.name),
            };
            let req = Request {
                action: permission.action,
                resource: &permission.resource,
                principal: Principal::User {
                    arn: &user.arn,
                    account: &snapshot.account,
                },
                context: &keys,
            };
            if assume_role {
                // Users (not their sessions or service accounts) may make
                // sessions narrower than themselves, unless a policy of
                // theirs denies it explicitly.
                let mine = evaluate_all(user.policies.iter().map(|p| &**p), &req);
                return if own.is_some() || mine == sluice_iam::Decision::Deny {
                    Err(denied())
                } else {
                    Ok(())
                };
            }
            let mut decision = if user.record.role == Role::Admin {
                // Everything, bucket policies aside.
                sluice_iam::Decision::Allow
            } else {
                // One account: the user's policies or the bucket's may
                // allow, and a Deny in either wins.
                let mine = evaluate_all(user.policies.iter().map(|p| &**p), &req);
                let bucket =
                    bucket_policy.map_or(sluice_iam::Decision::NotApplicable, |p| p.evaluate(&req));
                mine.or(bucket)
            };
            // Never the narrower policy alone: both must allow.
            if let Some(p) = narrowing {
                decision = decision.and(p.evaluate(&req));
            }
            if decision.is_allowed() {
                Ok(())
            } else {
                Err(denied())
            }
        })
    }
}

/// Bucket policies kept in the config directory (`buckets/<bucket>.json`),
/// for PutBucketPolicy and the others: written under the writers' lock,
/// applied by every server at its next reload (within a second).
#[derive(Debug, Clone)]
pub struct ClusterBucketPolicies(pub ConfigDir);

fn internal(e: String) -> S3Error {
    S3Error::internal(e)
}

impl sluice_s3::BucketPolicyStore for ClusterBucketPolicies {
    fn get(&self, bucket: &str) -> Result<Option<String>, S3Error> {
        self.0
            .read_text(&format!("buckets/{bucket}.json"))
            .map_err(internal)
    }

    fn put(&self, bucket: &str, document: &str) -> Result<(), S3Error> {
        let policy = parse_bucket_policy(bucket, document)
            .map_err(|e| S3Error::new(S3ErrorCode::MalformedPolicy, e))?;
        let lock = self.0.lock().map_err(internal)?;
        let blocked = self
            .public_access_block(bucket)?
            .is_some_and(|b| b.block_public_policy);
        if blocked && policy.allows_anyone() {
            return Err(S3Error::new(
                S3ErrorCode::AccessDenied,
                "The bucket's PublicAccessBlock (BlockPublicPolicy) refuses public policies",
            ));
        }
        lock.write(&format!("buckets/{bucket}.json"), document.as_bytes())
            .map_err(internal)?;
        lock.bump().map_err(internal)
    }

    fn delete(&self, bucket: &str) -> Result<(), S3Error> {
        let lock = self.0.lock().map_err(internal)?;
        if lock
            .remove(&format!("buckets/{bucket}.json"))
            .map_err(internal)?
        {
            lock.bump().map_err(internal)?;
        }
        Ok(())
    }

    fn public_access_block(
        &self,
        bucket: &str,
    ) -> Result<Option<sluice_s3::PublicAccessBlock>, S3Error> {
        Ok(self
            .0
            .read(&format!("public-access-blocks/{bucket}.json"))
            .map_err(internal)?
            .map(|v| pab_from_json(&v)))
    }

    fn set_public_access_block(
        &self,
        bucket: &str,
        block: Option<sluice_s3::PublicAccessBlock>,
    ) -> Result<(), S3Error> {
        let rel = format!("public-access-blocks/{bucket}.json");
        let lock = self.0.lock().map_err(internal)?;
        let changed = match block {
            Some(b) => {
                let v = serde_json::json!({
                    "BlockPublicAcls": b.block_public_acls,
                    "IgnorePublicAcls": b.ignore_public_acls,
                    "BlockPublicPolicy": b.block_public_policy,
                    "RestrictPublicBuckets": b.restrict_public_buckets,
                });
                lock.write_json(&rel, &v).map_err(internal)?;
                true
            }
            None => lock.remove(&rel).map_err(internal)?,
        };
        if changed {
            lock.bump().map_err(internal)?;
        }
        Ok(())
    }

    fn is_public(&self, bucket: &str) -> Result<Option<bool>, S3Error> {
        Ok(self
            .get(bucket)?
            .and_then(|text| parse_bucket_policy(bucket, &text).ok())
            .map(|p| p.allows_anyone()))
    }
}

/// Random text from `alphabet`.
pub(crate) fn random_text(len: usize, alphabet: &[u8]) -> Result<String, String> {
    let mut bytes = vec![0u8; len];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| e.to_string())?;
    Ok(bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect())
}

/// How many unexpired keys of `folder` act for `parent`.
///
/// # Errors
/// The folder cannot be read.
pub fn keys_held(dir: &ConfigDir, parent: &str, folder: &str) -> Result<usize, String> {
    Ok(dir
        .list(folder)?
        .iter()
        .filter(|k| {
            dir.read(&format!("{folder}/{k}.json"))
                .ok()
                .flatten()
                .is_some_and(|v| {
                    v.get("parent").and_then(Value::as_str) == Some(parent)
                        && v.get("expires")
                            .and_then(Value::as_u64)
                            .is_none_or(|e| e > now_secs())
                })
        })
        .count())
}

/// Sessions, and service accounts, one user may hold at once.
pub const MAX_KEYS_PER_USER: usize = 100;

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A key made for a user.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// Access key id.
    pub access_key: String,
    /// Secret.
    pub secret: String,
    /// Session token (sessions only).
    pub token: Option<String>,
    /// When it stops working (seconds since the epoch).
    pub expires: Option<u64>,
}

/// Makes a session (`session`: a token, in `sessions/`) or a service
/// account (in `service-accounts/`) acting for `parent`, narrowed by
/// `policy`, for `lifetime` seconds (None: until removed). Expired sessions
/// are removed while the lock is held.
///
/// # Errors
/// No such user, a policy that does not parse, the directory cannot be
/// written.
pub fn issue_key(
    dir: &ConfigDir,
    parent: &str,
    policy: Option<&str>,
    lifetime: Option<u64>,
    session: bool,
) -> Result<IssuedKey, String> {
    if let Some(text) = policy {
        Policy::parse(text, PolicyKind::Identity).map_err(|e| format!("invalid policy: {e}"))?;
    }
    let lock = dir.lock()?;
    if dir.read(&format!("users/{parent}.json"))?.is_none() || parent.contains('/') {
        return Err(format!("no user named {parent}"));
    }
    let (prefix, folder) = if session {
        ("STS", "sessions")
    } else {
        ("SVC", "service-accounts")
    };
    // Each key is a file every server reads: a user may hold so many.
    let held = keys_held(dir, parent, folder)?;
    if held >= MAX_KEYS_PER_USER {
        return Err(format!(
            "{parent} holds {held} {folder} already (at most {MAX_KEYS_PER_USER})"
        ));
    }
    let access_key = format!("{prefix}{}", random_text(17, KEY_ALPHABET)?);
    let secret = random_text(40, SECRET_ALPHABET)?;
    let token = if session {
        Some(random_text(96, SECRET_ALPHABET)?)
    } else {
        None
    };
    let expires = lifetime.map(|l| now_secs().saturating_add(l));
    let mut m = serde_json::Map::new();
    m.insert("access".into(), access_key.clone().into());
    m.insert("secret".into(), secret.clone().into());
    m.insert("parent".into(), parent.into());
    if let Some(t) = &token {
        m.insert("token".into(), t.clone().into());
    }
    if let Some(p) = policy {
        m.insert("policy".into(), p.into());
    }
    if let Some(e) = expires {
        m.insert("expires".into(), e.into());
    }
    m.insert("created".into(), now_secs().into());
    lock.write_json(&format!("{folder}/{access_key}.json"), &Value::Object(m))?;
    if session {
        for key in dir.list("sessions")? {
            let stale = dir
                .read(&format!("sessions/{key}.json"))
                .ok()
                .flatten()
                .and_then(|v| v.get("expires").and_then(Value::as_u64))
                .is_some_and(|e| e <= now_secs());
            if stale {
                let _ = lock.remove(&format!("sessions/{key}.json"));
            }
        }
    }
    lock.bump()?;
    Ok(IssuedKey {
        access_key,
        secret,
        token,
        expires,
    })
}

/// STS AssumeRole for the cluster's users.
#[derive(Debug, Clone)]
pub struct ClusterSessions(pub Arc<Live>);

impl sluice_s3::SessionIssuer for ClusterSessions {
    fn assume_role(
        &self,
        access_key: &str,
        duration: u64,
        policy: Option<&str>,
        session_name: &str,
    ) -> Result<sluice_s3::TemporaryCredentials, S3Error> {
        let (user, account) = self.0.with(|s| {
            (
                s.users.get(access_key).map(|u| u.record.name.clone()),
                s.account.clone(),
            )
        });
        let user = user.ok_or_else(|| S3Error::from(S3ErrorCode::AccessDenied))?;
        if let Some(text) = policy {
            Policy::parse(text, PolicyKind::Identity)
                .map_err(|e| S3Error::new(S3ErrorCode::MalformedPolicyDocument, e.0))?;
        }
        if keys_held(&self.0.dir, &user, "sessions").map_err(S3Error::internal)?
            >= MAX_KEYS_PER_USER
        {
            return Err(S3Error::new(
                S3ErrorCode::InvalidParameterValue,
                format!("{user} holds {MAX_KEYS_PER_USER} sessions already; let some expire"),
            ));
        }
        let key = issue_key(&self.0.dir, &user, policy, Some(duration), true)
            .map_err(S3Error::internal)?;
        Ok(sluice_s3::TemporaryCredentials {
            access_key: key.access_key,
            secret_key: key.secret,
            session_token: key.token.unwrap_or_default(),
            expiration: UNIX_EPOCH + Duration::from_secs(key.expires.unwrap_or(0)),
            arn: format!("arn:aws:sts::{account}:assumed-role/{user}/{session_name}"),
        })
    }
}

fn pab_from_json(v: &Value) -> sluice_s3::PublicAccessBlock {
    let f = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    sluice_s3::PublicAccessBlock {
        block_public_acls: f("BlockPublicAcls"),
        ignore_public_acls: f("IgnorePublicAcls"),
        block_public_policy: f("BlockPublicPolicy"),
        restrict_public_buckets: f("RestrictPublicBuckets"),
    }
}

/// A policy that denies everything (in place of one that cannot be read).
fn deny_all(kind: PolicyKind) -> Policy {
    let text = match kind {
        PolicyKind::Identity => {
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#
        }
        PolicyKind::Resource => {
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#
        }
    };
    Policy::parse(text, kind).unwrap_or_else(|_| Policy::empty(kind))
}
