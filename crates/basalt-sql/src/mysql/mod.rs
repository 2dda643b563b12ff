//! The MySQL dialect of a session: statements are split and parsed as MySQL writes them,
//! normalised into the forms the shared planner understands, and MySQL's own commands
//! (`SHOW …`, `USE`, `SET`, `DESCRIBE`, `CREATE DATABASE` …) are answered from the catalog.
//!
//! One catalog serves both protocols: a MySQL database is a PostgreSQL schema of the
//! database `basalt`, so `shop.orders` on the MySQL port is `shop.orders` on the PostgreSQL
//! port. Identifiers are case-insensitive (backtick-quoted ones too), as MySQL compares
//! column names.

mod commands;
mod errors;
pub(crate) mod functions;
pub(crate) mod info_schema;
mod normalize;
mod session;
mod variables;

use std::collections::HashMap;
use std::time::Instant;

use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

pub(crate) use commands::{no_database, Command};
pub use errors::MyError;

use crate::error::{SqlError, SqlResult};

/// What the handshake and `VERSION()` report on the MySQL port (MySQL 8 compatible).
pub const MYSQL_SERVER_VERSION: &str = "8.0.36-Basalt-0.1.0";
/// Field metadata holding the MySQL type a column was declared with (e.g. `tinyint unsigned`,
/// `enum('a','b')`, `year`), so the protocol can describe it as MySQL would.
pub const MYSQL_TYPE_KEY: &str = "basalt.mysql_type";
/// Field metadata marking a stored NOT NULL column (MySQL's NOT_NULL_FLAG); Arrow fields of
/// table scans stay nullable so planning never depends on it.
pub const NOT_NULL_KEY: &str = "basalt.not_null";

/// Who is connected, for `SHOW PROCESSLIST`, `USER()` and `CONNECTION_ID()`.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub connection_id: u32,
    pub user: String,
    pub host: String,
}

/// One entry of `SHOW PROCESSLIST`.
#[derive(Debug, Clone)]
pub struct Process {
    pub info: ConnInfo,
    pub db: Option<String>,
    pub command: &'static str,
    pub since: Instant,
    pub query: Option<String>,
}

/// A note left by a statement, shown by `SHOW WARNINGS`.
#[derive(Debug, Clone)]
pub struct Warning {
    pub level: &'static str,
    pub code: u16,
    pub message: String,
}

/// The MySQL-specific state of a session.
pub(crate) struct MyState {
    pub info: ConnInfo,
    pub database: Option<String>,
    pub autocommit: bool,
    pub user_vars: HashMap<String, ScalarValue>,
    /// Session values of system variables (lowercase names), over the global defaults.
    pub vars: HashMap<String, String>,
    /// `LAST_INSERT_ID()`: the first AUTO_INCREMENT value of the last INSERT that made one.
    pub last_insert_id: u64,
    /// The id the current statement's OK packet reports.
    pub statement_insert_id: u64,
    pub warnings: Vec<Warning>,
    /// Rows the last statement changed (`ROW_COUNT()`), -1 after a query.
    pub row_count: i64,
    /// Rows the last SELECT returned (`FOUND_ROWS()`).
    pub found_rows: u64,
    /// The client asked for matched rather than changed rows (CLIENT_FOUND_ROWS).
    pub client_found_rows: bool,
    /// Rows the last UPDATE matched.
    pub matched_rows: u64,
    /// The OK packet's info text (`Records: 3  Duplicates: 0  Warnings: 0`).
    pub ok_info: String,
    /// Divisions by zero counted by `/` (each becomes warning 1365).
    pub div_by_zero: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl MyState {
    pub fn new(info: ConnInfo) -> MyState {
        MyState {
            info,
            database: None,
            autocommit: true,
            user_vars: HashMap::new(),
            vars: HashMap::new(),
            last_insert_id: 0,
            statement_insert_id: 0,
            warnings: Vec::new(),
            row_count: -1,
            found_rows: 0,
            client_found_rows: false,
            matched_rows: 0,
            ok_info: String::new(),
            div_by_zero: std::sync::Arc::default(),
        }
    }
}

/// One statement of a MySQL query text.
pub(crate) enum Piece {
    /// An SQL statement for the shared planner, already normalised.
    Sql(Box<Statement>),
    /// A MySQL command answered by Basalt itself.
    Command(Command),
    /// A statement that failed to parse: the error is reported when its turn comes, as
    /// MySQL runs the statements before it.
    Error(SqlError),
}

/// The first of 256 private-use characters that stand for bytes that are not UTF-8 in a
/// query (clients put raw binary data in string literals for BLOB columns).
const RAW_BYTE_BASE: u32 = 0x10_FF00;

/// A query's bytes as text, losslessly: invalid UTF-8 bytes become private-use characters
/// that string literals turn back into bytes (see `literal_bytes`).
pub fn decode_query(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                out.push_str(std::str::from_utf8(&rest[..valid]).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len() - valid);
                for &b in &rest[valid..valid + bad] {
                    out.push(char::from_u32(RAW_BYTE_BASE + u32::from(b)).unwrap_or('\u{FFFD}'));
                }
                rest = &rest[valid + bad..];
            }
        }
    }
    out
}

