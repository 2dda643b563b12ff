//! PL/pgSQL, the part of it trigger functions and functions computing a value are written
//! in: a `DECLARE` section, assignments (to variables and to `NEW.column`), `IF … ELSIF …
//! ELSE … END IF`, `RETURN`, `RAISE` (`NOTICE`, `WARNING`, `INFO`, `EXCEPTION`, each `%`
//! taking an argument) and `NULL`. Expressions are SQL expressions, evaluated by Basalt with
//! the variables, the parameters (by name and as `$n`), the `NEW` and `OLD` rows and the
//! `TG_*` variables in them written as typed constants, so they do not read tables (a
//! subquery is refused when it runs). Any other statement (`SELECT INTO`, `PERFORM`, loops,
//! exception blocks, SQL statements) is refused with 0A000 when the function is created.
//! [`run_trigger`] runs a trigger function, [`run_function`] any other
//! ([`crate::plcall`] calls it from queries).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use basalt_common::value::{value_at, ColumnBuilder};
use basalt_common::{SqlType, Value};
use basalt_storage::TableDef;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::execution::SessionState;
use datafusion::sql::sqlparser::ast::{AccessExpr, Expr, Subscript, Value as AstValue, VisitMut};
use datafusion::sql::sqlparser::ast::{ValueWithSpan, VisitorMut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{SqlError, SqlResult};
use crate::session::{Notice, Session};

/// A PL/pgSQL function body, read.
#[derive(Debug, Clone)]
pub struct Function {
    decls: Vec<Decl>,
    body: Vec<Stmt>,
}

#[derive(Debug, Clone)]
struct Decl {
    name: String,
    ty: String,
    init: Option<String>,
}

#[derive(Debug, Clone)]
enum Stmt {
    /// `target := expr`: a variable, or a field of a row variable (`NEW.a`).
    Assign {
        target: Vec<String>,
        expr: String,
    },
    If {
        arms: Vec<(String, Vec<Stmt>)>,
        otherwise: Vec<Stmt>,
    },
    Return(Option<String>),
    Raise {
        level: String,
        format: String,
        args: Vec<String>,
    },
    Null,
}

fn unsupported(what: &str) -> SqlError {
    SqlError::unsupported(format!(
        "PL/pgSQL statement \"{what}\" is not supported: Basalt runs PL/pgSQL functions made \
         of DECLARE, assignments, IF, RETURN and RAISE"
    ))
}

fn syntax(near: &Token) -> SqlError {
    SqlError::Syntax {
        message: format!("syntax error at or near \"{near}\""),
        position: None,
    }
}

fn syntax_at_end() -> SqlError {
    SqlError::Syntax {
        message: "syntax error at end of input".into(),
        position: None,
    }
}

/// Reads a PL/pgSQL function body.
pub fn parse(source: &str) -> SqlResult<Function> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, source)
        .tokenize()
        .map_err(|e| SqlError::Syntax {
            message: e.message,
            position: None,
        })?;
    let toks: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let mut p = Parser { toks, pos: 0 };
    let mut decls = Vec::new();
    if p.is_word("declare") {
        p.pos += 1;
        while !p.is_word("begin") {
            decls.push(p.decl()?);
        }
    }
    p.expect_word("begin")?;
    let body = p.stmts(&["end"])?;
    p.expect_word("end")?;
    if matches!(p.peek(), Some(Token::Word(_))) {
        p.pos += 1; // the block's label
    }
    if p.peek() == Some(&Token::SemiColon) {
        p.pos += 1;
    }
    if let Some(t) = p.peek() {
        return Err(syntax(t));
    }
    Ok(Function { decls, body })
}

