//! Token-level rewrites of small PostgreSQL forms sqlparser does not read, tried when a
//! statement does not parse as written (see [`crate::session::parse_sql`]). Each keeps the
//! tokens' positions, so errors still point into the text the client sent.

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
};
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

/// The tokens of `sql` with PostgreSQL's `ORDER BY x USING <` written as `ORDER BY x ASC`
/// and `USING >` as `DESC` (the ordering operators of the built-in types, whose NULL
/// placement is the same), and the pattern operators `USING ~<~` and `USING ~>~` the same
/// way (they compare text byte by byte, which is how Basalt orders text); `None` when there
/// is no such key.
pub fn order_by_using(sql: &str) -> Option<Vec<TokenWithSpan>> {
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::Word;
    let (mut tokens, significant) = significant_tokens(sql)?;
    let mut found = false;
    for (k, &at) in significant.iter().enumerate() {
        if token_word(&tokens[at]).as_deref() != Some("using") {
            continue;
        }
        // The operator: one token (`<`, `>`), or the three of `~<~` / `~>~` when the
        // tokenizer splits them.
        let text = |n: usize| -> String {
            significant[k + 1..]
                .iter()
                .take(n)
                .map(|&i| tokens[i].token.to_string())
                .collect()
        };
        let (direction, width) = match (text(1).as_str(), text(3).as_str()) {
            ("<", _) | ("~<~", _) => ("ASC", 1),
            (">", _) | ("~>~", _) => ("DESC", 1),
            (_, "~<~") => ("ASC", 3),
            (_, "~>~") => ("DESC", 3),
            _ => continue,
        };
        let span = tokens[at].span;
        tokens[at] = TokenWithSpan::new(
            Token::Word(Word {
                value: direction.into(),
                quote_style: None,
                keyword: if direction == "ASC" {
                    Keyword::ASC
                } else {
                    Keyword::DESC
                },
            }),
            span,
        );
        for &i in significant[k + 1..].iter().take(width) {
            tokens[i] = TokenWithSpan::new(
                Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space),
                tokens[i].span,
            );
        }
        found = true;
    }
    found.then_some(tokens)
}

/// The tokens of `sql` with PostgreSQL's nested join syntax, `a JOIN b JOIN c ON x ON y`
/// (the right side of a join is itself a join, its condition written first), parenthesized
/// as `a JOIN (b JOIN c ON x) ON y`, which is how PostgreSQL's grammar reads it; `None` when
/// there is none.
pub fn nested_joins(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let (tokens, significant) = significant_tokens(sql)?;
    let mut tokens: Vec<TokenWithSpan> =
        significant.into_iter().map(|i| tokens[i].clone()).collect();
    let mut changed = false;
    // Each pass parenthesizes one right side; nesting deeper than this is not written.
    for _ in 0..64 {
        let Some((start, end)) = JoinScan { t: &tokens }.first_nested() else {
            break;
        };
        let open = TokenWithSpan::new(Token::LParen, tokens[start].span);
        let close = TokenWithSpan::new(Token::RParen, tokens[end - 1].span);
        tokens.insert(end, close);
        tokens.insert(start, open);
        changed = true;
    }
    changed.then_some(tokens)
}

/// Reads join chains in a statement's tokens (whitespace removed).
struct JoinScan<'a> {
    t: &'a [TokenWithSpan],
}

/// Words that end a table reference's alias position or a join condition.
const CLAUSE_WORDS: &[&str] = &[
    "on",
    "using",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "natural",
    "where",
    "group",
    "order",
    "limit",
    "having",
    "window",
    "union",
    "except",
    "intersect",
    "offset",
    "fetch",
    "for",
    "returning",
    "set",
    "tablesample",
    "with",
];

