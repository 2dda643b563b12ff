//! Aggregates that read a subquery's rows in the subquery's ORDER BY, as PostgreSQL's do.
//!
//! `SELECT string_agg(name, ', ') FROM (SELECT name FROM t ORDER BY created) s` lists the
//! names in `created` order on PostgreSQL (its Agg reads the Sort below it), and clients
//! build JSON documents that way (`json_agg(x) FROM (SELECT … ORDER BY …) x`). DataFusion
//! drops a sort that no operator above requires, so [`SubqueryOrderAggregates`] makes the
//! requirement explicit: an order-sensitive aggregate without its own ORDER BY, over a
//! subquery whose last step is an ORDER BY (through filters), gets that ORDER BY. Sort keys
//! the subquery does not select travel up as extra columns of the subquery, which nothing
//! outside it can name.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result as DfResult};
use datafusion::logical_expr::expr::{AggregateFunction, Sort as SortExpr};
use datafusion::logical_expr::{Aggregate, Expr, Filter, LogicalPlan, Projection, SubqueryAlias};
use datafusion::optimizer::AnalyzerRule;

/// Aggregates whose result depends on the order they read their rows in.
const ORDER_SENSITIVE: &[&str] = &[
    "array_agg",
    "string_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "first_value",
    "last_value",
];

/// The analyzer rule (see the module comment); registered for PostgreSQL sessions.
#[derive(Debug, Default)]
pub struct SubqueryOrderAggregates;

impl AnalyzerRule for SubqueryOrderAggregates {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        plan.transform_up(|node| {
            let node = match &node {
                LogicalPlan::Aggregate(agg) if agg.aggr_expr.iter().any(needs_order) => {
                    match ordered(agg)? {
                        Some(p) => Transformed::yes(p),
                        None => Transformed::no(node),
                    }
                }
                _ => Transformed::no(node),
            };
            node.transform_data(|node| match &node {
                LogicalPlan::Aggregate(agg) if agg.aggr_expr.iter().any(distinct_unordered) => {
                    let aggr_expr = with_order(agg, distinct_unordered, |f| {
                        vec![SortExpr::new(f.params.args[0].clone(), true, false)]
                    });
                    Ok(Transformed::yes(LogicalPlan::Aggregate(
                        Aggregate::try_new(
                            Arc::clone(&agg.input),
                            agg.group_expr.clone(),
                            aggr_expr,
                        )?,
                    )))
                }
                _ => Ok(Transformed::no(node)),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "basalt_subquery_order_aggregates"
    }
}

/// The aggregates of `agg`, those `pick` chooses ordered by `order` of them; each keeps its
/// output name, which the plan above refers to.
fn with_order(
    agg: &Aggregate,
    pick: fn(&Expr) -> bool,
    order: impl Fn(&AggregateFunction) -> Vec<SortExpr>,
) -> Vec<Expr> {
    agg.aggr_expr
        .iter()
        .zip(agg.schema.fields().iter().skip(agg.group_expr.len()))
        .map(|(e, field)| {
            if !pick(e) {
                return e.clone();
            }
            match e.clone().unalias() {
                Expr::AggregateFunction(mut f) => {
                    f.params.order_by = order(&f);
                    Expr::AggregateFunction(f).alias(field.name())
                }
                _ => e.clone(),
            }
        })
        .collect()
}

/// An order-sensitive aggregate without ORDER BY, DISTINCT or not as `distinct` says.
fn unordered(e: &Expr, distinct: bool) -> bool {
    match e {
        Expr::Alias(a) => unordered(&a.expr, distinct),
        Expr::AggregateFunction(f) => {
            ORDER_SENSITIVE.contains(&f.func.name())
                && f.params.order_by.is_empty()
                && f.params.distinct == distinct
                && !f.params.args.is_empty()
        }
        _ => false,
    }
}

/// An order-sensitive aggregate that reads its rows as they come.
fn needs_order(e: &Expr) -> bool {
    unordered(e, false)
}

/// A DISTINCT order-sensitive aggregate without ORDER BY: PostgreSQL sorts its arguments to
/// find the distinct ones, so it reads them in ascending order.
fn distinct_unordered(e: &Expr) -> bool {
    unordered(e, true)
}

/// `agg` with its order-sensitive aggregates ordered as its subquery input is; `None` if the
/// input is not a subquery ending in an ORDER BY.
fn ordered(agg: &Aggregate) -> DfResult<Option<LogicalPlan>> {
    // Filters between the aggregate and the subquery keep the order.
    let mut filters = Vec::new();
    let mut input = agg.input.as_ref();
    while let LogicalPlan::Filter(f) = input {
        filters.push(f.predicate.clone());
        input = f.input.as_ref();
    }
    let LogicalPlan::SubqueryAlias(alias) = input else {
        return Ok(None);
    };
    // The subquery's columns, as expressions over the sorted rows.
    let (sort, mut exprs, schema) = match alias.input.as_ref() {
        LogicalPlan::Projection(p) => match p.input.as_ref() {
            LogicalPlan::Sort(sort) => (sort, p.expr.clone(), Arc::clone(&p.schema)),
            _ => return Ok(None),
        },
        LogicalPlan::Sort(sort) => {
            let columns = sort.input.schema().columns();
            let exprs = columns.into_iter().map(Expr::Column).collect();
            (sort, exprs, Arc::clone(sort.input.schema()))
        }
        _ => return Ok(None),
    };
    let visible = exprs.len();
    // Each sort key as a column of the subquery: a selected expression, or a new column.
    let mut keys = Vec::with_capacity(sort.expr.len());
    for (k, key) in sort.expr.iter().enumerate() {
        let found = exprs[..visible]
            .iter()
            .position(|e| e.clone().unalias() == key.expr);
        let name = match found {
            Some(i) => schema.field(i).name().clone(),
            None => {
                let name = format!("__basalt_subquery_order_{k}");
                exprs.push(key.expr.clone().alias(name.clone()));
                name
            }
        };
        keys.push(SortExpr::new(
            Expr::Column(Column::new(Some(alias.alias.clone()), name)),
            key.asc,
            key.nulls_first,
        ));
    }
    let sorted = Arc::new(LogicalPlan::Sort(sort.clone()));
    let projection = Projection::try_new(exprs, sorted)?;
    let mut input = LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(
        Arc::new(LogicalPlan::Projection(projection)),
        alias.alias.clone(),
    )?);
    for predicate in filters.into_iter().rev() {
        input = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(input))?);
    }
    let aggr_expr = with_order(agg, needs_order, |_| keys.clone());
    Ok(Some(LogicalPlan::Aggregate(Aggregate::try_new(
        Arc::new(input),
        agg.group_expr.clone(),
        aggr_expr,
    )?)))
}
