//! Column aliases that name fewer columns than their FROM item or WITH query has:
//! PostgreSQL renames the first columns and keeps the names of the others (`FROM t AS x(a)`),
//! where DataFusion wants one name per column. When planning fails for that, each aliased
//! item is planned alone for the names of its columns, the missing ones are added to its
//! alias, and the statement is planned again. More names than columns is PostgreSQL's error,
//! which says what kind of item it is.

use std::ops::ControlFlow;

use datafusion::execution::SessionState;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Ident, Query, Statement, TableAlias, TableAliasColumnDef, TableFactor, Visit, VisitMut,
    Visitor, VisitorMut,
};

use crate::error::{SqlError, SqlResult};

/// Whether planning failed because an alias names another number of columns.
pub fn is_alias_count_error(message: &str) -> bool {
    message.contains("names given as column alias")
}

/// One aliased item: how to plan it alone, what PostgreSQL calls it, and where its name is.
struct Item {
    probe: String,
    kind: &'static str,
    name: Ident,
    given: usize,
}

fn alias_of(f: &TableFactor) -> Option<&TableAlias> {
    match f {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::NestedJoin { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. } => alias.as_ref(),
        _ => None,
    }
}

fn alias_of_mut(f: &mut TableFactor) -> Option<&mut TableAlias> {
    match f {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::NestedJoin { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. } => alias.as_mut(),
        _ => None,
    }
}

/// The aliased items of `stmt`, in visiting order (WITH queries before the FROM items of
/// their query), with the nearest WITH clause around each for its probe.
struct Collect {
    items: Vec<Item>,
    withs: Vec<Option<String>>,
}

impl Collect {
    fn with(&self) -> String {
        self.withs
            .iter()
            .rev()
            .flatten()
            .next()
            .map(|w| format!("{w} "))
            .unwrap_or_default()
    }
}

impl Visitor for Collect {
    type Break = ();
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        let outer = self.with();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                if !cte.alias.columns.is_empty() {
                    self.items.push(Item {
                        probe: format!("{outer}{}", cte.query),
                        kind: "WITH query",
                        name: cte.alias.name.clone(),
                        given: cte.alias.columns.len(),
                    });
                }
            }
        }
        self.withs.push(q.with.as_ref().map(|w| w.to_string()));
        ControlFlow::Continue(())
    }
    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.withs.pop();
        ControlFlow::Continue(())
    }
    fn pre_visit_table_factor(&mut self, f: &TableFactor) -> ControlFlow<()> {
        let Some(alias) = alias_of(f).filter(|a| !a.columns.is_empty()) else {
            return ControlFlow::Continue(());
        };
        let mut bare = f.clone();
        if let Some(a) = alias_of_mut(&mut bare) {
            a.columns.clear();
        }
        let kind = match f {
            TableFactor::NestedJoin { .. } => "join expression",
            _ => "table",
        };
        self.items.push(Item {
            probe: format!("{}SELECT * FROM {bare}", self.with()),
            kind,
            name: alias.name.clone(),
            given: alias.columns.len(),
        });
        ControlFlow::Continue(())
    }
}

/// Adds the missing names, item by item in the same order as [`Collect`].
struct Fill {
    names: Vec<Option<Vec<String>>>,
    next: usize,
}

impl Fill {
    fn extend(&mut self, columns: &mut Vec<TableAliasColumnDef>) {
        let Some(Some(names)) = self.names.get(self.next) else {
            self.next += 1;
            return;
        };
        for n in names.iter().skip(columns.len()) {
            columns.push(TableAliasColumnDef {
                name: Ident::with_quote('"', n.clone()),
                data_type: None,
            });
        }
        self.next += 1;
    }
}

impl VisitorMut for Fill {
    type Break = ();
    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if let Some(with) = &mut q.with {
            for cte in &mut with.cte_tables {
                if !cte.alias.columns.is_empty() {
                    self.extend(&mut cte.alias.columns);
                }
            }
        }
        ControlFlow::Continue(())
    }
    fn pre_visit_table_factor(&mut self, f: &mut TableFactor) -> ControlFlow<()> {
        if let Some(alias) = alias_of_mut(f).filter(|a| !a.columns.is_empty()) {
            self.extend(&mut alias.columns);
        }
        ControlFlow::Continue(())
    }
}