impl Function {
    /// Checks, when a function that returns a value is created, that each RETURN gives an
    /// expression: `RETURN` alone belongs to trigger and void functions, and a RETURN that
    /// reads tables (`RETURN max(a) FROM t`) needs queries, which Basalt's PL/pgSQL does not
    /// run.
    pub fn check_function_returns(&self) -> SqlResult<()> {
        fn walk(stmts: &[Stmt]) -> SqlResult<()> {
            for st in stmts {
                match st {
                    Stmt::Return(None) => {
                        return Err(SqlError::Syntax {
                            message: "missing expression at or near \";\"".into(),
                            position: None,
                        })
                    }
                    Stmt::Return(Some(e)) if crate::eval::parse_expr(e).is_err() => {
                        return Err(SqlError::unsupported(
                            "RETURN of a query is not supported: Basalt's PL/pgSQL returns \
                             expressions, not the results of queries",
                        ));
                    }
                    Stmt::If { arms, otherwise } => {
                        for (_, body) in arms {
                            walk(body)?;
                        }
                        walk(otherwise)?;
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        walk(&self.body)
    }
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn word_at(&self, i: usize) -> Option<String> {
        match self.toks.get(i) {
            Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_lowercase()),
            _ => None,
        }
    }

    fn is_word(&self, w: &str) -> bool {
        self.word_at(self.pos).as_deref() == Some(w)
    }

    fn expect_word(&mut self, w: &str) -> SqlResult<()> {
        if self.is_word(w) {
            self.pos += 1;
            return Ok(());
        }
        Err(self.peek().map_or_else(syntax_at_end, syntax))
    }

    fn is_assign(&self, i: usize) -> bool {
        matches!(self.toks.get(i), Some(Token::Assignment | Token::Eq))
    }

    /// The tokens up to (not including) the first `;` outside parentheses, or the first
    /// of `stop_words` there, as SQL text; the position moves to that token.
    fn text_until(&mut self, stop_words: &[&str]) -> SqlResult<String> {
        self.text_until_at(stop_words, false)
    }

    /// As [`Self::text_until`], stopping also at a `,` outside parentheses when `commas`.
    fn text_until_at(&mut self, stop_words: &[&str], commas: bool) -> SqlResult<String> {
        let mut depth = 0usize;
        let mut out: Vec<String> = Vec::new();
        loop {
            let Some(t) = self.peek() else {
                return Err(syntax_at_end());
            };
            match t {
                Token::LParen | Token::LBracket => depth += 1,
                Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
                Token::SemiColon if depth == 0 => break,
                Token::Comma if depth == 0 && commas => break,
                _ => {}
            }
            if depth == 0
                && self
                    .word_at(self.pos)
                    .is_some_and(|w| stop_words.contains(&w.as_str()))
            {
                break;
            }
            out.push(t.to_string());
            self.pos += 1;
        }
        Ok(out.join(" "))
    }

    fn expect_semicolon(&mut self) -> SqlResult<()> {
        match self.peek() {
            Some(Token::SemiColon) => {
                self.pos += 1;
                Ok(())
            }
            Some(t) => Err(syntax(t)),
            None => Err(syntax_at_end()),
        }
    }

    /// `name [CONSTANT] type [NOT NULL] [{:= | = | DEFAULT} expr];`
    fn decl(&mut self) -> SqlResult<Decl> {
        let name = self
            .word_at(self.pos)
            .ok_or_else(|| self.peek().map_or_else(syntax_at_end, syntax))?;
        self.pos += 1;
        if self.is_word("constant") || self.is_word("alias") || self.is_word("cursor") {
            return Err(unsupported(&format!(
                "DECLARE {name} {}",
                self.word_at(self.pos).unwrap_or_default()
            )));
        }
        let mut ty = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t, Token::SemiColon) || self.is_assign(self.pos) || self.is_word("default")
            {
                break;
            }
            if self.is_word("not") {
                return Err(unsupported(&format!("DECLARE {name} … NOT NULL")));
            }
            ty.push(t.to_string());
            self.pos += 1;
        }
        if ty.is_empty() {
            return Err(self.peek().map_or_else(syntax_at_end, syntax));
        }
        let init = if self.peek() == Some(&Token::SemiColon) {
            None
        } else {
            self.pos += 1;
            Some(self.text_until(&[])?)
        };
        self.expect_semicolon()?;
        Ok(Decl {
            name,
            ty: ty.join(" "),
            init,
        })
    }

    fn stmts(&mut self, terminators: &[&str]) -> SqlResult<Vec<Stmt>> {
        let mut out = Vec::new();
        loop {
            match self.word_at(self.pos) {
                Some(w) if terminators.contains(&w.as_str()) => return Ok(out),
                None if self.peek().is_none() => return Err(syntax_at_end()),
                _ => out.push(self.stmt()?),
            }
        }
    }

    fn stmt(&mut self) -> SqlResult<Stmt> {
        let first = self.word_at(self.pos);
        match first.as_deref() {
            Some("if") => {
                self.pos += 1;
                let mut arms = Vec::new();
                let cond = self.text_until(&["then"])?;
                self.expect_word("then")?;
                let body = self.stmts(&["elsif", "elseif", "else", "end"])?;
                arms.push((cond, body));
                let mut otherwise = Vec::new();
                loop {
                    if self.is_word("elsif") || self.is_word("elseif") {
                        self.pos += 1;
                        let cond = self.text_until(&["then"])?;
                        self.expect_word("then")?;
                        let body = self.stmts(&["elsif", "elseif", "else", "end"])?;
                        arms.push((cond, body));
                    } else if self.is_word("else") {
                        self.pos += 1;
                        otherwise = self.stmts(&["end"])?;
                    } else {
                        break;
                    }
                }
                self.expect_word("end")?;
                self.expect_word("if")?;
                self.expect_semicolon()?;
                Ok(Stmt::If { arms, otherwise })
            }
            Some("return") => {
                self.pos += 1;
                let expr = self.text_until(&[])?;
                self.expect_semicolon()?;
                Ok(Stmt::Return((!expr.is_empty()).then_some(expr)))
            }
            Some("raise") => {
                self.pos += 1;
                let mut level = "exception".to_owned();
                if let Some(w) = self.word_at(self.pos) {
                    if matches!(
                        w.as_str(),
                        "debug" | "log" | "info" | "notice" | "warning" | "exception"
                    ) {
                        level = w;
                        self.pos += 1;
                    }
                }
                let format = match self.peek() {
                    Some(Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s)) => {
                        s.clone()
                    }
                    _ => return Err(unsupported("RAISE without a message format")),
                };
                self.pos += 1;
                let mut args = Vec::new();
                while self.peek() == Some(&Token::Comma) {
                    self.pos += 1;
                    let arg = self.text_until_at(&["using"], true)?;
                    args.push(arg);
                    if self.peek() != Some(&Token::Comma) {
                        break;
                    }
                }
                if self.is_word("using") {
                    return Err(unsupported("RAISE … USING"));
                }
                self.expect_semicolon()?;
                Ok(Stmt::Raise {
                    level,
                    format,
                    args,
                })
            }
            Some("null") if self.toks.get(self.pos + 1) == Some(&Token::SemiColon) => {
                self.pos += 2;
                Ok(Stmt::Null)
            }
            _ => {
                // `target := expr;` with target `name` or `name.field`.
                let mut target = Vec::new();
                let mut i = self.pos;
                while let Some(w) = self.word_at(i) {
                    target.push(w);
                    if self.toks.get(i + 1) == Some(&Token::Period) {
                        i += 2;
                    } else {
                        i += 1;
                        break;
                    }
                }
                if !target.is_empty() && target.len() <= 2 && self.is_assign(i) {
                    self.pos = i + 1;
                    let expr = self.text_until(&[])?;
                    self.expect_semicolon()?;
                    return Ok(Stmt::Assign { target, expr });
                }
                let what = match self.peek() {
                    Some(t) => t.to_string(),
                    None => return Err(syntax_at_end()),
                };
                Err(unsupported(&what.to_uppercase()))
            }
        }
    }
}

