//! LATERAL joins DataFusion cannot decorrelate, run once per left row (PostgreSQL's nested
//! loop with a parameterized inner side).
//!
//! DataFusion plans `a, LATERAL (SELECT … a.x …)` as a join whose right input reads `a.x` as
//! an outer reference. Its optimizer turns the common shapes (a correlated WHERE equality)
//! into an ordinary join; what it leaves — an outer column in a select list, a VALUES row, a
//! table function's argument, a LIMIT — its physical planner refuses. [`LateralJoins`],
//! an optimizer rule placed right after DataFusion's lateral decorrelation, replaces each
//! such join by a [`LateralApply`] node. Its executor runs the left input and, for each
//! distinct tuple of the left values the right side reads, binds them into the right plan as
//! constants, plans and runs it, and joins the left row to the rows it gives.
//!
//! Invariants: the right side runs inside the statement's transaction (it is planned with
//! the statement's session state, as the outer query is); a LEFT join emits the left row
//! with NULLs when no right row passes the ON condition; rows keep the left input's order.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{new_null_array, ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat, take};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session as DfSession;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchemaRef, Result as DfResult, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    Expr, Extension, JoinType, LogicalPlan, LogicalPlanBuilder, UserDefinedLogicalNode,
    UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use futures::StreamExt;

/// Distinct left tuples whose right rows one executor partition keeps.
const CACHE_ENTRIES_MAX: usize = 4096;
/// Rows an output batch holds before the executor yields it (more only when one left row's
/// right rows alone are more).
const OUTPUT_ROWS_TARGET: usize = 8192;
/// Right rows one executor partition's cache holds at most.
const CACHE_ROWS_MAX: usize = 1 << 20;

/// Replaces a join whose right input still reads the left input's columns (outer
/// references the decorrelation left behind) with a [`LateralApply`] node.
#[derive(Debug, Default)]
pub struct LateralJoins;

impl LateralJoins {
    /// DataFusion's optimizer rules with this one right after `decorrelate_lateral_join`
    /// (before projection pruning drops the left columns only the right side reads).
    pub fn with_default_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
        let mut rules = datafusion::optimizer::Optimizer::new().rules;
        let at = rules
            .iter()
            .position(|r| r.name() == "decorrelate_lateral_join")
            .map_or(0, |i| i + 1);
        rules.insert(at, Arc::new(LateralJoins));
        rules
    }
}

impl OptimizerRule for LateralJoins {
    fn name(&self) -> &str {
        "basalt_lateral_joins"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> DfResult<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = plan else {
            return Ok(Transformed::no(plan));
        };
        let supported = matches!(
            join.join_type,
            JoinType::Inner | JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti
        );
        let refs = unbound_refs(&join.right);
        let left_schema = join.left.schema();
        // Only a join whose right side reads nothing but left columns: a reference from
        // further out is bound first, when the enclosing subquery runs.
        if !supported
            || refs.is_empty()
            || !refs.iter().all(|c| left_schema.has_column(c))
            || join_reads_outer(&join)
        {
            return Ok(Transformed::no(LogicalPlan::Join(join)));
        }
        let mut conditions: Vec<Expr> = join
            .on
            .iter()
            .map(|(l, r)| l.clone().eq(r.clone()))
            .collect();
        conditions.extend(join.filter.clone());
        if let Some(reordered) = reassociate(&join, &conditions)? {
            return Ok(Transformed::yes(reordered));
        }
        let node = LateralApply {
            left: Arc::unwrap_or_clone(join.left),
            right: Arc::unwrap_or_clone(join.right),
            join_type: join.join_type,
            filter: conjunction(conditions),
            schema: join.schema,
        };
        Ok(Transformed::yes(LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        })))
    }
}

