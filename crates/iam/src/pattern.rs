//! IAM's wildcard patterns: `*` matches any run of characters (also none,
//! also `/`), `?` exactly one; in policies of version 2012-10-17 also
//! policy variables (`${aws:username}`, and `${*}`, `${?}`, `${$}` for the
//! literal characters), replaced by the request's value before matching
//! (a variable's value is literal text: a `*` in a user name is not a
//! wildcard). A variable the request has no value for makes the pattern
//! match nothing, as in AWS.

use std::borrow::Cow;

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Characters matched as they are.
    Literal(String),
    /// `*`.
    Star,
    /// `?`.
    One,
    /// `${key}`: the request's value of a condition key (lowercase).
    Variable(String),
}

/// A parsed wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
    /// Compare ASCII letters without case (actions).
    ignore_case: bool,
}

/// Why a pattern does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternError {
    /// `${` without its `}`, or `${}`.
    UnclosedVariable,
}

impl Pattern {
    /// Parses `text`; `variables` says whether `${...}` is a variable (policy
    /// version 2012-10-17) or literal text (2008-10-17).
    ///
    /// # Errors
    /// [`PatternError::UnclosedVariable`].
    pub fn parse(text: &str, variables: bool, ignore_case: bool) -> Result<Self, PatternError> {
        Self::parse_with(text, variables, ignore_case, true)
    }

    /// A pattern whose `*` and `?` are literal (StringEquals values), with
    /// variables as [`Self::parse`] has them.
    ///
    /// # Errors
    /// [`PatternError::UnclosedVariable`].
    pub fn literal(text: &str, variables: bool, ignore_case: bool) -> Result<Self, PatternError> {
        Self::parse_with(text, variables, ignore_case, false)
    }

    fn parse_with(
        text: &str,
        variables: bool,
        ignore_case: bool,
        wildcards: bool,
    ) -> Result<Self, PatternError> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if variables && rest.starts_with("${") {
                let end = rest.find('}').ok_or(PatternError::UnclosedVariable)?;
                let name = &rest[2..end];
                match name {
                    "" => return Err(PatternError::UnclosedVariable),
                    "*" | "?" | "$" => literal.push_str(name),
                    _ => {
                        flush(&mut tokens, &mut literal);
                        tokens.push(Token::Variable(name.to_ascii_lowercase()));
                    }
                }
                rest = &rest[end.saturating_add(1)..];
                continue;
            }
            match c {
                '*' | '?' if !wildcards => literal.push(c),
                '*' => {
                    flush(&mut tokens, &mut literal);
                    // `**` is `*`.
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => {
                    flush(&mut tokens, &mut literal);
                    tokens.push(Token::One);
                }
                _ => literal.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        flush(&mut tokens, &mut literal);
        Ok(Pattern {
            tokens,
            ignore_case,
        })
    }

    /// Whether the pattern is `*` alone.
    #[must_use]
    pub fn is_any(&self) -> bool {
        self.tokens == [Token::Star]
    }

    /// Whether the pattern has policy variables.
    #[must_use]
    pub fn has_variables(&self) -> bool {
        self.tokens.iter().any(|t| matches!(t, Token::Variable(_)))
    }

    /// Whether `text` matches, variables taken from `variable` (None: the
    /// request has no such value, and nothing matches).
    pub fn matches<'v>(&self, text: &str, variable: impl Fn(&str) -> Option<Cow<'v, str>>) -> bool {
        // Most patterns start with text (`arn:aws:s3:::bucket/`): most
        // mismatches are decided there, before any variable is looked up.
        if let Some(Token::Literal(head)) = self.tokens.first() {
            if !starts_with(text, head, self.ignore_case) {
                return false;
            }
        }
        if !self.has_variables() {
            let mut pieces = [Piece::Star; 8];
            if self.tokens.len() <= pieces.len() {
                for (p, t) in pieces.iter_mut().zip(&self.tokens) {
                    *p = piece(t);
                }
                return glob(&pieces[..self.tokens.len()], text, self.ignore_case);
            }
            let pieces: Vec<Piece<'_>> = self.tokens.iter().map(piece).collect();
            return glob(&pieces, text, self.ignore_case);
        }
        // Resolve variables first: pieces are then literals and wildcards.
        let mut values = Vec::new();
        for t in &self.tokens {
            if let Token::Variable(k) = t {
                match variable(k) {
                    Some(v) => values.push(v),
                    None => return false,
                }
            }
        }
        let mut values = values.iter();
        let pieces: Vec<Piece<'_>> = self
            .tokens
            .iter()
            .map(|t| match t {
                Token::Variable(_) => Piece::Literal(values.next().map_or("", |v| v.as_ref())),
                other => piece(other),
            })
            .collect();
        glob(&pieces, text, self.ignore_case)
    }

