//! Window functions that return their rows in PostgreSQL's order: sorted by the PARTITION BY
//! keys, then ORDER BY, as PostgreSQL's WindowAgg returns them.
//!
//! The session turns off DataFusion's repartitioning of windows, but DataFusion's sort
//! enforcement re-creates a window that needs a sort with repartitioning on again, which
//! hash-partitions the input by the PARTITION BY keys and interleaves the partitions in the
//! output. [`SortedWindows`] undoes that: the window reads one sorted stream instead. A
//! window without PARTITION BY or ORDER BY reads its rows in the order the scan returns
//! them (PostgreSQL's order for its frames), not merged from round-robin partitions.
//!
//! Invariant: only windows reached from the plan's root through operators that do not depend
//! on how their input is partitioned are changed, so no operator above (a partitioned join,
//! say) relies on the hash partitioning removed.

use std::any::Any;
use std::sync::Arc;

use datafusion::common::Result as DfResult;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::limit::{GlobalLimitExec, LocalLimitExec};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};

/// The physical optimizer rule (see the module comment); it runs last.
#[derive(Debug, Default)]
pub struct SortedWindows;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for SortedWindows {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if config.optimizer.repartition_windows {
            return Ok(plan);
        }
        sorted_windows(plan)
    }

    fn name(&self) -> &str {
        "basalt_sorted_windows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `sort` of a hash repartitioning, as one sorted stream of all the rows of the
/// repartitioning's input.
fn merged_sort(sort: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    let sort_exec = (sort.as_ref() as &dyn Any).downcast_ref::<SortExec>()?;
    let repartition = (sort_exec.input().as_ref() as &dyn Any).downcast_ref::<RepartitionExec>()?;
    if !sort_exec.preserve_partitioning()
        || !matches!(repartition.partitioning(), Partitioning::Hash(..))
    {
        return None;
    }
    let mut input = sorted_windows(Arc::clone(repartition.input())).ok()?;
    // A SortExec that does not preserve partitioning reads only its input's first
    // partition: the sort must see one stream holding every row (the rows of a single
    // scan in the order read, when only a round-robin split them).
    if let Some(single) = without_round_robin(&input).ok()? {
        input = single;
    }
    if input.output_partitioning().partition_count() > 1 {
        input = Arc::new(CoalescePartitionsExec::new(input));
    }
    Some(Arc::new(
        SortExec::new(sort_exec.expr().clone(), input).with_fetch(sort_exec.fetch()),
    ))
}

/// `plan` without a round-robin repartitioning of a single stream below projections and
/// filters, so its rows keep the order they were read in; `None` if there is none.
pub(crate) fn without_round_robin(
    plan: &Arc<dyn ExecutionPlan>,
) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
    let any: &dyn Any = plan.as_ref();
    if let Some(r) = any.downcast_ref::<RepartitionExec>() {
        let single = r.input().output_partitioning().partition_count() == 1;
        if single && matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)) {
            return Ok(Some(Arc::clone(r.input())));
        }
        return Ok(None);
    }
    if !(any.is::<ProjectionExec>() || any.is::<FilterExec>()) {
        return Ok(None);
    }
    let [child] = plan.children()[..] else {
        return Ok(None);
    };
    match without_round_robin(child)? {
        Some(c) => Ok(Some(
            datafusion::physical_plan::execution_plan::replace_children_if_necessary(
                Arc::clone(plan),
                vec![c],
            )?,
        )),
        None => Ok(None),
    }
}

/// A window over all rows that reads them merged from round-robin partitions of one stream:
/// reading the stream itself instead keeps the rows in the order they were read, as
/// PostgreSQL's frames without ORDER BY see them.
fn in_read_order(window: &Arc<dyn ExecutionPlan>) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
    let [child] = window.children()[..] else {
        return Ok(None);
    };
    let Some(coalesce) = (child.as_ref() as &dyn Any).downcast_ref::<CoalescePartitionsExec>()
    else {
        return Ok(None);
    };
    if coalesce.fetch().is_some() {
        return Ok(None);
    }
    match without_round_robin(coalesce.input())? {
        Some(input) => Ok(Some(
            datafusion::physical_plan::execution_plan::replace_children_if_necessary(
                Arc::clone(window),
                vec![input],
            )?,
        )),
        None => Ok(None),
    }
}

fn sorted_windows(plan: Arc<dyn ExecutionPlan>) -> DfResult<Arc<dyn ExecutionPlan>> {
    let any: &dyn Any = plan.as_ref();
    let window = any.is::<WindowAggExec>() || any.is::<BoundedWindowAggExec>();
    if window {
        if let Some(p) = in_read_order(&plan)? {
            return Ok(p);
        }
    }
    if let Some(w) = any.downcast_ref::<WindowAggExec>() {
        if !w.partition_keys().is_empty() {
            if let Some(input) = merged_sort(w.input()) {
                return Ok(Arc::new(WindowAggExec::try_new(
                    w.window_expr().to_vec(),
                    input,
                    false,
                )?));
            }
        }
    } else if let Some(w) = any.downcast_ref::<BoundedWindowAggExec>() {
        if !w.partition_keys().is_empty() {
            if let Some(input) = merged_sort(w.input()) {
                return Ok(Arc::new(BoundedWindowAggExec::try_new(
                    w.window_expr().to_vec(),
                    input,
                    w.input_order_mode.clone(),
                    false,
                )?));
            }
        }
    }
    let partition_free = any.is::<ProjectionExec>()
        || any.is::<FilterExec>()
        || any.is::<SortExec>()
        || any.is::<SortPreservingMergeExec>()
        || any.is::<CoalescePartitionsExec>()
        || any.is::<GlobalLimitExec>()
        || any.is::<LocalLimitExec>()
        || any.is::<WindowAggExec>()
        || any.is::<BoundedWindowAggExec>();
    if !partition_free {
        return Ok(plan);
    }
    let children: Vec<Arc<dyn ExecutionPlan>> = plan
        .children()
        .into_iter()
        .map(|c| sorted_windows(Arc::clone(c)))
        .collect::<DfResult<_>>()?;
    datafusion::physical_plan::execution_plan::replace_children_if_necessary(plan, children)
}
