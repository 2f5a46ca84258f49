//! Signing keys: derivation and a per-thread cache, so a verification costs
//! one SHA-256 of the canonical request and one HMAC of the string to sign.

use std::collections::HashMap;

use ring::hmac;

use crate::auth::Scope;

/// Derives the SigV4 signing key of `secret` for `scope`
/// (four chained HMAC-SHA256 over date, region, service, `aws4_request`).
#[must_use]
pub fn derive_signing_key(secret: &str, scope: &Scope) -> hmac::Key {
    let k = [b"AWS4", secret.as_bytes()].concat();
    let mut tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &k),
        scope.date.as_bytes(),
    );
    for part in [
        scope.region.as_bytes(),
        scope.service.as_bytes(),
        b"aws4_request",
    ] {
        tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()), part);
    }
    hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref())
}

struct CachedKey {
    secret: String,
    scope: Scope,
    key: hmac::Key,
}

/// Cache of derived keys by access key, scope and secret. A changed secret
/// (rotation) misses the cache. Bounded: it empties itself when it holds
/// [`SigningKeyCache::CAPACITY`] keys, so it needs no eviction bookkeeping.
#[derive(Default)]
pub struct SigningKeyCache {
    by_access_key: HashMap<String, Vec<CachedKey>>,
    len: usize,
}

impl core::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("len", &self.len)
            .finish()
    }
}

impl SigningKeyCache {
    /// Keys held before the cache empties itself.
    pub const CAPACITY: usize = 4096;

    /// The signing key, derived on a miss.
    pub fn get(&mut self, access_key: &str, secret: &str, scope: &Scope) -> hmac::Key {
        if let Some(hit) = self.by_access_key.get(access_key).and_then(|keys| {
            keys.iter()
                .find(|k| k.scope == *scope && k.secret == secret)
        }) {
            return hit.key.clone();
        }
        let key = derive_signing_key(secret, scope);
        if self.len >= Self::CAPACITY {
            self.by_access_key.clear();
            self.len = 0;
        }
        let keys = self.by_access_key.entry(access_key.to_owned()).or_default();
        let before = keys.len();
        // Older dates and rotated secrets of this access key are dead weight.
        keys.retain(|k| k.scope.date == scope.date && k.secret == secret);
        keys.push(CachedKey {
            secret: secret.to_owned(),
            scope: scope.clone(),
            key: key.clone(),
        });
        // `len` is the sum of the lists' lengths, `before` among them, and at
        // most CAPACITY: neither step saturates.
        self.len = self.len.saturating_sub(before).saturating_add(keys.len());
        key
    }

    /// Number of keys held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Lowercase hex HMAC-SHA256 of `msg`.
pub(crate) fn sign_hex(key: &hmac::Key, msg: &[u8]) -> [u8; 64] {
    let tag = hmac::sign(key, msg);
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(tag.as_ref());
    sluice_http::hex_encode32(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(date: &str) -> Scope {
        Scope {
            date: date.into(),
            region: "us-east-1".into(),
            service: "s3".into(),
        }
    }

    #[test]
    fn cache_hits_misses_and_rotation() {
        let mut cache = SigningKeyCache::default();
        let a = cache.get("AK", "secret", &scope("20130524"));
        let b = cache.get("AK", "secret", &scope("20130524"));
        assert_eq!(sign_hex(&a, b"x"), sign_hex(&b, b"x"));
        assert_eq!(cache.len(), 1);
        let rotated = cache.get("AK", "other", &scope("20130524"));
        assert_ne!(sign_hex(&a, b"x"), sign_hex(&rotated, b"x"));
        assert_eq!(cache.len(), 1, "the old secret's key is dropped");
        cache.get("AK", "other", &scope("20130525"));
        assert_eq!(cache.len(), 1, "the old date's key is dropped");
        assert_eq!(
            sign_hex(&cache.get("AK", "secret", &scope("20130524")), b"x"),
            sign_hex(&derive_signing_key("secret", &scope("20130524")), b"x")
        );
    }
}