/// The bytes a string literal stands for, if it holds raw (non-UTF-8) bytes.
pub(crate) fn literal_bytes(s: &str) -> Option<Vec<u8>> {
    let raw = |c: char| (RAW_BYTE_BASE..RAW_BYTE_BASE + 256).contains(&u32::from(c));
    if !s.chars().any(raw) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if raw(c) {
            out.push((u32::from(c) - RAW_BYTE_BASE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Some(out)
}

/// Byte offsets of the start of each line, to turn tokenizer locations into offsets.
fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn byte_offset(sql: &str, starts: &[usize], line: u64, column: u64) -> usize {
    let Some(&start) = starts.get((line as usize).saturating_sub(1)) else {
        return sql.len();
    };
    sql[start..]
        .char_indices()
        .nth((column as usize).saturating_sub(1))
        .map_or(sql.len(), |(i, _)| start + i)
}

/// Byte offsets of token positions (line, column in characters, both from 1) visited in
/// increasing order: each call walks on from the previous one, so a whole statement costs
/// one pass over its text (a position before the previous one starts again at its line).
struct Offsets<'a> {
    sql: &'a str,
    starts: Vec<usize>,
    line: u64,
    column: u64,
    byte: usize,
}

impl<'a> Offsets<'a> {
    fn new(sql: &'a str) -> Offsets<'a> {
        Offsets {
            sql,
            starts: line_starts(sql),
            line: 1,
            column: 1,
            byte: 0,
        }
    }

    fn at(&mut self, line: u64, column: u64) -> usize {
        if line != self.line || column < self.column {
            let Some(&start) = self.starts.get((line as usize).saturating_sub(1)) else {
                return self.sql.len();
            };
            self.line = line;
            self.column = 1;
            self.byte = start;
        }
        let ahead = (column.saturating_sub(self.column)) as usize;
        match self.sql[self.byte..].char_indices().nth(ahead) {
            Some((i, _)) => {
                self.byte += i;
                self.column = column;
                self.byte
            }
            None => self.sql.len(),
        }
    }
}

/// MySQL's syntax error text: "… near '<rest of the statement>' at line N".
pub(crate) fn syntax_error(text: &str, e: &ParserError) -> SqlError {
    let msg = match e {
        ParserError::ParserError(s) | ParserError::TokenizerError(s) => s.clone(),
        ParserError::RecursionLimitExceeded => "statement is too deeply nested".into(),
    };
    let starts = line_starts(text);
    let (near, line) = match msg.rfind(" at Line: ") {
        Some(i) => {
            let loc = &msg[i + " at Line: ".len()..];
            let mut parts = loc.split(", Column: ");
            let line: u64 = parts
                .next()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(1);
            let col: u64 = parts
                .next()
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(1);
            let at = byte_offset(text, &starts, line, col);
            (text[at..].chars().take(80).collect::<String>(), line)
        }
        None => (String::new(), 1),
    };
    SqlError::MySql {
        code: 1064,
        sqlstate: "42000",
        message: format!(
            "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near '{near}' at line {line}"
        ),
    }
}

/// Splits a query text into statements at top-level semicolons and parses each one
/// (tests; sessions parse each statement when its turn comes, after the ones before it ran).
#[cfg(test)]
pub(crate) fn split_and_parse(sql: &str, state: &MyState) -> SqlResult<Vec<(String, Piece)>> {
    Ok(split(sql)?
        .into_iter()
        .map(|(text, tokens)| {
            let piece = parse_piece(&text, tokens, state);
            (text, piece)
        })
        .collect())
}

/// One statement's text and tokens.
pub(crate) type Split = (String, Vec<TokenWithSpan>);

/// Splits a query text into statements at top-level semicolons.
pub(crate) fn split(sql: &str) -> SqlResult<Vec<Split>> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| syntax_error(sql, &ParserError::TokenizerError(e.to_string())))?;
    let mut offsets = Offsets::new(sql);
    let mut out = Vec::new();
    let mut current: Vec<TokenWithSpan> = Vec::new();
    let mut start_offset: Option<usize> = None;
    let mut flush = |current: &mut Vec<TokenWithSpan>, start: Option<usize>, end: usize| {
        let significant = current
            .iter()
            .any(|t| !matches!(t.token, Token::Whitespace(_)));
        if significant {
            let text = sql[start.unwrap_or(0)..end].trim().to_owned();
            // Tokens again, located within the statement, so errors point into it.
            let tokens = Tokenizer::new(&MySqlDialect {}, &text)
                .tokenize_with_location()
                .unwrap_or_else(|_| std::mem::take(current));
            out.push((text, tokens));
        }
        current.clear();
    };
    for t in tokens {
        let offset = offsets.at(t.span.start.line, t.span.start.column);
        match t.token {
            Token::SemiColon => {
                flush(&mut current, start_offset, offset);
                start_offset = None;
            }
            Token::EOF => {}
            _ => {
                if start_offset.is_none() && !matches!(t.token, Token::Whitespace(_)) {
                    start_offset = Some(offset);
                }
                if start_offset.is_some() {
                    current.push(t);
                }
            }
        }
    }
    flush(&mut current, start_offset, sql.len());
    Ok(out)
}

pub(crate) fn parse_piece(text: &str, tokens: Vec<TokenWithSpan>, state: &MyState) -> Piece {
    let words: Vec<&Token> = tokens
        .iter()
        .map(|t| &t.token)
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    match commands::parse(&words, text) {
        Ok(Some(cmd)) => return Piece::Command(cmd),
        Ok(None) => {}
        Err(e) => return Piece::Error(e),
    }
    let names = select_item_names(&tokens);
    let is_create = words
        .first()
        .is_some_and(|t| matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case("CREATE")));
    let tokens = match strip_secondary_engine(is_create, tokens) {
        Ok(t) => t,
        Err(e) => return Piece::Error(e),
    };
    match parse_tokens(text, tokens) {
        Ok(mut stmt) => match normalize::statement(&mut stmt, state, names) {
            Ok(()) => Piece::Sql(Box::new(stmt)),
            Err(e) => Piece::Error(e),
        },
        Err(e) => Piece::Error(e),
    }
}

