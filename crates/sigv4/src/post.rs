//! Browser-form uploads (POST Object): the POST policy a form carries
//! (base64 of a JSON document: an expiration and conditions on the form's
//! fields), and the signature over it. SigV4 signs the base64 policy with
//! the signing key of the credential's scope (HMAC-SHA256, hex); SigV2
//! with the secret itself (HMAC-SHA1, base64). Nothing here reads a body:
//! the caller hands over the fields it parsed.

use ring::hmac;
use serde_json::Value;

use crate::auth::{parse_credential, parse_signature, ALGORITHM};
use crate::encoding::{base64_decode, base64_encode, constant_time_eq};
use crate::error::{Error, Result};
use crate::key::sign_hex;
use crate::verify::{SecretLookup, SignatureVersion, Verifier};

/// Largest POST policy, as base64 (AWS documents no figure; this is the
/// size of an IAM policy, far above what a form needs).
pub const MAX_POST_POLICY: usize = 20 << 10;

/// Most conditions in one POST policy.
pub const MAX_POST_CONDITIONS: usize = 256;

/// One condition of a POST policy. Field names are lowercase, without `$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostCondition {
    /// `{"field": "value"}` or `["eq", "$field", "value"]`.
    Eq {
        /// The field.
        field: String,
        /// Its value.
        value: String,
    },
    /// `["starts-with", "$field", "prefix"]` (an empty prefix allows any
    /// value).
    StartsWith {
        /// The field.
        field: String,
        /// What its value must begin with.
        prefix: String,
    },
    /// `["content-length-range", min, max]`: the file's size in bytes.
    ContentLengthRange {
        /// Smallest size allowed.
        min: u64,
        /// Largest size allowed.
        max: u64,
    },
}

/// A parsed POST policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    /// When it stops being valid, in seconds since the epoch.
    pub expiration: i64,
    /// Its conditions, in order.
    pub conditions: Vec<PostCondition>,
}

/// Form fields that no condition needs to name (AWS: the signature, the
/// file, the policy itself and `x-ignore-*`).
fn exempt(field: &str) -> bool {
    matches!(
        field,
        "policy" | "x-amz-signature" | "signature" | "awsaccesskeyid" | "file"
    ) || field.starts_with("x-ignore-")
}

fn invalid(what: impl Into<String>) -> Error {
    Error::InvalidPolicyDocument(what.into())
}

impl PostPolicy {
    /// Parses the `policy` field as sent (base64).
    ///
    /// # Errors
    /// [`Error::InvalidPolicyDocument`], naming the problem.
    pub fn parse(base64: &str) -> Result<Self> {
        if base64.len() > MAX_POST_POLICY {
            return Err(invalid("Policy is too large"));
        }
        let json = base64_decode(base64.trim().as_bytes())
            .ok_or_else(|| invalid("Invalid Policy: Invalid Base64 Encoding."))?;
        let doc: Value =
            serde_json::from_slice(&json).map_err(|_| invalid("Invalid Policy: Invalid JSON."))?;
        let Value::Object(doc) = doc else {
            return Err(invalid("Invalid Policy: the policy is not a JSON object."));
        };
        let (mut expiration, mut conditions) = (None, None);
        for (name, value) in doc {
            match name.as_str() {
                "expiration" => expiration = Some(value),
                "conditions" => conditions = Some(value),
                _ => return Err(invalid(format!("Invalid Policy: Unexpected field {name}."))),
            }
        }
        let expiration = match expiration {
            Some(Value::String(text)) => crate::time::parse_iso8601(&text).ok_or_else(|| {
                invalid("Invalid Policy: Invalid 'expiration' value: it must be an ISO 8601 date.")
            })?,
            Some(_) => return Err(invalid("Invalid Policy: 'expiration' must be a string.")),
            None => return Err(invalid("Invalid Policy: Policy missing expiration.")),
        };
        let Some(Value::Array(items)) = conditions else {
            return Err(invalid(
                "Invalid Policy: Policy missing conditions, or they are not a list.",
            ));
        };
        if items.len() > MAX_POST_CONDITIONS {
            return Err(invalid("Invalid Policy: Too many conditions."));
        }
        let conditions = items
            .into_iter()
            .map(condition)
            .collect::<Result<Vec<_>>>()?;
        Ok(PostPolicy {
            expiration,
            conditions,
        })
    }

