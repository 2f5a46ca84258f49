//! Writing the XML bodies of S3 responses.

/// The S3 namespace every response document carries.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A small XML writer: elements in order, text escaped.
#[derive(Debug, Default)]
pub struct Xml(String);

impl Xml {
    /// A document with its declaration.
    #[must_use]
    pub fn new() -> Self {
        Xml(String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#))
    }

    /// Opens the root element with the S3 namespace.
    pub fn root(&mut self, tag: &str) -> &mut Self {
        self.0.push_str(&format!(r#"<{tag} xmlns="{NS}">"#));
        self
    }

    /// Opens the root element in namespace `ns` (STS's).
    pub fn root_ns(&mut self, tag: &str, ns: &str) -> &mut Self {
        self.0.push_str(&format!(r#"<{tag} xmlns="{ns}">"#));
        self
    }

    /// Opens an element.
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    /// Closes an element.
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    /// An element with text.
    pub fn leaf(&mut self, tag: &str, text: &str) -> &mut Self {
        self.open(tag);
        escape_into(&mut self.0, text);
        self.close(tag)
    }

    /// The text being written, to add escaped text inside an open element.
    pub fn text_mut(&mut self) -> &mut String {
        &mut self.0
    }

    /// The document.
    #[must_use]
    pub fn finish(self) -> String {
        self.0
    }
}

/// Escapes `&`, `<`, `>`, `"`, `'` and CR (which a parser would read as LF);
/// other control characters become character references.
pub fn escape_into(out: &mut String, text: &str) {
    // Most text (keys, ETags, dates) needs no escaping: copy runs of plain
    // bytes whole and look only at the few that matter.
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            // A parser turns a raw CR (and CR LF) into LF: a key holding
            // one would be listed as another. S3 sends it as a reference.
            b'\r' => "&#13;",
            b'\t' | b'\n' => continue,
            b if b < 0x20 => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if replacement.is_empty() {
            out.push_str(&format!("&#x{b:X};"));
        } else {
            out.push_str(replacement);
        }
        start = i.saturating_add(1);
    }
    out.push_str(&text[start..]);
}

/// The error document.
#[must_use]
pub fn error(
    code: &str,
    message: &str,
    detail: Option<(&str, &str)>,
    resource: &str,
    request_id: &str,
) -> String {
    let mut x = Xml::new();
    x.open("Error").leaf("Code", code).leaf("Message", message);
    if let Some((name, value)) = detail {
        x.leaf(name, value);
    }
    x.leaf("Resource", resource)
        .leaf("RequestId", request_id)
        .close("Error");
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_structure() {
        let mut x = Xml::new();
        x.root("R").leaf("Key", "a<b>&\"c'").close("R");
        assert_eq!(
            x.finish(),
            r#"<?xml version="1.0" encoding="UTF-8"?><R xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Key>a&lt;b&gt;&amp;&quot;c&apos;</Key></R>"#
        );
        let mut out = String::new();
        escape_into(&mut out, "ü/\u{1}x\ty€&");
        assert_eq!(out, "ü/&#x1;x\ty€&amp;");
        assert!(error("NoSuchKey", "m", None, "/b/k", "id").contains("<Code>NoSuchKey</Code><Message>m</Message><Resource>/b/k</Resource><RequestId>id</RequestId>"));
    }
}
