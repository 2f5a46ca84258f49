//! Why a policy document is refused: the message names the problem, as
//! S3's MalformedPolicy and IAM's MalformedPolicyDocument do.

/// A policy document that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl PolicyError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        PolicyError(message.into())
    }
}

/// Result with [`PolicyError`].
pub type Result<T, E = PolicyError> = core::result::Result<T, E>;
