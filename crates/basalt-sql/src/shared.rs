//! A relation the statement reads more than once, computed once (PostgreSQL's CTE Scan).
//!
//! A `WITH` query referenced twice — TPC-H q15's `revenue0`, read by the outer query and by
//! its `max()` subquery — reaches DataFusion's plan as two copies of the same subtree, which
//! DataFusion runs twice. PostgreSQL materializes such a CTE and reads it twice.
//! [`ShareRepeatedSubqueries`] finds aliased subqueries that occur more than once in a
//! statement (subqueries included) and puts a [`Shared`] node under each; at physical
//! planning, copies with the same id get one [`SharedExec`] state, so the first to run
//! computes the rows and the others read them.
//!
//! Invariants: only subtrees whose answer cannot depend on when they run are shared — no
//! volatile function, nothing under a recursive query (a work table changes between
//! iterations) — so sharing never changes a result; the state lives for one physical plan,
//! never across executions; a [`Shared`] node is a fence for filters (as PostgreSQL's
//! materialized CTE is), so every copy still computes the same rows.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::Session as DfSession;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{DFSchemaRef, Result as DfResult, TableReference};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, SubqueryAlias, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    collect, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use parking_lot::Mutex;

/// Marks repeated aliased subqueries as [`Shared`].
#[derive(Debug, Default)]
pub struct ShareRepeatedSubqueries;

static NEXT_STATEMENT: AtomicU64 = AtomicU64::new(1);

/// Which copies share their rows: unique across statements (a view's plan may be inlined
/// into another's); EXPLAIN shows the ordinal within the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
struct SharedId {
    statement: u64,
    ordinal: u32,
}