/// `CREATE TABLE … SECONDARY_ENGINE [=] Rapid` declares the column engine for the table, as
/// in MySQL HeatWave, where the data is loaded by `ALTER TABLE … SECONDARY_LOAD`: the option is
/// checked and taken out before parsing (the parser does not know it).
fn strip_secondary_engine(
    is_create: bool,
    mut tokens: Vec<TokenWithSpan>,
) -> SqlResult<Vec<TokenWithSpan>> {
    let is_word = |t: &Token, kw: &str| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw));
    if !is_create {
        return Ok(tokens);
    }
    let Some(at) = tokens
        .iter()
        .position(|t| is_word(&t.token, "SECONDARY_ENGINE"))
    else {
        return Ok(tokens);
    };
    let mut end = at + 1;
    let skip_blank = |end: &mut usize| {
        while matches!(
            tokens.get(*end).map(|t| &t.token),
            Some(Token::Whitespace(_))
        ) {
            *end += 1;
        }
    };
    skip_blank(&mut end);
    if matches!(tokens.get(end).map(|t| &t.token), Some(Token::Eq)) {
        end += 1;
        skip_blank(&mut end);
    }
    let name = match tokens.get(end).map(|t| &t.token) {
        Some(Token::Word(w)) => w.value.clone(),
        Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => s.clone(),
        _ => {
            return Err(SqlError::MySql {
                code: 1064,
                sqlstate: "42000",
                message: "SECONDARY_ENGINE needs an engine name".into(),
            })
        }
    };
    if !name.eq_ignore_ascii_case("null") {
        commands::check_secondary_engine(&name)?;
    }
    tokens.drain(at..=end);
    Ok(tokens)
}

