//! Policy evaluation against a straightforward reference evaluator: random
//! policies (written as JSON, so the parser is exercised too) and random
//! requests must get the same decision from both. The reference follows
//! the IAM User Guide's wording directly (recursive wildcard matching,
//! conditions key by key), with none of the library's shortcuts.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sluice_iam::{Decision, MapContext, Policy, PolicyKind, Principal, Request};

#[derive(Debug, Clone)]
struct Cond {
    op: &'static str,
    key: &'static str,
    values: Vec<String>,
}

#[derive(Debug, Clone)]
struct Stmt {
    allow: bool,
    not_action: bool,
    actions: Vec<String>,
    not_resource: bool,
    resources: Vec<String>,
    conds: Vec<Cond>,
}

#[derive(Debug, Clone)]
struct Req {
    action: String,
    resource: String,
    ctx: Vec<(&'static str, String)>,
}

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:DeleteObject",
    "s3:GetObjectTagging",
];
const ACTION_PATTERNS: &[&str] = &[
    "*",
    "s3:*",
    "s3:Get*",
    "s3:getobject",
    "s3:PutObject",
    "s3:?etObject",
    "s3:List*",
    "s3:*Object*",
];
const RESOURCES: &[&str] = &[
    "arn:aws:s3:::b",
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::b/home/ana/x",
    "arn:aws:s3:::b/home/bo/x",
    "arn:aws:s3:::c/k",
];
const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:s3:::*",
    "arn:aws:s3:::b",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b*",
    "arn:aws:s3:::b/home/${aws:username}/*",
    "arn:aws:s3:::?/k",
    "arn:aws:s3:::c/*",
];
const OPS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringLike",
    "StringNotLike",
    "StringEqualsIfExists",
    "StringNotLikeIfExists",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "Bool",
    "Null",
];

fn cond() -> impl Strategy<Value = Cond> {
    (0..OPS.len(), prop::collection::vec(0..4usize, 1..3)).prop_map(|(o, vs)| {
        let op = OPS[o];
        let (key, pool): (&str, &[&str]) = match op {
            "NumericLessThanEquals" | "NumericGreaterThan" => {
                ("s3:max-keys", &["0", "10", "100", "1000"])
            }
            "Bool" => ("aws:SecureTransport", &["true", "false", "true", "false"]),
            "Null" => ("s3:delimiter", &["true", "false", "true", "false"]),
            _ => (
                "s3:prefix",
                &["home/", "home/*", "${aws:username}/*", "a?c"],
            ),
        };
        Cond {
            op,
            key,
            values: vs.into_iter().map(|i| pool[i].to_owned()).collect(),
        }
    })
}

fn stmt() -> impl Strategy<Value = Stmt> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(0..ACTION_PATTERNS.len(), 1..3),
        prop::bool::weighted(0.2),
        prop::collection::vec(0..RESOURCE_PATTERNS.len(), 1..3),
        prop::collection::vec(cond(), 0..3).prop_map(|mut cs| {
            // A key appears once per operator in a JSON object.
            let mut seen = std::collections::HashSet::new();
            cs.retain(|c| seen.insert((c.op, c.key)));
            cs
        }),
    )
        .prop_map(|(allow, not_action, a, not_resource, r, conds)| Stmt {
            allow,
            not_action: not_action && a.len() == 1 && a[0] > 2,
            actions: a
                .into_iter()
                .map(|i| ACTION_PATTERNS[i].to_owned())
                .collect(),
            not_resource,
            resources: r
                .into_iter()
                .map(|i| RESOURCE_PATTERNS[i].to_owned())
                .collect(),
            conds,
        })
}

fn req() -> impl Strategy<Value = Req> {
    (
        0..ACTIONS.len(),
        0..RESOURCES.len(),
        prop::option::of(prop::sample::select(vec![
            "home/", "home/x", "ana/1", "abc", "", "a?c",
        ])),
        prop::option::of(prop::sample::select(vec!["0", "5", "10", "1000", "x"])),
        prop::option::of(any::<bool>()),
        prop::option::of(Just("/")),
        prop::option::of(prop::sample::select(vec!["ana", "bo"])),
    )
        .prop_map(|(a, r, prefix, max, tls, delim, user)| {
            let mut ctx = Vec::new();
            if let Some(p) = prefix {
                ctx.push(("s3:prefix", p.to_owned()));
            }
            if let Some(m) = max {
                ctx.push(("s3:max-keys", m.to_owned()));
            }
            if let Some(t) = tls {
                ctx.push(("aws:securetransport", t.to_string()));
            }
            if let Some(d) = delim {
                ctx.push(("s3:delimiter", d.to_owned()));
            }
            if let Some(u) = user {
                ctx.push(("aws:username", u.to_owned()));
            }
            Req {
                action: ACTIONS[a].to_owned(),
                resource: RESOURCES[r].to_owned(),
                ctx,
            }
        })
}

