//! The Condition element: operators, their values, and how they hold for
//! a request (AWS IAM User Guide, "IAM JSON policy elements: Condition
//! operators" and "Multivalued context keys").
//!
//! - Within a statement every operator holds, and within an operator every
//!   key (AND); a key's policy values are alternatives (OR).
//! - A key the request does not have fails the condition, except for the
//!   negated operators (`StringNotEquals`, `NotIpAddress`, ...), which then
//!   hold, and `...IfExists` forms, which hold.
//! - `ForAnyValue:` holds when some request value matches (false without
//!   one), `ForAllValues:` when every request value does (true without one).
//!   For a negated operator "matches" means "matches none of the values".
//! - `Null` tests only presence: `true` holds when the key is absent.

use std::borrow::Cow;
use std::net::IpAddr;

use serde_json::Value;

use crate::context::Context;
use crate::error::{PolicyError, Result};
use crate::pattern::Pattern;

/// How the request's values are quantified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantifier {
    /// The single value.
    Single,
    /// `ForAnyValue:`.
    Any,
    /// `ForAllValues:`.
    All,
}

/// An operator's family, with its values parsed once.
#[derive(Debug, Clone)]
enum Test {
    /// StringEquals and StringLike (and the Arn forms): patterns.
    Strings(Vec<Pattern>),
    /// Numeric operators: the comparison and values.
    Numbers(Compare, Vec<f64>),
    /// Date operators: the comparison and times (seconds since the epoch).
    Dates(Compare, Vec<f64>),
    /// Bool.
    Bools(Vec<bool>),
    /// IpAddress: networks.
    Networks(Vec<(IpAddr, u8)>),
    /// Null: whether the key must be absent.
    Null(Vec<bool>),
}

/// A numeric or date comparison: request value against policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Compare {
    fn holds(self, request: f64, policy: f64) -> bool {
        match self {
            Compare::Eq => request == policy,
            Compare::Lt => request < policy,
            Compare::Le => request <= policy,
            Compare::Gt => request > policy,
            Compare::Ge => request >= policy,
        }
    }
}

/// One key of one operator.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    /// The key, lowercase.
    key: String,
    quantifier: Quantifier,
    if_exists: bool,
    /// The operator is a negation (`...Not...`): it holds when no value
    /// matches.
    negated: bool,
    test: Test,
}

/// The operators, by name: family, negation, comparison.
fn operator(name: &str) -> Option<(&'static str, bool, Compare)> {
    use Compare::{Eq, Ge, Gt, Le, Lt};
    Some(match name {
        "StringEquals" => ("string", false, Eq),
        "StringNotEquals" => ("string", true, Eq),
        "StringEqualsIgnoreCase" => ("string-ci", false, Eq),
        "StringNotEqualsIgnoreCase" => ("string-ci", true, Eq),
        "StringLike" => ("like", false, Eq),
        "StringNotLike" => ("like", true, Eq),
        "ArnEquals" | "ArnLike" => ("like", false, Eq),
        "ArnNotEquals" | "ArnNotLike" => ("like", true, Eq),
        "NumericEquals" => ("number", false, Eq),
        "NumericNotEquals" => ("number", true, Eq),
        "NumericLessThan" => ("number", false, Lt),
        "NumericLessThanEquals" => ("number", false, Le),
        "NumericGreaterThan" => ("number", false, Gt),
        "NumericGreaterThanEquals" => ("number", false, Ge),
        "DateEquals" => ("date", false, Eq),
        "DateNotEquals" => ("date", true, Eq),
        "DateLessThan" => ("date", false, Lt),
        "DateLessThanEquals" => ("date", false, Le),
        "DateGreaterThan" => ("date", false, Gt),
        "DateGreaterThanEquals" => ("date", false, Ge),
        "Bool" => ("bool", false, Eq),
        "IpAddress" => ("ip", false, Eq),
        "NotIpAddress" => ("ip", true, Eq),
        "Null" => ("null", false, Eq),
        _ => return None,
    })
}

