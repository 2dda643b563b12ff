//! The SEARCH and CYCLE clauses of a recursive WITH query, which sqlparser does not read:
//!
//! ```sql
//! WITH RECURSIVE t(a, b) AS (…) SEARCH {DEPTH | BREADTH} FIRST BY a SET seq
//!                               CYCLE a SET is_cycle [TO v DEFAULT d] USING path
//! ```
//!
//! PostgreSQL defines both as a rewrite of the recursive query, and Basalt does the same:
//! the clauses are cut out of the statement's tokens, the rest is parsed, and the WITH
//! query they follow is rewritten so that each side of its UNION adds the columns:
//! - depth first: `seq` is the array of `ROW(a, …)` values along the path;
//! - breadth first: `seq` is `ROW(depth, a, …)`, depth counting from 0;
//! - cycle: `is_cycle` is `v` when `ROW(a, …)` is already on `path` (`d` otherwise), `path`
//!   is the array of `ROW(a, …)` values, and rows marked as a cycle are not recursed into.
//!
//! Misuse gets PostgreSQL's errors, in PostgreSQL's order (column checks first, then the
//! shape of the query).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Cte, ExcludeSelectItem, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, SetOperator, SetQuantifier, Statement,
    TableAliasColumnDef, TableFactor, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer};

use crate::error::{SqlError, SqlResult};

/// The names the rewrite gives its derived tables and hidden columns.
const LEFT: &str = "__basalt_search_l";
const RIGHT: &str = "__basalt_search_r";
const PREV_SEQ: &str = "__basalt_prev_seq";
const PREV_PATH: &str = "__basalt_prev_path";

struct Search {
    breadth: bool,
    columns: Vec<Ident>,
    seq: Ident,
    at: Span,
}

struct Cycle {
    columns: Vec<Ident>,
    mark: Ident,
    to: Expr,
    default: Expr,
    path: Ident,
    at: Span,
    default_at: Span,
}

/// The clauses written after one WITH query, known by where its closing parenthesis is.
struct Clauses {
    closing_paren: Location,
    search: Option<Search>,
    cycle: Option<Cycle>,
}

/// The statements of `sql` with their SEARCH and CYCLE clauses rewritten; `None` when `sql`
/// has no such clause.
pub fn parse(sql: &str) -> Option<SqlResult<Vec<Statement>>> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let (kept, clauses) = match cut_clauses(tokens) {
        Ok(Some(cut)) => cut,
        Ok(None) => return None,
        Err(e) => return Some(Err(parser_error(e))),
    };
    let mut statements = match Parser::new(&PostgreSqlDialect {})
        .with_tokens_with_locations(kept)
        .parse_statements()
    {
        Ok(s) => s,
        Err(e) => return Some(Err(parser_error(e))),
    };
    let mut v = Rewriter {
        clauses,
        error: None,
    };
    for stmt in &mut statements {
        let _ = VisitMut::visit(stmt, &mut v);
    }
    if let Some(e) = v.error {
        return Some(Err(e));
    }
    if let Some(left) = v.clauses.first() {
        // A clause after something that is not a WITH query.
        return Some(Err(SqlError::Syntax {
            message: "syntax error at or near \"search\"".into(),
            position: None,
        }
        .at(left.search.as_ref().map_or(Span::empty(), |s| s.at))));
    }
    Some(Ok(statements))
}

fn parser_error(e: ParserError) -> SqlError {
    SqlError::Syntax {
        message: e.to_string().replace("sql parser error: ", ""),
        position: None,
    }
}

fn word(t: Option<&TokenWithSpan>) -> Option<String> {
    match t.map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_lowercase()),
        _ => None,
    }
}

/// A statement's tokens without its SEARCH and CYCLE clauses, and those clauses.
type Cut = (Vec<TokenWithSpan>, Vec<Clauses>);

