//! MySQL statements rewritten into the forms the shared planner understands:
//! backtick identifiers become standard quoted ones (the catalog keeps expressions as SQL
//! text that either protocol may read back), `?` placeholders are numbered, system and user
//! variables are read, and MySQL functions map onto equivalent expressions
//! (`IF` → `CASE`, `IFNULL` → `COALESCE`, `CONCAT` is NULL if any argument is, `NOW()` is a
//! DATETIME, `DATE_FORMAT` → `to_char`, `GROUP_CONCAT` → `string_agg` …).

use std::ops::ControlFlow;

use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArgumentClause, FunctionArguments, Ident,
    ObjectName, Query, SelectItem, SetExpr, Statement, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{variables, MyState, MYSQL_SERVER_VERSION};
use crate::error::{SqlError, SqlResult};

pub fn statement(
    stmt: &mut Statement,
    state: &MyState,
    names: Option<Vec<String>>,
) -> SqlResult<()> {
    name_output_columns(stmt, names);
    let mut v = Normalizer {
        state,
        placeholders: 0,
        error: None,
    };
    let _ = stmt.visit(&mut v);
    match v.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Unaliased select-list items are named as MySQL names them: a column by its name as
/// written (`SELECT ID` → `ID`, `SELECT t.id` → `id`), anything else by its text
/// (`SELECT 1+1` → `1+1`, `SELECT @@version` → `@@version`).
fn name_output_columns(stmt: &mut Statement, names: Option<Vec<String>>) {
    struct Namer {
        /// Item texts of the top-level select, used for the first select list seen.
        names: Option<Vec<String>>,
    }
    impl VisitorMut for Namer {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            let names = self.names.take();
            name_set_expr(&mut q.body, names);
            ControlFlow::Continue(())
        }
    }
    fn name_set_expr(body: &mut SetExpr, names: Option<Vec<String>>) {
        match body {
            SetExpr::Select(s) => {
                let names = names.filter(|n| n.len() == s.projection.len());
                for (i, item) in s.projection.iter_mut().enumerate() {
                    if let SelectItem::ExprWithAlias { alias, .. } = item {
                        // MySQL keeps an alias's case as written.
                        if alias.quote_style.is_none() {
                            alias.quote_style = Some('"');
                        }
                        continue;
                    }
                    let SelectItem::UnnamedExpr(e) = item else {
                        continue;
                    };
                    let e = e.clone();
                    let name = match &e {
                        Expr::Identifier(i) if !i.value.starts_with('@') => i.value.clone(),
                        Expr::CompoundIdentifier(p)
                            if !p.first().is_some_and(|i| i.value.starts_with('@')) =>
                        {
                            p.last().map(|i| i.value.clone()).unwrap_or_default()
                        }
                        other => names
                            .as_ref()
                            .and_then(|n| n.get(i).cloned())
                            .unwrap_or_else(|| other.to_string()),
                    };
                    *item = SelectItem::ExprWithAlias {
                        expr: e,
                        alias: Ident::with_quote('"', name),
                    };
                }
            }
            SetExpr::SetOperation { left, .. } => name_set_expr(left, names),
            SetExpr::Query(q) => name_set_expr(&mut q.body, names),
            _ => {}
        }
    }
    let _ = stmt.visit(&mut Namer { names });
}

struct Normalizer<'a> {
    state: &'a MyState,
    placeholders: usize,
    error: Option<SqlError>,
}

fn requote(ident: &mut Ident) {
    if ident.quote_style == Some('`') {
        ident.quote_style = Some('"');
    }
}

fn literal(v: ScalarValue) -> Expr {
    let sql = match &v {
        ScalarValue::Null => "NULL".to_owned(),
        ScalarValue::Int64(Some(i)) => i.to_string(),
        ScalarValue::Float64(Some(f)) => format!("{f:?}"),
        ScalarValue::Decimal128(Some(_), _, _) => v.to_string(),
        ScalarValue::Boolean(Some(b)) => b.to_string(),
        ScalarValue::Utf8(Some(s)) => format!("'{}'", s.replace('\'', "''")),
        other if other.is_null() => "NULL".to_owned(),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    };
    parse_expr(&sql).unwrap_or(Expr::value(Value::Null))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn parse_expr(sql: &str) -> SqlResult<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::Internal(format!("rewriting MySQL expression {sql}: {e}")))
}