    /// Checks a form against the policy at `now`: not expired, every
    /// condition met, every field (but the exempt ones) named by a
    /// condition. `fields` are the form's fields before the file, names as
    /// sent; `bucket` is the bucket the form was posted to (`$bucket`).
    /// The content-length range is the caller's to apply as the file
    /// arrives ([`PostPolicy::content_length_range`]).
    ///
    /// # Errors
    /// [`Error::PostPolicyDenied`] saying which rule failed.
    pub fn check(&self, fields: &[(String, String)], bucket: &str, now: i64) -> Result<()> {
        if now > self.expiration {
            return Err(Error::PostPolicyDenied("Policy expired.".into()));
        }
        let lookup = |field: &str| -> Option<&str> {
            if field == "bucket" {
                return Some(bucket);
            }
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(field))
                .map(|(_, v)| v.as_str())
        };
        for c in &self.conditions {
            let holds = match c {
                PostCondition::Eq { field, value } => lookup(field) == Some(value.as_str()),
                PostCondition::StartsWith { field, prefix } => {
                    let value = lookup(field).unwrap_or_default();
                    // A Content-Type may list several types: each must match.
                    if field == "content-type" {
                        value
                            .split(',')
                            .all(|v| v.trim().starts_with(prefix.as_str()))
                    } else {
                        value.starts_with(prefix.as_str())
                    }
                }
                PostCondition::ContentLengthRange { .. } => true,
            };
            if !holds {
                return Err(Error::PostPolicyDenied(format!(
                    "Policy Condition failed: {}",
                    describe(c)
                )));
            }
        }
        for (name, _) in fields {
            let lower = name.to_ascii_lowercase();
            if exempt(&lower) {
                continue;
            }
            let named = self.conditions.iter().any(|c| match c {
                PostCondition::Eq { field, .. } | PostCondition::StartsWith { field, .. } => {
                    *field == lower
                }
                PostCondition::ContentLengthRange { .. } => false,
            });
            if !named {
                return Err(Error::PostPolicyDenied(format!(
                    "Extra input fields: {lower}"
                )));
            }
        }
        Ok(())
    }

    /// The file sizes all `content-length-range` conditions allow (their
    /// intersection), or None when the policy has none.
    #[must_use]
    pub fn content_length_range(&self) -> Option<(u64, u64)> {
        self.conditions
            .iter()
            .filter_map(|c| match c {
                PostCondition::ContentLengthRange { min, max } => Some((*min, *max)),
                _ => None,
            })
            .reduce(|(a, b), (c, d)| (a.max(c), b.min(d)))
    }
}

/// A condition as AWS quotes it in its error message.
fn describe(c: &PostCondition) -> String {
    match c {
        PostCondition::Eq { field, value } => format!("[\"eq\", \"${field}\", \"{value}\"]"),
        PostCondition::StartsWith { field, prefix } => {
            format!("[\"starts-with\", \"${field}\", \"{prefix}\"]")
        }
        PostCondition::ContentLengthRange { min, max } => {
            format!("[\"content-length-range\", {min}, {max}]")
        }
    }
}