/// `tokens` without the SEARCH and CYCLE clauses, and those clauses; `None` without any.
fn cut_clauses(tokens: Vec<TokenWithSpan>) -> Result<Option<Cut>, ParserError> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let at = |k: usize| significant.get(k).map(|&i| &tokens[i]);
    let mut cut: Vec<(usize, usize)> = Vec::new();
    let mut clauses = Vec::new();
    for k in 0..significant.len() {
        if at(k).map(|t| &t.token) != Some(&Token::RParen) {
            continue;
        }
        let search = word(at(k + 1)).as_deref() == Some("search")
            && matches!(word(at(k + 2)).as_deref(), Some("depth" | "breadth"))
            && word(at(k + 3)).as_deref() == Some("first");
        let cycle = word(at(k + 1)).as_deref() == Some("cycle")
            && matches!(at(k + 2).map(|t| &t.token), Some(Token::Word(_)));
        if !search && !cycle {
            continue;
        }
        let start = significant[k + 1];
        let mut p =
            Parser::new(&PostgreSqlDialect {}).with_tokens_with_locations(tokens[start..].to_vec());
        let mut c = Clauses {
            closing_paren: tokens[significant[k]].span.start,
            search: None,
            cycle: None,
        };
        if search {
            c.search = Some(search_clause(&mut p)?);
        }
        if word(Some(p.peek_token_ref())).as_deref() == Some("cycle") {
            c.cycle = Some(cycle_clause(&mut p)?);
        }
        cut.push((start, start + p.index()));
        clauses.push(c);
    }
    if clauses.is_empty() {
        return Ok(None);
    }
    let kept = tokens
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !cut.iter().any(|&(a, b)| (a..b).contains(i)))
        .map(|(_, t)| t)
        .collect();
    Ok(Some((kept, clauses)))
}

fn expect_word(p: &mut Parser, w: &str) -> Result<Span, ParserError> {
    let t = p.next_token();
    if word(Some(&t)).as_deref() == Some(w) {
        Ok(t.span)
    } else {
        Err(ParserError::ParserError(format!(
            "syntax error at or near \"{}\"",
            t.token
        )))
    }
}

fn search_clause(p: &mut Parser) -> Result<Search, ParserError> {
    let at = expect_word(p, "search")?;
    let breadth = word(Some(&p.next_token())).as_deref() == Some("breadth");
    expect_word(p, "first")?;
    expect_word(p, "by")?;
    let columns = p.parse_comma_separated(|p| p.parse_identifier())?;
    expect_word(p, "set")?;
    let seq = p.parse_identifier()?;
    Ok(Search {
        breadth,
        columns,
        seq,
        at,
    })
}

fn cycle_clause(p: &mut Parser) -> Result<Cycle, ParserError> {
    let at = expect_word(p, "cycle")?;
    let columns = p.parse_comma_separated(|p| p.parse_identifier())?;
    expect_word(p, "set")?;
    let mark = p.parse_identifier()?;
    let boolean = |b| Expr::Value(Value::Boolean(b).into());
    let (to, default, default_at) = if word(Some(p.peek_token_ref())).as_deref() == Some("to") {
        p.next_token();
        let to = p.parse_expr()?;
        expect_word(p, "default")?;
        let default_at = p.peek_token_ref().span;
        (to, p.parse_expr()?, default_at)
    } else {
        (boolean(true), boolean(false), at)
    };
    expect_word(p, "using")?;
    let path = p.parse_identifier()?;
    Ok(Cycle {
        columns,
        mark,
        to,
        default,
        path,
        at,
        default_at,
    })
}

