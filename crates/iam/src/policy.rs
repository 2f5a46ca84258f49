//! Policy documents: parsed and checked once, when they are stored, into a
//! form that evaluates without parsing again.
//!
//! Two kinds, as AWS has them: identity policies (attached to a user, a
//! session or a service account; no Principal) and resource policies
//! (bucket policies; each statement names its Principal).

use serde_json::{Map, Value};

use crate::condition::{self, Condition};
use crate::error::{PolicyError, Result};
use crate::pattern::Pattern;

/// The largest identity policy, in characters other than whitespace (IAM's
/// limit for a managed policy).
pub const MAX_IDENTITY_POLICY: usize = 6_144;
/// The largest bucket policy, in bytes (S3's limit).
pub const MAX_BUCKET_POLICY: usize = 20 * 1024;

/// Which kind of policy a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to an identity: no Principal.
    Identity,
    /// A bucket policy: every statement has a Principal or NotPrincipal.
    Resource,
}

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// Patterns a statement lists, or excludes (`NotAction`, `NotResource`).
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub(crate) patterns: Vec<Pattern>,
    pub(crate) negated: bool,
}

/// Whom a bucket policy statement is for.
#[derive(Debug, Clone)]
pub(crate) struct Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous requests too.
    pub(crate) anyone: bool,
    /// ARNs (`arn:aws:iam::ACCOUNT:user/NAME`, `arn:aws:iam::ACCOUNT:root`)
    /// or account ids.
    pub(crate) names: Vec<String>,
    /// `NotPrincipal`: everyone but these.
    pub(crate) negated: bool,
}

/// One statement.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) effect: Effect,
    pub(crate) principals: Option<Principals>,
    pub(crate) actions: Matcher,
    pub(crate) resources: Matcher,
    pub(crate) conditions: Vec<Condition>,
}

/// A checked policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) statements: Vec<Statement>,
    kind: PolicyKind,
    /// For actions known in advance ([`Policy::index_actions`]), sorted by
    /// action: the statements whose Action or NotAction lets it through.
    pub(crate) by_action: Vec<(&'static str, Vec<u16>)>,
}

/// `x` or `[x, ...]` as a list (empty lists refused).
fn one_or_many<'a>(v: &'a Value, field: &str) -> Result<Vec<&'a str>> {
    let list: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    if list.is_empty() {
        return Err(PolicyError::new(format!("{field} must not be empty")));
    }
    list.into_iter()
        .map(|v| {
            v.as_str().ok_or_else(|| {
                PolicyError::new(format!("{field} must be a string or a list of strings"))
            })
        })
        .collect()
}

/// `service:action` with wildcards, or `*`.
fn valid_action(a: &str) -> bool {
    a == "*"
        || a.split_once(':').is_some_and(|(service, name)| {
            !service.is_empty()
                && service
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
        })
}

/// `*` or an ARN (`arn:partition:service:region:account:resource`).
fn valid_resource(r: &str) -> bool {
    r == "*" || (r.starts_with("arn:") && r.splitn(6, ':').count() == 6)
}

