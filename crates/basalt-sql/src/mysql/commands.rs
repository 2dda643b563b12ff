//! MySQL's own commands, answered from the catalog and the session: `USE`, `SET`,
//! `SHOW …`, `DESCRIBE`, `CREATE/DROP DATABASE`, `UNLOCK TABLES`.
//!
//! They are recognised from the statement's tokens before the SQL parser sees them; every
//! other statement goes to the parser.

use std::sync::Arc;

use basalt_common::SqlType;
use basalt_storage::{TableDef, ViewDef};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::{like, variables, Warning};
use crate::error::{SqlError, SqlResult};
use crate::session::{Output, Session};

#[derive(Debug, Clone)]
pub enum Filter {
    None,
    Like(String),
    Where(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Session,
    Global,
    User,
}

#[derive(Debug, Clone)]
pub struct Assignment {
    pub scope: Scope,
    pub name: String,
    /// A bare word (`ON`, `utf8mb4`, `DEFAULT`) or an expression to evaluate.
    pub value: SetValue,
}

#[derive(Debug, Clone)]
pub enum SetValue {
    Word(String),
    Expr(String),
}

#[derive(Debug, Clone)]
pub enum Command {
    Use(String),
    Set(Vec<Assignment>),
    SetNames(String),
    SetTransaction {
        isolation: Option<String>,
        read_only: Option<bool>,
        /// `SET SESSION|GLOBAL TRANSACTION`: the session's default; without a scope the
        /// modes are for the next transaction only.
        scoped: bool,
    },
    ShowTables {
        full: bool,
        db: Option<String>,
        filter: Filter,
    },
    ShowColumns {
        full: bool,
        table: String,
        db: Option<String>,
        filter: Filter,
    },
    ShowDatabases(Filter),
    ShowCreateTable {
        table: String,
        db: Option<String>,
    },
    ShowCreateView {
        view: String,
        db: Option<String>,
    },
    ShowCreateDatabase(String),
    ShowIndex {
        table: String,
        db: Option<String>,
    },
    ShowVariables {
        global: bool,
        filter: Filter,
    },
    ShowStatus(Filter),
    ShowWarnings {
        errors_only: bool,
    },
    ShowProcesslist,
    ShowEngines,
    ShowTableStatus {
        db: Option<String>,
        filter: Filter,
    },
    ShowCollation(Filter),
    ShowCharset(Filter),
    CreateDatabase {
        name: String,
        if_not_exists: bool,
    },
    DropDatabase {
        name: String,
        if_exists: bool,
    },
    UnlockTables,
    /// `ALTER TABLE t SECONDARY_LOAD | SECONDARY_UNLOAD | SECONDARY_ENGINE [=] name`.
    Secondary {
        db: Option<String>,
        table: String,
        action: Secondary,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secondary {
    Load,
    Unload,
    /// `SECONDARY_ENGINE = Rapid` (declares the engine) or `= NULL` (unloads).
    Engine(Option<String>),
}

// ---- parsing ---------------------------------------------------------------------------------

struct Words<'a> {
    t: &'a [&'a Token],
    i: usize,
}

fn unsupported(what: &str) -> SqlError {
    SqlError::MySql {
        code: 1235,
        sqlstate: "42000",
        message: format!("This version of Basalt doesn't yet support '{what}'"),
    }
}

fn syntax(text: &str) -> SqlError {
    super::syntax_error(
        text,
        &datafusion::sql::sqlparser::parser::ParserError::ParserError(String::new()),
    )
}

/// SQL text of one token, strings re-escaped.
fn token_text(t: &Token) -> String {
    match t {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
            format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
        }
        other => other.to_string(),
    }
}

