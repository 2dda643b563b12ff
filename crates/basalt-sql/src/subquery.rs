//! Subqueries DataFusion cannot turn into joins, run once per outer row (PostgreSQL's
//! SubPlan).
//!
//! DataFusion's optimizer decorrelates the common shapes (a correlated subquery whose
//! correlation is an equality, IN/EXISTS among the conjuncts of a WHERE). What it leaves —
//! a count of rows "less than this one" (`WHERE x.b < t1.b`), IN or EXISTS inside a CASE or a
//! select list — its physical planner refuses ("Physical plan does not support logical
//! expression ScalarSubquery"). [`SubqueryPlanner`] rewrites each subquery left in the
//! optimized plan into a call of a [`SubPlan`] function whose arguments are the outer columns
//! the subquery reads. For each distinct tuple of those values the function binds them into
//! the subquery as constants, plans and runs it, and caches the answer for the rest of the
//! statement.
//!
//! Invariants: the subquery runs inside the statement's transaction (its scans read the
//! session's transaction slot, as the outer query's do); results follow SQL: a scalar
//! subquery with no row is NULL and with more than one row an error (21000); `x IN (…)` is
//! NULL when x is not found and x or a value of the subquery is NULL.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::Session as DfSession;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result as DfResult, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::execution::context::{QueryPlanner, SessionState};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::expr::{Exists, InSubquery, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, Filter, LogicalPlan, LogicalPlanBuilder,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Subquery, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use parking_lot::Mutex;

/// The session's query planner: DataFusion's, after the leftover subqueries are rewritten.
#[derive(Debug, Default)]
pub struct SubqueryPlanner;

#[async_trait]
impl QueryPlanner for SubqueryPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn DfSession,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let state = session
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("planner needs a SessionState".into()))?;
        // One planner of shared subqueries per statement: its rows live as long as the
        // plan. Subqueries run later by a SubPlan are planned with a state that carries it,
        // so their copies of a shared subquery read the same rows.
        let shared = match state
            .config()
            .get_extension::<crate::shared::SharedPlanner>()
        {
            Some(shared) => shared,
            None => Arc::new(crate::shared::SharedPlanner::default()),
        };
        let planner = DefaultPhysicalPlanner::with_extension_planners(vec![
            Arc::clone(&shared) as _,
            Arc::new(crate::lateral::LateralPlanner),
        ]);
        if !crate::shared::has_shared(plan) {
            let plan = rewrite_subqueries(plan.clone(), state)?;
            return planner.create_physical_plan(&plan, session).await;
        }
        let mut state = state.clone();
        state.config_mut().set_extension(shared);
        let plan = rewrite_subqueries(plan.clone(), &state)?;
        planner.create_physical_plan(&plan, &state).await
    }
}

/// A session state builder with [`SubqueryPlanner`] installed.
pub fn with_planner(builder: SessionStateBuilder) -> SessionStateBuilder {
    builder
        .with_query_planner(Arc::new(SubqueryPlanner))
        .with_optimizer_rules(crate::lateral::LateralJoins::with_default_rules())
}

/// Replaces every subquery expression in `plan` (not inside other subqueries: those are
/// planned when their enclosing subquery runs) with a [`SubPlan`] call.
fn rewrite_subqueries(plan: LogicalPlan, state: &SessionState) -> DfResult<LogicalPlan> {
    bind_deferred(&plan, state);
    let out = plan.transform_up(|node| {
        if !node_has_subquery(&node) {
            return Ok(Transformed::no(node));
        }
        let scope = outer_scope(&node);
        let names = NamePreserver::new(&node);
        let rewritten = node.map_expressions(|expr| {
            let saved = names.save(&expr);
            let out = expr.transform_up(|e| subplan_call(e, &scope, Some(state)))?;
            Ok(out.update_data(|e| saved.restore(e)))
        })?;
        rewritten.map_data(|n| n.recompute_schema())
    })?;
    Ok(out.data)
}

