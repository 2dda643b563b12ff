//! PostgreSQL's string-literal forms, read before sqlparser sees the text: the SQL
//! standard's continuation (`'first'` newline `'second'` is one literal), `E'…'` escapes
//! with PostgreSQL's errors, `U&'…'` and `U&"…"` Unicode escapes with `UESCAPE`, and plain
//! literals read with backslash escapes when `standard_conforming_strings` is off.
//!
//! Each such literal is written back as a plain `'…'` literal (or `"…"` identifier) followed
//! by blanks, so every character after it keeps its offset and error positions still point
//! into the text the client sent. Invariant: the rewritten text has exactly as many
//! characters as the original.

use crate::error::{SqlError, SqlResult};

/// The session settings that change how literals are read.
#[derive(Debug, Clone, Copy)]
pub struct LiteralSettings {
    pub standard_conforming_strings: bool,
    pub escape_string_warning: bool,
}

/// A WARNING PostgreSQL's lexer raises for a literal (a backslash in a plain literal while
/// `standard_conforming_strings` is off), at the literal's 1-based character position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralWarning {
    pub message: String,
    pub hint: String,
    pub position: usize,
}

/// The text to parse in place of `sql` (`None`: `sql` itself) and the warnings raised.
pub fn normalize(
    sql: &str,
    settings: LiteralSettings,
) -> SqlResult<(Option<String>, Vec<LiteralWarning>)> {
    let mut lexer = Lexer {
        text: sql.chars().collect(),
        settings,
        out: String::with_capacity(sql.len()),
        changed: false,
        warnings: Vec::new(),
    };
    lexer.run()?;
    let text = lexer.changed.then_some(lexer.out);
    debug_assert!(text
        .as_ref()
        .is_none_or(|t| t.chars().count() == sql.chars().count()));
    Ok((text, lexer.warnings))
}

/// How a literal's body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `'…'`: only `''` is special.
    Standard,
    /// `E'…'` (and `'…'` with standard_conforming_strings off): backslash escapes.
    Escape { warn: bool },
    /// `U&'…'`: `''` is special; escapes are decoded once the whole literal is read.
    Unicode,
    /// `B'…'`, `X'…'`, `N'…'`: kept as written (continuations joined).
    Raw,
}

struct Lexer {
    text: Vec<char>,
    settings: LiteralSettings,
    out: String,
    changed: bool,
    warnings: Vec<LiteralWarning>,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

fn syntax_error(message: impl Into<String>, index: usize) -> SqlError {
    SqlError::Syntax {
        message: message.into(),
        position: Some(index + 1),
    }
}

fn positioned(inner: SqlError, index: usize) -> SqlError {
    SqlError::Positioned {
        inner: Box::new(inner),
        position: index + 1,
    }
}

impl Lexer {
    fn at(&self, i: usize) -> Option<char> {
        self.text.get(i).copied()
    }

    fn copy(&mut self, from: usize, to: usize) {
        self.out.extend(&self.text[from..to]);
    }

    fn run(&mut self) -> SqlResult<()> {
        let mut i = 0;
        let mut last_literal_end: Option<usize> = None;
        while let Some(c) = self.at(i) {
            let start = i;
            let next = self.at(i + 1);
            if c == '-' && next == Some('-') {
                while self.at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
                self.copy(start, i);
                continue;
            }
            if c == '/' && next == Some('*') {
                i = self.block_comment_end(i);
                self.copy(start, i);
                continue;
            }
            if c.is_whitespace() {
                self.out.push(c);
                i += 1;
                continue;
            }
            // A literal right after another (not joined as a continuation) is a syntax error.
            let literal = self.literal_at(i);
            if let (Some(_), Some(_)) = (literal, last_literal_end) {
                let end = self.literal_end_for_message(i);
                let token: String = self.text[i..end].iter().collect();
                return Err(syntax_error(
                    format!("syntax error at or near \"{token}\""),
                    i,
                ));
            }
            last_literal_end = None;
            if let Some((prefix, mode)) = literal {
                i = self.literal(i, prefix, mode)?;
                last_literal_end = Some(i);
                continue;
            }
            if c == '"' {
                i = self.quoted_end(i + 1, '"');
                self.copy(start, i);
                continue;
            }
            if (c == 'u' || c == 'U') && next == Some('&') && self.at(i + 2) == Some('"') {
                i = self.unicode_identifier(i)?;
                continue;
            }
            if c == '$' && !next.is_some_and(|c| c.is_ascii_digit()) {
                if let Some(end) = self.dollar_quoted_end(i) {
                    self.copy(start, end);
                    i = end;
                    continue;
                }
            }
            if is_ident_start(c) || c.is_ascii_digit() {
                while self.at(i).is_some_and(is_ident_char) {
                    i += 1;
                }
                self.copy(start, i);
                continue;
            }
            self.out.push(c);
            i += 1;
        }
        Ok(())
    }

