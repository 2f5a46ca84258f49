//! STS on the S3 endpoint: AssumeRole, as the STS API reference defines
//! it (a form posted to `/`, signed for the `sts` service, answered in
//! the STS XML namespace), issuing temporary credentials through the
//! configured [`crate::SessionIssuer`].

use sluice_http::{percent_decode, query_pairs};

use crate::access::Identity;
use crate::context::ThreadContext;
use crate::error::{S3Error, S3ErrorCode};
use crate::response::{xml_response, Response};
use crate::storage::Storage;
use crate::time::iso8601;
use crate::xml::Xml;

/// Shortest and longest sessions (15 minutes, a week).
pub(crate) const MIN_DURATION: u64 = 900;
/// See [`MIN_DURATION`].
pub(crate) const MAX_DURATION: u64 = 7 * 24 * 3600;

fn invalid(message: String) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidParameterValue, message)
}

pub(crate) fn assume_role(
    ctx: &ThreadContext<impl Storage>,
    identity: &Identity,
    body: &[u8],
    request_id: &str,
) -> Result<Response, S3Error> {
    let issuer =
        ctx.config.sessions.as_deref().ok_or_else(|| {
            S3Error::not_implemented("STS without a cluster (sluice cluster create)")
        })?;
    let Identity::Key { access_key, .. } = identity else {
        return Err(S3ErrorCode::AccessDenied.into());
    };
    let text = std::str::from_utf8(body).map_err(|_| invalid("The form is not UTF-8.".into()))?;
    let mut form = Vec::new();
    for (n, v) in query_pairs(text.trim()) {
        let bad = |_| invalid("The form is not percent-encoded.".into());
        form.push((
            percent_decode(n, true).map_err(bad)?.into_owned(),
            percent_decode(v, true).map_err(bad)?.into_owned(),
        ));
    }
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    match field("Action") {
        Some("AssumeRole") => {}
        Some(other) => {
            return Err(S3Error::not_implemented(&format!("The STS action {other}")));
        }
        None => return Err(invalid("The form names no Action.".into())),
    }
    let duration = match field("DurationSeconds") {
        Some(d) => d
            .parse::<u64>()
            .ok()
            .filter(|d| (MIN_DURATION..=MAX_DURATION).contains(d))
            .ok_or_else(|| {
                invalid(format!(
                    "DurationSeconds must be between {MIN_DURATION} and {MAX_DURATION}."
                ))
            })?,
        None => 3600,
    };
    let session = field("RoleSessionName").unwrap_or("session");
    if session.is_empty()
        || session.len() > 64
        || !session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    {
        return Err(invalid(
            "RoleSessionName must be 1 to 64 of A-Z a-z 0-9 + = , . @ _ -.".into(),
        ));
    }
    let creds = issuer.assume_role(access_key, duration, field("Policy"), session)?;
    let mut x = Xml::new();
    x.root_ns(
        "AssumeRoleResponse",
        "https://sts.amazonaws.com/doc/2011-06-15/",
    )
    .open("AssumeRoleResult");
    x.open("AssumedRoleUser")
        .leaf("Arn", &creds.arn)
        .leaf("AssumedRoleId", &format!("{}:{session}", creds.access_key))
        .close("AssumedRoleUser");
    x.open("Credentials")
        .leaf("AccessKeyId", &creds.access_key)
        .leaf("SecretAccessKey", &creds.secret_key)
        .leaf("SessionToken", &creds.session_token)
        .leaf("Expiration", &iso8601(creds.expiration))
        .close("Credentials");
    x.close("AssumeRoleResult")
        .open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata");
    x.close("AssumeRoleResponse");
    Ok(xml_response(200, x.finish()))
}