/// How a trigger function is called: the `TG_*` variables and the rows.
pub struct TriggerCall<'a> {
    pub name: &'a str,
    /// `BEFORE` or `AFTER`.
    pub when: &'static str,
    /// `ROW` or `STATEMENT`.
    pub level: &'static str,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub op: &'static str,
    pub table: &'a TableDef,
    pub args: &'a [String],
    pub new: Option<Vec<Value>>,
    pub old: Option<Vec<Value>>,
}

/// What a trigger function returned: a row (`RETURN NEW`), or NULL.
pub type Returned = Option<Vec<Value>>;

/// Where RAISE notices of code running away from its session go: the session's list, each
/// with the index of the statement that raised it.
pub type Raised = Arc<parking_lot::Mutex<Vec<(usize, Notice)>>>;

/// What running PL/pgSQL needs of its session ([`Session::plpgsql_host`]), owned so that a
/// function called while a query runs can keep it.
pub struct Host {
    pub state: SessionState,
    pub date_order: Option<crate::datetime::DateInput>,
    /// The session's notices and the running statement's index; `None` for MySQL sessions,
    /// which have no notices (RAISE goes to the server log).
    pub notices: Option<(Raised, usize)>,
}

impl Host {
    fn raise(&self, severity: &'static str, code: &'static str, message: String) {
        let Some((raised, statement)) = &self.notices else {
            tracing::info!(target: "plpgsql", "{severity}: {message}");
            return;
        };
        raised.lock().push((
            *statement,
            Notice {
                severity,
                code,
                message,
                detail: None,
                hint: None,
                position: None,
            },
        ));
    }
}

