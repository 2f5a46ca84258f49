//! `multipart/form-data` bodies (RFC 7578), as browsers post them to S3
//! (POST Object): a push parser fed the body in pieces, handing out each
//! part's head (its field name, file name and content type) and then its
//! bytes as slices of the caller's input, so a file part of any size passes
//! through without being buffered.
//!
//! The caller drives it as it drives [`crate::BodyDecoder`]: it calls
//! [`FormParser::parse`] with the bytes it holds, drops the `used` bytes,
//! acts on the event, and when there is no event appends more input to what
//! was not used and calls again. The bytes it holds back are at most a
//! delimiter's length inside a part, and at most [`MAX_PART_HEAD`] while a
//! part's head arrives.

use memchr::memmem;

use crate::error::{Error, Result};

/// Longest boundary RFC 2046 allows.
pub const MAX_BOUNDARY_LEN: usize = 70;

/// Largest head of one part (its Content-Disposition and Content-Type
/// lines, and whatever else a client sends with them).
pub const MAX_PART_HEAD: usize = 8 << 10;

/// Most header fields in one part's head.
const MAX_PART_FIELDS: usize = 16;

/// Most bytes of transport padding (spaces and tabs) after a delimiter.
const MAX_PADDING: usize = 64;

/// A part's head: what its Content-Disposition and Content-Type say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHead {
    /// The form field's name (`name="..."`), as sent.
    pub name: String,
    /// The file's name (`filename="..."`), for a file field.
    pub filename: Option<String>,
    /// The part's Content-Type, when it has one.
    pub content_type: Option<String>,
}

/// What [`FormParser::parse`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum FormEvent<'a> {
    /// A part begins; its bytes follow as [`FormEvent::Data`].
    Part(PartHead),
    /// Bytes of the current part's content, in order.
    Data(&'a [u8]),
    /// The current part's content is complete.
    PartEnd,
    /// The closing delimiter: the form is complete. Anything after it (the
    /// epilogue) is consumed and ignored.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (a preamble is skipped).
    Start,
    /// Just after a delimiter: `--` closes the form, CRLF starts a part.
    AfterDelimiter,
    /// Reading a part's head.
    Head,
    /// Reading a part's content.
    Content,
    /// After the closing delimiter.
    Epilogue,
}

/// The parser of one `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct FormParser {
    /// `CRLF--boundary`: what ends every part's content.
    delimiter: Vec<u8>,
    state: State,
    /// Whether any of the body was used: `--boundary` without the CRLF
    /// before it opens the form only at the body's first byte.
    started: bool,
}

/// The boundary of a `multipart/form-data` Content-Type, or None when the
/// value is another media type or has no valid boundary.
#[must_use]
pub fn form_boundary(content_type: &[u8]) -> Option<Vec<u8>> {
    let text = core::str::from_utf8(content_type).ok()?;
    let mut params = split_params(text).into_iter();
    let media = params.next()?;
    if !media.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params.find_map(|p| param(p, "boundary"))?;
    valid_boundary(boundary.as_bytes()).then(|| boundary.into_bytes())
}

/// RFC 2046: 1 to 70 characters, not ending in a space.
fn valid_boundary(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= MAX_BOUNDARY_LEN
        && b.last() != Some(&b' ')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(c))
}

impl FormParser {
    /// A parser for a body whose parts are delimited by `boundary` (from
    /// [`form_boundary`]).
    ///
    /// # Errors
    /// [`Error::MalformedForm`] when the boundary is not valid.
    pub fn new(boundary: &[u8]) -> Result<Self> {
        if !valid_boundary(boundary) {
            return Err(Error::MalformedForm("invalid boundary"));
        }
        let mut delimiter = Vec::with_capacity(boundary.len().saturating_add(4));
        delimiter.extend_from_slice(b"\r\n--");
        delimiter.extend_from_slice(boundary);
        Ok(FormParser {
            delimiter,
            state: State::Start,
            started: false,
        })
    }

