//! Where a recursive WITH query may read itself, as PostgreSQL checks it before planning:
//! once, in the recursive term, not under an outer join's nullable side, a subquery,
//! INTERSECT ALL or EXCEPT; and no ORDER BY, OFFSET, LIMIT or FOR UPDATE atop the UNION.
//! Each refusal is PostgreSQL's error (42P19, or 0A000 for the clauses), pointing at the
//! offending reference or clause.

use datafusion::sql::sqlparser::ast::{
    Cte, Expr, JoinOperator, LimitClause, ObjectName, OrderByKind, Query, Select, SelectItem,
    SetExpr, SetOperator, SetQuantifier, Spanned, TableFactor, TableWithJoins,
};

use crate::error::{SqlError, SqlResult};

/// Where a reference to the recursive query is met.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Recursive,
    NonRecursive,
    Subquery,
    OuterJoin,
    Intersect,
    Except,
}

impl Context {
    fn refusal(self, name: &str) -> Option<String> {
        let place = match self {
            Context::Recursive => return None,
            Context::NonRecursive => "within its non-recursive term",
            Context::Subquery => "within a subquery",
            Context::OuterJoin => "within an outer join",
            Context::Intersect => "within INTERSECT",
            Context::Except => "within EXCEPT",
        };
        Some(format!(
            "recursive reference to query \"{name}\" must not appear {place}"
        ))
    }

    /// The context an outer join's nullable side is read in.
    fn outer_join(self) -> Context {
        if self == Context::Recursive {
            Context::OuterJoin
        } else {
            self
        }
    }
}

/// Checks one WITH RECURSIVE item whose body is `left UNION [ALL] right` and reads itself.
pub fn check(cte: &Cte, left: &SetExpr, right: &SetExpr) -> SqlResult<()> {
    let name = crate::ddl::ident(&cte.alias.name);
    let mut c = Check {
        name: &name,
        inner: Vec::new(),
        refs: 0,
    };
    let q = &cte.query;
    // A WITH attached to the body must not read the query either.
    if let Some(with) = &q.with {
        for inner in &with.cte_tables {
            c.query(&inner.query, Context::Subquery)?;
        }
        c.inner.push(
            with.cte_tables
                .iter()
                .map(|i| crate::ddl::ident(&i.alias.name))
                .collect(),
        );
    }
    c.set_expr(left, Context::NonRecursive)?;
    c.refs = 0;
    c.set_expr(right, Context::Recursive)?;
    let clause = |what: &str, at: Option<datafusion::sql::sqlparser::tokenizer::Span>| {
        let e = SqlError::FeatureNotSupported(format!(
            "{what} in a recursive query is not implemented"
        ));
        match at {
            Some(span) => e.at(span),
            None => e,
        }
    };
    if let Some(order) = &q.order_by {
        let at = match &order.kind {
            OrderByKind::Expressions(exprs) => exprs.first().map(|o| o.expr.span()),
            OrderByKind::All(_) => None,
        };
        return Err(clause("ORDER BY", at));
    }
    match &q.limit_clause {
        Some(LimitClause::LimitOffset { limit, offset, .. }) => {
            if let Some(o) = offset {
                return Err(clause("OFFSET", Some(o.value.span())));
            }
            if let Some(l) = limit {
                return Err(clause("LIMIT", Some(l.span())));
            }
        }
        Some(LimitClause::OffsetCommaLimit { offset, .. }) => {
            return Err(clause("OFFSET", Some(offset.span())));
        }
        None => {}
    }
    if q.fetch.is_some() {
        return Err(clause("LIMIT", None));
    }
    if !q.locks.is_empty() {
        return Err(clause("FOR UPDATE/SHARE", None));
    }
    Ok(())
}

struct Check<'a> {
    name: &'a str,
    /// Names of the WITH queries around the current point, innermost last: a reference to
    /// one of them is not a reference to the recursive query.
    inner: Vec<Vec<String>>,
    /// References met in the recursive term.
    refs: usize,
}