/// The texts of a top-level `SELECT`'s items as written, which MySQL uses as column names
/// of unaliased expressions (`SELECT 1+1` → `1+1`; a string literal is named by its value).
fn select_item_names(tokens: &[TokenWithSpan]) -> Option<Vec<String>> {
    let mut it = tokens.iter().map(|t| &t.token).peekable();
    while matches!(it.peek(), Some(Token::Whitespace(_))) {
        it.next();
    }
    match it.next() {
        Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("select") => {}
        _ => return None,
    }
    const END: &[&str] = &[
        "FROM",
        "INTO",
        "WHERE",
        "GROUP",
        "HAVING",
        "ORDER",
        "LIMIT",
        "UNION",
        "WINDOW",
        "FOR",
        "LOCK",
        "EXCEPT",
        "INTERSECT",
    ];
    const MODIFIERS: &[&str] = &[
        "DISTINCT",
        "ALL",
        "DISTINCTROW",
        "SQL_CALC_FOUND_ROWS",
        "SQL_NO_CACHE",
        "HIGH_PRIORITY",
        "STRAIGHT_JOIN",
    ];
    let mut items: Vec<Vec<&Token>> = vec![Vec::new()];
    let mut depth = 0i32;
    for t in it {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                items.push(Vec::new());
                continue;
            }
            Token::Word(w) if depth == 0 && w.quote_style.is_none() => {
                let upper = w.value.to_uppercase();
                if END.contains(&upper.as_str()) {
                    break;
                }
                let current = items.last().map_or(0, Vec::len);
                if current == 0 && items.len() == 1 && MODIFIERS.contains(&upper.as_str()) {
                    continue;
                }
            }
            _ => {}
        }
        if let Some(item) = items.last_mut() {
            item.push(t);
        }
    }
    Some(
        items
            .into_iter()
            .map(|item| {
                let significant: Vec<&&Token> = item
                    .iter()
                    .filter(|t| !matches!(t, Token::Whitespace(_)))
                    .collect();
                match significant.as_slice() {
                    [Token::SingleQuotedString(s)] | [Token::DoubleQuotedString(s)] => s.clone(),
                    _ => item
                        .iter()
                        .map(|t| t.to_string())
                        .collect::<String>()
                        .trim()
                        .to_owned(),
                }
            })
            .collect(),
    )
}

