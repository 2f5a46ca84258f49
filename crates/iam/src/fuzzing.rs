//! Harness shared by the fuzz target and the corpus replay test. Not API.

use std::borrow::Cow;

use crate::{evaluate_all, Decision, MapContext, Pattern, Policy, PolicyKind, Principal, Request};

/// Wildcard matching by the book: recursive, for short inputs only.
fn reference_glob(p: &[char], t: &[char]) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            reference_glob(&p[1..], t) || (!t.is_empty() && reference_glob(p, &t[1..]))
        }
        (Some('?'), Some(_)) => reference_glob(&p[1..], &t[1..]),
        (Some(a), Some(b)) if a == b => reference_glob(&p[1..], &t[1..]),
        _ => false,
    }
}

/// Parses arbitrary bytes as an identity and as a bucket policy; a policy
/// that parses is evaluated against a few requests, where an added
/// Deny-everything policy must always win. The first line, split at its
/// first tab, is also a wildcard pattern and a text, matched as the
/// reference matches them.
pub fn policy_bytes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::parse_policy_date(&text);
    if let Some((pattern, subject)) = text.lines().next().and_then(|l| l.split_once('\t')) {
        if let Ok(p) = Pattern::parse(pattern, false, false) {
            let got = p.matches(subject, |_| None::<Cow<'_, str>>);
            if pattern.chars().count() <= 12 && subject.chars().count() <= 24 {
                let pc: Vec<char> = pattern.chars().collect();
                let tc: Vec<char> = subject.chars().collect();
                assert_eq!(got, reference_glob(&pc, &tc), "{pattern:?} {subject:?}");
            }
        }
    }
    let deny = Policy::parse(
        r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}"#,
        PolicyKind::Resource,
    );
    let ctx = MapContext(vec![
        ("aws:username".into(), "ana".into()),
        ("aws:sourceip".into(), "10.1.2.3".into()),
        ("s3:prefix".into(), "home/ana/".into()),
        ("s3:max-keys".into(), "100".into()),
        ("aws:currenttime".into(), "2026-12-01T00:00:00Z".into()),
        ("aws:securetransport".into(), "false".into()),
    ]);
    let principals = [
        Principal::Anonymous,
        Principal::User {
            arn: "arn:aws:iam::000000000000:user/ana",
            account: "000000000000",
        },
    ];
    for kind in [PolicyKind::Identity, PolicyKind::Resource] {
        let Ok(policy) = Policy::parse(&text, kind) else {
            continue;
        };
        for (action, resource) in [
            ("s3:GetObject", "arn:aws:s3:::b/home/ana/k"),
            ("s3:ListBucket", "arn:aws:s3:::b"),
            ("s3:ListAllMyBuckets", "arn:aws:s3:::*"),
        ] {
            for principal in principals {
                let req = Request {
                    action,
                    resource,
                    principal,
                    context: &ctx,
                };
                let alone = policy.evaluate(&req);
                if let Ok(deny) = &deny {
                    assert_eq!(evaluate_all([&policy, deny], &req), Decision::Deny);
                }
                assert_eq!(evaluate_all([&policy], &req), alone);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The committed corpus of the `iam_policy` fuzz target runs clean.
    #[test]
    fn corpus_replays_clean() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/iam_policy");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("the corpus is committed") {
            super::policy_bytes(
                &std::fs::read(entry.expect("a corpus entry").path()).expect("a corpus file"),
            );
            n += 1;
        }
        assert!(n > 0, "no corpus in {}", dir.display());
    }
}