impl AnalyzerRule for ShareRepeatedSubqueries {
    fn name(&self) -> &str {
        "basalt_share_repeated_subqueries"
    }

    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> DfResult<LogicalPlan> {
        // First, cheaply: the aliases used more than once. Comparing whole subtrees (and
        // cloning them as keys) is only for those, so planning other statements costs a walk.
        let mut aliases: HashMap<TableReference, usize> = HashMap::new();
        let mut recursive = false;
        plan.apply_with_subqueries(|node| {
            match node {
                LogicalPlan::RecursiveQuery(_) => recursive = true,
                LogicalPlan::SubqueryAlias(a) => *aliases.entry(a.alias.clone()).or_default() += 1,
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if recursive || aliases.values().all(|&n| n < 2) {
            return Ok(plan);
        }
        let mut seen: HashMap<LogicalPlan, usize> = HashMap::new();
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::SubqueryAlias(a) = node {
                if aliases.get(&a.alias).is_some_and(|&n| n > 1) && worth_sharing(&a.input) {
                    *seen.entry(node.clone()).or_default() += 1;
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        let mut ids: HashMap<LogicalPlan, Option<SharedId>> = seen
            .into_iter()
            .filter(|&(_, count)| count > 1)
            .map(|(node, _)| (node, None))
            .collect();
        if ids.is_empty() {
            return Ok(plan);
        }
        let statement = NEXT_STATEMENT.fetch_add(1, Ordering::Relaxed);
        let mut ordinal = 0;
        plan.transform_down_with_subqueries(|node| {
            let Some(slot) = ids.get_mut(&node) else {
                return Ok(Transformed::no(node));
            };
            let LogicalPlan::SubqueryAlias(a) = node else {
                return Ok(Transformed::no(node));
            };
            // Numbered in the order met, for EXPLAIN.
            let id = *slot.get_or_insert_with(|| {
                ordinal += 1;
                SharedId { statement, ordinal }
            });
            let shared = LogicalPlan::Extension(Extension {
                node: Arc::new(Shared {
                    id,
                    input: Arc::unwrap_or_clone(a.input),
                }),
            });
            let alias = SubqueryAlias::try_new(Arc::new(shared), a.alias)?;
            // The copies below it are now inside this one.
            Ok(Transformed::new(
                LogicalPlan::SubqueryAlias(alias),
                true,
                TreeNodeRecursion::Jump,
            ))
        })
        .map(|t| t.data)
    }
}

/// Whether `plan` (its subqueries included) has a [`Shared`] node.
pub fn has_shared(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Extension(e) = node {
            if e.node.as_any().downcast_ref::<Shared>().is_some() {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// A subtree worth computing once: more than a scan with filters and projections, and
/// free of volatile functions.
fn worth_sharing(plan: &LogicalPlan) -> bool {
    let mut costly = false;
    let mut volatile = false;
    let _ = plan.apply_with_subqueries(|node| {
        if matches!(
            node,
            LogicalPlan::Aggregate(_)
                | LogicalPlan::Join(_)
                | LogicalPlan::Window(_)
                | LogicalPlan::Sort(_)
                | LogicalPlan::Distinct(_)
        ) {
            costly = true;
        }
        if matches!(node, LogicalPlan::Extension(_) | LogicalPlan::Dml(_)) {
            volatile = true;
        }
        node.apply_expressions(|e| {
            if e.is_volatile() {
                volatile = true;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(TreeNodeRecursion::Continue)
    });
    costly && !volatile
}

/// A subtree whose copies (same id) are computed once per physical plan.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd)]
pub struct Shared {
    id: SharedId,
    input: LogicalPlan,
}

impl UserDefinedLogicalNodeCore for Shared {
    fn name(&self) -> &str {
        "Shared"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Shared: {}", self.id.ordinal)
    }

    /// Every input column: the copies must keep computing the same rows.
    fn necessary_children_exprs(&self, _output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![(0..self.input.schema().fields().len()).collect()])
    }

    fn with_exprs_and_inputs(&self, _: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let input = inputs
            .pop()
            .ok_or_else(|| datafusion::error::DataFusionError::Internal("Shared input".into()))?;
        Ok(Shared { id: self.id, input })
    }
}

/// Plans [`Shared`] nodes; one per physical plan, so the computed rows live as long as it.
#[derive(Default)]
pub struct SharedPlanner {
    states: Mutex<HashMap<SharedId, Arc<SharedState>>>,
}

type SharedState = tokio::sync::OnceCell<Vec<RecordBatch>>;

#[async_trait]
impl ExtensionPlanner for SharedPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn DfSession,
        _ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<Shared>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return Ok(None);
        };
        let state = Arc::clone(self.states.lock().entry(node.id).or_default());
        Ok(Some(Arc::new(SharedExec::new(
            node.id,
            Arc::clone(input),
            state,
        ))))
    }
}

/// Runs its input once for all copies with its id and streams the collected rows.
#[derive(Debug)]
pub struct SharedExec {
    id: SharedId,
    input: Arc<dyn ExecutionPlan>,
    state: Arc<SharedState>,
    properties: Arc<PlanProperties>,
}

impl SharedExec {
    fn new(id: SharedId, input: Arc<dyn ExecutionPlan>, state: Arc<SharedState>) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(input.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        SharedExec {
            id,
            input,
            state,
            properties,
        }
    }
}

impl DisplayAs for SharedExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SharedExec: {}", self.id.ordinal)
    }
}

impl ExecutionPlan for SharedExec {
    fn name(&self) -> &str {
        "SharedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
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
        let input = children.pop().ok_or_else(|| {
            datafusion::error::DataFusionError::Internal("SharedExec input".into())
        })?;
        Ok(Arc::new(SharedExec::new(
            self.id,
            input,
            Arc::clone(&self.state),
        )))
    }

    fn execute(
        &self,
        _partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let (input, state) = (Arc::clone(&self.input), Arc::clone(&self.state));
        let batches = futures::stream::once(async move {
            let rows = state
                .get_or_try_init(|| collect(input, context))
                .await?
                .clone();
            Ok::<_, datafusion::error::DataFusionError>(futures::stream::iter(
                rows.into_iter().map(Ok),
            ))
        });
        use futures::TryStreamExt;
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.input.schema(),
            batches.try_flatten(),
        )))
    }
}