/// The plain positional arguments of a function call, if that is all it has.
fn plain_args(args: &FunctionArguments) -> Option<Vec<&Expr>> {
    match args {
        FunctionArguments::None => Some(vec![]),
        FunctionArguments::List(list)
            if list.clauses.is_empty() && list.duplicate_treatment.is_none() =>
        {
            list.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                })
                .collect()
        }
        _ => None,
    }
}

/// MySQL `DATE_FORMAT` specifiers as chrono's (used by `to_char`).
fn chrono_format(mysql: &str) -> SqlResult<String> {
    let mut out = String::new();
    let mut chars = mysql.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = chars.next().unwrap_or('%');
        out.push_str(match spec {
            'Y' => "%Y",
            'y' => "%y",
            'm' => "%m",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'H' => "%H",
            'k' => "%-H",
            'h' | 'I' => "%I",
            'l' => "%-I",
            'i' => "%M",
            's' | 'S' => "%S",
            'f' => "%6f",
            'p' => "%p",
            'M' => "%B",
            'b' => "%b",
            'W' => "%A",
            'a' => "%a",
            'j' => "%j",
            'T' => "%H:%M:%S",
            'r' => "%I:%M:%S %p",
            'w' => "%w",
            '%' => "%%",
            other => {
                return Err(SqlError::unsupported(format!(
                    "DATE_FORMAT specifier %{other} is not supported"
                )))
            }
        });
    }
    Ok(out)
}