/// Runs a trigger function.
pub fn run_trigger(s: &Session, f: &Function, call: TriggerCall<'_>) -> SqlResult<Returned> {
    let host = s.plpgsql_host();
    let mut env = Env::of_call(&host, call);
    match env.run(f, "trigger procedure")? {
        Returning::Row(r) => Ok(r),
        Returning::Value(_) => Err(SqlError::Internal(
            "a trigger function returned a value".into(),
        )),
    }
}

/// Whether a trigger's `WHEN` condition holds for the rows of `call`.
pub fn trigger_condition(s: &Session, call: TriggerCall<'_>, condition: &str) -> SqlResult<bool> {
    let host = s.plpgsql_host();
    Env::of_call(&host, call).condition(condition)
}

/// A parameter of a function: its name (if it has one), type and value in this call.
pub struct Param {
    pub name: Option<String>,
    pub ty: SqlType,
    pub value: Value,
}

/// Runs a PL/pgSQL function that returns a value of type `returns`. The parameters are
/// variables, by name and as `$1`, `$2`, ….
pub fn run_function(
    host: &Host,
    f: &Function,
    params: Vec<Param>,
    returns: &SqlType,
) -> SqlResult<Value> {
    let mut vars = HashMap::new();
    for (i, p) in params.into_iter().enumerate() {
        if let Some(name) = p.name {
            vars.insert(name, (p.ty.clone(), p.value.clone()));
        }
        vars.insert(format!("${}", i + 1), (p.ty, p.value));
    }
    let mut env = Env {
        host,
        vars,
        table: None,
        new: None,
        old: None,
        args: &[],
        returns: Some(returns),
    };
    match env.run(f, "function")? {
        Returning::Value(v) => Ok(v),
        Returning::Row(_) => Err(SqlError::Internal(
            "a function returned a trigger's row".into(),
        )),
    }
}

impl<'a> Env<'a> {
    /// The variables of a trigger call: `TG_*`, `NEW` and `OLD`.
    fn of_call(host: &'a Host, call: TriggerCall<'a>) -> Env<'a> {
        let text = |v: &str| (SqlType::Text, Value::Text(v.to_owned()));
        let mut vars: HashMap<String, (SqlType, Value)> = HashMap::new();
        vars.insert("tg_name".into(), text(call.name));
        vars.insert("tg_when".into(), text(call.when));
        vars.insert("tg_level".into(), text(call.level));
        vars.insert("tg_op".into(), text(call.op));
        vars.insert("tg_table_name".into(), text(&call.table.name));
        vars.insert("tg_relname".into(), text(&call.table.name));
        vars.insert("tg_table_schema".into(), text(&call.table.schema));
        vars.insert(
            "tg_nargs".into(),
            (SqlType::Int32, Value::Int32(call.args.len() as i32)),
        );
        Env {
            host,
            vars,
            table: Some(call.table),
            new: call.new,
            old: call.old,
            args: call.args,
            returns: None,
        }
    }

    /// Declares the function's variables and runs its body to its RETURN (`what` names the
    /// kind of function in the error of a body that ends without one).
    fn run(&mut self, f: &Function, what: &str) -> SqlResult<Returning> {
        self.declare(f)?;
        match self.block(&f.body)? {
            Flow::Return(r) => Ok(r),
            Flow::Next => Err(SqlError::Detailed {
                sqlstate: "2F005",
                message: format!("control reached end of {what} without RETURN"),
                detail: String::new(),
                hint: None,
            }),
        }
    }

    /// The function's DECLAREd variables, with their initial values.
    fn declare(&mut self, f: &Function) -> SqlResult<()> {
        for d in &f.decls {
            let ty = declared_type(&d.ty)?;
            let value = match &d.init {
                Some(e) => self.convert(&self.eval(e)?, &ty, &d.name)?,
                None => Value::Null,
            };
            self.vars.insert(d.name.clone(), (ty, value));
        }
        Ok(())
    }
}

