//! sluice-iam: who may do what, decided without I/O. Policy documents are
//! parsed and checked once ([`Policy::parse`]), then evaluated against a
//! request ([`Policy::evaluate`]) as AWS IAM evaluates them: Allow and
//! Deny, Action/NotAction, Resource/NotResource with wildcards and policy
//! variables, Principal/NotPrincipal in bucket policies, and Conditions
//! (string, numeric, date, Bool, IP address and Null operators, with
//! IfExists, ForAnyValue and ForAllValues).
//!
//! It knows nothing of users, files or HTTP: the server keeps users and
//! their policies, and passes each request's action, resource and
//! condition keys in.
//!
//! ```
//! use sluice_iam::{Decision, MapContext, Policy, PolicyKind, Principal, Request};
//!
//! let policy = Policy::parse(
//!     r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
//!         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/${aws:username}/*"}]}"#,
//!     PolicyKind::Identity,
//! )
//! .unwrap();
//! let ctx = MapContext(vec![("aws:username".into(), "ana".into())]);
//! let req = |resource| Request {
//!     action: "s3:GetObject",
//!     resource,
//!     principal: Principal::Anonymous,
//!     context: &ctx,
//! };
//! assert_eq!(policy.evaluate(&req("arn:aws:s3:::photos/ana/1.jpg")), Decision::Allow);
//! assert_eq!(policy.evaluate(&req("arn:aws:s3:::photos/bo/1.jpg")), Decision::NotApplicable);
//! ```

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

mod builtin;
mod condition;
mod context;
mod error;
mod eval;
#[doc(hidden)]
pub mod fuzzing;
mod json;
mod pattern;
mod policy;

pub use builtin::{builtin, builtin_document, BUILTIN_POLICIES};
pub use context::{Context, MapContext, NoContext};
pub use error::{PolicyError, Result};
pub use eval::{evaluate_all, Decision, Layered, Principal, Request};
pub use pattern::{Pattern, PatternError};
pub use policy::{Policy, PolicyKind, MAX_BUCKET_POLICY, MAX_IDENTITY_POLICY};

/// A date condition's time format: seconds since the epoch of an ISO 8601
/// time or a number (for `aws:CurrentTime` and `aws:EpochTime`).
#[must_use]
pub fn parse_policy_date(text: &str) -> Option<f64> {
    condition::parse_date(text)
}