/// Gives the calls [`DeferNullableIn`] made the session state they will run with.
fn bind_deferred(plan: &LogicalPlan, state: &SessionState) {
    let _ = plan.apply(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarFunction(f) = e {
                    let inner: &dyn std::any::Any = f.func.inner().as_ref();
                    if let Some(sub) = inner.downcast_ref::<SubPlan>() {
                        let mut slot = sub.state.lock();
                        if slot.is_none() {
                            *slot = Some(Box::new(state.clone()));
                        }
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
}

fn node_has_subquery(node: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = node.apply_expressions(|e| {
        e.apply(|e| {
            if matches!(
                e,
                Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
            ) {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })
    });
    found
}

/// The columns a node's expressions can read: its input's (all inputs', for a join).
fn outer_scope(node: &LogicalPlan) -> DFSchema {
    let inputs = node.inputs();
    match inputs.as_slice() {
        [one] => one.schema().as_ref().clone(),
        _ => node.schema().as_ref().clone(),
    }
}

fn subplan_call(
    expr: Expr,
    scope: &DFSchema,
    state: Option<&SessionState>,
) -> DfResult<Transformed<Expr>> {
    let (kind, subquery, needle) = match expr {
        Expr::ScalarSubquery(sq) => (Kind::Scalar, sq, None),
        Expr::Exists(Exists { subquery, negated }) => (Kind::Exists { negated }, subquery, None),
        Expr::InSubquery(InSubquery {
            expr,
            subquery,
            negated,
        }) => (Kind::In { negated }, subquery, Some(*expr)),
        other => return Ok(Transformed::no(other)),
    };
    let outer = outer_columns(&subquery, scope);
    let return_type = match kind {
        Kind::Scalar => subquery
            .subquery
            .schema()
            .fields()
            .first()
            .map(|f| f.data_type().clone())
            .ok_or_else(|| DataFusionError::Plan("subquery has no column".into()))?,
        Kind::In { .. } | Kind::Exists { .. } => DataType::Boolean,
    };
    let mut args: Vec<Expr> = needle.into_iter().collect();
    args.extend(outer.iter().map(|(_, arg)| arg.clone()));
    let outer: Vec<Column> = outer.into_iter().map(|(c, _)| c).collect();
    let udf = SubPlan {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        kind,
        plan: Arc::unwrap_or_clone(subquery.subquery),
        outer,
        return_type,
        signature: if args.is_empty() {
            Signature::nullary(Volatility::Volatile)
        } else {
            Signature::any(args.len(), Volatility::Volatile)
        },
        state: Mutex::new(state.map(|s| Box::new(s.clone()))),
        cache: Mutex::new(AnswerCache::default()),
    };
    let call = Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(udf)),
        args,
    ));
    Ok(Transformed::yes(call))
}

/// The outer columns a subquery reads, found in the plan itself (its nested subqueries
/// included), each with the argument that supplies it: a column of the enclosing node, or,
/// for a column from further out, that outer reference itself (bound to a constant when the
/// enclosing subquery runs).
fn outer_columns(subquery: &Subquery, scope: &DFSchema) -> Vec<(Column, Expr)> {
    let mut cols: Vec<(Column, Expr)> = Vec::new();
    let mut add = |e: &Expr| {
        if let Expr::OuterReferenceColumn(_, c) = e {
            if cols.iter().any(|(k, _)| k == c) {
                return;
            }
            let arg = if scope.has_column(c) {
                Expr::Column(c.clone())
            } else {
                e.clone()
            };
            cols.push((c.clone(), arg));
        }
    };
    for e in &subquery.outer_ref_columns {
        add(e);
    }
    for e in free_refs(&subquery.subquery) {
        add(&e);
    }
    cols
}

/// The outer references a subquery's plan makes to columns from outside it: its own, and
/// those of its nested subqueries that the subquery does not supply itself. (A nested
/// subquery's reference to a column of the subquery is the subquery's business.)
fn free_refs(plan: &LogicalPlan) -> Vec<Expr> {
    let mut out: Vec<Expr> = Vec::new();
    let _ = plan.apply(|node| {
        let scope = outer_scope(node);
        node.apply_expressions(|e| {
            e.apply(|e| {
                match e {
                    Expr::OuterReferenceColumn(..) if !out.contains(e) => out.push(e.clone()),
                    Expr::ScalarSubquery(sq)
                    | Expr::Exists(Exists { subquery: sq, .. })
                    | Expr::InSubquery(InSubquery { subquery: sq, .. }) => {
                        for r in free_refs(&sq.subquery) {
                            let inside = matches!(&r, Expr::OuterReferenceColumn(_, c) if scope.has_column(c));
                            if !inside && !out.contains(&r) {
                                out.push(r);
                            }
                        }
                    }
                    _ => {}
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    out
}

/// Keeps `x [NOT] IN (subquery)` away from DataFusion's mark join where NULLs matter.
///
/// DataFusion decorrelates an IN subquery that is not a top-level conjunct of a WHERE (under
/// OR, NOT, CASE) into a mark join whose mark is two-valued: `NULL NOT IN (1, 2)` comes out
/// true and `1 NOT IN (2, NULL)` true, where SQL says NULL (so the row is filtered out).
/// When either side can be NULL, such an IN becomes a [`SubPlan`] call (three-valued) before
/// the optimizer sees it. Top-level conjuncts stay DataFusion's: a semi join, or the
/// null-aware anti join for NOT IN, are right there.
#[derive(Debug, Default)]
pub struct DeferNullableIn;

impl AnalyzerRule for DeferNullableIn {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        check_recursive_terms(&plan)?;
        let plan = list_nested_outer_refs(plan)?;
        let out = plan.transform_up_with_subqueries(|node| {
            if !node_has_subquery(&node) {
                return Ok(Transformed::no(node));
            }
            let LogicalPlan::Filter(filter) = &node else {
                return defer_unbounded_scalars(node);
            };
            let scope = filter.input.schema().as_ref().clone();
            let conjuncts = split_conjunction_owned(filter.predicate.clone());
            let mut changed = false;
            let mut rebuilt = Vec::with_capacity(conjuncts.len());
            for c in conjuncts {
                let top_level_in = matches!(c, Expr::InSubquery(_));
                let t = c.transform_up(|e| {
                    let defer = match &e {
                        Expr::ScalarSubquery(sq) => reads_beyond(sq, &scope) || may_return_rows(sq),
                        Expr::Exists(Exists { subquery: sq, .. }) => reads_beyond(sq, &scope),
                        Expr::InSubquery(ins) => {
                            reads_beyond(&ins.subquery, &scope)
                                || projects_outer(&ins.subquery)
                                || (!top_level_in && in_may_see_null(ins, &scope))
                        }
                        _ => false,
                    };
                    if defer {
                        subplan_call(e, &scope, None)
                    } else {
                        Ok(Transformed::no(e))
                    }
                })?;
                changed |= t.transformed;
                rebuilt.push(t.data);
            }
            if !changed {
                return Ok(Transformed::no(node));
            }
            let predicate = conjunction(rebuilt)
                .unwrap_or(Expr::Literal(ScalarValue::Boolean(Some(true)), None));
            let LogicalPlan::Filter(filter) = node else {
                return Ok(Transformed::no(node));
            };
            Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
                predicate,
                filter.input,
            )?)))
        })?;
        Ok(out.data)
    }

    fn name(&self) -> &str {
        "basalt_defer_nullable_in"
    }
}

/// PostgreSQL's rule: no aggregate in a recursive query's recursive term. (Such a term, like
/// `SELECT count(*) FROM x`, yields a row at every step, so the recursion would never end.)
fn check_recursive_terms(plan: &LogicalPlan) -> DfResult<()> {
    fn top_aggregate(plan: &LogicalPlan) -> bool {
        match plan {
            LogicalPlan::Aggregate(_) => true,
            LogicalPlan::Projection(p) => top_aggregate(&p.input),
            LogicalPlan::Filter(f) => top_aggregate(&f.input),
            LogicalPlan::SubqueryAlias(a) => top_aggregate(&a.input),
            LogicalPlan::Sort(s) => top_aggregate(&s.input),
            LogicalPlan::Limit(l) => top_aggregate(&l.input),
            _ => false,
        }
    }
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::RecursiveQuery(r) = node {
            if top_aggregate(&r.recursive_term) {
                return Err(crate::error::SqlError::InvalidRecursion(
                    "aggregate functions are not allowed in a recursive query's recursive term"
                        .into(),
                )
                .into_datafusion());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map(|_| ())
}

/// Adds to each subquery's `outer_ref_columns` the outer columns that only its nested
/// subqueries read. DataFusion lists a subquery's own references only, and its projection
/// pruning keeps just the listed columns, so a column read two levels down would be gone
/// by the time the subquery runs per row.
fn list_nested_outer_refs(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    let out = plan.transform_up_with_subqueries(|node| {
        if !node_has_subquery(&node) {
            return Ok(Transformed::no(node));
        }
        let scope = outer_scope(&node);
        node.map_expressions(|expr| {
            expr.transform_up(|e| {
                let add = |mut sq: Subquery| {
                    let mut changed = false;
                    for r in free_refs(&sq.subquery) {
                        if let Expr::OuterReferenceColumn(_, c) = &r {
                            if scope.has_column(c) && !sq.outer_ref_columns.contains(&r) {
                                sq.outer_ref_columns.push(r.clone());
                                changed = true;
                            }
                        }
                    }
                    (sq, changed)
                };
                Ok(match e {
                    Expr::ScalarSubquery(sq) => {
                        let (sq, changed) = add(sq);
                        Transformed::new_transformed(Expr::ScalarSubquery(sq), changed)
                    }
                    Expr::Exists(Exists { subquery, negated }) => {
                        let (subquery, changed) = add(subquery);
                        Transformed::new_transformed(
                            Expr::Exists(Exists { subquery, negated }),
                            changed,
                        )
                    }
                    Expr::InSubquery(InSubquery {
                        expr,
                        subquery,
                        negated,
                    }) => {
                        let (subquery, changed) = add(subquery);
                        Transformed::new_transformed(
                            Expr::InSubquery(InSubquery {
                                expr,
                                subquery,
                                negated,
                            }),
                            changed,
                        )
                    }
                    other => Transformed::no(other),
                })
            })
        })
    })?;
    Ok(out.data)
}

/// Outside WHERE: a correlated scalar subquery that may return several rows becomes a
/// [`SubPlan`] call (DataFusion refuses it at planning; SQL fails only if a row's subquery
/// actually returns more than one row).
fn defer_unbounded_scalars(node: LogicalPlan) -> DfResult<Transformed<LogicalPlan>> {
    let scope = outer_scope(&node);
    let names = NamePreserver::new(&node);
    node.map_expressions(|expr| {
        let saved = names.save(&expr);
        let out = expr.transform_up(|e| match e {
            Expr::ScalarSubquery(ref sq) if may_return_rows(sq) || reads_beyond(sq, &scope) => {
                subplan_call(e, &scope, None)
            }
            other => Ok(Transformed::no(other)),
        })?;
        Ok(out.update_data(|e| saved.restore(e)))
    })
}

/// A correlated scalar subquery that is not shaped to return at most one row (an aggregate
/// without GROUP BY, or LIMIT 1).
fn may_return_rows(sq: &Subquery) -> bool {
    fn single_row(plan: &LogicalPlan) -> bool {
        match plan {
            LogicalPlan::Projection(p) => single_row(&p.input),
            LogicalPlan::SubqueryAlias(a) => single_row(&a.input),
            LogicalPlan::Sort(s) => single_row(&s.input),
            LogicalPlan::Aggregate(a) => a.group_expr.is_empty(),
            LogicalPlan::Limit(l) => matches!(
                l.get_fetch_type(),
                Ok(datafusion::logical_expr::FetchType::Literal(Some(n))) if n <= 1
            ),
            _ => false,
        }
    }
    let correlated = !sq.outer_ref_columns.is_empty();
    correlated && !single_row(&sq.subquery)
}

/// Whether the values an IN subquery yields are computed from outer columns
/// (`x IN (SELECT outer.a + b FROM …)`): DataFusion's decorrelation leaves those outer
/// references in the join it builds and cannot plan them.
fn projects_outer(sq: &Subquery) -> bool {
    let mut plan = sq.subquery.as_ref();
    loop {
        match plan {
            LogicalPlan::SubqueryAlias(a) => plan = &a.input,
            LogicalPlan::Distinct(d) => plan = d.input(),
            LogicalPlan::Projection(p) => {
                return p.expr.iter().any(|e| {
                    e.exists(|e| Ok(matches!(e, Expr::OuterReferenceColumn(..))))
                        .unwrap_or(true)
                })
            }
            _ => return false,
        }
    }
}

/// Whether a subquery reads columns from beyond the node it sits in (a subquery two levels
/// down reading the outermost query). DataFusion's decorrelation would take such a
/// reference for one of the enclosing node's own columns and fail to find it.
fn reads_beyond(sq: &Subquery, scope: &DFSchema) -> bool {
    free_refs(&sq.subquery)
        .iter()
        .any(|r| matches!(r, Expr::OuterReferenceColumn(_, c) if !scope.has_column(c)))
}

fn in_may_see_null(ins: &InSubquery, scope: &DFSchema) -> bool {
    let needle = ins.expr.nullable(scope).unwrap_or(true);
    let values = ins
        .subquery
        .subquery
        .schema()
        .fields()
        .first()
        .is_none_or(|f| f.is_nullable());
    needle || values
}

/// Distinct outer tuples whose answers one subquery keeps.
const CACHE_ANSWERS_MAX: usize = 4096;
/// Values (outer keys and IN results) one subquery's answer cache holds at most.
const CACHE_VALUES_MAX: usize = 1 << 20;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Scalar,
    Exists { negated: bool },
    In { negated: bool },
}

/// What one run of the subquery gave, for one tuple of outer values.
#[derive(Clone)]
enum Answer {
    Scalar(ScalarValue),
    Exists(bool),
    In {
        values: Arc<HashSet<ScalarValue>>,
        has_null: bool,
    },
}

/// A subquery as a function of the outer values it reads (arguments: the IN operand, if any,
/// then the outer columns, in `outer` order).
struct SubPlan {
    /// Identity for DataFusion's function equality: each call site is its own function.
    id: u64,
    kind: Kind,
    plan: LogicalPlan,
    outer: Vec<Column>,
    return_type: DataType,
    signature: Signature,
    /// The session state to plan the subquery with: given at physical planning (a call made
    /// by [`DeferNullableIn`] during analysis gets it from [`SubqueryPlanner`]).
    state: Mutex<Option<Box<SessionState>>>,
    /// Answers by outer values, for the statement's lifetime (the function is built per
    /// statement, at planning).
    cache: Mutex<AnswerCache>,
}

/// A subquery's answers by outer values, bounded in entries and in values held (an IN
/// answer holds the subquery's whole result); when full it starts over.
#[derive(Default)]
struct AnswerCache {
    answers: HashMap<Vec<ScalarValue>, Answer>,
    values_held: usize,
}

impl AnswerCache {
    fn keep(&mut self, key: Vec<ScalarValue>, answer: &Answer) {
        let size = key.len()
            + match answer {
                Answer::In { values, .. } => values.len(),
                _ => 1,
            };
        if size > CACHE_VALUES_MAX {
            return;
        }
        if self.answers.len() >= CACHE_ANSWERS_MAX || self.values_held + size > CACHE_VALUES_MAX {
            self.answers.clear();
            self.values_held = 0;
        }
        self.values_held += size;
        self.answers.insert(key, answer.clone());
    }
}

impl fmt::Debug for SubPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubPlan")
            .field("kind", &self.kind)
            .field("outer", &self.outer)
            .finish()
    }
}

impl PartialEq for SubPlan {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for SubPlan {}
impl Hash for SubPlan {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl ScalarUDFImpl for SubPlan {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Scalar => "subquery",
            Kind::Exists { negated: false } => "exists",
            Kind::Exists { negated: true } => "not_exists",
            Kind::In { negated: false } => "in_subquery",
            Kind::In { negated: true } => "not_in_subquery",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.return_type.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        // Every argument as an array of `rows` values (constants are bound outer columns).
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<DfResult<Vec<_>>>()?;
        let (needle, outer): (Option<&ArrayRef>, &[ArrayRef]) = match self.kind {
            Kind::In { .. } => (arrays.first(), arrays.get(1..).unwrap_or(&[])),
            _ => (None, &arrays[..]),
        };
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let key = outer
                .iter()
                .map(|a| ScalarValue::try_from_array(a, row))
                .collect::<DfResult<Vec<_>>>()?;
            let answer = self.answer(key)?;
            let value = match answer {
                Answer::Scalar(v) => v,
                Answer::Exists(found) => ScalarValue::Boolean(Some(found)),
                Answer::In { values, has_null } => {
                    let needle = match needle {
                        Some(a) => ScalarValue::try_from_array(a, row)?,
                        None => ScalarValue::Null,
                    };
                    let negated = matches!(self.kind, Kind::In { negated: true });
                    ScalarValue::Boolean(
                        in_result(&needle, &values, has_null).map(|b| b != negated),
                    )
                }
            };
            out.push(value);
        }
        if out.is_empty() {
            let empty: ArrayRef = datafusion::arrow::array::new_empty_array(&self.return_type);
            return Ok(ColumnarValue::Array(empty));
        }
        let array = ScalarValue::iter_to_array(out)?;
        let array = if array.data_type() == &self.return_type {
            array
        } else {
            datafusion::arrow::compute::cast(&array, &self.return_type)?
        };
        Ok(ColumnarValue::Array(array))
    }
}

/// `needle IN values` by SQL's three-valued logic.
fn in_result(needle: &ScalarValue, values: &HashSet<ScalarValue>, has_null: bool) -> Option<bool> {
    if values.is_empty() && !has_null {
        return Some(false);
    }
    if needle.is_null() {
        return None;
    }
    let probe = values
        .iter()
        .next()
        .map(|v| v.data_type())
        .filter(|t| *t != needle.data_type())
        .and_then(|t| needle.cast_to(&t).ok())
        .unwrap_or_else(|| needle.clone());
    if values.contains(&probe) {
        Some(true)
    } else if has_null {
        None
    } else {
        Some(false)
    }
}

impl SubPlan {
    fn answer(&self, key: Vec<ScalarValue>) -> DfResult<Answer> {
        if let Some(a) = self.cache.lock().answers.get(&key) {
            return Ok(a.clone());
        }
        let plan = bind_outer(self.plan.clone(), &self.outer, &key)?;
        let plan = match self.kind {
            // One row answers EXISTS.
            Kind::Exists { .. } => LogicalPlanBuilder::from(plan).limit(0, Some(1))?.build()?,
            _ => plan,
        };
        let state = self.state.lock().as_deref().cloned().ok_or_else(|| {
            DataFusionError::Internal("subquery evaluated before physical planning".into())
        })?;
        let batches = run_blocking(state, plan)?;
        let answer = self.answer_from(&batches)?;
        self.cache.lock().keep(key, &answer);
        Ok(answer)
    }

    fn answer_from(&self, batches: &[RecordBatch]) -> DfResult<Answer> {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        Ok(match self.kind {
            Kind::Exists { negated } => Answer::Exists((rows > 0) != negated),
            Kind::Scalar => {
                if rows > 1 {
                    return Err(DataFusionError::Execution(
                        "Scalar subquery returned more than one row".into(),
                    ));
                }
                let value = batches
                    .iter()
                    .find(|b| b.num_rows() > 0)
                    .map(|b| ScalarValue::try_from_array(b.column(0), 0))
                    .transpose()?;
                match value {
                    Some(v) => Answer::Scalar(v),
                    None => Answer::Scalar(ScalarValue::try_from(&self.return_type)?),
                }
            }
            Kind::In { .. } => {
                let mut values = HashSet::new();
                let mut has_null = false;
                for b in batches {
                    let col = b.column(0);
                    for i in 0..col.len() {
                        if col.is_null(i) {
                            has_null = true;
                        } else {
                            values.insert(ScalarValue::try_from_array(col, i)?);
                        }
                    }
                }
                Answer::In {
                    values: Arc::new(values),
                    has_null,
                }
            }
        })
    }
}

/// The subquery with each outer column replaced by its value in the current row.
pub(crate) fn bind_outer(
    plan: LogicalPlan,
    outer: &[Column],
    values: &[ScalarValue],
) -> DfResult<LogicalPlan> {
    let bound = plan.transform_up_with_subqueries(|node| {
        // Output names stay those of the outer references (`max(outer_ref(t.a))`), which
        // the nodes above read.
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = names.save(&e);
            let out = e.transform_up(|e| match e {
                Expr::OuterReferenceColumn(field, c) => match outer.iter().position(|o| *o == c) {
                    Some(i) => {
                        let v = values[i]
                            .cast_to(field.data_type())
                            .unwrap_or_else(|_| values[i].clone());
                        Ok(Transformed::yes(Expr::Literal(v, None)))
                    }
                    None => Ok(Transformed::no(Expr::OuterReferenceColumn(field, c))),
                },
                // A nested subquery no longer reads the columns bound here.
                Expr::ScalarSubquery(sq) => {
                    Ok(Transformed::yes(Expr::ScalarSubquery(unbind(sq, outer))))
                }
                Expr::Exists(Exists { subquery, negated }) => {
                    Ok(Transformed::yes(Expr::Exists(Exists {
                        subquery: unbind(subquery, outer),
                        negated,
                    })))
                }
                Expr::InSubquery(InSubquery {
                    expr,
                    subquery,
                    negated,
                }) => Ok(Transformed::yes(Expr::InSubquery(InSubquery {
                    expr,
                    subquery: unbind(subquery, outer),
                    negated,
                }))),
                other => Ok(Transformed::no(other)),
            })?;
            Ok(out.update_data(|e| saved.restore(e)))
        })
    })?;
    Ok(bound.data)
}

