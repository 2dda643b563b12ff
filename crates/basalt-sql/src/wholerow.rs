//! Whole-row references: a FROM item's name used as a value (`SELECT t FROM t`,
//! `row_to_json(t)`, `(s.*)::text`, `ROW(s.*)`) is the row of its columns, as in
//! PostgreSQL. DataFusion has no such value, so a statement that fails to plan and names a
//! FROM item this way is rewritten: the reference becomes a row (a struct named by the
//! item's columns, which prints as `(1,x)`), with the columns found by planning the FROM
//! clause alone. A FROM clause that cannot be planned alone (one that reads an outer query)
//! is left as written, and the statement keeps its first error.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use datafusion::execution::session_state::SessionState;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName, Query, Select,
    SelectItem, SetExpr, Statement, TableFactor, VisitMut, VisitorMut,
};

/// The columns of each FROM item of one SELECT, by the name the item is referred to by.
type Rows = HashMap<String, Vec<String>>;

/// What one SELECT's FROM clause makes visible: its items as rows and its column names;
/// `None` when the FROM clause could not be planned alone.
type Scope = Option<(Rows, HashSet<String>)>;

/// The names FROM items of `select` are referred to by (alias, else table name).
fn item_names(select: &Select) -> Vec<String> {
    fn name_of(f: &TableFactor, out: &mut Vec<String>) {
        match f {
            TableFactor::Table { name, alias, .. } => out.push(match alias {
                Some(a) => crate::ddl::ident(&a.name),
                None => name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(crate::ddl::ident)
                    .unwrap_or_default(),
            }),
            TableFactor::Derived { alias: Some(a), .. }
            | TableFactor::Function { alias: Some(a), .. }
            | TableFactor::TableFunction { alias: Some(a), .. }
            | TableFactor::UNNEST { alias: Some(a), .. } => out.push(crate::ddl::ident(&a.name)),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                name_of(&table_with_joins.relation, out);
                for j in &table_with_joins.joins {
                    name_of(&j.relation, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for twj in &select.from {
        name_of(&twj.relation, &mut out);
        for j in &twj.joins {
            name_of(&j.relation, &mut out);
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

/// Whether `e` may be a whole-row reference to one of `names`.
fn refers(e: &Expr, names: &HashSet<String>) -> bool {
    match e {
        Expr::Identifier(id) => names.contains(&crate::ddl::ident(id)),
        Expr::QualifiedWildcard(n, _) => single_name(n).is_some_and(|n| names.contains(&n)),
        _ => false,
    }
}

fn single_name(n: &ObjectName) -> Option<String> {
    match n.0.as_slice() {
        [p] => p.as_ident().map(crate::ddl::ident),
        _ => None,
    }
}

/// Whether the statement names a FROM item as a value anywhere (the cheap test before
/// planning anything).
fn mentions_whole_rows(stmt: &mut Statement) -> bool {
    struct Finder {
        names: HashSet<String>,
        exprs: Vec<Expr>,
    }
    impl VisitorMut for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            if let SetExpr::Select(s) = q.body.as_ref() {
                self.names.extend(item_names(s));
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if matches!(e, Expr::Identifier(_) | Expr::QualifiedWildcard(..)) {
                self.exprs.push(e.clone());
            }
            if let Expr::Function(f) = e {
                if let FunctionArguments::List(l) = &f.args {
                    for a in &l.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(n)) = a {
                            self.exprs
                                .push(Expr::QualifiedWildcard(
                                n.clone(),
                                datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                            ));
                        }
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Finder {
        names: HashSet::new(),
        exprs: Vec::new(),
    };
    let _ = stmt.visit(&mut f);
    f.exprs.iter().any(|e| refers(e, &f.names))
}

/// Whether `s.*` stands where a value is expected (`ROW(s.*)`, `(s.*)::text`), which
/// DataFusion plans but cannot run: such a statement is rewritten before it is planned.
pub fn has_expression_wildcard(stmt: &Statement) -> bool {
    use datafusion::sql::sqlparser::ast::{Visit, Visitor};
    struct Finder;
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::QualifiedWildcard(..) => ControlFlow::Break(()),
                Expr::Function(f) if !f.name.to_string().eq_ignore_ascii_case("count") => {
                    match &f.args {
                        FunctionArguments::List(l)
                            if l.args.iter().any(|a| {
                                matches!(
                                    a,
                                    FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(_))
                                )
                            }) =>
                        {
                            ControlFlow::Break(())
                        }
                        _ => ControlFlow::Continue(()),
                    }
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    stmt.visit(&mut Finder).is_break()
}

/// The statement with its whole-row references written as rows, or `None` when it has
/// none that can be resolved.
pub async fn expand(state: &SessionState, stmt: &Statement) -> Option<Statement> {
    let mut stmt = stmt.clone();
    if !mentions_whole_rows(&mut stmt) {
        return None;
    }
    // The FROM clause of every SELECT, in visiting order, planned alone (with the WITH
    // items of the queries around it, which it may read).
    struct Froms {
        found: Vec<(Vec<String>, String)>,
        withs: Vec<Option<String>>,
    }
    impl VisitorMut for Froms {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            self.withs.push(q.with.as_ref().map(|w| w.to_string()));
            if let SetExpr::Select(s) = q.body.as_ref() {
                let from: Vec<String> = s.from.iter().map(|f| f.to_string()).collect();
                // The nearest WITH clause: an inner one may read the items of an outer one
                // only through names this probe would not see, so one clause is kept.
                let with = self.withs.iter().rev().flatten().next();
                let from = match with {
                    Some(w) => format!("{} SELECT * FROM {}", w, from.join(", ")),
                    None => format!("SELECT * FROM {}", from.join(", ")),
                };
                self.found.push((item_names(s), from));
            }
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &mut Query) -> ControlFlow<()> {
            self.withs.pop();
            ControlFlow::Continue(())
        }
    }
    let mut froms = Froms {
        found: Vec::new(),
        withs: Vec::new(),
    };
    let _ = stmt.visit(&mut froms);
    let mut rows_per_select: Vec<Scope> = Vec::with_capacity(froms.found.len());
    for (names, sql) in &froms.found {
        if names.is_empty() {
            rows_per_select.push(Some((Rows::new(), HashSet::new())));
            continue;
        }
        let Some(schema) = probe(state, sql).await else {
            rows_per_select.push(None);
            continue;
        };
        let mut rows = Rows::new();
        let mut columns: HashSet<String> = HashSet::new();
        for (q, f) in schema.iter() {
            columns.insert(f.name().clone());
            if let Some(q) = q {
                rows.entry(q.table().to_owned())
                    .or_default()
                    .push(f.name().clone());
            }
        }
        rows_per_select.push(Some((rows, columns)));
    }
    if rows_per_select
        .iter()
        .all(|s| s.as_ref().is_none_or(|(r, _)| r.is_empty()))
    {
        return None;
    }
    let mut rewriter = Rewriter {
        per_select: rows_per_select,
        next: 0,
        scopes: Vec::new(),
        changed: false,
    };
    let _ = stmt.visit(&mut rewriter);
    rewriter.changed.then_some(stmt)
}

/// The schema of the query `sql` (`SELECT * FROM <from>`), when it plans alone.
async fn probe(state: &SessionState, sql: &str) -> Option<datafusion::common::DFSchemaRef> {
    let mut statements = crate::session::parse_sql(sql).ok()?;
    let stmt = statements.pop()?;
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(stmt)))
        .await
        .ok()?;
    Some(std::sync::Arc::clone(plan.schema()))
}

struct Rewriter {
    per_select: Vec<Scope>,
    next: usize,
    /// The scopes of the enclosing SELECTs, innermost last.
    scopes: Vec<Scope>,
    changed: bool,
}

impl Rewriter {
    /// The columns of the FROM item `name` refers to, searched from the innermost SELECT
    /// out; a scope whose columns are unknown ends the search, and so does a column of
    /// that name when the name is written bare (`t`, not `t.*`): then it is the column.
    fn row_of(&self, name: &str, bare: bool) -> Option<&Vec<String>> {
        for scope in self.scopes.iter().rev() {
            let (rows, columns) = scope.as_ref()?;
            if bare && columns.contains(name) {
                return None;
            }
            if let Some(row) = rows.get(name) {
                return Some(row);
            }
        }
        None
    }

    fn row_expr(name: &str, columns: &[String]) -> Option<Expr> {
        let q = crate::eval::quote_ident;
        let fields: Vec<String> = columns
            .iter()
            .map(|c| format!("'{}', {}.{}", c.replace('\'', "''"), q(name), q(c)))
            .collect();
        crate::eval::parse_expr(&format!("named_struct({})", fields.join(", "))).ok()
    }
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(s) = q.body.as_mut() {
            let scope = self.per_select.get(self.next).cloned().flatten();
            self.next += 1;
            self.scopes.push(scope);
            // A bare reference in the select list keeps the item's name as its column name.
            for item in &mut s.projection {
                if let SelectItem::UnnamedExpr(Expr::Identifier(id)) = item {
                    let name = crate::ddl::ident(id);
                    if let Some(new) = self
                        .row_of(&name, true)
                        .and_then(|c| Self::row_expr(&name, c))
                    {
                        *item = SelectItem::ExprWithAlias {
                            expr: new,
                            alias: Ident::with_quote('"', name),
                        };
                        self.changed = true;
                    }
                }
            }
        } else {
            self.scopes.push(Some((Rows::new(), HashSet::new())));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &mut Query) -> ControlFlow<()> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let name = match e {
            Expr::Identifier(id) => Some((crate::ddl::ident(id), true)),
            Expr::QualifiedWildcard(n, _) => single_name(n).map(|n| (n, false)),
            _ => None,
        };
        if let Some((name, bare)) = name {
            if let Some(new) = self
                .row_of(&name, bare)
                .and_then(|c| Self::row_expr(&name, c))
            {
                *e = new;
                self.changed = true;
            }
            return ControlFlow::Continue(());
        }
        // `ROW(s.*)` and `f(s.*)`: the item's columns, in order.
        if let Expr::Function(f) = e {
            let fname = f.name.to_string().to_lowercase();
            // count(s.*) counts the rows where s is not NULL (outer joins): not a struct.
            if fname == "count" {
                return ControlFlow::Continue(());
            }
            let is_row = fname == "row";
            if let FunctionArguments::List(l) = &mut f.args {
                let mut args = Vec::with_capacity(l.args.len());
                for a in std::mem::take(&mut l.args) {
                    let n = match &a {
                        FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(n)) => {
                            single_name(n)
                        }
                        _ => None,
                    };
                    match n.and_then(|n| self.row_of(&n, false).map(|c| (n, c.clone()))) {
                        Some((n, columns)) if is_row => {
                            for c in columns {
                                args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(
                                    Expr::CompoundIdentifier(vec![
                                        Ident::with_quote('"', n.clone()),
                                        Ident::with_quote('"', c),
                                    ]),
                                )));
                            }
                            self.changed = true;
                        }
                        Some((n, columns)) => match Self::row_expr(&n, &columns) {
                            Some(row) => {
                                args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(row)));
                                self.changed = true;
                            }
                            None => args.push(a),
                        },
                        None => args.push(a),
                    }
                }
                l.args = args;
            }
        }
        ControlFlow::Continue(())
    }
}

/// A RETURNING item's whole-row references to the written table (`RETURNING t`,
/// `RETURNING (t)`, `RETURNING t.*` as a value), named `name` and with `columns`, written
/// as rows. A bare name that is also a column's stays the column.
pub fn returning_rows(e: &mut Expr, name: &str, columns: &[String]) {
    crate::rewrite::map_outside_subqueries(e, |e| {
        let refers = match e {
            Expr::Identifier(id) => {
                let n = crate::ddl::ident(id);
                n == name && !columns.contains(&n)
            }
            Expr::QualifiedWildcard(n, _) => single_name(n).as_deref() == Some(name),
            _ => false,
        };
        if refers {
            if let Some(row) = Rewriter::row_expr(name, columns) {
                *e = row;
            }
        }
    });
}
