//! The operations, one module per family. Each takes what the stages
//! established (the routed request, the thread's context, a verified body)
//! and answers; none knows the connection or the other stages.

pub(crate) mod acl;
pub(crate) mod bucket;
pub(crate) mod copy;
pub(crate) mod cors;
pub(crate) mod encryption;
pub(crate) mod list;
pub(crate) mod mpu_checksum;
pub(crate) mod multipart;
pub(crate) mod object_read;
pub(crate) mod object_write;
pub(crate) mod policy;
pub(crate) mod post_object;
pub(crate) mod sts;
pub(crate) mod tagging;

/// The owner ID sluice reports (single-tenant until IAM).
pub(crate) const OWNER_ID: &str = "sluice";