    /// The literal starting at `i`, if one does: its prefix length and how it is read.
    fn literal_at(&self, i: usize) -> Option<(usize, Mode)> {
        let c = self.at(i)?;
        let next = self.at(i + 1);
        let after_word = i > 0 && self.at(i - 1).is_some_and(is_ident_char);
        if c == '\'' {
            let mode = if self.settings.standard_conforming_strings {
                Mode::Standard
            } else {
                Mode::Escape {
                    warn: self.settings.escape_string_warning,
                }
            };
            return Some((0, mode));
        }
        if after_word {
            return None;
        }
        match (c, next) {
            ('e' | 'E', Some('\'')) => Some((1, Mode::Escape { warn: false })),
            ('b' | 'B' | 'x' | 'X' | 'n' | 'N', Some('\'')) => Some((1, Mode::Raw)),
            ('u' | 'U', Some('&')) if self.at(i + 2) == Some('\'') => Some((2, Mode::Unicode)),
            _ => None,
        }
    }

    /// Where the literal token starting at `i` ends, for an error message quoting it.
    fn literal_end_for_message(&self, i: usize) -> usize {
        let mut j = i;
        while self.at(j).is_some_and(|c| c != '\'') {
            j += 1;
        }
        self.quoted_end(j + 1, '\'').min(self.text.len())
    }

    /// The end (after the closing quote) of a `quote`-delimited body starting at `from`,
    /// where a doubled quote stands for itself.
    fn quoted_end(&self, from: usize, quote: char) -> usize {
        let mut i = from;
        while let Some(c) = self.at(i) {
            if c == quote {
                if self.at(i + 1) == Some(quote) {
                    i += 2;
                    continue;
                }
                return i + 1;
            }
            i += 1;
        }
        i
    }

    fn block_comment_end(&self, from: usize) -> usize {
        let mut depth = 0usize;
        let mut i = from;
        while i < self.text.len() {
            if self.at(i) == Some('/') && self.at(i + 1) == Some('*') {
                depth += 1;
                i += 2;
            } else if self.at(i) == Some('*') && self.at(i + 1) == Some('/') {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            } else {
                i += 1;
            }
        }
        i
    }

    /// The end of a `$tag$…$tag$` string starting at `i`, if one starts there.
    fn dollar_quoted_end(&self, i: usize) -> Option<usize> {
        if i > 0 && self.at(i - 1).is_some_and(is_ident_char) {
            return None;
        }
        let mut j = i + 1;
        while self.at(j).is_some_and(|c| is_ident_char(c) && c != '$') {
            j += 1;
        }
        if self.at(j) != Some('$') {
            return None;
        }
        let tag: Vec<char> = self.text[i..=j].to_vec();
        let mut k = j + 1;
        while k + tag.len() <= self.text.len() {
            if self.text[k..k + tag.len()] == tag[..] {
                return Some(k + tag.len());
            }
            k += 1;
        }
        Some(self.text.len())
    }

    /// After a literal's closing quote at `end`: where its continuation's opening quote is,
    /// if whitespace with a newline (and `--` comments) leads to one.
    fn continuation(&self, end: usize) -> Option<usize> {
        let mut j = end;
        let mut newline = false;
        loop {
            match self.at(j)? {
                '\n' | '\r' => {
                    newline = true;
                    j += 1;
                }
                ' ' | '\t' | '\u{c}' | '\u{b}' => j += 1,
                '-' if self.at(j + 1) == Some('-') => {
                    while self.at(j).is_some_and(|c| c != '\n' && c != '\r') {
                        j += 1;
                    }
                }
                '\'' if newline => return Some(j),
                _ => return None,
            }
        }
    }