/// The Basalt type of a declared variable type.
pub(crate) fn declared_type(written: &str) -> SqlResult<SqlType> {
    match crate::eval::parse_expr(&format!("CAST(NULL AS {written})"))? {
        Expr::Cast { data_type, .. } => Ok(crate::types::column_type(&data_type)?.ty),
        _ => Err(SqlError::unsupported(format!(
            "variables of type {written} are not supported"
        ))),
    }
}

enum Flow {
    Next,
    Return(Returning),
}

/// What a RETURN gave back: a trigger's row, or a function's value.
enum Returning {
    Row(Returned),
    Value(Value),
}

struct Env<'a> {
    host: &'a Host,
    vars: HashMap<String, (SqlType, Value)>,
    /// The trigger's table (`None` in a function that is not a trigger function).
    table: Option<&'a TableDef>,
    new: Option<Vec<Value>>,
    old: Option<Vec<Value>>,
    args: &'a [String],
    /// The return type of a function that is not a trigger function.
    returns: Option<&'a SqlType>,
}

impl Env<'_> {
    fn block(&mut self, stmts: &[Stmt]) -> SqlResult<Flow> {
        for st in stmts {
            if let Flow::Return(r) = self.stmt(st)? {
                return Ok(Flow::Return(r));
            }
        }
        Ok(Flow::Next)
    }

    fn stmt(&mut self, st: &Stmt) -> SqlResult<Flow> {
        match st {
            Stmt::Null => {}
            Stmt::Assign { target, expr } => {
                let value = self.eval(expr)?;
                match target.as_slice() {
                    [rec, field] if rec == "new" || rec == "old" => {
                        let pos = self.field(rec, field)?;
                        let col = &self.trigger_table()?.columns[pos];
                        let array = crate::eval::to_column(&value, col, self.host.date_order)?;
                        let v = value_at(array.as_ref(), 0, &col.ty)?;
                        let row = self.record_mut(rec)?;
                        row[pos] = v;
                    }
                    [name] => {
                        let ty = match self.vars.get(name) {
                            Some((ty, _)) => ty.clone(),
                            None => {
                                return Err(SqlError::Syntax {
                                    message: format!("\"{name}\" is not a known variable"),
                                    position: None,
                                })
                            }
                        };
                        let v = self.convert(&value, &ty, name)?;
                        self.vars.insert(name.clone(), (ty, v));
                    }
                    _ => return Err(unsupported(&format!("{} :=", target.join(".")))),
                }
            }
            Stmt::If { arms, otherwise } => {
                for (cond, body) in arms {
                    if self.condition(cond)? {
                        return self.block(body);
                    }
                }
                return self.block(otherwise);
            }
            Stmt::Return(expr) => {
                if let Some(returns) = self.returns {
                    let v = match expr {
                        Some(e) => self.convert(&self.eval(e)?, returns, "")?,
                        None => {
                            return Err(SqlError::Syntax {
                                message: "missing expression at or near \";\"".into(),
                                position: None,
                            })
                        }
                    };
                    return Ok(Flow::Return(Returning::Value(v)));
                }
                let r = match expr.as_deref().map(|e| e.trim().to_lowercase()) {
                    Some(e) if e == "new" => self.new.clone(),
                    Some(e) if e == "old" => self.old.clone(),
                    Some(e) if e == "null" => None,
                    None => None,
                    Some(_) => {
                        return Err(SqlError::unsupported(
                            "a trigger function returns NEW, OLD or NULL in Basalt",
                        ))
                    }
                };
                return Ok(Flow::Return(Returning::Row(r)));
            }
            Stmt::Raise {
                level,
                format,
                args,
            } => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    let array = self.eval(a)?;
                    let text = crate::format::pg_text_column(&array)?
                        .into_iter()
                        .next()
                        .flatten()
                        .unwrap_or_else(|| "<NULL>".into());
                    values.push(text);
                }
                let message = raise_message(format, &values)?;
                match level.as_str() {
                    "exception" => {
                        return Err(SqlError::Detailed {
                            sqlstate: "P0001",
                            message,
                            detail: String::new(),
                            hint: None,
                        })
                    }
                    "notice" => self.host.raise("NOTICE", "00000", message),
                    "warning" => self.host.raise("WARNING", "01000", message),
                    "info" => self.host.raise("INFO", "00000", message),
                    // LOG and DEBUG go to the server log only at PostgreSQL's defaults.
                    _ => tracing::info!(target: "plpgsql", "{message}"),
                }
            }
        }
        Ok(Flow::Next)
    }

    fn record(&self, rec: &str) -> SqlResult<&Vec<Value>> {
        let r = if rec == "new" { &self.new } else { &self.old };
        r.as_ref().ok_or_else(|| unassigned(rec))
    }

    fn record_mut(&mut self, rec: &str) -> SqlResult<&mut Vec<Value>> {
        let r = if rec == "new" {
            &mut self.new
        } else {
            &mut self.old
        };
        r.as_mut().ok_or_else(|| unassigned(rec))
    }

    fn trigger_table(&self) -> SqlResult<&TableDef> {
        self.table.ok_or_else(|| SqlError::Detailed {
            sqlstate: "42P01",
            message: "NEW and OLD exist only in trigger functions".into(),
            detail: String::new(),
            hint: None,
        })
    }

    /// The position of `field` in the trigger's table.
    fn field(&self, rec: &str, field: &str) -> SqlResult<usize> {
        self.trigger_table()?
            .column_position(field)
            .ok_or_else(|| SqlError::Detailed {
                sqlstate: "42703",
                message: format!("record \"{rec}\" has no field \"{field}\""),
                detail: String::new(),
                hint: None,
            })
    }

    fn condition(&self, cond: &str) -> SqlResult<bool> {
        let a = self.eval(cond)?;
        let b = a
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| SqlError::Detailed {
                sqlstate: "42804",
                message: "argument of IF must be type boolean".into(),
                detail: String::new(),
                hint: None,
            })?;
        Ok(b.len() == 1 && b.is_valid(0) && b.value(0))
    }

    fn convert(&self, value: &ArrayRef, ty: &SqlType, name: &str) -> SqlResult<Value> {
        let array = crate::eval::to_column_type(value, ty, name, self.host.date_order)?;
        Ok(value_at(array.as_ref(), 0, ty)?)
    }

    /// The value of a SQL expression over the function's variables and rows.
    fn eval(&self, text: &str) -> SqlResult<ArrayRef> {
        let mut expr = crate::eval::parse_expr(text)?;
        let mut sub = Substitute {
            env: self,
            error: None,
        };
        let _ = expr.visit(&mut sub);
        if let Some(e) = sub.error {
            return Err(e);
        }
        let compiled = crate::eval::compile_in(&self.host.state, &expr.to_string())?;
        let out = crate::eval::eval(&compiled, &crate::eval::empty_batch(1)?)?;
        if out.data_type() == &DataType::Null {
            return Ok(datafusion::arrow::array::new_null_array(&DataType::Utf8, 1));
        }
        Ok(out)
    }
}