/// A condition's value: a string, or a number as its JSON text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn condition(item: Value) -> Result<PostCondition> {
    match item {
        Value::Object(map) => {
            let mut entries = map.into_iter();
            let (Some((field, value)), None) = (entries.next(), entries.next()) else {
                return Err(invalid(
                    "Invalid Policy: Each condition object must have exactly one field.",
                ));
            };
            let value = scalar(&value).ok_or_else(|| {
                invalid(format!(
                    "Invalid Policy: Invalid value for condition {field}."
                ))
            })?;
            Ok(PostCondition::Eq {
                field: field.trim_start_matches('$').to_ascii_lowercase(),
                value,
            })
        }
        Value::Array(list) => {
            let [op, a, b] = list.as_slice() else {
                return Err(invalid(
                    "Invalid Policy: Each condition list must have three elements.",
                ));
            };
            let op = op
                .as_str()
                .ok_or_else(|| invalid("Invalid Policy: A condition operator must be a string."))?
                .to_ascii_lowercase();
            if op == "content-length-range" {
                let (Some(min), Some(max)) = (a.as_u64(), b.as_u64()) else {
                    return Err(invalid(
                        "Invalid Policy: content-length-range needs two non-negative integers.",
                    ));
                };
                if min > max {
                    return Err(invalid(
                        "Invalid Policy: content-length-range's minimum exceeds its maximum.",
                    ));
                }
                return Ok(PostCondition::ContentLengthRange { min, max });
            }
            let field = a
                .as_str()
                .and_then(|f| f.strip_prefix('$'))
                .filter(|f| !f.is_empty())
                .ok_or_else(|| {
                    invalid("Invalid Policy: A condition's field must be a string starting with $.")
                })?
                .to_ascii_lowercase();
            let value = scalar(b).ok_or_else(|| {
                invalid(format!(
                    "Invalid Policy: Invalid value for condition {field}."
                ))
            })?;
            match op.as_str() {
                "eq" => Ok(PostCondition::Eq { field, value }),
                "starts-with" => Ok(PostCondition::StartsWith {
                    field,
                    prefix: value,
                }),
                _ => Err(invalid(format!(
                    "Invalid Policy: Invalid condition operator {op}."
                ))),
            }
        }
        _ => Err(invalid(
            "Invalid Policy: A condition must be an object or a list.",
        )),
    }
}

/// The signature fields of a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostSignature<'a> {
    /// `x-amz-algorithm`, `x-amz-credential`, `x-amz-date`,
    /// `x-amz-signature`.
    V4 {
        /// `x-amz-algorithm`.
        algorithm: &'a str,
        /// `x-amz-credential`: `AK/DATE/REGION/s3/aws4_request`.
        credential: &'a str,
        /// `x-amz-date`: `YYYYMMDDTHHMMSSZ`.
        date: &'a str,
        /// `x-amz-signature`: 64 lowercase hex digits.
        signature: &'a str,
    },
    /// `AWSAccessKeyId` and `signature` (base64 HMAC-SHA1).
    V2 {
        /// `AWSAccessKeyId`.
        access_key: &'a str,
        /// `signature`.
        signature: &'a str,
    },
}

impl PostSignature<'_> {
    /// Which signature version this is.
    #[must_use]
    pub fn version(&self) -> SignatureVersion {
        match self {
            PostSignature::V4 { .. } => SignatureVersion::V4,
            PostSignature::V2 { .. } => SignatureVersion::V2,
        }
    }
}