/// `stmt` with every short column alias completed, or PostgreSQL's error for an alias that
/// names more columns than its item has; `None` when no item could be planned alone.
pub async fn fill(state: &SessionState, stmt: &Statement) -> Option<SqlResult<Statement>> {
    let mut c = Collect {
        items: Vec::new(),
        withs: Vec::new(),
    };
    let _ = stmt.visit(&mut c);
    let mut names = Vec::with_capacity(c.items.len());
    for item in &c.items {
        let planned = match crate::session::parse_sql(&item.probe) {
            Ok(mut v) if v.len() == 1 => match v.pop() {
                Some(probe) => state
                    .statement_to_plan(DfStatement::Statement(Box::new(probe)))
                    .await
                    .ok(),
                None => None,
            },
            _ => None,
        };
        let Some(plan) = planned else {
            names.push(None);
            continue;
        };
        let fields: Vec<String> = plan
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        // DataFusion tells apart equal names of a join's columns as `i:1`; PostgreSQL keeps
        // the names as they are.
        let columns: Vec<String> = fields
            .iter()
            .map(|n| match n.rsplit_once(':') {
                Some((base, k))
                    if k.bytes().all(|b| b.is_ascii_digit())
                        && fields.iter().any(|f| f == base) =>
                {
                    base.to_owned()
                }
                _ => n.clone(),
            })
            .collect();
        if item.given > columns.len() {
            let error = SqlError::Detailed {
                sqlstate: "42P10",
                message: format!(
                    "{} \"{}\" has {} columns available but {} columns specified",
                    item.kind,
                    crate::ddl::ident(&item.name),
                    columns.len(),
                    item.given
                ),
                detail: String::new(),
                hint: None,
            };
            // PostgreSQL points at a WITH query's name only.
            return Some(Err(if item.kind == "WITH query" {
                error.at(item.name.span)
            } else {
                error
            }));
        }
        names.push(Some(columns));
    }
    if names.iter().all(Option::is_none) {
        return None;
    }
    let mut out = stmt.clone();
    let mut f = Fill { names, next: 0 };
    let _ = VisitMut::visit(&mut out, &mut f);
    Some(Ok(out))
}

/// Whether planning failed on a name that is both an output column and a column of the
/// FROM clause.
pub fn is_ambiguous_output_name(message: &str) -> bool {
    message.contains("Ambiguous reference to unqualified field")
        || message.contains("and unqualified field name")
}

/// `SELECT a::text AS a FROM t ORDER BY t.a`: in PostgreSQL the qualified ORDER BY item is
/// the table's column, whatever the output columns are called. DataFusion adds that column
/// beside an output column of the same name and then finds the name ambiguous. The output
/// columns so named are renamed for planning; the returned pairs (planning name, name) are
/// for renaming them back. `None` when the statement has no such ORDER BY.
pub fn rename_shadowed_outputs(stmt: &Statement) -> Option<(Statement, Vec<(String, String)>)> {
    use datafusion::sql::sqlparser::ast::{Expr, OrderByKind, SelectItem, SetExpr};
    let mut stmt = stmt.clone();
    let Statement::Query(q) = &mut stmt else {
        return None;
    };
    let order_by = q.order_by.as_mut()?;
    let OrderByKind::Expressions(items) = &mut order_by.kind else {
        return None;
    };
    let SetExpr::Select(select) = q.body.as_mut() else {
        return None;
    };
    let normal = |i: &Ident| match i.quote_style {
        Some(_) => i.value.clone(),
        None => i.value.to_lowercase(),
    };
    // Column names a qualified ORDER BY item refers to.
    let qualified: Vec<String> = items
        .iter()
        .filter_map(|o| match &o.expr {
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => parts.last().map(normal),
            _ => None,
        })
        .collect();
    let mut renamed = Vec::new();
    for (i, item) in select.projection.iter_mut().enumerate() {
        let SelectItem::ExprWithAlias { alias, .. } = item else {
            continue;
        };
        let name = normal(alias);
        if qualified.contains(&name) {
            let planning = format!("__basalt_output_{i}");
            renamed.push((planning.clone(), alias.value.clone(), name));
            *alias = Ident::with_quote('"', planning);
        }
    }
    if renamed.is_empty() {
        return None;
    }
    // An unqualified ORDER BY item naming a renamed output column follows it.
    for o in items.iter_mut() {
        if let Expr::Identifier(id) = &o.expr {
            if let Some((planning, _, _)) = renamed.iter().find(|(_, _, n)| *n == normal(id)) {
                o.expr = Expr::Identifier(Ident::with_quote('"', planning.clone()));
            }
        }
    }
    Some((
        stmt,
        renamed
            .into_iter()
            .map(|(p, original, _)| (p, original))
            .collect(),
    ))
}

/// `plan` with the output columns renamed by [`rename_shadowed_outputs`] given their names
/// back.
pub fn restore_output_names(
    plan: datafusion::logical_expr::LogicalPlan,
    names: &[(String, String)],
) -> datafusion::common::Result<datafusion::logical_expr::LogicalPlan> {
    use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
    let columns: Vec<Expr> = plan
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(datafusion::common::Column::from((qualifier, field)));
            match names.iter().find(|(planning, _)| planning == field.name()) {
                Some((_, original)) => column.alias(original),
                None => column,
            }
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(columns)?.build()
}