    /// Reads the literal at `start` (its continuations too), writes its replacement and
    /// returns where it ends.
    fn literal(&mut self, start: usize, prefix: usize, mode: Mode) -> SqlResult<usize> {
        let mut body = Body::new(mode);
        let mut quote = start + prefix;
        let mut parts = 0usize;
        let end = loop {
            let close = self.read_part(quote + 1, &mut body, start)?;
            parts += 1;
            match self.continuation(close) {
                Some(next) => quote = next,
                None => break close,
            }
        };
        let replacement = match mode {
            Mode::Standard if parts == 1 => None,
            Mode::Raw if parts == 1 => None,
            Mode::Standard => Some(quote_literal(&body.text)),
            Mode::Raw => Some(format!(
                "{}{}",
                self.text[start..start + prefix].iter().collect::<String>(),
                quote_literal(&body.text)
            )),
            Mode::Escape { .. } => {
                if body.pending_surrogate.is_some() {
                    return Err(self.surrogate_error(end - 1));
                }
                Some(quote_literal(&body.finish()?))
            }
            Mode::Unicode => {
                if !self.settings.standard_conforming_strings {
                    return Err(positioned(
                        SqlError::Detailed {
                            sqlstate: "0A000",
                            message: "unsafe use of string constant with Unicode escapes".into(),
                            detail: "String constants with Unicode escapes cannot be used when \
                                     standard_conforming_strings is off."
                                .into(),
                            hint: None,
                        },
                        start,
                    ));
                }
                let (escape, after) = self.uescape(end)?;
                let decoded = decode_unicode(&body.text, escape, start)?;
                let replacement = quote_literal(&decoded);
                self.emit(&replacement, start, after);
                return Ok(after);
            }
        };
        match replacement {
            Some(r) => self.emit(&r, start, end),
            None => self.copy(start, end),
        }
        Ok(end)
    }

    /// Writes `replacement` for the characters `start..end`, padded with blanks.
    fn emit(&mut self, replacement: &str, start: usize, end: usize) {
        let original = end - start;
        let length = replacement.chars().count();
        if length > original {
            // Cannot happen (decoding only shortens); keep the text as written.
            self.copy(start, end);
            return;
        }
        self.out.push_str(replacement);
        self.out.extend(std::iter::repeat_n(' ', original - length));
        self.changed = true;
    }

    /// Reads one quoted part from `from` (after its opening quote) into `body`; returns the
    /// index after its closing quote.
    fn read_part(
        &mut self,
        from: usize,
        body: &mut Body,
        literal_start: usize,
    ) -> SqlResult<usize> {
        let mut i = from;
        loop {
            let Some(c) = self.at(i) else {
                return Err(syntax_error(
                    "unterminated quoted string at or near \"".to_owned()
                        + &self.text[literal_start..].iter().collect::<String>()
                        + "\"",
                    literal_start,
                ));
            };
            if body.pending_surrogate.is_some()
                && !(c == '\\' && matches!(self.at(i + 1), Some('u' | 'U')))
            {
                return Err(self.surrogate_error(i));
            }
            if c == '\'' {
                if self.at(i + 1) == Some('\'') {
                    body.push_char('\'');
                    i += 2;
                    continue;
                }
                return Ok(i + 1);
            }
            if c == '\\' && matches!(body.mode, Mode::Escape { .. }) {
                i = self.escape(i, body, literal_start)?;
                continue;
            }
            body.push_char(c);
            i += 1;
        }
    }