fn unbind(mut sq: Subquery, outer: &[Column]) -> Subquery {
    sq.outer_ref_columns
        .retain(|e| !matches!(e, Expr::OuterReferenceColumn(_, c) if outer.contains(c)));
    sq
}

/// Plans and runs `plan` to completion from inside a synchronous function evaluation.
fn run_blocking(state: SessionState, plan: LogicalPlan) -> DfResult<Vec<RecordBatch>> {
    let work = async move {
        let physical = state.create_physical_plan(&plan).await?;
        crate::analytics::collect_in_order(physical, state.task_ctx()).await
    };
    match tokio::runtime::Handle::try_current() {
        // The usual case: a worker of a multi-threaded runtime hands its other tasks to a
        // new worker while this one waits (the subquery's own tasks run there too).
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| handle.block_on(work))
        }
        // Elsewhere (a current-thread runtime, no runtime): a thread of its own.
        _ => std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| DataFusionError::External(Box::new(e)))?
                    .block_on(work)
            })
            .join()
            .unwrap_or_else(|_| {
                Err(DataFusionError::Execution(
                    "subquery evaluation failed".into(),
                ))
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_answer_cache_is_bounded() {
        let mut c = AnswerCache::default();
        for i in 0..CACHE_ANSWERS_MAX + 10 {
            c.keep(
                vec![ScalarValue::Int64(Some(i as i64))],
                &Answer::Exists(true),
            );
        }
        assert!(c.answers.len() <= CACHE_ANSWERS_MAX);
        // Two IN answers of more than half the value budget never sit side by side.
        let half = CACHE_VALUES_MAX / 2 + 1;
        let set: HashSet<ScalarValue> = (0..half as i64)
            .map(|v| ScalarValue::Int64(Some(v)))
            .collect();
        let answer = Answer::In {
            values: Arc::new(set),
            has_null: false,
        };
        c.keep(vec![ScalarValue::Int64(Some(-1))], &answer);
        c.keep(vec![ScalarValue::Int64(Some(-2))], &answer);
        assert_eq!(c.answers.len(), 1);
        assert!(c.values_held <= CACHE_VALUES_MAX);
    }

    #[test]
    fn in_follows_three_valued_logic() {
        let set: HashSet<ScalarValue> = [ScalarValue::Int64(Some(1))].into_iter().collect();
        let empty = HashSet::new();
        let one = ScalarValue::Int64(Some(1));
        let two = ScalarValue::Int64(Some(2));
        let null = ScalarValue::Int64(None);
        assert_eq!(in_result(&one, &set, false), Some(true));
        assert_eq!(in_result(&two, &set, false), Some(false));
        assert_eq!(in_result(&two, &set, true), None);
        assert_eq!(in_result(&one, &set, true), Some(true));
        assert_eq!(in_result(&null, &set, false), None);
        // Nothing is IN an empty set, not even NULL.
        assert_eq!(in_result(&null, &empty, false), Some(false));
        // A needle of another integer width still finds its value.
        assert_eq!(
            in_result(&ScalarValue::Int32(Some(1)), &set, false),
            Some(true)
        );
    }
}
