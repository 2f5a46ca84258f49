//! Evaluation, as AWS IAM decides (IAM User Guide, "Policy evaluation
//! logic"): a statement applies when its principal (bucket policies),
//! action, resource and conditions all match; an applicable Deny wins over
//! any Allow; without an applicable Allow the request is denied
//! implicitly.

use std::borrow::Cow;

use crate::context::Context;
use crate::policy::{Effect, Matcher, Policy, Principals, Statement};

/// Who makes a request, as bucket policies name principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// An unsigned request.
    Anonymous,
    /// A user (or a session or service account acting as one).
    User {
        /// `arn:aws:iam::ACCOUNT:user/NAME`.
        arn: &'a str,
        /// The account id.
        account: &'a str,
    },
}

/// What a request asks, for evaluation.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The IAM action (`s3:GetObject`), any case.
    pub action: &'a str,
    /// The resource ARN (`arn:aws:s3:::bucket/key`).
    pub resource: &'a str,
    /// Who asks (bucket policies only).
    pub principal: Principal<'a>,
    /// The condition keys' values, and the policy variables'.
    pub context: &'a dyn Context,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("action", &self.action)
            .field("resource", &self.resource)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// What a set of policies says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Decision {
    /// No statement applies (an implicit deny, unless another policy
    /// allows).
    NotApplicable,
    /// An Allow applies and no Deny.
    Allow,
    /// A Deny applies.
    Deny,
}

impl Decision {
    /// Two policies together (an identity policy and a bucket policy of
    /// the same account): a Deny in either wins, else an Allow in either.
    #[must_use]
    pub fn or(self, other: Decision) -> Decision {
        self.max(other)
    }

    /// A session's or service account's policy with its parent's: a Deny
    /// in either wins, and an Allow needs both. Never the narrower policy
    /// alone.
    #[must_use]
    pub fn and(self, other: Decision) -> Decision {
        match (self, other) {
            (Decision::Deny, _) | (_, Decision::Deny) => Decision::Deny,
            (Decision::Allow, Decision::Allow) => Decision::Allow,
            _ => Decision::NotApplicable,
        }
    }

    /// Whether the request may proceed.
    #[must_use]
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

fn matches_any(m: &Matcher, text: &str, ctx: &dyn Context) -> bool {
    let hit = m.patterns.iter().any(|p| p.matches(text, |k| ctx.value(k)));
    hit != m.negated
}

fn principal_matches(p: &Principals, who: Principal<'_>) -> bool {
    let named = match who {
        Principal::Anonymous => false,
        Principal::User { arn, account } => p.names.iter().any(|n| {
            n == arn
                || *n == account
                || n.strip_prefix("arn:aws:iam::")
                    .and_then(|r| r.strip_suffix(":root"))
                    == Some(account)
        }),
    };
    (p.anyone || named) != p.negated
}

impl Statement {
    /// Whether the statement applies, its action already known to match
    /// when `action_known`.
    fn applies(&self, req: &Request<'_>, action_known: bool) -> bool {
        if let Some(p) = &self.principals {
            if !principal_matches(p, req.principal) {
                return false;
            }
        }
        (action_known || matches_any(&self.actions, req.action, req.context))
            && matches_any(&self.resources, req.resource, req.context)
            && self.conditions.iter().all(|c| c.holds(req.context))
    }
}

impl Policy {
    /// This policy's decision on `req`.
    #[must_use]
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut decision = Decision::NotApplicable;
        let mut apply = |s: &Statement, known: bool| {
            if s.applies(req, known) {
                match s.effect {
                    Effect::Deny => return Some(Decision::Deny),
                    Effect::Allow => decision = Decision::Allow,
                }
            }
            None
        };
        match self
            .by_action
            .binary_search_by(|(a, _)| (*a).cmp(req.action))
        {
            Ok(i) => {
                for &n in &self.by_action[i].1 {
                    if let Some(s) = self.statements.get(usize::from(n)) {
                        if let Some(d) = apply(s, true) {
                            return d;
                        }
                    }
                }
            }
            Err(_) => {
                for s in &self.statements {
                    if let Some(d) = apply(s, false) {
                        return d;
                    }
                }
            }
        }
        decision
    }
}

/// The decision of several policies of one identity (all attached to a
/// user): a Deny in any wins, else an Allow in any.
pub fn evaluate_all<'p>(
    policies: impl IntoIterator<Item = &'p Policy>,
    req: &Request<'_>,
) -> Decision {
    let mut decision = Decision::NotApplicable;
    for p in policies {
        match p.evaluate(req) {
            Decision::Deny => return Decision::Deny,
            d => decision = decision.or(d),
        }
    }
    decision
}

/// A context with some keys set in front of another's (the identity's
/// `aws:username` before the request's keys).
pub struct Layered<'a> {
    /// (lowercase key, value) pairs asked first.
    pub front: &'a [(&'a str, &'a str)],
    /// The rest.
    pub back: &'a dyn Context,
}