    /// Reads the backslash escape at `i` into `body`; returns where the next character is.
    fn escape(&mut self, i: usize, body: &mut Body, literal_start: usize) -> SqlResult<usize> {
        let next = self.at(i + 1);
        if let Mode::Escape { warn: true } = body.mode {
            body.mode = Mode::Escape { warn: false };
            let (what, hint) = match next {
                Some('\'') => (
                    "\\'",
                    "Use '' to write quotes in strings, or use the escape string syntax (E'...').",
                ),
                Some('\\') => (
                    "\\\\",
                    "Use the escape string syntax for backslashes, e.g., E'\\\\'.",
                ),
                _ => (
                    "escape",
                    "Use the escape string syntax for escapes, e.g., E'\\r\\n'.",
                ),
            };
            let message = if what == "escape" {
                "nonstandard use of escape in a string literal".to_owned()
            } else {
                format!("nonstandard use of {what} in a string literal")
            };
            self.warnings.push(LiteralWarning {
                message,
                hint: hint.into(),
                position: literal_start + 1,
            });
        }
        let Some(next) = next else {
            return Ok(i + 1);
        };
        match next {
            'b' => body.push_byte(8),
            'f' => body.push_byte(12),
            'n' => body.push_byte(b'\n'),
            'r' => body.push_byte(b'\r'),
            't' => body.push_byte(b'\t'),
            '0'..='7' => {
                let mut value = 0u32;
                let mut j = i + 1;
                while j < i + 4 && self.at(j).is_some_and(|c| c.is_digit(8)) {
                    value = value * 8 + self.at(j).and_then(|c| c.to_digit(8)).unwrap_or(0);
                    j += 1;
                }
                body.push_byte((value & 0xff) as u8);
                return Ok(j);
            }
            'x' if self.at(i + 2).is_some_and(|c| c.is_ascii_hexdigit()) => {
                let mut value = 0u32;
                let mut j = i + 2;
                while j < i + 4 && self.at(j).is_some_and(|c| c.is_ascii_hexdigit()) {
                    value = value * 16 + self.at(j).and_then(|c| c.to_digit(16)).unwrap_or(0);
                    j += 1;
                }
                body.push_byte(value as u8);
                return Ok(j);
            }
            'u' | 'U' => return self.unicode_escape(i, next, body),
            other => body.push_char(other),
        }
        Ok(i + 2)
    }

    /// `\uXXXX` or `\UXXXXXXXX` at `i` in an escape literal.
    fn unicode_escape(&mut self, i: usize, kind: char, body: &mut Body) -> SqlResult<usize> {
        let digits = if kind == 'u' { 4 } else { 8 };
        let hex: String = self.text
            [(i + 2).min(self.text.len())..(i + 2 + digits).min(self.text.len())]
            .iter()
            .collect();
        if hex.chars().count() != digits || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(positioned(
                SqlError::Detailed {
                    sqlstate: "22025",
                    message: "invalid Unicode escape".into(),
                    detail: String::new(),
                    hint: Some("Unicode escapes must be \\uXXXX or \\UXXXXXXXX.".into()),
                },
                i,
            ));
        }
        let end = i + 2 + digits;
        let token: String = self.text[i..end].iter().collect();
        let code = u32::from_str_radix(&hex, 16).unwrap_or(u32::MAX);
        let near = |message: &str| syntax_error(format!("{message} at or near \"{token}\""), i);
        if let Some(first) = body.pending_surrogate.take() {
            if !(0xDC00..=0xDFFF).contains(&code) {
                return Err(near("invalid Unicode surrogate pair"));
            }
            let c = 0x10000 + ((first - 0xD800) << 10) + (code - 0xDC00);
            body.push_char(char::from_u32(c).ok_or_else(|| near("invalid Unicode escape value"))?);
            return Ok(end);
        }
        if (0xD800..=0xDBFF).contains(&code) {
            body.pending_surrogate = Some(code);
        } else if (0xDC00..=0xDFFF).contains(&code) {
            return Err(near("invalid Unicode surrogate pair"));
        } else {
            let c = char::from_u32(code)
                .filter(|_| code != 0)
                .ok_or_else(|| near("invalid Unicode escape value"))?;
            body.push_char(c);
        }
        Ok(end)
    }

    /// PostgreSQL's error for a first surrogate not followed by a second, at `i`.
    fn surrogate_error(&self, i: usize) -> SqlError {
        match self.at(i) {
            Some(c) => syntax_error(
                format!("invalid Unicode surrogate pair at or near \"{c}\""),
                i,
            ),
            None => syntax_error("invalid Unicode surrogate pair at end of input", i),
        }
    }

    /// The escape character of a `U&` literal ending at `end` (`UESCAPE 'c'` after it, or a
    /// backslash) and where the literal with its UESCAPE clause ends.
    fn uescape(&self, end: usize) -> SqlResult<(char, usize)> {
        let skip_blank = |mut j: usize| {
            while self.at(j).is_some_and(char::is_whitespace) {
                j += 1;
            }
            j
        };
        let word_start = skip_blank(end);
        let word: String = self.text[word_start..(word_start + 7).min(self.text.len())]
            .iter()
            .collect();
        let word_end = word_start + 7;
        if !word.eq_ignore_ascii_case("uescape") || self.at(word_end).is_some_and(is_ident_char) {
            return Ok(('\\', end));
        }
        let quote = skip_blank(word_end);
        if self.at(quote) != Some('\'') {
            let token: String = self.text[quote..]
                .iter()
                .take_while(|c| !c.is_whitespace())
                .take(1)
                .collect();
            return Err(syntax_error(
                format!(
                    "UESCAPE must be followed by a simple string literal at or near \"{token}\""
                ),
                quote,
            ));
        }
        let close = self.quoted_end(quote + 1, '\'');
        let raw: String = self.text[quote..close].iter().collect();
        let inner: Vec<char> =
            self.text[quote + 1..close.saturating_sub(1).max(quote + 1)].to_vec();
        let valid = inner.len() == 1
            && !inner[0].is_ascii_hexdigit()
            && !matches!(inner[0], '+' | '\'' | '"')
            && !inner[0].is_whitespace();
        if !valid {
            return Err(syntax_error(
                format!("invalid Unicode escape character at or near \"{raw}\""),
                quote,
            ));
        }
        Ok((inner[0], close))
    }