/// `a, (b JOIN LATERAL f(a) ss ON c)` (inner joins, `b` not reading `a`) as
/// `(a, LATERAL f(a) ss) JOIN b ON c`, columns in their first order: the right side then
/// runs once per row of `a`, not per row of `a × b`, and `c` can be a hash join's key.
fn reassociate(
    join: &datafusion::logical_expr::Join,
    outer_conditions: &[Expr],
) -> DfResult<Option<LogicalPlan>> {
    let LogicalPlan::Join(inner) = join.right.as_ref() else {
        return Ok(None);
    };
    if join.join_type != JoinType::Inner || inner.join_type != JoinType::Inner {
        return Ok(None);
    }
    let left_schema = join.left.schema();
    let in_left = |c: &Column| left_schema.has_column(c);
    let lateral_refs = unbound_refs(&inner.right);
    if unbound_refs(&inner.left).iter().any(in_left)
        || lateral_refs.is_empty()
        || !lateral_refs.iter().all(in_left)
    {
        return Ok(None);
    }
    let lateral = LogicalPlanBuilder::from(Arc::unwrap_or_clone(Arc::clone(&join.left)))
        .cross_join(Arc::unwrap_or_clone(Arc::clone(&inner.right)))?
        .build()?;
    let LogicalPlan::Join(lateral) = lateral else {
        return Ok(None);
    };
    let lateral = LogicalPlan::Extension(Extension {
        node: Arc::new(LateralApply {
            left: Arc::unwrap_or_clone(lateral.left),
            right: Arc::unwrap_or_clone(lateral.right),
            join_type: JoinType::Inner,
            filter: None,
            schema: lateral.schema,
        }),
    });
    // The inner join's condition may read `a` as an outer reference: now it is a column.
    let mut conditions: Vec<Expr> = inner
        .on
        .iter()
        .map(|(l, r)| l.clone().eq(r.clone()))
        .chain(inner.filter.clone())
        .map(|e| {
            e.transform_up(|e| match e {
                Expr::OuterReferenceColumn(_, c) if in_left(&c) => {
                    Ok(Transformed::yes(Expr::Column(c)))
                }
                other => Ok(Transformed::no(other)),
            })
            .map(|t| t.data)
        })
        .collect::<DfResult<_>>()?;
    conditions.extend(outer_conditions.iter().cloned());
    let order: Vec<Expr> = join
        .schema
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
        .collect();
    let plan = LogicalPlanBuilder::from(lateral)
        .join_on(
            Arc::unwrap_or_clone(Arc::clone(&inner.left)),
            JoinType::Inner,
            conditions,
        )?
        .project(order)?
        .build()?;
    Ok(Some(plan))
}

/// Whether the join's own ON condition reads a column from outside the join.
fn join_reads_outer(join: &datafusion::logical_expr::Join) -> bool {
    let mut found = false;
    let mut check = |e: &Expr| {
        let _ = e.apply(|e| {
            if matches!(e, Expr::OuterReferenceColumn(..)) {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        });
    };
    for (l, r) in &join.on {
        check(l);
        check(r);
    }
    if let Some(f) = &join.filter {
        check(f);
    }
    found
}

/// The outer columns `plan` reads that nothing inside it supplies: a join's right side
/// reading its own left side (a nested LATERAL) supplies those itself.
fn unbound_refs(plan: &LogicalPlan) -> Vec<Column> {
    let mut out: Vec<Column> = Vec::new();
    let add = |c: Column, out: &mut Vec<Column>| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    match plan {
        LogicalPlan::Join(join) => {
            for c in unbound_refs(&join.left) {
                add(c, &mut out);
            }
            for c in unbound_refs(&join.right) {
                if !join.left.schema().has_column(&c) {
                    add(c, &mut out);
                }
            }
        }
        LogicalPlan::Extension(ext) if ext.node.as_any().is::<LateralApply>() => {
            // Its right side reads only its left side (see `LateralJoins::rewrite`).
            for input in ext.node.inputs() {
                for c in unbound_refs(input) {
                    add(c, &mut out);
                }
            }
        }
        _ => {
            for input in plan.inputs() {
                for c in unbound_refs(input) {
                    add(c, &mut out);
                }
            }
        }
    }
    let scope = match plan.inputs().as_slice() {
        [one] => one.schema().as_ref().clone(),
        _ => plan.schema().as_ref().clone(),
    };
    let _ = plan.apply_expressions(|e| {
        e.apply(|e| {
            match e {
                Expr::OuterReferenceColumn(_, c) => add(c.clone(), &mut out),
                Expr::ScalarSubquery(sq)
                | Expr::Exists(Exists { subquery: sq, .. })
                | Expr::InSubquery(InSubquery { subquery: sq, .. }) => {
                    for c in unbound_refs(&sq.subquery) {
                        if !scope.has_column(&c) {
                            add(c, &mut out);
                        }
                    }
                }
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        })
    });
    out
}

/// A dependent join: the right plan is run for each left row, with the left columns it
/// reads bound to that row's values.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LateralApply {
    left: LogicalPlan,
    /// The right side as planned, still reading left columns as outer references.
    right: LogicalPlan,
    join_type: JoinType,
    /// The ON condition (over left and right columns).
    filter: Option<Expr>,
    schema: DFSchemaRef,
}

impl PartialOrd for LateralApply {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.left.partial_cmp(&other.left) {
            Some(Ordering::Equal) => {}
            other => return other,
        }
        match self.right.partial_cmp(&other.right) {
            Some(Ordering::Equal) => {}
            other => return other,
        }
        self.join_type.partial_cmp(&other.join_type)
    }
}