impl Policy {
    /// Parses and checks a policy document of `kind`.
    ///
    /// # Errors
    /// [`PolicyError`] naming what is wrong: not JSON, too large, an
    /// unknown field, a missing Effect, Action or Resource, an invalid
    /// action, resource, principal or condition.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Self> {
        match kind {
            PolicyKind::Identity => {
                let size = text.chars().filter(|c| !c.is_whitespace()).count();
                if size > MAX_IDENTITY_POLICY {
                    return Err(PolicyError::new(format!(
                        "Policy is {size} characters; the limit is {MAX_IDENTITY_POLICY}"
                    )));
                }
            }
            PolicyKind::Resource => {
                if text.len() > MAX_BUCKET_POLICY {
                    return Err(PolicyError::new("Policies must be less than 20 KB"));
                }
            }
        }
        let doc: Value = crate::json::parse(text)
            .map_err(|e| PolicyError::new(format!("Policies must be valid JSON: {e}")))?;
        let Value::Object(top) = doc else {
            return Err(PolicyError::new("Policies must be a JSON object"));
        };
        let mut variables = false;
        let mut statements = None;
        for (field, value) in &top {
            match field.as_str() {
                "Version" => match value.as_str() {
                    Some("2012-10-17") => variables = true,
                    Some("2008-10-17") => variables = false,
                    _ => return Err(PolicyError::new(
                        "The policy must contain a valid version string (2012-10-17 or 2008-10-17)",
                    )),
                },
                "Id" => {}
                "Statement" => statements = Some(value),
                other => {
                    return Err(PolicyError::new(format!(
                        "Policy has an unknown field: {other}"
                    )))
                }
            }
        }
        let statements =
            statements.ok_or_else(|| PolicyError::new("Missing required field Statement"))?;
        let list: Vec<&Value> = match statements {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        if list.is_empty() {
            return Err(PolicyError::new("Statement must not be empty"));
        }
        let statements = list
            .into_iter()
            .map(|s| match s {
                Value::Object(m) => parse_statement(m, kind, variables),
                _ => Err(PolicyError::new("Each Statement must be a JSON object")),
            })
            .collect::<Result<_>>()?;
        Ok(Policy {
            statements,
            kind,
            by_action: Vec::new(),
        })
    }

    /// Works out, for each of `actions` (those a server can ask), which
    /// statements match it by action, so evaluating a request for one of
    /// them looks at those statements only. Actions with variables in
    /// their patterns cannot occur (actions take none), so the index is
    /// exact. Other actions are still evaluated against every statement.
    pub fn index_actions(&mut self, actions: impl IntoIterator<Item = &'static str>) {
        let none = crate::context::NoContext;
        let mut index: Vec<(&'static str, Vec<u16>)> = actions
            .into_iter()
            .map(|a| {
                let hits =
                    self.statements
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| {
                            let hit = s.actions.patterns.iter().any(|p| {
                                p.matches(a, |k| crate::context::Context::value(&none, k))
                            });
                            hit != s.actions.negated
                        })
                        .filter_map(|(i, _)| u16::try_from(i).ok())
                        .collect();
                (a, hits)
            })
            .collect();
        index.sort_by(|x, y| x.0.cmp(y.0));
        index.dedup_by(|x, y| x.0 == y.0);
        // More statements than a u16 counts: no index (parse limits make
        // this impossible, but the index must never drop a statement).
        if self.statements.len() > usize::from(u16::MAX) {
            index.clear();
        }
        self.by_action = index;
    }

    /// A policy with no statements: it allows nothing.
    #[must_use]
    pub fn empty(kind: PolicyKind) -> Self {
        Policy {
            statements: Vec::new(),
            kind,
            by_action: Vec::new(),
        }
    }

    /// The policy's kind.
    #[must_use]
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The resource patterns of its statements (to check that a bucket
    /// policy is about its bucket).
    pub fn resource_patterns(&self) -> impl Iterator<Item = String> + '_ {
        self.statements
            .iter()
            .flat_map(|s| s.resources.patterns.iter().map(Pattern::text))
    }

    /// Whether any statement tests `key` (lowercase) in a condition, so a
    /// caller can skip gathering costly values no policy asks for.
    #[must_use]
    pub fn tests_key(&self, key_prefix: &str) -> bool {
        self.statements
            .iter()
            .flat_map(|s| &s.conditions)
            .any(|c| c.key().starts_with(key_prefix))
    }

    /// Whether some statement could allow anonymous requests (Principal
    /// `*`, or a NotPrincipal): S3's "public" policy, roughly.
    #[must_use]
    pub fn allows_anyone(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.principals.as_ref().is_some_and(|p| p.anyone != p.negated)
        })
    }
}