/// Parses one statement's tokens in the MySQL dialect. Backtick-quoted identifiers are
/// folded to lower case (MySQL compares column names case-insensitively) except where
/// they name an output column (`AS \`Total\``), and double-quoted text is a string.
fn parse_tokens(text: &str, mut tokens: Vec<TokenWithSpan>) -> SqlResult<Statement> {
    let mut previous_word: Option<String> = None;
    for t in tokens.iter_mut() {
        match &mut t.token {
            Token::Word(w) if w.quote_style == Some('`') => {
                if previous_word.as_deref() != Some("AS") {
                    w.value = w.value.to_lowercase();
                }
                previous_word = None;
            }
            Token::Word(w) => previous_word = Some(w.value.to_uppercase()),
            Token::DoubleQuotedString(s) => {
                t.token = Token::SingleQuotedString(std::mem::take(s));
                previous_word = None;
            }
            Token::Whitespace(_) => {}
            _ => previous_word = None,
        }
    }
    let mut parser = Parser::new(&MySqlDialect {}).with_tokens_with_locations(tokens);
    let mut statements = parser
        .parse_statements()
        .map_err(|e| syntax_error(text, &e))?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        _ => Err(syntax_error(
            text,
            &ParserError::ParserError("expected one statement".into()),
        )),
    }
}

/// SQL LIKE with MySQL's default case-insensitive comparison, for `SHOW … LIKE 'pattern'`.
pub(crate) fn like(pattern: &str, value: &str) -> bool {
    fn matches(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('%', rest)) => (0..=v.len()).any(|i| matches(rest, &v[i..])),
            Some(('_', rest)) => !v.is_empty() && matches(rest, &v[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                !v.is_empty() && v[0] == rest[0] && matches(&rest[1..], &v[1..])
            }
            Some((c, rest)) => !v.is_empty() && v[0] == *c && matches(rest, &v[1..]),
        }
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let v: Vec<char> = value.to_lowercase().chars().collect();
    matches(&p, &v)
}

#[cfg(test)]
mod tests {

    #[test]
    fn token_offsets_match_a_fresh_count_from_the_line_start() {
        let sql = "SELECT 'é', 2;\n  INSERT INTO t VALUES ('ü', 'x'), (3, 4);\nSELECT\t5 ;";
        let tokens = Tokenizer::new(&MySqlDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        let starts = line_starts(sql);
        let mut offsets = Offsets::new(sql);
        for t in &tokens {
            let (line, column) = (t.span.start.line, t.span.start.column);
            assert_eq!(
                offsets.at(line, column),
                byte_offset(sql, &starts, line, column),
                "{t:?}"
            );
        }
        let pieces = split(sql).unwrap();
        let texts: Vec<&str> = pieces.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            texts,
            [
                "SELECT 'é', 2",
                "INSERT INTO t VALUES ('ü', 'x'), (3, 4)",
                "SELECT\t5"
            ]
        );
    }
    use super::*;

    fn state() -> MyState {
        MyState::new(ConnInfo {
            connection_id: 1,
            user: "root".into(),
            host: "localhost".into(),
        })
    }

    #[test]
    fn statements_split_at_top_level_semicolons() {
        let pieces = split_and_parse("select 'a;b'; select 2 ;; show tables", &state()).unwrap();
        let texts: Vec<&str> = pieces.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, vec!["select 'a;b'", "select 2", "show tables"]);
        assert!(matches!(pieces[2].1, Piece::Command(_)));
    }

    #[test]
    fn syntax_errors_say_near_what() {
        let pieces = split_and_parse("select * frm t", &state()).unwrap();
        let Piece::Error(SqlError::MySql { code, message, .. }) = &pieces[0].1 else {
            panic!("expected a syntax error");
        };
        assert_eq!(*code, 1064);
        assert!(message.contains("near 'frm t' at line 1"), "{message}");
    }

    #[test]
    fn like_is_case_insensitive_with_wildcards() {
        assert!(like("auto%", "AUTOCOMMIT"));
        assert!(like("v_rsion", "version"));
        assert!(!like("ver", "version"));
        assert!(like("a\\_b", "a_b"));
        assert!(!like("a\\_b", "axb"));
    }
}