impl UserDefinedLogicalNodeCore for LateralApply {
    fn name(&self) -> &str {
        "LateralApply"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.left]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    /// None: the ON condition reads right columns, which no input of this node has.
    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LateralApply: type={}", self.join_type)?;
        if let Some(filter) = &self.filter {
            write!(f, ", filter={filter}")?;
        }
        Ok(())
    }

    /// Every left column: the right side may read any, and the output has them all.
    fn necessary_children_exprs(&self, _output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![(0..self.left.schema().fields().len()).collect()])
    }

    fn with_exprs_and_inputs(&self, _: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let left = inputs
            .pop()
            .ok_or_else(|| DataFusionError::Internal("LateralApply needs its left input".into()))?;
        if left.schema().fields().len() != self.left.schema().fields().len() {
            return Err(DataFusionError::Internal(
                "LateralApply's left input changed its columns".into(),
            ));
        }
        Ok(LateralApply {
            left,
            right: self.right.clone(),
            join_type: self.join_type,
            filter: self.filter.clone(),
            schema: Arc::clone(&self.schema),
        })
    }
}

/// Plans [`LateralApply`] nodes.
#[derive(Debug, Default)]
pub struct LateralPlanner;

#[async_trait]
impl ExtensionPlanner for LateralPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn DfSession,
        _ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<LateralApply>() else {
            return Ok(None);
        };
        let [left] = physical_inputs else {
            return Ok(None);
        };
        let state = session
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("LATERAL needs a SessionState".into()))?;
        let core = ApplyCore::new(node, state.clone())?;
        Ok(Some(Arc::new(LateralApplyExec::new(
            Arc::clone(left),
            Arc::new(core),
        ))))
    }
}

/// What every partition of a [`LateralApplyExec`] shares: the right plan and how to bind it.
struct ApplyCore {
    right: LogicalPlan,
    join_type: JoinType,
    filter: Option<Expr>,
    /// The left columns the right side and the ON condition read, with their positions in
    /// the left input; a left row's values of these are the cache key.
    params: Vec<(Column, usize)>,
    /// Whether equal keys give equal rows (no volatile function on the right).
    cacheable: bool,
    /// The output: the left columns, then (inner and left joins) the right ones.
    schema: SchemaRef,
    left_width: usize,
    state: SessionState,
}