fn parse_statement(m: &Map<String, Value>, kind: PolicyKind, variables: bool) -> Result<Statement> {
    let mut effect = None;
    let mut principals = None;
    let mut actions = None;
    let mut resources = None;
    let mut conditions = Vec::new();
    for (field, value) in m {
        match field.as_str() {
            "Sid" => {
                if !value.is_string() {
                    return Err(PolicyError::new("Sid must be a string"));
                }
            }
            "Effect" => {
                effect = Some(match value.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => {
                        return Err(PolicyError::new(
                            "Invalid effect: Effect must be Allow or Deny",
                        ))
                    }
                });
            }
            "Principal" | "NotPrincipal" => {
                if kind == PolicyKind::Identity {
                    return Err(PolicyError::new(format!(
                        "Policy document should not specify a principal ({field})"
                    )));
                }
                if principals.is_some() {
                    return Err(PolicyError::new(
                        "A statement has Principal or NotPrincipal, not both",
                    ));
                }
                principals = Some(parse_principals(value, field == "NotPrincipal")?);
            }
            "Action" | "NotAction" => {
                if actions.is_some() {
                    return Err(PolicyError::new(
                        "A statement has Action or NotAction, not both",
                    ));
                }
                let patterns = one_or_many(value, field)?
                    .into_iter()
                    .map(|a| {
                        if !valid_action(a) {
                            return Err(PolicyError::new(format!(
                                "Policy has invalid action: {a}"
                            )));
                        }
                        Pattern::parse(a, false, true).map_err(|_| {
                            PolicyError::new(format!("Policy has invalid action: {a}"))
                        })
                    })
                    .collect::<Result<_>>()?;
                actions = Some(Matcher {
                    patterns,
                    negated: field == "NotAction",
                });
            }
            "Resource" | "NotResource" => {
                if resources.is_some() {
                    return Err(PolicyError::new(
                        "A statement has Resource or NotResource, not both",
                    ));
                }
                let patterns = one_or_many(value, field)?
                    .into_iter()
                    .map(|r| {
                        if !valid_resource(r) {
                            return Err(PolicyError::new(format!(
                                "Policy has invalid resource: {r}"
                            )));
                        }
                        Pattern::parse(r, variables, false).map_err(|_| {
                            PolicyError::new(format!("Policy has invalid resource: {r}"))
                        })
                    })
                    .collect::<Result<_>>()?;
                resources = Some(Matcher {
                    patterns,
                    negated: field == "NotResource",
                });
            }
            "Condition" => conditions = condition::parse(value, variables)?,
            other => {
                return Err(PolicyError::new(format!(
                    "Statement has an unknown field: {other}"
                )))
            }
        }
    }
    let effect = effect.ok_or_else(|| PolicyError::new("Missing required field Effect"))?;
    let actions = actions.ok_or_else(|| PolicyError::new("Missing required field Action"))?;
    let resources = resources.ok_or_else(|| PolicyError::new("Missing required field Resource"))?;
    if kind == PolicyKind::Resource && principals.is_none() {
        return Err(PolicyError::new("Missing required field Principal"));
    }
    Ok(Statement {
        effect,
        principals,
        actions,
        resources,
        conditions,
    })
}

