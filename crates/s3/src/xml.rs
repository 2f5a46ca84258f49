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

/// Escapes `&`, `<`, `>`, `"` and `'`; drops characters XML 1.0 cannot carry.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push_str(&format!("&#x{:X};", c as u32)),
            c => out.push(c),
        }
    }
}

/// The error document.
#[must_use]
pub fn error(code: &str, message: &str, resource: &str, request_id: &str) -> String {
    let mut x = Xml::new();
    x.open("Error")
        .leaf("Code", code)
        .leaf("Message", message)
        .leaf("Resource", resource)
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
        assert!(error("NoSuchKey", "m", "/b/k", "id").contains("<Code>NoSuchKey</Code><Message>m</Message><Resource>/b/k</Resource><RequestId>id</RequestId>"));
    }
}