    /// Whether the closing delimiter was seen.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.state == State::Epilogue
    }

    /// Parses what it can of `input`: returns how many bytes were used and
    /// the event found, if any. With no event, the caller MUST keep the
    /// unused bytes and call again with more input appended; when the body
    /// has ended instead, the form is incomplete unless
    /// [`FormParser::is_complete`] says otherwise.
    ///
    /// # Errors
    /// [`Error::MalformedForm`] for a body that is not a valid form;
    /// [`Error::FormPartHeadTooLarge`] for a part head over
    /// [`MAX_PART_HEAD`].
    pub fn parse<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<FormEvent<'a>>)> {
        let mut used = 0usize;
        loop {
            let (n, event) = self.step(&input[used..])?;
            // Each step uses at most what it was given.
            used = used.saturating_add(n);
            if event.is_some() || n == 0 {
                return Ok((used, event));
            }
        }
    }

    fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<FormEvent<'a>>)> {
        match self.state {
            State::Start => Ok((self.skip_preamble(input), None)),
            State::AfterDelimiter => self.after_delimiter(input),
            State::Head => self.head(input),
            State::Content => Ok(self.content(input)),
            State::Epilogue => Ok((input.len(), None)),
        }
    }

    /// The body starts with `--boundary`, or has a preamble that a
    /// `CRLF--boundary` ends. Only the body's first byte may begin the
    /// former: however the body is cut into pieces, the same bytes parse
    /// alike.
    fn skip_preamble(&mut self, input: &[u8]) -> usize {
        let dash_boundary = &self.delimiter[2..];
        if !self.started {
            if input.starts_with(dash_boundary) {
                self.started = true;
                self.state = State::AfterDelimiter;
                return dash_boundary.len();
            }
            if dash_boundary.starts_with(input) {
                return 0;
            }
            self.started = true;
        }
        match memmem::find(input, &self.delimiter) {
            Some(at) => {
                self.state = State::AfterDelimiter;
                // The delimiter lies within the input.
                at.saturating_add(self.delimiter.len())
            }
            None => self.safe_len(input),
        }
    }

    fn after_delimiter<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<FormEvent<'a>>)> {
        if input.len() < 2 {
            return Ok((0, None));
        }
        if input.starts_with(b"--") {
            self.state = State::Epilogue;
            return Ok((2, Some(FormEvent::End)));
        }
        let padding = input
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if padding > MAX_PADDING {
            return Err(Error::MalformedForm("padding after a delimiter"));
        }
        let rest = &input[padding..];
        if rest.len() < 2 {
            return Ok((0, None));
        }
        if !rest.starts_with(b"\r\n") {
            return Err(Error::MalformedForm("no CRLF after a delimiter"));
        }
        self.state = State::Head;
        // padding + 2 <= input.len(): rest held both bytes.
        Ok((padding.saturating_add(2), None))
    }

    fn head<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<FormEvent<'a>>)> {
        let window = &input[..input.len().min(MAX_PART_HEAD)];
        let mut fields = [httparse::EMPTY_HEADER; MAX_PART_FIELDS];
        let (len, fields) = match httparse::parse_headers(window, &mut fields) {
            Ok(httparse::Status::Complete((len, fields))) => (len, fields),
            Ok(httparse::Status::Partial) if window.len() < MAX_PART_HEAD => return Ok((0, None)),
            Ok(httparse::Status::Partial) => return Err(Error::FormPartHeadTooLarge),
            Err(httparse::Error::TooManyHeaders) => return Err(Error::FormPartHeadTooLarge),
            Err(_) => return Err(Error::MalformedForm("a part's head is not valid")),
        };
        let mut disposition = None;
        let mut content_type = None;
        for field in fields.iter() {
            let slot = if field.name.eq_ignore_ascii_case("content-disposition") {
                &mut disposition
            } else if field.name.eq_ignore_ascii_case("content-type") {
                &mut content_type
            } else {
                continue;
            };
            let value = core::str::from_utf8(field.value)
                .map_err(|_| Error::MalformedForm("a part's head is not UTF-8"))?;
            if slot.replace(value).is_some() {
                return Err(Error::MalformedForm("a part's head repeats a field"));
            }
        }
        let disposition =
            disposition.ok_or(Error::MalformedForm("a part has no Content-Disposition"))?;
        let mut params = split_params(disposition).into_iter();
        if !params
            .next()
            .is_some_and(|d| d.trim().eq_ignore_ascii_case("form-data"))
        {
            return Err(Error::MalformedForm("a part is not form-data"));
        }
        let (mut name, mut filename) = (None, None);
        for p in params {
            if let Some(v) = param(p, "name") {
                if name.replace(v).is_some() {
                    return Err(Error::MalformedForm("a part names its field twice"));
                }
            } else if let Some(v) = param(p, "filename") {
                if filename.replace(v).is_some() {
                    return Err(Error::MalformedForm("a part names its file twice"));
                }
            }
        }
        let name = name.ok_or(Error::MalformedForm("a part has no field name"))?;
        self.state = State::Content;
        Ok((
            len,
            Some(FormEvent::Part(PartHead {
                name,
                filename,
                content_type: content_type.map(|t| t.trim().to_owned()),
            })),
        ))
    }

    fn content<'a>(&mut self, input: &'a [u8]) -> (usize, Option<FormEvent<'a>>) {
        match memmem::find(input, &self.delimiter) {
            Some(0) => {
                self.state = State::AfterDelimiter;
                (self.delimiter.len(), Some(FormEvent::PartEnd))
            }
            Some(at) => (at, Some(FormEvent::Data(&input[..at]))),
            None => match self.safe_len(input) {
                0 => (0, None),
                n => (n, Some(FormEvent::Data(&input[..n]))),
            },
        }
    }

    /// How much of `input` (which holds no whole delimiter) cannot be the
    /// start of one: all of it but a tail that is a delimiter's prefix.
    fn safe_len(&self, input: &[u8]) -> usize {
        let from = input
            .len()
            .saturating_sub(self.delimiter.len().saturating_sub(1));
        (from..input.len())
            .find(|&at| self.delimiter.starts_with(&input[at..]))
            .unwrap_or(input.len())
    }
}