impl Normalizer<'_> {
    fn variable(&self, name: &str) -> SqlResult<Expr> {
        if let Some(sys) = name.strip_prefix("@@") {
            let lower = sys.to_lowercase();
            let (global, var) = if let Some(v) = lower.strip_prefix("global.") {
                (true, v)
            } else if let Some(v) = lower
                .strip_prefix("session.")
                .or_else(|| lower.strip_prefix("local."))
            {
                (false, v)
            } else {
                (false, lower.as_str())
            };
            let text = variables::get(self.state, var, global)?;
            if var == "socket" {
                return Ok(literal(ScalarValue::Null));
            }
            return Ok(literal(variables::scalar(&text)));
        }
        let user = name.trim_start_matches('@').to_lowercase();
        Ok(literal(
            self.state
                .user_vars
                .get(&user)
                .cloned()
                .unwrap_or(ScalarValue::Null),
        ))
    }

    /// A MySQL function call rewritten, or `None` to keep it as it is.
    fn function(
        &self,
        name: &str,
        f: &datafusion::sql::sqlparser::ast::Function,
    ) -> SqlResult<Option<Expr>> {
        let args = plain_args(&f.args);
        let text = |e: &Expr| e.to_string();
        let Some(args) = args else {
            if name == "group_concat" {
                return self.group_concat(f).map(Some);
            }
            return Ok(None);
        };
        let n = args.len();
        let sql = match (name, n) {
            ("if", 3) => format!(
                "CASE WHEN {} THEN {} ELSE {} END",
                text(args[0]),
                text(args[1]),
                text(args[2])
            ),
            ("ifnull", 2) => format!("coalesce({}, {})", text(args[0]), text(args[1])),
            ("concat", n) if n > 0 => {
                let nulls: Vec<String> = args.iter().map(|a| format!("({}) IS NULL", text(a))).collect();
                let parts: Vec<String> = args.iter().map(|a| format!("CAST({} AS TEXT)", text(a))).collect();
                format!(
                    "CASE WHEN {} THEN NULL ELSE concat({}) END",
                    nulls.join(" OR "),
                    parts.join(", ")
                )
            }
            ("now" | "current_timestamp" | "localtime" | "localtimestamp" | "sysdate", 0) => {
                "CAST(date_trunc('second', now()) AS TIMESTAMP)".into()
            }
            ("curdate" | "current_date", 0) => "current_date".into(),
            ("curtime" | "current_time", 0) => "CAST(date_trunc('second', now()) AS TIME)".into(),
            ("utc_timestamp", 0) => "CAST(date_trunc('second', now()) AS TIMESTAMP)".into(),
            ("unix_timestamp", 0) => "CAST(date_part('epoch', now()) AS BIGINT)".into(),
            ("unix_timestamp", 1) => format!(
                "CAST(date_part('epoch', CAST({} AS TIMESTAMP)) AS BIGINT)",
                text(args[0])
            ),
            ("from_unixtime", 1) => format!("CAST(to_timestamp({}) AS TIMESTAMP)", text(args[0])),
            ("date_format", 2) => {
                let Expr::Value(v) = args[1] else {
                    return Err(SqlError::unsupported(
                        "DATE_FORMAT with a computed format string",
                    ));
                };
                let Value::SingleQuotedString(fmt) = &v.value else {
                    return Err(SqlError::unsupported("DATE_FORMAT format must be a string"));
                };
                format!(
                    "to_char(CAST({} AS TIMESTAMP), '{}')",
                    text(args[0]),
                    chrono_format(fmt)?.replace('\'', "''")
                )
            }
            ("last_insert_id", 0) => self.state.last_insert_id.to_string(),
            ("database" | "schema", 0) => match &self.state.database {
                Some(d) => format!("'{}'", d.replace('\'', "''")),
                None => "CAST(NULL AS TEXT)".into(),
            },
            ("user" | "current_user" | "session_user" | "system_user", 0) => {
                let host = self.state.info.host.split(':').next().unwrap_or("localhost");
                format!("'{}@{}'", self.state.info.user.replace('\'', "''"), host.replace('\'', "''"))
            }
            ("connection_id", 0) => self.state.info.connection_id.to_string(),
            ("version", 0) => format!("'{MYSQL_SERVER_VERSION}'"),
            ("found_rows", 0) => self.state.found_rows.to_string(),
            ("row_count", 0) => self.state.row_count.to_string(),
            ("length" | "octet_length", 1) => format!("octet_length({})", text(args[0])),
            ("lcase", 1) => format!("lower({})", text(args[0])),
            ("ucase", 1) => format!("upper({})", text(args[0])),
            ("locate", 2) => format!("strpos({}, {})", text(args[1]), text(args[0])),
            ("substring_index", 3) => format!(
                "substr_index({}, {}, {})",
                text(args[0]),
                text(args[1]),
                text(args[2])
            ),
            ("datediff", 2) => format!(
                "CAST(date_part('day', CAST(CAST({} AS DATE) AS TIMESTAMP) - CAST(CAST({} AS DATE) AS TIMESTAMP)) AS BIGINT)",
                text(args[0]),
                text(args[1])
            ),
            ("values", 1) => format!("excluded.{}", text(args[0])),
            ("rand", 0) => "random()".into(),
            _ => return Ok(None),
        };
        parse_expr(&sql).map(Some)
    }

    /// `GROUP_CONCAT([DISTINCT] a [, b …] [ORDER BY …] [SEPARATOR 'x'])` → `string_agg`.
    fn group_concat(&self, f: &datafusion::sql::sqlparser::ast::Function) -> SqlResult<Expr> {
        let FunctionArguments::List(list) = &f.args else {
            return Err(SqlError::unsupported("GROUP_CONCAT without arguments"));
        };
        let mut parts = Vec::new();
        for a in &list.args {
            match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                    parts.push(format!("CAST({e} AS TEXT)"))
                }
                other => {
                    return Err(SqlError::unsupported(format!(
                        "GROUP_CONCAT argument {other}"
                    )))
                }
            }
        }
        let mut separator = "','".to_owned();
        let mut order = String::new();
        for c in &list.clauses {
            match c {
                FunctionArgumentClause::Separator(v) => separator = v.to_string(),
                FunctionArgumentClause::OrderBy(items) => {
                    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                    order = format!(" ORDER BY {}", items.join(", "));
                }
                other => {
                    return Err(SqlError::unsupported(format!(
                        "GROUP_CONCAT clause {other}"
                    )))
                }
            }
        }
        let value = if parts.len() == 1 {
            parts.remove(0)
        } else {
            format!("concat({})", parts.join(", "))
        };
        let distinct = if list.duplicate_treatment.is_some_and(|d| {
            matches!(
                d,
                datafusion::sql::sqlparser::ast::DuplicateTreatment::Distinct
            )
        }) {
            "DISTINCT "
        } else {
            ""
        };
        parse_expr(&format!(
            "string_agg({distinct}{value}, {separator}{order})"
        ))
    }
}