struct Rewriter {
    clauses: Vec<Clauses>,
    error: Option<SqlError>,
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        let Some(with) = q.with.as_mut() else {
            return ControlFlow::Continue(());
        };
        for cte in &mut with.cte_tables {
            let close = cte.closing_paren_token.0.span.start;
            let Some(i) = self.clauses.iter().position(|c| c.closing_paren == close) else {
                continue;
            };
            let clauses = self.clauses.remove(i);
            if let Err(e) = rewrite_cte(cte, &clauses) {
                self.error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// A name as PostgreSQL compares it: folded to lower case unless quoted.
fn folded(i: &Ident) -> String {
    match i.quote_style {
        Some(_) => i.value.clone(),
        None => i.value.to_lowercase(),
    }
}

fn syntax(message: String, at: Span) -> SqlError {
    SqlError::Syntax {
        message,
        position: None,
    }
    .at(at)
}

fn rewrite_cte(cte: &mut Cte, c: &Clauses) -> SqlResult<()> {
    let name = cte.alias.name.clone();
    let SetExpr::SetOperation {
        op: SetOperator::Union,
        set_quantifier,
        left,
        right,
    } = cte.query.body.as_mut()
    else {
        return Err(SqlError::unsupported(format!(
            "with a SEARCH or CYCLE clause, the recursive query \"{}\" must be a UNION",
            name.value
        )));
    };
    let columns: Vec<Ident> = if cte.alias.columns.is_empty() {
        output_names(left, &name)?
    } else {
        cte.alias.columns.iter().map(|c| c.name.clone()).collect()
    };
    check_columns(&columns, c)?;
    if matches!(left.as_ref(), SetExpr::SetOperation { .. }) {
        return Err(SqlError::unsupported(
            "with a SEARCH or CYCLE clause, the left side of the UNION must be a SELECT",
        ));
    }
    let right_select = right_select(right, &name)?;
    let reference = recursive_reference(right_select, &name)?;
    let added = added_columns(c);
    add_previous(right_select, &reference, &added, c)?;
    let all = matches!(set_quantifier, SetQuantifier::All);
    let left_query = Query::clone(&as_query(left));
    let right_query = Query::clone(&as_query(right));
    let body = format!(
        "SELECT {} FROM (SELECT 1) AS {LEFT}({}) UNION {} SELECT {} FROM (SELECT 1) AS {RIGHT}({}{})",
        select_list(&columns, LEFT, &terms(c, LEFT, false)),
        join(&columns),
        if all { "ALL" } else { "" },
        select_list(&columns, RIGHT, &terms(c, RIGHT, true)),
        join(&columns),
        hidden_columns(c),
    );
    let mut query = match crate::session::parse_sql(&body)?.pop() {
        Some(Statement::Query(q)) => q,
        _ => return Err(SqlError::Internal("SEARCH/CYCLE rewrite".into())),
    };
    let SetExpr::SetOperation {
        left: new_left,
        right: new_right,
        ..
    } = query.body.as_mut()
    else {
        return Err(SqlError::Internal("SEARCH/CYCLE rewrite".into()));
    };
    put_derived(new_left, left_query)?;
    put_derived(new_right, right_query)?;
    cte.query.body = query.body;
    if !cte.alias.columns.is_empty() {
        cte.alias
            .columns
            .extend(added.into_iter().map(|name| TableAliasColumnDef {
                name,
                data_type: None,
            }));
    }
    Ok(())
}

fn as_query(body: &SetExpr) -> Query {
    match body {
        SetExpr::Query(q) => Query::clone(q),
        other => Query {
            with: None,
            body: Box::new(other.clone()),
            order_by: None,
            limit_clause: None,
            fetch: None,
            locks: vec![],
            for_clause: None,
            settings: None,
            format_clause: None,
            pipe_operators: vec![],
        },
    }
}

/// Replaces the placeholder `(SELECT 1)` of a side of the rewritten UNION with `q`.
fn put_derived(side: &mut SetExpr, q: Query) -> SqlResult<()> {
    if let SetExpr::Select(s) = side {
        if let Some(TableFactor::Derived { subquery, .. }) =
            s.from.first_mut().map(|t| &mut t.relation)
        {
            **subquery = q;
            return Ok(());
        }
    }
    Err(SqlError::Internal("SEARCH/CYCLE rewrite".into()))
}

/// The column names of a WITH query without a column list: those of its left side.
fn output_names(left: &SetExpr, name: &Ident) -> SqlResult<Vec<Ident>> {
    let select = match left {
        SetExpr::Select(s) => s,
        SetExpr::Query(q) => match q.body.as_ref() {
            SetExpr::Select(s) => s,
            _ => return Err(unnamed(name)),
        },
        _ => return Err(unnamed(name)),
    };
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Ok(alias.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => Ok(i.clone()),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                parts.last().cloned().ok_or_else(|| unnamed(name))
            }
            _ => Err(unnamed(name)),
        })
        .collect()
}

fn unnamed(name: &Ident) -> SqlError {
    SqlError::unsupported(format!(
        "SEARCH and CYCLE need the column names of WITH query \"{}\": give it a column list",
        name.value
    ))
}

/// PostgreSQL's checks of the clauses' column names against the query's columns.
fn check_columns(columns: &[Ident], c: &Clauses) -> SqlResult<()> {
    let names: Vec<String> = columns.iter().map(folded).collect();
    let check_list = |list: &[Ident], what: &str, at: Span| -> SqlResult<()> {
        let mut seen: Vec<String> = Vec::new();
        for col in list {
            let f = folded(col);
            if !names.contains(&f) {
                return Err(syntax(
                    format!("{what} column \"{f}\" not in WITH query column list"),
                    at,
                ));
            }
            if seen.contains(&f) {
                return Err(SqlError::DuplicateColumnUse(format!(
                    "{what} column \"{f}\" specified more than once"
                ))
                .at(at));
            }
            seen.push(f);
        }
        Ok(())
    };
    if let Some(s) = &c.search {
        check_list(&s.columns, "search", s.at)?;
        let seq = folded(&s.seq);
        if names.contains(&seq) {
            return Err(syntax(
                format!(
                    "search sequence column name \"{seq}\" already used in WITH query column list"
                ),
                s.at,
            ));
        }
    }
    if let Some(cy) = &c.cycle {
        check_list(&cy.columns, "cycle", cy.at)?;
        check_mark_types(cy)?;
        let (mark, path) = (folded(&cy.mark), folded(&cy.path));
        if names.contains(&mark) {
            return Err(syntax(
                format!("cycle mark column name \"{mark}\" already used in WITH query column list"),
                cy.at,
            ));
        }
        if names.contains(&path) {
            return Err(syntax(
                format!("cycle path column name \"{path}\" already used in WITH query column list"),
                cy.at,
            ));
        }
        if mark == path {
            return Err(syntax(
                "cycle mark column name and cycle path column name are the same".into(),
                cy.at,
            ));
        }
    }
    if let (Some(s), Some(cy)) = (&c.search, &c.cycle) {
        let seq = folded(&s.seq);
        for (other, what) in [(&cy.mark, "mark"), (&cy.path, "path")] {
            if folded(other) == seq {
                return Err(syntax(
                    format!(
                        "search sequence column name and cycle {what} column name are the same"
                    ),
                    s.at,
                ));
            }
        }
    }
    Ok(())
}

/// The type of a literal mark value, when the literal alone decides it.
fn literal_type(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Boolean(_) => Some("boolean"),
            Value::Number(n, _) if n.contains(['.', 'e', 'E']) => Some("numeric"),
            Value::Number(..) => Some("integer"),
            _ => None,
        },
        _ => None,
    }
}