impl Context for Layered<'_> {
    fn value(&self, key: &str) -> Option<Cow<'_, str>> {
        match self.front.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(Cow::Borrowed(v)),
            None => self.back.value(key),
        }
    }

    fn values(&self, key: &str) -> Vec<Cow<'_, str>> {
        match self.front.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => vec![Cow::Borrowed(v)],
            None => self.back.values(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::NoContext;
    use crate::policy::PolicyKind;
    use crate::{builtin, BUILTIN_POLICIES};

    fn req<'a>(action: &'a str, resource: &'a str, principal: Principal<'a>) -> Request<'a> {
        Request {
            action,
            resource,
            principal,
            context: &NoContext,
        }
    }

    const ANA: Principal<'static> = Principal::User {
        arn: "arn:aws:iam::000000000000:user/ana",
        account: "000000000000",
    };

    #[test]
    fn builtins_give_what_their_names_say() {
        for n in BUILTIN_POLICIES {
            assert!(builtin(n).is_some(), "{n}");
        }
        let obj = "arn:aws:s3:::b/k";
        let d = |p: &str, action: &str, resource: &str| {
            builtin(p).unwrap().evaluate(&req(action, resource, ANA))
        };
        assert_eq!(d("readonly", "s3:GetObject", obj), Decision::Allow);
        assert_eq!(
            d("readonly", "s3:ListAllMyBuckets", "arn:aws:s3:::*"),
            Decision::Allow
        );
        assert_eq!(d("readonly", "s3:PutObject", obj), Decision::NotApplicable);
        assert_eq!(
            d("readonly", "s3:DeleteObject", obj),
            Decision::NotApplicable
        );
        assert_eq!(d("readwrite", "s3:DeleteObject", obj), Decision::Allow);
        assert_eq!(
            d("readwrite", "s3:DeleteBucket", "arn:aws:s3:::b"),
            Decision::Allow
        );
        assert_eq!(d("writeonly", "s3:PutObject", obj), Decision::Allow);
        assert_eq!(d("writeonly", "s3:GetObject", obj), Decision::NotApplicable);
        assert_eq!(d("none", "s3:GetObject", obj), Decision::NotApplicable);
        assert_eq!(builtin("other").map(|_| ()), None);
    }

    #[test]
    fn bucket_policy_principals() {
        let p = |principal: &str| {
            Policy::parse(
                &format!(
                    r#"{{"Statement":[{{"Effect":"Allow","{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}]}}"#
                ),
                PolicyKind::Resource,
            )
            .unwrap()
        };
        let get = |p: &Policy, who| p.evaluate(&req("s3:GetObject", "arn:aws:s3:::b/k", who));
        let anyone = p(r#"Principal":"*""#);
        assert_eq!(get(&anyone, Principal::Anonymous), Decision::Allow);
        assert_eq!(get(&anyone, ANA), Decision::Allow);
        let ana = p(r#"Principal":{"AWS":"arn:aws:iam::000000000000:user/ana"}"#);
        assert_eq!(get(&ana, ANA), Decision::Allow);
        assert_eq!(get(&ana, Principal::Anonymous), Decision::NotApplicable);
        let bo = Principal::User {
            arn: "arn:aws:iam::000000000000:user/bo",
            account: "000000000000",
        };
        assert_eq!(get(&ana, bo), Decision::NotApplicable);
        let account = p(r#"Principal":{"AWS":["arn:aws:iam::000000000000:root"]}"#);
        assert_eq!(get(&account, bo), Decision::Allow);
        let not_ana = p(r#"NotPrincipal":{"AWS":"arn:aws:iam::000000000000:user/ana"}"#);
        assert_eq!(get(&not_ana, ANA), Decision::NotApplicable);
        assert_eq!(get(&not_ana, bo), Decision::Allow);
        assert_eq!(get(&not_ana, Principal::Anonymous), Decision::Allow);
    }

    #[test]
    fn decisions_combine() {
        use Decision::{Allow, Deny, NotApplicable as Na};
        assert_eq!(Allow.or(Na), Allow);
        assert_eq!(Allow.or(Deny), Deny);
        assert_eq!(Na.or(Na), Na);
        // A session's policy narrows, never widens.
        assert_eq!(Allow.and(Na), Na);
        assert_eq!(Na.and(Allow), Na);
        assert_eq!(Allow.and(Allow), Allow);
        assert_eq!(Allow.and(Deny), Deny);
        assert_eq!(Deny.and(Na), Deny);
        let deny = Policy::parse(
            r#"{"Statement":[{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}"#,
            PolicyKind::Identity,
        )
        .unwrap();
        let rw = builtin("readwrite").unwrap();
        let r = req("s3:DeleteObject", "arn:aws:s3:::b/k", ANA);
        assert_eq!(evaluate_all([rw, &deny], &r), Deny);
        assert_eq!(evaluate_all([rw], &r), Allow);
        assert_eq!(evaluate_all([], &r), Na);
    }
}