fn unassigned(rec: &str) -> SqlError {
    SqlError::Detailed {
        sqlstate: "55000",
        message: format!("record \"{rec}\" is not assigned yet"),
        detail: "The tuple structure of a not-yet-assigned record is indeterminate.".into(),
        hint: None,
    }
}

/// `format` with each `%` replaced by the next argument (`%%` is a `%`).
fn raise_message(format: &str, args: &[String]) -> SqlResult<String> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        match next.next() {
            Some(a) => out.push_str(a),
            None => {
                return Err(SqlError::Syntax {
                    message: "too few parameters specified for RAISE".into(),
                    position: None,
                })
            }
        }
    }
    if next.next().is_some() {
        return Err(SqlError::Syntax {
            message: "too many parameters specified for RAISE".into(),
            position: None,
        });
    }
    Ok(out)
}

/// A value as a SQL constant of its type.
fn constant(ty: &SqlType, v: &Value) -> SqlResult<Expr> {
    let type_name = ty.pg_name();
    let sql = match v {
        Value::Null => format!("CAST(NULL AS {type_name})"),
        Value::Bool(b) => b.to_string(),
        _ => {
            let mut b = ColumnBuilder::new(ty, 1);
            b.push(v);
            let array = b.finish();
            let text = crate::format::pg_text_column(&array)?
                .into_iter()
                .next()
                .flatten()
                .unwrap_or_default();
            format!("CAST('{}' AS {type_name})", text.replace('\'', "''"))
        }
    };
    crate::eval::parse_expr(&sql)
}

