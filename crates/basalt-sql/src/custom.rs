//! PostgreSQL statements sqlparser does not read, parsed here at the start of a statement
//! and carried to the session inside sqlparser's `Statement` (a `SET` of a variable whose
//! name holds a NUL, which no SQL text can spell, with the parsed statement as JSON).
//!
//! - `SET CONSTRAINTS {ALL | name [, …]} {DEFERRED | IMMEDIATE}`
//! - `ALTER SEQUENCE [IF EXISTS] name option …` (INCREMENT, MINVALUE, MAXVALUE, START,
//!   RESTART, CACHE, CYCLE, OWNED BY, AS)
//! - `ALTER TABLE [IF EXISTS] [ONLY] name ALTER [COLUMN] column SET STORAGE strategy` (as the
//!   statement's only action)
//! - `FETCH` and `MOVE` with PostgreSQL's directions (sqlparser needs a count)
//! - `CREATE DOMAIN` with NOT NULL / NULL constraints (sqlparser reads only CHECK), and
//!   `ALTER DOMAIN`
//! - `COMMENT ON CONSTRAINT name ON [DOMAIN] object IS …`
//! - `BEGIN`, `START TRANSACTION`, `SET TRANSACTION` and `SET SESSION CHARACTERISTICS AS
//!   TRANSACTION` with a `[NOT] DEFERRABLE` mode (sqlparser does not read the mode): the
//!   statement without it, and the mode

use datafusion::sql::sqlparser::ast::{Expr, Ident, ObjectName, Set, Statement, Value};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};
use serde::{Deserialize, Serialize};

