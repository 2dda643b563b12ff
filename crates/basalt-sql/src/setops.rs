//! INTERSECT ALL and EXCEPT ALL with multiset semantics, and INTERSECT / EXCEPT of queries
//! with no columns.
//!
//! DataFusion plans `a INTERSECT ALL b` as a semi join and `a EXCEPT ALL b` as an anti join
//! of `a` with `b` on all columns: a row of `a` is kept once per copy in `a` if it appears in
//! `b` at all, or dropped if it appears at all. SQL keeps `min(m, n)` and `max(m - n, 0)`
//! copies of a row that `a` holds `m` times and `b` `n` times. Numbering the copies of each
//! row on both sides and joining on the number too gives exactly that. With no columns the
//! join had no key: the number alone is the key (over the one row DISTINCT leaves, for the
//! forms without ALL).

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, NullEquality, Result as DfResult};
use datafusion::logical_expr::{
    Distinct, Expr, ExprFunctionExt, Join, JoinConstraint, JoinType, LogicalPlan,
    LogicalPlanBuilder,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, Query, SelectItem, SetExpr, SetOperator, Statement, TableFactor, Value,
};

/// The column that numbers the copies of a row.
const COPY: &str = "__basalt_copy";

#[derive(Debug, Default)]
pub struct MultisetSetOps;

impl AnalyzerRule for MultisetSetOps {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        plan.transform_down_with_subqueries(rewrite).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "basalt_multiset_set_operations"
    }
}

fn rewrite(node: LogicalPlan) -> DfResult<Transformed<LogicalPlan>> {
    match &node {
        // INTERSECT / EXCEPT (no ALL) of column-less queries: the join under DISTINCT.
        LogicalPlan::Distinct(Distinct::All(input))
            if set_join(input).is_some() && input.schema().fields().is_empty() =>
        {
            let LogicalPlan::Join(j) = input.as_ref() else {
                return Ok(Transformed::no(node));
            };
            let left = LogicalPlanBuilder::from(j.left.as_ref().clone())
                .distinct()?
                .build()?;
            let right = LogicalPlanBuilder::from(j.right.as_ref().clone())
                .distinct()?
                .build()?;
            let joined = numbered_join(left, right, j.join_type, &[])?;
            Ok(Transformed::yes(LogicalPlan::Distinct(Distinct::All(
                Arc::new(joined),
            ))))
        }
        LogicalPlan::Join(_) => {
            let Some(keys) = set_join(&node) else {
                return Ok(Transformed::no(node));
            };
            let LogicalPlan::Join(j) = node else {
                return Ok(Transformed::no(node));
            };
            let joined = numbered_join(
                j.left.as_ref().clone(),
                j.right.as_ref().clone(),
                j.join_type,
                &keys,
            )?;
            Ok(Transformed::yes(joined))
        }
        _ => Ok(Transformed::no(node)),
    }
}

/// The keys of the semi or anti join DataFusion builds for INTERSECT ALL / EXCEPT ALL:
/// every column of each side (cast to a common type where the sides differ), NULLs equal,
/// no other condition.
fn set_join(plan: &LogicalPlan) -> Option<Vec<(Expr, Expr)>> {
    let LogicalPlan::Join(j) = plan else {
        return None;
    };
    if !matches!(j.join_type, JoinType::LeftSemi | JoinType::LeftAnti)
        || j.filter.is_some()
        || j.null_equality != NullEquality::NullEqualsNull
        || j.join_constraint != JoinConstraint::On
        || j.on.len() != j.left.schema().fields().len()
        || j.on.len() != j.right.schema().fields().len()
        || j.left.schema().has_column_with_unqualified_name(COPY)
    {
        return None;
    }
    Some(j.on.clone())
}

/// `left` semi/anti-joined with `right` on `keys` and the copy number of each row, with the
/// columns of `left`.
fn numbered_join(
    left: LogicalPlan,
    right: LogicalPlan,
    join_type: JoinType,
    keys: &[(Expr, Expr)],
) -> DfResult<LogicalPlan> {
    let columns: Vec<Expr> = left
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let (lkeys, rkeys): (Vec<Expr>, Vec<Expr>) = keys.iter().cloned().unzip();
    let left = number(left, lkeys)?;
    let right = number(right, rkeys)?;
    let mut on = keys.to_vec();
    on.push((
        Expr::Column(Column::from_name(COPY)),
        Expr::Column(Column::from_name(COPY)),
    ));
    let join = Join::try_new(
        Arc::new(left),
        Arc::new(right),
        on,
        None,
        join_type,
        JoinConstraint::On,
        NullEquality::NullEqualsNull,
        false,
    )?;
    LogicalPlanBuilder::from(LogicalPlan::Join(join))
        .project(columns)?
        .build()
}

/// `plan` with each copy of a row (rows equal in `keys`) numbered 1, 2, … in column [`COPY`].
fn number(plan: LogicalPlan, keys: Vec<Expr>) -> DfResult<LogicalPlan> {
    let copy = datafusion::functions_window::expr_fn::row_number()
        .partition_by(keys)
        .build()?
        .alias(COPY);
    LogicalPlanBuilder::from(plan).window(vec![copy])?.build()
}

/// `SELECT FROM a INTERSECT SELECT FROM b` (and EXCEPT): DataFusion cannot join rows with
/// no columns, so each side gets the column `1` and the set operation is read through an
/// outer `SELECT FROM`. Rows without columns are equal, so the counts are PostgreSQL's.
pub fn columnless(q: &mut Query) -> crate::error::SqlResult<()> {
    if !matches!(q.body.as_ref(), SetExpr::SetOperation { .. })
        || !leaves_columnless(&q.body)
        || !has_intersect_or_except(&q.body)
    {
        return Ok(());
    }
    let sql = "SELECT FROM (SELECT 1) AS \"*SELECT*\"";
    let Some(Statement::Query(outer)) = crate::session::parse_sql(sql)?.pop() else {
        return Err(crate::error::SqlError::Internal(format!(
            "not a query: {sql}"
        )));
    };
    let mut body = std::mem::replace(&mut q.body, outer.body);
    give_column(&mut body);
    if let SetExpr::Select(sel) = q.body.as_mut() {
        if let Some(TableFactor::Derived { subquery, .. }) =
            sel.from.first_mut().map(|t| &mut t.relation)
        {
            subquery.body = body;
        }
    }
    Ok(())
}

fn leaves_columnless(s: &SetExpr) -> bool {
    match s {
        SetExpr::Select(sel) => sel.projection.is_empty(),
        SetExpr::SetOperation { left, right, .. } => {
            leaves_columnless(left) && leaves_columnless(right)
        }
        SetExpr::Query(q) => leaves_columnless(&q.body),
        _ => false,
    }
}

fn has_intersect_or_except(s: &SetExpr) -> bool {
    match s {
        SetExpr::SetOperation {
            op, left, right, ..
        } => {
            matches!(op, SetOperator::Intersect | SetOperator::Except)
                || has_intersect_or_except(left)
                || has_intersect_or_except(right)
        }
        SetExpr::Query(q) => has_intersect_or_except(&q.body),
        _ => false,
    }
}

fn give_column(s: &mut SetExpr) {
    match s {
        SetExpr::Select(sel) => {
            sel.projection = vec![SelectItem::UnnamedExpr(SqlExpr::value(Value::Number(
                "1".into(),
                false,
            )))];
        }
        SetExpr::SetOperation { left, right, .. } => {
            give_column(left);
            give_column(right);
        }
        SetExpr::Query(q) => give_column(&mut q.body),
        _ => {}
    }
}
