//! The SCIM filter parser (RFC 7644 §3.4.2.2) into the contract's filter AST, and the parsers of
//! attribute paths (`sortBy`, `attributes`) and PATCH paths (RFC 7644 §3.5.2).
//!
//! A small hand-written lexer feeds a recursive-descent parser. Limits are checked before any
//! work: the input length first, then the nesting depth on the way down, so no input can make the
//! parser recurse more than [`MAX_FILTER_DEPTH`] levels. Depth counts a comparison or `pr` as one
//! level and adds one for each enclosing `(...)`, `not (...)` (one level, not two), `attr[...]` and
//! `and`/`or` list; without redundant parentheses this is exactly the AST depth the core accepts
//! (32 levels), with them it is stricter. Error details name the problem and the
//! 0-based byte position in the input, and never echo more than [`excerpt`] of it.
//!
//! Grammar accepted (RFC 7644 Figure 1, with the leniencies noted):
//!
//! ```text
//! filter    = orExp
//! orExp     = andExp *("or" andExp)            ; `and` binds tighter than `or`
//! andExp    = unary *("and" unary)
//! unary     = "not" "(" orExp ")"              ; `not(` and `not (` both accepted
//!           / "(" orExp ")"
//!           / attrPath "[" valFilter "]"       ; value path (not inside another one)
//!           / attrPath "pr"
//!           / attrPath compareOp compValue
//! valFilter = orExp whose attribute paths are bare sub-attribute names of one element
//! compValue = "true" / "false" / "null" / JSON number / JSON string
//! attrPath  = ["urn:" ... ":"] ATTRNAME ["." ATTRNAME]   ; schema = text before the last ':'
//! ATTRNAME  = ALPHA *("-" / "_" / DIGIT / ALPHA) / "$ref"
//! ```
//!
//! Keywords, operators and `true`/`false`/`null` are case-insensitive. Whitespace is any run of
//! ASCII spaces, tabs, CRs and LFs (the RFC has single spaces) and is optional next to `(`, `)`,
//! `[`, `]` and strings (so `not(a pr)`, `a eq"x"` and `emails [type pr]` parse).

use super::error::{ScimError, ScimResult, excerpt};
use super::path::{AttrPath, PatchPath};
use roster::pb;
use roster::pb::CompareOp;
use roster::pb::filter::Node;
use roster::pb::filter_value::Kind as ValueKind;

/// Longest filter accepted, in bytes; longer ones are refused before parsing.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not`, `and`/`or` and value paths.
pub const MAX_FILTER_DEPTH: usize = 32;

/// Parses a filter (the `filter` query parameter or the `filter` of a search request).
///
/// Every error is `invalidFilter`. `and`/`or` chains become one [`pb::FilterList`] each (a run of
/// the same operator is flattened; parenthesised groups are kept as they are written). Strings,
/// dates included, become `StringValue`; numbers become `NumberValue`.
pub fn parse_filter(input: &str) -> ScimResult<pb::Filter> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "filter is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    if input.trim_matches(is_space).is_empty() {
        return Err(ScimError::invalid_filter("filter is empty"));
    }
    parse_filter_inner(input).map_err(|error| ScimError::invalid_filter(error.0))
}

/// Parses an attribute path: `[schema-urn:]attribute[.subAttribute]` (for `sortBy` and the entries
/// of `attributes`/`excludedAttributes`). Surrounding whitespace is ignored; errors are
/// `invalidPath`.
pub fn parse_attr_path(input: &str) -> ScimResult<AttrPath> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_path(format!(
            "attribute path is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    let trimmed = input.trim_start_matches(is_space);
    let start = input.len() - trimmed.len();
    let trimmed = trimmed.trim_end_matches(is_space);
    if trimmed.is_empty() {
        return Err(ScimError::invalid_path("attribute path is empty"));
    }
    if let Some((offset, found)) = trimmed
        .char_indices()
        .find(|(_, found)| is_space(*found) || is_delimiter(*found))
    {
        return Err(ScimError::invalid_path(format!(
            "unexpected {} at position {} in an attribute path",
            describe_char(found),
            start + offset
        )));
    }
    split_path(trimmed, start).map_err(|error| ScimError::invalid_path(error.0))
}

/// Parses a PATCH `path` (RFC 7644 §3.5.2): `attrPath`, or `attrPath[valFilter]` optionally
/// followed by `.subAttr`. Surrounding whitespace is ignored.
///
/// Every error is `invalidPath`, including a malformed filter inside the brackets (the detail says
/// so), since RFC 7644 §3.5.2 defines `invalidPath` for a malformed `path`.
pub fn parse_patch_path(input: &str) -> ScimResult<PatchPath> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_path(format!(
            "path is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    if input.trim_matches(is_space).is_empty() {
        return Err(ScimError::invalid_path("path is empty"));
    }
    parse_patch_path_inner(input).map_err(|error| ScimError::invalid_path(error.0))
}

/// A parse failure; the message becomes the SCIM error's detail.
#[derive(Debug)]
struct ParseError(String);

type Parsed<T> = Result<T, ParseError>;

fn fail<T>(message: impl Into<String>) -> Parsed<T> {
    Err(ParseError(message.into()))
}

fn too_deep() -> ParseError {
    ParseError(format!(
        "filter is nested deeper than {MAX_FILTER_DEPTH} levels"
    ))
}

fn is_space(found: char) -> bool {
    matches!(found, ' ' | '\t' | '\r' | '\n')
}

fn is_delimiter(found: char) -> bool {
    matches!(found, '(' | ')' | '[' | ']' | '"')
}

fn describe_char(found: char) -> String {
    if found.is_control() || is_space(found) {
        format!("character U+{:04X}", u32::from(found))
    } else {
        format!("'{found}'")
    }
}

// ----------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A run of characters other than whitespace, brackets and quotes: an attribute path, a
    /// keyword, an operator, a number or `true`/`false`/`null`.
    Word(&'a str),
    /// A JSON string, unescaped.
    Str(String),
}

#[derive(Debug, Clone)]
struct Token<'a> {
    tok: Tok<'a>,
    /// Byte offset of the token's first character.
    start: usize,
    /// Byte offset just past the token.
    end: usize,
}

fn lex(input: &str) -> Parsed<Vec<Token<'_>>> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, found)) = chars.peek() {
        if is_space(found) {
            chars.next();
            continue;
        }
        let simple = match found {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            _ => None,
        };
        if let Some(tok) = simple {
            chars.next();
            tokens.push(Token {
                tok,
                start,
                end: start + 1,
            });
            continue;
        }
        if found == '"' {
            chars.next();
            let (text, end) = lex_string(start, &mut chars)?;
            tokens.push(Token {
                tok: Tok::Str(text),
                start,
                end,
            });
            continue;
        }
        let mut end = input.len();
        while let Some(&(offset, next)) = chars.peek() {
            if is_space(next) || is_delimiter(next) {
                end = offset;
                break;
            }
            chars.next();
        }
        let word = input.get(start..end).unwrap_or_default();
        tokens.push(Token {
            tok: Tok::Word(word),
            start,
            end,
        });
    }
    Ok(tokens)
}

