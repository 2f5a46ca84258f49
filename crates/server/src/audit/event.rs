//! One audit event per answered request, as JSON in the schema MinIO-style
//! audit consumers parse (`version`, `time`, `deploymentid`, `api`{...},
//! `remotehost`, `requestID`, `userAgent`, `accessKey`, `requestHeader`,
//! `responseHeader`), plus `node` and `tls`. Written by hand (no
//! serialization framework): it runs once per request on the request's
//! thread.

use std::fmt::Write as _;
use std::time::SystemTime;

use sluice_s3::RequestEvent;

/// Request headers never kept: credentials and customer keys.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-amz-security-token",
    "x-amz-server-side-encryption-customer-key",
    "x-amz-copy-source-server-side-encryption-customer-key",
    "cookie",
    "proxy-authorization",
];

/// Query parameters never kept: signatures and tokens.
const SECRET_PARAMS: &[&str] = &["x-amz-signature", "signature", "x-amz-security-token"];

/// What every event of this node carries.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The cluster's id (`deploymentid`).
    pub deployment: String,
    /// The cluster's name.
    pub cluster: String,
    /// This node's name.
    pub name: String,
    /// This node's S3 address.
    pub address: String,
}

/// Appends `s` as a JSON string (quoted, escaped). Runs of bytes that need
/// no escape are copied whole.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // U+2028 and U+2029 (E2 80 A8/A9) break JavaScript parsers.
        let separator = b == 0xE2
            && bytes.get(i + 1) == Some(&0x80)
            && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9));
        if b == b'"' || b == b'\\' || b < 0x20 || separator {
            out.push_str(&s[start..i]);
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                0xE2 => {
                    let _ = write!(
                        out,
                        "\\u{:04x}",
                        if bytes[i + 2] == 0xA8 { 0x2028 } else { 0x2029 }
                    );
                    i += 2;
                }
                c => {
                    let _ = write!(out, "\\u{:04x}", c);
                }
            }
            start = i + 1;
        }
        i += 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The longest header or query value kept in an event: a request cannot
/// make its event much larger than its head (a 16 KiB header of bytes that
/// are not UTF-8 would triple).
const MAX_VALUE: usize = 2048;

/// [`json_str`] of at most [`MAX_VALUE`] bytes of `s` (cut at a character
/// boundary, marked with `...`).
fn json_capped(out: &mut String, s: &str) {
    if s.len() <= MAX_VALUE {
        return json_str(out, s);
    }
    let mut end = MAX_VALUE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    json_str(out, &format!("{}...", &s[..end]));
}

/// The access key a request names (SigV4 or SigV2, header or query), for
/// requests whose authentication failed.
fn claimed_key(e: &RequestEvent<'_>) -> Option<String> {
    let auth = e
        .request_headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    if let Some(a) = auth {
        if let Some(rest) = a.split("Credential=").nth(1) {
            return rest.split('/').next().map(|k| k.trim().to_owned());
        }
        if let Some(rest) = a.strip_prefix("AWS ") {
            return rest.split(':').next().map(|k| k.trim().to_owned());
        }
    }
    for pair in e.query.split('&') {
        let Some((n, v)) = pair.split_once('=') else {
            continue;
        };
        let Ok(v) = sluice_http::percent_decode(v, true) else {
            continue;
        };
        if n.eq_ignore_ascii_case("X-Amz-Credential") {
            return v.split('/').next().map(str::to_owned);
        }
        if n == "AWSAccessKeyId" {
            return Some(v.into_owned());
        }
    }
    None
}

/// The event of `e` answered at `now`, one line of JSON (no newline).
#[cfg(test)]
#[must_use]
pub fn to_json(e: &RequestEvent<'_>, node: &Node, now: SystemTime) -> String {
    let mut out = String::with_capacity(2048);
    append_json(&mut out, e, node, now);
    out
}