    /// The pattern as text, for messages.
    #[must_use]
    pub fn text(&self) -> String {
        self.tokens
            .iter()
            .map(|t| match t {
                Token::Literal(l) => l.clone(),
                Token::Star => "*".into(),
                Token::One => "?".into(),
                Token::Variable(k) => format!("${{{k}}}"),
            })
            .collect()
    }
}

fn piece(t: &Token) -> Piece<'_> {
    match t {
        Token::Literal(l) => Piece::Literal(l),
        Token::Star => Piece::Star,
        Token::One => Piece::One,
        // Resolved by the caller.
        Token::Variable(_) => Piece::Literal(""),
    }
}

fn flush(tokens: &mut Vec<Token>, literal: &mut String) {
    if !literal.is_empty() {
        tokens.push(Token::Literal(std::mem::take(literal)));
    }
}

#[derive(Debug, Clone, Copy)]
enum Piece<'a> {
    Literal(&'a str),
    Star,
    One,
}

fn starts_with(text: &str, prefix: &str, ignore_case: bool) -> bool {
    if ignore_case {
        text.len() >= prefix.len()
            && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    } else {
        text.starts_with(prefix)
    }
}

/// The length of the character at `at` of `text` (at < len).
fn char_len(text: &str, at: usize) -> usize {
    text[at..].chars().next().map_or(1, char::len_utf8)
}

/// Greedy matching with backtracking to the last `*`: linear in practice,
/// O(pattern x text) at worst, never exponential.
fn glob(pieces: &[Piece<'_>], text: &str, ignore_case: bool) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    // The last star seen: the piece after it, and where in the text the
    // star's run ends so far.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(piece) = pieces.get(p) {
            match *piece {
                Piece::Star => {
                    p = p.saturating_add(1);
                    star = Some((p, s));
                    continue;
                }
                Piece::One if s < text.len() => {
                    s = s.saturating_add(char_len(text, s));
                    p = p.saturating_add(1);
                    continue;
                }
                Piece::Literal(l) if starts_with(&text[s..], l, ignore_case) => {
                    s = s.saturating_add(l.len());
                    p = p.saturating_add(1);
                    continue;
                }
                _ => {}
            }
        } else if s == text.len() {
            return true;
        }
        // Mismatch: let the last star take one more character.
        match star {
            Some((after, end)) if end < text.len() => {
                let end = end.saturating_add(char_len(text, end));
                star = Some((after, end));
                p = after;
                s = end;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Pattern::parse(pattern, true, false)
            .unwrap()
            .matches(text, |k| {
                (k == "aws:username").then_some(Cow::Borrowed("al*ce"))
            })
    }

    #[test]
    fn wildcards() {
        assert!(m("*", ""));
        assert!(m("*", "arn:aws:s3:::b/k"));
        assert!(m("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c"));
        assert!(!m("arn:aws:s3:::b/*", "arn:aws:s3:::b"));
        assert!(m("arn:aws:s3:::b*", "arn:aws:s3:::b"));
        assert!(m("a?c", "abc"));
        assert!(m("a?c", "aéc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("a*a*a*a*b", &format!("{}b", "a".repeat(200))));
        assert!(!m("a*a*a*a*b", &"a".repeat(200)));
        assert!(!m("abc", "ABC"));
        let actions = Pattern::parse("s3:Get*", false, true).unwrap();
        assert!(actions.matches("s3:getobject", |_| None));
        assert!(actions.matches("S3:GETOBJECT", |_| None));
        assert!(!actions.matches("s3:PutObject", |_| None));
    }

    #[test]
    fn variables() {
        assert!(m(
            "arn:aws:s3:::home/${aws:username}/*",
            "arn:aws:s3:::home/al*ce/x"
        ));
        // The value's `*` is literal.
        assert!(!m(
            "arn:aws:s3:::home/${aws:username}/*",
            "arn:aws:s3:::home/alice/x"
        ));
        assert!(!m("${aws:userid}", "anything"));
        assert!(m("a${*}b${?}${$}", "a*b?$"));
        assert!(m("${AWS:UserName}", "al*ce"));
        assert_eq!(
            Pattern::parse("${aws:username", true, false),
            Err(PatternError::UnclosedVariable)
        );
        // In 2008-10-17 policies `${...}` is text.
        let old = Pattern::parse("${aws:username}", false, false).unwrap();
        assert!(old.matches("${aws:username}", |_| Some(Cow::Borrowed("x"))));
        let eq = Pattern::literal("a*?", true, false).unwrap();
        assert!(eq.matches("a*?", |_| None));
        assert!(!eq.matches("abc", |_| None));
    }
}