/// Reads a JSON string whose opening quote at `start` was consumed; returns the text and the
/// offset just past the closing quote.
fn lex_string(
    start: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Parsed<(String, usize)> {
    let mut text = String::new();
    while let Some((offset, found)) = chars.next() {
        match found {
            '"' => return Ok((text, offset + 1)),
            '\\' => {
                let Some((_, escape)) = chars.next() else {
                    break;
                };
                let decoded = match escape {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => {
                        let high = lex_hex4(offset, chars)?;
                        match high {
                            0xD800..=0xDBFF => {
                                let low = match (chars.next(), chars.next()) {
                                    (Some((_, '\\')), Some((_, 'u'))) => lex_hex4(offset, chars)?,
                                    _ => {
                                        return fail(format!(
                                            "unpaired surrogate in the \\u escape at position {offset}"
                                        ));
                                    }
                                };
                                if !(0xDC00..=0xDFFF).contains(&low) {
                                    return fail(format!(
                                        "unpaired surrogate in the \\u escape at position {offset}"
                                    ));
                                }
                                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                                char::from_u32(code).ok_or_else(|| {
                                    ParseError(format!("invalid \\u escape at position {offset}"))
                                })?
                            }
                            0xDC00..=0xDFFF => {
                                return fail(format!(
                                    "unpaired surrogate in the \\u escape at position {offset}"
                                ));
                            }
                            _ => char::from_u32(high).ok_or_else(|| {
                                ParseError(format!("invalid \\u escape at position {offset}"))
                            })?,
                        }
                    }
                    other => {
                        return fail(format!(
                            "invalid escape '\\{}' at position {offset}",
                            excerpt(&other.escape_debug().to_string())
                        ));
                    }
                };
                text.push(decoded);
            }
            control if u32::from(control) < 0x20 => {
                return fail(format!(
                    "control character U+{:04X} in a string at position {offset} (escape it)",
                    u32::from(control)
                ));
            }
            other => text.push(other),
        }
    }
    fail(format!("unterminated string starting at position {start}"))
}

/// Reads the four hex digits of a `\u` escape that starts at `escape_at`.
fn lex_hex4(
    escape_at: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Parsed<u32> {
    let mut value = 0u32;
    for _ in 0..4 {
        match chars.next() {
            Some((_, digit)) if digit.is_ascii_hexdigit() => {
                value = value * 16 + digit.to_digit(16).unwrap_or(0);
            }
            _ => return fail(format!("invalid \\u escape at position {escape_at}")),
        }
    }
    Ok(value)
}

// ----------------------------------------------------------------------------------------------
// Attribute paths

/// `ATTRNAME = ALPHA *(nameChar)`, or `$ref`.
fn is_attr_name(name: &str) -> bool {
    if name.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if first.is_ascii_alphabetic() => {
            chars.all(|next| next.is_ascii_alphanumeric() || next == '-' || next == '_')
        }
        _ => false,
    }
}

fn is_urn_char(found: char) -> bool {
    found.is_ascii_alphanumeric()
        || matches!(
            found,
            '-' | '.'
                | '_'
                | '~'
                | '%'
                | '+'
                | '='
                | '@'
                | '!'
                | '$'
                | '\''
                | '*'
                | ','
                | ';'
                | '/'
                | '?'
                | '&'
                | '#'
        )
}

/// Checks an attribute or sub-attribute name found at byte `at`; `what` names it in errors.
fn check_name(name: &str, at: usize, what: &str) -> Parsed<()> {
    if name.is_empty() {
        let article = if what.starts_with('a') { "an" } else { "a" };
        return fail(format!("expected {article} {what} at position {at}"));
    }
    if !is_attr_name(name) {
        return fail(format!(
            "invalid {what} '{}' at position {at}",
            excerpt(name)
        ));
    }
    Ok(())
}

/// Splits `[urn:...:]attr[.sub]` (a word with no whitespace or delimiters) found at byte `at`.
fn split_path(text: &str, at: usize) -> Parsed<AttrPath> {
    let is_urn = text
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("urn:"));
    let (schema, rest, rest_at) = if is_urn {
        // `urn:` has a colon, so rfind always succeeds; the schema is everything before the last.
        let colon = text.rfind(':').unwrap_or(3);
        let schema = text.get(..colon).unwrap_or_default();
        let mut offset = 0;
        for segment in schema.split(':') {
            if segment.is_empty() {
                return fail(format!(
                    "empty segment in the schema URN at position {}",
                    at + offset
                ));
            }
            if let Some((index, found)) = segment.char_indices().find(|(_, c)| !is_urn_char(*c)) {
                return fail(format!(
                    "unexpected {} in the schema URN at position {}",
                    describe_char(found),
                    at + offset + index
                ));
            }
            offset += segment.len() + 1;
        }
        let rest = text.get(colon + 1..).unwrap_or_default();
        (Some(schema.to_owned()), rest, at + colon + 1)
    } else {
        if let Some(colon) = text.find(':') {
            return fail(format!(
                "unexpected ':' at position {} (a schema URN starts with 'urn:')",
                at + colon
            ));
        }
        (None, text, at)
    };
    let (attribute, sub_attribute) = match rest.find('.') {
        Some(dot) => {
            let attribute = rest.get(..dot).unwrap_or_default();
            let sub = rest.get(dot + 1..).unwrap_or_default();
            check_name(attribute, rest_at, "attribute name")?;
            if let Some(second) = sub.find('.') {
                return fail(format!(
                    "unexpected '.' at position {} (a path has at most one sub-attribute)",
                    rest_at + dot + 1 + second
                ));
            }
            check_name(sub, rest_at + dot + 1, "sub-attribute name")?;
            (attribute, Some(sub.to_owned()))
        }
        None => {
            check_name(rest, rest_at, "attribute name")?;
            (rest, None)
        }
    };
    Ok(AttrPath {
        schema,
        attribute: attribute.to_owned(),
        sub_attribute,
    })
}

// ----------------------------------------------------------------------------------------------
// Parser

/// A parsed sub-filter with its height: the nesting levels it spans, counting parentheses.
type Sub = (pb::Filter, usize);

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    next: usize,
    /// Inside `attr[...]`: paths are bare sub-attribute names and value paths may not nest.
    in_value: bool,
}

fn parse_filter_inner(input: &str) -> Parsed<pb::Filter> {
    let mut parser = Parser {
        input,
        tokens: lex(input)?,
        next: 0,
        in_value: false,
    };
    let (filter, _) = parser.or_expr(0)?;
    if let Some(token) = parser.peek() {
        return match token.tok {
            Tok::RParen => fail(format!("unmatched ')' at position {}", token.start)),
            Tok::RBracket => fail(format!("unmatched ']' at position {}", token.start)),
            _ => fail(format!(
                "expected 'and', 'or' or the end of the filter at position {}",
                token.start
            )),
        };
    }
    Ok(filter)
}