impl<'a> Words<'a> {
    fn peek_kw(&self) -> Option<String> {
        match self.t.get(self.i) {
            Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_uppercase()),
            _ => None,
        }
    }

    fn eat(&mut self, kw: &str) -> bool {
        if self.peek_kw().as_deref() == Some(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_any(&mut self, kws: &[&str]) -> Option<String> {
        let k = self.peek_kw()?;
        if kws.contains(&k.as_str()) {
            self.i += 1;
            Some(k)
        } else {
            None
        }
    }

    fn done(&self) -> bool {
        self.i >= self.t.len()
    }

    fn ident(&mut self) -> Option<String> {
        match self.t.get(self.i) {
            Some(Token::Word(w)) => {
                self.i += 1;
                Some(w.value.to_lowercase())
            }
            Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => {
                self.i += 1;
                Some(s.clone())
            }
            _ => None,
        }
    }

    /// `name` or `db.name`.
    fn qualified(&mut self) -> Option<(Option<String>, String)> {
        let first = self.ident()?;
        if matches!(self.t.get(self.i), Some(Token::Period)) {
            self.i += 1;
            let second = self.ident()?;
            Some((Some(first), second))
        } else {
            Some((None, first))
        }
    }

    fn rest_text(&self) -> String {
        self.t[self.i.min(self.t.len())..]
            .iter()
            .map(|t| token_text(t))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn filter(&mut self, text: &str) -> SqlResult<Filter> {
        if self.eat("LIKE") {
            let p = match self.t.get(self.i) {
                Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => {
                    s.clone()
                }
                _ => return Err(syntax(text)),
            };
            self.i += 1;
            return Ok(Filter::Like(p));
        }
        if self.eat("WHERE") {
            let rest = self.rest_text();
            self.i = self.t.len();
            return Ok(Filter::Where(rest));
        }
        Ok(Filter::None)
    }

    fn in_database(&mut self) -> Option<String> {
        if self.eat_any(&["FROM", "IN"]).is_some() {
            self.ident()
        } else {
            None
        }
    }
}

/// Recognises a MySQL command; `Ok(None)` for statements the SQL parser handles.
pub fn parse(tokens: &[&Token], text: &str) -> SqlResult<Option<Command>> {
    let mut w = Words { t: tokens, i: 0 };
    let Some(first) = w.peek_kw() else {
        return Ok(None);
    };
    w.i += 1;
    let cmd = match first.as_str() {
        "USE" => Command::Use(w.ident().ok_or_else(|| syntax(text))?),
        "SHOW" => parse_show(&mut w, text)?,
        "DESC" | "DESCRIBE" | "EXPLAIN" => {
            // DESCRIBE <table>; EXPLAIN/DESCRIBE of a statement goes to the parser.
            match w.peek_kw().as_deref() {
                Some(
                    "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "WITH" | "FORMAT" | "ANALYZE"
                    | "EXTENDED" | "VERBOSE" | "REPLACE" | "TABLE" | "VALUES",
                )
                | None => return Ok(None),
                _ => {}
            }
            if matches!(w.t.get(w.i), Some(Token::LParen)) {
                return Ok(None);
            }
            let (db, table) = w.qualified().ok_or_else(|| syntax(text))?;
            Command::ShowColumns {
                full: false,
                table,
                db,
                filter: Filter::None,
            }
        }
        "SET" => parse_set(&mut w, text)?,
        "CREATE" | "DROP" => {
            if w.eat_any(&["DATABASE", "SCHEMA"]).is_none() {
                return Ok(None);
            }
            if first == "CREATE" {
                let if_not_exists = w.eat("IF") && w.eat("NOT") && w.eat("EXISTS");
                let name = w.ident().ok_or_else(|| syntax(text))?;
                // CHARACTER SET / COLLATE options are accepted: every database is utf8mb4.
                Command::CreateDatabase {
                    name,
                    if_not_exists,
                }
            } else {
                let if_exists = w.eat("IF") && w.eat("EXISTS");
                let name = w.ident().ok_or_else(|| syntax(text))?;
                Command::DropDatabase { name, if_exists }
            }
        }
        "ALTER" if w.eat("TABLE") => {
            let Some((db, table)) = w.qualified() else {
                return Ok(None);
            };
            let action = match w.peek_kw().as_deref() {
                Some("SECONDARY_LOAD") => Secondary::Load,
                Some("SECONDARY_UNLOAD") => Secondary::Unload,
                Some("SECONDARY_ENGINE") => {
                    w.i += 1;
                    if matches!(w.t.get(w.i), Some(Token::Eq)) {
                        w.i += 1;
                    }
                    let name = w.ident().ok_or_else(|| syntax(text))?;
                    Secondary::Engine(Some(name).filter(|n| n != "null"))
                }
                _ => return Ok(None),
            };
            if !matches!(action, Secondary::Engine(_)) {
                w.i += 1;
            }
            if !w.done() {
                return Err(syntax(text));
            }
            Command::Secondary { db, table, action }
        }
        "UNLOCK" => {
            if !w.eat("TABLES") {
                return Err(syntax(text));
            }
            Command::UnlockTables
        }
        "LOCK" => {
            return Err(unsupported(
                "LOCK TABLES (transactions are snapshot isolated; use a transaction instead)",
            ))
        }
        "LOAD" => return Err(unsupported("LOAD DATA")),
        "KILL" => return Err(unsupported("KILL")),
        "FLUSH" => return Err(unsupported("FLUSH")),
        _ => return Ok(None),
    };
    Ok(Some(cmd))
}

fn parse_show(w: &mut Words<'_>, text: &str) -> SqlResult<Command> {
    let global = w.eat("GLOBAL");
    let _session = w.eat("SESSION") || w.eat("LOCAL");
    let full = w.eat("FULL");
    let Some(what) = w.peek_kw() else {
        return Err(syntax(text));
    };
    w.i += 1;
    let cmd = match what.as_str() {
        "TABLES" => {
            let db = w.in_database();
            Command::ShowTables {
                full,
                db,
                filter: w.filter(text)?,
            }
        }
        "COLUMNS" | "FIELDS" => {
            if w.eat_any(&["FROM", "IN"]).is_none() {
                return Err(syntax(text));
            }
            let (mut db, table) = w.qualified().ok_or_else(|| syntax(text))?;
            if let Some(d) = w.in_database() {
                db = Some(d);
            }
            Command::ShowColumns {
                full,
                table,
                db,
                filter: w.filter(text)?,
            }
        }
        "DATABASES" | "SCHEMAS" => Command::ShowDatabases(w.filter(text)?),
        "CREATE" => match w
            .eat_any(&["TABLE", "VIEW", "DATABASE", "SCHEMA"])
            .as_deref()
        {
            Some("TABLE") => {
                let (db, table) = w.qualified().ok_or_else(|| syntax(text))?;
                Command::ShowCreateTable { table, db }
            }
            Some("VIEW") => {
                let (db, view) = w.qualified().ok_or_else(|| syntax(text))?;
                Command::ShowCreateView { view, db }
            }
            Some(_) => {
                let _ = w.eat("IF") && w.eat("NOT") && w.eat("EXISTS");
                Command::ShowCreateDatabase(w.ident().ok_or_else(|| syntax(text))?)
            }
            None => return Err(unsupported(&format!("SHOW CREATE {}", w.rest_text()))),
        },
        "INDEX" | "INDEXES" | "KEYS" => {
            if w.eat_any(&["FROM", "IN"]).is_none() {
                return Err(syntax(text));
            }
            let (mut db, table) = w.qualified().ok_or_else(|| syntax(text))?;
            if let Some(d) = w.in_database() {
                db = Some(d);
            }
            Command::ShowIndex { table, db }
        }
        "VARIABLES" => Command::ShowVariables {
            global,
            filter: w.filter(text)?,
        },
        "STATUS" => Command::ShowStatus(w.filter(text)?),
        "WARNINGS" => Command::ShowWarnings { errors_only: false },
        "ERRORS" => Command::ShowWarnings { errors_only: true },
        "PROCESSLIST" => Command::ShowProcesslist,
        "ENGINES" => Command::ShowEngines,
        "STORAGE" if w.eat("ENGINES") => Command::ShowEngines,
        "TABLE" if w.eat("STATUS") => {
            let db = w.in_database();
            Command::ShowTableStatus {
                db,
                filter: w.filter(text)?,
            }
        }
        "COLLATION" => Command::ShowCollation(w.filter(text)?),
        "CHARSET" => Command::ShowCharset(w.filter(text)?),
        "CHARACTER" if w.eat("SET") => Command::ShowCharset(w.filter(text)?),
        other => return Err(unsupported(&format!("SHOW {other}"))),
    };
    if !w.done() {
        // SHOW WARNINGS LIMIT …, trailing options Basalt does not interpret.
        if !matches!(cmd, Command::ShowWarnings { .. }) {
            return Err(syntax(text));
        }
    }
    Ok(cmd)
}

fn parse_set(w: &mut Words<'_>, text: &str) -> SqlResult<Command> {
    if w.eat("NAMES") {
        let cs = w.ident().ok_or_else(|| syntax(text))?;
        return Ok(Command::SetNames(cs));
    }
    if w.eat("CHARSET") || (w.eat("CHARACTER") && w.eat("SET")) {
        let cs = w.ident().ok_or_else(|| syntax(text))?;
        return Ok(Command::SetNames(cs));
    }
    let save = w.i;
    let scoped = w
        .eat_any(&["GLOBAL", "SESSION", "LOCAL", "PERSIST"])
        .is_some();
    if w.eat("TRANSACTION") {
        let mut isolation = None;
        let mut read_only = None;
        loop {
            if w.eat("ISOLATION") {
                if !w.eat("LEVEL") {
                    return Err(syntax(text));
                }
                let level = match w
                    .eat_any(&["READ", "REPEATABLE", "SERIALIZABLE"])
                    .as_deref()
                {
                    Some("READ") => match w.eat_any(&["COMMITTED", "UNCOMMITTED"]) {
                        Some(x) => format!("READ-{x}"),
                        None => return Err(syntax(text)),
                    },
                    Some("REPEATABLE") if w.eat("READ") => "REPEATABLE-READ".to_owned(),
                    Some("SERIALIZABLE") => "SERIALIZABLE".to_owned(),
                    _ => return Err(syntax(text)),
                };
                isolation = Some(level);
            } else if w.eat("READ") {
                match w.eat_any(&["ONLY", "WRITE"]).as_deref() {
                    Some("ONLY") => read_only = Some(true),
                    Some(_) => read_only = Some(false),
                    None => return Err(syntax(text)),
                }
            } else {
                return Err(syntax(text));
            }
            if !matches!(w.t.get(w.i), Some(Token::Comma)) {
                break;
            }
            w.i += 1;
        }
        if !w.done() {
            return Err(syntax(text));
        }
        return Ok(Command::SetTransaction {
            isolation,
            read_only,
            scoped,
        });
    }
    w.i = save;
    // Assignments separated by top-level commas.
    let mut assignments = Vec::new();
    let mut groups: Vec<Vec<&Token>> = vec![Vec::new()];
    let mut depth = 0i32;
    for t in &w.t[w.i..] {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                groups.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(g) = groups.last_mut() {
            g.push(t);
        }
    }
    for g in groups {
        let mut a = Words { t: &g, i: 0 };
        let mut scope = match a
            .eat_any(&["GLOBAL", "SESSION", "LOCAL", "PERSIST"])
            .as_deref()
        {
            Some("GLOBAL") | Some("PERSIST") => Scope::Global,
            _ => Scope::Session,
        };
        let first = match a.t.get(a.i) {
            Some(Token::Word(word)) => word.value.clone(),
            _ => return Err(syntax(text)),
        };
        a.i += 1;
        let name = if let Some(sys) = first.strip_prefix("@@") {
            let mut n = sys.to_lowercase();
            if matches!(n.as_str(), "session" | "global" | "local")
                && matches!(a.t.get(a.i), Some(Token::Period))
            {
                if n == "global" {
                    scope = Scope::Global;
                }
                a.i += 1;
                n = a.ident().ok_or_else(|| syntax(text))?;
            }
            n
        } else if let Some(user) = first.strip_prefix('@') {
            scope = Scope::User;
            user.to_lowercase()
        } else {
            first.to_lowercase()
        };
        match a.t.get(a.i) {
            Some(Token::Eq) | Some(Token::Assignment) => a.i += 1,
            _ => return Err(syntax(text)),
        }
        let value_tokens = &a.t[a.i..];
        let value = match value_tokens {
            [] => return Err(syntax(text)),
            [Token::Word(word)] if word.quote_style.is_none() && !word.value.starts_with('@') => {
                SetValue::Word(word.value.clone())
            }
            _ => SetValue::Expr(a.rest_text()),
        };
        assignments.push(Assignment { scope, name, value });
    }
    Ok(Command::Set(assignments))
}

// ---- results ---------------------------------------------------------------------------------

/// A result of text columns, where the columns named in `ints` hold integers.
pub(crate) fn table(
    names: &[&str],
    ints: &[&str],
    rows: Vec<Vec<Option<String>>>,
) -> SqlResult<Output> {
    let batch = text_table(names, ints, &rows)?;
    Ok(Output::Rows {
        schema: batch.schema(),
        batches: vec![batch],
        tag: "SHOW".into(),
    })
}

/// A batch of text columns, where the columns named in `ints` hold integers. A column
/// without NULLs is described NOT NULL, as MySQL describes its SHOW and catalog results.
pub(crate) fn text_table(
    names: &[&str],
    ints: &[&str],
    rows: &[Vec<Option<String>>],
) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let mut fields = Vec::with_capacity(names.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let nullable = rows.iter().any(|r| r[i].is_none());
        if ints.contains(n) {
            let values: Int64Array = rows
                .iter()
                .map(|r| r[i].as_ref().and_then(|v| v.parse::<i64>().ok()))
                .collect();
            fields.push(Field::new(
                *n,
                DataType::Int64,
                nullable || values.null_count() > 0,
            ));
            columns.push(Arc::new(values));
        } else {
            fields.push(Field::new(*n, DataType::Utf8, nullable));
            columns.push(Arc::new(StringArray::from(
                rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>(),
            )));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Applies `LIKE` (to the first column) or `WHERE` to a SHOW result.
async fn filtered(s: &Session, out: Output, filter: &Filter) -> SqlResult<Output> {
    let Output::Rows {
        schema,
        batches,
        tag,
    } = out
    else {
        return Ok(out);
    };
    match filter {
        Filter::None => Ok(Output::Rows {
            schema,
            batches,
            tag,
        }),
        Filter::Like(p) => {
            let mut kept = Vec::new();
            for b in &batches {
                let first = b.column(0).as_any().downcast_ref::<StringArray>();
                let mask: Vec<bool> = (0..b.num_rows())
                    .map(|i| first.is_some_and(|a| !a.is_null(i) && like(p, a.value(i))))
                    .collect();
                let mask = datafusion::arrow::array::BooleanArray::from(mask);
                kept.push(datafusion::arrow::compute::filter_record_batch(b, &mask)?);
            }
            Ok(Output::Rows {
                schema,
                batches: kept,
                tag,
            })
        }
        Filter::Where(expr) => {
            // Filter with the planner, over the result with lower-case column names.
            let lower = Arc::new(Schema::new(
                schema
                    .fields()
                    .iter()
                    .map(|f| Field::new(f.name().to_lowercase(), f.data_type().clone(), true))
                    .collect::<Vec<_>>(),
            ));
            let relabelled: Vec<RecordBatch> = batches
                .iter()
                .map(|b| RecordBatch::try_new(Arc::clone(&lower), b.columns().to_vec()))
                .collect::<Result<_, _>>()?;
            let df = s.ctx.read_batches(relabelled)?;
            let predicate = df.parse_sql_expr(&expr.to_lowercase_idents())?;
            let out = df.filter(predicate)?.collect().await?;
            let batches = out
                .into_iter()
                .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()))
                .collect::<Result<_, _>>()?;
            Ok(Output::Rows {
                schema,
                batches,
                tag,
            })
        }
    }
}

trait LowerIdents {
    fn to_lowercase_idents(&self) -> String;
}

impl LowerIdents for String {
    /// Column names of SHOW results are matched case-insensitively, as MySQL does.
    fn to_lowercase_idents(&self) -> String {
        let mut out = String::with_capacity(self.len());
        let mut in_string = false;
        for c in self.chars() {
            if c == '\'' {
                in_string = !in_string;
            }
            out.push(if in_string { c } else { c.to_ascii_lowercase() });
        }
        out
    }
}

/// MySQL's spelling of a column's type.
pub(crate) fn mysql_type_name(ty: &SqlType, declared: Option<&str>) -> String {
    if let Some(d) = declared {
        return d.to_owned();
    }
    match ty {
        SqlType::Bool => "tinyint(1)".into(),
        SqlType::Int16 => "smallint".into(),
        SqlType::Int32 => "int".into(),
        SqlType::Int64 => "bigint".into(),
        SqlType::Float32 => "float".into(),
        SqlType::Float64 => "double".into(),
        SqlType::Numeric { precision, scale } => format!("decimal({precision},{scale})"),
        SqlType::Char(n) => format!("char({n})"),
        SqlType::Varchar(Some(n)) => format!("varchar({n})"),
        SqlType::Varchar(None) | SqlType::Text => "text".into(),
        SqlType::Bytea => "longblob".into(),
        SqlType::Date => "date".into(),
        SqlType::Time => "time(6)".into(),
        SqlType::Timestamp => "datetime(6)".into(),
        SqlType::TimestampTz => "timestamp(6)".into(),
        SqlType::Interval => "varchar(64)".into(),
        // MySQL has no arrays: the PostgreSQL text form.
        SqlType::Array(_) => "text".into(),
    }
}

/// One column of an index, primary key first (SHOW INDEX, information_schema).
pub(crate) struct IndexColumn<'a> {
    pub name: &'a str,
    pub unique: bool,
    /// A PRIMARY KEY or UNIQUE constraint (not a CREATE INDEX).
    pub constraint: bool,
    /// 1-based position in the index.
    pub seq: usize,
    /// Physical position of the column in the table.
    pub pos: usize,
}

pub(crate) fn index_columns(def: &TableDef) -> Vec<IndexColumn<'_>> {
    let mut out = Vec::new();
    let indexes = def
        .primary_key
        .iter()
        .map(|pk| ("PRIMARY", true, true, pk))
        .chain(
            def.indexes
                .iter()
                .map(|i| (i.name.as_str(), i.unique, i.constraint, &i.columns)),
        );
    for (name, unique, constraint, cols) in indexes {
        for (seq, &pos) in cols.iter().enumerate() {
            out.push(IndexColumn {
                name,
                unique,
                constraint,
                seq: seq + 1,
                pos,
            });
        }
    }
    out
}

