//! Chains of `USING` and `NATURAL` joins with a `RIGHT` or `FULL` join among them, read as
//! PostgreSQL reads them. A join column of `A FULL JOIN B USING (c)` is one merged column,
//! `COALESCE(a.c, b.c)`, and a join further along the chain matches on that merged value:
//! `t1 FULL JOIN t2 USING (name) FULL JOIN t3 USING (name)` joins t3 on
//! `COALESCE(t1.name, t2.name)`. DataFusion keeps the left input's column instead (NULL in
//! rows only the right input has), so such rows never match and print without their key.
//!
//! The FROM item is rewritten before planning: each `USING` / `NATURAL` join becomes an
//! `ON` join on the merged columns so far, `*` becomes the list PostgreSQL shows (the merged
//! columns of each join first, then the left input's other columns, then the right's), and
//! an unqualified reference to a merged column becomes its merged value. The columns of each
//! relation come from planning `SELECT * FROM <relation>` alone. A FROM clause this cannot
//! resolve (several FROM items, nested or LATERAL relations, relations without a name,
//! subqueries in the SELECT, a join column missing or ambiguous) is left to DataFusion.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::execution::session_state::SessionState;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Ident, JoinConstraint, JoinOperator, Query, Select, SelectItem, SetExpr,
    Statement, TableFactor, TableWithJoins, Visit, VisitMut, Visitor, VisitorMut,
    WildcardAdditionalOptions,
};

/// How a join merges its join columns.
#[derive(Clone, Copy, PartialEq)]
enum Merge {
    /// INNER and LEFT joins: the left input's value.
    Left,
    /// RIGHT joins: the right input's value.
    Right,
    /// FULL joins: the first non-NULL of the two.
    Full,
}

/// The join columns of `op` (a USING list, or NATURAL) and how they merge; `None` for a
/// join this module leaves alone (ON, CROSS, semi and anti joins).
fn using_join(
    op: &JoinOperator,
) -> Option<(
    Option<&[datafusion::sql::sqlparser::ast::ObjectName]>,
    Merge,
)> {
    let (constraint, merge) = match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c) => (c, Merge::Left),
        JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (c, Merge::Right),
        JoinOperator::FullOuter(c) => (c, Merge::Full),
        _ => return None,
    };
    match constraint {
        JoinConstraint::Using(cols) => Some((Some(cols.as_slice()), merge)),
        JoinConstraint::Natural => Some((None, merge)),
        _ => None,
    }
}

/// Whether DataFusion would read this FROM item otherwise than PostgreSQL: a RIGHT or FULL
/// USING/NATURAL join that another join follows or that is NATURAL (one USING join alone is
/// `rewrite::merge_using_columns`'s).
fn needs_rewrite(item: &TableWithJoins) -> bool {
    item.joins
        .iter()
        .any(|j| match using_join(&j.join_operator) {
            Some((cols, Merge::Right | Merge::Full)) => cols.is_none() || item.joins.len() > 1,
            _ => false,
        })
}

/// The name a relation's columns are qualified by, for the relations this module reads.
fn qualifier(f: &TableFactor) -> Option<Ident> {
    match f {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => match alias {
            Some(a) => Some(a.name.clone()),
            None => name.0.last()?.as_ident().cloned(),
        },
        TableFactor::Derived {
            lateral: false,
            alias: Some(a),
            ..
        } => Some(a.name.clone()),
        _ => None,
    }
}

/// The FROM items to rewrite, each relation's text with the WITH clause in reach.
fn relations_to_probe(stmt: &Statement) -> Vec<String> {
    struct Finder {
        withs: Vec<Option<String>>,
        found: Vec<String>,
    }
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            self.withs.push(q.with.as_ref().map(|w| w.to_string()));
            if let SetExpr::Select(s) = q.body.as_ref() {
                if let [item] = s.from.as_slice() {
                    if needs_rewrite(item) {
                        let with = self.withs.iter().rev().flatten().next().cloned();
                        let relations = std::iter::once(&item.relation)
                            .chain(item.joins.iter().map(|j| &j.relation));
                        for r in relations {
                            self.found.push(probe_sql(with.as_deref(), r));
                        }
                    }
                }
            }
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
            self.withs.pop();
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder {
        withs: Vec::new(),
        found: Vec::new(),
    };
    let _ = stmt.visit(&mut finder);
    finder.found
}