impl JoinScan<'_> {
    fn word(&self, i: usize) -> Option<String> {
        self.t.get(i).and_then(token_word)
    }

    /// The position after the parenthesis that closes the one at `i`.
    fn skip_parens(&self, i: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (k, tok) in self.t.iter().enumerate().skip(i) {
            match tok.token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(k + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Whether a join starts at `i`: the join-type words and `JOIN`. Returns the position
    /// after `JOIN` and whether the join takes a condition (not CROSS or NATURAL).
    fn join_at(&self, i: usize) -> Option<(usize, bool)> {
        let mut k = i;
        let mut qualified = true;
        loop {
            match self.word(k).as_deref() {
                Some("join") => return Some((k + 1, qualified)),
                Some("cross" | "natural") => qualified = false,
                // `left(…)` and `right(…)` are functions.
                Some("left" | "right")
                    if matches!(self.t.get(k + 1).map(|t| &t.token), Some(Token::LParen)) =>
                {
                    return None
                }
                Some("inner" | "left" | "right" | "full" | "outer") => {}
                _ => return None,
            }
            k += 1;
        }
    }

    /// The position after a table reference starting at `i` (a name, a function call or a
    /// parenthesized item, with its alias and column aliases).
    fn table_ref(&self, mut i: usize) -> Option<usize> {
        if self.word(i).as_deref() == Some("lateral") {
            i += 1;
        }
        match self.t.get(i)?.token {
            Token::LParen => i = self.skip_parens(i)?,
            Token::Word(_) => {
                i += 1;
                while matches!(self.t.get(i).map(|t| &t.token), Some(Token::Period)) {
                    i += 2;
                }
                match self.t.get(i).map(|t| &t.token) {
                    Some(Token::LParen) => i = self.skip_parens(i)?,
                    Some(Token::Mul) => i += 1,
                    _ => {}
                }
            }
            _ => return None,
        }
        if self.word(i).as_deref() == Some("as") {
            i += 1;
        }
        if let Some(w) = self.word(i) {
            if !CLAUSE_WORDS.contains(&w.as_str()) {
                i += 1;
                if matches!(self.t.get(i).map(|t| &t.token), Some(Token::LParen)) {
                    i = self.skip_parens(i)?;
                }
            }
        }
        Some(i)
    }

    /// The position after a join condition starting at `i` (`ON expr` or `USING (…)`), or
    /// `None` when there is none.
    fn condition(&self, i: usize) -> Option<usize> {
        match self.word(i).as_deref() {
            Some("using") => {
                let mut k = self.skip_parens(i + 1)?;
                if self.word(k).as_deref() == Some("as") {
                    k += 2;
                }
                Some(k)
            }
            Some("on") => {
                let mut k = i + 1;
                while let Some(tok) = self.t.get(k) {
                    match &tok.token {
                        Token::LParen => k = self.skip_parens(k)?,
                        Token::RParen | Token::Comma | Token::SemiColon => break,
                        Token::Word(_) => {
                            let w = self.word(k).unwrap_or_default();
                            if CLAUSE_WORDS.contains(&w.as_str()) && self.join_at(k).is_some()
                                || matches!(
                                    w.as_str(),
                                    "on" | "using"
                                        | "where"
                                        | "group"
                                        | "order"
                                        | "limit"
                                        | "having"
                                        | "window"
                                        | "union"
                                        | "except"
                                        | "intersect"
                                        | "offset"
                                        | "fetch"
                                        | "for"
                                        | "returning"
                                )
                            {
                                break;
                            }
                            k += 1;
                        }
                        _ => k += 1,
                    }
                }
                Some(k)
            }
            _ => None,
        }
    }

    /// The position after a join chain starting at `i`: a table reference and the joins
    /// that follow it, each join's right side itself a chain when a join follows it before
    /// its condition.
    fn chain(&self, i: usize) -> Option<usize> {
        let mut k = self.table_ref(i)?;
        while let Some((after_join, qualified)) = self.join_at(k) {
            let mut r = self.table_ref(after_join)?;
            if qualified {
                if self.join_at(r).is_some() {
                    r = self.chain(after_join)?;
                }
                k = self.condition(r)?;
            } else {
                k = r;
            }
        }
        Some(k)
    }

    /// The first right side of a join that is itself an unparenthesized join, as the
    /// range of its tokens.
    fn first_nested(&self) -> Option<(usize, usize)> {
        (0..self.t.len()).find_map(|k| {
            let (after_join, qualified) = self.join_at(k)?;
            if !qualified {
                return None;
            }
            let r = self.table_ref(after_join)?;
            self.join_at(r)?;
            let end = self.chain(after_join)?;
            // The outer join's condition must follow, or this is not the nested form.
            self.condition(end)?;
            Some((after_join, end))
        })
    }
}

/// The tokens of `sql` with PostgreSQL's join alias of a USING join (`a JOIN b USING (i)
/// AS x`, which names the merged USING columns only) written without it: `x.i` becomes the
/// merged column (`a.i` for an inner or left join, `b.i` for a right one, `COALESCE(a.i,
/// b.i)` for a full one), and `x.*` the list of them; `None` when there is no such alias.
pub fn join_using_alias(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let (tokens, significant) = significant_tokens(sql)?;
    let t: Vec<TokenWithSpan> = significant.into_iter().map(|i| tokens[i].clone()).collect();
    let word = |i: usize| t.get(i).and_then(token_word);
    // The name a join operand is referred to by: the word before `at` (its alias or its
    // table's name).
    let operand = |at: usize| -> Option<TokenWithSpan> {
        let tok = t.get(at)?;
        matches!(tok.token, Token::Word(_)).then(|| tok.clone())
    };
    struct Alias {
        name: String,
        columns: Vec<String>,
        left: TokenWithSpan,
        right: TokenWithSpan,
        kind: &'static str,
    }
    let mut aliases: Vec<Alias> = Vec::new();
    let mut drop = Vec::new();
    for i in 0..t.len() {
        if word(i).as_deref() != Some("using")
            || t.get(i + 1).is_none_or(|x| x.token != Token::LParen)
        {
            continue;
        }
        let mut j = i + 2;
        let mut columns = Vec::new();
        while let Some(c) = word(j) {
            columns.push(c);
            if t.get(j + 1).is_some_and(|x| x.token == Token::Comma) {
                j += 2;
            } else {
                j += 1;
                break;
            }
        }
        let closes = t.get(j).is_some_and(|x| x.token == Token::RParen);
        if !closes || columns.is_empty() || word(j + 1).as_deref() != Some("as") {
            continue;
        }
        let Some(name) = word(j + 2) else {
            continue;
        };
        // `<left> [kind] [OUTER] JOIN <right> [[AS] alias] USING`
        let Some(join_at) = (0..i).rev().find(|&k| word(k).as_deref() == Some("join")) else {
            continue;
        };
        let Some(right) = i.checked_sub(1).and_then(operand) else {
            continue;
        };
        let mut k = join_at;
        let mut kind = "inner";
        while k > 0 {
            match word(k - 1).as_deref() {
                Some("outer") => k -= 1,
                Some(w @ ("left" | "right" | "full" | "inner")) => {
                    kind = match w {
                        "left" => "left",
                        "right" => "right",
                        "full" => "full",
                        _ => "inner",
                    };
                    k -= 1;
                }
                _ => break,
            }
        }
        let Some(left) = k.checked_sub(1).and_then(operand) else {
            continue;
        };
        aliases.push(Alias {
            name,
            columns,
            left,
            right,
            kind,
        });
        drop.push(j + 1);
        drop.push(j + 2);
    }
    if aliases.is_empty() {
        return None;
    }
    let merged = |a: &Alias, column: &str, span| -> Vec<TokenWithSpan> {
        let col = |side: &TokenWithSpan| {
            vec![
                side.clone(),
                TokenWithSpan::new(Token::Period, span),
                TokenWithSpan::new(Token::make_word(column, None), span),
            ]
        };
        match a.kind {
            "right" => col(&a.right),
            "full" => {
                let mut out = vec![
                    TokenWithSpan::new(Token::make_word("COALESCE", None), span),
                    TokenWithSpan::new(Token::LParen, span),
                ];
                out.extend(col(&a.left));
                out.push(TokenWithSpan::new(Token::Comma, span));
                out.extend(col(&a.right));
                out.push(TokenWithSpan::new(Token::RParen, span));
                out
            }
            _ => col(&a.left),
        }
    };
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if drop.contains(&i) {
            i += 1;
            continue;
        }
        let qualified = t.get(i + 1).is_some_and(|x| x.token == Token::Period);
        let alias = word(i)
            .filter(|_| qualified)
            .and_then(|w| aliases.iter().find(|a| a.name == w));
        if let Some(a) = alias {
            let span = t[i].span;
            match t.get(i + 2).map(|x| &x.token) {
                Some(Token::Mul) => {
                    for (k, c) in a.columns.iter().enumerate() {
                        if k > 0 {
                            out.push(TokenWithSpan::new(Token::Comma, span));
                        }
                        out.extend(merged(a, c, span));
                    }
                    i += 3;
                    continue;
                }
                Some(Token::Word(_)) => {
                    if let Some(c) = word(i + 2).filter(|c| a.columns.contains(c)) {
                        out.extend(merged(a, &c, span));
                        i += 3;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(t[i].clone());
        i += 1;
    }
    Some(out)
}

/// The function an operator class named in a partition key is written as: `a my_ops` in
/// `PARTITION BY HASH (a my_ops)` becomes `__basalt_opclass(a, 'my_ops')`.
const OPCLASS_MARK: &str = "__basalt_opclass";

/// The tokens of `sql` with each operator class in a `PARTITION BY` key written as a call of
/// [`OPCLASS_MARK`] (read back by [`opclass_of`]); `None` when there is none.
pub fn partition_opclasses(sql: &str) -> Option<Vec<TokenWithSpan>> {
    use datafusion::sql::sqlparser::tokenizer::Word;
    let (tokens, significant) = significant_tokens(sql)?;
    let t: Vec<TokenWithSpan> = significant.into_iter().map(|i| tokens[i].clone()).collect();
    let word = |i: usize| t.get(i).and_then(token_word);
    let mut out = Vec::with_capacity(t.len() + 8);
    let mut changed = false;
    let mut i = 0;
    while i < t.len() {
        let starts_key = word(i).as_deref() == Some("partition")
            && word(i + 1).as_deref() == Some("by")
            && word(i + 2).is_some()
            && t.get(i + 3).is_some_and(|x| x.token == Token::LParen);
        if !starts_key {
            out.push(t[i].clone());
            i += 1;
            continue;
        }
        out.extend_from_slice(&t[i..i + 4]);
        i += 4;
        // The key's items, split at depth-1 commas, up to the closing parenthesis.
        let mut item: Vec<TokenWithSpan> = Vec::new();
        let mut depth = 0usize;
        while i < t.len() {
            let tok = &t[i];
            let ends_item = depth == 0 && matches!(tok.token, Token::Comma | Token::RParen);
            if ends_item {
                let n = item.len();
                let is_class_word = |x: &TokenWithSpan| matches!(&x.token, Token::Word(w) if w.quote_style.is_none_or(|q| q == '"'));
                // `expr opclass`: two items side by side, the first not COLLATE's word.
                let split = if n >= 2
                    && is_class_word(&item[n - 1])
                    && (is_class_word(&item[n - 2]) || item[n - 2].token == Token::RParen)
                    && !(n >= 3 && token_word(&item[n - 3]).as_deref() == Some("collate"))
                    && token_word(&item[n - 2]).as_deref() != Some("collate")
                {
                    Some(n - 1)
                } else {
                    None
                };
                match split {
                    Some(at) => {
                        let span = item[at].span;
                        let name = match &item[at].token {
                            Token::Word(w) => w.value.clone(),
                            _ => String::new(),
                        };
                        out.push(TokenWithSpan::new(
                            Token::Word(Word {
                                value: OPCLASS_MARK.into(),
                                quote_style: None,
                                keyword: datafusion::sql::sqlparser::keywords::Keyword::NoKeyword,
                            }),
                            span,
                        ));
                        out.push(TokenWithSpan::new(Token::LParen, span));
                        out.extend(item.drain(..at));
                        out.push(TokenWithSpan::new(Token::Comma, span));
                        out.push(TokenWithSpan::new(Token::SingleQuotedString(name), span));
                        out.push(TokenWithSpan::new(Token::RParen, span));
                        item.clear();
                        changed = true;
                    }
                    None => out.append(&mut item),
                }
                out.push(tok.clone());
                i += 1;
                if tok.token == Token::RParen {
                    break;
                }
                continue;
            }
            match tok.token {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                _ => {}
            }
            item.push(tok.clone());
            i += 1;
        }
    }
    changed.then_some(out)
}

/// A partition key item written by [`partition_opclasses`]: the expression and the name of
/// its operator class.
pub fn opclass_of(e: &Expr) -> Option<(&Expr, String)> {
    let Expr::Function(f) = e else {
        return None;
    };
    if !f.name.to_string().eq_ignore_ascii_case(OPCLASS_MARK) {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(inner)), FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))] => {
            match &v.value {
                Value::SingleQuotedString(name) => Some((inner, name.clone())),
                _ => None,
            }
        }
        _ => None,
    }
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

/// The tokens of `sql` with a statement written `TABLE t` as `SELECT * FROM t` (sqlparser
/// reads `TABLE t` only as an operand of a set operation); `None` for any other statement.
pub fn table_statement(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let (tokens, significant) = significant_tokens(sql)?;
    let first = *significant.first()?;
    let named = significant
        .get(1)
        .is_some_and(|&i| matches!(tokens[i].token, Token::Word(_)));
    if token_word(&tokens[first]).as_deref() != Some("table") || !named {
        return None;
    }
    let span = tokens[first].span;
    let word = |w: &str| TokenWithSpan::new(Token::make_keyword(w), span);
    let mut out = Vec::with_capacity(tokens.len() + 4);
    for (i, t) in tokens.into_iter().enumerate() {
        if i == first {
            out.push(word("SELECT"));
            out.push(TokenWithSpan::new(
                Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space),
                span,
            ));
            out.push(TokenWithSpan::new(Token::Mul, span));
            out.push(TokenWithSpan::new(
                Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space),
                span,
            ));
            out.push(word("FROM"));
        } else {
            out.push(t);
        }
    }
    Some(out)
}