/// What SHOW INDEX and information_schema.STATISTICS say of an index column, from
/// `Seq_in_index` to `Expression`.
pub(crate) fn index_column_details(def: &TableDef, ic: &IndexColumn<'_>) -> Vec<Option<String>> {
    let c = &def.columns[ic.pos];
    vec![
        Some(ic.seq.to_string()),
        Some(c.name.clone()),
        Some("A".into()),
        None,
        None,
        None,
        Some(if c.nullable { "YES" } else { "" }.into()),
        Some("BTREE".into()),
        Some(String::new()),
        Some(String::new()),
        Some("YES".into()),
        None,
    ]
}

pub(crate) fn is_auto_increment(c: &basalt_storage::ColumnDef) -> bool {
    c.default
        .as_deref()
        .is_some_and(|d| d.starts_with("nextval("))
}

/// `PRI`, `UNI`, `MUL` or empty, as SHOW COLUMNS marks keys.
pub(crate) fn key_of(def: &TableDef, pos: usize) -> &'static str {
    if def.primary_key.as_ref().is_some_and(|pk| pk.contains(&pos)) {
        return "PRI";
    }
    if def
        .indexes
        .iter()
        .any(|i| i.unique && i.columns.len() == 1 && i.columns[0] == pos)
    {
        return "UNI";
    }
    if def.indexes.iter().any(|i| i.columns.first() == Some(&pos)) {
        return "MUL";
    }
    ""
}