fn parse_patch_path_inner(input: &str) -> Parsed<PatchPath> {
    let mut parser = Parser {
        input,
        tokens: lex(input)?,
        next: 0,
        in_value: false,
    };
    let Some(first) = parser.peek().cloned() else {
        return fail("path is empty");
    };
    let Tok::Word(word) = first.tok else {
        return fail(format!(
            "expected an attribute path at position {}",
            first.start
        ));
    };
    let attr = split_path(word, first.start)?;
    parser.advance();
    let Some(token) = parser.peek().cloned() else {
        return Ok(PatchPath {
            attr,
            filter: None,
            sub_attribute: None,
        });
    };
    if token.tok != Tok::LBracket {
        return fail(format!(
            "expected '[' or the end of the path at position {}",
            token.start
        ));
    }
    if attr.sub_attribute.is_some() {
        return fail(format!(
            "a value filter applies to a multi-valued attribute, not a sub-attribute (position {})",
            token.start
        ));
    }
    parser.advance();
    parser.in_value = true;
    let (filter, _) = parser
        .or_expr(1)
        .map_err(|error| ParseError(format!("invalid filter in the path: {}", error.0)))?;
    let close = parser.expect_close(Tok::RBracket, token.start)?;
    let mut sub_attribute = None;
    if let Some(after) = parser.peek().cloned() {
        match after.tok {
            Tok::Word(word) if after.start == close && word.starts_with('.') => {
                let name = word.get(1..).unwrap_or_default();
                if let Some(dot) = name.find('.') {
                    return fail(format!(
                        "unexpected '.' at position {} (a path has at most one sub-attribute)",
                        after.start + 1 + dot
                    ));
                }
                check_name(name, after.start + 1, "sub-attribute name")?;
                sub_attribute = Some(name.to_owned());
                parser.advance();
            }
            _ => {
                return fail(format!(
                    "expected '.subAttribute' or the end of the path at position {}",
                    after.start
                ));
            }
        }
    }
    if let Some(extra) = parser.peek() {
        return fail(format!(
            "expected the end of the path at position {}",
            extra.start
        ));
    }
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub_attribute,
    })
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.next)
    }

    fn advance(&mut self) {
        self.next += 1;
    }

    /// Position of the next token, or the end of the input.
    fn here(&self) -> usize {
        self.peek().map_or(self.input.len(), |token| token.start)
    }

    /// `at position N`, noting the end of the input.
    fn at_here(&self) -> String {
        match self.peek() {
            Some(token) => format!("at position {}", token.start),
            None => format!("at position {} (end of input)", self.input.len()),
        }
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(word), .. }) if word.eq_ignore_ascii_case(keyword))
    }

    /// Refuses to open one more level below `depth` enclosing levels.
    fn enter(depth: usize) -> Parsed<usize> {
        // The opened construct holds at least one leaf, which would sit at level `depth + 2`.
        if depth + 2 > MAX_FILTER_DEPTH {
            return Err(too_deep());
        }
        Ok(depth + 1)
    }

    /// Checks a finished sub-filter of height `height` under `depth` enclosing levels.
    fn bounded(depth: usize, filter: pb::Filter, height: usize) -> Parsed<Sub> {
        if depth + height > MAX_FILTER_DEPTH {
            return Err(too_deep());
        }
        Ok((filter, height))
    }

    /// Consumes the closing `)`/`]` of a group opened at `opened_at`; returns the offset past it.
    fn expect_close(&mut self, close: Tok<'static>, opened_at: usize) -> Parsed<usize> {
        let (symbol, open) = if close == Tok::RParen {
            (')', '(')
        } else {
            (']', '[')
        };
        match self.peek() {
            Some(token) if token.tok == close => {
                let end = token.end;
                self.advance();
                Ok(end)
            }
            Some(token) if matches!(token.tok, Tok::RParen | Tok::RBracket) => fail(format!(
                "expected '{symbol}' to close the '{open}' at position {opened_at}, found a mismatched bracket at position {}",
                token.start
            )),
            Some(token) => fail(format!(
                "expected 'and', 'or' or '{symbol}' (closing the '{open}' at position {opened_at}) at position {}",
                token.start
            )),
            None => fail(format!(
                "missing '{symbol}' to close the '{open}' at position {opened_at}"
            )),
        }
    }

    /// `andExp *("or" andExp)`.
    fn or_expr(&mut self, depth: usize) -> Parsed<Sub> {
        self.list_expr(depth, "or")
    }

    /// `unary *("and" unary)`.
    fn and_expr(&mut self, depth: usize) -> Parsed<Sub> {
        self.list_expr(depth, "and")
    }

    fn list_expr(&mut self, depth: usize, keyword: &str) -> Parsed<Sub> {
        let operand = |parser: &mut Self| {
            if keyword == "or" {
                parser.and_expr(depth)
            } else {
                parser.unary(depth)
            }
        };
        let (first, first_height) = operand(self)?;
        if !self.peek_keyword(keyword) {
            return Ok((first, first_height));
        }
        let mut filters = vec![first];
        let mut height = first_height;
        while self.peek_keyword(keyword) {
            self.advance();
            let (next, next_height) = operand(self)?;
            height = height.max(next_height);
            // The list adds a level above its operands.
            if depth + height + 1 > MAX_FILTER_DEPTH {
                return Err(too_deep());
            }
            filters.push(next);
        }
        let list = pb::FilterList { filters };
        let node = if keyword == "or" {
            Node::Or(list)
        } else {
            Node::And(list)
        };
        Self::bounded(depth, pb::Filter { node: Some(node) }, height + 1)
    }

    /// `not (...)`, `(...)`, a value path or an attribute expression.
    fn unary(&mut self, depth: usize) -> Parsed<Sub> {
        let Some(token) = self.peek().cloned() else {
            return fail(format!(
                "expected an attribute path, '(' or 'not' {}",
                self.at_here()
            ));
        };
        match token.tok {
            Tok::LParen => {
                let inner = Self::enter(depth)?;
                self.advance();
                let (filter, height) = self.or_expr(inner)?;
                self.expect_close(Tok::RParen, token.start)?;
                Self::bounded(depth, filter, height + 1)
            }
            Tok::Word(word) if word.eq_ignore_ascii_case("not") => {
                let inner = Self::enter(depth)?;
                self.advance();
                let Some(open) = self.peek().cloned().filter(|open| open.tok == Tok::LParen) else {
                    return fail(format!("expected '(' after 'not' {}", self.at_here()));
                };
                self.advance();
                let (filter, height) = self.or_expr(inner)?;
                self.expect_close(Tok::RParen, open.start)?;
                let node = Node::Not(Box::new(filter));
                Self::bounded(depth, pb::Filter { node: Some(node) }, height + 1)
            }
            Tok::Word(word) => self.attr_expr(depth, word, token.start),
            Tok::Str(_) => fail(format!(
                "expected an attribute path at position {}, found a string",
                token.start
            )),
            Tok::RParen => fail(format!(
                "expected an attribute path, '(' or 'not' at position {}, found ')'",
                token.start
            )),
            Tok::RBracket => fail(format!(
                "expected an attribute path, '(' or 'not' at position {}, found ']'",
                token.start
            )),
            Tok::LBracket => fail(format!(
                "unexpected '[' at position {} (a value filter follows an attribute name)",
                token.start
            )),
        }
    }

    /// `attrPath pr`, `attrPath op value` or `attrPath[valFilter]`; the path word is next.
    fn attr_expr(&mut self, depth: usize, word: &'a str, at: usize) -> Parsed<Sub> {
        let path = split_path(word, at)?;
        if self.in_value && (path.schema.is_some() || path.sub_attribute.is_some()) {
            return fail(format!(
                "inside [...], name a sub-attribute of the element, not '{}' (position {at})",
                excerpt(word)
            ));
        }
        self.advance();
        let Some(token) = self.peek().cloned() else {
            return fail(format!("expected an operator {}", self.at_here()));
        };
        match token.tok {
            Tok::LBracket => {
                if self.in_value {
                    return fail(format!(
                        "value paths cannot be nested (position {})",
                        token.start
                    ));
                }
                if path.sub_attribute.is_some() {
                    return fail(format!(
                        "a value filter applies to a multi-valued attribute, not a sub-attribute (position {})",
                        token.start
                    ));
                }
                let inner = Self::enter(depth)?;
                self.advance();
                self.in_value = true;
                let result = self.or_expr(inner);
                self.in_value = false;
                let (mut filter, mut height) = result?;
                self.expect_close(Tok::RBracket, token.start)?;
                // Entra matches with `emails[type eq "work"].value eq "x"`: a comparison on one
                // sub-attribute of the same element, which is the value filter's `and`.
                if let Some(Tok::Word(next)) = self.peek().map(|next| next.tok.clone())
                    && let Some(sub) = next.strip_prefix('.')
                {
                    let at = self.here() + 1;
                    self.in_value = true;
                    let result = self.attr_expr(inner, sub, at);
                    self.in_value = false;
                    let (condition, condition_height) = result?;
                    let node = Node::And(pb::FilterList {
                        filters: vec![filter, condition],
                    });
                    height = height.max(condition_height) + 1;
                    filter = Self::bounded(inner, pb::Filter { node: Some(node) }, height)?.0;
                }
                let node = Node::ValuePath(Box::new(pb::ValuePathFilter {
                    path: Some(path.to_pb()),
                    filter: Some(Box::new(filter)),
                }));
                Self::bounded(depth, pb::Filter { node: Some(node) }, height + 1)
            }
            Tok::Word(operator) => {
                let op = match operator.to_ascii_lowercase().as_str() {
                    "pr" => {
                        self.advance();
                        let node = Node::Present(path.to_pb());
                        return Self::bounded(depth, pb::Filter { node: Some(node) }, 1);
                    }
                    "eq" => CompareOp::Eq,
                    "ne" => CompareOp::Ne,
                    "co" => CompareOp::Co,
                    "sw" => CompareOp::Sw,
                    "ew" => CompareOp::Ew,
                    "gt" => CompareOp::Gt,
                    "ge" => CompareOp::Ge,
                    "lt" => CompareOp::Lt,
                    "le" => CompareOp::Le,
                    _ => {
                        return fail(format!(
                            "unknown operator '{}' at position {}",
                            excerpt(operator),
                            token.start
                        ));
                    }
                };
                self.advance();
                let value = self.comp_value()?;
                let node = Node::Compare(pb::Comparison {
                    path: Some(path.to_pb()),
                    op: op as i32,
                    value: Some(pb::FilterValue { kind: Some(value) }),
                });
                Self::bounded(depth, pb::Filter { node: Some(node) }, 1)
            }
            _ => fail(format!("expected an operator {}", self.at_here())),
        }
    }

    /// `true` / `false` / `null` / a JSON number / a JSON string.
    fn comp_value(&mut self) -> Parsed<ValueKind> {
        let Some(token) = self.peek().cloned() else {
            return fail(format!("expected a value {}", self.at_here()));
        };
        let value = match token.tok {
            Tok::Str(text) => ValueKind::StringValue(text),
            Tok::Word(word) if word.eq_ignore_ascii_case("true") => ValueKind::BoolValue(true),
            Tok::Word(word) if word.eq_ignore_ascii_case("false") => ValueKind::BoolValue(false),
            Tok::Word(word) if word.eq_ignore_ascii_case("null") => ValueKind::NullValue(true),
            Tok::Word(word) => ValueKind::NumberValue(parse_number(word, token.start)?),
            _ => return fail(format!("expected a value at position {}", self.here())),
        };
        self.advance();
        Ok(value)
    }
}