fn parse_principals(v: &Value, negated: bool) -> Result<Principals> {
    let invalid = || PolicyError::new("Invalid principal in policy");
    match v {
        Value::String(s) if s == "*" => Ok(Principals {
            anyone: true,
            names: Vec::new(),
            negated,
        }),
        Value::Object(m) => {
            let mut out = Principals {
                anyone: false,
                names: Vec::new(),
                negated,
            };
            for (kind, names) in m {
                if kind != "AWS" {
                    return Err(PolicyError::new(format!(
                        "Invalid principal in policy: {kind} principals are not supported"
                    )));
                }
                for n in one_or_many(names, "Principal")? {
                    if n == "*" {
                        out.anyone = true;
                    } else if n.starts_with("arn:aws:iam::")
                        || (n.len() == 12 && n.bytes().all(|b| b.is_ascii_digit()))
                    {
                        out.names.push(n.to_owned());
                    } else {
                        return Err(PolicyError::new(format!(
                            "Invalid principal in policy: {n}"
                        )));
                    }
                }
            }
            if !out.anyone && out.names.is_empty() {
                return Err(invalid());
            }
            Ok(out)
        }
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, kind: PolicyKind) -> String {
        Policy::parse(text, kind).unwrap_err().0
    }

    #[test]
    fn malformed_policies_name_the_problem() {
        use PolicyKind::{Identity, Resource};
        assert!(err("{", Identity).contains("valid JSON"));
        assert!(err("[]", Identity).contains("JSON object"));
        assert!(err(r#"{"Version":"2012-10-17"}"#, Identity).contains("Statement"));
        assert!(err(r#"{"Version":"2019","Statement":[]}"#, Identity).contains("version"));
        assert!(err(r#"{"Statement":[], "Extra": 1}"#, Identity).contains("Extra"));
        assert!(err(r#"{"Statement":[]}"#, Identity).contains("empty"));
        let s = |stmt: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{stmt}]}}"#);
        assert!(err(&s(r#"{"Action":"s3:*","Resource":"*"}"#), Identity).contains("Effect"));
        assert!(err(
            &s(r#"{"Effect":"allow","Action":"s3:*","Resource":"*"}"#),
            Identity
        )
        .contains("effect"));
        assert!(err(&s(r#"{"Effect":"Allow","Resource":"*"}"#), Identity).contains("Action"));
        assert!(err(&s(r#"{"Effect":"Allow","Action":"s3:*"}"#), Identity).contains("Resource"));
        assert!(err(
            &s(r#"{"Effect":"Allow","Action":"GetObject","Resource":"*"}"#),
            Identity
        )
        .contains("invalid action"));
        assert!(err(
            &s(r#"{"Effect":"Allow","Action":"s3:*","Resource":"bucket/*"}"#),
            Identity
        )
        .contains("invalid resource"));
        assert!(err(
            &s(r#"{"Effect":"Allow","Action":"s3:*","NotAction":"s3:x","Resource":"*"}"#),
            Identity
        )
        .contains("not both"));
        assert!(err(
            &s(r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}"#),
            Identity
        )
        .contains("principal"));
        assert!(err(
            &s(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#),
            Resource
        )
        .contains("Principal"));
        assert!(err(
            &s(r#"{"Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:*","Resource":"*"}"#),
            Resource
        )
        .contains("Service"));
        assert!(err(
            &s(r#"{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:*","Resource":"*"}"#),
            Resource
        )
        .contains("bob"));
        assert!(err(
            &s(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#),
            Identity
        )
        .contains("empty"));
        assert!(err(
            &s(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Foo":1}"#),
            Identity
        )
        .contains("Foo"));
        let big = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":["{}"]}}]}}"#,
            "a".repeat(7000)
        );
        assert!(err(&big, Identity).contains("limit"));
    }

    #[test]
    fn valid_policies_parse() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Sid":"x","Effect":"Allow","Action":["s3:Get*","s3:ListBucket"],
                "Resource":["arn:aws:s3:::b","arn:aws:s3:::b/${aws:username}/*"],
                "Condition":{"StringLike":{"s3:prefix":["${aws:username}/*"]}}}}"#,
            PolicyKind::Identity,
        )
        .unwrap();
        assert_eq!(p.statements.len(), 1);
        assert!(p.tests_key("s3:prefix"));
        assert!(!p.tests_key("s3:existingobjecttag/"));
        let b = Policy::parse(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
            PolicyKind::Resource,
        )
        .unwrap();
        assert!(b.allows_anyone());
        assert_eq!(
            b.resource_patterns().collect::<Vec<_>>(),
            ["arn:aws:s3:::b/*"]
        );
    }
}
