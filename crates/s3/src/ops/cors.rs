//! Bucket CORS: the configuration (Put/Get/DeleteBucketCors), OPTIONS
//! preflight answered as S3 does, and the CORS headers of actual requests.

use crate::context::ThreadContext;
use crate::document::Element;
use crate::error::{S3Error, S3ErrorCode};
use crate::request::Request;
use crate::response::{Body, Response};
use crate::storage::Storage;

const CONFIG: &str = "cors";

/// One CORSRule.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    origins: Vec<String>,
    methods: Vec<String>,
    headers: Vec<String>,
    expose: Vec<String>,
    max_age: Option<u64>,
}

/// Parses and checks a CORSConfiguration document.
pub(crate) fn parse(doc: &str) -> Result<Vec<Rule>, S3Error> {
    let texts = |block: &Element, tag: &str| -> Result<Vec<String>, S3Error> {
        Ok(block
            .all(tag)
            .iter()
            .map(|t| t.text().trim().to_owned())
            .collect())
    };
    let doc = Element::parse(doc.as_bytes())?;
    let mut rules = Vec::new();
    for block in doc.all("CORSRule") {
        let rule = Rule {
            origins: texts(block, "AllowedOrigin")?,
            methods: texts(block, "AllowedMethod")?,
            headers: texts(block, "AllowedHeader")?,
            expose: texts(block, "ExposeHeader")?,
            max_age: match block.first("MaxAgeSeconds") {
                Some(v) => Some(
                    v.text()
                        .trim()
                        .parse()
                        .map_err(|_| S3Error::from(S3ErrorCode::MalformedXML))?,
                ),
                None => None,
            },
        };
        if rule.origins.is_empty() || rule.methods.is_empty() {
            return Err(S3Error::from(S3ErrorCode::MalformedXML));
        }
        if let Some(m) = rule
            .methods
            .iter()
            .find(|m| !matches!(m.as_str(), "GET" | "PUT" | "POST" | "DELETE" | "HEAD"))
        {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                format!("Found unsupported HTTP method in CORS config. Unsupported method is {m}"),
            ));
        }
        if rule
            .origins
            .iter()
            .chain(&rule.headers)
            .any(|o| o.matches('*').count() > 1)
        {
            return Err(S3Error::new(
                S3ErrorCode::InvalidRequest,
                "An AllowedOrigin or AllowedHeader can have at most one * wildcard",
            ));
        }
        rules.push(rule);
    }
    if rules.is_empty() || rules.len() > 100 {
        return Err(S3Error::from(S3ErrorCode::MalformedXML));
    }
    Ok(rules)
}

/// `pattern` with at most one `*` matching any run of characters.
fn wildcard(pattern: &str, value: &str, case_insensitive: bool) -> bool {
    let (p, v) = if case_insensitive {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), value.to_owned())
    };
    match p.split_once('*') {
        Some((head, tail)) => {
            v.len() >= head.len().saturating_add(tail.len())
                && v.starts_with(head)
                && v.ends_with(tail)
        }
        None => p == v,
    }
}

impl Rule {
    fn matches(&self, origin: &str, method: &str, headers: &[String]) -> bool {
        self.origins.iter().any(|o| wildcard(o, origin, false))
            && self.methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| self.headers.iter().any(|a| wildcard(a, h, true)))
    }

    /// The response headers this rule grants.
    fn grant(
        &self,
        origin: &str,
        requested_headers: &[String],
        preflight: bool,
    ) -> Vec<(String, String)> {
        let any = self.origins.iter().any(|o| o == "*");
        let mut out = vec![(
            "Access-Control-Allow-Origin".to_owned(),
            if any {
                "*".to_owned()
            } else {
                origin.to_owned()
            },
        )];
        if !any {
            out.push(("Access-Control-Allow-Credentials".into(), "true".into()));
        }
        out.push((
            "Vary".into(),
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".into(),
        ));
        if preflight {
            out.push((
                "Access-Control-Allow-Methods".into(),
                self.methods.join(", "),
            ));
            if !requested_headers.is_empty() {
                out.push((
                    "Access-Control-Allow-Headers".into(),
                    requested_headers.join(", "),
                ));
            }
            if let Some(age) = self.max_age {
                out.push(("Access-Control-Max-Age".into(), age.to_string()));
            }
        }
        if !self.expose.is_empty() {
            out.push((
                "Access-Control-Expose-Headers".into(),
                self.expose.join(", "),
            ));
        }
        out
    }
}