/// `TO v DEFAULT d` must have one type (a quoted literal fits either).
fn check_mark_types(cy: &Cycle) -> SqlResult<()> {
    match (literal_type(&cy.to), literal_type(&cy.default)) {
        (Some(a), Some(b)) if a != b && !(a != "boolean" && b != "boolean") => Err(
            SqlError::DatatypeMismatch(format!("CYCLE types {a} and {b} cannot be matched"))
                .at(cy.default_at),
        ),
        _ => Ok(()),
    }
}

/// The right side of the UNION, which must be one SELECT.
fn right_select<'a>(right: &'a mut SetExpr, name: &Ident) -> SqlResult<&'a mut Select> {
    match right {
        SetExpr::Select(s) => Ok(s),
        SetExpr::Query(q) if q.with.is_some() => Err(SqlError::unsupported(format!(
            "with a SEARCH or CYCLE clause, the recursive reference to WITH query \"{}\" must be at the top level of its right-hand SELECT",
            folded(name)
        ))),
        SetExpr::Query(q) if q.order_by.is_none() && q.limit_clause.is_none() => {
            right_select(q.body.as_mut(), name)
        }
        _ => Err(SqlError::unsupported(
            "with a SEARCH or CYCLE clause, the right side of the UNION must be a SELECT",
        )),
    }
}

/// The name the right side reads the recursive query under (its alias, or its name).
fn recursive_reference(select: &Select, name: &Ident) -> SqlResult<Ident> {
    let target = folded(name);
    let factors = select
        .from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)));
    for f in factors {
        if let TableFactor::Table {
            name: table, alias, ..
        } = f
        {
            if let [part] = table.0.as_slice() {
                if part.as_ident().map(folded).as_deref() == Some(target.as_str()) {
                    return Ok(alias.as_ref().map_or_else(
                        || part.as_ident().cloned().unwrap_or_else(|| name.clone()),
                        |a| a.name.clone(),
                    ));
                }
            }
        }
    }
    Err(SqlError::unsupported(format!(
        "with a SEARCH or CYCLE clause, the recursive reference to WITH query \"{target}\" must be at the top level of its right-hand SELECT"
    )))
}

/// The columns the clauses add, in PostgreSQL's order.
fn added_columns(c: &Clauses) -> Vec<Ident> {
    let mut out = Vec::new();
    if let Some(s) = &c.search {
        out.push(s.seq.clone());
    }
    if let Some(cy) = &c.cycle {
        out.push(cy.mark.clone());
        out.push(cy.path.clone());
    }
    out
}

fn compound(a: &Ident, b: &Ident) -> Expr {
    Expr::CompoundIdentifier(vec![a.clone(), b.clone()])
}

