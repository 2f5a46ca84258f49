//! Request documents (DeleteObjects, tagging, CORS, CompleteMultipartUpload)
//! read with a real XML parser (quick-xml): comments, processing
//! instructions and CDATA are what XML says they are, entities are decoded
//! (the predefined ones and character references; a DOCTYPE, where custom
//! entities would come from, is refused). A hand-written reader executed
//! `<Delete><!--<Object><Key>x</Key></Object>--></Delete>`.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{S3Error, S3ErrorCode};

/// Elements nested deeper than this are refused.
const MAX_DEPTH: usize = 32;

/// An element: its local name (namespace prefix dropped), its text and its
/// child elements, in document order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub name: String,
    text: String,
    children: Vec<Element>,
}

fn malformed() -> S3Error {
    S3Error::from(S3ErrorCode::MalformedXML)
}

impl Element {
    /// Parses a whole document; its root element.
    ///
    /// # Errors
    /// MalformedXML for anything that is not one well-formed element (with
    /// an optional declaration, comments and processing instructions).
    pub(crate) fn parse(body: &[u8]) -> Result<Element, S3Error> {
        let text = std::str::from_utf8(body).map_err(|_| malformed())?;
        let mut reader = Reader::from_str(text);
        reader.config_mut().check_end_names = true;
        let mut stack: Vec<Element> = Vec::new();
        let mut root = None;
        loop {
            let event = reader.read_event().map_err(|_| malformed())?;
            match event {
                Event::Start(_) | Event::Empty(_) if root.is_some() => return Err(malformed()),
                Event::Start(e) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(malformed());
                    }
                    let name = std::str::from_utf8(e.local_name().as_ref())
                        .map_err(|_| malformed())?
                        .to_owned();
                    stack.push(Element {
                        name,
                        ..Element::default()
                    });
                }
                Event::Empty(e) => {
                    let name = std::str::from_utf8(e.local_name().as_ref())
                        .map_err(|_| malformed())?
                        .to_owned();
                    let element = Element {
                        name,
                        ..Element::default()
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => root = Some(element),
                    }
                }
                Event::End(_) => {
                    let done = stack.pop().ok_or_else(malformed)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => root = Some(done),
                    }
                }
                Event::Text(t) => {
                    let decoded = t.unescape().map_err(|_| malformed())?;
                    match stack.last_mut() {
                        Some(open) => open.text.push_str(&decoded),
                        None if decoded.trim().is_empty() => {}
                        None => return Err(malformed()),
                    }
                }
                Event::CData(c) => {
                    let raw = std::str::from_utf8(&c).map_err(|_| malformed())?;
                    stack.last_mut().ok_or_else(malformed)?.text.push_str(raw);
                }
                Event::DocType(_) => return Err(malformed()),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
                Event::Eof => break,
            }
        }
        if !stack.is_empty() {
            return Err(malformed());
        }
        root.ok_or_else(malformed)
    }

    /// The element's text (entities decoded, CDATA as it is).
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The child elements, in document order.
    pub(crate) fn children(&self) -> &[Element] {
        &self.children
    }

    /// Every descendant named `name`, in document order.
    pub(crate) fn all<'a>(&'a self, name: &str) -> Vec<&'a Element> {
        let mut out = Vec::new();
        self.collect(name, &mut out);
        out
    }

    fn collect<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for child in &self.children {
            if child.name == name {
                out.push(child);
            }
            child.collect(name, out);
        }
    }

    /// The first descendant named `name`.
    pub(crate) fn first(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.first(name)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(doc: &str) -> Result<Vec<String>, S3Error> {
        let root = Element::parse(doc.as_bytes())?;
        Ok(root
            .all("Object")
            .iter()
            .filter_map(|o| o.first("Key").map(|k| k.text().to_owned()))
            .collect())
    }

    /// Regression (issue 12): the hand-written reader took a commented-out
    /// object for a real one.
    #[test]
    fn comments_cdata_and_entities_are_xml() {
        assert_eq!(
            keys("<Delete><!--<Object><Key>x</Key></Object>--></Delete>").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            keys("<?xml version=\"1.0\"?><Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Object><Key>a&amp;b&#x41;</Key></Object><Object><Key><![CDATA[<c>]]></Key></Object></Delete>").unwrap(),
            ["a&bA", "<c>"]
        );
        assert_eq!(
            keys("<Delete><?pi <Object><Key>y</Key></Object>?></Delete>").unwrap(),
            Vec::<String>::new()
        );
        for bad in [
            "<Delete><Object></Delete>",
            "<Delete>",
            "",
            "<a/><b/>",
            "<!DOCTYPE d [<!ENTITY x \"y\">]><Delete/>",
            "<Delete><Key>&bogus;</Key></Delete>",
            "text<Delete/>",
        ] {
            assert_eq!(
                Element::parse(bad.as_bytes()).unwrap_err().code,
                S3ErrorCode::MalformedXML,
                "{bad}"
            );
        }
        let doc = r#"<CompleteMultipartUpload xmlns="x"><Part><ETag>"a"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>&quot;b&quot; &#65;&#x42; &amp;</ETag></Part></CompleteMultipartUpload>"#;
        let root = Element::parse(doc.as_bytes()).unwrap();
        let parts = root.all("Part");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[1].first("ETag").map(Element::text),
            Some("\"b\" AB &")
        );
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(Element::parse(deep.as_bytes()).is_err());
    }
}