impl Verifier {
    /// Verifies a form's signature over its `policy` field (as sent, in
    /// base64) and returns the access key that signed it. The policy's
    /// expiration, not the signing date, bounds how long the form is
    /// valid: the caller MUST check the policy ([`PostPolicy::check`]).
    ///
    /// # Errors
    /// [`Error::SignatureDoesNotMatch`], [`Error::InvalidAccessKeyId`],
    /// [`Error::InvalidToken`] and [`Error::ExpiredToken`] from the secret
    /// lookup, [`Error::InvalidArgument`] for malformed fields,
    /// [`Error::UnsupportedSignatureVersion`] for another algorithm.
    pub fn verify_post<S: SecretLookup + ?Sized>(
        &mut self,
        signature: &PostSignature<'_>,
        policy: &str,
        session_token: Option<&str>,
        secrets: &S,
    ) -> Result<String> {
        match *signature {
            PostSignature::V4 {
                algorithm,
                credential,
                date,
                signature,
            } => {
                if algorithm != ALGORITHM {
                    return Err(Error::UnsupportedSignatureVersion);
                }
                let (access_key, scope) = parse_credential(credential)
                    .map_err(|_| Error::InvalidArgument("Invalid x-amz-credential field."))?;
                if crate::time::parse_amz_date(date.as_bytes()).is_none()
                    || date.get(..8) != Some(scope.date.as_str())
                {
                    return Err(Error::InvalidArgument(
                        "The x-amz-date field must be the credential's date in the ISO 8601 basic format.",
                    ));
                }
                self.check_post_scope(&scope)?;
                let signature = parse_signature(signature.as_bytes())
                    .ok_or(Error::InvalidArgument("Invalid x-amz-signature field."))?;
                let secret = secrets.secret_key(&access_key, session_token)?;
                let key = self.keys.get(&access_key, &secret, &scope);
                let expected = sign_hex(&key, policy.as_bytes());
                if !constant_time_eq(&expected, &signature) {
                    return Err(Error::SignatureDoesNotMatch);
                }
                Ok(access_key)
            }
            PostSignature::V2 {
                access_key,
                signature,
            } => {
                let secret = secrets.secret_key(access_key, session_token)?;
                let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
                let expected = base64_encode(hmac::sign(&key, policy.as_bytes()).as_ref());
                if !constant_time_eq(expected.as_bytes(), signature.trim().as_bytes()) {
                    return Err(Error::SignatureDoesNotMatch);
                }
                Ok(access_key.to_owned())
            }
        }
    }
}