impl ApplyCore {
    fn new(node: &LateralApply, state: SessionState) -> DfResult<Self> {
        let left_schema = node.left.schema();
        let mut params: Vec<(Column, usize)> = Vec::new();
        let mut add = |c: &Column| {
            if let Ok(i) = left_schema.index_of_column(c) {
                if !params.iter().any(|(p, _)| p == c) {
                    params.push((c.clone(), i));
                }
            }
        };
        for c in unbound_refs(&node.right) {
            add(&c);
        }
        if let Some(filter) = &node.filter {
            for c in filter.column_refs() {
                add(c);
            }
        }
        let mut volatile = false;
        let _ = node.right.apply_with_subqueries(|n| {
            n.apply_expressions(|e| {
                if e.is_volatile() {
                    volatile = true;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        });
        Ok(ApplyCore {
            right: node.right.clone(),
            join_type: node.join_type,
            filter: node.filter.clone(),
            params,
            cacheable: !volatile,
            schema: Arc::clone(node.schema.inner()),
            left_width: left_schema.fields().len(),
            state,
        })
    }

    /// The right plan for one left row: its outer references and the ON condition's left
    /// columns replaced by the row's values.
    fn bound_plan(&self, key: &[ScalarValue]) -> DfResult<LogicalPlan> {
        let outer: Vec<Column> = self.params.iter().map(|(c, _)| c.clone()).collect();
        let plan = crate::subquery::bind_outer(self.right.clone(), &outer, key)?;
        let plan = drop_bound_subquery_nodes(plan, &outer)?;
        let mut builder = LogicalPlanBuilder::from(plan);
        if let Some(filter) = &self.filter {
            let bound = filter
                .clone()
                .transform_up(|e| match e {
                    Expr::Column(c) => match outer.iter().position(|o| *o == c) {
                        Some(i) => Ok(Transformed::yes(Expr::Literal(key[i].clone(), None))),
                        None => Ok(Transformed::no(Expr::Column(c))),
                    },
                    other => Ok(Transformed::no(other)),
                })?
                .data;
            builder = builder.filter(bound)?;
        }
        if matches!(self.join_type, JoinType::LeftSemi | JoinType::LeftAnti) {
            builder = builder.limit(0, Some(1))?;
        }
        builder.build()
    }

    async fn right_rows(&self, key: &[ScalarValue]) -> DfResult<Vec<RecordBatch>> {
        let plan = self.bound_plan(key)?;
        let physical = self.state.create_physical_plan(&plan).await?;
        crate::analytics::collect_in_order(physical, self.state.task_ctx()).await
    }
}

/// Removes the `Subquery` wrappers DataFusion puts around a LATERAL's right side once
/// nothing in them reads an unbound outer column (the physical planner refuses them).
fn drop_bound_subquery_nodes(plan: LogicalPlan, bound: &[Column]) -> DfResult<LogicalPlan> {
    let out = plan.transform_up(|node| match node {
        LogicalPlan::Subquery(mut sq) => {
            sq.outer_ref_columns
                .retain(|e| !matches!(e, Expr::OuterReferenceColumn(_, c) if bound.contains(c)));
            if sq.outer_ref_columns.is_empty() && unbound_refs(&sq.subquery).is_empty() {
                Ok(Transformed::yes(Arc::unwrap_or_clone(sq.subquery)))
            } else {
                Ok(Transformed::no(LogicalPlan::Subquery(sq)))
            }
        }
        other => Ok(Transformed::no(other)),
    })?;
    Ok(out.data)
}

/// Runs [`LateralApply`]: per partition of the left input, one output batch per left batch.
struct LateralApplyExec {
    left: Arc<dyn ExecutionPlan>,
    core: Arc<ApplyCore>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for LateralApplyExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LateralApplyExec")
            .field("join_type", &self.core.join_type)
            .finish()
    }
}

impl LateralApplyExec {
    fn new(left: Arc<dyn ExecutionPlan>, core: Arc<ApplyCore>) -> Self {
        let partitions = left.output_partitioning().partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&core.schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        LateralApplyExec {
            left,
            core,
            properties,
        }
    }
}

impl DisplayAs for LateralApplyExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LateralApplyExec: type={}", self.core.join_type)
    }
}

impl ExecutionPlan for LateralApplyExec {
    fn name(&self) -> &str {
        "LateralApplyExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.left]
    }