impl VisitorMut for Normalizer<'_> {
    type Break = ();

    /// `FROM DUAL` is MySQL's name for no table.
    fn pre_visit_select(
        &mut self,
        select: &mut datafusion::sql::sqlparser::ast::Select,
    ) -> ControlFlow<()> {
        if let [only] = select.from.as_slice() {
            if only.joins.is_empty() {
                if let datafusion::sql::sqlparser::ast::TableFactor::Table { name, .. } =
                    &only.relation
                {
                    if name.to_string().eq_ignore_ascii_case("dual") {
                        select.from.clear();
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<()> {
        for part in &mut name.0 {
            if let datafusion::sql::sqlparser::ast::ObjectNamePart::Identifier(i) = part {
                requote(i);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(i) if i.value.starts_with('@') && i.quote_style.is_none() => {
                match self.variable(&i.value.clone()) {
                    Ok(e) => *expr = e,
                    Err(e) => {
                        self.error = Some(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            Expr::CompoundIdentifier(parts)
                if parts.first().is_some_and(|p| p.value.starts_with("@@")) =>
            {
                let name = parts
                    .iter()
                    .map(|p| p.value.clone())
                    .collect::<Vec<_>>()
                    .join(".");
                match self.variable(&name) {
                    Ok(e) => *expr = e,
                    Err(e) => {
                        self.error = Some(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            // `_binary'…'` is bytes; other introducers (`_utf8mb4'…'`) name the text's charset.
            Expr::Prefixed { prefix, value } => {
                let binary = prefix.value.eq_ignore_ascii_case("_binary");
                let text = match value.as_ref() {
                    Expr::Value(v) => match &v.value {
                        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
                            Some(s.clone())
                        }
                        _ => None,
                    },
                    _ => None,
                };
                if let Some(text) = text {
                    let bytes =
                        super::literal_bytes(&text).unwrap_or_else(|| text.clone().into_bytes());
                    *expr = if binary || super::literal_bytes(&text).is_some() {
                        Expr::value(Value::HexStringLiteral(hex(&bytes)))
                    } else {
                        Expr::value(Value::SingleQuotedString(text))
                    };
                } else if !binary {
                    *expr = value.as_ref().clone();
                }
            }
            Expr::Identifier(i) => requote(i),
            Expr::CompoundIdentifier(parts) => parts.iter_mut().for_each(requote),
            Expr::Value(v) => match &mut v.value {
                Value::Placeholder(p) if p == "?" => {
                    self.placeholders += 1;
                    *p = format!("${}", self.placeholders);
                }
                Value::DoubleQuotedString(s) => {
                    v.value = Value::SingleQuotedString(std::mem::take(s));
                }
                // Raw bytes in a literal: a binary string.
                Value::SingleQuotedString(s) if super::literal_bytes(s).is_some() => {
                    let bytes = super::literal_bytes(s).unwrap_or_default();
                    v.value = Value::HexStringLiteral(hex(&bytes));
                }
                // MySQL: a number with an exponent is a DOUBLE (others are exact DECIMALs).
                Value::Number(n, _) if n.contains(['e', 'E']) => {
                    match parse_expr(&format!("CAST('{n}' AS DOUBLE)")) {
                        Ok(e) => *expr = e,
                        Err(e) => {
                            self.error = Some(e);
                            return ControlFlow::Break(());
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::BinaryOp {
            left,
            op: datafusion::sql::sqlparser::ast::BinaryOperator::Divide,
            right,
        } = expr
        {
            match parse_expr(&format!("mysql_div({left}, {right})")) {
                Ok(e) => *expr = e,
                Err(e) => {
                    self.error = Some(e);
                    return ControlFlow::Break(());
                }
            }
            return ControlFlow::Continue(());
        }
        if let Expr::BinaryOp {
            left,
            op: datafusion::sql::sqlparser::ast::BinaryOperator::MyIntegerDivide,
            right,
        } = expr
        {
            // `a DIV b`: integer division, truncated toward zero.
            match parse_expr(&format!(
                "CAST(trunc(CAST({left} AS DOUBLE) / CAST({right} AS DOUBLE)) AS BIGINT)"
            )) {
                Ok(e) => *expr = e,
                Err(e) => {
                    self.error = Some(e);
                    return ControlFlow::Break(());
                }
            }
            return ControlFlow::Continue(());
        }
        if let Expr::Function(f) = expr {
            let name = f.name.to_string().to_lowercase();
            match self.function(&name, f) {
                Ok(Some(e)) => *expr = e,
                Ok(None) => {}
                Err(e) => {
                    self.error = Some(e);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }
}
