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
        let id = |k: &str| {
            v.get(k)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
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

/// The cluster's users, as loaded at one generation.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The account id users' ARNs carry.
    pub account: String,
    /// By access key.
    pub users: HashMap<String, Arc<User>>,
    /// Bucket policies, by bucket.
    pub bucket_policies: HashMap<String, Arc<Policy>>,
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
            let record = UserRecord::from_json(&v)?;
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
                    // A policy that went away gives nothing.
                    Err(e) => tracing::warn!(user = %record.name, error = %e, "policy not loaded"),
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
                // check it: one edited by hand that breaks gives nothing.
                Err(e) => tracing::warn!(bucket = %bucket, error = %e, "bucket policy not loaded"),
            }
        }
        Ok(Snapshot {
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
        if session_token.is_some() {
            return Err(SigError::InvalidToken);
        }
        self.0.with(|s| {
            s.users
                .get(access_key)
                .map(|u| u.record.secret.clone())
                .ok_or(SigError::InvalidAccessKeyId)
        })
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
                let header = k.strip_prefix("s3:").filter(|h| h.starts_with("x-amz-"))?;
                let (_, v) = c
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(header))?;
                String::from_utf8_lossy(v)
            }
        })
    }
}

/// Decides by the users' roles and policies.
#[derive(Debug, Clone)]
pub struct IamAuthorizer(pub Arc<Live>);

impl Authorizer for IamAuthorizer {
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
            let Identity::Key { access_key, .. } = identity else {
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
            let user = snapshot.users.get(access_key).ok_or_else(denied)?;
            if user.record.role == Role::Admin {
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
            // One account: the user's policies or the bucket's may allow,
            // and a Deny in either wins.
            let own = evaluate_all(user.policies.iter().map(|p| &**p), &req);
            let bucket =
                bucket_policy.map_or(sluice_iam::Decision::NotApplicable, |p| p.evaluate(&req));
            if own.or(bucket).is_allowed() {
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
        parse_bucket_policy(bucket, document)
            .map_err(|e| S3Error::new(S3ErrorCode::MalformedPolicy, e))?;
        let lock = self.0.lock().map_err(internal)?;
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

    fn is_public(&self, bucket: &str) -> Result<Option<bool>, S3Error> {
        Ok(self
            .get(bucket)?
            .and_then(|text| parse_bucket_policy(bucket, &text).ok())
            .map(|p| p.allows_anyone()))
    }
}