impl Check<'_> {
    fn captured(&self, name: &str) -> bool {
        self.inner
            .iter()
            .any(|names| names.iter().any(|n| n == name))
    }

    fn relation(&mut self, name: &ObjectName, ctx: Context) -> SqlResult<()> {
        let [part] = name.0.as_slice() else {
            return Ok(());
        };
        let Some(ident) = part.as_ident() else {
            return Ok(());
        };
        let n = crate::ddl::ident(ident);
        if n != self.name || self.captured(&n) {
            return Ok(());
        }
        if let Some(message) = ctx.refusal(self.name) {
            return Err(SqlError::InvalidRecursion(message).at(name.span()));
        }
        self.refs += 1;
        if self.refs > 1 {
            return Err(SqlError::InvalidRecursion(format!(
                "recursive reference to query \"{}\" must not appear more than once",
                self.name
            ))
            .at(name.span()));
        }
        Ok(())
    }

    fn query(&mut self, q: &Query, ctx: Context) -> SqlResult<()> {
        let Some(with) = &q.with else {
            return self.query_body(q, ctx);
        };
        let names: Vec<String> = with
            .cte_tables
            .iter()
            .map(|c| crate::ddl::ident(&c.alias.name))
            .collect();
        if with.recursive {
            // Every name of a recursive WITH is visible to all its items.
            self.inner.push(names);
            for c in &with.cte_tables {
                self.query(&c.query, ctx)?;
            }
        } else {
            // A plain WITH's names are visible to the items after them.
            self.inner.push(Vec::new());
            for (c, n) in with.cte_tables.iter().zip(names) {
                self.query(&c.query, ctx)?;
                if let Some(last) = self.inner.last_mut() {
                    last.push(n);
                }
            }
        }
        let body = self.query_body(q, ctx);
        self.inner.pop();
        body
    }

    fn query_body(&mut self, q: &Query, ctx: Context) -> SqlResult<()> {
        self.set_expr(&q.body, ctx)?;
        if let Some(order) = &q.order_by {
            if let OrderByKind::Expressions(exprs) = &order.kind {
                for o in exprs {
                    self.expr(&o.expr)?;
                }
            }
        }
        Ok(())
    }

    fn set_expr(&mut self, s: &SetExpr, ctx: Context) -> SqlResult<()> {
        match s {
            SetExpr::Select(sel) => self.select(sel, ctx),
            SetExpr::Query(q) => self.query(q, ctx),
            SetExpr::SetOperation {
                op,
                set_quantifier,
                left,
                right,
            } => {
                let all = matches!(set_quantifier, SetQuantifier::All);
                let (l, r) = match (ctx, op) {
                    (Context::Recursive, SetOperator::Intersect) if all => {
                        (Context::Intersect, Context::Intersect)
                    }
                    (Context::Recursive, SetOperator::Except) if all => {
                        (Context::Except, Context::Except)
                    }
                    (Context::Recursive, SetOperator::Except) => (ctx, Context::Except),
                    _ => (ctx, ctx),
                };
                self.set_expr(left, l)?;
                self.set_expr(right, r)
            }
            SetExpr::Values(v) => {
                for row in &v.rows {
                    for e in &row.content {
                        self.expr(e)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn select(&mut self, sel: &Select, ctx: Context) -> SqlResult<()> {
        for item in &sel.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                self.expr(e)?;
            }
        }
        for t in &sel.from {
            self.joined(t, t.joins.len(), ctx)?;
        }
        for e in sel.selection.iter().chain(sel.having.iter()) {
            self.expr(e)?;
        }
        if let datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(exprs, _) = &sel.group_by {
            for e in exprs {
                self.expr(e)?;
            }
        }
        Ok(())
    }

    /// The first `upto` joins of `t` (a left-deep tree): the left side before the right,
    /// each side in the context its join type gives it.
    fn joined(&mut self, t: &TableWithJoins, upto: usize, ctx: Context) -> SqlResult<()> {
        let Some(k) = upto.checked_sub(1) else {
            return self.factor(&t.relation, ctx);
        };
        let join = &t.joins[k];
        let (left, right) = match &join.join_operator {
            JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => (ctx, ctx.outer_join()),
            JoinOperator::Right(_) | JoinOperator::RightOuter(_) => (ctx.outer_join(), ctx),
            JoinOperator::FullOuter(_) => (ctx.outer_join(), ctx.outer_join()),
            _ => (ctx, ctx),
        };
        self.joined(t, k, left)?;
        self.factor(&join.relation, right)?;
        match crate::srf::join_condition(&join.join_operator) {
            Some(on) => self.expr(on),
            None => Ok(()),
        }
    }

    fn factor(&mut self, f: &TableFactor, ctx: Context) -> SqlResult<()> {
        match f {
            TableFactor::Table {
                name, args: None, ..
            } => self.relation(name, ctx),
            TableFactor::Derived { subquery, .. } => self.query(subquery, ctx),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.joined(table_with_joins, table_with_joins.joins.len(), ctx),
            TableFactor::UNNEST { array_exprs, .. } => {
                for e in array_exprs {
                    self.expr(e)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A reference inside an expression is inside a subquery (PostgreSQL's SubLink sets
    /// that context whatever the one around it).
    fn expr(&mut self, e: &Expr) -> SqlResult<()> {
        if self.captured(self.name) {
            return Ok(());
        }
        match crate::cte::reference_at(e, self.name) {
            Some(span) => Err(SqlError::InvalidRecursion(
                Context::Subquery.refusal(self.name).unwrap_or_default(),
            )
            .at(span)),
            None => Ok(()),
        }
    }
}

/// The items of a WITH RECURSIVE in an order each is defined before it is read (PostgreSQL
/// sorts them so; a cycle between items is its 0A000 error), and each item that does not
/// read itself made a plain query (DataFusion would take any UNION there as recursive).
pub fn order_items(q: &mut Query) -> SqlResult<()> {
    let Some(with) = q.with.as_mut().filter(|w| w.recursive) else {
        return Ok(());
    };
    let names: Vec<String> = with
        .cte_tables
        .iter()
        .map(|c| crate::ddl::ident(&c.alias.name))
        .collect();
    let mut depends: Vec<Vec<usize>> = with
        .cte_tables
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (0..names.len())
                .filter(|&j| j != i && crate::cte::reference_at(&c.query, &names[j]).is_some())
                .collect()
        })
        .collect();
    let mut order: Vec<usize> = (0..names.len()).collect();
    for i in 0..order.len() {
        let Some(j) = (i..order.len()).find(|&j| depends[order[j]].is_empty()) else {
            let at = with.cte_tables[order[i]].alias.name.span;
            return Err(SqlError::FeatureNotSupported(
                "mutual recursion between WITH items is not implemented".into(),
            )
            .at(at));
        };
        order.swap(i, j);
        let done = order[i];
        for d in depends.iter_mut() {
            d.retain(|&k| k != done);
        }
    }
    if order.iter().enumerate().any(|(i, &k)| i != k) {
        let mut items: Vec<Option<Cte>> = std::mem::take(&mut with.cte_tables)
            .into_iter()
            .map(Some)
            .collect();
        with.cte_tables = order.iter().filter_map(|&k| items[k].take()).collect();
    }
    for cte in &mut with.cte_tables {
        let name = crate::ddl::ident(&cte.alias.name);
        let plain_body = matches!(cte.query.body.as_ref(), SetExpr::SetOperation { .. });
        let reads_itself = crate::cte::reference_at(&cte.query, &name).is_some();
        if reads_itself || !(plain_body || cte.query.with.is_some()) {
            continue;
        }
        let wrapped = select_all_from(&cte.query, &name)?;
        *cte.query = wrapped;
    }
    Ok(())
}

/// `SELECT * FROM (inner) AS name`.
fn select_all_from(inner: &Query, name: &str) -> SqlResult<Query> {
    let sql = format!(
        "SELECT * FROM (SELECT 1) AS \"{}\"",
        name.replace('"', "\"\"")
    );
    let Some(datafusion::sql::sqlparser::ast::Statement::Query(mut q)) =
        crate::session::parse_sql(&sql)?.pop()
    else {
        return Err(SqlError::Internal(format!("not a query: {sql}")));
    };
    if let SetExpr::Select(sel) = q.body.as_mut() {
        if let Some(TableFactor::Derived { subquery, .. }) =
            sel.from.first_mut().map(|t| &mut t.relation)
        {
            **subquery = inner.clone();
        }
    }
    Ok(*q)
}