/// The variable name of the carrying `SET`.
const CARRIER: &str = "\0basalt statement";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Custom {
    /// `names` empty: ALL. Each name is its parts, folded.
    SetConstraints {
        deferred: bool,
        names: Vec<Vec<String>>,
    },
    AlterSequence {
        if_exists: bool,
        name: Vec<String>,
        options: Vec<SequenceOption>,
    },
    /// `FETCH [direction] [FROM | IN] cursor`, or `MOVE …` (`moves`): the cursor's rows
    /// that `direction` passes over.
    Fetch {
        moves: bool,
        name: String,
        direction: FetchDirection,
    },
    /// `storage`: the strategy's word, lower-cased (plain, external, extended, main, default).
    SetStorage {
        if_exists: bool,
        table: Vec<String>,
        column: String,
        storage: String,
    },
    /// `data_type`: the base type as SQL text. `checks`: (constraint name, expression over
    /// `value`) in written order.
    CreateDomain {
        name: Vec<String>,
        data_type: String,
        default: Option<String>,
        not_null: bool,
        checks: Vec<(Option<String>, String)>,
    },
    AlterDomain {
        name: Vec<String>,
        action: AlterDomainAction,
    },
    /// `comment` `None`: `IS NULL` (removes the comment).
    CommentOnConstraint {
        constraint: String,
        on_domain: bool,
        object: Vec<String>,
        comment: Option<String>,
    },
    /// A transaction statement with `[NOT] DEFERRABLE`: `statement` is its text without the
    /// mode; `session`: SET SESSION CHARACTERISTICS (the mode becomes the default).
    Deferrable {
        deferrable: bool,
        session: bool,
        statement: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlterDomainAction {
    AddCheck {
        name: Option<String>,
        expr: String,
        not_valid: bool,
    },
    DropConstraint {
        name: String,
        if_exists: bool,
    },
    SetNotNull(bool),
    /// `None`: DROP DEFAULT.
    SetDefault(Option<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SequenceOption {
    Increment(i64),
    /// `None`: NO MINVALUE (the default bound).
    MinValue(Option<i64>),
    MaxValue(Option<i64>),
    Start(i64),
    /// `None`: back to the START value.
    Restart(Option<i64>),
    Cache(i64),
    Cycle(bool),
    /// `None`: OWNED BY NONE; else table name parts and the column.
    OwnedBy(Option<Vec<String>>),
    /// AS smallint | integer | bigint.
    As(String),
}

/// Where a FETCH or MOVE goes (PostgreSQL's FetchStmt): NEXT is `Forward(Some(1))`, PRIOR
/// `Backward(Some(1))`, FIRST `Absolute(1)`, LAST `Absolute(-1)`; `None` counts are ALL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FetchDirection {
    Forward(Option<i64>),
    Backward(Option<i64>),
    Absolute(i64),
    Relative(i64),
}

/// The custom statement a parsed statement carries, if it carries one.
pub fn decode(stmt: &Statement) -> Option<Custom> {
    let Statement::Set(Set::SingleAssignment {
        variable, values, ..
    }) = stmt
    else {
        return None;
    };
    match (variable.0.as_slice(), values.as_slice()) {
        ([part], [Expr::Value(v)]) if part.as_ident().is_some_and(|i| i.value == CARRIER) => {
            match &v.value {
                Value::SingleQuotedString(json) => serde_json::from_str(json).ok(),
                _ => None,
            }
        }
        _ => None,
    }
}

fn encode(custom: &Custom) -> Result<Statement, ParserError> {
    let json = serde_json::to_string(custom)
        .map_err(|e| ParserError::ParserError(format!("internal: {e}")))?;
    Ok(Statement::Set(Set::SingleAssignment {
        scope: None,
        hivevar: false,
        variable: ObjectName::from(vec![Ident::new(CARRIER)]),
        values: vec![Expr::Value(Value::SingleQuotedString(json).into())],
    }))
}

fn is(t: &Token, word: &str) -> bool {
    matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case(word))
}

fn peek_is(p: &Parser, word: &str) -> bool {
    is(&p.peek_token_ref().token, word)
}

fn eat(p: &mut Parser, word: &str) -> bool {
    if peek_is(p, word) {
        p.next_token();
        return true;
    }
    false
}

fn folded_parts(name: ObjectName) -> Vec<String> {
    name.0
        .into_iter()
        .filter_map(|p| p.as_ident().map(crate::ddl::ident))
        .collect()
}

/// A custom statement when the parser stands at one; `None` otherwise (nothing consumed).
pub fn parse(p: &mut Parser) -> Result<Option<Statement>, ParserError> {
    let first = p.peek_token_ref().token.clone();
    let second = p.peek_nth_token(1).token;
    let custom = if is(&first, "set") && is(&second, "constraints") {
        p.next_token();
        p.next_token();
        set_constraints(p)?
    } else if is(&first, "alter") && is(&second, "sequence") {
        p.next_token();
        p.next_token();
        alter_sequence(p)?
    } else if is(&first, "fetch") || is(&first, "move") {
        p.next_token();
        fetch(p, is(&first, "move"))?
    } else if is(&first, "create") && is(&second, "domain") {
        p.next_token();
        p.next_token();
        create_domain(p)?
    } else if is(&first, "alter") && is(&second, "domain") {
        p.next_token();
        p.next_token();
        alter_domain(p)?
    } else if is(&first, "comment")
        && is(&second, "on")
        && is(&p.peek_nth_token(2).token, "constraint")
    {
        for _ in 0..3 {
            p.next_token();
        }
        comment_on_constraint(p)?
    } else if let Some(set_storage) = set_storage(p) {
        set_storage
    } else if let Some(deferrable) = deferrable_mode(p) {
        deferrable
    } else {
        return Ok(None);
    };
    encode(&custom).map(Some)
}

/// A transaction statement (BEGIN, START TRANSACTION, SET TRANSACTION, SET SESSION
/// CHARACTERISTICS AS TRANSACTION) with a `[NOT] DEFERRABLE` mode, read by looking ahead to
/// the end of the statement and consumed only then; the last mode written wins.
fn deferrable_mode(p: &mut Parser) -> Option<Custom> {
    let token = |p: &Parser, k: usize| p.peek_nth_token(k).token;
    let kw = |p: &Parser, k: usize, w: &str| is(&token(p, k), w);
    let session = kw(p, 0, "set") && kw(p, 1, "session") && kw(p, 2, "characteristics");
    let transaction = kw(p, 0, "begin")
        || (kw(p, 0, "start") && kw(p, 1, "transaction"))
        || (kw(p, 0, "set") && kw(p, 1, "transaction"))
        || session;
    if !transaction {
        return None;
    }
    let mut tokens = Vec::new();
    let mut k = 0;
    loop {
        match token(p, k) {
            Token::EOF | Token::SemiColon => break,
            t => tokens.push(t),
        }
        k += 1;
    }
    let mut deferrable = None;
    let mut kept: Vec<Token> = Vec::with_capacity(tokens.len());
    for t in tokens {
        if is(&t, "deferrable") {
            let not = kept.last().is_some_and(|w| is(w, "not"));
            if not {
                kept.pop();
            }
            // The comma that joined the mode to the one before goes too.
            if kept.last() == Some(&Token::Comma) {
                kept.pop();
            }
            deferrable = Some(!not);
            continue;
        }
        // A comma right after a dropped mode at the start of the list.
        if t == Token::Comma
            && deferrable.is_some()
            && kept
                .last()
                .is_some_and(|w| is(w, "transaction") || is(w, "begin") || is(w, "work"))
        {
            continue;
        }
        kept.push(t);
    }
    let deferrable = deferrable?;
    for _ in 0..k {
        p.next_token();
    }
    let statement = kept
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    Some(Custom::Deferrable {
        deferrable,
        session,
        statement,
    })
}

/// `ALTER TABLE … ALTER [COLUMN] c SET STORAGE s` when that is the whole statement (read by
/// looking ahead; consumed only then).
fn set_storage(p: &mut Parser) -> Option<Custom> {
    let token = |p: &Parser, k: usize| p.peek_nth_token(k).token;
    let word = |p: &Parser, k: usize| match token(p, k) {
        Token::Word(w) => Some(crate::ddl::ident(&Ident {
            value: w.value,
            quote_style: w.quote_style,
            span: datafusion::sql::sqlparser::tokenizer::Span::empty(),
        })),
        _ => None,
    };
    let kw = |p: &Parser, k: usize, w: &str| is(&token(p, k), w);
    if !kw(p, 0, "alter") || !kw(p, 1, "table") {
        return None;
    }
    let mut k = 2;
    let if_exists = kw(p, k, "if") && kw(p, k + 1, "exists");
    if if_exists {
        k += 2;
    }
    if kw(p, k, "only") {
        k += 1;
    }
    let mut table = vec![word(p, k)?];
    k += 1;
    while token(p, k) == Token::Period {
        table.push(word(p, k + 1)?);
        k += 2;
    }
    if !kw(p, k, "alter") {
        return None;
    }
    k += 1;
    if kw(p, k, "column") {
        k += 1;
    }
    let column = word(p, k)?;
    if !kw(p, k + 1, "set") || !kw(p, k + 2, "storage") {
        return None;
    }
    let storage = word(p, k + 3)?.to_lowercase();
    if !matches!(token(p, k + 4), Token::SemiColon | Token::EOF) {
        return None;
    }
    for _ in 0..k + 4 {
        p.next_token();
    }
    Some(Custom::SetStorage {
        if_exists,
        table,
        column,
        storage,
    })
}

/// `[CONSTRAINT name] CHECK (expr)`'s parenthesized expression.
fn check_expr(p: &mut Parser) -> Result<String, ParserError> {
    p.expect_token(&Token::LParen)?;
    let expr = p.parse_expr()?;
    p.expect_token(&Token::RParen)?;
    Ok(expr.to_string())
}

/// The rest of `CREATE DOMAIN name [AS] type [COLLATE c] [DEFAULT e] [constraint …]`.
fn create_domain(p: &mut Parser) -> Result<Custom, ParserError> {
    let name = folded_parts(p.parse_object_name(false)?);
    eat(p, "as");
    let data_type = p.parse_data_type()?.to_string();
    let (mut default, mut not_null, mut checks) = (None, false, Vec::new());
    loop {
        if eat(p, "collate") {
            p.parse_object_name(false)?;
        } else if eat(p, "default") {
            default = Some(p.parse_expr()?.to_string());
        } else {
            let cname = if eat(p, "constraint") {
                Some(crate::ddl::ident(&p.parse_identifier()?))
            } else {
                None
            };
            if eat(p, "not") {
                p.expect_keyword(datafusion::sql::sqlparser::keywords::Keyword::NULL)?;
                not_null = true;
            } else if eat(p, "null") {
                not_null = false;
            } else if eat(p, "check") {
                checks.push((cname, check_expr(p)?));
            } else if cname.is_some() {
                return p.expected("NOT NULL, NULL or CHECK", p.peek_token());
            } else {
                break;
            }
        }
    }
    Ok(Custom::CreateDomain {
        name,
        data_type,
        default,
        not_null,
        checks,
    })
}

/// The rest of `ALTER DOMAIN name action`.
fn alter_domain(p: &mut Parser) -> Result<Custom, ParserError> {
    let name = folded_parts(p.parse_object_name(false)?);
    let action = if eat(p, "add") {
        let cname = if eat(p, "constraint") {
            Some(crate::ddl::ident(&p.parse_identifier()?))
        } else {
            None
        };
        if !eat(p, "check") {
            return p.expected("CHECK", p.peek_token());
        }
        let expr = check_expr(p)?;
        let not_valid = eat(p, "not") && eat(p, "valid");
        AlterDomainAction::AddCheck {
            name: cname,
            expr,
            not_valid,
        }
    } else if eat(p, "drop") {
        if eat(p, "constraint") {
            let if_exists = eat(p, "if") && eat(p, "exists");
            let name = crate::ddl::ident(&p.parse_identifier()?);
            eat(p, "restrict");
            eat(p, "cascade");
            AlterDomainAction::DropConstraint { name, if_exists }
        } else if eat(p, "not") && eat(p, "null") {
            AlterDomainAction::SetNotNull(false)
        } else if eat(p, "default") {
            AlterDomainAction::SetDefault(None)
        } else {
            return p.expected("CONSTRAINT, NOT NULL or DEFAULT", p.peek_token());
        }
    } else if eat(p, "set") {
        if eat(p, "not") && eat(p, "null") {
            AlterDomainAction::SetNotNull(true)
        } else if eat(p, "default") {
            AlterDomainAction::SetDefault(Some(p.parse_expr()?.to_string()))
        } else {
            return p.expected("NOT NULL or DEFAULT", p.peek_token());
        }
    } else {
        return p.expected("ADD, DROP or SET", p.peek_token());
    };
    Ok(Custom::AlterDomain { name, action })
}

/// The rest of `COMMENT ON CONSTRAINT name ON [DOMAIN] object IS {'text' | NULL}`.
fn comment_on_constraint(p: &mut Parser) -> Result<Custom, ParserError> {
    let constraint = crate::ddl::ident(&p.parse_identifier()?);
    if !eat(p, "on") {
        return p.expected("ON", p.peek_token());
    }
    let on_domain = eat(p, "domain");
    let object = folded_parts(p.parse_object_name(false)?);
    if !eat(p, "is") {
        return p.expected("IS", p.peek_token());
    }
    let comment = if eat(p, "null") {
        None
    } else {
        Some(p.parse_literal_string()?)
    };
    Ok(Custom::CommentOnConstraint {
        constraint,
        on_domain,
        object,
        comment,
    })
}

fn set_constraints(p: &mut Parser) -> Result<Custom, ParserError> {
    let mut names = Vec::new();
    if !eat(p, "all") {
        loop {
            names.push(folded_parts(p.parse_object_name(false)?));
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
    }
    let deferred = match p.next_token().token {
        t if is(&t, "deferred") => true,
        t if is(&t, "immediate") => false,
        t => return p.expected("DEFERRED or IMMEDIATE", TokenWithSpan::wrap(t)),
    };
    Ok(Custom::SetConstraints { deferred, names })
}

/// The rest of `FETCH` / `MOVE`: `[direction] [FROM | IN] cursor_name`.
fn fetch(p: &mut Parser, moves: bool) -> Result<Custom, ParserError> {
    let count_ahead = |p: &Parser| {
        matches!(
            p.peek_token_ref().token,
            Token::Number(..) | Token::Minus | Token::Plus
        )
    };
    let direction = if eat(p, "next") {
        FetchDirection::Forward(Some(1))
    } else if eat(p, "prior") {
        FetchDirection::Backward(Some(1))
    } else if eat(p, "first") {
        FetchDirection::Absolute(1)
    } else if eat(p, "last") {
        FetchDirection::Absolute(-1)
    } else if eat(p, "absolute") {
        FetchDirection::Absolute(number(p)?)
    } else if eat(p, "relative") {
        FetchDirection::Relative(number(p)?)
    } else if eat(p, "all") {
        FetchDirection::Forward(None)
    } else if peek_is(p, "forward") || peek_is(p, "backward") {
        let forward = eat(p, "forward");
        if !forward {
            p.next_token();
        }
        let count = if eat(p, "all") {
            None
        } else if count_ahead(p) {
            Some(number(p)?)
        } else {
            Some(1)
        };
        match (forward, count) {
            (true, Some(n)) if n < 0 => FetchDirection::Backward(Some(-n)),
            (false, Some(n)) if n < 0 => FetchDirection::Forward(Some(-n)),
            (true, c) => FetchDirection::Forward(c),
            (false, c) => FetchDirection::Backward(c),
        }
    } else if count_ahead(p) {
        match number(p)? {
            n if n < 0 => FetchDirection::Backward(Some(-n)),
            n => FetchDirection::Forward(Some(n)),
        }
    } else {
        FetchDirection::Forward(Some(1))
    };
    if !eat(p, "from") {
        eat(p, "in");
    }
    let name = p.parse_identifier()?;
    Ok(Custom::Fetch {
        moves,
        name: crate::ddl::ident(&name),
        direction,
    })
}

/// A signed integer literal.
fn number(p: &mut Parser) -> Result<i64, ParserError> {
    let negative = p.consume_token(&Token::Minus);
    if !negative {
        let _ = p.consume_token(&Token::Plus);
    }
    let t = p.next_token();
    let Token::Number(text, _) = &t.token else {
        return p.expected("an integer", t);
    };
    let n: i64 = text
        .parse()
        .map_err(|_| ParserError::ParserError(format!("invalid integer \"{text}\"")))?;
    Ok(if negative { -n } else { n })
}

fn alter_sequence(p: &mut Parser) -> Result<Custom, ParserError> {
    let if_exists = if peek_is(p, "if") && is(&p.peek_nth_token(1).token, "exists") {
        p.next_token();
        p.next_token();
        true
    } else {
        false
    };
    let name = folded_parts(p.parse_object_name(false)?);
    let mut options = Vec::new();
    loop {
        let option = if eat(p, "increment") {
            eat(p, "by");
            SequenceOption::Increment(number(p)?)
        } else if eat(p, "minvalue") {
            SequenceOption::MinValue(Some(number(p)?))
        } else if eat(p, "maxvalue") {
            SequenceOption::MaxValue(Some(number(p)?))
        } else if eat(p, "start") {
            eat(p, "with");
            SequenceOption::Start(number(p)?)
        } else if eat(p, "restart") {
            let with = eat(p, "with");
            let has_number = matches!(
                p.peek_token_ref().token,
                Token::Number(..) | Token::Minus | Token::Plus
            );
            if with || has_number {
                SequenceOption::Restart(Some(number(p)?))
            } else {
                SequenceOption::Restart(None)
            }
        } else if eat(p, "cache") {
            SequenceOption::Cache(number(p)?)
        } else if eat(p, "cycle") {
            SequenceOption::Cycle(true)
        } else if eat(p, "no") {
            let t = p.next_token();
            match &t.token {
                w if is(w, "minvalue") => SequenceOption::MinValue(None),
                w if is(w, "maxvalue") => SequenceOption::MaxValue(None),
                w if is(w, "cycle") => SequenceOption::Cycle(false),
                _ => return p.expected("MINVALUE, MAXVALUE or CYCLE", t),
            }
        } else if eat(p, "owned") {
            if !eat(p, "by") {
                return p.expected("BY", p.peek_token());
            }
            let owner = folded_parts(p.parse_object_name(false)?);
            SequenceOption::OwnedBy((owner != ["none"]).then_some(owner))
        } else if eat(p, "as") {
            SequenceOption::As(p.parse_data_type()?.to_string())
        } else {
            break;
        };
        options.push(option);
    }
    if options.is_empty() {
        return p.expected("an ALTER SEQUENCE option", p.peek_token());
    }
    Ok(Custom::AlterSequence {
        if_exists,
        name,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    fn parsed(sql: &str) -> Option<Custom> {
        let mut p = Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).ok()?;
        let stmt = parse(&mut p).ok()??;
        decode(&stmt)
    }

    #[test]
    fn set_constraints_round_trips() {
        assert_eq!(
            parsed("SET CONSTRAINTS a, s.B DEFERRED"),
            Some(Custom::SetConstraints {
                deferred: true,
                names: vec![vec!["a".into()], vec!["s".into(), "b".into()]],
            })
        );
        assert_eq!(
            parsed("set constraints all immediate"),
            Some(Custom::SetConstraints {
                deferred: false,
                names: vec![],
            })
        );
    }

    #[test]
    fn alter_sequence_options_in_any_order() {
        assert_eq!(
            parsed("ALTER SEQUENCE IF EXISTS q RESTART WITH -4 INCREMENT BY 2 NO CYCLE RESTART"),
            Some(Custom::AlterSequence {
                if_exists: true,
                name: vec!["q".into()],
                options: vec![
                    SequenceOption::Restart(Some(-4)),
                    SequenceOption::Increment(2),
                    SequenceOption::Cycle(false),
                    SequenceOption::Restart(None),
                ],
            })
        );
        assert_eq!(parsed("SELECT 1"), None);
    }
}