/// Signs a POST policy as a client does (SigV4): the `x-amz-signature`
/// field for `policy` (base64) with `secret` and the credential's scope.
#[must_use]
pub fn sign_post_policy(policy: &str, secret: &str, scope: &crate::Scope) -> String {
    let key = crate::key::derive_signing_key(secret, scope);
    String::from_utf8_lossy(&sign_hex(&key, policy.as_bytes())).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(json: &str) -> Result<PostPolicy> {
        PostPolicy::parse(&base64_encode(json.as_bytes()))
    }

    const NOW: i64 = 1_796_000_000;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_documented_example_parses() {
        // The example of the AWS S3 API reference ("Creating a POST policy").
        let p = policy(
            r#"{ "expiration": "2007-12-01T12:00:00.000Z",
  "conditions": [
    {"acl": "public-read" },
    {"bucket": "johnsmith" },
    ["starts-with", "$key", "user/eric/"],
    ["content-length-range", 1048576, 10485760]
  ]
}"#,
        )
        .unwrap();
        assert_eq!(p.expiration, 1_196_510_400);
        assert_eq!(p.conditions.len(), 4);
        assert_eq!(p.content_length_range(), Some((1_048_576, 10_485_760)));
    }

    #[test]
    fn conditions_hold_or_name_what_failed() {
        let p = policy(
            r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [
                {"bucket": "b"}, ["starts-with", "$key", "user/"],
                ["eq", "$Content-Type", "image/png"], ["starts-with", "$x-amz-meta-tag", ""]]}"#,
        )
        .unwrap();
        let ok = fields(&[
            ("key", "user/a"),
            ("Content-Type", "image/png"),
            ("x-amz-meta-tag", "anything"),
            ("policy", "..."),
            ("x-ignore-me", "1"),
        ]);
        p.check(&ok, "b", NOW).unwrap();
        let e = p.check(&ok, "other", NOW).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$bucket\", \"b\"]"
        );
        let mut bad_key = ok.clone();
        bad_key[0].1 = "admin/a".into();
        assert!(p.check(&bad_key, "b", NOW).is_err());
        let mut extra = ok.clone();
        extra.push(("x-amz-meta-other".into(), "1".into()));
        assert_eq!(
            p.check(&extra, "b", NOW).unwrap_err().to_string(),
            "Invalid according to Policy: Extra input fields: x-amz-meta-other"
        );
        assert_eq!(
            p.check(&ok, "b", 1_893_456_001).unwrap_err().to_string(),
            "Invalid according to Policy: Policy expired."
        );
        // A missing field does not equal anything.
        let missing = fields(&[("key", "user/a")]);
        assert!(p.check(&missing, "b", NOW).is_err());
    }

    #[test]
    fn malformed_policies_are_refused_by_name() {
        for (json, what) in [
            ("[]", "not a JSON object"),
            (r#"{"conditions": []}"#, "missing expiration"),
            (r#"{"expiration": "soon", "conditions": []}"#, "ISO 8601"),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z"}"#,
                "missing conditions",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["in", "$key", "a"]]}"#,
                "operator in",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "key", "a"]]}"#,
                "starting with $",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 5, 1]]}"#,
                "exceeds",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"a": "1", "b": "2"}]}"#,
                "exactly one field",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [], "x": 1}"#,
                "Unexpected field x",
            ),
        ] {
            let e = policy(json).unwrap_err();
            assert!(e.to_string().contains(what), "{json}: {e}");
            assert_eq!(e.code(), "InvalidPolicyDocument");
        }
        assert!(PostPolicy::parse("not base64!").is_err());
    }

    struct OneKey;
    impl SecretLookup for OneKey {
        fn secret_key(&self, access_key: &str, _token: Option<&str>) -> Result<String> {
            if access_key == "AK" {
                Ok("SECRET".into())
            } else {
                Err(Error::InvalidAccessKeyId)
            }
        }
    }

    #[test]
    fn signatures_verify_and_refuse() {
        let pol = base64_encode(br#"{"expiration": "2030-01-01T00:00:00Z", "conditions": []}"#);
        let scope = crate::Scope {
            date: "20261207".into(),
            region: "us-east-1".into(),
            service: "s3".into(),
        };
        let sig = sign_post_policy(&pol, "SECRET", &scope);
        let mut v = Verifier::new(Some("us-east-1"), "s3");
        let form = |credential, signature| PostSignature::V4 {
            algorithm: ALGORITHM,
            credential,
            date: "20261207T000000Z",
            signature,
        };
        let cred = "AK/20261207/us-east-1/s3/aws4_request";
        assert_eq!(
            v.verify_post(&form(cred, &sig), &pol, None, &OneKey)
                .unwrap(),
            "AK"
        );
        let other = base64_encode(br#"{"expiration": "2031-01-01T00:00:00Z", "conditions": []}"#);
        assert_eq!(
            v.verify_post(&form(cred, &sig), &other, None, &OneKey),
            Err(Error::SignatureDoesNotMatch)
        );
        assert_eq!(
            v.verify_post(
                &form("XX/20261207/us-east-1/s3/aws4_request", &sig),
                &pol,
                None,
                &OneKey
            ),
            Err(Error::InvalidAccessKeyId)
        );
        assert!(v
            .verify_post(
                &form("AK/20261207/eu-west-1/s3/aws4_request", &sig),
                &pol,
                None,
                &OneKey
            )
            .is_err());
        assert!(v
            .verify_post(
                &form("AK/20261208/us-east-1/s3/aws4_request", &sig),
                &pol,
                None,
                &OneKey
            )
            .is_err());
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"SECRET");
        let v2 = base64_encode(hmac::sign(&key, pol.as_bytes()).as_ref());
        let form2 = |signature| PostSignature::V2 {
            access_key: "AK",
            signature,
        };
        assert_eq!(
            v.verify_post(&form2(&v2), &pol, None, &OneKey).unwrap(),
            "AK"
        );
        assert_eq!(
            v.verify_post(&form2(&v2), &other, None, &OneKey),
            Err(Error::SignatureDoesNotMatch)
        );
    }
}