fn default_text(c: &basalt_storage::ColumnDef) -> Option<String> {
    let d = c.default.as_deref()?;
    if d.starts_with("nextval(") {
        return None;
    }
    Some(
        d.strip_prefix('\'')
            .and_then(|x| x.strip_suffix('\''))
            .map_or_else(|| d.to_owned(), |x| x.replace("''", "'")),
    )
}

fn q(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl Session {
    fn mysql_db_or(&self, db: Option<String>) -> SqlResult<String> {
        match db.or_else(|| self.mysql_database()) {
            Some(d) => Ok(d),
            None => Err(no_database()),
        }
    }

    /// The view `db.name` (the current database's without `db`), if there is one.
    fn mysql_view(&self, db: Option<String>, name: &str) -> Option<ViewDef> {
        let db = self.mysql_db_or(db).ok()?;
        self.engine().catalog().view_by_name(&db, name).cloned()
    }

    /// SHOW [FULL] COLUMNS of a view: its query's columns as they plan now, each nullable,
    /// with no key, default or extra.
    async fn view_columns_table(&self, view: &ViewDef, full: bool) -> SqlResult<Output> {
        let planned = crate::view::planned_views(&self.ctx.state_weak_ref(), vec![view]).await;
        let Some((_, columns)) = planned.into_iter().next() else {
            // The view's query no longer plans: the error says why.
            crate::view::view_table(&self.ctx.state_weak_ref(), view).await?;
            return Err(SqlError::Internal(format!(
                "view {} does not plan",
                view.name
            )));
        };
        let rows = columns
            .iter()
            .map(|c| {
                let ty = c.declared_type();
                let text = matches!(ty, SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text);
                let mut row = vec![
                    Some(c.name.clone()),
                    Some(super::info_schema::view_column_type(c)),
                ];
                if full {
                    row.push(text.then(|| "utf8mb4_general_ci".to_owned()));
                }
                let null = if c.nullable { "YES" } else { "NO" };
                row.extend([
                    Some(null.into()),
                    Some(String::new()),
                    None,
                    Some(String::new()),
                ]);
                if full {
                    row.push(Some("select,insert,update,references".into()));
                    row.push(Some(String::new()));
                }
                row
            })
            .collect();
        if full {
            table(
                &[
                    "Field",
                    "Type",
                    "Collation",
                    "Null",
                    "Key",
                    "Default",
                    "Extra",
                    "Privileges",
                    "Comment",
                ],
                &[],
                rows,
            )
        } else {
            table(
                &["Field", "Type", "Null", "Key", "Default", "Extra"],
                &[],
                rows,
            )
        }
    }

    fn mysql_table(&self, db: Option<String>, table: &str) -> SqlResult<TableDef> {
        let db = self.mysql_db_or(db)?;
        self.engine()
            .catalog()
            .table_by_name(&db, table)
            .cloned()
            .ok_or_else(|| SqlError::UndefinedTable(format!("{db}.{table}")))
    }

    /// Runs a MySQL command.
    pub(crate) async fn run_mysql_command(&mut self, cmd: Command) -> SqlResult<Output> {
        match cmd {
            Command::Use(db) => {
                self.use_database(&db)?;
                Ok(Output::Command("USE".into()))
            }
            Command::Set(assignments) => {
                for a in assignments {
                    self.mysql_set(a).await?;
                }
                Ok(Output::Command("SET".into()))
            }
            Command::SetNames(cs) => {
                variables::normalize_value("names", &cs)?;
                let st = self.my_mut();
                for v in ["character_set_client", "character_set_connection", "character_set_results"] {
                    st.vars.insert(v.into(), cs.to_lowercase());
                }
                Ok(Output::Command("SET".into()))
            }
            Command::SetTransaction {
                isolation,
                read_only,
                scoped,
            } => {
                if read_only.is_some() && !scoped {
                    // The next transaction only, which Basalt does not track.
                    return Err(SqlError::unsupported(
                        "SET TRANSACTION READ ONLY/WRITE for the next transaction only (use \
                         START TRANSACTION READ ONLY or SET SESSION TRANSACTION)",
                    ));
                }
                let st = self.my_mut();
                if let Some(level) = isolation {
                    if level != "REPEATABLE-READ" {
                        st.warnings.push(Warning {
                            level: "Note",
                            code: 1105,
                            message: format!(
                                "Basalt runs every transaction with snapshot isolation (REPEATABLE READ); {level} was recorded"
                            ),
                        });
                    }
                    st.vars.insert("transaction_isolation".into(), level);
                }
                if let Some(ro) = read_only {
                    st.vars
                        .insert("transaction_read_only".into(), if ro { "1" } else { "0" }.into());
                }
                Ok(Output::Command("SET".into()))
            }
            Command::ShowTables { full, db, filter } => {
                let db = self.mysql_db_or(db)?;
                let catalog = self.engine().catalog();
                if !catalog.schemas.contains_key(&db) {
                    return Err(SqlError::UndefinedSchema(db));
                }
                let mut names: Vec<(String, &str)> = catalog
                    .tables
                    .values()
                    .filter(|t| t.schema == db)
                    .map(|t| (t.name.clone(), "BASE TABLE"))
                    .chain(catalog.views.values().filter(|v| v.schema == db).map(|v| (v.name.clone(), "VIEW")))
                    .collect();
                names.sort();
                let header = match &filter {
                    Filter::Like(p) => format!("Tables_in_{db} ({p})"),
                    _ => format!("Tables_in_{db}"),
                };
                let out = if full {
                    table(
                        &[&header, "Table_type"],
                        &[],
                        names.into_iter().map(|(n, kind)| vec![Some(n), Some(kind.into())]).collect(),
                    )?
                } else {
                    table(&[&header], &[], names.into_iter().map(|(n, _)| vec![Some(n)]).collect())?
                };
                filtered(self, out, &filter).await
            }
            Command::ShowColumns {
                full,
                table: name,
                db,
                filter,
            } => {
                if let Some(view) = self.mysql_view(db.clone(), &name) {
                    let out = self.view_columns_table(&view, full).await?;
                    return filtered(self, out, &filter).await;
                }
                let def = self.mysql_table(db, &name)?;
                let mut rows = Vec::new();
                for (pos, c) in def.live_columns() {
                    let ty = mysql_type_name(&c.ty, c.mysql_type.as_deref());
                    let null = if c.nullable { "YES" } else { "NO" };
                    let extra = if is_auto_increment(c) { "auto_increment" } else { "" };
                    let collation = matches!(c.ty, SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text)
                        .then(|| "utf8mb4_general_ci".to_owned());
                    let mut row = vec![Some(c.name.clone()), Some(ty)];
                    if full {
                        row.push(collation);
                    }
                    row.extend([
                        Some(null.into()),
                        Some(key_of(&def, pos).into()),
                        default_text(c),
                        Some(extra.into()),
                    ]);
                    if full {
                        row.push(Some("select,insert,update,references".into()));
                        row.push(Some(String::new()));
                    }
                    rows.push(row);
                }
                let out = if full {
                    table(
                        &["Field", "Type", "Collation", "Null", "Key", "Default", "Extra", "Privileges", "Comment"],
                        &[],
                        rows,
                    )?
                } else {
                    table(&["Field", "Type", "Null", "Key", "Default", "Extra"], &[], rows)?
                };
                filtered(self, out, &filter).await
            }
            Command::ShowDatabases(filter) => {
                let catalog = self.engine().catalog();
                let mut names: Vec<String> = catalog
                    .schemas
                    .keys()
                    .filter(|n| !matches!(n.as_str(), "pg_catalog" | "information_schema"))
                    .cloned()
                    .collect();
                names.push("information_schema".into());
                names.sort();
                let header = match &filter {
                    Filter::Like(p) => format!("Database ({p})"),
                    _ => "Database".to_owned(),
                };
                let out = table(&[&header], &[], names.into_iter().map(|n| vec![Some(n)]).collect())?;
                filtered(self, out, &filter).await
            }
            Command::ShowCreateView { view: name, db } => match self.mysql_view(db.clone(), &name) {
                Some(view) => create_view_table(&view),
                None => {
                    let db = self.mysql_db_or(db)?;
                    if self.engine().catalog().table_by_name(&db, &name).is_some() {
                        return Err(SqlError::WrongObjectType(format!("'{db}.{name}' is not VIEW")));
                    }
                    Err(SqlError::UndefinedTable(format!("{db}.{name}")))
                }
            },
            Command::ShowCreateTable { table: name, db } => {
                // As in MySQL, SHOW CREATE TABLE of a view shows the view's.
                if let Some(view) = self.mysql_view(db.clone(), &name) {
                    return create_view_table(&view);
                }
                let def = self.mysql_table(db, &name)?;
                let next = def.live_columns().find_map(|(_, c)| {
                    let seq = c.default.as_deref()?.strip_prefix("nextval('")?.strip_suffix("')")?;
                    self.engine().sequence_last(seq).map(|v| v + 1)
                });
                let ddl = create_table_text(&def, next.filter(|n| *n > 1));
                table(&["Table", "Create Table"], &[], vec![vec![Some(def.name.clone()), Some(ddl)]])
            }
            Command::ShowCreateDatabase(name) => {
                if !self.engine().catalog().schemas.contains_key(&name) {
                    return Err(SqlError::UndefinedSchema(name));
                }
                let ddl = format!(
                    "CREATE DATABASE {} /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci */",
                    q(&name)
                );
                table(&["Database", "Create Database"], &[], vec![vec![Some(name), Some(ddl)]])
            }
            Command::ShowIndex { table: name, db } => {
                let def = self.mysql_table(db, &name)?;
                let rows = index_columns(&def)
                    .iter()
                    .map(|ic| {
                        let mut row = vec![
                            Some(def.name.clone()),
                            Some(if ic.unique { "0" } else { "1" }.into()),
                            Some(ic.name.to_owned()),
                        ];
                        row.extend(index_column_details(&def, ic));
                        row
                    })
                    .collect();
                table(
                    &[
                        "Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name", "Collation",
                        "Cardinality", "Sub_part", "Packed", "Null", "Index_type", "Comment",
                        "Index_comment", "Visible", "Expression",
                    ],
                    &["Non_unique", "Seq_in_index", "Cardinality", "Sub_part"],
                    rows,
                )
            }
            Command::ShowVariables { global, filter } => {
                let st = self.my();
                let mut rows = Vec::new();
                for (name, _) in variables::DEFAULTS {
                    let mut v = variables::get(st, name, global)?;
                    if variables::BOOLEAN.contains(name) {
                        v = if v == "1" { "ON".into() } else { "OFF".into() };
                    }
                    rows.push(vec![Some((*name).to_owned()), Some(v)]);
                }
                let out = table(&["Variable_name", "Value"], &[], rows)?;
                filtered(self, out, &filter).await
            }
            Command::ShowStatus(filter) => {
                let processes = self.db.processes.lock().len();
                let uptime = self.db.started.elapsed().as_secs();
                let rows = vec![
                    vec![Some("Threads_connected".into()), Some(processes.to_string())],
                    vec![Some("Uptime".into()), Some(uptime.to_string())],
                    vec![Some("Ssl_cipher".into()), Some(String::new())],
                ];
                let out = table(&["Variable_name", "Value"], &[], rows)?;
                filtered(self, out, &filter).await
            }
            Command::ShowWarnings { errors_only } => {
                let rows = self
                    .my()
                    .warnings
                    .iter()
                    .filter(|w| !errors_only || w.level == "Error")
                    .map(|w| vec![Some(w.level.to_owned()), Some(w.code.to_string()), Some(w.message.clone())])
                    .collect();
                table(&["Level", "Code", "Message"], &["Code"], rows)
            }
            Command::ShowProcesslist => {
                let rows = self
                    .db
                    .processes
                    .lock()
                    .values()
                    .map(|p| {
                        vec![
                            Some(p.info.connection_id.to_string()),
                            Some(p.info.user.clone()),
                            Some(p.info.host.clone()),
                            p.db.clone(),
                            Some(p.command.to_owned()),
                            Some(p.since.elapsed().as_secs().to_string()),
                            Some(if p.query.is_some() { "executing" } else { "" }.to_owned()),
                            p.query.clone(),
                        ]
                    })
                    .collect();
                table(
                    &["Id", "User", "Host", "db", "Command", "Time", "State", "Info"],
                    &["Id", "Time"],
                    rows,
                )
            }
            Command::ShowEngines => table(
                &["Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"],
                &[],
                vec![
                    vec![
                        Some("Basalt".into()),
                        Some("DEFAULT".into()),
                        Some("In-memory MVCC row engine, WAL-durable; ENGINE=InnoDB and others are accepted and mean this engine".into()),
                        Some("YES".into()),
                        Some("NO".into()),
                        Some("YES".into()),
                    ],
                    vec![
                        Some("Rapid".into()),
                        Some("YES".into()),
                        Some("Secondary engine: in-memory column store kept in step with every commit (ALTER TABLE t SECONDARY_LOAD)".into()),
                        Some("YES".into()),
                        Some("NO".into()),
                        Some("YES".into()),
                    ],
                ],
            ),
            Command::Secondary { db, table, action } => {
                let def = self.mysql_table(db, &table)?;
                match action {
                    Secondary::Load => crate::ddl::set_columnar(self, def.id, true).await?,
                    Secondary::Unload | Secondary::Engine(None) => {
                        crate::ddl::set_columnar(self, def.id, false).await?
                    }
                    Secondary::Engine(Some(name)) => check_secondary_engine(&name)?,
                }
                Ok(Output::Command("ALTER TABLE".into()))
            }
            Command::ShowTableStatus { db, filter } => {
                let db = self.mysql_db_or(db)?;
                let catalog = self.engine().catalog();
                let mut defs: Vec<&TableDef> = catalog.tables.values().filter(|t| t.schema == db).collect();
                defs.sort_by(|a, b| a.name.cmp(&b.name));
                let rows = defs
                    .iter()
                    .map(|t| {
                        let keys = self.engine().table(t.id).map(|s| s.key_count());
                        vec![
                            Some(t.name.clone()),
                            Some("Basalt".into()),
                            Some("10".into()),
                            Some("Dynamic".into()),
                            keys.map(|k| k.to_string()),
                            None,
                            None,
                            None,
                            None,
                            None,
                            None,
                            None,
                            None,
                            None,
                            Some("utf8mb4_general_ci".into()),
                            None,
                            Some(String::new()),
                            Some(String::new()),
                        ]
                    })
                    .collect();
                let out = table(
                    &[
                        "Name", "Engine", "Version", "Row_format", "Rows", "Avg_row_length", "Data_length",
                        "Max_data_length", "Index_length", "Data_free", "Auto_increment", "Create_time",
                        "Update_time", "Check_time", "Collation", "Checksum", "Create_options", "Comment",
                    ],
                    &["Version", "Rows", "Avg_row_length", "Data_length", "Max_data_length", "Index_length", "Data_free", "Auto_increment", "Checksum"],
                    rows,
                )?;
                filtered(self, out, &filter).await
            }
            Command::ShowCollation(filter) => {
                let rows = [
                    ("utf8mb4_general_ci", "utf8mb4", "45", "Yes"),
                    ("utf8mb4_bin", "utf8mb4", "46", ""),
                    ("utf8mb4_0900_ai_ci", "utf8mb4", "255", ""),
                    ("binary", "binary", "63", "Yes"),
                ]
                .iter()
                .map(|(c, cs, id, d)| {
                    vec![
                        Some((*c).into()),
                        Some((*cs).into()),
                        Some((*id).into()),
                        Some((*d).into()),
                        Some("Yes".into()),
                        Some("1".into()),
                        Some("PAD SPACE".into()),
                    ]
                })
                .collect();
                let out = table(
                    &["Collation", "Charset", "Id", "Default", "Compiled", "Sortlen", "Pad_attribute"],
                    &["Id", "Sortlen"],
                    rows,
                )?;
                filtered(self, out, &filter).await
            }
            Command::ShowCharset(filter) => {
                let rows = vec![
                    vec![Some("utf8mb4".into()), Some("UTF-8 Unicode".into()), Some("utf8mb4_general_ci".into()), Some("4".into())],
                    vec![Some("binary".into()), Some("Binary pseudo charset".into()), Some("binary".into()), Some("1".into())],
                ];
                let out = table(&["Charset", "Description", "Default collation", "Maxlen"], &["Maxlen"], rows)?;
                filtered(self, out, &filter).await
            }
            Command::CreateDatabase { name, if_not_exists } => {
                if if_not_exists && self.engine().catalog().schemas.contains_key(&name) {
                    self.my_mut().warnings.push(Warning {
                        level: "Note",
                        code: 1007,
                        message: format!("Can't create database '{name}'; database exists"),
                    });
                }
                let sql = format!(
                    "CREATE SCHEMA {}{}",
                    if if_not_exists { "IF NOT EXISTS " } else { "" },
                    crate::eval::quote_ident(&name)
                );
                self.mysql_implicit_commit().await?;
                self.run_pg_text(&sql).await?;
                Ok(Output::Command("CREATE DATABASE 1".into()))
            }
            Command::DropDatabase { name, if_exists } => {
                if matches!(name.as_str(), "public" | "pg_catalog" | "information_schema") {
                    return Err(SqlError::MySql {
                        code: 1044,
                        sqlstate: "42000",
                        message: format!("Access denied to database '{name}': it is a system database"),
                    });
                }
                let count = self
                    .engine()
                    .catalog()
                    .tables
                    .values()
                    .filter(|t| t.schema == name)
                    .count();
                let sql = format!(
                    "DROP SCHEMA {}{} CASCADE",
                    if if_exists { "IF EXISTS " } else { "" },
                    crate::eval::quote_ident(&name)
                );
                self.mysql_implicit_commit().await?;
                self.run_pg_text(&sql).await?;
                if self.mysql_database().as_deref() == Some(name.as_str()) {
                    self.my_mut().database = None;
                    self.set_default_schema(None);
                }
                Ok(Output::Command(format!("DROP DATABASE {count}")))
            }
            Command::UnlockTables => Ok(Output::Command("UNLOCK TABLES".into())),
        }
    }

    async fn mysql_set(&mut self, a: Assignment) -> SqlResult<()> {
        let value: Option<String> = match &a.value {
            SetValue::Word(w) if w.eq_ignore_ascii_case("default") => None,
            SetValue::Word(w) if a.scope == Scope::User => {
                // `SET @x = word` reads a column name in MySQL; there is no row here.
                return Err(SqlError::UndefinedColumn(format!(
                    "column \"{w}\" does not exist"
                )));
            }
            SetValue::Word(w) => Some(w.clone()),
            SetValue::Expr(e) => {
                let v = self.mysql_eval(e).await?;
                if a.scope == Scope::User {
                    self.my_mut().user_vars.insert(a.name.clone(), v);
                    return Ok(());
                }
                Some(match v {
                    datafusion::common::ScalarValue::Utf8(Some(s)) => s,
                    datafusion::common::ScalarValue::Boolean(Some(b)) => {
                        if b {
                            "1".into()
                        } else {
                            "0".into()
                        }
                    }
                    other if other.is_null() => "NULL".into(),
                    other => other.to_string(),
                })
            }
        };
        if a.scope == Scope::Global {
            return Err(SqlError::MySql {
                code: 1227,
                sqlstate: "42000",
                message: format!(
                    "Access denied; setting global variable '{}' is not supported: Basalt's settings come from its configuration",
                    a.name
                ),
            });
        }
        let name = a.name.to_lowercase();
        let value = match value {
            Some(v) => variables::normalize_value(&name, &v)?,
            None => variables::default_of(&name)
                .ok_or_else(|| variables::unknown(&name))?
                .to_owned(),
        };
        if name == "autocommit" {
            let on = value == "1";
            self.set_mysql_autocommit(on).await?;
            return Ok(());
        }
        if name == "use_secondary_engine" {
            if let Some(choice) = crate::colscan::EngineChoice::parse(&value) {
                self.slot.set_engine(choice);
            }
        }
        let canonical = match name.as_str() {
            "tx_isolation" => "transaction_isolation".to_owned(),
            "tx_read_only" => "transaction_read_only".to_owned(),
            _ => name,
        };
        self.my_mut().vars.insert(canonical, value);
        Ok(())
    }
}

/// Rapid is the one secondary engine (`SECONDARY_ENGINE = Rapid`).
pub(crate) fn check_secondary_engine(name: &str) -> SqlResult<()> {
    if name.eq_ignore_ascii_case("rapid") {
        return Ok(());
    }
    Err(SqlError::MySql {
        code: 1286,
        sqlstate: "42000",
        message: format!("Unknown storage engine '{name}' (the secondary engine is Rapid)"),
    })
}

pub(crate) fn no_database() -> SqlError {
    SqlError::MySql {
        code: 1046,
        sqlstate: "3D000",
        message: "No database selected".into(),
    }
}

/// A view's query as MySQL shows it: Basalt keeps it with identifiers quoted `"x"` (string
/// literals are always in single quotes there); MySQL quotes them `` `x` ``.
pub(crate) fn view_query_text(view: &ViewDef) -> String {
    use datafusion::sql::sqlparser::dialect::MySqlDialect;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;
    // Literals stay as written (not unescaped, so `'it''s'` prints back as it was).
    let tokens = Tokenizer::new(&MySqlDialect {}, &view.query)
        .with_unescape(false)
        .tokenize();
    let Ok(tokens) = tokens else {
        return view.query.clone();
    };
    tokens
        .iter()
        .map(|t| match t {
            Token::DoubleQuotedString(name) => q(&name.replace("\"\"", "\"")),
            other => other.to_string(),
        })
        .collect()
}

/// SHOW CREATE VIEW: the view's statement (its query as Basalt keeps it) in MySQL's layout.
fn create_view_table(view: &ViewDef) -> SqlResult<Output> {
    let ddl = format!(
        "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW {} AS {}",
        q(&view.name),
        view_query_text(view)
    );
    table(
        &[
            "View",
            "Create View",
            "character_set_client",
            "collation_connection",
        ],
        &[],
        vec![vec![
            Some(view.name.clone()),
            Some(ddl),
            Some("utf8mb4".into()),
            Some("utf8mb4_general_ci".into()),
        ]],
    )
}

/// `SHOW CREATE TABLE` text in MySQL's layout.
fn create_table_text(def: &TableDef, auto_increment: Option<i64>) -> String {
    let mut lines = Vec::new();
    for (_, c) in def.live_columns() {
        let mut line = format!(
            "  {} {}",
            q(&c.name),
            mysql_type_name(&c.ty, c.mysql_type.as_deref())
        );
        if !c.nullable {
            line.push_str(" NOT NULL");
        }
        if is_auto_increment(c) {
            line.push_str(" AUTO_INCREMENT");
        } else if let Some(d) = &c.default {
            // MySQL 8 shows literal defaults quoted: DEFAULT '0'.
            let shown = if d.parse::<f64>().is_ok() {
                format!("'{d}'")
            } else {
                d.clone()
            };
            line.push_str(&format!(" DEFAULT {shown}"));
        } else if c.nullable {
            line.push_str(" DEFAULT NULL");
        }
        lines.push(line);
    }
    let cols = |positions: &[usize]| {
        positions
            .iter()
            .map(|&p| q(&def.columns[p].name))
            .collect::<Vec<_>>()
            .join(",")
    };
    if let Some(pk) = &def.primary_key {
        lines.push(format!("  PRIMARY KEY ({})", cols(pk)));
    }
    for i in &def.indexes {
        let kind = if i.unique { "UNIQUE KEY" } else { "KEY" };
        lines.push(format!("  {kind} {} ({})", q(&i.name), cols(&i.columns)));
    }
    for c in &def.checks {
        lines.push(format!("  CONSTRAINT {} CHECK ({})", q(&c.name), c.expr));
    }
    format!(
        "CREATE TABLE {} (\n{}\n) ENGINE=Basalt{} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        q(&def.name),
        lines.join(",\n"),
        auto_increment.map_or(String::new(), |n| format!(" AUTO_INCREMENT={n}"))
    )
}
