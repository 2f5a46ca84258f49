//! Asking the authorizer for one permission, with what a policy may ask of
//! the object it names (its tags) read from the store only when asked.

use crate::access::{ConditionContext, ExistingTags, Identity, Permission};
use crate::context::ThreadContext;
use crate::error::S3Error;
use crate::storage::Storage;

/// One permission, with `s3:ExistingObjectTag` read from the object the
/// permission names (the copy source's for its `s3:GetObject`), only if a
/// policy asks.
pub(crate) fn authorize_one(
    ctx: &ThreadContext<impl Storage>,
    identity: &Identity,
    permission: &Permission,
    context: ConditionContext<'_>,
) -> Result<(), S3Error> {
    let object = permission
        .resource
        .strip_prefix("arn:aws:s3:::")
        .and_then(|r| r.split_once('/'))
        .filter(|(_, k)| !k.is_empty());
    let existing = || {
        let (b, k) = object?;
        let info = ctx.store.head_object(b, k).ok()?;
        info.meta
            .header(crate::ops::tagging::TAGGING)
            .map(str::to_owned)
    };
    // Covariant: the context lives as long as the lookup borrows.
    let mut local = context;
    if object.is_some() {
        local.existing_object_tags = Some(ExistingTags(&existing));
    }
    ctx.config
        .authorizer
        .authorize(identity, permission, &local)
}