/// A policy value as text: strings, numbers and booleans all appear in
/// policies people write.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses the Condition element of a statement.
pub(crate) fn parse(element: &Value, variables: bool) -> Result<Vec<Condition>> {
    let Value::Object(ops) = element else {
        return Err(PolicyError::new("Condition must be an object"));
    };
    let mut out = Vec::new();
    for (name, keys) in ops {
        let (quantifier, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Quantifier::Any, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Quantifier::All, r)
        } else {
            (Quantifier::Single, name.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) if b != "Null" => (b, true),
            _ => (rest, false),
        };
        let (family, negated, compare) = operator(base).ok_or_else(|| {
            PolicyError::new(format!("Policy has an invalid condition operator: {name}"))
        })?;
        let Value::Object(keys) = keys else {
            return Err(PolicyError::new(format!(
                "Condition operator {name} must map keys to values"
            )));
        };
        if keys.is_empty() {
            return Err(PolicyError::new(format!(
                "Condition operator {name} has no keys"
            )));
        }
        for (key, values) in keys {
            if !valid_key(key) {
                return Err(PolicyError::new(format!(
                    "Policy has an invalid condition key: {key}"
                )));
            }
            let list: Vec<&Value> = match values {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            let texts: Vec<String> = list
                .iter()
                .map(|v| text(v))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    PolicyError::new(format!(
                        "Condition values of {key} must be strings, numbers or booleans"
                    ))
                })?;
            if texts.is_empty() {
                return Err(PolicyError::new(format!(
                    "Condition key {key} has no values"
                )));
            }
            let bad = |what: &str, v: &str| {
                PolicyError::new(format!(
                    "Invalid {what} value for {name} condition on {key}: {v}"
                ))
            };
            let test = match family {
                "string" | "string-ci" | "like" => Test::Strings(
                    texts
                        .iter()
                        .map(|t| {
                            let ci = family == "string-ci";
                            let p = if family == "like" {
                                Pattern::parse(t, variables, ci)
                            } else {
                                Pattern::literal(t, variables, ci)
                            };
                            p.map_err(|_| bad("string", t))
                        })
                        .collect::<Result<_>>()?,
                ),
                "number" => Test::Numbers(
                    compare,
                    texts
                        .iter()
                        .map(|t| parse_number(t).ok_or_else(|| bad("numeric", t)))
                        .collect::<Result<_>>()?,
                ),
                "date" => Test::Dates(
                    compare,
                    texts
                        .iter()
                        .map(|t| parse_date(t).ok_or_else(|| bad("date", t)))
                        .collect::<Result<_>>()?,
                ),
                "bool" => Test::Bools(
                    texts
                        .iter()
                        .map(|t| parse_bool(t).ok_or_else(|| bad("boolean", t)))
                        .collect::<Result<_>>()?,
                ),
                "ip" => Test::Networks(
                    texts
                        .iter()
                        .map(|t| parse_network(t).ok_or_else(|| bad("IP address", t)))
                        .collect::<Result<_>>()?,
                ),
                _ => Test::Null(
                    texts
                        .iter()
                        .map(|t| parse_bool(t).ok_or_else(|| bad("boolean", t)))
                        .collect::<Result<_>>()?,
                ),
            };
            out.push(Condition {
                key: lower_key(key),
                quantifier,
                if_exists,
                negated,
                test,
            });
        }
    }
    Ok(out)
}

/// A condition key as asked of the context: its name in lowercase (IAM's
/// keys are case-insensitive), what follows a `/` as written (the tag key
/// of `s3:ExistingObjectTag/Team` is case-sensitive).
fn lower_key(key: &str) -> String {
    match key.split_once('/') {
        Some((name, rest)) => format!("{}/{rest}", name.to_ascii_lowercase()),
        None => key.to_ascii_lowercase(),
    }
}

/// `service:name`, with a name that may hold `/` (`s3:ExistingObjectTag/team`).
fn valid_key(key: &str) -> bool {
    key.split_once(':').is_some_and(|(service, name)| {
        !service.is_empty()
            && service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !name.is_empty()
            && !name.chars().any(char::is_control)
    })
}