/// [`to_json`] appended to `out`.
pub fn append_json(out: &mut String, e: &RequestEvent<'_>, node: &Node, now: SystemTime) {
    out.push_str("{\"version\":\"1\",\"time\":\"");
    sluice_s3::iso8601_into(out, now);
    out.push('"');
    out.push_str(",\"deploymentid\":");
    json_str(out, &node.deployment);
    out.push_str(",\"trigger\":\"incoming\",\"api\":{\"name\":");
    json_str(out, e.operation);
    if let Some(b) = e.bucket {
        out.push_str(",\"bucket\":");
        json_str(out, b);
    }
    if let Some(k) = e.key {
        out.push_str(",\"object\":");
        json_str(out, k);
    }
    let ttfb = e.time_to_first_byte.as_nanos();
    let ttr = e.time_to_response.as_nanos();
    let _ = write!(
        out,
        ",\"status\":\"{}\",\"statusCode\":{},\"rx\":{},\"tx\":{},\"timeToFirstByte\":\"{ttfb}ns\",\"timeToResponse\":\"{ttr}ns\",\"timeToResponseInNS\":\"{ttr}\"}}",
        sluice_http::reason_phrase(e.status),
        e.status,
        e.bytes_in,
        e.bytes_out,
    );
    out.push_str(",\"remotehost\":\"");
    if let Some(r) = e.remote {
        let _ = write!(out, "{}", r.ip());
    }
    out.push('"');
    out.push_str(",\"requestID\":");
    json_str(out, e.request_id);
    if let Some(code) = e.error {
        // MinIO's field: what refused the request.
        out.push_str(",\"error\":");
        json_str(out, code.as_str());
    }
    let header = |name: &str| {
        e.request_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(std::borrow::Cow::Borrowed(""), |(_, v)| {
                String::from_utf8_lossy(v)
            })
    };
    out.push_str(",\"userAgent\":");
    json_capped(out, &header("user-agent"));
    out.push_str(",\"requestPath\":");
    json_str(out, e.path);
    out.push_str(",\"requestHost\":");
    json_capped(out, &header("host"));
    out.push_str(",\"requestMethod\":");
    json_str(out, e.method);
    out.push_str(",\"requestQuery\":{");
    let mut first = true;
    for pair in e.query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = sluice_http::percent_decode(name, true).unwrap_or_else(|_| name.into());
        if SECRET_PARAMS
            .iter()
            .any(|s| decoded.eq_ignore_ascii_case(s))
        {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        json_str(out, &decoded);
        out.push(':');
        json_capped(
            out,
            &sluice_http::percent_decode(value, true).unwrap_or_else(|_| value.into()),
        );
    }
    out.push_str("},\"requestHeader\":{");
    let mut first = true;
    for (name, value) in e.request_headers {
        if SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        json_capped(out, name);
        out.push(':');
        json_capped(out, &String::from_utf8_lossy(value));
    }
    out.push_str("},\"responseHeader\":{");
    let mut first = true;
    for (name, value) in e.response_headers {
        if !first {
            out.push(',');
        }
        first = false;
        json_capped(out, name);
        out.push(':');
        json_capped(out, value);
    }
    out.push_str("},\"accessKey\":");
    // A request that failed to authenticate: the key it claimed.
    let claimed = e
        .identity
        .access_key()
        .map(str::to_owned)
        .or_else(|| claimed_key(e));
    json_str(out, claimed.as_deref().unwrap_or_default());
    out.push_str(",\"node\":{\"name\":");
    json_str(out, &node.name);
    out.push_str(",\"address\":");
    json_str(out, &node.address);
    out.push_str(",\"cluster\":");
    json_str(out, &node.cluster);
    out.push_str(",\"version\":");
    json_str(out, env!("CARGO_PKG_VERSION"));
    let _ = write!(out, "}},\"tls\":{}}}", e.secure);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn strings_are_escaped_as_json() {
        for s in [
            "plain",
            "q\"b\\s",
            "nl\n\r\t\u{1}\u{1f}",
            "é\u{2028}x\u{2029}",
            "",
        ] {
            let mut out = String::new();
            json_str(&mut out, s);
            let back: String = serde_json::from_str(&out).unwrap();
            assert_eq!(back, s, "{out}");
            assert!(!out.contains('\u{2028}') && !out.contains('\n'));
        }
    }

    #[test]
    fn secrets_are_left_out_and_the_json_parses() {
        let identity = sluice_s3::Identity::Anonymous;
        let headers = vec![
            (
                "Authorization".to_owned(),
                b"AWS4-HMAC-SHA256 Credential=AK/x, Signature=abc".to_vec(),
            ),
            ("X-Amz-Security-Token".to_owned(), b"tok\"en".to_vec()),
            (
                "x-amz-server-side-encryption-customer-key".to_owned(),
                b"a2V5".to_vec(),
            ),
            ("User-Agent".to_owned(), b"boto3/1 \"quoted\"\n".to_vec()),
            ("Host".to_owned(), b"127.0.0.1:9000".to_vec()),
        ];
        let e = RequestEvent {
            request_id: "ID1",
            method: "GET",
            path: "/b/k\u{1}",
            operation: "GetObject",
            bucket: Some("b"),
            key: Some("k\u{1}"),
            status: 200,
            error: None,
            bytes_in: 10,
            bytes_out: 20,
            time_to_response: Duration::from_micros(5),
            time_to_first_byte: Duration::from_micros(3),
            identity: &identity,
            remote: Some("127.0.0.1:5000".parse().unwrap()),
            query: "X-Amz-Signature=deadbeef&x-amz-security-token=t&partNumber=1&X-Amz-Credential=AK%2Fx",
            request_headers: &headers,
            response_headers: &[("ETag".to_owned(), "\"e\"".to_owned())],
            secure: true,
        };
        let json = to_json(&e, &Node::default(), SystemTime::UNIX_EPOCH);
        for secret in ["Signature=abc", "tok", "a2V5", "deadbeef", "Authorization"] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["api"]["name"], "GetObject");
        assert_eq!(v["api"]["object"], "k\u{1}");
        assert_eq!(v["api"]["statusCode"], 200);
        assert_eq!(v["api"]["timeToResponse"], "5000ns");
        assert_eq!(v["requestQuery"]["partNumber"], "1");
        assert_eq!(v["requestQuery"]["X-Amz-Credential"], "AK/x");
        assert_eq!(v["userAgent"], "boto3/1 \"quoted\"\n");
        assert_eq!(v["responseHeader"]["ETag"], "\"e\"");
        assert_eq!(v["tls"], true);
        // Authentication failed: the key it claimed (never its secret).
        assert_eq!(v["accessKey"], "AK");
    }
}