/// Makes the right side also return the recursive row's sequence and path, stop at rows
/// marked as a cycle, and keep the added columns out of a `*` over the recursive query.
fn add_previous(
    select: &mut Select,
    reference: &Ident,
    added: &[Ident],
    c: &Clauses,
) -> SqlResult<()> {
    for item in &mut select.projection {
        let options = match item {
            SelectItem::Wildcard(o) => o,
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), o)
                if n.0.len() == 1 && n.0[0].as_ident().map(folded) == Some(folded(reference)) =>
            {
                o
            }
            _ => continue,
        };
        if options.opt_exclude.is_some() {
            return Err(SqlError::unsupported("EXCLUDE in a SEARCH or CYCLE query"));
        }
        options.opt_exclude = Some(ExcludeSelectItem::Multiple(
            added
                .iter()
                .map(|a| ObjectName::from(vec![a.clone()]))
                .collect(),
        ));
    }
    if let Some(s) = &c.search {
        // Breadth first: the next depth, taken here (DataFusion refuses `get_field` on a
        // column of a derived table with a column list).
        let prev = compound(reference, &s.seq);
        let expr = if s.breadth {
            Expr::BinaryOp {
                left: Box::new(Expr::Function(get_field_c0(prev))),
                op: BinaryOperator::Plus,
                right: Box::new(Expr::Value(Value::Number("1".into(), false).into())),
            }
        } else {
            prev
        };
        select.projection.push(SelectItem::ExprWithAlias {
            expr,
            alias: Ident::new(PREV_SEQ),
        });
    }
    if let Some(cy) = &c.cycle {
        select.projection.push(SelectItem::ExprWithAlias {
            expr: compound(reference, &cy.path),
            alias: Ident::new(PREV_PATH),
        });
        let not_cycle = Expr::BinaryOp {
            left: Box::new(compound(reference, &cy.mark)),
            op: BinaryOperator::NotEq,
            right: Box::new(cy.to.clone()),
        };
        select.selection = Some(match select.selection.take() {
            Some(w) => Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(w))),
                op: BinaryOperator::And,
                right: Box::new(not_cycle),
            },
            None => not_cycle,
        });
    }
    Ok(())
}

/// `get_field(record, 'c0')`: the depth of a breadth-first sequence.
fn get_field_c0(record: Expr) -> Function {
    let arg = |e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e));
    Function {
        name: ObjectName::from(vec![Ident::new("get_field")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![
                arg(record),
                arg(Expr::Value(Value::SingleQuotedString("c0".into()).into())),
            ],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }
}

fn join(columns: &[Ident]) -> String {
    columns
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn hidden_columns(c: &Clauses) -> String {
    let mut out = String::new();
    if c.search.is_some() {
        out.push_str(&format!(", {PREV_SEQ}"));
    }
    if c.cycle.is_some() {
        out.push_str(&format!(", {PREV_PATH}"));
    }
    out
}

fn select_list(columns: &[Ident], table: &str, extra: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("{table}.{c}"))
        .chain(extra.iter().cloned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `ROW(t.a, t.b)` over the clause's columns.
fn row(table: &str, list: &[Ident]) -> String {
    let fields: Vec<String> = list.iter().map(|c| format!("{table}.{c}")).collect();
    format!("ROW({})", fields.join(", "))
}

/// The added columns' expressions on one side of the UNION (`recursive`: the right side).
fn terms(c: &Clauses, table: &str, recursive: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = &c.search {
        let r = row(table, &s.columns);
        let fields = &r["ROW(".len()..r.len() - 1];
        out.push(match (s.breadth, recursive) {
            (false, false) => format!("ARRAY[{r}] AS {}", s.seq),
            (false, true) => format!("{table}.{PREV_SEQ} || ARRAY[{r}] AS {}", s.seq),
            (true, false) => format!("ROW(CAST(0 AS BIGINT), {fields}) AS {}", s.seq),
            (true, true) => format!("ROW({table}.{PREV_SEQ}, {fields}) AS {}", s.seq),
        });
    }
    if let Some(cy) = &c.cycle {
        let r = row(table, &cy.columns);
        if recursive {
            out.push(format!(
                "CASE WHEN {r} = ANY({table}.{PREV_PATH}) THEN {} ELSE {} END AS {}",
                cy.to, cy.default, cy.mark
            ));
            out.push(format!("{table}.{PREV_PATH} || ARRAY[{r}] AS {}", cy.path));
        } else {
            // A CASE, so that DataFusion types the column as nullable on both sides.
            out.push(format!(
                "CASE WHEN true THEN {} END AS {}",
                cy.default, cy.mark
            ));
            out.push(format!("ARRAY[{r}] AS {}", cy.path));
        }
    }
    out
}