/// Splits `a; b="c;d"; e` at the semicolons outside quoted strings.
fn split_params(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(&text[start..i]);
                // ';' is one byte.
                start = i.saturating_add(1);
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// The value of `name=value` or `name="quoted value"` when the parameter
/// is called `name` (case-insensitively). In a quoted value a backslash
/// escapes only `"` and `\\`: browsers send the backslashes of Windows
/// paths (`C:\\Users\\a.txt`) as they are (the WHATWG form encoding
/// escapes only quotes and line breaks, as `%22`, `%0D`, `%0A`).
fn param(p: &str, name: &str) -> Option<String> {
    let (n, v) = p.split_once('=')?;
    if !n.trim().eq_ignore_ascii_case(name) {
        return None;
    }
    let v = v.trim();
    let Some(inner) = v.strip_prefix('"') else {
        return Some(v.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&next @ ('"' | '\\')) = chars.peek() {
                out.push(next);
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::{parse_form_in_pieces, FormPart};

    const FORM: &[u8] = b"--XyZ\r\n\
Content-Disposition: form-data; name=\"key\"\r\n\r\n\
uploads/${filename}\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"cat \\\"1\\\".jpg\"\r\n\
Content-Type: image/jpeg\r\n\r\n\
\r\n--XyW is not a delimiter\r\n--Xy\r\n\
--XyZ--\r\nepilogue";

    #[test]
    fn parses_a_browser_form() {
        let parts = parse_form_in_pieces(b"XyZ", FORM, &[]).unwrap();
        assert_eq!(
            parts,
            vec![
                FormPart {
                    name: "key".into(),
                    filename: None,
                    content_type: None,
                    data: b"uploads/${filename}".to_vec(),
                },
                FormPart {
                    name: "file".into(),
                    filename: Some("cat \"1\".jpg".into()),
                    content_type: Some("image/jpeg".into()),
                    data: b"\r\n--XyW is not a delimiter\r\n--Xy".to_vec(),
                },
            ]
        );
        for cut in 0..FORM.len() {
            assert_eq!(
                parse_form_in_pieces(b"XyZ", FORM, &[cut]).unwrap(),
                parts,
                "{cut}"
            );
        }
        let bytewise: Vec<usize> = (1..FORM.len()).collect();
        assert_eq!(
            parse_form_in_pieces(b"XyZ", FORM, &bytewise).unwrap(),
            parts
        );
    }

    #[test]
    fn boundaries_from_content_types() {
        assert_eq!(
            form_boundary(b"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk"),
            Some(b"----WebKitFormBoundary7MA4YWxk".to_vec())
        );
        assert_eq!(
            form_boundary(b"Multipart/Form-Data;boundary=\"a b:c\""),
            Some(b"a b:c".to_vec())
        );
        assert_eq!(form_boundary(b"multipart/mixed; boundary=x"), None);
        assert_eq!(form_boundary(b"multipart/form-data"), None);
        assert_eq!(form_boundary(b"multipart/form-data; boundary="), None);
        let long = format!("multipart/form-data; boundary={}", "a".repeat(71));
        assert_eq!(form_boundary(long.as_bytes()), None);
    }

    #[test]
    fn refuses_what_is_not_a_form() {
        let bad = |body: &[u8]| parse_form_in_pieces(b"b", body, &[]).unwrap_err();
        assert!(matches!(
            bad(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"),
            Error::MalformedForm(_)
        ));
        assert!(matches!(
            bad(b"--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--b--"),
            Error::MalformedForm(_)
        ));
        assert!(matches!(
            bad(b"--bX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--"),
            Error::MalformedForm(_)
        ));
        let mut huge = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: ".to_vec();
        huge.extend(std::iter::repeat_n(b'p', MAX_PART_HEAD));
        assert_eq!(bad(&huge), Error::FormPartHeadTooLarge);
    }

    /// Regression (fuzz target http_form, and a hostile review): a piece of
    /// the body that began with `--boundary` after a preamble was taken for
    /// the opening delimiter, so the same bytes parsed differently with the
    /// reads cut elsewhere.
    #[test]
    fn a_bare_boundary_opens_the_form_only_at_its_first_byte() {
        let body = b"pre--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b--";
        // All of it up to the one CRLF--b is preamble: a form of no parts.
        for cut in 0..body.len() {
            assert_eq!(
                parse_form_in_pieces(b"b", body, &[cut]).unwrap(),
                vec![],
                "cut at {cut}"
            );
        }
        let fine = b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b--";
        for cut in 0..fine.len() {
            assert_eq!(parse_form_in_pieces(b"b", fine, &[cut]).unwrap().len(), 1);
        }
    }

    #[test]
    fn backslashes_of_windows_paths_are_kept() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\Users\\bob\\a \\\"q\\\".txt\"\r\n\r\nv\r\n--b--";
        let parts = parse_form_in_pieces(b"b", body, &[]).unwrap();
        assert_eq!(
            parts[0].filename.as_deref(),
            Some("C:\\Users\\bob\\a \"q\".txt")
        );
    }

    #[test]
    fn an_unclosed_form_is_incomplete() {
        let mut p = FormParser::new(b"b").unwrap();
        let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc\r\n--b";
        let mut pos = 0;
        while let (used, Some(_)) = p.parse(&body[pos..]).unwrap() {
            pos += used;
        }
        assert!(!p.is_complete());
    }
}