fn json(stmts: &[Stmt]) -> String {
    let list = |v: &[String]| {
        format!(
            "[{}]",
            v.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let body: Vec<String> = stmts
        .iter()
        .map(|s| {
            let mut conds = std::collections::BTreeMap::<&str, Vec<String>>::new();
            for c in &s.conds {
                conds
                    .entry(c.op)
                    .or_default()
                    .push(format!("{:?}: {}", c.key, list(&c.values)));
            }
            let cond = conds
                .iter()
                .map(|(op, keys)| format!("{op:?}: {{{}}}", keys.join(",")))
                .collect::<Vec<_>>()
                .join(",");
            format!(
                r#"{{"Effect": "{}", "{}": {}, "{}": {}, "Condition": {{{cond}}}}}"#,
                if s.allow { "Allow" } else { "Deny" },
                if s.not_action { "NotAction" } else { "Action" },
                list(&s.actions),
                if s.not_resource {
                    "NotResource"
                } else {
                    "Resource"
                },
                list(&s.resources),
            )
        })
        .collect();
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{}]}}"#,
        body.join(",")
    )
}

// ---- the reference ----

fn glob(p: &[char], t: &[char], ci: bool) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (Some('*'), _) => glob(&p[1..], t, ci) || (!t.is_empty() && glob(p, &t[1..], ci)),
        (Some('?'), Some(_)) => glob(&p[1..], &t[1..], ci),
        (Some(a), Some(b)) if a == b || (ci && a.eq_ignore_ascii_case(b)) => {
            glob(&p[1..], &t[1..], ci)
        }
        _ => false,
    }
}

fn lookup<'a>(r: &'a Req, key: &str) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    r.ctx
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
}

/// Substitutes `${aws:username}`; None when the request has no user.
fn substitute(p: &str, r: &Req) -> Option<String> {
    if p.contains("${aws:username}") {
        Some(p.replace("${aws:username}", lookup(r, "aws:username")?))
    } else {
        Some(p.to_owned())
    }
}

/// Matches a pattern whose variable values are literal: the substituted
/// value's wildcards never occur in these tests' user names.
fn pattern_matches(p: &str, text: &str, r: &Req, ci: bool, wildcards: bool) -> bool {
    let Some(p) = substitute(p, r) else {
        return false;
    };
    if wildcards {
        glob(
            &p.chars().collect::<Vec<_>>(),
            &text.chars().collect::<Vec<_>>(),
            ci,
        )
    } else {
        p == text
    }
}

fn cond_holds(c: &Cond, r: &Req) -> bool {
    let value = lookup(r, c.key);
    let (base, if_exists) = match c.op.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (c.op, false),
    };
    if base == "Null" {
        return c.values.iter().any(|v| (v == "true") == value.is_none());
    }
    let negated = base.contains("Not");
    let Some(v) = value else {
        return if_exists || negated;
    };
    let any = c.values.iter().any(|pv| match base {
        "StringEquals" | "StringNotEquals" => pattern_matches(pv, v, r, false, false),
        "StringLike" | "StringNotLike" => pattern_matches(pv, v, r, false, true),
        "NumericLessThanEquals" => v
            .parse::<f64>()
            .is_ok_and(|n| n <= pv.parse::<f64>().unwrap()),
        "NumericGreaterThan" => v
            .parse::<f64>()
            .is_ok_and(|n| n > pv.parse::<f64>().unwrap()),
        "Bool" => v == pv,
        _ => unreachable!(),
    });
    any != negated
}

fn reference(stmts: &[Stmt], r: &Req) -> Decision {
    let mut allowed = false;
    for s in stmts {
        let action = s
            .actions
            .iter()
            .any(|a| pattern_matches(a, &r.action, r, true, true))
            != s.not_action;
        let resource = s
            .resources
            .iter()
            .any(|p| pattern_matches(p, &r.resource, r, false, true))
            != s.not_resource;
        if action && resource && s.conds.iter().all(|c| cond_holds(c, r)) {
            if !s.allow {
                return Decision::Deny;
            }
            allowed = true;
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::NotApplicable
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn evaluation_agrees_with_the_reference(
        stmts in prop::collection::vec(stmt(), 1..5),
        r in req(),
        indexed in 0..=ACTIONS.len(),
    ) {
        let text = json(&stmts);
        let mut policy = Policy::parse(&text, PolicyKind::Identity).unwrap();
        // Some actions looked up in the index, the others evaluated
        // against every statement: the same decisions either way.
        policy.index_actions(ACTIONS[..indexed].iter().copied());
        let ctx = MapContext(r.ctx.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect());
        let request = Request { action: &r.action, resource: &r.resource, principal: Principal::Anonymous, context: &ctx };
        prop_assert_eq!(policy.evaluate(&request), reference(&stmts, &r), "{}", text);
    }
}
