//! PostgreSQL's placement rules for window function and aggregate calls, checked on the
//! parsed statement (PostgreSQL checks them as it transforms the calls):
//! - a window function is not allowed in WHERE, JOIN conditions, GROUP BY, HAVING, a window
//!   definition, or an UPDATE / DELETE's WHERE, SET and RETURNING (42P20);
//! - an aggregate call is not allowed in another one's arguments (42803);
//! - `count()` and OVER after a set-returning function are not calls (42809).
//!
//! Each refusal carries the position of the call, as PostgreSQL reports it, where DataFusion
//! would fail later with an internal message.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, NamedWindowExpr,
    Query, Select, SelectItem, SetExpr, Spanned, Statement, Value, Visit, Visitor, WindowType,
};

use crate::error::{SqlError, SqlResult};

fn not_allowed(call: &Expr, clause: &str) -> SqlError {
    SqlError::Detailed {
        sqlstate: "42P20",
        message: format!("window functions are not allowed in {clause}"),
        detail: String::new(),
        hint: None,
    }
    .at(call.span())
}

/// Finds the first call of an expression that `wanted` picks, outside its subqueries.
struct FirstCall {
    wanted: fn(&Function) -> bool,
    depth: usize,
    found: Option<Expr>,
}

impl Visitor for FirstCall {
    type Break = ();

    fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.depth == 0 && matches!(e, Expr::Function(f) if (self.wanted)(f)) {
            self.found = Some(e.clone());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

fn first_call(e: &Expr, wanted: fn(&Function) -> bool) -> Option<Expr> {
    let mut v = FirstCall {
        wanted,
        depth: 0,
        found: None,
    };
    let _ = e.visit(&mut v);
    v.found
}

fn is_window_call(f: &Function) -> bool {
    f.over.is_some()
}

fn bare_name(f: &Function) -> String {
    let name = f.name.to_string().to_lowercase();
    match name.strip_prefix("pg_catalog.") {
        Some(bare) => bare.to_owned(),
        None => name,
    }
}

/// A plain aggregate call (not a window function, not an ordered-set aggregate).
fn is_aggregate_call(f: &Function) -> bool {
    f.over.is_none()
        && f.within_group.is_empty()
        && crate::srf::AGGREGATES.contains(&bare_name(f).as_str())
}

/// PostgreSQL's error for an aggregate call inside the arguments of another one.
fn nested_aggregate(f: &Function) -> Option<SqlError> {
    if !is_aggregate_call(f) {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    list.args.iter().find_map(|a| {
        let e = match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
            | FunctionArg::Named {
                arg: FunctionArgExpr::Expr(e),
                ..
            } => e,
            _ => return None,
        };
        first_call(e, is_aggregate_call).map(|inner| {
            SqlError::Detailed {
                sqlstate: "42803",
                message: "aggregate function calls cannot be nested".into(),
                detail: String::new(),
                hint: None,
            }
            .at(inner.span())
        })
    })
}

fn refuse_in(e: &Expr, clause: &str) -> SqlResult<()> {
    match first_call(e, is_window_call) {
        Some(call) => Err(not_allowed(&call, clause)),
        None => Ok(()),
    }
}

/// The expressions of a window specification (PARTITION BY and ORDER BY).
fn spec_expressions(spec: &datafusion::sql::sqlparser::ast::WindowSpec) -> Vec<&Expr> {
    spec.partition_by
        .iter()
        .chain(spec.order_by.iter().map(|o| &o.expr))
        .collect()
}

/// The calls of a SELECT list: a window function inside the definition of another one (in
/// its OVER clause), nested aggregates, calls that cannot be made.
struct ProjectedCalls {
    depth: usize,
    error: Option<SqlError>,
}

impl Visitor for ProjectedCalls {
    type Break = ();

    fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        if let Some(err) = misplaced_call(e, f).or_else(|| nested_aggregate(f)) {
            self.error = Some(err);
            return ControlFlow::Break(());
        }
        if let Some(WindowType::WindowSpec(spec)) = &f.over {
            for x in spec_expressions(spec) {
                if let Err(err) = refuse_in(x, "window definitions") {
                    self.error = Some(err);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The projection expression a `GROUP BY n` names, when `e` is such a position.
fn grouped_position<'a>(e: &Expr, select: &'a Select) -> Option<&'a Expr> {
    let Expr::Value(v) = e else { return None };
    let Value::Number(n, _) = &v.value else {
        return None;
    };
    let n: usize = n.parse().ok()?;
    match select.projection.get(n.checked_sub(1)?)? {
        SelectItem::UnnamedExpr(x) | SelectItem::ExprWithAlias { expr: x, .. } => Some(x),
        _ => None,
    }
}

fn check_select(select: &Select) -> SqlResult<()> {
    if let Some(w) = &select.selection {
        refuse_in(w, "WHERE")?;
    }
    for t in &select.from {
        for j in &t.joins {
            if let Some(on) = crate::srf::join_condition(&j.join_operator) {
                refuse_in(on, "JOIN conditions")?;
            }
        }
    }
    if let GroupByExpr::Expressions(exprs, _) = &select.group_by {
        for e in exprs {
            refuse_in(grouped_position(e, select).unwrap_or(e), "GROUP BY")?;
        }
    }
    if let Some(h) = &select.having {
        refuse_in(h, "HAVING")?;
    }
    let mut v = ProjectedCalls {
        depth: 0,
        error: None,
    };
    for item in &select.projection {
        let _ = item.visit(&mut v);
    }
    if let Some(e) = v.error {
        return Err(e);
    }
    for def in &select.named_window {
        if let NamedWindowExpr::WindowSpec(spec) = &def.1 {
            for x in spec_expressions(spec) {
                refuse_in(x, "window definitions")?;
            }
        }
    }
    Ok(())
}

/// Checks every SELECT of a query body (not nested queries, which are checked on their own).
pub fn check_body(body: &SetExpr) -> SqlResult<()> {
    match body {
        SetExpr::Select(select) => check_select(select),
        SetExpr::SetOperation { left, right, .. } => {
            check_body(left)?;
            check_body(right)
        }
        _ => Ok(()),
    }
}

fn check_returning(returning: &Option<Vec<SelectItem>>) -> SqlResult<()> {
    for item in returning.iter().flatten() {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            refuse_in(e, "RETURNING")?;
        }
    }
    Ok(())
}

/// The WHERE, SET and RETURNING clauses of an UPDATE or DELETE.
pub fn check_statement(stmt: &Statement) -> SqlResult<()> {
    match stmt {
        Statement::Delete(d) => {
            if let Some(w) = &d.selection {
                refuse_in(w, "WHERE")?;
            }
            check_returning(&d.returning)
        }
        Statement::Update(u) => {
            if let Some(w) = &u.selection {
                refuse_in(w, "WHERE")?;
            }
            for a in &u.assignments {
                refuse_in(&a.value, "UPDATE")?;
            }
            check_returning(&u.returning)
        }
        _ => Ok(()),
    }
}

/// Aggregates where PostgreSQL allows none (42803, at the aggregate): in a WHERE clause, and
/// in the FILTER of another aggregate (of a subquery, where the inner aggregate is usually
/// the outer query's, PostgreSQL calls that nesting).
pub fn check_aggregate_places(stmt: &Statement) -> SqlResult<()> {
    struct Places {
        depth: usize,
        error: Option<SqlError>,
    }
    fn refused(message: &str, at: &Expr) -> SqlError {
        SqlError::Detailed {
            sqlstate: "42803",
            message: message.into(),
            detail: String::new(),
            hint: None,
        }
        .at(at.span())
    }
    impl Visitor for Places {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            self.depth += 1;
            if let SetExpr::Select(sel) = q.body.as_ref() {
                if let Some(w) = &sel.selection {
                    if let Some(call) = first_call(w, is_aggregate_call) {
                        self.error = Some(refused(
                            "aggregate functions are not allowed in WHERE",
                            &call,
                        ));
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            let Expr::Function(f) = e else {
                return ControlFlow::Continue(());
            };
            let Some(filter) = f.filter.as_deref() else {
                return ControlFlow::Continue(());
            };
            if let Some(call) = first_call(filter, is_aggregate_call) {
                let message = if self.depth > 1 {
                    "aggregate function calls cannot be nested"
                } else {
                    "aggregate functions are not allowed in FILTER"
                };
                self.error = Some(refused(message, &call));
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Places {
        depth: 0,
        error: None,
    };
    let _ = stmt.visit(&mut v);
    v.error.map_or(Ok(()), Err)
}

/// `string_agg(DISTINCT a, ',' ORDER BY b)`: with DISTINCT, PostgreSQL sorts only by
/// expressions among the arguments (42P10), so that the distinct values have one order.
/// Casts are looked through on both sides: PostgreSQL compares the expressions once typed,
/// where a cast to the type a value already has is no cast (so Basalt accepts the casts
/// PostgreSQL would find to differ).
pub fn check_distinct_order(stmt: &Statement) -> SqlResult<()> {
    use datafusion::sql::sqlparser::ast::{
        DuplicateTreatment, FunctionArgumentClause, FunctionArguments, Spanned,
    };
    let mut error = None;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(stmt, |e| {
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        // Only the built-in aggregates: a call of an unknown function is refused for that.
        if !crate::srf::AGGREGATES.contains(&bare_name(f).as_str()) {
            return ControlFlow::Continue(());
        }
        let FunctionArguments::List(list) = &f.args else {
            return ControlFlow::Continue(());
        };
        if list.duplicate_treatment != Some(DuplicateTreatment::Distinct) {
            return ControlFlow::Continue(());
        }
        fn uncast(e: &Expr) -> String {
            match e {
                Expr::Cast { expr, .. } | Expr::Nested(expr) => uncast(expr),
                other => other.to_string().to_lowercase(),
            }
        }
        let args: Vec<String> = list
            .args
            .iter()
            .map(|a| match a {
                datafusion::sql::sqlparser::ast::FunctionArg::Unnamed(
                    datafusion::sql::sqlparser::ast::FunctionArgExpr::Expr(e),
                ) => uncast(e),
                other => other.to_string().to_lowercase(),
            })
            .collect();
        for clause in &list.clauses {
            let FunctionArgumentClause::OrderBy(keys) = clause else {
                continue;
            };
            for key in keys {
                if !args.contains(&uncast(&key.expr)) {
                    error = Some(
                        SqlError::Detailed {
                            sqlstate: "42P10",
                            message: "in an aggregate with DISTINCT, ORDER BY expressions must \
                                      appear in argument list"
                                .into(),
                            detail: String::new(),
                            hint: None,
                        }
                        .at(key.expr.span()),
                    );
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    });
    error.map_or(Ok(()), Err)
}

/// The set-returning functions, which are neither window functions nor aggregates.
pub(crate) const SET_RETURNING: &[&str] = &[
    "generate_series",
    "generate_subscripts",
    "unnest",
    "regexp_matches",
    "regexp_split_to_table",
];

/// PostgreSQL's 42809 errors for a call that cannot be made as written: `count()` (an
/// aggregate without arguments is called as `count(*)`) and `OVER` after a set-returning
/// function.
fn misplaced_call(e: &Expr, f: &Function) -> Option<SqlError> {
    let name = bare_name(f);
    let name = name.as_str();
    let message =
        if name == "count" && matches!(&f.args, FunctionArguments::List(l) if l.args.is_empty()) {
            "count(*) must be used to call a parameterless aggregate function".to_owned()
        } else if f.over.is_some() && SET_RETURNING.contains(&name) {
            format!("OVER specified, but {name} is not a window function nor an aggregate function")
        } else {
            return None;
        };
    Some(
        SqlError::Detailed {
            sqlstate: "42809",
            message,
            detail: String::new(),
            hint: None,
        }
        .at(e.span()),
    )
}

/// `FOR UPDATE OF x` (and the other strengths): `x` must name a table or subquery of the
/// query's FROM clause, and not a join, as PostgreSQL checks it (Basalt takes no row locks,
/// see `docs/compatibility.md`, but refuses what PostgreSQL refuses).
pub fn check_locking_targets(stmt: &Statement) -> SqlResult<()> {
    use datafusion::sql::sqlparser::ast::LockType;
    struct Targets {
        error: Option<SqlError>,
    }
    impl Visitor for Targets {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            let SetExpr::Select(select) = q.body.as_ref() else {
                return ControlFlow::Continue(());
            };
            let mut names = Vec::new();
            for t in &select.from {
                from_entries(t, &mut names);
            }
            for lock in &q.locks {
                let Some(of) = &lock.of else { continue };
                let Some(target) = of.0.last().and_then(|p| p.as_ident()) else {
                    continue;
                };
                let name = crate::ddl::ident(target);
                let strength = match lock.lock_type {
                    LockType::Update => "FOR UPDATE",
                    LockType::Share => "FOR SHARE",
                };
                let error = match names.iter().find(|e| e.name == name) {
                    Some(FromEntry { join: false, .. }) => continue,
                    Some(FromEntry { join: true, .. }) => SqlError::FeatureNotSupported(format!(
                        "{strength} cannot be applied to a join"
                    )),
                    None => SqlError::Detailed {
                        sqlstate: "42P01",
                        message: format!(
                            "relation \"{name}\" in {strength} clause not found in FROM clause"
                        ),
                        detail: String::new(),
                        hint: None,
                    },
                };
                self.error = Some(error.at(target.span));
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Targets { error: None };
    let _ = stmt.visit(&mut v);
    v.error.map_or(Ok(()), Err)
}

/// An aggregate whose arguments read only columns of an outer query belongs to that query
/// (PostgreSQL's rule); inside an argument of another aggregate of that query it is a nested
/// aggregate call, which PostgreSQL refuses (42803): `SELECT avg((SELECT avg(o.x) FROM t))
/// FROM t o`. Elsewhere Basalt refuses it (0A000) rather than aggregate it per outer row.
/// Only qualified references are resolved here (an unqualified one counts as the
/// aggregate's own query).
pub fn check_nested_outer_aggregates(stmt: &Statement) -> SqlResult<()> {
    struct Levels {
        /// The FROM names of each query level around the point, outermost first.
        scopes: Vec<Vec<String>>,
        /// The level each aggregate call around the point belongs to.
        aggregates: Vec<usize>,
        error: Option<SqlError>,
    }
    impl Levels {
        fn level_of(&self, f: &Function) -> usize {
            let here = self.scopes.len().saturating_sub(1);
            let mut level: Option<usize> = None;
            let mut own = false;
            let _ = datafusion::sql::sqlparser::ast::visit_expressions(&f.args, |e| {
                match e {
                    Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                        let q = crate::ddl::ident(&parts[0]);
                        match self.scopes.iter().rposition(|s| s.contains(&q)) {
                            Some(l) => level = Some(level.map_or(l, |m| m.max(l))),
                            None => own = true,
                        }
                    }
                    Expr::Identifier(_) | Expr::CompoundIdentifier(_) => own = true,
                    _ => {}
                }
                ControlFlow::<()>::Continue(())
            });
            match level {
                Some(l) if !own => l,
                _ => here,
            }
        }
    }
    impl Visitor for Levels {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            let mut entries = Vec::new();
            if let SetExpr::Select(s) = q.body.as_ref() {
                for t in &s.from {
                    from_entries(t, &mut entries);
                }
            }
            self.scopes
                .push(entries.into_iter().map(|e| e.name).collect());
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
            self.scopes.pop();
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            let Expr::Function(f) = e else {
                return ControlFlow::Continue(());
            };
            if f.over.is_some() || !crate::srf::AGGREGATES.contains(&bare_name(f).as_str()) {
                return ControlFlow::Continue(());
            }
            let level = self.level_of(f);
            if level + 1 < self.scopes.len() {
                let error = if self.aggregates.contains(&level) {
                    SqlError::Detailed {
                        sqlstate: "42803",
                        message: "aggregate function calls cannot be nested".into(),
                        detail: String::new(),
                        hint: None,
                    }
                } else {
                    // DataFusion would aggregate it in the subquery, once per outer row: a
                    // wrong result, so it is refused.
                    SqlError::unsupported(
                        "an aggregate over only an outer query's columns inside a subquery \
                         (it belongs to the outer query) is not supported",
                    )
                };
                self.error = Some(error.at(f.span()));
                return ControlFlow::Break(());
            }
            self.aggregates.push(level);
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                if f.over.is_none() && crate::srf::AGGREGATES.contains(&bare_name(f).as_str()) {
                    self.aggregates.pop();
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Levels {
        scopes: Vec::new(),
        aggregates: Vec::new(),
        error: None,
    };
    let _ = stmt.visit(&mut v);
    v.error.map_or(Ok(()), Err)
}

/// PostgreSQL's 42712 for two FROM items of one SELECT under one name (`FROM t a, t a`,
/// `FROM t, t`); DataFusion reports a duplicate field instead. The items of an aliased join
/// are hidden behind its alias; two tables without aliases clash only when they are one
/// table (`s1.t` and `t` may meet, as in PostgreSQL).
pub fn check_duplicate_from_names(stmt: &Statement) -> SqlResult<()> {
    use datafusion::sql::sqlparser::ast::{Spanned, TableFactor, TableWithJoins};
    /// (name, the schema written before an unaliased table's name, where it is written)
    type Named = (
        String,
        Option<String>,
        datafusion::sql::sqlparser::tokenizer::Span,
    );
    fn names(t: &TableWithJoins, out: &mut Vec<Named>) {
        for f in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            match f {
                TableFactor::Table {
                    name, alias: None, ..
                } => {
                    if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                        // The schema as written (empty: the default one).
                        let schema = name.0[..name.0.len() - 1]
                            .iter()
                            .filter_map(|p| p.as_ident().map(crate::ddl::ident))
                            .collect::<Vec<_>>()
                            .join(".");
                        out.push((crate::ddl::ident(last), Some(schema), f.span()));
                    }
                }
                TableFactor::Table { alias: Some(a), .. }
                | TableFactor::Derived { alias: Some(a), .. }
                | TableFactor::Function { alias: Some(a), .. }
                | TableFactor::TableFunction { alias: Some(a), .. }
                | TableFactor::UNNEST { alias: Some(a), .. }
                | TableFactor::NestedJoin { alias: Some(a), .. } => {
                    out.push((crate::ddl::ident(&a.name), None, a.name.span))
                }
                TableFactor::NestedJoin {
                    table_with_joins,
                    alias: None,
                } => names(table_with_joins, out),
                _ => {}
            }
        }
    }
    let mut error = None;
    struct Check<'a> {
        error: &'a mut Option<SqlError>,
    }
    impl Visitor for Check<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            let SetExpr::Select(s) = q.body.as_ref() else {
                return ControlFlow::Continue(());
            };
            let mut seen: Vec<Named> = Vec::new();
            for t in &s.from {
                names(t, &mut seen);
            }
            for (i, (name, full, span)) in seen.iter().enumerate() {
                // Two tables without aliases clash when they are one table: the same
                // schema, an unwritten one being the default (`public`).
                let schema_of = |s: &str| {
                    if s.is_empty() {
                        "public".to_owned()
                    } else {
                        s.to_owned()
                    }
                };
                let clash = seen[..i].iter().any(|(n, f, _)| {
                    n == name
                        && match (f, full) {
                            (Some(a), Some(b)) => schema_of(a) == schema_of(b),
                            _ => true,
                        }
                });
                if clash {
                    *self.error = Some(
                        SqlError::Detailed {
                            sqlstate: "42712",
                            message: format!("table name \"{name}\" specified more than once"),
                            detail: String::new(),
                            hint: None,
                        }
                        .at(*span),
                    );
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Check { error: &mut error });
    error.map_or(Ok(()), Err)
}

/// A name a FROM item gives a query: its alias, or a table's own name.
pub(crate) struct FromEntry {
    pub name: String,
    /// The table, when the item is one.
    pub table: Option<datafusion::sql::sqlparser::ast::ObjectName>,
    /// Whether the name is a join's (`(a JOIN b) AS j`).
    pub join: bool,
}

/// The name one FROM item gives (a join's own alias, not those inside it).
pub(crate) fn factor_entry(f: &datafusion::sql::sqlparser::ast::TableFactor) -> Option<FromEntry> {
    use datafusion::sql::sqlparser::ast::{ObjectNamePart, TableFactor};
    let alias = |a: &Option<datafusion::sql::sqlparser::ast::TableAlias>| {
        a.as_ref().map(|a| crate::ddl::ident(&a.name))
    };
    let entry =
        |name: Option<String>, table, join| name.map(|name| FromEntry { name, table, join });
    match f {
        TableFactor::Table { name, alias: a, .. } => {
            let own = name
                .0
                .last()
                .and_then(ObjectNamePart::as_ident)
                .map(crate::ddl::ident);
            entry(alias(a).or(own), Some(name.clone()), false)
        }
        TableFactor::NestedJoin { alias: a, .. } => entry(alias(a), None, true),
        TableFactor::Derived { alias: a, .. }
        | TableFactor::Function { alias: a, .. }
        | TableFactor::TableFunction { alias: a, .. }
        | TableFactor::UNNEST { alias: a, .. } => entry(alias(a), None, false),
        _ => None,
    }
}

/// The names the items of a FROM clause give, with those inside its joins (PostgreSQL's
/// range table: a table inside an aliased join is still there).
pub(crate) fn from_entries(
    t: &datafusion::sql::sqlparser::ast::TableWithJoins,
    out: &mut Vec<FromEntry>,
) {
    use datafusion::sql::sqlparser::ast::TableFactor;
    for f in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
        out.extend(factor_entry(f));
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = f
        {
            from_entries(table_with_joins, out);
        }
    }
}