fn probe_sql(with: Option<&str>, relation: &TableFactor) -> String {
    match with {
        Some(w) => format!("{w} SELECT * FROM {relation}"),
        None => format!("SELECT * FROM {relation}"),
    }
}

/// The statement with its FROM items of USING/NATURAL join chains rewritten, or `None`
/// when it has none this module rewrites.
pub async fn rewrite(state: &SessionState, stmt: &Statement) -> Option<Statement> {
    let wanted = relations_to_probe(stmt);
    if wanted.is_empty() {
        return None;
    }
    let mut columns: HashMap<String, Vec<String>> = HashMap::new();
    for sql in wanted {
        if columns.contains_key(&sql) {
            continue;
        }
        let Some(names) = probe(state, &sql).await else {
            continue;
        };
        columns.insert(sql, names);
    }
    let mut rewriter = Rewriter {
        columns,
        withs: Vec::new(),
        changed: false,
    };
    let mut stmt = stmt.clone();
    let _ = VisitMut::visit(&mut stmt, &mut rewriter);
    rewriter.changed.then_some(stmt)
}

/// The column names of `sql` (`SELECT * FROM <relation>`), when it plans alone.
async fn probe(state: &SessionState, sql: &str) -> Option<Vec<String>> {
    let stmt = crate::session::parse_sql(sql).ok()?.pop()?;
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(stmt)))
        .await
        .ok()?;
    // The hidden tableoid column a statement may read is no column of the relation.
    Some(
        plan.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| n != crate::append::TABLEOID)
            .collect(),
    )
}

struct Rewriter {
    columns: HashMap<String, Vec<String>>,
    withs: Vec<Option<String>>,
    changed: bool,
}

impl VisitorMut for Rewriter {
    type Break = ();
    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        self.withs.push(q.with.as_ref().map(|w| w.to_string()));
        let with = self.withs.iter().rev().flatten().next().cloned();
        let SetExpr::Select(select) = q.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        // Output names ORDER BY may mean instead of a join column.
        let aliases: Vec<String> = select
            .projection
            .iter()
            .filter_map(|p| match p {
                SelectItem::ExprWithAlias { alias, .. } => Some(crate::ddl::ident(alias)),
                // `t1.c` is an output column named c, which ORDER BY c means.
                SelectItem::UnnamedExpr(e @ Expr::CompoundIdentifier(_)) => {
                    Some(crate::dml::column_name_of(e))
                }
                _ => None,
            })
            .collect();
        let Some(mut merged) = rewrite_select(select, &self.columns, with.as_deref()) else {
            return ControlFlow::Continue(());
        };
        self.changed = true;
        merged.retain(|name, _| !aliases.contains(name));
        // ORDER BY is outside the SELECT: its unqualified join columns are merged too.
        if let Some(order_by) = &mut q.order_by {
            replace_merged(order_by, &merged);
        }
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _q: &mut Query) -> ControlFlow<()> {
        self.withs.pop();
        ControlFlow::Continue(())
    }
}

/// One column the FROM item shows: its name and the expression that reads it.
struct Shown {
    name: String,
    expr: Expr,
}

fn column(q: &Ident, name: &str) -> Expr {
    Expr::CompoundIdentifier(vec![q.clone(), Ident::with_quote('"', name)])
}