/// A JSON number (RFC 8259 §6): `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn parse_number(word: &str, at: usize) -> Parsed<f64> {
    let invalid = || {
        ParseError(format!(
            "invalid value '{}' at position {at} (strings must be quoted; values are a string, a number, true, false or null)",
            excerpt(word)
        ))
    };
    let bytes = word.as_bytes();
    let mut index = 0;
    let digits = |index: &mut usize| {
        let begin = *index;
        while bytes.get(*index).is_some_and(u8::is_ascii_digit) {
            *index += 1;
        }
        *index - begin
    };
    if bytes.get(index) == Some(&b'-') {
        index += 1;
    }
    match bytes.get(index) {
        Some(b'0') => index += 1,
        Some(b'1'..=b'9') => {
            digits(&mut index);
        }
        _ => return Err(invalid()),
    }
    if bytes.get(index) == Some(&b'.') {
        index += 1;
        if digits(&mut index) == 0 {
            return Err(invalid());
        }
    }
    if matches!(bytes.get(index), Some(b'e' | b'E')) {
        index += 1;
        if matches!(bytes.get(index), Some(b'+' | b'-')) {
            index += 1;
        }
        if digits(&mut index) == 0 {
            return Err(invalid());
        }
    }
    if index != bytes.len() {
        return Err(invalid());
    }
    match word.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(number),
        _ => fail(format!(
            "number '{}' at position {at} is out of range",
            excerpt(word)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    // ------------------------------------------------------------------------------------------
    // Builders and helpers

    fn path(attribute: &str, sub: &str) -> pb::AttributePath {
        schema_path("", attribute, sub)
    }

    fn schema_path(schema: &str, attribute: &str, sub: &str) -> pb::AttributePath {
        pb::AttributePath {
            schema: schema.into(),
            attribute: attribute.into(),
            sub_attribute: sub.into(),
        }
    }

    fn node(node: Node) -> pb::Filter {
        pb::Filter { node: Some(node) }
    }

    fn cmp(path: pb::AttributePath, op: CompareOp, value: ValueKind) -> pb::Filter {
        node(Node::Compare(pb::Comparison {
            path: Some(path),
            op: op as i32,
            value: Some(pb::FilterValue { kind: Some(value) }),
        }))
    }

    fn text(value: &str) -> ValueKind {
        ValueKind::StringValue(value.into())
    }

    fn num(value: f64) -> ValueKind {
        ValueKind::NumberValue(value)
    }

    /// `attribute[.sub] op "value"`.
    fn op_str(attribute: &str, op: CompareOp, value: &str) -> pb::Filter {
        let (attribute, sub) = attribute.split_once('.').unwrap_or((attribute, ""));
        cmp(path(attribute, sub), op, text(value))
    }

    fn eq_str(attribute: &str, value: &str) -> pb::Filter {
        op_str(attribute, CompareOp::Eq, value)
    }

    fn eq_num(attribute: &str, value: f64) -> pb::Filter {
        cmp(path(attribute, ""), CompareOp::Eq, num(value))
    }

    fn pr(attribute: &str) -> pb::Filter {
        let (attribute, sub) = attribute.split_once('.').unwrap_or((attribute, ""));
        node(Node::Present(path(attribute, sub)))
    }

    fn and(filters: Vec<pb::Filter>) -> pb::Filter {
        node(Node::And(pb::FilterList { filters }))
    }

    fn or(filters: Vec<pb::Filter>) -> pb::Filter {
        node(Node::Or(pb::FilterList { filters }))
    }

    fn not(filter: pb::Filter) -> pb::Filter {
        node(Node::Not(Box::new(filter)))
    }

    fn value_path(attribute: &str, filter: pb::Filter) -> pb::Filter {
        node(Node::ValuePath(Box::new(pb::ValuePathFilter {
            path: Some(path(attribute, "")),
            filter: Some(Box::new(filter)),
        })))
    }

    #[track_caller]
    fn ok(input: &str) -> pb::Filter {
        match parse_filter(input) {
            Ok(filter) => filter,
            Err(error) => panic!("{input:?} failed: {}", error.detail),
        }
    }

    /// Parses `input`, expecting an `invalidFilter` error; returns its detail.
    #[track_caller]
    fn err(input: &str) -> String {
        match parse_filter(input) {
            Ok(filter) => panic!("{input:?} parsed as {filter:?}"),
            Err(error) => {
                assert_eq!(error.status, StatusCode::BAD_REQUEST, "{input:?}");
                assert_eq!(error.scim_type, Some("invalidFilter"), "{input:?}");
                error.detail
            }
        }
    }

    #[track_caller]
    fn err_contains(input: &str, needle: &str) {
        let detail = err(input);
        assert!(
            detail.contains(needle),
            "{input:?}: {detail:?} lacks {needle:?}"
        );
    }

    #[track_caller]
    fn path_err(result: ScimResult<impl std::fmt::Debug>) -> String {
        match result {
            Ok(value) => panic!("expected an error, got {value:?}"),
            Err(error) => {
                assert_eq!(error.status, StatusCode::BAD_REQUEST);
                assert_eq!(error.scim_type, Some("invalidPath"));
                error.detail
            }
        }
    }

    /// Levels of the AST (a leaf is 1), as the core counts them plus one.
    fn height(filter: &pb::Filter) -> usize {
        match &filter.node {
            None => 1,
            Some(Node::And(list) | Node::Or(list)) => {
                1 + list.filters.iter().map(height).max().unwrap_or(0)
            }
            Some(Node::Not(inner)) => 1 + height(inner),
            Some(Node::ValuePath(value_path)) => 1 + value_path.filter.as_deref().map_or(0, height),
            Some(Node::Compare(_) | Node::Present(_)) => 1,
        }
    }

    // ------------------------------------------------------------------------------------------
    // Operators and values

    #[test]
    fn every_comparison_operator() {
        let ops = [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ];
        for (name, op) in ops {
            for spelled in [name.to_owned(), name.to_ascii_uppercase(), {
                let mut mixed = name.to_owned();
                mixed[..1].make_ascii_uppercase();
                mixed
            }] {
                let filter = ok(&format!("userName {spelled} \"bjensen\""));
                assert_eq!(filter, op_str("userName", op, "bjensen"), "{spelled}");
            }
        }
    }

    #[test]
    fn present_operator() {
        assert_eq!(ok("title pr"), pr("title"));
        assert_eq!(ok("title PR"), pr("title"));
        assert_eq!(ok("title Pr"), pr("title"));
        assert_eq!(ok("name.givenName pr"), pr("name.givenName"));
    }

    #[test]
    fn sub_attribute_comparisons_stay_comparisons() {
        assert_eq!(
            ok("emails.value eq \"x\""),
            cmp(path("emails", "value"), CompareOp::Eq, text("x"))
        );
        assert_eq!(
            ok("name.familyName co \"O'Malley\""),
            cmp(path("name", "familyName"), CompareOp::Co, text("O'Malley"))
        );
    }

    #[test]
    fn booleans_and_null_are_case_insensitive() {
        assert_eq!(
            ok("active eq true"),
            cmp(
                path("active", ""),
                CompareOp::Eq,
                ValueKind::BoolValue(true)
            )
        );
        assert_eq!(
            ok("active eq FALSE"),
            cmp(
                path("active", ""),
                CompareOp::Eq,
                ValueKind::BoolValue(false)
            )
        );
        assert_eq!(
            ok("active ne True"),
            cmp(
                path("active", ""),
                CompareOp::Ne,
                ValueKind::BoolValue(true)
            )
        );
        assert_eq!(
            ok("title eq null"),
            cmp(path("title", ""), CompareOp::Eq, ValueKind::NullValue(true))
        );
        assert_eq!(
            ok("title ne NULL"),
            cmp(path("title", ""), CompareOp::Ne, ValueKind::NullValue(true))
        );
        // Quoted, they are strings.
        assert_eq!(ok("title eq \"true\""), eq_str("title", "true"));
        assert_eq!(ok("title eq \"null\""), eq_str("title", "null"));
    }

    #[test]
    fn json_numbers() {
        let cases = [
            ("0", 0.0),
            ("-0", 0.0),
            ("1", 1.0),
            ("42", 42.0),
            ("-7", -7.0),
            ("1.5", 1.5),
            ("-0.25", -0.25),
            ("1e3", 1000.0),
            ("1E3", 1000.0),
            ("2.5e-1", 0.25),
            ("-1.5E+2", -150.0),
            ("123456789012", 123_456_789_012.0),
        ];
        for (written, value) in cases {
            assert_eq!(
                ok(&format!("age gt {written}")),
                cmp(path("age", ""), CompareOp::Gt, num(value)),
                "{written}"
            );
        }
    }

    #[test]
    fn malformed_numbers_and_bare_words_are_refused() {
        for bad in [
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "1e+",
            "0x10",
            "1.2.3",
            "--1",
            "-",
            "abc",
            "NaN",
            "Infinity",
            "1_000",
            "2011-05-13T04:42:34Z",
        ] {
            err_contains(&format!("age eq {bad}"), "invalid value");
        }
        err_contains("age eq 1e999", "out of range");
        err_contains("age eq -1e400", "out of range");
        // The position of the bad value is reported.
        err_contains("age eq abc", "at position 7");
    }

    #[test]
    fn string_escapes() {
        assert_eq!(ok(r#"title eq "a\"b""#), eq_str("title", "a\"b"));
        assert_eq!(ok(r#"title eq "\u00e9""#), eq_str("title", "é"));
        assert_eq!(ok(r#"title eq "\u00E9t\u00e9""#), eq_str("title", "été"));
        assert_eq!(
            ok(r#"title eq "\\ \/ \b \f \n \r \t""#),
            eq_str("title", "\\ / \u{8} \u{c} \n \r \t")
        );
        assert_eq!(ok(r#"title eq "\uD83D\uDE00""#), eq_str("title", "😀"));
        assert_eq!(ok(r#"title eq "\ud83d\ude00!""#), eq_str("title", "😀!"));
        assert_eq!(ok(r#"title eq """#), eq_str("title", ""));
        assert_eq!(
            ok("title eq \"héllo wörld ✓\""),
            eq_str("title", "héllo wörld ✓")
        );
        // Brackets, keywords and quotes inside strings are plain text.
        assert_eq!(
            ok(r#"title eq "(a) [b] and or not \"c\"""#),
            eq_str("title", "(a) [b] and or not \"c\"")
        );
    }

    #[test]
    fn bad_escapes_are_refused() {
        err_contains(r#"title eq "\x""#, "invalid escape '\\x' at position 10");
        err_contains(r#"title eq "\u12""#, "invalid \\u escape at position 10");
        err_contains(r#"title eq "\u12g4""#, "invalid \\u escape");
        err_contains(r#"title eq "\uD83D""#, "unpaired surrogate");
        err_contains(r#"title eq "\uD83Dx""#, "unpaired surrogate");
        err_contains(r#"title eq "\uD83D\u0041""#, "unpaired surrogate");
        err_contains(r#"title eq "\uDE00""#, "unpaired surrogate");
        err_contains("title eq \"a\tb\"", "control character U+0009");
        err_contains(
            r#"title eq "abc\"#,
            "unterminated string starting at position 9",
        );
        err_contains(r#"title eq "\u"#, "invalid \\u escape");
        err_contains("title eq \"\\é\"", "invalid escape");
    }

    // ------------------------------------------------------------------------------------------
    // Logical structure

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            ok("a eq 1 or b eq 2 and c eq 3"),
            or(vec![
                eq_num("a", 1.0),
                and(vec![eq_num("b", 2.0), eq_num("c", 3.0)])
            ])
        );
        assert_eq!(
            ok("a eq 1 and b eq 2 or c eq 3"),
            or(vec![
                and(vec![eq_num("a", 1.0), eq_num("b", 2.0)]),
                eq_num("c", 3.0)
            ])
        );
        assert_eq!(
            ok("a pr or b pr and c pr or d pr"),
            or(vec![pr("a"), and(vec![pr("b"), pr("c")]), pr("d")])
        );
    }

    #[test]
    fn same_operator_runs_are_flattened() {
        assert_eq!(
            ok("a pr and b pr and c pr"),
            and(vec![pr("a"), pr("b"), pr("c")])
        );
        assert_eq!(
            ok("a pr or b pr or c pr or d pr"),
            or(vec![pr("a"), pr("b"), pr("c"), pr("d")])
        );
        // Parenthesised groups are kept as written.
        assert_eq!(
            ok("(a pr and b pr) and c pr"),
            and(vec![and(vec![pr("a"), pr("b")]), pr("c")])
        );
    }

    #[test]
    fn parentheses_group() {
        assert_eq!(
            ok("(a eq 1 or b eq 2) and c eq 3"),
            and(vec![
                or(vec![eq_num("a", 1.0), eq_num("b", 2.0)]),
                eq_num("c", 3.0)
            ])
        );
        assert_eq!(
            ok("a pr and (b pr or c pr)"),
            and(vec![pr("a"), or(vec![pr("b"), pr("c")])])
        );
        assert_eq!(ok("((a pr))"), pr("a"));
        assert_eq!(ok("(a pr)"), pr("a"));
        assert_eq!(ok("( a pr )"), pr("a"));
        assert_eq!(ok("(a pr)or(b pr)"), or(vec![pr("a"), pr("b")]));
    }

    #[test]
    fn not_negates_a_parenthesised_filter() {
        assert_eq!(ok("not (a pr)"), not(pr("a")));
        assert_eq!(ok("not(a pr)"), not(pr("a")));
        assert_eq!(ok("NOT (a pr)"), not(pr("a")));
        assert_eq!(ok("Not (a pr or b pr)"), not(or(vec![pr("a"), pr("b")])));
        assert_eq!(ok("not (not (a pr))"), not(not(pr("a"))));
        // `not` binds tighter than `and`.
        assert_eq!(ok("not (a pr) and b pr"), and(vec![not(pr("a")), pr("b")]));
        assert_eq!(ok("b pr or not (a pr)"), or(vec![pr("b"), not(pr("a"))]));
    }

    #[test]
    fn not_needs_parentheses() {
        err_contains("not a pr", "expected '(' after 'not' at position 4");
        err_contains(
            "not",
            "expected '(' after 'not' at position 3 (end of input)",
        );
        err_contains("not (a pr", "missing ')' to close the '(' at position 4");
        err_contains(
            "not ()",
            "expected an attribute path, '(' or 'not' at position 5",
        );
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(
            ok("userName EQ \"x\" AnD title Pr OR NoT (active Ne TRUE)"),
            or(vec![
                and(vec![eq_str("userName", "x"), pr("title")]),
                not(cmp(
                    path("active", ""),
                    CompareOp::Ne,
                    ValueKind::BoolValue(true)
                ))
            ])
        );
    }

    #[test]
    fn whitespace_is_flexible() {
        assert_eq!(ok("  title   pr  "), pr("title"));
        assert_eq!(
            ok("title\tpr\nand\r\nb pr"),
            and(vec![pr("title"), pr("b")])
        );
        assert_eq!(ok("userName eq\"x\""), eq_str("userName", "x"));
    }

    // ------------------------------------------------------------------------------------------
    // Value paths

    #[test]
    fn value_paths() {
        assert_eq!(
            ok("emails[type eq \"work\"]"),
            value_path("emails", eq_str("type", "work"))
        );
        assert_eq!(
            ok("emails[type eq \"work\" and value co \"@example.com\"]"),
            value_path(
                "emails",
                and(vec![
                    eq_str("type", "work"),
                    op_str("value", CompareOp::Co, "@example.com")
                ])
            )
        );
        assert_eq!(
            ok("emails[type eq \"work\" or type eq \"home\" and primary eq true]"),
            value_path(
                "emails",
                or(vec![
                    eq_str("type", "work"),
                    and(vec![
                        eq_str("type", "home"),
                        cmp(
                            path("primary", ""),
                            CompareOp::Eq,
                            ValueKind::BoolValue(true)
                        )
                    ])
                ])
            )
        );
        assert_eq!(
            ok("emails[not (type eq \"work\") and (value pr or display pr)]"),
            value_path(
                "emails",
                and(vec![
                    not(eq_str("type", "work")),
                    or(vec![pr("value"), pr("display")])
                ])
            )
        );
        assert_eq!(ok("emails [value pr]"), value_path("emails", pr("value")));
        assert_eq!(ok("EMAILS[VALUE PR]"), value_path("EMAILS", pr("VALUE")));
        assert_eq!(ok("members[$ref pr]"), value_path("members", pr("$ref")));
        assert_eq!(
            ok("not (emails[value pr]) and x pr"),
            and(vec![not(value_path("emails", pr("value"))), pr("x")])
        );
    }

    #[test]
    fn value_paths_with_a_schema() {
        let expected = node(Node::ValuePath(Box::new(pb::ValuePathFilter {
            path: Some(schema_path(
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "emails",
                "",
            )),
            filter: Some(Box::new(pr("value"))),
        })));
        assert_eq!(
            ok("urn:ietf:params:scim:schemas:core:2.0:User:emails[value pr]"),
            expected
        );
    }

    #[test]
    fn malformed_value_paths() {
        err_contains(
            "emails[type[value pr]]",
            "value paths cannot be nested (position 11)",
        );
        err_contains(
            "emails[type eq \"work\" and ims[value pr]]",
            "value paths cannot be nested",
        );
        err_contains(
            "emails[value.x pr]",
            "inside [...], name a sub-attribute of the element, not 'value.x'",
        );
        err_contains("emails[urn:x:y:value pr]", "inside [...]");
        err_contains("name.givenName[value pr]", "not a sub-attribute");
        err_contains(
            "emails[type eq \"work\"",
            "missing ']' to close the '[' at position 6",
        );
        err_contains(
            "emails[type eq \"work\")",
            "found a mismatched bracket at position 21",
        );
        err_contains(
            "emails[]",
            "expected an attribute path, '(' or 'not' at position 7, found ']'",
        );
        err_contains(
            "emails[type eq \"work\"] pr",
            "expected 'and', 'or' or the end of the filter at position 23",
        );
        // `emails[type eq "work"].value eq "x"` is accepted (Entra's match filter); a trailing
        // sub-attribute without an operator is not.
        err_contains("emails[type eq \"work\"].value", "expected an operator");
        err_contains("[type pr]", "unexpected '[' at position 0");
        err_contains("(emails[type pr)]", "mismatched bracket");
    }

    // ------------------------------------------------------------------------------------------
    // RFC 7644 §3.4.2.2 examples

    #[test]
    fn rfc_7644_examples() {
        let lm = |op| {
            cmp(
                path("meta", "lastModified"),
                op,
                text("2011-05-13T04:42:34Z"),
            )
        };
        let cases: Vec<(&str, pb::Filter)> = vec![
            ("userName eq \"bjensen\"", eq_str("userName", "bjensen")),
            (
                "name.familyName co \"O'Malley\"",
                op_str("name.familyName", CompareOp::Co, "O'Malley"),
            ),
            ("userName sw \"J\"", op_str("userName", CompareOp::Sw, "J")),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"",
                cmp(
                    schema_path("urn:ietf:params:scim:schemas:core:2.0:User", "userName", ""),
                    CompareOp::Sw,
                    text("J"),
                ),
            ),
            ("title pr", pr("title")),
            (
                "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
                lm(CompareOp::Gt),
            ),
            (
                "meta.lastModified ge \"2011-05-13T04:42:34Z\"",
                lm(CompareOp::Ge),
            ),
            (
                "meta.lastModified lt \"2011-05-13T04:42:34Z\"",
                lm(CompareOp::Lt),
            ),
            (
                "meta.lastModified le \"2011-05-13T04:42:34Z\"",
                lm(CompareOp::Le),
            ),
            (
                "title pr and userType eq \"Employee\"",
                and(vec![pr("title"), eq_str("userType", "Employee")]),
            ),
            (
                "title pr or userType eq \"Intern\"",
                or(vec![pr("title"), eq_str("userType", "Intern")]),
            ),
            (
                "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"",
                eq_str(
                    "schemas",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                ),
            ),
            (
                "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
                and(vec![
                    eq_str("userType", "Employee"),
                    or(vec![
                        op_str("emails", CompareOp::Co, "example.com"),
                        op_str("emails.value", CompareOp::Co, "example.org"),
                    ]),
                ]),
            ),
            (
                "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
                and(vec![
                    op_str("userType", CompareOp::Ne, "Employee"),
                    not(or(vec![
                        op_str("emails", CompareOp::Co, "example.com"),
                        op_str("emails.value", CompareOp::Co, "example.org"),
                    ])),
                ]),
            ),
            (
                "userType eq \"Employee\" and (emails.type eq \"work\")",
                and(vec![
                    eq_str("userType", "Employee"),
                    eq_str("emails.type", "work"),
                ]),
            ),
            (
                "userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]",
                and(vec![
                    eq_str("userType", "Employee"),
                    value_path(
                        "emails",
                        and(vec![
                            eq_str("type", "work"),
                            op_str("value", CompareOp::Co, "@example.com"),
                        ]),
                    ),
                ]),
            ),
            (
                "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]",
                or(vec![
                    value_path(
                        "emails",
                        and(vec![
                            eq_str("type", "work"),
                            op_str("value", CompareOp::Co, "@example.com"),
                        ]),
                    ),
                    value_path(
                        "ims",
                        and(vec![
                            eq_str("type", "xmpp"),
                            op_str("value", CompareOp::Co, "@foo.com"),
                        ]),
                    ),
                ]),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(ok(input), expected, "{input}");
        }
    }

    // ------------------------------------------------------------------------------------------
    // Attribute paths in filters

    #[test]
    fn urn_paths_split_at_the_last_colon() {
        assert_eq!(
            ok(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\""
            ),
            cmp(
                schema_path(
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                    "manager",
                    "value"
                ),
                CompareOp::Eq,
                text("26118915-6090-4610-87e4-49d8ca9f808d"),
            )
        );
        assert_eq!(
            ok("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr"),
            node(Node::Present(schema_path(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                "employeeNumber",
                ""
            )))
        );
        assert_eq!(
            ok("URN:IETF:params:scim:schemas:core:2.0:User:name.givenName pr"),
            node(Node::Present(schema_path(
                "URN:IETF:params:scim:schemas:core:2.0:User",
                "name",
                "givenName"
            )))
        );
    }

    #[test]
    fn names_allow_dashes_underscores_digits_and_ref() {
        assert_eq!(ok("x509Certificates pr"), pr("x509Certificates"));
        assert_eq!(ok("my-attr_2 pr"), pr("my-attr_2"));
        assert_eq!(ok("groups.$ref eq \"x\""), eq_str("groups.$ref", "x"));
        assert_eq!(ok("$REF pr"), pr("$REF"));
    }

    #[test]
    fn malformed_paths_in_filters() {
        err_contains("1abc eq 1", "invalid attribute name '1abc'");
        err_contains("1abc eq 1", "at position 0");
        err_contains("-a pr", "invalid attribute name '-a' at position 0");
        err_contains("a.b.c pr", "unexpected '.' at position 3");
        err_contains("a. pr", "expected a sub-attribute name at position 2");
        err_contains(".a pr", "expected an attribute name at position 0");
        err_contains("a:b pr", "unexpected ':' at position 1");
        err_contains("urn: pr", "expected an attribute name at position 4");
        err_contains("urn:x: pr", "expected an attribute name at position 6");
        err_contains("urn::x pr", "empty segment in the schema URN at position 4");
        err_contains(
            "urn:a\\b:x pr",
            "unexpected '\\' in the schema URN at position 5",
        );
        err_contains("ab$c pr", "invalid attribute name 'ab$c'");
        err_contains("é pr", "invalid attribute name 'é'");
        err_contains("a.é pr", "invalid sub-attribute name 'é' at position 2");
    }

    // ------------------------------------------------------------------------------------------
    // Errors and positions

    #[test]
    fn a_comparison_after_a_value_path_joins_its_filter() {
        let filter = parse_filter(r#"emails[type eq "work"].value eq "user@contoso.com""#).unwrap();
        let Some(Node::ValuePath(value_path)) = filter.node else {
            panic!("value path expected")
        };
        assert_eq!(value_path.path.unwrap().attribute, "emails");
        let Some(Node::And(list)) = value_path.filter.unwrap().node else {
            panic!("and expected")
        };
        assert_eq!(list.filters.len(), 2);
        let Some(Node::Compare(comparison)) = &list.filters[1].node else {
            panic!("compare expected")
        };
        assert_eq!(comparison.path.as_ref().unwrap().attribute, "value");
        assert!(parse_filter(r#"emails[type eq "work"].value"#).is_err());
        assert!(parse_filter(r#"emails[type eq "work"].value pr and userName pr"#).is_ok());
    }

    #[test]
    fn errors_name_the_problem_and_position() {
        assert_eq!(
            err("displayName \"x\""),
            "expected an operator at position 12"
        );
        assert_eq!(
            err("userName"),
            "expected an operator at position 8 (end of input)"
        );
        assert_eq!(err("userName )"), "expected an operator at position 9");
        assert_eq!(
            err("a eq \"abc"),
            "unterminated string starting at position 5"
        );
        assert_eq!(
            err("userName eqq \"x\""),
            "unknown operator 'eqq' at position 9"
        );
        assert_eq!(
            err("title and b pr"),
            "unknown operator 'and' at position 6"
        );
        assert_eq!(err("a eq"), "expected a value at position 4 (end of input)");
        assert_eq!(err("a eq (b pr)"), "expected a value at position 5");
        assert_eq!(err("a eq ]"), "expected a value at position 5");
        assert_eq!(err("a pr)"), "unmatched ')' at position 4");
        assert_eq!(err("a pr]"), "unmatched ']' at position 4");
        assert_eq!(
            err("a pr b pr"),
            "expected 'and', 'or' or the end of the filter at position 5"
        );
        assert_eq!(
            err("a pr \"x\""),
            "expected 'and', 'or' or the end of the filter at position 5"
        );
        assert_eq!(
            err("a pr and"),
            "expected an attribute path, '(' or 'not' at position 8 (end of input)"
        );
        assert_eq!(
            err("a pr or or b pr"),
            "unknown operator 'b' at position 11"
        );
        assert_eq!(
            err("\"x\" eq a"),
            "expected an attribute path at position 0, found a string"
        );
        assert_eq!(
            err(")"),
            "expected an attribute path, '(' or 'not' at position 0, found ')'"
        );
        assert_eq!(err("(a pr"), "missing ')' to close the '(' at position 0");
        assert_eq!(
            err("(a pr b pr)"),
            "expected 'and', 'or' or ')' (closing the '(' at position 0) at position 6"
        );
        assert_eq!(
            err("(a pr]"),
            "expected ')' to close the '(' at position 0, found a mismatched bracket at position 5"
        );
        assert_eq!(err(""), "filter is empty");
        assert_eq!(err("   \t "), "filter is empty");
        // Positions are byte offsets.
        assert_eq!(
            err("a eq \"é\" b pr"),
            "expected 'and', 'or' or the end of the filter at position 10"
        );
    }

    #[test]
    fn errors_never_echo_long_input() {
        let long_operator = "x".repeat(3000);
        let detail = err(&format!("a {long_operator} 1"));
        assert!(detail.starts_with("unknown operator 'xxxx"), "{detail}");
        assert!(detail.len() < 150, "{} bytes", detail.len());

        let long_name = format!("1{}", "é".repeat(1500));
        let detail = err(&format!("{long_name} pr"));
        assert!(detail.chars().count() < 150, "{detail}");

        let long_value = "z".repeat(3000);
        let detail = err(&format!("a eq {long_value}"));
        assert!(detail.len() < 250, "{} bytes", detail.len());

        let detail = err(&format!("emails[{}.x pr]", "v".repeat(3000)));
        assert!(detail.len() < 200, "{} bytes", detail.len());
    }

    // ------------------------------------------------------------------------------------------
    // Limits

    #[test]
    fn long_input_is_refused_before_parsing() {
        let input = format!("title eq \"{}\"", "a".repeat(5000 - 11));
        assert_eq!(input.len(), 5000);
        assert_eq!(err(&input), "filter is longer than 4096 bytes");
        // Exactly the limit is fine.
        let input = format!("title eq \"{}\"", "a".repeat(MAX_FILTER_LEN - 11));
        assert_eq!(input.len(), MAX_FILTER_LEN);
        assert!(parse_filter(&input).is_ok());
        assert_eq!(
            err(&" ".repeat(MAX_FILTER_LEN + 1)),
            "filter is longer than 4096 bytes"
        );
    }

    #[test]
    fn huge_nesting_is_refused_quickly() {
        let started = std::time::Instant::now();
        err(&"(".repeat(100_000));
        err(&"not (".repeat(100_000));
        err(&format!(
            "{}a pr{}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        ));
        // Under the length limit, the depth limit answers.
        assert_eq!(
            err(&"(".repeat(4000)),
            "filter is nested deeper than 32 levels"
        );
        assert_eq!(
            err(&"not (".repeat(800)),
            "filter is nested deeper than 32 levels"
        );
        assert_eq!(
            err(&"emails[".repeat(500)),
            "value paths cannot be nested (position 13)"
        );
        assert_eq!(
            err(&format!("{}a pr{}", "(".repeat(2000), ")".repeat(2000))),
            "filter is nested deeper than 32 levels"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    fn nots(count: usize, leaf: &str) -> String {
        format!("{}{leaf}{}", "not (".repeat(count), ")".repeat(count))
    }

    #[test]
    fn depth_limit_matches_the_core() {
        // 31 `not`s over a comparison make 32 levels: the core's limit, accepted.
        let filter = ok(&nots(31, "a pr"));
        assert_eq!(height(&filter), MAX_FILTER_DEPTH);
        assert_eq!(
            err(&nots(32, "a pr")),
            "filter is nested deeper than 32 levels"
        );

        let parens = |count: usize| format!("{}a pr{}", "(".repeat(count), ")".repeat(count));
        assert_eq!(ok(&parens(31)), pr("a"));
        assert_eq!(err(&parens(32)), "filter is nested deeper than 32 levels");

        // and/or levels count: 30 nots over `a and b` is 32 levels; one more is too deep.
        let filter = ok(&nots(30, "a pr and b pr"));
        assert_eq!(height(&filter), MAX_FILTER_DEPTH);
        assert_eq!(
            err(&nots(31, "a pr and b pr")),
            "filter is nested deeper than 32 levels"
        );
        assert_eq!(
            err(&nots(31, "a pr or b pr and c pr")),
            "filter is nested deeper than 32 levels"
        );
        // An or over an and inside 29 nots: 29 + 1 + 1 + 1 = 32.
        assert_eq!(
            height(&ok(&nots(29, "a pr or b pr and c pr"))),
            MAX_FILTER_DEPTH
        );

        // Value paths count: 29 nots + value path + and + leaf = 32.
        let filter = ok(&nots(29, "emails[type pr and value pr]"));
        assert_eq!(height(&filter), MAX_FILTER_DEPTH);
        assert_eq!(
            err(&nots(30, "emails[type pr and value pr]")),
            "filter is nested deeper than 32 levels"
        );

        // The or wrapping the deep operand is counted too, whichever side the deep part is on.
        assert_eq!(
            err(&format!("{} or b pr", nots(31, "a pr"))),
            "filter is nested deeper than 32 levels"
        );
        assert_eq!(
            err(&format!("b pr or {}", nots(31, "a pr"))),
            "filter is nested deeper than 32 levels"
        );
        assert_eq!(
            height(&ok(&format!("b pr or {}", nots(30, "a pr")))),
            MAX_FILTER_DEPTH
        );
    }

    #[test]
    fn mixed_nesting_never_exceeds_the_core_limit() {
        let pieces = ["not (", "(", "a pr and (", "a pr or not (", "emails[not ("];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..500 {
            let mut open = String::new();
            let mut close = String::new();
            let count = (xorshift(&mut state) % 40) as usize;
            let mut in_value = false;
            for _ in 0..count {
                let mut piece = pieces[(xorshift(&mut state) % pieces.len() as u64) as usize];
                if piece.starts_with("emails[") && in_value {
                    piece = "(";
                }
                if piece.starts_with("emails[") {
                    in_value = true;
                    close.insert_str(0, ")]");
                } else if piece.ends_with('(') {
                    close.insert(0, ')');
                }
                open.push_str(piece);
            }
            let input = format!("{open}value pr{close}");
            match parse_filter(&input) {
                Ok(filter) => assert!(height(&filter) <= MAX_FILTER_DEPTH, "{input}"),
                Err(error) => assert_eq!(
                    error.detail, "filter is nested deeper than 32 levels",
                    "{input}"
                ),
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Random inputs

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn random_inputs_never_panic() {
        const FRAGMENTS: &[&str] = &[
            "(", ")", "[", "]", "\"", "\\", " ", " ", " ", ".", ":", "a", "Z", "é", "😀", "0", "1",
            "9", "-", "+", "e", "$ref", "urn:", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt",
            "le", "pr", "and", "or", "not", "AND", "Not", "true", "false", "null", "\\u",
            "\\uD83D", "\\uDE00", "00e9", "\t", "emails", "type", "value", "\"x\"", "userName",
            "1.5e3", "\u{0}", "\u{7f}",
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut parsed = 0;
        for _ in 0..10_000 {
            let count = (xorshift(&mut state) % 24) as usize;
            let mut input = String::new();
            for _ in 0..count {
                input.push_str(FRAGMENTS[(xorshift(&mut state) % FRAGMENTS.len() as u64) as usize]);
            }
            match parse_filter(&input) {
                Ok(filter) => {
                    parsed += 1;
                    assert!(height(&filter) <= MAX_FILTER_DEPTH, "{input:?}");
                }
                Err(error) => {
                    assert_eq!(error.scim_type, Some("invalidFilter"), "{input:?}");
                    assert!(!error.detail.is_empty());
                    assert!(
                        error.detail.chars().count() < 300,
                        "{input:?}: {}",
                        error.detail
                    );
                }
            }
            if let Err(error) = parse_patch_path(&input) {
                assert_eq!(error.scim_type, Some("invalidPath"), "{input:?}");
            }
            if let Err(error) = parse_attr_path(&input) {
                assert_eq!(error.scim_type, Some("invalidPath"), "{input:?}");
            }
        }
        // Some structured fragments should sometimes line up into valid filters.
        assert!(parsed > 0);
    }

    #[test]
    fn random_token_sequences_never_panic() {
        const TOKENS: &[&str] = &[
            "(",
            ")",
            "[",
            "]",
            "not",
            "and",
            "or",
            "a",
            "emails",
            "b.c",
            "urn:x:y:z",
            "pr",
            "eq",
            "gt",
            "\"s\"",
            "1",
            "true",
            "null",
            "not (",
            "emails[",
            "].value",
        ];
        let mut state = 0xDEAD_BEEF_CAFE_F00Du64;
        for _ in 0..10_000 {
            let count = 1 + (xorshift(&mut state) % 16) as usize;
            let input = (0..count)
                .map(|_| TOKENS[(xorshift(&mut state) % TOKENS.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(" ");
            if let Ok(filter) = parse_filter(&input) {
                assert!(height(&filter) <= MAX_FILTER_DEPTH, "{input:?}");
            }
            let _ = parse_patch_path(&input);
            let _ = parse_attr_path(&input);
        }
    }

    // ------------------------------------------------------------------------------------------
    // parse_attr_path

    #[test]
    fn attr_paths() {
        let attr = |schema: Option<&str>, attribute: &str, sub: Option<&str>| AttrPath {
            schema: schema.map(str::to_owned),
            attribute: attribute.to_owned(),
            sub_attribute: sub.map(str::to_owned),
        };
        assert_eq!(
            parse_attr_path("userName").unwrap(),
            attr(None, "userName", None)
        );
        assert_eq!(
            parse_attr_path("  name.givenName\t").unwrap(),
            attr(None, "name", Some("givenName"))
        );
        assert_eq!(
            parse_attr_path("meta.lastModified").unwrap(),
            attr(None, "meta", Some("lastModified"))
        );
        assert_eq!(
            parse_attr_path("members.$ref").unwrap(),
            attr(None, "members", Some("$ref"))
        );
        assert_eq!(
            parse_attr_path(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
            )
            .unwrap(),
            attr(Some(ENTERPRISE), "manager", Some("value"))
        );
        assert_eq!(
            parse_attr_path(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
            )
            .unwrap(),
            attr(Some(ENTERPRISE), "employeeNumber", None)
        );
        assert_eq!(
            parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap(),
            attr(Some(CORE), "userName", None)
        );
        let pb_path = parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName")
            .unwrap()
            .to_pb();
        assert_eq!(pb_path, schema_path(CORE, "name", "familyName"));
    }

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    #[test]
    fn malformed_attr_paths() {
        assert_eq!(path_err(parse_attr_path("")), "attribute path is empty");
        assert_eq!(path_err(parse_attr_path("  ")), "attribute path is empty");
        assert_eq!(
            path_err(parse_attr_path("user name")),
            "unexpected character U+0020 at position 4 in an attribute path"
        );
        assert_eq!(
            path_err(parse_attr_path(" emails[type pr]")),
            "unexpected '[' at position 7 in an attribute path"
        );
        assert_eq!(
            path_err(parse_attr_path("a\"b")),
            "unexpected '\"' at position 1 in an attribute path"
        );
        assert_eq!(
            path_err(parse_attr_path("1abc")),
            "invalid attribute name '1abc' at position 0"
        );
        assert_eq!(
            path_err(parse_attr_path("  name.")),
            "expected a sub-attribute name at position 7"
        );
        assert_eq!(
            path_err(parse_attr_path("a.b.c")),
            "unexpected '.' at position 3 (a path has at most one sub-attribute)"
        );
        assert_eq!(
            path_err(parse_attr_path("a:b")),
            "unexpected ':' at position 1 (a schema URN starts with 'urn:')"
        );
        assert_eq!(
            path_err(parse_attr_path("urn:")),
            "expected an attribute name at position 4"
        );
        assert!(path_err(parse_attr_path(&"a".repeat(5000))).contains("longer than 4096 bytes"));
        let detail = path_err(parse_attr_path(&format!("1{}", "b".repeat(4000))));
        assert!(detail.len() < 150, "{detail}");
    }

    // ------------------------------------------------------------------------------------------
    // parse_patch_path

    fn patch(input: &str) -> PatchPath {
        match parse_patch_path(input) {
            Ok(path) => path,
            Err(error) => panic!("{input:?} failed: {}", error.detail),
        }
    }

    fn plain(attribute: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            schema: None,
            attribute: attribute.to_owned(),
            sub_attribute: sub.map(str::to_owned),
        }
    }

    #[test]
    fn patch_paths_without_filters() {
        assert_eq!(
            patch("members"),
            PatchPath {
                attr: plain("members", None),
                filter: None,
                sub_attribute: None
            }
        );
        assert_eq!(
            patch("name.givenName").attr,
            plain("name", Some("givenName"))
        );
        assert_eq!(patch(" userName ").attr, plain("userName", None));
        let manager = patch("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager");
        assert_eq!(manager.attr.schema.as_deref(), Some(ENTERPRISE));
        assert_eq!(manager.attr.attribute, "manager");
        assert_eq!(manager.attr.sub_attribute, None);
        let value =
            patch("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value");
        assert_eq!(value.attr.schema.as_deref(), Some(ENTERPRISE));
        assert_eq!(value.attr.sub_attribute.as_deref(), Some("value"));
        let user_name = patch("urn:ietf:params:scim:schemas:core:2.0:User:userName");
        assert_eq!(user_name.attr.schema.as_deref(), Some(CORE));
        assert_eq!(user_name.attr.attribute, "userName");
        assert!(user_name.filter.is_none());
    }

    #[test]
    fn patch_paths_with_filters() {
        assert_eq!(
            patch("emails[type eq \"work\"].value"),
            PatchPath {
                attr: plain("emails", None),
                filter: Some(eq_str("type", "work")),
                sub_attribute: Some("value".into()),
            }
        );
        assert_eq!(
            patch("addresses[type eq \"work\"].formatted"),
            PatchPath {
                attr: plain("addresses", None),
                filter: Some(eq_str("type", "work")),
                sub_attribute: Some("formatted".into()),
            }
        );
        assert_eq!(
            patch("members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"),
            PatchPath {
                attr: plain("members", None),
                filter: Some(eq_str("value", "2819c223-7f76-453a-919d-413861904646")),
                sub_attribute: None,
            }
        );
        assert_eq!(
            patch("emails[type eq \"work\" and not (primary eq false)]").filter,
            Some(and(vec![
                eq_str("type", "work"),
                not(cmp(
                    path("primary", ""),
                    CompareOp::Eq,
                    ValueKind::BoolValue(false)
                ))
            ]))
        );
        let qualified =
            patch("urn:ietf:params:scim:schemas:core:2.0:User:emails[primary eq true].display");
        assert_eq!(qualified.attr.schema.as_deref(), Some(CORE));
        assert_eq!(qualified.attr.attribute, "emails");
        assert_eq!(qualified.sub_attribute.as_deref(), Some("display"));
    }

    #[test]
    fn malformed_patch_paths() {
        assert_eq!(path_err(parse_patch_path("")), "path is empty");
        assert_eq!(path_err(parse_patch_path(" \t")), "path is empty");
        assert_eq!(
            path_err(parse_patch_path("\"emails\"")),
            "expected an attribute path at position 0"
        );
        assert_eq!(
            path_err(parse_patch_path("emails value")),
            "expected '[' or the end of the path at position 7"
        );
        assert_eq!(
            path_err(parse_patch_path("emails[type eq \"work\"")),
            "missing ']' to close the '[' at position 6"
        );
        assert_eq!(
            path_err(parse_patch_path("emails[type eq]")),
            "invalid filter in the path: expected a value at position 14"
        );
        assert_eq!(
            path_err(parse_patch_path("emails[type eqq \"w\"]")),
            "invalid filter in the path: unknown operator 'eqq' at position 12"
        );
        assert_eq!(
            path_err(parse_patch_path("emails[type eq \"work\"]value")),
            "expected '.subAttribute' or the end of the path at position 22"
        );
        assert_eq!(
            path_err(parse_patch_path("emails[type eq \"work\"] .value")),
            "expected '.subAttribute' or the end of the path at position 23"
        );
        assert_eq!(
            path_err(parse_patch_path("emails[type eq \"work\"].value.x")),
            "unexpected '.' at position 28 (a path has at most one sub-attribute)"
        );
        assert_eq!(
            path_err(parse_patch_path("emails[type pr].")),
            "expected a sub-attribute name at position 16"
        );
        assert_eq!(
            path_err(parse_patch_path("emails[type pr].value ]")),
            "expected the end of the path at position 22"
        );
        assert!(
            path_err(parse_patch_path("name.givenName[type pr]")).contains("not a sub-attribute")
        );
        assert!(
            path_err(parse_patch_path("emails[ims[type pr]]"))
                .contains("value paths cannot be nested")
        );
        assert!(path_err(parse_patch_path("emails[type.x pr]")).contains("inside [...]"));
        assert!(
            path_err(parse_patch_path("emails[type eq \"x]"))
                .contains("unterminated string starting at position 15")
        );
        assert!(path_err(parse_patch_path("a..b")).contains("position"));
        assert!(path_err(parse_patch_path(&"x".repeat(5000))).contains("longer than 4096 bytes"));
        assert_eq!(
            path_err(parse_patch_path(&format!(
                "emails[{}value pr{}]",
                "not (".repeat(40),
                ")".repeat(40)
            ))),
            "invalid filter in the path: filter is nested deeper than 32 levels"
        );
    }
}
