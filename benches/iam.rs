//! sluice-iam: the time to authorize one request against a user's policy
//! of 10 statements with conditions (the issue 14 goal: under 2 µs), and
//! against the built-in readwrite policy.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use sluice_iam::{builtin, Decision, MapContext, Policy, PolicyKind, Principal, Request};

/// Ten statements as a real deployment writes them: per-user home
/// prefixes with policy variables, a listing condition, a source-address
/// restriction, an explicit Deny, NotAction; the request is allowed by the
/// last of them, so every statement is evaluated.
const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "1", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"},
    {"Sid": "2", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::secrets/*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "3", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::home",
     "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}},
    {"Sid": "4", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
     "Resource": "arn:aws:s3:::home/${aws:username}/*"},
    {"Sid": "5", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::shared",
     "Condition": {"NumericLessThanEquals": {"s3:max-keys": "1000"}}},
    {"Sid": "6", "Effect": "Deny", "NotAction": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::archive/*"},
    {"Sid": "7", "Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::archive/*",
     "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}},
    {"Sid": "8", "Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::data/*",
     "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}, "Null": {"s3:x-amz-server-side-encryption": "false"}}},
    {"Sid": "9", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
    {"Sid": "10", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectAttributes"], "Resource": "arn:aws:s3:::data/*",
     "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
  ]
}"#;

fn bench(c: &mut Criterion) {
    let policy = Policy::parse(POLICY, PolicyKind::Identity).expect("the bench policy parses");
    let ctx = MapContext(vec![
        ("aws:username".into(), "ana".into()),
        ("aws:sourceip".into(), "10.1.2.3".into()),
        ("aws:securetransport".into(), "false".into()),
        ("aws:currenttime".into(), "2026-12-02T10:00:00Z".into()),
    ]);
    let req = Request {
        action: "s3:GetObject",
        resource: "arn:aws:s3:::data/reports/2026/12/summary.csv",
        principal: Principal::User {
            arn: "arn:aws:iam::000000000000:user/ana",
            account: "000000000000",
        },
        context: &ctx,
    };
    assert_eq!(policy.evaluate(&req), Decision::Allow);
    let mut g = c.benchmark_group("iam");
    g.bench_function("authorize, 10 statements with conditions", |b| {
        b.iter(|| black_box(&policy).evaluate(black_box(&req)));
    });
    let mut indexed = policy.clone();
    indexed.index_actions([
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:DeleteObject",
    ]);
    g.bench_function(
        "authorize, 10 statements with conditions, indexed by action",
        |b| {
            b.iter(|| black_box(&indexed).evaluate(black_box(&req)));
        },
    );
    let rw = builtin("readwrite").expect("built in");
    g.bench_function("authorize, readwrite", |b| {
        b.iter(|| black_box(rw).evaluate(black_box(&req)));
    });
    g.bench_function("parse the 10-statement policy", |b| {
        b.iter(|| Policy::parse(black_box(POLICY), PolicyKind::Identity));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