/// Writes the function's variables, `NEW.x` / `OLD.x` and `TG_ARGV[n]` as constants.
struct Substitute<'a, 'b> {
    env: &'a Env<'b>,
    error: Option<SqlError>,
}

impl Substitute<'_, '_> {
    fn replacement(&self, e: &Expr) -> SqlResult<Option<Expr>> {
        match e {
            Expr::Identifier(id) if id.quote_style.is_none() => {
                let name = id.value.to_lowercase();
                if let Some((ty, v)) = self.env.vars.get(&name) {
                    return constant(ty, v).map(Some);
                }
                if name == "new" || name == "old" {
                    return Err(SqlError::unsupported(
                        "a whole NEW or OLD row in an expression is not supported",
                    ));
                }
                Ok(None)
            }
            Expr::Value(ValueWithSpan {
                value: AstValue::Placeholder(p),
                ..
            }) => match self.env.vars.get(p) {
                Some((ty, v)) => constant(ty, v).map(Some),
                None => Err(SqlError::Detailed {
                    sqlstate: "42P02",
                    message: format!("there is no parameter {p}"),
                    detail: String::new(),
                    hint: None,
                }),
            },
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                let rec = parts[0].value.to_lowercase();
                if rec != "new" && rec != "old" {
                    return Ok(None);
                }
                let field = crate::ddl::ident(&parts[1]);
                let pos = self.env.field(&rec, &field)?;
                let row = self.env.record(&rec)?;
                let v = row.get(pos).cloned().unwrap_or(Value::Null);
                constant(&self.env.trigger_table()?.columns[pos].ty, &v).map(Some)
            }
            // `NEW.*`, `OLD.*`: the row, as `ROW(…)` of its columns' values.
            Expr::QualifiedWildcard(name, _) if name.0.len() == 1 => {
                let rec = name.to_string().to_lowercase();
                if rec != "new" && rec != "old" {
                    return Ok(None);
                }
                let row = self.env.record(&rec)?;
                let mut parts = Vec::new();
                for (pos, col) in self.env.trigger_table()?.live_columns() {
                    let v = row.get(pos).cloned().unwrap_or(Value::Null);
                    parts.push(constant(&col.ty, &v)?.to_string());
                }
                crate::eval::parse_expr(&format!("ROW({})", parts.join(", "))).map(Some)
            }
            Expr::CompoundFieldAccess { root, access_chain } => {
                let is_argv = matches!(root.as_ref(), Expr::Identifier(id)
                    if id.value.eq_ignore_ascii_case("tg_argv"));
                let [AccessExpr::Subscript(Subscript::Index { index })] = access_chain.as_slice()
                else {
                    return Ok(None);
                };
                if !is_argv {
                    return Ok(None);
                }
                let n = match index {
                    Expr::Value(ValueWithSpan {
                        value: AstValue::Number(n, _),
                        ..
                    }) => n.parse::<usize>().ok(),
                    _ => None,
                };
                let Some(n) = n else {
                    return Err(SqlError::unsupported("TG_ARGV takes a constant subscript"));
                };
                let v = self
                    .env
                    .args
                    .get(n)
                    .map_or(Value::Null, |a| Value::Text(a.clone()));
                constant(&SqlType::Text, &v).map(Some)
            }
            _ => Ok(None),
        }
    }
}

impl VisitorMut for Substitute<'_, '_> {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let result = self.replacement(e);
        crate::error::replace_or_stop(e, result, &mut self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trigger_bodies() {
        let f = parse(
            "declare n int := 1; begin
               if new.a > 10 then new.b := 'big'; elsif new.a is null then return null;
               else new.b = 'small'; end if;
               raise notice 'a = %, 100%%', new.a;
               return new; end;",
        )
        .expect("parses");
        assert_eq!(f.decls.len(), 1);
        assert_eq!(f.body.len(), 3);
        assert!(matches!(parse("begin perform 1; return new; end"),
            Err(SqlError::FeatureNotSupported(m)) if m.contains("PERFORM")));
        assert!(parse("begin return new;").is_err());
    }

    #[test]
    fn raise_substitutes_arguments() {
        assert_eq!(
            raise_message("a = %, %% done", &["1".into()]).ok(),
            Some("a = 1, % done".into())
        );
        assert!(raise_message("% %", &["1".into()]).is_err());
    }
}