/// Rewrites `select` when its FROM item is such a chain; returns the merged columns by
/// name (for the ORDER BY around it).
fn rewrite_select(
    select: &mut Select,
    columns: &HashMap<String, Vec<String>>,
    with: Option<&str>,
) -> Option<HashMap<String, Expr>> {
    let [item] = select.from.as_slice() else {
        return None;
    };
    if !needs_rewrite(item) || has_subquery(select) {
        return None;
    }
    // `* EXCLUDE …` and the like: left to DataFusion (checked before anything changes).
    if select.projection.iter().any(|p| {
        matches!(p, SelectItem::Wildcard(opts) if *opts != WildcardAdditionalOptions::default())
    }) {
        return None;
    }
    let relation_columns = |f: &TableFactor| -> Option<(Ident, &Vec<String>)> {
        let q = qualifier(f)?;
        let names = columns.get(&probe_sql(with, f))?;
        // A relation with two columns of one name cannot be read by name.
        let mut seen = std::collections::HashSet::new();
        names.iter().all(|n| seen.insert(n)).then_some((q, names))
    };
    let (q0, names0) = relation_columns(&item.relation)?;
    let mut shown: Vec<Shown> = names0
        .iter()
        .map(|n| Shown {
            name: n.clone(),
            expr: column(&q0, n),
        })
        .collect();
    let mut merged: HashMap<String, Expr> = HashMap::new();
    let mut new_ops = Vec::with_capacity(item.joins.len());
    for join in &item.joins {
        let (qr, right) = relation_columns(&join.relation)?;
        let Some((using, how)) = using_join(&join.join_operator) else {
            shown.extend(right.iter().map(|n| Shown {
                name: n.clone(),
                expr: column(&qr, n),
            }));
            // Its ON condition sees the merged columns so far.
            new_ops.push(Err(merged.clone()));
            continue;
        };
        let keys: Vec<String> = match using {
            Some(cols) => cols
                .iter()
                .map(|c| match c.0.as_slice() {
                    [p] => p.as_ident().map(crate::ddl::ident),
                    _ => None,
                })
                .collect::<Option<_>>()?,
            None => shown
                .iter()
                .filter(|s| right.contains(&s.name))
                .map(|s| s.name.clone())
                .collect(),
        };
        let mut on: Option<Expr> = None;
        let mut first: Vec<Shown> = Vec::with_capacity(keys.len());
        for k in &keys {
            // Exactly one column of that name on each side, as PostgreSQL requires.
            let mut left = shown.iter().filter(|s| &s.name == k);
            let (Some(l), None) = (left.next(), left.next()) else {
                return None;
            };
            if right.iter().filter(|n| *n == k).count() != 1 {
                return None;
            }
            let r = column(&qr, k);
            let eq = Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(l.expr.clone()))),
                op: BinaryOperator::Eq,
                right: Box::new(r.clone()),
            };
            on = Some(match on {
                None => eq,
                Some(prev) => Expr::BinaryOp {
                    left: Box::new(prev),
                    op: BinaryOperator::And,
                    right: Box::new(eq),
                },
            });
            let expr = match how {
                Merge::Left => l.expr.clone(),
                Merge::Right => r,
                Merge::Full => {
                    crate::eval::parse_expr(&format!("COALESCE({}, {r})", l.expr)).ok()?
                }
            };
            first.push(Shown {
                name: k.clone(),
                expr,
            });
        }
        // NATURAL without common columns is a cross join (ON TRUE).
        let on = on.unwrap_or(Expr::value(
            datafusion::sql::sqlparser::ast::Value::Boolean(true),
        ));
        let rest_left = shown.into_iter().filter(|s| !keys.contains(&s.name));
        let rest_right = right.iter().filter(|n| !keys.contains(n)).map(|n| Shown {
            name: n.clone(),
            expr: column(&qr, n),
        });
        for f in &first {
            merged.insert(f.name.clone(), f.expr.clone());
        }
        shown = first
            .into_iter()
            .chain(rest_left)
            .chain(rest_right)
            .collect();
        new_ops.push(Ok((how, on)));
    }
    // A merged name that a later join shows again (`USING (c)` and then `ON` a relation
    // with its own `c`) is ambiguous when written bare: PostgreSQL says so, DataFusion too.
    merged.retain(|name, _| shown.iter().filter(|s| &s.name == name).count() == 1);
    // Every check passed: change the statement.
    let item = &mut select.from[0];
    for (join, op) in item.joins.iter_mut().zip(new_ops) {
        let (how, on) = match op {
            Ok(new) => new,
            Err(so_far) => {
                // An ON join further along: its bare join columns are the merged ones.
                let so_far: HashMap<String, Expr> = so_far
                    .into_iter()
                    .filter(|(n, _)| merged.contains_key(n))
                    .collect();
                if let JoinOperator::Join(JoinConstraint::On(e))
                | JoinOperator::Inner(JoinConstraint::On(e))
                | JoinOperator::Left(JoinConstraint::On(e))
                | JoinOperator::LeftOuter(JoinConstraint::On(e))
                | JoinOperator::Right(JoinConstraint::On(e))
                | JoinOperator::RightOuter(JoinConstraint::On(e))
                | JoinOperator::FullOuter(JoinConstraint::On(e)) = &mut join.join_operator
                {
                    replace_merged(e, &so_far);
                }
                continue;
            }
        };
        let c = JoinConstraint::On(on);
        join.join_operator = match how {
            Merge::Left
                if matches!(
                    join.join_operator,
                    JoinOperator::Left(_) | JoinOperator::LeftOuter(_)
                ) =>
            {
                JoinOperator::LeftOuter(c)
            }
            Merge::Left => JoinOperator::Inner(c),
            Merge::Right => JoinOperator::RightOuter(c),
            Merge::Full => JoinOperator::FullOuter(c),
        };
    }
    let mut projection = Vec::with_capacity(select.projection.len() + shown.len());
    for p in std::mem::take(&mut select.projection) {
        match p {
            SelectItem::Wildcard(opts) if opts == WildcardAdditionalOptions::default() => {
                projection.extend(shown.iter().map(|s| SelectItem::ExprWithAlias {
                    expr: s.expr.clone(),
                    alias: Ident::with_quote('"', s.name.clone()),
                }));
            }
            other => projection.push(other),
        }
    }
    select.projection = projection;
    for p in &mut select.projection {
        if let SelectItem::UnnamedExpr(e @ Expr::Identifier(_)) = p {
            // A bare merged column keeps its name as the output column's.
            let name = match e {
                Expr::Identifier(i) => i.clone(),
                _ => continue,
            };
            if let Some(new) = merged.get(&crate::ddl::ident(&name)) {
                *p = SelectItem::ExprWithAlias {
                    expr: new.clone(),
                    alias: name,
                };
                continue;
            }
        }
        replace_merged(p, &merged);
    }
    for e in [&mut select.selection, &mut select.having]
        .into_iter()
        .flatten()
    {
        replace_merged(e, &merged);
    }
    replace_merged(&mut select.group_by, &merged);
    if let Some(datafusion::sql::sqlparser::ast::Distinct::On(on)) = &mut select.distinct {
        for e in on {
            replace_merged(e, &merged);
        }
    }
    for w in &mut select.named_window {
        replace_merged(w, &merged);
    }
    // Repeated output names (`*` over `USING (c)` and then `ON` a relation with its own c)
    // made unique inside Basalt, as for any SELECT list.
    crate::rewrite::name_columns(select);
    Some(merged)
}

/// Whether the SELECT's expressions hold a subquery (whose references to join columns
/// this module does not follow).
fn has_subquery(select: &Select) -> bool {
    struct Finder;
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
    }
    let mut finder = Finder;
    select.projection.visit(&mut finder).is_break()
        || select.selection.visit(&mut finder).is_break()
        || select.having.visit(&mut finder).is_break()
        || select.group_by.visit(&mut finder).is_break()
}

/// Replaces unqualified references to merged columns in `node` (outside its subqueries)
/// by their merged values.
fn replace_merged<T: VisitMut + ?Sized>(node: &mut T, merged: &HashMap<String, Expr>) {
    crate::rewrite::map_outside_subqueries(node, |e| {
        if let Expr::Identifier(i) = e {
            if let Some(new) = merged.get(&crate::ddl::ident(i)) {
                *e = Expr::Nested(Box::new(new.clone()));
            }
        }
    });
}
