//! Token-level rewrites of small PostgreSQL forms sqlparser does not read, tried when a
//! statement does not parse as written (see [`crate::session::parse_sql`]). Each keeps the
//! tokens' positions, so errors still point into the text the client sent.

use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::session::{significant_tokens, token_word};

/// Type names PostgreSQL reads before a string literal as that literal's type
/// (`name 'abc'`) where sqlparser does not.
const LITERAL_TYPE_NAMES: &[&str] = &["name"];

/// The tokens of `sql` with `name 'abc'` written as `'abc'::name`; `None` when there is no
/// such literal.
pub fn typed_literals(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let (tokens, significant) = significant_tokens(sql)?;
    let mut typed = Vec::new();
    for pair in significant.windows(2) {
        let (word, literal) = (&tokens[pair[0]], &tokens[pair[1]]);
        let is_type = matches!(&word.token, Token::Word(w) if w.quote_style.is_none())
            && token_word(word).is_some_and(|w| LITERAL_TYPE_NAMES.contains(&w.as_str()));
        if is_type && matches!(literal.token, Token::SingleQuotedString(_)) {
            typed.push(pair[0]);
        }
    }
    if typed.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(tokens.len() + typed.len());
    let mut pending: Option<TokenWithSpan> = None;
    for (i, t) in tokens.into_iter().enumerate() {
        if typed.contains(&i) {
            pending = Some(t);
            continue;
        }
        let is_literal = matches!(t.token, Token::SingleQuotedString(_));
        let span = t.span;
        out.push(t);
        if is_literal {
            if let Some(type_word) = pending.take() {
                out.push(TokenWithSpan::new(Token::DoubleColon, span));
                out.push(type_word);
            }
        }
    }
    Some(out)
}

/// The tokens of `sql` with `TRIM(BOTH FROM s)` (or `LEADING`, `TRAILING`) written as
/// `TRIM(BOTH ' ' FROM s)`, what PostgreSQL trims by default; `None` when there is none.
pub fn trim_without_characters(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let (tokens, significant) = significant_tokens(sql)?;
    let mut insert_before = Vec::new();
    for k in 0..significant.len().saturating_sub(3) {
        let [a, b, c, d] = [k, k + 1, k + 2, k + 3].map(|j| &tokens[significant[j]]);
        let is_trim = token_word(a).as_deref() == Some("trim")
            && b.token == Token::LParen
            && matches!(
                token_word(c).as_deref(),
                Some("both" | "leading" | "trailing")
            )
            && token_word(d).as_deref() == Some("from");
        if is_trim {
            insert_before.push(significant[k + 3]);
        }
    }
    if insert_before.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(tokens.len() + insert_before.len());
    for (i, t) in tokens.into_iter().enumerate() {
        if insert_before.contains(&i) {
            out.push(TokenWithSpan::new(
                Token::SingleQuotedString(" ".into()),
                t.span,
            ));
            out.push(TokenWithSpan::new(
                Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space),
                t.span,
            ));
        }
        out.push(t);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(tokens: Option<Vec<TokenWithSpan>>) -> String {
        tokens
            .unwrap_or_default()
            .iter()
            .map(|t| t.token.to_string())
            .collect()
    }

    #[test]
    fn type_name_before_a_literal_is_a_cast() {
        assert_eq!(
            text(typed_literals("select cast(name 'x' as text)")),
            "select cast( 'x'::name as text)"
        );
        assert!(typed_literals("select \"name\" 'x'").is_none());
        assert!(typed_literals("select name from t").is_none());
    }

    #[test]
    fn trim_without_characters_trims_blanks() {
        assert_eq!(
            text(trim_without_characters("select trim(leading from x)")),
            "select trim(leading ' ' from x)"
        );
        assert!(trim_without_characters("select trim(both 'x' from y)").is_none());
    }
}