    /// `U&"…"` [UESCAPE 'c'] at `start`: a quoted identifier with Unicode escapes.
    fn unicode_identifier(&mut self, start: usize) -> SqlResult<usize> {
        let end = self.quoted_end(start + 3, '"');
        let body: String = self.text[start + 3..end.saturating_sub(1).max(start + 3)]
            .iter()
            .collect::<String>()
            .replace("\"\"", "\"");
        let (escape, after) = self.uescape(end)?;
        let decoded = decode_unicode(&body, escape, start)?;
        let replacement = format!("\"{}\"", decoded.replace('"', "\"\""));
        self.emit(&replacement, start, after);
        Ok(after)
    }
}

/// A literal's value as it is read.
struct Body {
    mode: Mode,
    text: String,
    /// Bytes of an escape literal (octal and hex escapes make bytes, not characters).
    bytes: Vec<u8>,
    pending_surrogate: Option<u32>,
}

impl Body {
    fn new(mode: Mode) -> Body {
        Body {
            mode,
            text: String::new(),
            bytes: Vec::new(),
            pending_surrogate: None,
        }
    }

    fn push_char(&mut self, c: char) {
        match self.mode {
            Mode::Escape { .. } => {
                let mut buf = [0u8; 4];
                self.bytes
                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            _ => self.text.push(c),
        }
    }

    fn push_byte(&mut self, b: u8) {
        self.bytes.push(b);
    }

    /// An escape literal's bytes as text: they must be UTF-8 without NUL, as PostgreSQL
    /// requires of the server encoding.
    fn finish(self) -> SqlResult<String> {
        let invalid = |bytes: &[u8]| {
            let shown: Vec<String> = bytes.iter().map(|b| format!("0x{b:02x}")).collect();
            SqlError::CharacterNotInRepertoire(format!(
                "invalid byte sequence for encoding \"UTF8\": {}",
                shown.join(" ")
            ))
        };
        if self.bytes.contains(&0) {
            return Err(invalid(&[0]));
        }
        match String::from_utf8(self.bytes) {
            Ok(s) => Ok(s),
            Err(e) => {
                let bytes = e.as_bytes();
                let at = e.utf8_error().valid_up_to();
                let len = e.utf8_error().error_len().unwrap_or(bytes.len() - at);
                Err(invalid(&bytes[at..at + len]))
            }
        }
    }
}

fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The value of a `U&` literal's body with `escape` as its escape character; errors point
/// into the literal that starts at `start` (its `U&'` is 3 characters).
fn decode_unicode(body: &str, escape: char, start: usize) -> SqlResult<String> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::with_capacity(body.len());
    let mut pair_first: Option<u32> = None;
    let mut i = 0;
    let at = |i: usize| start + 3 + i;
    let invalid_pair = |i: usize| syntax_error("invalid Unicode surrogate pair", at(i));
    let hex = |from: usize, n: usize| -> Option<u32> {
        let digits: String = chars.get(from..from + n)?.iter().collect();
        digits
            .chars()
            .all(|c| c.is_ascii_hexdigit())
            .then(|| u32::from_str_radix(&digits, 16).ok())
            .flatten()
    };
    while i < chars.len() {
        if chars[i] != escape {
            if pair_first.is_some() {
                return Err(invalid_pair(i));
            }
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let (code, len) = if chars.get(i + 1) == Some(&escape) {
            if pair_first.is_some() {
                return Err(invalid_pair(i));
            }
            out.push(escape);
            i += 2;
            continue;
        } else if let Some(code) = hex(i + 1, 4) {
            (code, 5)
        } else if let (Some('+'), Some(code)) = (chars.get(i + 1), hex(i + 2, 6)) {
            (code, 8)
        } else {
            return Err(SqlError::SyntaxHint {
                message: "invalid Unicode escape".into(),
                hint: "Unicode escapes must be \\XXXX or \\+XXXXXX.".into(),
            })
            .map_err(|e| positioned(e, at(i)));
        };
        if code > 0x10FFFF {
            return Err(syntax_error("invalid Unicode escape value", at(i)));
        }
        let second = (0xDC00..=0xDFFF).contains(&code);
        let code = match pair_first.take() {
            Some(first) if second => 0x10000 + ((first - 0xD800) << 10) + (code - 0xDC00),
            Some(_) => return Err(invalid_pair(i)),
            None if second => return Err(invalid_pair(i)),
            None => code,
        };
        if (0xD800..=0xDBFF).contains(&code) {
            pair_first = Some(code);
        } else {
            out.push(
                char::from_u32(code)
                    .filter(|_| code != 0)
                    .ok_or_else(|| syntax_error("invalid Unicode escape value", at(i)))?,
            );
        }
        i += len;
    }
    if pair_first.is_some() {
        return Err(invalid_pair(i));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: LiteralSettings = LiteralSettings {
        standard_conforming_strings: true,
        escape_string_warning: true,
    };

    fn norm(sql: &str) -> String {
        match normalize(sql, ON) {
            Ok((Some(t), _)) => t,
            Ok((None, _)) => sql.to_owned(),
            Err(e) => format!("ERROR {e} @{:?}", e.position()),
        }
    }

    /// `text` followed by `pad` blanks.
    fn padded(text: &str, pad: usize) -> String {
        format!("{text}{}", " ".repeat(pad))
    }

    #[test]
    fn continuation_needs_a_newline() {
        assert_eq!(norm("select 'a'\n'b' x"), "select 'ab'    x");
        assert_eq!(norm("select 'a' -- c\n 'b'"), padded("select 'ab'", 9));
        assert!(
            norm("select 'a' 'b'").starts_with("ERROR syntax error at or near \"'b'\" @Some(12)")
        );
        assert!(norm("select 'a' /* c */\n'b'").starts_with("ERROR syntax error at or near"));
        assert_eq!(norm("select 'it''s'"), "select 'it''s'");
    }

    #[test]
    fn unicode_literals_and_uescape() {
        assert_eq!(
            norm("select U&'d\\0061t\\+000061'"),
            padded("select 'data'", 13)
        );
        assert_eq!(
            norm("select U&'d!0061t' UESCAPE '!' as U&\"a\\0062\""),
            padded("select 'dat'", 18) + " as \"ab\"" + &" ".repeat(6)
        );
        assert_eq!(
            norm("select U&' \\' UESCAPE '!'"),
            padded("select ' \\'", 14)
        );
        assert!(
            norm("select U&'wrong: \\061'").starts_with("ERROR invalid Unicode escape @Some(18)")
        );
        assert!(norm("select U&'wrong: \\db99'").contains("surrogate pair @Some(23)"));
        assert!(norm("select U&'x' UESCAPE '+'").contains("invalid Unicode escape character"));
    }

    #[test]
    fn escape_literals_decode_and_check() {
        assert_eq!(
            norm("select E'a\\tb\\x41\\101'"),
            padded("select 'a\tbAA'", 8)
        );
        assert_eq!(norm("select E'd\\u0061t'"), padded("select 'dat'", 6));
        assert!(
            norm("select E'wrong: \\u061'").starts_with("ERROR invalid Unicode escape @Some(17)")
        );
        assert!(norm("select E'wrong: \\udb99xy'").contains("at or near \"x\" @Some(23)"));
        assert!(norm("select E'\\xff'").contains("0xff"));
        assert!(norm("select E'\\0'").contains("0x00"));
    }

    #[test]
    fn backslashes_in_plain_literals_when_not_standard() {
        let off = LiteralSettings {
            standard_conforming_strings: false,
            escape_string_warning: true,
        };
        let (text, warnings) = normalize("select 'a\\\\b\\'c', $$\\$$", off).unwrap_or_default();
        assert_eq!(text.as_deref(), Some("select 'a\\b''c' , $$\\$$"));
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].position, 8);
        assert!(normalize("select U&'x'", off).is_err());
    }
}