fn parse_number(t: &str) -> Option<f64> {
    t.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(t: &str) -> Option<bool> {
    match t.trim() {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// An address with its prefix length (the whole address without one).
fn parse_network(t: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match t.trim().split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (t.trim(), None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

fn in_network(addr: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    let (a, n, bits) = match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        // An IPv4 peer seen as IPv4-mapped IPv6, against an IPv4 network.
        (IpAddr::V6(a), IpAddr::V4(_)) => match a.to_ipv4_mapped() {
            Some(v4) => return in_network(IpAddr::V4(v4), (net, len)),
            None => return false,
        },
        (IpAddr::V4(_), IpAddr::V6(_)) => return false,
    };
    let shift = u32::saturating_sub(bits, u32::from(len));
    if shift >= 128 {
        return true;
    }
    (a >> shift) == (n >> shift)
}

// Date arithmetic on fields of at most four digits, each checked against
// its range before use: no operation can overflow an i64.
#[allow(clippy::arithmetic_side_effects)]
/// Seconds since the epoch of an ISO 8601 time (`2026-12-01`,
/// `2026-12-01T10:00:00Z`, with fractions or a `+hh:mm` offset) or of a
/// number of seconds (`aws:EpochTime`).
pub(crate) fn parse_date(t: &str) -> Option<f64> {
    let t = t.trim();
    if let Some(n) = parse_number(t) {
        return Some(n);
    }
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&month) {
        return None;
    }
    if !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    let mut rest = &t[10..];
    let mut frac = 0.0;
    if let Some(time) = rest.strip_prefix('T').or_else(|| rest.strip_prefix('t')) {
        let tn = |r: std::ops::Range<usize>| -> Option<i64> {
            let s = time.get(r)?;
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        let (h, m) = (tn(0..2)?, tn(3..5)?);
        if time.as_bytes().get(2) != Some(&b':') || h > 23 || m > 59 {
            return None;
        }
        let mut used = 5;
        let mut s = 0;
        if time.as_bytes().get(5) == Some(&b':') {
            s = tn(6..8)?;
            if s > 60 {
                return None;
            }
            used = 8;
            if time.as_bytes().get(8) == Some(&b'.') {
                let digits = time[9..].bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 {
                    return None;
                }
                // At most nine digits count (nanoseconds); more are noise.
                let (value, scale) = time[9..9 + digits]
                    .bytes()
                    .take(9)
                    .fold((0u64, 1u64), |(v, s), d| {
                        (v * 10 + u64::from(d - b'0'), s * 10)
                    });
                #[allow(clippy::cast_precision_loss)]
                {
                    frac = value as f64 / scale as f64;
                }
                used = 9 + digits;
            }
        }
        secs += h * 3600 + m * 60 + s;
        rest = &time[used..];
        match rest {
            "Z" | "z" => rest = "",
            _ if rest.starts_with('+') || rest.starts_with('-') => {
                let sign = if rest.starts_with('-') { -1 } else { 1 };
                let z = &rest[1..];
                if !z.is_ascii() {
                    return None;
                }
                let (oh, om) = match z.len() {
                    5 if z.as_bytes()[2] == b':' => {
                        (z[..2].parse::<i64>().ok()?, z[3..].parse::<i64>().ok()?)
                    }
                    4 => (z[..2].parse::<i64>().ok()?, z[2..].parse::<i64>().ok()?),
                    2 => (z.parse::<i64>().ok()?, 0),
                    _ => return None,
                };
                if oh > 23 || om > 59 {
                    return None;
                }
                secs -= sign * (oh * 3600 + om * 60);
                rest = "";
            }
            _ => {}
        }
    }
    #[allow(clippy::cast_precision_loss)]
    rest.is_empty().then_some(secs as f64 + frac)
}

#[allow(clippy::arithmetic_side_effects)]
fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm), for years of four
/// digits.
#[allow(clippy::arithmetic_side_effects)]
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Condition {
    /// Whether one request value matches one of the policy's values
    /// (before negation).
    fn matches(&self, value: &str, ctx: &dyn Context) -> bool {
        match &self.test {
            Test::Strings(patterns) => patterns.iter().any(|p| p.matches(value, |k| ctx.value(k))),
            Test::Numbers(cmp, ns) => {
                parse_number(value).is_some_and(|v| ns.iter().any(|n| cmp.holds(v, *n)))
            }
            Test::Dates(cmp, ds) => {
                parse_date(value).is_some_and(|v| ds.iter().any(|d| cmp.holds(v, *d)))
            }
            Test::Bools(bs) => parse_bool(value).is_some_and(|v| bs.contains(&v)),
            Test::Networks(nets) => value
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|a| nets.iter().any(|n| in_network(a, *n))),
            // Handled by `holds`.
            Test::Null(_) => false,
        }
    }

    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, ctx: &dyn Context) -> bool {
        if let Test::Null(wants_absent) = &self.test {
            let absent = ctx.values(&self.key).is_empty();
            return wants_absent.contains(&absent);
        }
        let one = |v: &str| self.matches(v, ctx) != self.negated;
        match self.quantifier {
            Quantifier::Single => match ctx.value(&self.key) {
                Some(v) => one(&v),
                None => self.if_exists || self.negated,
            },
            Quantifier::Any => {
                let values: Vec<Cow<'_, str>> = ctx.values(&self.key);
                if values.is_empty() {
                    return self.if_exists;
                }
                values.iter().any(|v| one(v))
            }
            Quantifier::All => ctx.values(&self.key).iter().all(|v| one(v)),
        }
    }

    /// The key, lowercase.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::MapContext;

    fn cond(json: &str) -> Vec<Condition> {
        parse(&serde_json::from_str(json).unwrap(), true).unwrap()
    }

    fn holds(json: &str, ctx: &[(&str, &str)]) -> bool {
        let ctx = MapContext(
            ctx.iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        );
        cond(json).iter().all(|c| c.holds(&ctx))
    }

    #[test]
    fn strings() {
        let c = r#"{"StringEquals": {"s3:prefix": ["home/", "public/"]}}"#;
        assert!(holds(c, &[("s3:prefix", "home/")]));
        assert!(!holds(c, &[("s3:prefix", "home")]));
        assert!(!holds(c, &[]));
        let c = r#"{"StringNotEquals": {"s3:prefix": "secret/"}}"#;
        assert!(holds(c, &[("s3:prefix", "home/")]));
        assert!(!holds(c, &[("s3:prefix", "secret/")]));
        // A negated operator holds without the key.
        assert!(holds(c, &[]));
        let c = r#"{"StringLike": {"s3:prefix": "home/${aws:username}/*"}}"#;
        assert!(holds(
            c,
            &[("s3:prefix", "home/bob/x"), ("aws:username", "bob")]
        ));
        assert!(!holds(
            c,
            &[("s3:prefix", "home/eve/x"), ("aws:username", "bob")]
        ));
        let c = r#"{"StringEqualsIgnoreCase": {"aws:username": "BOB"}}"#;
        assert!(holds(c, &[("aws:username", "bob")]));
        let c = r#"{"StringEqualsIfExists": {"s3:delimiter": "/"}}"#;
        assert!(holds(c, &[]));
        assert!(!holds(c, &[("s3:delimiter", "-")]));
        let c =
            r#"{"StringLikeIfExists": {"s3:prefix": "a*"}, "StringEquals": {"aws:username": "u"}}"#;
        assert!(holds(c, &[("aws:username", "u")]));
        assert!(!holds(c, &[("aws:username", "v")]));
    }

    #[test]
    fn multivalued() {
        let any = r#"{"ForAnyValue:StringEquals": {"s3:requestobjecttagkeys": ["a", "b"]}}"#;
        let all = r#"{"ForAllValues:StringEquals": {"s3:requestobjecttagkeys": ["a", "b"]}}"#;
        let k = "s3:requestobjecttagkeys";
        assert!(holds(any, &[(k, "a"), (k, "z")]));
        assert!(!holds(any, &[(k, "z")]));
        assert!(!holds(any, &[]));
        assert!(!holds(all, &[(k, "a"), (k, "z")]));
        assert!(holds(all, &[(k, "a"), (k, "b")]));
        assert!(holds(all, &[]));
        let none = r#"{"ForAllValues:StringNotEquals": {"s3:requestobjecttagkeys": ["secret"]}}"#;
        assert!(holds(none, &[(k, "a")]));
        assert!(!holds(none, &[(k, "a"), (k, "secret")]));
    }

    #[test]
    fn numbers_dates_bools_ips_null() {
        let c = r#"{"NumericLessThanEquals": {"s3:max-keys": 10}}"#;
        assert!(holds(c, &[("s3:max-keys", "10")]));
        assert!(!holds(c, &[("s3:max-keys", "11")]));
        assert!(!holds(c, &[("s3:max-keys", "ten")]));
        let c = r#"{"DateLessThan": {"aws:CurrentTime": "2026-12-02T00:00:00Z"}}"#;
        assert!(holds(c, &[("aws:currenttime", "2026-12-01T23:59:59Z")]));
        assert!(!holds(c, &[("aws:currenttime", "2026-12-02T00:00:00Z")]));
        assert!(holds(
            c,
            &[("aws:currenttime", "2026-12-02T00:59:59+01:00")]
        ));
        let c = r#"{"DateGreaterThan": {"aws:EpochTime": "2026-01-01"}}"#;
        assert!(holds(c, &[("aws:epochtime", "1800000000")]));
        let c = r#"{"Bool": {"aws:SecureTransport": "false"}}"#;
        assert!(holds(c, &[("aws:securetransport", "false")]));
        assert!(!holds(c, &[("aws:securetransport", "true")]));
        let c = r#"{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}"#;
        assert!(holds(c, &[("aws:sourceip", "10.1.2.3")]));
        assert!(holds(c, &[("aws:sourceip", "::ffff:10.1.2.3")]));
        assert!(holds(c, &[("aws:sourceip", "2001:db8::1")]));
        assert!(!holds(c, &[("aws:sourceip", "192.0.2.1")]));
        let c = r#"{"NotIpAddress": {"aws:SourceIp": "0.0.0.0/0"}}"#;
        assert!(!holds(c, &[("aws:sourceip", "192.0.2.1")]));
        let c = r#"{"Null": {"s3:x-amz-server-side-encryption": "true"}}"#;
        assert!(holds(c, &[]));
        assert!(!holds(c, &[("s3:x-amz-server-side-encryption", "AES256")]));
    }

    #[test]
    fn malformed_conditions_name_the_problem() {
        let err = |json: &str| {
            parse(&serde_json::from_str(json).unwrap(), true)
                .unwrap_err()
                .0
        };
        assert!(err(r#"{"StringEqualz": {"s3:prefix": "a"}}"#).contains("StringEqualz"));
        assert!(err(r#"{"StringEquals": {"prefix": "a"}}"#).contains("condition key"));
        assert!(err(r#"{"NumericLessThan": {"s3:max-keys": "x"}}"#).contains("numeric"));
        assert!(err(r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}"#).contains("IP"));
        assert!(err(r#"{"DateLessThan": {"aws:CurrentTime": "2026-02-30"}}"#).contains("date"));
        assert!(err(r#"{"StringEquals": {"s3:prefix": []}}"#).contains("no values"));
        assert!(err(r#"{"StringEquals": {"s3:prefix": {"a": 1}}}"#).contains("strings"));
        assert!(err(r#"["StringEquals"]"#).contains("object"));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0.0));
        assert_eq!(parse_date("1970-01-01T00:00:01Z"), Some(1.0));
        assert_eq!(parse_date("2000-03-01T00:00:00Z"), Some(951_868_800.0));
        assert_eq!(parse_date("1970-01-01T00:00:00.5Z"), Some(0.5));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0.0));
        assert_eq!(parse_date("1970-01-01T01:00"), Some(3600.0));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800.0));
        for bad in [
            "",
            "2023-02-29",
            "2024-01-01T00:00:00+aéb",
            "2024-13-01",
            "2024-1-01",
            "2024-01-01T25:00",
            "2024-01-01Tx",
            "2024-01-01T00:00:00+1",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