fn rules(ctx: &ThreadContext<impl Storage>, bucket: &str) -> Result<Option<Vec<Rule>>, S3Error> {
    match ctx.store.bucket_config(bucket, CONFIG)? {
        Some(raw) => Ok(parse(&String::from_utf8_lossy(&raw)).ok()),
        None => Ok(None),
    }
}

pub(crate) fn put(
    ctx: &ThreadContext<impl Storage>,
    bucket: &str,
    body: &[u8],
) -> Result<Response, S3Error> {
    let doc = std::str::from_utf8(body).map_err(|_| S3Error::from(S3ErrorCode::MalformedXML))?;
    parse(doc)?;
    ctx.store.set_bucket_config(bucket, CONFIG, Some(body))?;
    Ok(Response {
        status: 200,
        headers: Vec::new(),
        body: Body::Empty,
    })
}

pub(crate) fn get(ctx: &ThreadContext<impl Storage>, bucket: &str) -> Result<Response, S3Error> {
    match ctx.store.bucket_config(bucket, CONFIG)? {
        Some(raw) => Ok(Response {
            status: 200,
            headers: vec![("Content-Type".into(), "application/xml".into())],
            body: Body::Bytes(raw),
        }),
        None => Err(S3Error::new(
            S3ErrorCode::NoSuchCORSConfiguration,
            "The CORS configuration does not exist",
        )),
    }
}

pub(crate) fn delete(ctx: &ThreadContext<impl Storage>, bucket: &str) -> Result<Response, S3Error> {
    ctx.store.set_bucket_config(bucket, CONFIG, None)?;
    Ok(Response {
        status: 204,
        headers: Vec::new(),
        body: Body::Empty,
    })
}

fn forbidden() -> S3Error {
    S3Error::new(S3ErrorCode::AccessForbidden, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    )
}

/// OPTIONS: the preflight of a cross-origin request. Not authenticated.
pub(crate) fn preflight(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    bucket: &str,
) -> Result<Response, S3Error> {
    let (Some(origin), Some(method)) = (
        req.header("origin"),
        req.header("access-control-request-method"),
    ) else {
        return Err(S3Error::new(
            S3ErrorCode::BadRequest,
            "Insufficient information. Origin request header needed.",
        ));
    };
    let requested: Vec<String> = req
        .header("access-control-request-headers")
        .map(|h| {
            h.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let rules = rules(ctx, bucket)?.ok_or_else(forbidden)?;
    let rule = rules
        .iter()
        .find(|r| r.matches(origin, method, &requested))
        .ok_or_else(forbidden)?;
    Ok(Response {
        status: 200,
        headers: rule.grant(origin, &requested, true),
        body: Body::Empty,
    })
}

/// CORS headers for an actual request carrying Origin, when a rule allows it.
pub(crate) fn headers_for(
    ctx: &ThreadContext<impl Storage>,
    req: &Request,
    bucket: &str,
) -> Vec<(String, String)> {
    let Some(origin) = req.header("origin") else {
        return Vec::new();
    };
    let Ok(Some(rules)) = rules(ctx, bucket) else {
        return Vec::new();
    };
    rules
        .iter()
        .find(|r| r.matches(origin, &req.method_str, &[]))
        .map(|r| r.grant(origin, &[], false))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_matching() {
        let doc = r#"<CORSConfiguration><CORSRule><AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>300</MaxAgeSeconds></CORSRule></CORSConfiguration>"#;
        let rules = parse(doc).unwrap();
        let r = &rules[0];
        assert!(r.matches("https://app.example.com", "PUT", &["x-amz-date".into()]));
        assert!(!r.matches("https://app.example.org", "PUT", &[]));
        assert!(!r.matches("https://app.example.com", "DELETE", &[]));
        assert!(!r.matches("https://app.example.com", "GET", &["authorization".into()]));
        assert!(parse("<CORSConfiguration></CORSConfiguration>").is_err());
        assert!(parse("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>").is_err());
        assert!(wildcard("*", "anything", false));
        assert!(wildcard("X-Amz-*", "x-amz-date", true));
    }
}
