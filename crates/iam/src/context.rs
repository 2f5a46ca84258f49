//! What a policy can ask of a request: its condition keys' values.

use std::borrow::Cow;

/// The values of a request's condition keys. Keys are asked for in
/// lowercase (`aws:sourceip`, `s3:prefix`): IAM condition keys are
/// case-insensitive; what follows a `/` keeps its case
/// (`s3:existingobjecttag/Team`: tag keys are case-sensitive).
pub trait Context {
    /// The key's value, None when the request has none.
    fn value(&self, key: &str) -> Option<Cow<'_, str>>;

    /// All values of a multivalued key (`ForAnyValue`, `ForAllValues`):
    /// by default the single value, if any.
    fn values(&self, key: &str) -> Vec<Cow<'_, str>> {
        self.value(key).into_iter().collect()
    }
}

/// A request with no condition keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoContext;

impl Context for NoContext {
    fn value(&self, _key: &str) -> Option<Cow<'_, str>> {
        None
    }
}

/// Condition keys from a list of (lowercase key, value) pairs; a key listed
/// more than once is multivalued. For tests and simple embedders.
#[derive(Debug, Clone, Default)]
pub struct MapContext(pub Vec<(String, String)>);

impl Context for MapContext {
    fn value(&self, key: &str) -> Option<Cow<'_, str>> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| Cow::Borrowed(v.as_str()))
    }

    fn values(&self, key: &str) -> Vec<Cow<'_, str>> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| Cow::Borrowed(v.as_str()))
            .collect()
    }
}
