//! What the verifier needs to see of a request, independent of any HTTP crate.

/// Header access for the verifier. Names are given in lowercase; an
/// implementation MUST match them case-insensitively.
pub trait HeaderSource {
    /// The first value of the header, if present.
    fn first(&self, name: &str) -> Option<&[u8]>;
    /// Calls `f` with every value of the header, in the order received.
    fn for_each(&self, name: &str, f: &mut dyn FnMut(&[u8]));
    /// Calls `f` with the name of every field, in the order received (a name
    /// sent twice is given twice), in the case it was sent.
    fn for_each_name(&self, f: &mut dyn FnMut(&str));
}

/// A list of (name, value) pairs, as tests and simple embedders hold them.
impl<N: AsRef<str>, V: AsRef<[u8]>> HeaderSource for [(N, V)] {
    fn first(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    fn for_each(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for (n, v) in self {
            if n.as_ref().eq_ignore_ascii_case(name) {
                f(v.as_ref());
            }
        }
    }

    fn for_each_name(&self, f: &mut dyn FnMut(&str)) {
        for (n, _) in self {
            f(n.as_ref());
        }
    }
}

/// A request as signed: method, raw (still percent-encoded) path and query,
/// and its headers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a, H: ?Sized> {
    /// Method token.
    pub method: &'a str,
    /// Path exactly as sent, percent-encoded.
    pub path: &'a str,
    /// Query after `?` exactly as sent; empty when none.
    pub query: &'a str,
    /// The header fields.
    pub headers: &'a H,
}