    fn apply_expressions(
        &self,
        _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let left = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("LateralApplyExec input".into()))?;
        Ok(Arc::new(LateralApplyExec::new(
            left,
            Arc::clone(&self.core),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let left = self.left.execute(partition, context)?;
        let run = Run {
            left,
            pending: None,
            core: Arc::clone(&self.core),
            cache: RightCache::default(),
        };
        let batches = futures::stream::try_unfold(run, |mut run| async move {
            loop {
                let (batch, start) = match run.pending.take() {
                    Some(pending) => pending,
                    None => match run.left.next().await {
                        Some(batch) => (batch?, 0),
                        None => return Ok(None),
                    },
                };
                let (out, next) = run.apply(&batch, start).await?;
                if next < batch.num_rows() {
                    run.pending = Some((batch, next));
                }
                if out.num_rows() > 0 {
                    return Ok(Some((out, run)));
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.core.schema),
            batches,
        )))
    }
}

/// Right rows by left key, bounded in entries and rows held; when full it starts over.
#[derive(Default)]
struct RightCache {
    rows: HashMap<Vec<ScalarValue>, Arc<Vec<RecordBatch>>>,
    rows_held: usize,
}

impl RightCache {
    fn keep(&mut self, key: Vec<ScalarValue>, batches: &Arc<Vec<RecordBatch>>) {
        let size = key.len() + batches.iter().map(|b| b.num_rows()).sum::<usize>();
        if size > CACHE_ROWS_MAX {
            return;
        }
        if self.rows.len() >= CACHE_ENTRIES_MAX || self.rows_held + size > CACHE_ROWS_MAX {
            self.rows.clear();
            self.rows_held = 0;
        }
        self.rows_held += size;
        self.rows.insert(key, Arc::clone(batches));
    }
}

/// One partition's state: the left stream and the right rows seen so far.
struct Run {
    left: SendableRecordBatchStream,
    /// A left batch whose rows from this one on are still to be joined.
    pending: Option<(RecordBatch, usize)>,
    core: Arc<ApplyCore>,
    cache: RightCache,
}

impl Run {
    async fn right_for(&mut self, key: Vec<ScalarValue>) -> DfResult<Arc<Vec<RecordBatch>>> {
        if let Some(rows) = self.cache.rows.get(&key) {
            return Ok(Arc::clone(rows));
        }
        let rows = Arc::new(self.core.right_rows(&key).await?);
        if self.core.cacheable {
            self.cache.keep(key, &rows);
        }
        Ok(rows)
    }

    /// The output rows for the left rows from `start` on, stopping after the row that
    /// brings the output to [`OUTPUT_ROWS_TARGET`]; also the first row not joined yet.
    async fn apply(&mut self, left: &RecordBatch, start: usize) -> DfResult<(RecordBatch, usize)> {
        let core = Arc::clone(&self.core);
        let mut left_rows: Vec<u32> = Vec::new();
        let mut right_parts: Vec<RecordBatch> = Vec::new();
        let right_fields = core.schema.fields().len() - core.left_width;
        let mut next = start;
        while next < left.num_rows() && left_rows.len() < OUTPUT_ROWS_TARGET {
            let row = next;
            next += 1;
            let key = core
                .params
                .iter()
                .map(|(_, i)| ScalarValue::try_from_array(left.column(*i), row))
                .collect::<DfResult<Vec<_>>>()?;
            let right = self.right_for(key).await?;
            let found: usize = right.iter().map(|b| b.num_rows()).sum();
            let row_u32 = u32::try_from(row)
                .map_err(|_| DataFusionError::Execution("batch too large".into()))?;
            match core.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti => {
                    if (found > 0) == (core.join_type == JoinType::LeftSemi) {
                        left_rows.push(row_u32);
                    }
                }
                _ => {
                    for b in right.iter().filter(|b| b.num_rows() > 0) {
                        left_rows.extend(std::iter::repeat_n(row_u32, b.num_rows()));
                        right_parts.push(b.clone());
                    }
                    if found == 0 && core.join_type == JoinType::Left {
                        left_rows.push(row_u32);
                        right_parts.push(null_row(&core.schema, core.left_width)?);
                    }
                }
            }
        }
        let indices = UInt32Array::from(left_rows);
        let mut columns: Vec<ArrayRef> = left
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &indices, None))
            .collect::<Result<_, _>>()?;
        for i in 0..right_fields {
            let want = core.schema.field(core.left_width + i).data_type();
            let parts = right_parts
                .iter()
                .map(|b| {
                    let col = b.columns().get(i).ok_or_else(|| {
                        DataFusionError::Internal("LATERAL subquery lost a column".into())
                    })?;
                    if col.data_type() == want {
                        Ok(Arc::clone(col))
                    } else {
                        Ok(cast(col, want)?)
                    }
                })
                .collect::<DfResult<Vec<ArrayRef>>>()?;
            let refs: Vec<&dyn datafusion::arrow::array::Array> =
                parts.iter().map(|a| a.as_ref()).collect();
            columns.push(if refs.is_empty() {
                new_null_array(want, 0)
            } else {
                concat(&refs)?
            });
        }
        let options =
            datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(indices.len()));
        let out = RecordBatch::try_new_with_options(Arc::clone(&core.schema), columns, &options)?;
        Ok((out, next))
    }
}

/// One row of NULLs in the right side's columns (a LEFT join's unmatched row).
fn null_row(schema: &SchemaRef, left_width: usize) -> DfResult<RecordBatch> {
    let fields: Vec<_> = schema.fields().iter().skip(left_width).cloned().collect();
    let columns: Vec<ArrayRef> = fields
        .iter()
        .map(|f| new_null_array(f.data_type(), 1))
        .collect();
    let right = Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
    let options = datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(1));
    Ok(RecordBatch::try_new_with_options(right, columns, &options)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_cache_is_bounded() {
        let mut c = RightCache::default();
        let none = Arc::new(Vec::new());
        for i in 0..CACHE_ENTRIES_MAX + 10 {
            c.keep(vec![ScalarValue::Int64(Some(i as i64))], &none);
        }
        assert!(c.rows.len() <= CACHE_ENTRIES_MAX);
        assert!(c.rows_held <= CACHE_ROWS_MAX);
    }
}
